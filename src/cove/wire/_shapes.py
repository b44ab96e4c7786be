"""Server-side input validation driven by botocore's own service models.

AWS services validate every request against their Smithy model before a handler runs, and SDKs
rely on that: botocore checks only required members, types and minimums client-side, so max
lengths, patterns and enums are the server's job (and non-botocore clients skip even those).
:class:`ShapeValidator` walks an operation's input shape and reports, in AWS's own wording,
every value that breaks the model:

* required members present (``Member must not be null``): those the installed model marks and
  those cove pins (:mod:`cove.wire._surface`), whatever botocore is installed; unknown
  top-level members;
* types: string, integer/long, float/double, boolean, timestamp (epoch number or ISO 8601
  string), blob (base64 string), list, map, structure;
* enums, string/list/map lengths (strings counted in UTF-16 units, as Java does), numeric
  ranges, and string patterns matched against the *whole* value (Java ``matches()``).

Errors are collected, not raised one by one, and reported as AWS does::

    2 validation errors detected: Value 'x' at 'a.b' failed to satisfy constraint: ...; Value ...

Paths are lower-camel member names joined with dots, list items as ``name.N.member``
(1-based).  Scalars inside lists and maps are reported once per container, listing every
constraint of the element shape (``Member must satisfy constraint: [...]``,
``Map keys must satisfy constraint: [...]``).  Sensitive shapes never echo their value.

botocore's patterns are Java regexes; :func:`_translate` rewrites the Java-only parts
(``\\p{..}`` classes, surrogate-pair escapes, ``[\\w-_]``, quantified ``$``) and a pattern that
still does not compile is skipped (see :func:`skipped_patterns`), never fatal.  Models, shape
specs and compiled patterns are all cached, so a warm validation is a plain dict walk.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.loaders import create_loader

from cove.errors import UnknownOperation, ValidationError
from cove.wire._surface import pinned_required

#: Services whose botocore model dropped the leading ``^`` that the real service prints in
#: pattern messages (SageMaker says ``pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``).
_PATTERN_PREFIX = {"sagemaker": "^"}

_SCALARS = frozenset({"string", "integer", "long", "float", "double", "boolean", "timestamp",
                      "blob"})

_NOUNS = {"string": "a string", "integer": "an integer", "long": "an integer",
          "float": "a number", "double": "a number", "boolean": "a boolean",
          "timestamp": "a timestamp (epoch seconds or ISO 8601)",
          "blob": "a base64-encoded string", "list": "a list", "map": "a map",
          "structure": "a structure"}

_SKIPPED: set[str] = set()


# --- models and specs -------------------------------------------------------------------------


@functools.cache
def _load_model(service: str) -> dict[str, Any]:
    model: dict[str, Any] = create_loader().load_service_model(service, "service-2")
    return model


@dataclass(eq=False)
class _Spec:
    """One model shape, flattened for fast checking."""

    name: str
    type: str
    sensitive: bool = False
    members: dict[str, tuple[str, _Spec]] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    member: _Spec | None = None
    key: _Spec | None = None
    value: _Spec | None = None
    enum: frozenset[str] | None = None
    enum_text: str = ""
    min: float | None = None
    max: float | None = None
    pattern: str = ""  # as in the model; compiled on first use
    pattern_text: str = ""  # as AWS prints it


class _Specs:
    """Builds and caches :class:`_Spec` graphs for one service.

    A graph is built under a lock and published only when complete, so a handler thread never
    sees a half-filled spec; recursive shapes resolve through the ``pending`` map.
    """

    def __init__(self, service: str) -> None:
        self.shapes: dict[str, Any] = _load_model(service)["shapes"]
        self.prefix = _PATTERN_PREFIX.get(service, "")
        #: cove's own required members (see cove.wire._surface), on top of the model's.
        self.pinned = pinned_required(service)
        self.cache: dict[str, _Spec] = {}
        self.lock = threading.Lock()

    def get(self, name: str) -> _Spec:
        spec = self.cache.get(name)
        if spec is None:
            with self.lock:
                pending: dict[str, _Spec] = {}
                spec = self._build(name, pending)
                self.cache.update(pending)
        return spec

    def _build(self, name: str, pending: dict[str, _Spec]) -> _Spec:
        spec = self.cache.get(name) or pending.get(name)
        if spec is None:
            raw = self.shapes[name]
            spec = pending[name] = _Spec(name, raw["type"], bool(raw.get("sensitive")))
            self._fill(spec, raw, pending)
        return spec

    def _fill(self, spec: _Spec, raw: dict[str, Any], pending: dict[str, _Spec]) -> None:
        spec.members = {name: (_camel(name), self._build(ref["shape"], pending))
                        for name, ref in raw.get("members", {}).items()}
        spec.required = frozenset(raw.get("required", ())) | self.pinned.get(spec.name,
                                                                             frozenset())
        for part in ("member", "key", "value"):
            if part in raw:
                setattr(spec, part, self._build(raw[part]["shape"], pending))
        if "enum" in raw:
            spec.enum = frozenset(raw["enum"])
            spec.enum_text = ", ".join(raw["enum"])
        spec.min, spec.max = raw.get("min"), raw.get("max")
        if "pattern" in raw:
            self._fill_pattern(spec, raw["pattern"])

    def _fill_pattern(self, spec: _Spec, pattern: str) -> None:
        spec.pattern = pattern
        spec.pattern_text = pattern if pattern.startswith("^") else self.prefix + pattern


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


@functools.cache
def _specs(service: str) -> _Specs:
    return _Specs(service)


# --- Java regex -> Python re ------------------------------------------------------------------

_POSIX = {"Lower": "a-z", "Upper": "A-Z", "ASCII": "\\x00-\\x7f", "Alpha": "a-zA-Z",
          "Digit": "0-9", "Alnum": "a-zA-Z0-9", "XDigit": "0-9a-fA-F",
          "Space": " \\t\\n\\x0b\\f\\r", "Blank": " \\t", "Cntrl": "\\x00-\\x1f\\x7f",
          "Graph": "!-~", "Print": " -~", "Punct": "!-/:-@\\[-`{-~",
          "Whitespace": r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"}
_PROPERTY = re.compile(r"(?<!\\)\\([pP])\{(?:Is)?(\w+)\}")
_HEX_BRACES = re.compile(r"(?<!\\)\\x\{([0-9a-fA-F]{1,6})\}")
_SURROGATES = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_HYPHEN_AFTER_CLASS = re.compile(r"(?<!\\)(\\[wdsWDS]|\\[pP]\{\w+\})-(?!\])")
_INLINE_CASE = re.compile(r"(?<=.)\(\?i\)", re.DOTALL)
_QUANTIFIED_END = re.compile(r"(?<!\\)\$\{\d+(?:,\d*)?\}")
#: Java's end anchors: ``\Z`` allows a final line terminator, ``\z`` is Python's ``\Z``.
_END_ANCHORS = re.compile(r"(?<!\\)\\([zZ])")


@functools.cache
def _compile(pattern: str) -> re.Pattern[str] | None:
    """The compiled form of a botocore (Java) pattern, or None if Python cannot have it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Java-style nested "[" sets: FutureWarning
            return re.compile(_translate(pattern))
    except (re.error, KeyError):
        _SKIPPED.add(pattern)
        return None


