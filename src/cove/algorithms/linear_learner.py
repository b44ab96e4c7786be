"""SageMaker's built-in linear learner (a subset): ``python -m cove.algorithms.linear_learner``.

Channels ``train`` (required), ``validation`` and ``test``, CSV with the label in column 0 and no
header.  One linear model is trained with scikit-learn's averaged SGD (``SGDRegressor`` /
``SGDClassifier``, one-vs-rest for multiclass) over shuffled mini-batches, on standardised
features (``normalize_data``) and, for regression, a standardised label (``normalize_label``).
After each epoch the log has the real algorithm's lines::

    #quality_metric: host=algo-1, epoch=0, train mse_objective <loss>=0.96
    #quality_metric: host=algo-1, epoch=0, validation mse_objective <loss>=1.02

and the model with the best validation objective (training objective without a validation
channel) is kept; ``early_stopping_patience`` epochs without a relative improvement of
``early_stopping_tolerance`` stop training.  At the end come the final metrics per channel
(``validation mse <loss>``, ``validation binary_classification_accuracy <score>``,
``validation multiclass_accuracy <score>``, ...), and the model is written to
``$SM_MODEL_DIR/linear-learner-model.json`` (see :mod:`cove.algorithms.linear_learner_model`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cove.algorithms import _linear_params
from cove.algorithms._data import CSV, data_format, read_dataset
from cove.algorithms._jobenv import AlgorithmError, Channel, JobEnv, log, run_algorithm, warn
from cove.algorithms._linear_metrics import final_metrics, objective
from cove.algorithms._linear_params import BINARY, MULTICLASS, REGRESSOR, LinearConfig
from cove.algorithms.linear_learner_model import Array, LinearLearnerModel

_SPLITS = ("train", "validation", "test")
_SEED = 0


@dataclass(frozen=True)
class Split:
    """One channel's rows."""

    features: Array
    labels: Array


@dataclass(frozen=True)
class Scaling:
    """Feature and label standardisation learnt from the training rows."""

    feature_mean: Array | None
    feature_scale: Array | None
    label_mean: float = 0.0
    label_scale: float = 1.0

    @classmethod
    def learn(cls, config: LinearConfig, train: Split) -> Scaling:
        mean = scale = None
        if config.normalize_data:
            mean, scale = train.features.mean(axis=0), _nonzero(train.features.std(axis=0))
        if not config.normalize_label:
            return cls(mean, scale)
        label_scale = float(_nonzero(np.atleast_1d(train.labels.std()))[0])
        return cls(mean, scale, float(train.labels.mean()), label_scale)

    def features(self, features: Array) -> Array:
        if self.feature_mean is None or self.feature_scale is None:
            return features
        scaled: Array = (features - self.feature_mean) / self.feature_scale
        return scaled

    def labels(self, labels: Array) -> Array:
        scaled: Array = (labels - self.label_mean) / self.label_scale
        return scaled


def train(job: JobEnv) -> None:
    """The whole job: hyperparameters, data, epochs, final metrics, model file."""
    config = _linear_params.parse(job.hyperparameters, warn)
    splits = load_splits(job, config)
    feature_dim = splits["train"].features.shape[1]
    log(f"Training a {config.predictor_type} on {len(splits['train'].labels)} rows of "
        f"{feature_dim} features for up to {config.epochs} epochs.")
    model = fit(config, splits, job.current_host)
    for name, split in splits.items():
        for metric, kind, value in final_metrics(config, model, split.features, split.labels):
            log(f"#quality_metric: host={job.current_host}, {name} {metric} {kind}={value!r}")
    path = model.save(job.model_dir)
    log(f"Saved the model to {path}")


def load_splits(job: JobEnv, config: LinearConfig) -> dict[str, Split]:
    """``train`` and, when given, ``validation`` and ``test``, checked against the config."""
    job.require_channel("train", "linear learner")
    splits = {name: read_split(channel, config)
              for name in _SPLITS if (channel := job.channel(name)) is not None}
    width = splits["train"].features.shape[1]
    for name, split in splits.items():
        if split.features.shape[1] != width:
            raise AlgorithmError(
                f"The {name} channel has {split.features.shape[1]} feature columns but train "
                f"has {width}. Every channel needs the same columns.")
    return splits


