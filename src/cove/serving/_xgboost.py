"""The built-in XGBoost algorithm's inference, as its container answers.

Requests: ``text/csv`` (rows of features, no label, no header; empty fields are missing),
``text/libsvm`` / ``text/x-libsvm`` (``index:value`` pairs, indices as training read them; a
leading label is ignored); ``application/x-recordio-protobuf`` is refused with 415.  A request
without a Content-Type is read as CSV.

Responses, by Accept (none or ``*/*``: ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else
``text/csv``):

- ``text/csv``: the predictions joined by commas (``0.25,0.75``), as the containers the
  tutorials were written against answer (their code parses it with ``np.fromstring(body,
  sep=",")``; the SDK's CSVDeserializer reads ``[["0.25", "0.75"]]``).  Containers built since
  2022 (1.5-1 on) write one value per line instead.  A ``multi:softprob`` prediction is one line
  per row, its class probabilities joined by commas.
- ``application/json``: ``{"predictions": [{"score": 0.25}, ...]}`` (a list per softprob row).
- ``application/jsonlines``: ``{"score": 0.25}`` per line.

With ``SAGEMAKER_BATCH`` set (batch transform) the container writes ``str(prediction)`` per line
whatever the Accept; so does this.  Numbers are the float32 predictions widened to Python
floats, written shortest-round-trip as the container writes them.
"""

# ruff: noqa: E402 - scikit-learn must be kept out before xgboost is imported (below)
from __future__ import annotations

import ctypes
import json
import pickle
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# xgboost imports scikit-learn (≈1.4 s) only for its sklearn-style wrappers: keep it out, as the
# training side does, and a worker starts that much sooner.
sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import xgboost

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
    LIBSVM,
    RECORDIO_PROTOBUF,
    FloatArray,
    choose_accept,
    media_type,
    parse_csv,
)
from cove.serving._runtime import Invocation, Prediction

MODEL_FILE = "xgboost-model"
ACCEPTS = (CSV, JSON, JSONLINES)
_LIBSVM_TYPES = (LIBSVM, "text/x-libsvm", "libsvm")
_CSV_TYPES = (CSV, "csv", "")

Predictions = npt.NDArray[np.float32]


class XGBoostRuntime:
    """A loaded booster answering invocations; predictions equal ``booster.predict``."""

    def __init__(self, booster: xgboost.Booster, environ: Mapping[str, str]) -> None:
        self.booster = booster
        self.num_features = booster.num_features()
        self.default_accept = environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or CSV
        self.batch = bool(environ.get("SAGEMAKER_BATCH"))
        self.predict_dense = dense_predictor(booster)
        self.linear = is_linear(booster)

    def invoke(self, invocation: Invocation) -> Prediction:
        accept = self._accept(invocation.accept)  # 406 before any work, as the container does
        if not invocation.body:
            return Prediction(b"", accept, status=204)
        predictions = self.predict(invocation.body, invocation.content_type)
        return Prediction(self.encode(predictions, accept), accept)

    def predict(self, body: bytes, content_type: str | None) -> Predictions:
        kind = media_type(content_type)
        if kind in _CSV_TYPES:
            return self.predict_dense(self._rows(_read(parse_csv, body, "csv")))
        if kind in _LIBSVM_TYPES:
            matrix = _read(lambda b: parse_libsvm(b, self.num_features), body, "libsvm")
            return self._inplace(matrix)
        if kind == RECORDIO_PROTOBUF:
            raise UnsupportedContentType(
                "Content type application/x-recordio-protobuf is not supported by cove's "
                "XGBoost: send text/csv or text/libsvm.")
        raise UnsupportedContentType(
            f"Content type {content_type} is not supported. Supported content types are "
            f"text/csv, text/libsvm.")

    def encode(self, predictions: Predictions, accept: str) -> bytes:
        values = predictions.tolist()
        if self.batch:
            return ("\n".join(map(str, values)) + "\n").encode()
        if accept == CSV:
            if predictions.ndim == 1:
                return ",".join(map(str, values)).encode()
            return "".join(",".join(map(str, row)) + "\n" for row in values).encode()
        records = [{"score": value} for value in values]
        if accept == JSON:
            return json.dumps({"predictions": records}).encode()
        return "".join(json.dumps(record) + "\n" for record in records).encode()

    def _accept(self, header: str | None) -> str:
        if not header or media_type(header) == "*/*":
            header = self.default_accept
        chosen = choose_accept(header, ACCEPTS, media_type(self.default_accept))
        if chosen is None:
            raise UnsupportedAccept(
                f"Accept type {header} is not supported. Please use supported accept types: "
                f"{', '.join(ACCEPTS)}.")
        return chosen

    def _rows(self, rows: FloatArray) -> FloatArray:
        if rows.shape[1] != self.num_features:
            raise BadRequest(
                f"Unable to evaluate payload provided: the request has {rows.shape[1]} feature "
                f"columns but the model was trained on {self.num_features}. Send the features "
                f"only (no label column).")
        return rows

    def _inplace(self, matrix: sp.csr_matrix) -> Predictions:
        try:
            if self.linear:  # gblinear has no in-place predictor
                predictions: Predictions = self.booster.predict(
                    xgboost.DMatrix(matrix, missing=np.nan))
            else:
                predictions = self.booster.inplace_predict(matrix)
        except (ValueError, xgboost.core.XGBoostError) as exc:
            raise BadRequest(f"Unable to evaluate payload provided: {xgboost_reason(exc)}") from exc
        return predictions