def _translate(pattern: str) -> str:
    pattern = _SURROGATES.sub(_join_surrogates, pattern)
    pattern = _HEX_BRACES.sub(lambda m: f"\\U{int(m[1], 16):08x}", pattern)
    pattern = _HYPHEN_AFTER_CLASS.sub(r"\1\\-", pattern)
    pattern = _QUANTIFIED_END.sub("$", pattern)
    pattern = _END_ANCHORS.sub(lambda m: r"\Z" if m[1] == "z" else r"(?=\n?\Z)", pattern)
    if _INLINE_CASE.search(pattern):  # re allows global flags only first: hoist (more lenient)
        pattern = "(?i)" + _INLINE_CASE.sub("", pattern)
    return _PROPERTY.sub(lambda m: _property(m, pattern), pattern)


def _join_surrogates(match: re.Match[str]) -> str:
    high, low = int(match[1], 16), int(match[2], 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


def _property(match: re.Match[str], pattern: str) -> str:
    """``\\p{X}`` as set contents inside ``[...]``, or as a whole set outside one."""
    inside = _in_class(pattern, match.start())
    negated = match[1] == "P"
    if match[2] in _POSIX:
        if negated and inside:
            raise KeyError(match[0])  # no way to subtract a set inside a set in re
        body = _POSIX[match[2]]
        return body if inside else f"[{'^' if negated else ''}{body}]"
    body = _category_class(match[2], negated)
    return body if inside else f"[{body}]"


def _in_class(pattern: str, end: int) -> bool:
    inside, i = False, 0
    while i < end:
        char = pattern[i]
        if char == "\\":
            i += 1
        elif char == "[":
            inside = True
        elif char == "]":
            inside = False
        i += 1
    return inside


#: Java property names that are unions of general categories.
_CATEGORY_ALIASES = {"Alphabetic": ("L", "Nl"), "Letter": ("L",), "LD": ("L", "Nd"),
                     "Digit": ("Nd",), "all": ("C", "L", "M", "N", "P", "S", "Z")}


@functools.cache
def _category_class(name: str, negated: bool) -> str:
    """Set contents matching (or, negated, not matching) a Unicode category such as ``L``."""
    table = _category_ranges()
    ranges = sorted(r for cat in _CATEGORY_ALIASES.get(name, (name,)) for r in table[cat])
    if negated:
        ranges = _complement(ranges)
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}"
                   for lo, hi in ranges)


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    gaps, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            gaps.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= 0x10FFFF:
        gaps.append((start, 0x10FFFF))
    return gaps


