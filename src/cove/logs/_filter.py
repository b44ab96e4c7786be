"""FilterLogEvents' ``filterPattern``: the subset of CloudWatch's syntax for unstructured logs.

Supported (matching is case-sensitive, as in CloudWatch):

- empty pattern: every event;
- terms separated by spaces, bare (``ERROR``) or double-quoted (``"Exception in"``, with ``\\"``
  for a quote): an event matches when its message contains every term as a substring;
- ``?term``: at least one of the ``?`` terms must occur (``?ERROR ?WARN``);
- ``-term``: the term must not occur (``ERROR -Retrying``);
- ``%regex%`` as the whole pattern: a Python regular-expression search.

JSON (``{ $.x = 1 }``) and space-delimited (``[ip, user, ...]``) patterns are rejected with
InvalidParameterException rather than matched wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cove.logs._errors import InvalidParameterException

_TERM = re.compile(r'(?P<op>[?-]?)(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]+))(?=\s|$)')
_ESCAPE = re.compile(r"\\(.)")

Matcher = Callable[[str], bool]


@dataclass(frozen=True)
class _Terms:
    required: tuple[str, ...]
    any_of: tuple[str, ...]
    excluded: tuple[str, ...]

    def __call__(self, message: str) -> bool:
        return (all(t in message for t in self.required)
                and (not self.any_of or any(t in message for t in self.any_of))
                and not any(t in message for t in self.excluded))


def compile_pattern(pattern: str) -> Matcher:
    """A predicate over messages for ``pattern``; raises InvalidParameterException if cove
    does not support it or it does not parse."""
    text = pattern.strip()
    if not text:
        return lambda _message: True
    if text[0] in "{[":
        raise InvalidParameterException(
            "cove supports filter patterns of terms (ERROR \"two words\" ?either -not) and "
            "%regex%, not JSON or space-delimited patterns.")
    if len(text) >= 2 and text[0] == text[-1] == "%":
        return _regex(text[1:-1])
    return _terms(text)


def _regex(source: str) -> Matcher:
    try:
        compiled = re.compile(source)
    except re.error as exc:
        raise InvalidParameterException(f"Invalid regular expression in filterPattern: "
                                         f"{exc}") from exc
    return lambda message: compiled.search(message) is not None


def _terms(text: str) -> Matcher:
    groups: dict[str, list[str]] = {"": [], "?": [], "-": []}
    at = 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        found = _TERM.match(text, at)
        if found is None:
            raise InvalidParameterException(f"Invalid character(s) in term at position {at} "
                                            f"of filterPattern {text!r}.")
        quoted = found.group("quoted")
        term = _ESCAPE.sub(r"\1", quoted) if quoted is not None else found.group("bare")
        groups[found.group("op")].append(term)
        at = found.end()
    return _Terms(tuple(groups[""]), tuple(groups["?"]), tuple(groups["-"]))
