"""Script mode's default decoders and encoders, as SageMaker's inference toolkits define them.

Decoders (by the request's media type): ``application/json`` -> ``np.array(json.loads(body))``;
``text/csv`` -> rows of floats (empty fields NaN); ``application/x-npy`` -> ``np.load`` (without
pickle: object arrays are refused); ``application/x-npz`` -> a scipy sparse matrix.  Encoders (by
Accept): ``application/json`` -> JSON (arrays via ``tolist``); ``text/csv`` -> one line per row,
a 1-D prediction one value per line, numbers as ``str`` writes them; ``application/x-npy`` ->
``np.save``.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from cove.serving._errors import (
    BadRequest,
    InferenceError,
    UnsupportedAccept,
    UnsupportedContentType,
)
from cove.serving._media import CSV, JSON, NPY, NPZ, choose_accept, media_type, parse_csv

DECODES = (JSON, CSV, NPY, NPZ)
ENCODES = (JSON, CSV, NPY)


def decode(body: bytes | str, content_type: str) -> Any:
    """The request body as numpy (a scipy sparse matrix for npz); 415 for other types."""
    kind = media_type(content_type)
    if kind == JSON:
        try:
            return np.array(json.loads(body))
        except ValueError as exc:
            raise BadRequest(f"The request body is not valid JSON: {exc}") from exc
    if kind == CSV:
        return parse_csv(body)
    if kind == NPY:
        return _load_npy(_bytes(body))
    if kind == NPZ:
        import scipy.sparse

        try:
            return scipy.sparse.load_npz(io.BytesIO(_bytes(body)))
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise BadRequest(f"The request body is not a scipy.sparse .npz file: {exc}") from exc
    raise UnsupportedContentType(
        f"Content type {content_type} is not supported by this framework. Implement input_fn to "
        f"deserialize the request data (the defaults read {', '.join(DECODES)}).")


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """``(body, content_type)`` for the first supported type Accept lists; 406 if none."""
    chosen = choose_accept(accept, ENCODES)
    if chosen == JSON:
        return json.dumps(prediction, default=_tolist).encode(), chosen
    if chosen == CSV:
        return to_csv(prediction), chosen
    if chosen == NPY:
        buffer = io.BytesIO()
        np.save(buffer, prediction)
        return buffer.getvalue(), chosen
    raise UnsupportedAccept(
        f"Accept type {accept} is not supported by this framework. Implement output_fn to "
        f"serialize the prediction (the defaults write {', '.join(ENCODES)}).")


def to_csv(prediction: Any) -> bytes:
    """Rows joined by commas, one per line; a 1-D prediction is one value per line."""
    array = np.asarray(prediction)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim == 1:
        return "".join(str(value) + "\n" for value in array).encode()
    if array.ndim == 2:
        return "".join(",".join(map(str, row)) + "\n" for row in array).encode()
    raise InferenceError(f"A prediction of shape {array.shape} cannot be written as CSV: ask for "
                         f"application/json or application/x-npy, or implement output_fn.")


def _load_npy(data: bytes) -> Any:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BadRequest(f"The request body is not a .npy array: {exc}") from exc


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _tolist(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
