"""The quality metrics linear learner reports, computed from a saved-format model.

Each metric is ``(name, kind, value)`` where kind is ``<loss>`` or ``<score>``, as in the log line
``#quality_metric: host=algo-1, validation mse <loss>=13.72``.
"""

from __future__ import annotations

import numpy as np

from cove.algorithms._linear_params import BINARY, REGRESSOR, LinearConfig
from cove.algorithms.linear_learner_model import Array, LinearLearnerModel

Metric = tuple[str, str, float]
_EPSILON = 1e-15


def objective(config: LinearConfig, model: LinearLearnerModel, features: Array,
              labels: Array) -> float:
    """The mean training loss (``mse_objective``, ``..._cross_entropy_objective``, ...)."""
    scores = model.scores(features)
    if config.loss == "squared_loss":
        return float(np.mean((scores - labels) ** 2))
    if config.loss == "absolute_loss":
        return float(np.mean(np.abs(scores - labels)))
    if config.loss == "huber_loss":
        return _huber(scores - labels, config.huber_delta)
    if config.loss == "hinge_loss":
        signs = 2.0 * labels - 1.0
        return float(np.mean(np.maximum(0.0, 1.0 - signs * scores)))
    if config.loss == "logistic":
        return _binary_log_loss(scores, labels)
    return _multiclass_log_loss(scores, labels)


def final_metrics(config: LinearConfig, model: LinearLearnerModel, features: Array,
                  labels: Array) -> list[Metric]:
    """The end-of-training metrics for one data set, objective first."""
    metrics: list[Metric] = [
        (config.objective_name, "<loss>", objective(config, model, features, labels))]
    scores = model.scores(features)
    if config.predictor_type == REGRESSOR:
        errors = scores - labels
        return [*metrics, ("mse", "<loss>", float(np.mean(errors ** 2))),
                ("absolute_loss", "<loss>", float(np.mean(np.abs(errors))))]
    predicted = model.predicted_labels(scores)
    if config.predictor_type == BINARY:
        return metrics + _binary_metrics(predicted, labels, config.f_beta)
    return metrics + _multiclass_metrics(scores, predicted, labels, config)


def _binary_metrics(predicted: Array, labels: Array, beta: float) -> list[Metric]:
    true_positives = float(np.sum((predicted == 1) & (labels == 1)))
    precision = _ratio(true_positives, float(np.sum(predicted == 1)))
    recall = _ratio(true_positives, float(np.sum(labels == 1)))
    return [("binary_classification_accuracy", "<score>", float(np.mean(predicted == labels))),
            (f"binary_f_{beta:.3f}", "<score>", _f_beta(precision, recall, beta)),
            ("precision", "<score>", precision), ("recall", "<score>", recall)]


def _multiclass_metrics(scores: Array, predicted: Array, labels: Array,
                        config: LinearConfig) -> list[Metric]:
    classes = range(config.num_classes)
    precisions = [_ratio(float(np.sum((predicted == c) & (labels == c))),
                         float(np.sum(predicted == c))) for c in classes]
    recalls = [_ratio(float(np.sum((predicted == c) & (labels == c))),
                      float(np.sum(labels == c))) for c in classes]
    precision, recall = float(np.mean(precisions)), float(np.mean(recalls))
    ranks = _label_ranks(scores, labels)
    return [("multiclass_accuracy", "<score>", float(np.mean(predicted == labels))),
            (f"multiclass_top_k_accuracy_{config.top_k}", "<score>",
             float(np.mean(ranks <= config.top_k))),
            ("dcg", "<score>", float(np.mean(1.0 / np.log2(ranks + 1.0)))),
            ("macro_recall", "<score>", recall), ("macro_precision", "<score>", precision),
            (f"macro_f_{config.f_beta:.3f}", "<score>", _f_beta(precision, recall, config.f_beta))]


def _label_ranks(scores: Array, labels: Array) -> Array:
    """1-based rank of each row's true class among its scores (1 = the top score)."""
    true_scores = scores[np.arange(len(labels)), labels.astype(int)]
    ranks: Array = 1.0 + np.sum(scores > true_scores[:, None], axis=1)
    return ranks


def _binary_log_loss(probabilities: Array, labels: Array) -> float:
    p = np.clip(probabilities, _EPSILON, 1.0 - _EPSILON)
    return float(-np.mean(labels * np.log(p) + (1.0 - labels) * np.log(1.0 - p)))


def _multiclass_log_loss(probabilities: Array, labels: Array) -> float:
    p = probabilities[np.arange(len(labels)), labels.astype(int)]
    return float(-np.mean(np.log(np.clip(p, _EPSILON, 1.0))))


def _huber(errors: Array, delta: float) -> float:
    absolute = np.abs(errors)
    quadratic = np.minimum(absolute, delta)
    return float(np.mean(0.5 * quadratic ** 2 + delta * (absolute - quadratic)))


def _f_beta(precision: float, recall: float, beta: float) -> float:
    denominator = beta ** 2 * precision + recall
    return (1.0 + beta ** 2) * precision * recall / denominator if denominator else 0.0


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0
