"""SageMaker XGBoost hyperparameters → the arguments of ``xgboost.train``.

The container accepts XGBoost's booster parameters plus a few of its own (``num_round``,
``early_stopping_rounds``, ``csv_weights``, ``eval_metric`` as a comma-separated list,
``_tuning_objective_metric``); values arrive as strings and are converted here.  Unknown names
are ignored with a warning, as the container does.  ``eval_metric`` may name the container's own
metrics (``accuracy``, ``f1``, ``mse``, ``r2``), computed in Python like the container's feval.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cove.algorithms import _hyperparameters as hp
from cove.algorithms._jobenv import AlgorithmError

_INT = frozenset({
    "num_class", "max_depth", "seed", "max_leaves", "max_bin", "num_parallel_tree", "nthread",
    "verbosity", "one_drop", "refresh_leaf", "max_cat_to_onehot", "max_cat_threshold", "top_k",
})
_FLOAT = frozenset({
    "eta", "learning_rate", "gamma", "min_split_loss", "min_child_weight", "max_delta_step",
    "subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode", "lambda",
    "reg_lambda", "alpha", "reg_alpha", "scale_pos_weight", "base_score", "sketch_eps",
    "rate_drop", "skip_drop", "tweedie_variance_power", "huber_slope",
    "aft_loss_distribution_scale",
})
_STRING = frozenset({
    "booster", "objective", "tree_method", "grow_policy", "sample_type", "normalize_type",
    "process_type", "updater", "monotone_constraints", "interaction_constraints",
    "aft_loss_distribution", "multi_strategy", "feature_selector", "sampling_method",
    "quantile_alpha", "lambdarank_pair_method",
})
#: Accepted for compatibility with older containers; they do nothing in today's XGBoost.
_NO_EFFECT = frozenset({
    "silent", "lambda_bias", "deterministic_histogram", "single_precision_histogram",
    "save_model_on_termination", "use_dask_gpu_training", "predictor", "_kfold", "_num_cv_round",
})
_LEGACY_OBJECTIVES = {"reg:linear": "reg:squarederror"}
_CONTAINER_METRICS = ("accuracy", "f1", "mse", "r2")
_MAXIMIZE = frozenset({"accuracy", "auc", "aucpr", "f1", "map", "ndcg", "pre", "r2"})

Predictions = npt.NDArray[np.float32]
CustomMetric = Callable[[Predictions, Any], list[tuple[str, float]]]


@dataclass(frozen=True)
class TrainConfig:
    """What ``xgboost.train`` gets, converted from the job's hyperparameters."""

    params: dict[str, Any]
    num_round: int
    early_stopping_rounds: int | None = None
    early_stopping_metric: str | None = None
    custom_metrics: tuple[str, ...] = ()
    csv_weights: bool = False

    @property
    def maximize(self) -> bool | None:
        """True for metrics where larger is better; None lets XGBoost decide."""
        metric = self.early_stopping_metric
        return True if metric and metric.split("@")[0] in _MAXIMIZE else None

    def custom_metric(self) -> CustomMetric | None:
        return make_custom_metric(self.custom_metrics) if self.custom_metrics else None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parse(hyperparameters: Mapping[str, str], warn: Callable[[str], None]) -> TrainConfig:
    """The training configuration, or :class:`AlgorithmError` naming the bad hyperparameter."""
    num_round = hp.as_int("num_round", hp.require(hyperparameters, "num_round", "XGBoost", "100"),
                          minimum=1)
    params = _booster_params(hyperparameters, warn)
    params.setdefault("nthread", available_cpus())
    native, custom = _eval_metrics(hyperparameters)
    if native:
        params["eval_metric"] = list(native)
    _check_objective(params)
    tuning = _tuning_metric(hyperparameters)
    requested = [*native, *custom]
    rounds = hyperparameters.get("early_stopping_rounds")
    return TrainConfig(
        params=params, num_round=num_round,
        early_stopping_rounds=hp.as_int("early_stopping_rounds", rounds, 1) if rounds else None,
        early_stopping_metric=tuning or (requested[-1] if requested else None),
        custom_metrics=custom,
        csv_weights=hp.as_bool("csv_weights", hyperparameters.get("csv_weights", "0")))