def read_split(channel: Channel, config: LinearConfig) -> Split:
    dataset = read_dataset(channel, data_format(channel, "text/csv", (CSV,)))
    features = np.asarray(dataset.features, dtype=np.float64)
    if config.feature_dim is not None and features.shape[1] != config.feature_dim:
        raise AlgorithmError(
            f"feature_dim={config.feature_dim} but the {channel.name} channel's CSV has "
            f"{features.shape[1]} feature columns after the label in column 0. Set "
            f"feature_dim={features.shape[1]}, or check the data has the label first and no "
            f"index column.")
    if not np.all(np.isfinite(features)):
        row = int(np.argmax(~np.all(np.isfinite(features), axis=1))) + 1
        raise AlgorithmError(
            f"Row {row} of the {channel.name} channel has a missing or infinite feature; linear "
            f"learner needs every feature value. Impute or drop such rows.")
    _check_labels(channel.name, dataset.labels, config)
    return Split(features, dataset.labels)


def fit(config: LinearConfig, splits: dict[str, Split], host: str) -> LinearLearnerModel:
    """Train epoch by epoch and return the best model seen."""
    scaling = Scaling.learn(config, splits["train"])
    scaled = Split(scaling.features(splits["train"].features),
                   scaling.labels(splits["train"].labels))
    step = config.learning_rate or auto_learning_rate(scaled.features)
    estimator = make_estimator(config, splits["train"].labels, step)
    rng = np.random.default_rng(_SEED)
    tracker = _BestModel(config)
    for epoch in range(config.epochs):
        seconds = _run_epoch(estimator, config, scaled, rng)
        model = snapshot(estimator, config, scaling)
        criterion = _log_epoch(config, model, splits, epoch, host)
        stop = tracker.update(model, criterion, epoch)
        log(f"#progress_metric: host={host}, completed "
            f"{int(100 * (epoch + 1) / config.epochs)} % of epochs")
        log(f"#throughput_metric: host={host}, train throughput="
            f"{len(splits['train'].labels) / max(seconds, 1e-9)!r} records/second")
        if stop:
            log("Early stop condition met. Stopping training.")
            break
    return tracker.require_best()


def auto_learning_rate(features: Array) -> float:
    """``learning_rate=auto``: 0.05, or less for wide rows, so that one step never overshoots
    (step x squared row norm <= 1, the stability bound of SGD on squared loss)."""
    mean_squared_norm = float(np.mean(np.sum(features ** 2, axis=1))) if len(features) else 0.0
    step = min(0.05, 1.0 / mean_squared_norm) if mean_squared_norm > 0 else 0.05
    log(f"learning_rate=auto: using {step:.6g}")
    return step


def make_estimator(config: LinearConfig, labels: Array, learning_rate: float) -> Any:
    """The scikit-learn SGD estimator for the config (averaged SGD, constant step size)."""
    from sklearn.linear_model import SGDClassifier, SGDRegressor

    common: dict[str, Any] = {
        **_penalty(config), "fit_intercept": config.use_bias, "learning_rate": "constant",
        "eta0": learning_rate, "average": True, "random_state": _SEED, "shuffle": False}
    if config.predictor_type == REGRESSOR:
        loss, epsilon = {"squared_loss": ("squared_error", 0.1), "absolute_loss": (
            "epsilon_insensitive", 0.0), "huber_loss": ("huber", config.huber_delta)}[config.loss]
        return SGDRegressor(loss=loss, epsilon=epsilon, **common)
    loss = "hinge" if config.loss == "hinge_loss" else "log_loss"
    return SGDClassifier(loss=loss, class_weight=_class_weights(config, labels), **common)


def snapshot(estimator: Any, config: LinearConfig, scaling: Scaling) -> LinearLearnerModel:
    """The estimator's current (averaged) weights as the saved model format."""
    weights = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    bias = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    return LinearLearnerModel(
        predictor_type=config.predictor_type, loss=config.loss,
        feature_dim=int(weights.shape[1]), num_classes=config.num_classes,
        weights=weights.tolist(), bias=bias.tolist(),
        feature_mean=None if scaling.feature_mean is None else scaling.feature_mean.tolist(),
        feature_scale=None if scaling.feature_scale is None else scaling.feature_scale.tolist(),
        label_mean=scaling.label_mean, label_scale=scaling.label_scale,
        threshold=0.0 if config.loss == "hinge_loss" else 0.5)


