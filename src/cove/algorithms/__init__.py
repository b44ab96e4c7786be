"""SageMaker's built-in algorithms, run without containers.

Each algorithm is a module run as ``python -m <module>`` in a job directory laid out like
``/opt/ml`` with the ``SM_*`` environment (see :mod:`cove.algorithms._jobenv`).
:data:`BUILTIN_ALGORITHMS` says, per algorithm, which module to run, the hyperparameters it cannot
do without, the content type a channel gets when it names none, and the metric definitions
SageMaker attaches to its jobs.  Metric regexes are matched against log lines in which TAB
characters have been replaced by ``#011``, as CloudWatch shows them.

Model files: XGBoost writes ``xgboost-model`` (UBJSON; :mod:`cove.algorithms.xgboost`); linear
learner writes ``linear-learner-model.json`` (:mod:`cove.algorithms.linear_learner_model`).
"""

from __future__ import annotations

from dataclasses import dataclass

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

#: The per-round metrics the XGBoost container declares, for ``train`` and ``validation``.
XGBOOST_METRICS = (
    "accuracy", "auc", "aucpr", "cox-nloglik", "error", "f1", "gamma-deviance", "gamma-nloglik",
    "logloss", "mae", "map", "mape", "merror", "mlogloss", "mse", "ndcg", "poisson-nloglik",
    "r2", "rmse", "rmsle", "tweedie-nloglik",
)

#: (metric name, what follows ``#quality_metric: host=<host>, ``) as linear learner declares them.
_LINEAR_LEARNER_QUALITY = (
    ("train:objective_loss", r"epoch=\S+, train \S+_objective <loss>"),
    ("validation:objective_loss", r"epoch=\S+, validation \S+_objective <loss>"),
    ("train:objective_loss:final", r"train \S+_objective <loss>"),
    ("validation:objective_loss:final", r"validation \S+_objective <loss>"),
    ("test:objective_loss", r"test \S+_objective <loss>"),
    *((f"{split}:{name}", f"{split} {name} <loss>")
      for split in ("train", "validation", "test") for name in ("mse", "absolute_loss")),
    *((f"{split}:{name}", f"{split} {pattern} <score>")
      for split in ("train", "validation", "test")
      for name, pattern in (
          ("binary_classification_accuracy", "binary_classification_accuracy"),
          ("binary_f_beta", r"binary_f_\S+"), ("precision", "precision"), ("recall", "recall"),
          ("multiclass_accuracy", "multiclass_accuracy"),
          ("multiclass_top_k_accuracy", r"multiclass_top_k_accuracy_\S+"), ("dcg", "dcg"),
          ("macro_precision", "macro_precision"), ("macro_recall", "macro_recall"),
          ("macro_f_beta", r"macro_f_\S+"))),
)


@dataclass(frozen=True)
class Algorithm:
    """A built-in algorithm: how to run it and what its jobs report."""

    module: str  # run as ``python -m <module>``
    metric_definitions: list[dict[str, str]]  # [{"Name": ..., "Regex": ...}], the #011 form
    default_content_type: str  # for a channel whose ContentType is unset
    required_hyperparameters: tuple[str, ...]
    content_types: tuple[str, ...] = ()  # what its channels accept


def xgboost_metric_definitions() -> list[dict[str, str]]:
    return [{"Name": f"{split}:{metric}",
             "Regex": rf".*\[[0-9]+\].*#011{split}-{metric}:{_NUMBER}.*"}
            for split in ("train", "validation") for metric in XGBOOST_METRICS]


def linear_learner_metric_definitions() -> list[dict[str, str]]:
    definitions = [{"Name": name, "Regex": rf"#quality_metric: host=\S+, {pattern}=(\S+)"}
                   for name, pattern in _LINEAR_LEARNER_QUALITY]
    definitions.append({"Name": "train:progress",
                        "Regex": r"#progress_metric: host=\S+, completed (\S+) %"})
    definitions.append({"Name": "train:throughput",
                        "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) "
                                 r"records/second"})
    return definitions


BUILTIN_ALGORITHMS: dict[str, Algorithm] = {
    "xgboost": Algorithm(
        module="cove.algorithms.xgboost",
        metric_definitions=xgboost_metric_definitions(),
        default_content_type="text/libsvm",
        required_hyperparameters=("num_round",),
        content_types=("text/libsvm", "text/csv", "libsvm", "csv"),
    ),
    "linear-learner": Algorithm(
        module="cove.algorithms.linear_learner",
        metric_definitions=linear_learner_metric_definitions(),
        default_content_type="text/csv",
        required_hyperparameters=("feature_dim", "predictor_type"),
        content_types=("text/csv", "csv"),
    ),
}

__all__ = ["BUILTIN_ALGORITHMS", "XGBOOST_METRICS", "Algorithm",
           "linear_learner_metric_definitions", "xgboost_metric_definitions"]
