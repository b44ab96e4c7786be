"""The model a linear-learner job writes, and how an inference worker uses it.

``$SM_MODEL_DIR/linear-learner-model.json`` holds the whole model as plain JSON (no pickle, so any
worker with numpy can load it whatever its scikit-learn version)::

    {"algorithm": "linear-learner", "format_version": 1,
     "predictor_type": "regressor" | "binary_classifier" | "multiclass_classifier",
     "loss": "squared_loss", "feature_dim": 13, "num_classes": 1,
     "feature_mean": [...] | null, "feature_scale": [...] | null,
     "label_mean": 0.0, "label_scale": 1.0,
     "weights": [[...feature_dim...], ...one row per output...], "bias": [...], "threshold": 0.5}

A row ``x`` scores as ``z = ((x - feature_mean) / feature_scale) @ weights.T + bias``; then a
regressor answers ``z * label_scale + label_mean``; a binary classifier ``sigmoid(z)`` (the raw
``z`` for hinge loss) and ``predicted_label = score >= threshold``; a multiclass classifier the
one-vs-rest probabilities ``sigmoid(z) / sum(sigmoid(z))`` and their argmax.  :meth:`predict`
returns the linear learner's JSON response records (``{"predictions": [record, ...]}``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_FILE = "linear-learner-model.json"
FORMAT_VERSION = 1

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LinearLearnerModel:
    """A trained linear model with its feature and label normalisation."""

    predictor_type: str
    loss: str
    feature_dim: int
    num_classes: int
    weights: list[list[float]]  # one row per output (1, or num_classes)
    bias: list[float]
    feature_mean: list[float] | None = None
    feature_scale: list[float] | None = None
    label_mean: float = 0.0
    label_scale: float = 1.0
    threshold: float = 0.5

    def save(self, model_dir: Path) -> Path:
        model_dir.mkdir(parents=True, exist_ok=True)
        path = model_dir / MODEL_FILE
        document = {"algorithm": "linear-learner", "format_version": FORMAT_VERSION,
                    **asdict(self)}
        path.write_text(json.dumps(document))
        return path

    @classmethod
    def load(cls, model_dir: Path) -> LinearLearnerModel:
        """Read ``linear-learner-model.json`` from an (extracted) model directory."""
        document: dict[str, Any] = json.loads((model_dir / MODEL_FILE).read_text())
        if document.pop("algorithm", None) != "linear-learner":
            raise ValueError(f"{model_dir / MODEL_FILE} is not a linear-learner model")
        version = document.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported linear-learner model format version {version!r}")
        return cls(**document)

    def decision(self, features: npt.ArrayLike) -> Array:
        """Raw linear outputs, shape (rows, outputs)."""
        rows = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if rows.shape[1] != self.feature_dim:
            raise ValueError(f"expected {self.feature_dim} features per row, got {rows.shape[1]}")
        if self.feature_mean is not None and self.feature_scale is not None:
            rows = (rows - np.asarray(self.feature_mean)) / np.asarray(self.feature_scale)
        result: Array = rows @ np.asarray(self.weights).T + np.asarray(self.bias)
        return result

    def scores(self, features: npt.ArrayLike) -> Array:
        """Regression values (rows,), binary scores (rows,) or class probabilities (rows, k)."""
        z = self.decision(features)
        if self.predictor_type == "regressor":
            values: Array = z[:, 0] * self.label_scale + self.label_mean
            return values
        if self.predictor_type == "binary_classifier":
            binary: Array = z[:, 0] if self.loss == "hinge_loss" else _sigmoid(z[:, 0])
            return binary
        probabilities = _sigmoid(z)
        totals = probabilities.sum(axis=1, keepdims=True)
        normalised: Array = probabilities / np.where(totals == 0, 1.0, totals)
        return normalised

    def predicted_labels(self, scores: Array) -> Array:
        if self.predictor_type == "multiclass_classifier":
            chosen: Array = np.argmax(scores, axis=1).astype(np.float64)
            return chosen
        return (scores >= self.threshold).astype(np.float64)

    def predict(self, features: npt.ArrayLike) -> list[dict[str, Any]]:
        """Linear learner's response records: ``{"score": ...}`` (+ ``predicted_label``)."""
        scores = self.scores(features)
        if self.predictor_type == "regressor":
            return [{"score": float(s)} for s in scores]
        labels = self.predicted_labels(scores)
        if self.predictor_type == "binary_classifier":
            return [{"score": float(s), "predicted_label": int(p)}
                    for s, p in zip(scores, labels, strict=True)]
        return [{"score": [float(v) for v in row], "predicted_label": int(p)}
                for row, p in zip(scores, labels, strict=True)]


def _sigmoid(z: Array) -> Array:
    result: Array = 0.5 * (1.0 + np.tanh(0.5 * z))
    return result
