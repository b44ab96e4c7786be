"""Linear learner hyperparameters → a :class:`LinearConfig`.

Implemented: ``feature_dim``, ``predictor_type``, ``num_classes``, ``epochs``,
``mini_batch_size``, ``learning_rate``, ``l1``, ``wd``, ``use_bias``, ``normalize_data``,
``normalize_label``, ``loss`` (squared, absolute and huber loss; logistic and hinge; softmax),
``huber_delta``, ``positive_example_weight_mult``, ``balance_multiclass_weights``,
``early_stopping_patience``, ``early_stopping_tolerance``, ``accuracy_top_k``, ``f_beta``.
The rest of the real algorithm's hyperparameters (its optimizer and scheduler settings, parallel
models, threshold tuning) are accepted and ignored with a warning; unknown names too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cove.algorithms import _hyperparameters as hp
from cove.algorithms._jobenv import AlgorithmError

REGRESSOR = "regressor"
BINARY = "binary_classifier"
MULTICLASS = "multiclass_classifier"
PREDICTOR_TYPES = (REGRESSOR, BINARY, MULTICLASS)

#: loss per predictor type: the name "auto" stands for, and the ones cove implements
_LOSSES = {
    REGRESSOR: ("squared_loss", ("squared_loss", "absolute_loss", "huber_loss")),
    BINARY: ("logistic", ("logistic", "hinge_loss")),
    MULTICLASS: ("softmax_loss", ("softmax_loss",)),
}
#: what the log calls each loss (``train mse_objective <loss>=...``)
OBJECTIVE_NAMES = {
    "squared_loss": "mse_objective", "absolute_loss": "absolute_loss_objective",
    "huber_loss": "huber_loss_objective", "hinge_loss": "hinge_loss_objective",
    "logistic": "binary_classification_cross_entropy_objective",
    "softmax_loss": "multiclass_cross_entropy_objective",
}
_HANDLED = frozenset({
    "feature_dim", "predictor_type", "num_classes", "epochs", "mini_batch_size", "learning_rate",
    "l1", "wd", "use_bias", "normalize_data", "normalize_label", "loss", "huber_delta",
    "positive_example_weight_mult", "balance_multiclass_weights", "early_stopping_patience",
    "early_stopping_tolerance", "accuracy_top_k", "f_beta",
})
_NO_EFFECT = frozenset({
    "optimizer", "momentum", "beta_1", "beta_2", "bias_lr_mult", "bias_wd_mult", "init_method",
    "init_scale", "init_sigma", "init_bias", "lr_scheduler_factor", "lr_scheduler_step",
    "lr_scheduler_minimum_lr", "num_models", "num_calibration_samples", "num_point_for_scaler",
    "unbias_data", "unbias_label", "margin", "quantile", "loss_insensitivity", "target_recall",
    "target_precision", "binary_classifier_model_selection_criteria", "_tuning_objective_metric",
})


@dataclass(frozen=True)
class LinearConfig:
    """A linear-learner job's settings, typed and defaulted."""

    predictor_type: str
    feature_dim: int | None  # None: "auto", taken from the data
    num_classes: int = 1
    epochs: int = 15
    mini_batch_size: int = 1000
    learning_rate: float | None = None  # None: "auto", chosen from the data
    l1: float = 0.0
    wd: float = 0.0
    use_bias: bool = True
    normalize_data: bool = True
    normalize_label: bool = False
    loss: str = "squared_loss"
    huber_delta: float = 1.0
    positive_example_weight: float | str | None = None  # a multiplier, "balanced" or None
    balance_multiclass_weights: bool = False
    early_stopping_patience: int = 3
    early_stopping_tolerance: float = 0.001
    top_k: int = 3
    f_beta: float = 1.0

    @property
    def objective_name(self) -> str:
        return OBJECTIVE_NAMES[self.loss]


