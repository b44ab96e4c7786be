"""Autotune (``Autotune.Mode=Enabled``): the tuning job's ranges chosen from ``AutoParameters``
value hints, and the settings the request leaves out filled in.

SageMaker documents that Autotune picks a range for each ``AutoParameter`` from its example value
(``ValueHint``), and that settings the request gives are kept.  For the built-in XGBoost
algorithm SageMaker documents each tunable hyperparameter's recommended range (its "Tune an
XGBoost model" page): those are the ranges used.  For other hyperparameters AWS publishes no
rule, so cove's is (the hint is always inside the range):

- an integer hint ``n > 0``: Integer ``[max(1, n // 2), 2 n]``; ``0``: ``[0, 10]``; a
  negative one: ``[2 n, n // 2]``;
- a decimal hint ``x`` in ``(0, 1)``: Continuous ``[x / 10, 1]``, Logarithmic; ``x >= 1``:
  ``[x / 10, 10 x]``, Logarithmic; ``0.0``: ``[0, 1]``; negative: ``[10 x, x / 10]``;
- ``true``/``false``: Categorical ``["true", "false"]``.

Any other hint (a word such as ``relu``) has no range to infer: the request is refused, naming
CategoricalParameterRanges.  Left out, ``MaxNumberOfTrainingJobs`` becomes 10 per tuned
hyperparameter (at least ``MaxParallelTrainingJobs``) and ``TrainingJobEarlyStoppingType`` Off.
Describe shows the chosen ranges beside the hints, in ``ParameterRanges``.
"""

from __future__ import annotations

import math
from typing import Any

from cove import errors
from cove.training._runtimes import image_kind

JOBS_PER_PARAMETER = 10

#: SageMaker's documented ranges for XGBoost's tunable hyperparameters: (type, min, max).
XGBOOST_RANGES: dict[str, tuple[str, str, str]] = {
    "alpha": ("Continuous", "0", "1000"), "colsample_bylevel": ("Continuous", "0.1", "1"),
    "colsample_bynode": ("Continuous", "0.1", "1"), "colsample_bytree": ("Continuous", "0.5", "1"),
    "eta": ("Continuous", "0.1", "0.5"), "gamma": ("Continuous", "0", "5"),
    "lambda": ("Continuous", "0", "1000"), "max_delta_step": ("Integer", "0", "10"),
    "max_depth": ("Integer", "0", "10"), "min_child_weight": ("Continuous", "0", "120"),
    "num_round": ("Integer", "1", "4000"), "subsample": ("Continuous", "0.5", "1"),
}
_LISTS = {"Integer": "IntegerParameterRanges", "Continuous": "ContinuousParameterRanges",
          "Categorical": "CategoricalParameterRanges"}


def apply_autotune(params: dict[str, Any], config: dict[str, Any],
                   definition: dict[str, Any]) -> None:
    """Resolve ``AutoParameters`` into ranges in ``config`` (in place) when Autotune is on;
    a ValidationError when it is asked for wrongly."""
    autotune = params.get("Autotune")
    ranges = config.get("ParameterRanges") or definition.get("HyperParameterRanges") or {}
    hints = ranges.get("AutoParameters") or []
    if autotune is None:
        if hints:
            raise errors.ValidationError("ParameterRanges.AutoParameters needs Autotune: set "
                                         "Autotune={'Mode': 'Enabled'}.")
        return
    if not isinstance(autotune, dict) or autotune.get("Mode") != "Enabled":
        raise errors.ValidationError("1 validation error detected: Value at 'autotune.mode' "
                                     "failed to satisfy constraint: Member must satisfy enum "
                                     "value set: [Enabled]")
    if not hints and not any(ranges.get(name) for name in _LISTS.values()):
        raise errors.ValidationError(
            "Autotune needs the hyperparameters to tune: ParameterRanges.AutoParameters, each a "
            "Name and an example value (ValueHint), or ranges of your own.")
    image = definition.get("AlgorithmSpecification", {}).get("TrainingImage", "")
    builtin = XGBOOST_RANGES if image_kind(image) == "xgboost" else {}
    chosen = {**ranges, "AutoParameters": list(hints)}
    for hint in hints:
        kind, entry = _range(hint, builtin)
        chosen[_LISTS[kind]] = [*chosen.get(_LISTS[kind], []), entry]
    config["ParameterRanges"] = chosen
    _fill_limits(config, chosen)


def _fill_limits(config: dict[str, Any], ranges: dict[str, Any]) -> None:
    limits = config.setdefault("ResourceLimits", {})
    tuned = sum(len(ranges.get(name, [])) for name in _LISTS.values())
    limits.setdefault("MaxNumberOfTrainingJobs", max(
        JOBS_PER_PARAMETER * tuned, int(limits.get("MaxParallelTrainingJobs", 1))))
    config.setdefault("TrainingJobEarlyStoppingType", "Off")


def _range(hint: dict[str, Any], builtin: dict[str, tuple[str, str, str]]) -> tuple[
        str, dict[str, Any]]:
    name, value = str(hint.get("Name", "")), str(hint.get("ValueHint", "")).strip()
    if not name:
        raise errors.ValidationError("Each AutoParameter needs a Name and a ValueHint.")
    if name in builtin:
        kind, low, high = builtin[name]
        return kind, {"Name": name, "MinValue": low, "MaxValue": high, "ScalingType": "Auto"}
    if value.lower() in ("true", "false"):
        return "Categorical", {"Name": name, "Values": ["true", "false"]}
    try:
        return "Integer", _integer(name, int(value))
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not math.isfinite(number * 10):
        raise errors.ValidationError(
            f"Autotune cannot infer a range for {name!r} from the value hint {value[:64]!r}: "
            f"give a number (or true/false), or list its values in CategoricalParameterRanges.")
    return "Continuous", _continuous(name, number)


def _integer(name: str, n: int) -> dict[str, Any]:
    if n == 0:
        low, high = 0, 10
    elif n > 0:
        low, high = max(1, n // 2), 2 * n
    else:
        low, high = 2 * n, -((-n) // 2)
    return {"Name": name, "MinValue": str(low), "MaxValue": str(high), "ScalingType": "Linear"}


def _continuous(name: str, x: float) -> dict[str, Any]:
    scaling = "Logarithmic"
    if x == 0:
        low, high, scaling = 0.0, 1.0, "Linear"
    elif 0 < x < 1:
        low, high = x / 10, 1.0
    elif x >= 1:
        low, high = x / 10, x * 10
    else:
        low, high, scaling = x * 10, x / 10, "Linear"
    return {"Name": name, "MinValue": repr(low), "MaxValue": repr(high), "ScalingType": scaling}
