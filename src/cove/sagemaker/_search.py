"""``Search``: one query language over every resource that registers its documents.

A resource kind registers a function yielding its Search documents (its Describe document
plus ``Tags``).  Filters name a property by dotted path (``InferenceSpecification.Containers``
is not searchable, ``Tags.team`` is the value of tag ``team``); values compare as numbers or
times when the property is one, else as strings.  What cove does not implement
(``NestedFilters``, resources nobody registered) is refused, never ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from cove import errors
from cove.sagemaker._common import epoch_seconds, paginate

Documents = Callable[[], Iterable[dict[str, Any]]]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a != b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


class Search:
    def __init__(self) -> None:
        self._sources: dict[str, Documents] = {}

    def register(self, resource: str, documents: Documents) -> None:
        self._sources[resource] = documents

    def operations(self) -> dict[str, Callable[[dict[str, Any], Any], Any]]:
        return {"Search": self.search}

    def search(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        resource = params["Resource"]
        source = self._sources.get(resource)
        if source is None:
            raise errors.ValidationError(
                f"cove cannot search {resource} resources; it searches "
                f"{', '.join(sorted(self._sources))}.")
        expression = params.get("SearchExpression") or {}
        hits = [d for d in source() if _matches(d, expression)]
        sort_key = params.get("SortBy") or "CreationTime"
        hits.sort(key=lambda d: _sortable(_lookup(d, sort_key)),
                  reverse=params.get("SortOrder", "Descending") == "Descending")
        page = paginate(hits, params, default_max=10)
        return {**page.response("Results", [{resource: d} for d in page.items]),
                "TotalHits": {"Value": len(hits), "Relation": "EqualTo"}}


def _matches(doc: dict[str, Any], expression: dict[str, Any]) -> bool:
    if expression.get("NestedFilters"):
        raise errors.ValidationError("cove's Search does not support NestedFilters; use "
                                     "Filters and SubExpressions.")
    results = [_passes(doc, f) for f in expression.get("Filters") or []]
    results += [_matches(doc, sub) for sub in expression.get("SubExpressions") or []]
    if expression.get("Operator", "And") == "Or":
        return any(results) if results else True
    return all(results)


def _passes(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    operator = condition.get("Operator", "Equals")
    actual = _lookup(doc, condition["Name"])
    if operator == "Exists":
        return actual is not None
    if operator == "NotExists":
        return actual is None
    if actual is None:
        return False
    value = condition.get("Value", "")
    if operator == "Contains":
        return str(value).lower() in str(actual).lower()
    if operator == "In":
        return str(actual) in [v.strip() for v in str(value).split(",")]
    if operator not in _COMPARE:
        raise errors.ValidationError(f"Unknown Search operator {operator!r}.")
    return _COMPARE[operator](*_comparable(actual, value))


def _lookup(doc: dict[str, Any], path: str) -> Any:
    current: Any = doc
    for part in path.split("."):
        if isinstance(current, list) and current and isinstance(current[0], dict) \
                and "Key" in current[0]:  # a tag list: Tags.<key>
            current = {t["Key"]: t.get("Value") for t in current}
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _comparable(actual: Any, value: Any) -> tuple[Any, Any]:
    if isinstance(actual, bool):
        return str(actual).lower(), str(value).lower()
    if isinstance(actual, int | float):
        try:
            return float(actual), float(value)
        except ValueError:
            try:
                return float(actual), epoch_seconds(value)
            except ValueError as exc:
                raise errors.ValidationError(
                    f"Search value {value!r} is not a number or a time.") from exc
    return str(actual), str(value)


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value) if math.isfinite(value) else (0, 0)
    return (2, str(value)) if value is not None else (0, 0)
