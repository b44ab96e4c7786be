"""The built-in linear learner's inference, in SageMaker's common inference formats.

Requests: ``text/csv`` rows of features; ``application/json`` ``{"instances": [{"features":
[...]}, ...]}`` (an instance may also be ``{"data": {"features": {"values": [...]}}}``, with
``keys`` and ``shape`` for a sparse one, or a bare list); ``application/jsonlines``, one instance
per line.  ``application/x-recordio-protobuf`` is refused with 415.

Responses (Accept none or ``*/*``: ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else JSON):
``application/json`` ``{"predictions": [{"score": 0.8, "predicted_label": 1}, ...]}`` (a
regressor has no ``predicted_label``; a multiclass score is the list of class probabilities);
``application/jsonlines``, one record per line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cove.algorithms.linear_learner_model import MODEL_FILE, LinearLearnerModel
from cove.serving._errors import (
    BadRequest,
    ModelLoadError,
    UnsupportedAccept,
    UnsupportedContentType,
)
from cove.serving._media import (
    CSV,
    JSON,
    JSONLINES,
    RECORDIO_PROTOBUF,
    FloatArray,
    choose_accept,
    media_type,
    parse_csv,
)
from cove.serving._runtime import Invocation, Prediction

ACCEPTS = (JSON, JSONLINES)


class LinearLearnerRuntime:
    """A loaded :class:`LinearLearnerModel` answering invocations."""

    def __init__(self, model: LinearLearnerModel, environ: Mapping[str, str]) -> None:
        self.model = model
        self.default_accept = environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON

    def invoke(self, invocation: Invocation) -> Prediction:
        accept = self._accept(invocation.accept)
        rows = self.decode(invocation.body, invocation.content_type)
        if rows.shape[1] != self.model.feature_dim:
            raise BadRequest(
                f"The request has {rows.shape[1]} features per record but the model was trained "
                f"with feature_dim={self.model.feature_dim}. Send the features only (no label).")
        records = self.model.predict(rows)
        if accept == JSON:
            return Prediction(json.dumps({"predictions": records}).encode(), accept)
        return Prediction("".join(json.dumps(r) + "\n" for r in records).encode(), accept)

    def decode(self, body: bytes, content_type: str | None) -> FloatArray:
        kind = media_type(content_type) or CSV
        if kind in (CSV, "csv"):
            return parse_csv(body)
        if kind == JSON:
            return _rows(_instances(_json(body)), self.model.feature_dim)
        if kind == JSONLINES:
            lines = [line for line in body.split(b"\n") if line.strip()]
            return _rows([_json(line) for line in lines], self.model.feature_dim)
        if kind == RECORDIO_PROTOBUF:
            raise UnsupportedContentType(
                "Content type application/x-recordio-protobuf is not supported by cove's linear "
                "learner: send text/csv, application/json or application/jsonlines.")
        raise UnsupportedContentType(
            f"Content type {content_type} is not supported. Supported content types are "
            f"text/csv, application/json, application/jsonlines.")

    def _accept(self, header: str | None) -> str:
        if not header or media_type(header) == "*/*":
            header = self.default_accept
        chosen = choose_accept(header, ACCEPTS, media_type(self.default_accept))
        if chosen is None:
            raise UnsupportedAccept(f"Accept type {header} is not supported. Please use "
                                    f"supported accept types: {', '.join(ACCEPTS)}.")
        return chosen


def load(model_dir: Path, environ: Mapping[str, str]) -> LinearLearnerRuntime:
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(f"The model directory has no {MODEL_FILE}: is this a linear-learner "
                             f"model.tar.gz? (it holds: {_listing(model_dir)})")
    try:
        model = LinearLearnerModel.load(model_dir)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"{MODEL_FILE} could not be read ({type(exc).__name__}: {exc}); "
                             f"retrain the model or check that model.tar.gz is intact.") from exc
    return LinearLearnerRuntime(model, environ)


def _json(text: bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc


def _instances(document: Any) -> list[Any]:
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
        if isinstance(instances, list):
            return instances
    elif isinstance(document, dict) and ("features" in document or "data" in document):
        return [document]
    raise BadRequest('A JSON request must be {"instances": [{"features": [...]}, ...]}.')


def _rows(instances: list[Any], feature_dim: int) -> FloatArray:
    if not instances:
        raise BadRequest("The request has no instances.")
    rows = np.empty((len(instances), feature_dim), dtype=np.float64)
    for number, instance in enumerate(instances):
        rows[number] = _features(instance, feature_dim, number)
    return rows


def _features(instance: Any, feature_dim: int, number: int) -> FloatArray:
    """One instance's dense features: ``features``, ``data.features`` (dense or sparse), a list."""
    values: Any = instance
    if isinstance(instance, dict):
        values = instance.get("features")
        data = instance.get("data")
        if values is None and isinstance(data, dict) and isinstance(data.get("features"), dict):
            return _tensor(data["features"], feature_dim, number)
    try:
        row = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"Instance {number}: features must be a list of numbers ({exc}).") from exc
    if row.ndim != 1 or row.size != feature_dim:
        raise BadRequest(f"Instance {number} has {row.size} features; the model was trained with "
                         f"feature_dim={feature_dim}.")
    return row


def _tensor(tensor: dict[str, Any], feature_dim: int, number: int) -> FloatArray:
    """``{"values": [...]}`` dense, or ``{"keys": [...], "values": [...], "shape": [n]}``."""
    try:
        values = np.asarray(tensor.get("values", []), dtype=np.float64)
        if "keys" not in tensor:
            if values.size != feature_dim:
                raise ValueError(f"{values.size} values for feature_dim={feature_dim}")
            return values
        row = np.zeros(feature_dim)
        row[np.asarray(tensor["keys"], dtype=np.int64)] = values
        return row
    except (TypeError, ValueError, IndexError) as exc:
        raise BadRequest(f"Instance {number}: bad data.features tensor ({exc}).") from exc


def _listing(model_dir: Path) -> str:
    names = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else []
    return ", ".join(names) or "nothing"