@functools.cache
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code-point ranges of every general category and major class, from one Unicode pass."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    category = unicodedata.category
    start, current = 0, category("\0")
    for cp in range(1, 0x110000):
        cat = category(chr(cp))
        if cat != current:
            _add_run(ranges, current, start, cp - 1)
            start, current = cp, cat
    _add_run(ranges, current, start, 0x10FFFF)
    return ranges


def _add_run(ranges: dict[str, list[tuple[int, int]]], cat: str, lo: int, hi: int) -> None:
    ranges.setdefault(cat, []).append((lo, hi))
    major = ranges.setdefault(cat[0], [])
    if major and major[-1][1] == lo - 1:
        major[-1] = (major[-1][0], hi)
    else:
        major.append((lo, hi))


def skipped_patterns() -> frozenset[str]:
    """The model patterns met so far that Python's ``re`` could not compile (not checked)."""
    return frozenset(_SKIPPED)


# --- messages ---------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as Java's ``toString`` would print it in an AWS message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _error(hidden: bool, value: Any, path: str, constraint: str) -> str:
    """One AWS-worded failure; ``hidden`` (a sensitive shape) leaves the value out."""
    shown = "" if hidden else f" '{_show(value)}'"
    return f"Value{shown} at '{path}' failed to satisfy constraint: {constraint}"


