"""Reading string hyperparameters as typed values, with errors a customer can act on.

Training jobs receive every hyperparameter as a string (``"5"``, ``"0.2"``, ``"true"``); these
helpers convert one value and raise :class:`AlgorithmError` naming the hyperparameter, the bad
value and what is expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from cove.algorithms._jobenv import AlgorithmError

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


def require(hyperparameters: Mapping[str, str], name: str, algorithm: str, example: str) -> str:
    """The value of a required hyperparameter, or the failure that says how to set it."""
    value = hyperparameters.get(name)
    if value is None or not value.strip():
        raise AlgorithmError(
            f"Missing required hyperparameter: {name}. The {algorithm} algorithm cannot train "
            f"without it; set it in the estimator's hyperparameters, e.g. {name}={example}.")
    return value.strip()


def as_int(name: str, value: str, minimum: int | None = None) -> int:
    """An integer (``"5"``; an integral float such as ``"5.0"`` is accepted too)."""
    text = value.strip()
    try:
        number = int(text)
    except ValueError:
        number = _integral_float(name, text)
    if minimum is not None and number < minimum:
        raise AlgorithmError(f"Hyperparameter {name} must be at least {minimum}, got {value!r}.")
    return number


def as_float(name: str, value: str, minimum: float | None = None) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise AlgorithmError(
            f"Hyperparameter {name} must be a number, got {value!r}. Fix its value in the "
            f"estimator's hyperparameters.") from None
    if math.isnan(number) or (minimum is not None and number < minimum):
        bound = f" at least {minimum}" if minimum is not None else ""
        raise AlgorithmError(f"Hyperparameter {name} must be a number{bound}, got {value!r}.")
    return number


def as_bool(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise AlgorithmError(f"Hyperparameter {name} must be true or false, got {value!r}.")


def as_choice(name: str, value: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    text = value.strip()
    if text not in options:
        raise AlgorithmError(
            f"Hyperparameter {name} must be one of {', '.join(options)}; got {value!r}.")
    return text


def float_or_auto(name: str, value: str | None, minimum: float | None = None) -> float | None:
    """``None`` for a missing or ``"auto"`` value, else the number."""
    if value is None or value.strip().lower() == "auto":
        return None
    return as_float(name, value, minimum)


def _integral_float(name: str, text: str) -> int:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise AlgorithmError(
            f"Hyperparameter {name} must be an integer, got {text!r}. Fix its value in the "
            f"estimator's hyperparameters.")
    return int(number)
