"""Route keys and how a request finds its route, as an HTTP API does.

A route key is ``$default`` or ``METHOD /path`` with ``{name}`` segments and a final greedy
``{name+}``.  Among the routes that match a request the most specific wins: no greedy variable
over greedy, then more segments, then more literal segments, then a named method over ``ANY``;
``$default`` catches what nothing else matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cove import errors

METHODS = frozenset({"ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_SEGMENT = re.compile(r"\{([A-Za-z0-9._-]+)(\+?)\}|[^{}/]+")


@dataclass(frozen=True)
class Route:
    key: str
    method: str  # ANY for $default
    regex: re.Pattern[str] | None  # None for $default
    rank: tuple[int, int, int, int]
    integration: dict[str, Any]
    resource: str  # the path part of the key, for 1.0's ``resource``

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.regex is None or (self.method != "ANY" and self.method != method):
            return None
        found = self.regex.fullmatch(path)
        return found.groupdict() if found else None


def parse_route_key(key: str) -> tuple[str, str]:
    """``(method, path)`` of a route key (BadRequest when it is not one)."""
    if key == "$default":
        return "ANY", ""
    method, _, path = key.partition(" ")
    if method not in METHODS or not path.startswith("/"):
        raise errors.BadRequest(f"Unable to create route {key}: a route key is $default or "
                                "'METHOD /path' (METHOD one of "
                                f"{', '.join(sorted(METHODS))}).")
    segments = path.strip("/").split("/") if path != "/" else []
    for index, segment in enumerate(segments):
        found = _SEGMENT.fullmatch(segment)
        if found is None or (found[2] and index != len(segments) - 1):
            raise errors.BadRequest(f"Unable to create route {key}: the path segment "
                                    f"{segment!r} is not valid (a greedy variable like "
                                    "{proxy+} may only be last).")
    return method, path


def compile_route(key: str, integration: dict[str, Any]) -> Route:
    method, path = parse_route_key(key)
    if key == "$default":
        return Route(key, method, None, (-1, 0, 0, 0), integration, "$default")
    parts, literal, greedy = [], 0, 0
    segments = path.strip("/").split("/") if path != "/" else []
    for segment in segments:
        found = _SEGMENT.fullmatch(segment)
        assert found is not None
        if found[1] is None:
            literal += 1
            parts.append(re.escape(segment))
        elif found[2]:
            greedy = 1
            parts.append(f"(?P<{_group(found[1])}>.+)")
        else:
            parts.append(f"(?P<{_group(found[1])}>[^/]+)")
    regex = re.compile("/" + "/".join(parts) + ("/?" if segments else ""))
    rank = (1 - greedy, len(segments), literal, int(method != "ANY"))
    return Route(key, method, regex, rank, integration, path)


def _group(name: str) -> str:
    """A regex group name for a path variable (which may hold ``.`` or ``-``)."""
    return "v_" + "".join(c if c.isalnum() or c == "_" else f"_{ord(c):x}_" for c in name)


def variable_name(group: str) -> str:
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m[1], 16)), group[2:])


def choose(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The most specific route for ``method path`` and its path parameters."""
    best: tuple[Route, dict[str, str]] | None = None
    fallback = None
    for route in routes:
        if route.regex is None:
            fallback = route
            continue
        params = route.match(method, path)
        if params is not None and (best is None or route.rank > best[0].rank):
            best = (route, params)
    if best is not None:
        return best[0], {variable_name(k): v for k, v in best[1].items()}
    return (fallback, {}) if fallback is not None else None