def load(model_dir: Path, environ: Mapping[str, str]) -> XGBoostRuntime:
    """The runtime for ``model_dir``: ``xgboost-model`` (UBJSON, JSON or a pickled Booster)."""
    path = model_file(model_dir)
    data = path.read_bytes()
    if not data:  # xgboost aborts the whole process on an empty buffer
        raise ModelLoadError(f"The model file {path} is empty. Check the model.tar.gz the "
                             f"model's ModelDataUrl points at.")
    booster = _booster_from(data, path)
    booster.set_param("nthread", str(int(environ.get("OMP_NUM_THREADS") or 1)))
    return XGBoostRuntime(booster, environ)


def model_file(model_dir: Path) -> Path:
    """``xgboost-model``, else the only file in the model directory (as the container takes)."""
    path = model_dir / MODEL_FILE
    if path.is_file():
        return path
    files = sorted(p.name for p in model_dir.iterdir()
                   if p.is_file() and not p.name.startswith(".")) if model_dir.is_dir() else []
    if len(files) == 1:
        return model_dir / files[0]
    raise ModelLoadError(
        f"The model directory has no {MODEL_FILE} file (it holds: {', '.join(files) or 'nothing'}"
        f"). The model.tar.gz of a built-in XGBoost model must contain {MODEL_FILE}.")


def _booster_from(data: bytes, path: Path) -> xgboost.Booster:
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
        return booster
    except (xgboost.core.XGBoostError, ValueError) as exc:
        if data[:1] == b"\x80":  # a pickled Booster, as older containers saved them
            return _unpickled_booster(data, path)
        raise ModelLoadError(
            f"{path.name} is not an XGBoost model XGBoost {xgboost.__version__} can read "
            f"({xgboost_reason(exc)}). Save it with booster.save_model() (UBJSON or JSON) and "
            f"check that model.tar.gz is not truncated.") from exc


def _unpickled_booster(data: bytes, path: Path) -> xgboost.Booster:
    try:
        loaded = pickle.loads(data)  # noqa: S301 - the account's own model artifact
    except Exception as exc:
        raise ModelLoadError(f"{path.name} looks like a pickle but could not be unpickled "
                             f"({type(exc).__name__}: {exc}).") from exc
    if not isinstance(loaded, xgboost.Booster):
        raise ModelLoadError(f"{path.name} holds a pickled {type(loaded).__name__}, not an "
                             f"xgboost.Booster.")
    return loaded