class _BestModel:
    """Keeps the model with the lowest criterion; says when patience has run out."""

    def __init__(self, config: LinearConfig) -> None:
        self._patience = config.early_stopping_patience
        self._tolerance = config.early_stopping_tolerance
        self._best: LinearLearnerModel | None = None
        self._best_loss = np.inf
        self._stale = 0

    def update(self, model: LinearLearnerModel, loss: float, epoch: int) -> bool:
        if self._best is None or loss < self._best_loss - self._tolerance * abs(self._best_loss):
            self._best, self._best_loss, self._stale = model, loss, 0
            log(f"Epoch {epoch}: Loss improved. Updating best model")
            return False
        self._stale += 1
        log(f"Epoch {epoch}: Loss has not improved for {self._stale} epochs.")
        return self._stale >= self._patience

    def require_best(self) -> LinearLearnerModel:
        if self._best is None:
            raise AlgorithmError("Linear learner trained no epochs; set epochs to at least 1.")
        return self._best


def _run_epoch(estimator: Any, config: LinearConfig, scaled: Split,
               rng: np.random.Generator) -> float:
    """One pass over the (standardised) training rows in shuffled mini-batches."""
    started = time.perf_counter()
    features, labels = scaled.features, scaled.labels
    order = rng.permutation(len(labels))
    extra = {} if config.predictor_type == REGRESSOR else {
        "classes": np.arange(config.num_classes, dtype=np.float64)}
    for start in range(0, len(order), config.mini_batch_size):
        batch = order[start:start + config.mini_batch_size]
        estimator.partial_fit(features[batch], labels[batch], **extra)
    return time.perf_counter() - started


def _log_epoch(config: LinearConfig, model: LinearLearnerModel, splits: dict[str, Split],
               epoch: int, host: str) -> float:
    """Log the epoch's objective on train (and validation); return the early-stopping value."""
    criterion = np.inf
    for name in ("train", "validation"):
        if name in splits:
            criterion = objective(config, model, splits[name].features, splits[name].labels)
            log(f"#quality_metric: host={host}, epoch={epoch}, {name} "
                f"{config.objective_name} <loss>={criterion!r}")
    log(f"#early_stopping_criteria_metric: host={host}, epoch={epoch}, "
        f"criteria={config.objective_name}, value={criterion!r}")
    return float(criterion)


def _penalty(config: LinearConfig) -> dict[str, Any]:
    if config.l1 and config.wd:
        total = config.l1 + config.wd
        return {"penalty": "elasticnet", "alpha": total, "l1_ratio": config.l1 / total}
    if config.l1:
        return {"penalty": "l1", "alpha": config.l1}
    if config.wd:
        return {"penalty": "l2", "alpha": config.wd}
    return {"penalty": None}


def _class_weights(config: LinearConfig, labels: Array) -> dict[float, float] | None:
    """Class weights as a dict (``partial_fit`` refuses ``"balanced"``)."""
    balanced = (config.positive_example_weight == "balanced" if config.predictor_type == BINARY
                else config.balance_multiclass_weights)
    if balanced:
        counts = np.bincount(labels.astype(int), minlength=config.num_classes)
        return {float(c): len(labels) / (config.num_classes * max(int(n), 1))
                for c, n in enumerate(counts)}
    if isinstance(config.positive_example_weight, float) and config.predictor_type == BINARY:
        return {0.0: 1.0, 1.0: config.positive_example_weight}
    return None


def _check_labels(channel: str, labels: Array, config: LinearConfig) -> None:
    if config.predictor_type == REGRESSOR:
        bad = ~np.isfinite(labels)
        expected = "a finite number"
    else:
        bad = ~np.isin(labels, np.arange(config.num_classes, dtype=np.float64))
        expected = ("0 or 1" if config.predictor_type == BINARY
                    else f"an integer from 0 to {config.num_classes - 1}")
    if np.any(bad):
        row = int(np.argmax(bad))
        hint = " (or raise num_classes)" if config.predictor_type == MULTICLASS else ""
        raise AlgorithmError(
            f"Row {row + 1} of the {channel} channel has label {labels[row]!r}; a "
            f"{config.predictor_type} needs {expected} in column 0{hint}.")


def _nonzero(values: Array) -> Array:
    result: Array = np.where(values == 0.0, 1.0, values)
    return result


def main() -> None:
    run_algorithm(train, "linear learner")


if __name__ == "__main__":
    main()