def _null(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def _number(bound: float) -> str:
    return str(int(bound)) if isinstance(bound, int) or bound.is_integer() else str(bound)


def _length_phrases(spec: _Spec, size: int | None) -> list[str]:
    """Length bounds broken by ``size`` (all of them when ``size`` is None)."""
    phrases = []
    if spec.max is not None and (size is None or size > spec.max):
        phrases.append(f"Member must have length less than or equal to {_number(spec.max)}")
    if spec.min is not None and (size is None or size < spec.min):
        phrases.append(f"Member must have length greater than or equal to {_number(spec.min)}")
    return phrases


def _range_phrases(spec: _Spec, value: float | None) -> list[str]:
    """Value bounds broken by ``value`` (all of them when ``value`` is None)."""
    phrases = []
    if spec.max is not None and (value is None or value > spec.max):
        phrases.append(f"Member must have value less than or equal to {_number(spec.max)}")
    if spec.min is not None and (value is None or value < spec.min):
        phrases.append(f"Member must have value greater than or equal to {_number(spec.min)}")
    return phrases


def _enum_phrase(spec: _Spec) -> str:
    return f"Member must satisfy enum value set: [{spec.enum_text}]"


def _pattern_phrase(spec: _Spec) -> str:
    return f"Member must satisfy regular expression pattern: {spec.pattern_text}"


@functools.cache
def _all_phrases(spec: _Spec) -> str:
    """Every constraint of an element shape, as AWS lists them for list and map elements."""
    if spec.type not in ("string", "blob"):
        return ", ".join(_range_phrases(spec, None))
    phrases = [_enum_phrase(spec)] if spec.enum is not None else []
    phrases += _length_phrases(spec, None)
    if spec.pattern_text:
        phrases.append(_pattern_phrase(spec))
    return ", ".join(phrases)


# --- scalar checks ----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: Epoch seconds of 0001-01-01 and 9999-12-31T23:59:59: a timestamp outside them names no
#: date (and overflows SQLite's integers once in milliseconds).
_EARLIEST, _LATEST = -62135596800, 253402300799


def _is_timestamp(value: Any) -> bool:
    if _is_number(value):
        return bool(_EARLIEST <= value <= _LATEST)
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_int,
    "long": _is_int,
    "float": _is_number,
    "double": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "timestamp": _is_timestamp,
    "blob": lambda v: isinstance(v, str | bytes),
    "list": lambda v: isinstance(v, list),
    "map": lambda v: isinstance(v, dict),
    "structure": lambda v: isinstance(v, dict),
}