def parse_libsvm(body: bytes, num_features: int) -> sp.csr_matrix:
    """``[label] index:value ...`` lines -> CSR rows ``num_features`` wide (label ignored)."""
    indptr, indices, values = [0], list[int](), list[float]()
    for line in body.split(b"\n"):
        pairs = [f.split(b":", 1) for f in line.split(b"#", 1)[0].split() if b":" in f]
        if not pairs and not line.strip():
            continue
        indices.extend(int(i) for i, _ in pairs)
        values.extend(float(v) for _, v in pairs)
        indptr.append(len(indices))
    if len(indptr) == 1:
        raise ValueError("the request body has no rows")
    if indices and (min(indices) < 0 or max(indices) >= num_features):
        raise ValueError(f"feature indices must be in 0..{num_features - 1} (the model has "
                         f"{num_features} features)")
    return sp.csr_matrix((np.asarray(values, dtype=np.float64),
                          np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                         shape=(len(indptr) - 1, num_features))


def _read(parse: Callable[[bytes], Any], body: bytes, name: str) -> Any:
    """The container answers 415 to a body it cannot parse, with this message."""
    try:
        return parse(body)
    except (ValueError, BadRequest) as exc:
        detail = exc.message if isinstance(exc, BadRequest) else str(exc)
        raise UnsupportedContentType(
            f"Loading {name} data failed with Exception, please ensure data is in {name} "
            f"format: {detail}") from exc


def xgboost_reason(exc: Exception) -> str:
    """XGBoost's message without its ``[time] file:line:`` prefix and C++ stack trace."""
    text = str(exc).split("Stack trace:")[0].strip()
    return re.sub(r"^\[[0-9:]+\] [^ ]+:[0-9]+: ", "", text).rstrip(".")


def dense_predictor(booster: xgboost.Booster) -> Callable[[FloatArray], Predictions]:
    """``booster.inplace_predict`` for C-contiguous float64 rows, as cheaply as it can be had.

    ``inplace_predict`` spends ~150 µs per call in Python (type sniffing, JSON configs) before
    XGBoost's C predictor, which dominates a one-row request.  :class:`_DensePredictor` calls the
    same C function directly; it is used only if its answers equal ``inplace_predict``'s on probe
    rows, so an XGBoost whose C API differs falls back to the public method.
    """
    def public(rows: FloatArray) -> Predictions:
        try:
            predictions: Predictions = booster.inplace_predict(rows, validate_features=False)
        except (ValueError, xgboost.core.XGBoostError) as exc:
            raise BadRequest(f"Unable to evaluate payload provided: {xgboost_reason(exc)}") from exc
        return predictions

    def linear(rows: FloatArray) -> Predictions:
        try:
            predictions: Predictions = booster.predict(xgboost.DMatrix(rows, missing=np.nan))
        except (ValueError, xgboost.core.XGBoostError) as exc:
            raise BadRequest(f"Unable to evaluate payload provided: {xgboost_reason(exc)}") from exc
        return predictions

    if is_linear(booster):  # gblinear (a linear model over the features): no in-place predictor
        return linear
    try:
        direct = _DensePredictor(booster)
        probes = _probe_rows(booster.num_features())
        if all(np.array_equal(direct(p), public(p), equal_nan=True) for p in probes):
            return direct
    except Exception as exc:  # noqa: BLE001 - any trouble with the C API: use the public one
        print(f"cove: XGBoost's C predictor is unavailable ({exc}); using inplace_predict",
              file=sys.stderr, flush=True)
    return public


def is_linear(booster: xgboost.Booster) -> bool:
    """Whether ``booster`` is a ``gblinear`` one (the container serves those too)."""
    config = json.loads(booster.save_config())
    return str(config["learner"]["gradient_booster"]["name"]) == "gblinear"


def _probe_rows(num_features: int) -> list[FloatArray]:
    rng = np.random.default_rng(0)
    return [np.zeros((1, num_features)), rng.normal(size=(3, num_features)),
            np.where(rng.random((2, num_features)) < 0.5, np.nan, 1.0)]


class _DensePredictor:
    """``XGBoosterPredictFromDense`` through ctypes, with inplace_predict's default config."""

    _CONFIG = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                          "missing": float("nan"), "strict_shape": False, "cache_id": 0}).encode()

    def __init__(self, booster: xgboost.Booster) -> None:
        from xgboost.core import _LIB

        c_bst_ulong = ctypes.c_uint64  # XGBoost's bst_ulong

        self._booster = booster  # owns the handle
        self._handle = booster.handle
        self._predict = _LIB.XGBoosterPredictFromDense
        self._last_error = _LIB.XGBGetLastError
        self._ulong = c_bst_ulong
        self._no_proxy = ctypes.c_void_p()

    def __call__(self, rows: FloatArray) -> Predictions:
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        interface = b'{"data": [%d, true], "shape": [%d, %d], "strides": null, ' \
                    b'"typestr": "<f8", "version": 3}' % (rows.ctypes.data, *rows.shape)
        shape = ctypes.POINTER(self._ulong)()
        dims = self._ulong()
        out = ctypes.POINTER(ctypes.c_float)()
        if self._predict(self._handle, interface, self._CONFIG, self._no_proxy,
                         ctypes.byref(shape), ctypes.byref(dims), ctypes.byref(out)) != 0:
            raise BadRequest("Unable to evaluate payload provided: "
                             + xgboost_reason(Exception(self._last_error().decode())))
        sizes = tuple(int(shape[i]) for i in range(dims.value))
        count = int(np.prod(sizes))
        # copy out now: the buffer belongs to the booster and the next call overwrites it
        flat = np.frombuffer(ctypes.string_at(out, count * 4), dtype=np.float32)
        return flat.reshape(sizes)


__all__ = ["ACCEPTS", "MODEL_FILE", "XGBoostRuntime", "load"]
