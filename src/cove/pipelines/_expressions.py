"""The values a pipeline definition computes: ``Get`` (parameters, execution variables, step
properties), ``Std:Join`` and ``Std:JsonGet``, and the conditions of a Condition step."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cove import errors


class ExpressionError(errors.ClientError):
    """A value cannot be computed (a missing property, a property file that is not JSON):
    the step that needs it fails with this message."""

    code = "ValidationException"


@dataclass(frozen=True)
class Context:
    parameters: Mapping[str, Any]
    execution: Mapping[str, Any]  # Execution.<Name> variables
    #: A finished step's properties (``Steps.<name>.…``); raises ExpressionError if it has none.
    properties: Callable[[str], Mapping[str, Any]]
    #: The S3 URI of a property file (``Steps.<step>.PropertyFiles.<name>``).
    property_file: Callable[[str, str], str]
    read_json: Callable[[str], Any]  # an S3 object's JSON


def evaluate(value: Any, ctx: Context) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "Get" and isinstance(inner, str):
                return get(inner, ctx)
            if key == "Std:Join":
                return _join(inner, ctx)
            if key == "Std:JsonGet":
                return _json_get(inner, ctx)
        return {k: evaluate(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, ctx) for v in value]
    return value


def get(path: str, ctx: Context) -> Any:
    head, _, rest = path.partition(".")
    if head == "Parameters":
        if rest not in ctx.parameters:
            raise ExpressionError(f"No pipeline parameter {rest!r}.")
        return ctx.parameters[rest]
    if head == "Execution":
        if rest not in ctx.execution:
            raise ExpressionError(f"No execution variable {rest!r}; there are "
                                  f"{', '.join(sorted(ctx.execution))}.")
        return ctx.execution[rest]
    if head == "Steps":
        step, _, inner = rest.partition(".")
        inner = inner[len("Properties."):] if inner.startswith("Properties.") else inner
        return walk(ctx.properties(step), inner, f"Steps.{step}")
    raise ExpressionError(f"Cannot resolve {path!r}: a Get names Parameters, Execution or "
                          "Steps.")


_TOKEN = re.compile(r"""\.?([A-Za-z0-9_:\-]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


def walk(document: Any, path: str, where: str) -> Any:
    """Follow ``A.B[0].C['key']`` into a document; ``['key']`` picks the list entry named
    ``key`` (an output's OutputName, a metric's MetricName, a parameter's Name)."""
    current, position = document, 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise ExpressionError(f"Cannot read {where}.{path}: bad path syntax at "
                                  f"{path[position:]!r}.")
        position = match.end()
        member, index, key = match.group(1), match.group(2), match.group(3) or match.group(4)
        current = _step_into(current, member, index, key)
        if current is None:
            raise ExpressionError(f"{where}.{path[:position]} does not exist.")
    return current


def _step_into(current: Any, member: str | None, index: str | None, key: str | None) -> Any:
    if member is not None:
        return current.get(member) if isinstance(current, dict) else None
    if isinstance(current, dict) and key is not None:  # a Lambda step's OutputParameters
        return current.get(key)
    if not isinstance(current, list):
        return None
    if index is not None:
        return current[int(index)] if int(index) < len(current) else None
    for item in current:
        if isinstance(item, dict) and key in (item.get("OutputName"), item.get("MetricName"),
                                              item.get("Name"), item.get("ChannelName")):
            return item
    return None


def _join(spec: Any, ctx: Context) -> str:
    if not isinstance(spec, dict):
        raise ExpressionError("Std:Join takes {On, Values}.")
    return str(spec.get("On", "")).join(_text(evaluate(v, ctx))
                                        for v in spec.get("Values") or [])


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _json_get(spec: Any, ctx: Context) -> Any:
    if not isinstance(spec, dict) or "Path" not in spec:
        raise ExpressionError("Std:JsonGet takes {PropertyFile or S3Uri, Path}.")
    if "PropertyFile" in spec:
        reference = spec["PropertyFile"]
        path = reference.get("Get", "") if isinstance(reference, dict) else str(reference)
        parts = path.split(".")
        if len(parts) != 4 or parts[0] != "Steps" or parts[2] != "PropertyFiles":
            raise ExpressionError(f"{path!r} is not Steps.<step>.PropertyFiles.<name>.")
        uri = ctx.property_file(parts[1], parts[3])
    else:
        uri = str(evaluate(spec["S3Uri"], ctx))
    document = ctx.read_json(uri)
    return walk(document, _json_path(str(evaluate(spec["Path"], ctx))), uri)


def _json_path(path: str) -> str:
    """JsonGet paths are JMESPath-like (``metrics.accuracy.value``, ``a[0].b``)."""
    return path[2:] if path.startswith("$.") else path


def parse_json(raw: bytes, uri: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ExpressionError(f"The property file {uri} is not JSON: {exc}") from exc


# --- conditions -----------------------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


def holds(condition: Any, ctx: Context) -> bool:
    if not isinstance(condition, dict):
        raise ExpressionError("A condition must be an object with a Type.")
    kind = condition.get("Type")
    if kind in _COMPARISONS:
        left, right = _comparable(evaluate(condition.get("LeftValue"), ctx),
                                  evaluate(condition.get("RightValue"), ctx))
        try:
            return _COMPARISONS[kind](left, right)
        except TypeError as exc:
            raise ExpressionError(f"Cannot compare {left!r} with {right!r}.") from exc
    if kind == "In":
        value = evaluate(condition.get("QueryValue"), ctx)
        return any(_comparable(value, evaluate(v, ctx))[0] == _comparable(value, evaluate(
            v, ctx))[1] for v in condition.get("Values") or [])
    if kind == "Not":
        return not holds(condition.get("Condition"), ctx)
    if kind == "Or":
        return any(holds(c, ctx) for c in condition.get("Conditions") or [])
    if kind == "And":
        return all(holds(c, ctx) for c in condition.get("Conditions") or [])
    raise ExpressionError(f"Unknown condition type {kind!r}.")


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Numbers compare as numbers whichever side is a string (a JSON property file's value
    against a Float parameter), booleans and text as given."""
    numbers = (int, float)
    if isinstance(left, numbers) and not isinstance(left, bool) and isinstance(right, str):
        return left, _number(right)
    if isinstance(right, numbers) and not isinstance(right, bool) and isinstance(left, str):
        return _number(left), right
    return left, right


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text