def _matches(pattern: str, value: str) -> bool:
    """Whether ``value`` as a whole matches; an uncompilable pattern accepts everything."""
    compiled = _compile(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


def _utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _string_phrases(spec: _Spec, value: str) -> list[str]:
    """The constraints a well-typed string breaks, in AWS's order (enum, pattern, lengths)."""
    if spec.enum is not None and value not in spec.enum:
        return [_enum_phrase(spec)]
    phrases = []
    if spec.pattern and not _matches(spec.pattern, value):
        phrases.append(_pattern_phrase(spec))
    if spec.min is not None or spec.max is not None:
        phrases += _length_phrases(spec, _utf16_len(value))
    return phrases


def _scalar_phrases(spec: _Spec, value: Any) -> list[str]:
    """The constraints a well-typed scalar breaks."""
    if spec.type == "string":
        return _string_phrases(spec, value)
    if spec.type in ("integer", "long", "float", "double"):
        return _range_phrases(spec, value) if spec.min is not None or spec.max is not None else []
    return []


def _element_ok(spec: _Spec, value: Any) -> bool:
    return value is not None and _TYPE_CHECKS[spec.type](value) and not _scalar_phrases(spec, value)


# --- the walk ---------------------------------------------------------------------------------


def _check(spec: _Spec, value: Any, path: str, errors: list[str]) -> None:
    if not _TYPE_CHECKS[spec.type](value):
        errors.append(_error(spec.sensitive, value, path, f"Member must be {_NOUNS[spec.type]}"))
    elif spec.type == "structure":
        _check_structure(spec, value, path, errors)
    elif spec.type == "list":
        _check_list(spec, value, path, errors)
    elif spec.type == "map":
        _check_map(spec, value, path, errors)
    else:
        errors.extend(_error(spec.sensitive, value, path, p) for p in _scalar_phrases(spec, value))


def _check_structure(spec: _Spec, value: dict[str, Any], path: str, errors: list[str]) -> None:
    for name, (camel, member) in spec.members.items():
        item = value.get(name)
        if item is not None:
            _check(member, item, f"{path}.{camel}" if path else camel, errors)
        elif name in spec.required:
            errors.append(_null(f"{path}.{camel}" if path else camel))


def _check_size(spec: _Spec, value: list[Any] | dict[str, Any], path: str,
                errors: list[str]) -> None:
    if spec.min is not None or spec.max is not None:
        errors.extend(_error(spec.sensitive, value, path, p)
                      for p in _length_phrases(spec, len(value)))


def _check_list(spec: _Spec, value: list[Any], path: str, errors: list[str]) -> None:
    _check_size(spec, value, path, errors)
    member = spec.member
    assert member is not None
    if member.type in _SCALARS:
        if not all(_element_ok(member, item) for item in value):
            constraint = f"Member must satisfy constraint: [{_all_phrases(member)}]"
            errors.append(_error(spec.sensitive or member.sensitive, value, path, constraint))
        return
    for index, item in enumerate(value, 1):
        where = f"{path}.{index}.member"
        if item is None:
            errors.append(_null(where))
        else:
            _check(member, item, where, errors)


def _check_map(spec: _Spec, value: dict[str, Any], path: str, errors: list[str]) -> None:
    _check_size(spec, value, path, errors)
    key, element = spec.key, spec.value
    assert key is not None and element is not None
    hidden = spec.sensitive or key.sensitive or element.sensitive
    if not all(_element_ok(key, item) for item in value):
        constraint = f"Map keys must satisfy constraint: [{_all_phrases(key)}]"
        errors.append(_error(hidden, value, path, constraint))
    if element.type in _SCALARS:
        if not all(_element_ok(element, item) for item in value.values()):
            constraint = f"Map value must satisfy constraint: [{_all_phrases(element)}]"
            errors.append(_error(hidden, value, path, constraint))
        return
    for name, item in value.items():
        if item is not None:
            _check(element, item, f"{path}.{name}", errors)


# --- the API ----------------------------------------------------------------------------------


def _prune(spec: _Spec, value: Any) -> Any:
    """``value`` without null structure members, at every depth the shape gives structure."""
    if spec.type == "structure" and isinstance(value, dict):
        return {name: _prune(spec.members[name][1], item) if name in spec.members else item
                for name, item in value.items() if item is not None}
    if spec.type == "list" and isinstance(value, list) and spec.member is not None \
            and spec.member.type == "structure":
        return [_prune(spec.member, item) for item in value]
    if spec.type == "map" and isinstance(value, dict) and spec.value is not None \
            and spec.value.type == "structure":
        return {key: _prune(spec.value, item) for key, item in value.items()}
    return value


class ShapeValidator:
    """Validates operation inputs of one AWS service (``sagemaker``, ``logs``, ``lambda``, ...).

    A member is required when the installed botocore marks it or cove pins it
    (:mod:`cove.wire._surface`: botocore 1.4x dropped ``AlgorithmSpecification`` and
    ``ResourceConfig`` from CreateTrainingJob's required list; the service still needs them).
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._specs = _specs(service)
        self._operations: dict[str, Any] = _load_model(service)["operations"]

    def without_nulls(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with null structure members left out, as AWS reads them: a member sent
        as ``null`` is a member not sent."""
        pruned: dict[str, Any] = _prune(self._input(operation), params)
        return pruned

    def operations(self) -> set[str]:
        """The operation names the service model defines."""
        return set(self._operations)

    def validate(self, operation: str, params: dict[str, Any]) -> None:
        """Raise :class:`~cove.errors.ValidationError` listing everything wrong with ``params``."""
        errors = self.errors(operation, params)
        if errors:
            count = len(errors)
            noun = "error" if count == 1 else "errors"
            raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(errors))

    def errors(self, operation: str, params: dict[str, Any]) -> list[str]:
        """The AWS-worded problems of ``params`` for ``operation``, in model order."""
        spec = self._input(operation)
        errors = [_unknown(name, spec) for name in params if name not in spec.members]
        _check_structure(spec, params, "", errors)
        return errors

    def _input(self, operation: str) -> _Spec:
        if operation not in self._operations:
            raise UnknownOperation(f"Operation {operation} is not in the {self.service} model.")
        ref = self._operations[operation].get("input")
        if ref is None:
            return _Spec(f"{operation}Input", "structure")
        return self._specs.get(ref["shape"])


def _unknown(name: str, spec: _Spec) -> str:
    known = ", ".join(spec.members) or "(none)"
    return f'Unknown parameter in input: "{name}", must be one of: {known}'