def parse(hyperparameters: Mapping[str, str], warn: Callable[[str], None]) -> LinearConfig:
    _warn_unhandled(hyperparameters, warn)
    get = hyperparameters.get
    predictor_type = hp.as_choice("predictor_type", hp.require(
        hyperparameters, "predictor_type", "linear learner", "regressor"), PREDICTOR_TYPES)
    return LinearConfig(
        predictor_type=predictor_type,
        feature_dim=_feature_dim(hyperparameters),
        num_classes=_num_classes(hyperparameters, predictor_type),
        epochs=hp.as_int("epochs", get("epochs", "15"), minimum=1),
        mini_batch_size=hp.as_int("mini_batch_size", get("mini_batch_size", "1000"), minimum=1),
        learning_rate=hp.float_or_auto("learning_rate", get("learning_rate"), 1e-12),
        l1=hp.float_or_auto("l1", get("l1"), 0.0) or 0.0,
        wd=hp.float_or_auto("wd", get("wd"), 0.0) or 0.0,
        use_bias=hp.as_bool("use_bias", get("use_bias", "true")),
        normalize_data=hp.as_bool("normalize_data", get("normalize_data", "true")),
        normalize_label=_normalize_label(get("normalize_label", "auto"), predictor_type),
        loss=_loss(get("loss", "auto"), predictor_type),
        huber_delta=hp.as_float("huber_delta", get("huber_delta", "1.0"), minimum=0.0),
        positive_example_weight=_positive_weight(get("positive_example_weight_mult")),
        balance_multiclass_weights=hp.as_bool(
            "balance_multiclass_weights", get("balance_multiclass_weights", "false")),
        early_stopping_patience=hp.as_int(
            "early_stopping_patience", get("early_stopping_patience", "3"), minimum=1),
        early_stopping_tolerance=hp.as_float(
            "early_stopping_tolerance", get("early_stopping_tolerance", "0.001"), minimum=0.0),
        top_k=hp.as_int("accuracy_top_k", get("accuracy_top_k", "3"), minimum=1),
        f_beta=hp.as_float("f_beta", get("f_beta", "1.0"), minimum=0.0))


def _warn_unhandled(hyperparameters: Mapping[str, str], warn: Callable[[str], None]) -> None:
    for name, value in sorted(hyperparameters.items()):
        if name in _NO_EFFECT and not name.startswith("_"):
            warn(f"Hyperparameter {name}={value} is accepted but has no effect in cove, which "
                 f"trains one model with averaged SGD.")
        elif name not in _HANDLED | _NO_EFFECT and not name.startswith("sagemaker_"):
            warn(f"Ignoring unknown hyperparameter {name}={value}.")


def _feature_dim(hyperparameters: Mapping[str, str]) -> int | None:
    value = hp.require(hyperparameters, "feature_dim", "linear learner", "13")
    return None if value.lower() == "auto" else hp.as_int("feature_dim", value, minimum=1)


def _num_classes(hyperparameters: Mapping[str, str], predictor_type: str) -> int:
    if predictor_type == REGRESSOR:
        return 1
    if predictor_type == BINARY:
        return 2
    value = hp.require(hyperparameters, "num_classes", "linear learner (multiclass_classifier)",
                       "3")
    classes = hp.as_int("num_classes", value)
    if classes < 3:
        raise AlgorithmError(
            f"Hyperparameter num_classes must be at least 3 for multiclass_classifier, got "
            f"{value!r}; for two classes use predictor_type=binary_classifier.")
    return classes


def _normalize_label(value: str, predictor_type: str) -> bool:
    if value.strip().lower() == "auto":
        return predictor_type == REGRESSOR
    wanted = hp.as_bool("normalize_label", value)
    return wanted and predictor_type == REGRESSOR  # classes are never rescaled


def _loss(value: str, predictor_type: str) -> str:
    auto, supported = _LOSSES[predictor_type]
    loss = value.strip()
    if loss == "auto":
        return auto
    if loss not in supported:
        raise AlgorithmError(
            f"Hyperparameter loss={loss} is not available for predictor_type={predictor_type} "
            f"in cove's linear learner; use auto or one of: {', '.join(supported)}.")
    return loss


def _positive_weight(value: str | None) -> float | str | None:
    if value is None or value.strip().lower() == "auto":
        return None
    if value.strip().lower() == "balanced":
        return "balanced"
    return hp.as_float("positive_example_weight_mult", value, minimum=0.0)
