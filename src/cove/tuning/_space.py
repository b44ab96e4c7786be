"""The search space of a tuning job: SageMaker's ParameterRanges as Optuna distributions.

Optuna samples each parameter in an *internal* value; ``Parameter.hyperparameter`` turns it into
the string a training job receives.  The two differ only for ReverseLogarithmic scaling, which
Optuna has no name for: it is a log-uniform draw of ``1 - x``, so values crowd towards 1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from cove import errors

#: Auto scaling picks a log scale when a positive range spans at least this factor (SageMaker
#: documents only that Auto "chooses the best scale"; this is cove's rule).
AUTO_LOG_SPAN = 100.0


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # Integer | Continuous | Categorical
    distribution: BaseDistribution
    reverse: bool = False  # ReverseLogarithmic: Optuna samples 1 - x

    def hyperparameter(self, internal: Any) -> str:
        """The training job's hyperparameter string for an internal value."""
        if self.kind == "Categorical":
            return str(internal)
        if self.kind == "Integer":
            return str(int(internal))
        value = 1.0 - float(internal) if self.reverse else float(internal)
        return repr(value)

    def internal(self, hyperparameter: str) -> Any | None:
        """The internal value of a hyperparameter string, or None if it lies outside this
        parameter's range (warm start keeps only parent trials that fit)."""
        try:
            if self.kind == "Categorical":
                value: Any = hyperparameter
            elif self.kind == "Integer":
                value = int(float(hyperparameter))
            else:
                value = float(hyperparameter)
                value = 1.0 - value if self.reverse else value
        except ValueError:
            return None
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return value if value in d.choices else None
        assert isinstance(d, IntDistribution | FloatDistribution)
        return value if d.low <= value <= d.high else None


@dataclass(frozen=True)
class SearchSpace:
    parameters: tuple[Parameter, ...]

    @classmethod
    def from_ranges(cls, ranges: Mapping[str, Any]) -> SearchSpace:
        parameters: list[Parameter] = []
        for r in ranges.get("IntegerParameterRanges", []):
            parameters.append(_numeric(r, "Integer"))
        for r in ranges.get("ContinuousParameterRanges", []):
            parameters.append(_numeric(r, "Continuous"))
        for r in ranges.get("CategoricalParameterRanges", []):
            values = list(r.get("Values", []))
            if not values:
                raise errors.ValidationError(
                    f"Categorical parameter {r['Name']!r} needs at least one value.")
            if len(set(values)) != len(values):
                raise errors.ValidationError(
                    f"Categorical parameter {r['Name']!r} lists a value twice: {values}.")
            parameters.append(Parameter(r["Name"], "Categorical",
                                        CategoricalDistribution(values)))
        names = [p.name for p in parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise errors.ValidationError(
                f"Each hyperparameter can have one range only; {', '.join(duplicates)} "
                "appears in more than one.")
        if not parameters:
            raise errors.ValidationError(
                "ParameterRanges must name at least one hyperparameter to tune.")
        return cls(tuple(parameters))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def distributions(self) -> dict[str, BaseDistribution]:
        return {p.name: p.distribution for p in self.parameters}

    def hyperparameters(self, params: dict[str, Any]) -> dict[str, str]:
        return {p.name: p.hyperparameter(params[p.name]) for p in self.parameters}

    def internal(self, hyperparameters: Mapping[str, str]) -> dict[str, Any] | None:
        """Internal values for a parent trial's hyperparameters (warm start), or None."""
        found: dict[str, Any] = {}
        for p in self.parameters:
            if p.name not in hyperparameters:
                return None
            value = p.internal(hyperparameters[p.name])
            if value is None:
                return None
            found[p.name] = value
        return found

    def grid(self) -> list[dict[str, Any]]:
        """Every combination, in the order the ranges list them (Grid strategy)."""
        axes: list[list[Any]] = []
        for p in self.parameters:
            d = p.distribution
            if isinstance(d, CategoricalDistribution):
                axes.append(list(d.choices))
            elif isinstance(d, IntDistribution) and not d.log:
                axes.append(list(range(d.low, d.high + 1)))
            else:
                raise errors.ValidationError(
                    f"The Grid strategy enumerates categorical and linear integer ranges only; "
                    f"{p.name!r} is {'a logarithmic' if p.kind == 'Integer' else 'a continuous'} "
                    "range. Use Bayesian or Random for it, or list its values as a categorical "
                    "range.")
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes)]

    def grid_size(self) -> int:
        return math.prod(len(_axis(p)) for p in self.parameters)


def _axis(p: Parameter) -> list[Any]:
    d = p.distribution
    if isinstance(d, CategoricalDistribution):
        return list(d.choices)
    if isinstance(d, IntDistribution):
        return list(range(d.low, d.high + 1))
    return []


def _numeric(r: dict[str, Any], kind: str) -> Parameter:
    name = r["Name"]
    try:
        low, high = (int(r["MinValue"]), int(r["MaxValue"])) if kind == "Integer" else (
            float(r["MinValue"]), float(r["MaxValue"]))
    except ValueError as exc:
        raise errors.ValidationError(
            f"{kind} parameter {name!r}: MinValue {r['MinValue']!r} and MaxValue "
            f"{r['MaxValue']!r} must be {'integers' if kind == 'Integer' else 'numbers'}."
        ) from exc
    if not (math.isfinite(low) and math.isfinite(high)):
        raise errors.ValidationError(f"{kind} parameter {name!r}: the range must be finite.")
    if low >= high:
        raise errors.ValidationError(
            f"{kind} parameter {name!r}: MinValue ({r['MinValue']}) must be less than "
            f"MaxValue ({r['MaxValue']}).")
    scaling = r.get("ScalingType", "Auto")
    if scaling == "Auto":
        scaling = "Logarithmic" if low > 0 and high / low >= AUTO_LOG_SPAN else "Linear"
    if scaling == "Logarithmic":
        if low <= 0:
            raise errors.ValidationError(
                f"{kind} parameter {name!r}: Logarithmic scaling needs a range of positive "
                f"values; MinValue is {r['MinValue']}.")
        return Parameter(name, kind, _distribution(kind, low, high, log=True))
    if scaling == "ReverseLogarithmic":
        if kind != "Continuous":
            raise errors.ValidationError(
                f"Integer parameter {name!r}: ReverseLogarithmic scaling is for continuous "
                "ranges only.")
        if not (low >= 0 and high < 1):
            raise errors.ValidationError(
                f"Continuous parameter {name!r}: ReverseLogarithmic scaling needs "
                f"0 <= MinValue < MaxValue < 1; the range is [{low}, {high}].")
        return Parameter(name, kind, FloatDistribution(1.0 - high, 1.0 - low, log=True),
                         reverse=True)
    return Parameter(name, kind, _distribution(kind, low, high, log=False))


def _distribution(kind: str, low: float, high: float, log: bool) -> BaseDistribution:
    if kind == "Integer":
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)