def _booster_params(hyperparameters: Mapping[str, str], warn: Callable[[str], None]
                    ) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in sorted(hyperparameters.items()):
        if name in _INT:
            params[name] = hp.as_int(name, value)
        elif name in _FLOAT:
            params[name] = hp.as_float(name, value)
        elif name in _STRING:
            params[name] = value.strip()
        elif name in _NO_EFFECT:
            warn(f"Hyperparameter {name}={value} has no effect in this XGBoost version; ignored.")
        elif not _is_container_param(name):
            warn(f"Ignoring unknown hyperparameter {name}={value}.")
    objective = params.get("objective")
    if objective in _LEGACY_OBJECTIVES:
        params["objective"] = _LEGACY_OBJECTIVES[objective]
    if params.get("tree_method") == "gpu_hist":
        warn("tree_method=gpu_hist: cove trains on CPU; using tree_method=hist.")
        params["tree_method"] = "hist"
    return params


def _is_container_param(name: str) -> bool:
    return name in {"num_round", "early_stopping_rounds", "eval_metric", "csv_weights",
                    "_tuning_objective_metric"} or name.startswith("sagemaker_")


def _eval_metrics(hyperparameters: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(XGBoost's own metrics, the container's metrics), each in the order given, deduplicated."""
    names = [m.strip() for m in hyperparameters.get("eval_metric", "").split(",") if m.strip()]
    tuning = _tuning_metric(hyperparameters)
    if tuning:
        names.append(tuning)
    unique = list(dict.fromkeys(names))
    custom = tuple(m for m in unique if m in _CONTAINER_METRICS)
    return tuple(m for m in unique if m not in _CONTAINER_METRICS), custom


def _tuning_metric(hyperparameters: Mapping[str, str]) -> str | None:
    """``validation:rmse`` (sent by a tuning job) → ``rmse``."""
    objective = hyperparameters.get("_tuning_objective_metric", "").strip()
    return objective.split(":", 1)[1] if ":" in objective else None


def _check_objective(params: Mapping[str, Any]) -> None:
    objective = str(params.get("objective", ""))
    if objective.startswith("multi:") and "num_class" not in params:
        raise AlgorithmError(
            f"Missing required hyperparameter: num_class. objective={objective} needs the "
            f"number of classes; set num_class in the estimator's hyperparameters (labels "
            f"0..num_class-1).")


def make_custom_metric(names: tuple[str, ...]) -> CustomMetric:
    """The container's Python-side metrics, as an ``xgboost.train(custom_metric=...)``."""
    def evaluate(predictions: Predictions, dmatrix: Any) -> list[tuple[str, float]]:
        labels = dmatrix.get_label()
        return [(name, _METRICS[name](labels, predictions)) for name in names]
    return evaluate


def _classes(predictions: Predictions) -> npt.NDArray[np.float64]:
    classes: npt.NDArray[np.float64] = (
        np.argmax(predictions, axis=1) if predictions.ndim == 2 else np.rint(predictions)
    ).astype(np.float64)
    return classes


def _accuracy(labels: Predictions, predictions: Predictions) -> float:
    return float(np.mean(_classes(predictions) == labels))


def _f1(labels: Predictions, predictions: Predictions) -> float:
    """Macro-averaged F1 (scikit-learn's ``f1_score(average="macro")``), in numpy: the job
    does not import scikit-learn (see xgboost.py)."""
    predicted = _classes(predictions)
    scores = []
    for label in np.union1d(labels, predicted):
        hits = float(np.sum((predicted == label) & (labels == label)))
        wrong = float(np.sum(predicted == label)) - hits
        missed = float(np.sum(labels == label)) - hits
        scores.append(2 * hits / (2 * hits + wrong + missed) if hits else 0.0)
    return float(np.mean(scores))


def _mse(labels: Predictions, predictions: Predictions) -> float:
    return float(np.mean((labels.astype(np.float64) - predictions) ** 2))


def _r2(labels: Predictions, predictions: Predictions) -> float:
    truth = labels.astype(np.float64)
    total = float(np.sum((truth - truth.mean()) ** 2))
    residual = float(np.sum((truth - predictions) ** 2))
    return 1.0 - residual / total if total else 0.0


_METRICS: dict[str, Callable[[Predictions, Predictions], float]] = {
    "accuracy": _accuracy, "f1": _f1, "mse": _mse, "r2": _r2,
}
