"""The JSONPath subset batch transform's ``InputFilter`` and ``OutputFilter`` accept.

SageMaker documents these operators, and only these::

    $                       the record itself (required first)
    .name  ['name']         a member of an object
    ['a','b']               several members: an object with just those members
    *  .*  [*]              every member or element
    [2]  [-1]  [0,2]        elements by index (negative from the end), one or several
    [2:5]  [:5]  [2:]       a slice; mixed with indexes: ``$[0,5:]``

A CSV record is the JSON array of its fields (strings), so ``$[1:]`` drops the first column.
Selecting one member or index keeps a single value; a slice, a union or a wildcard gives a list
(and what follows applies to each of its items).  An index or member that is not there is an
error, as SageMaker reports one: :class:`JsonPathError` names it.  Recursive descent (``..``),
filters (``?()``), scripts and slice steps are not supported: :func:`parse` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_$@][\w$@-]*")
_QUOTED = re.compile(r"""\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*""")
_INDEX = re.compile(r"\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?")
SUPPORTED = "$, .name, ['name'], ['a','b'], *, [n], [n,m], [start:end]"


class JsonPathSyntaxError(ValueError):
    """The expression is not in the supported subset; the message says where and why."""


class JsonPathError(ValueError):
    """The expression does not fit the record (an index out of range, a missing member)."""


@dataclass(frozen=True)
class Member:
    name: str


@dataclass(frozen=True)
class Members:
    names: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Elements:
    """A union of indexes and slices (``[0,5:]``); ``None`` bounds are open ends."""

    items: tuple[int | tuple[int | None, int | None], ...]


@dataclass(frozen=True)
class Wildcard:
    pass


Step = Member | Members | Index | Elements | Wildcard


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        return not self.steps

    def apply(self, value: Any) -> Any:
        """The part of ``value`` the path selects."""
        nodes, many = [value], False
        for step in self.steps:
            selected: list[Any] = []
            for node in nodes:
                selected.extend(_select(step, node))
            nodes = selected
            many = many or isinstance(step, Elements | Wildcard)
        return nodes if many else nodes[0]


def parse(text: str) -> JsonPath:
    """Parse ``text``; :class:`JsonPathSyntaxError` if it is outside the supported subset."""
    source = text.strip()
    if not source.startswith("$"):
        raise _syntax(source, 0, "it must start with $ (the record)")
    position, steps = 1, []
    while position < len(source):
        step, position = _step(source, source, position)
        steps.append(step)
    return JsonPath(text, tuple(steps))


def _step(text: str, source: str, at: int) -> tuple[Step, int]:
    if source.startswith("..", at):
        raise _syntax(text, at, "recursive descent (..) is not supported")
    if source[at] == ".":
        at += 1
        if source.startswith("[", at):  # $.field.['a','b'], as SageMaker allows
            return _bracket(text, source, at)
        if source.startswith("*", at):
            return Wildcard(), at + 1
        match = _NAME.match(source, at)
        if match is None:
            raise _syntax(text, at, "a member name must follow '.'")
        return Member(match.group()), match.end()
    if source[at] == "[":
        return _bracket(text, source, at)
    raise _syntax(text, at, f"unexpected {source[at]!r}")


def _bracket(text: str, source: str, at: int) -> tuple[Step, int]:
    end = source.find("]", at)
    if end < 0:
        raise _syntax(text, at, "'[' is never closed")
    inside = source[at + 1:end]
    if inside.strip() == "*":
        return Wildcard(), end + 1
    if inside.lstrip().startswith(("?", "(")):
        raise _syntax(text, at, "filter and script expressions are not supported")
    if inside.lstrip().startswith(("'", '"')):
        return _names(text, inside, at), end + 1
    return _elements(text, inside, at), end + 1


def _names(text: str, inside: str, at: int) -> Step:
    names = []
    for part in _split_quoted(inside):
        match = _QUOTED.fullmatch(part)
        if match is None:
            raise _syntax(text, at, f"{part.strip()!r} is not a quoted member name")
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        names.append(re.sub(r"\\(.)", r"\1", raw))
    return Member(names[0]) if len(names) == 1 else Members(tuple(names))


def _split_quoted(inside: str) -> list[str]:
    """``'a','b,c'`` -> ``["'a'", "'b,c'"]``: commas inside quotes do not split."""
    parts, current, quote = [], "", ""
    for char in inside:
        if quote:
            quote = "" if char == quote and not current.endswith("\\") else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current]


def _elements(text: str, inside: str, at: int) -> Step:
    items: list[int | tuple[int | None, int | None]] = []
    for part in inside.split(","):
        if part.count(":") > 1:
            raise _syntax(text, at, "slice steps ([start:end:step]) are not supported")
        match = _INDEX.fullmatch(part)
        if match is None or not part.strip() or (":" not in part and match.group(1) is None):
            raise _syntax(text, at, f"{part.strip() or 'an empty item'!r} is not an index or "
                                    "a slice")
        start = int(match.group(1)) if match.group(1) is not None else None
        if ":" in part:
            stop = int(match.group(2)) if match.group(2) is not None else None
            items.append((start, stop))
        else:
            assert start is not None
            items.append(start)
    if len(items) == 1 and isinstance(items[0], int):
        return Index(items[0])
    return Elements(tuple(items))


def _select(step: Step, node: Any) -> list[Any]:
    if isinstance(step, Member):
        return [_member(node, step.name)]
    if isinstance(step, Members):
        return [{name: _member(node, name) for name in step.names}]
    if isinstance(step, Wildcard):
        if isinstance(node, dict):
            return list(node.values())
        if isinstance(node, list):
            return list(node)
        raise JsonPathError(f"* needs an object or an array, not {_kind(node)}")
    items = [step.index] if isinstance(step, Index) else list(step.items)
    if not isinstance(node, list):
        raise JsonPathError(f"an index needs an array, not {_kind(node)}")
    selected: list[Any] = []
    for item in items:
        if isinstance(item, tuple):
            selected.extend(node[item[0]:item[1]])
        elif -len(node) <= item < len(node):
            selected.append(node[item])
        else:
            raise JsonPathError(f"index {item} is outside the record's {len(node)} "
                                f"element{'s' if len(node) != 1 else ''}")
    return selected


def _member(node: Any, name: str) -> Any:
    if not isinstance(node, dict):
        raise JsonPathError(f"member {name!r} needs an object, not {_kind(node)}")
    if name not in node:
        present = ", ".join(repr(k) for k in list(node)[:8])
        raise JsonPathError(f"the record has no member {name!r} (it has {present or 'none'})")
    return node[name]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"the value {str(value)[:40]!r}"


def _syntax(text: str, at: int, why: str) -> JsonPathSyntaxError:
    return JsonPathSyntaxError(f"{text!r} is not a supported JSONPath expression: {why} "
                               f"(at character {at + 1}); batch transform supports {SUPPORTED}")
