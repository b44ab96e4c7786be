"""SageMaker's built-in XGBoost algorithm: ``python -m cove.algorithms.xgboost``.

Reads the ``train`` (required) and ``validation`` channels as libsvm (the default) or CSV (label in
column 0, no header) by each channel's ContentType, trains with ``xgboost.train`` and logs one line
per round exactly as the container does (``[3]\\ttrain-rmse:0.41234\\tvalidation-rmse:0.47000``).
With ``early_stopping_rounds`` and a validation channel, training stops when the validation
metric (the tuning objective, else the last ``eval_metric``, else XGBoost's default) has not
improved for that many rounds, and the model keeps the best iteration's trees (the container's
``EarlyStopping(save_best=True)``).

The model is ``$SM_MODEL_DIR/xgboost-model``: XGBoost's UBJSON format (its default binary format
since 2.1), written without an extension as the container names it.  Load it with
``xgboost.Booster(model_file=path)`` (XGBoost guesses UBJSON from the missing extension and says
so in a warning) or, without the warning, ``booster.load_model(bytearray(path.read_bytes()))``.
Given the same data, hyperparameters and seed, its predictions equal those of ``xgboost.train``
run in-process with the same params, ``num_boost_round`` and callbacks (see :func:`fit`).
"""

# ruff: noqa: E402 - scikit-learn must be kept out before xgboost is imported (below)
from __future__ import annotations

import re
import sys
from pathlib import Path

# xgboost imports scikit-learn (≈1.4 s here) only for its sklearn-style wrappers, which the
# built-in algorithm never uses: keep it out and every job starts that much sooner.
sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]

import warnings

import numpy as np
import scipy.sparse as sp
import xgboost

from cove.algorithms import _xgboost_params
from cove.algorithms._data import LIBSVM, Dataset, data_format, read_dataset, with_width
from cove.algorithms._jobenv import AlgorithmError, JobEnv, log, run_algorithm, warn
from cove.algorithms._xgboost_params import TrainConfig

MODEL_FILE = "xgboost-model"
DEFAULT_CONTENT_TYPE = "text/libsvm"
_FORMATS = ("csv", LIBSVM)


def train(job: JobEnv) -> None:
    """The whole job: hyperparameters, data, training, model file."""
    config = _xgboost_params.parse(job.hyperparameters, warn)
    train_set, validation_set = _load_data(job, config)
    log(f"Train matrix has {train_set.num_rows} rows and {train_set.num_features} columns")
    if validation_set is not None:
        log(f"Validation matrix has {validation_set.num_rows} rows")
    elif config.early_stopping_rounds:
        warn("early_stopping_rounds needs a validation channel; training all num_round rounds.")
    booster = fit(config, train_set, validation_set)
    save_model(booster, job.model_dir)


def fit(config: TrainConfig, train_set: Dataset, validation_set: Dataset | None) -> xgboost.Booster:
    """``xgboost.train`` with the container's evaluation log and early stopping."""
    nthread = int(config.params["nthread"])
    evals = [(to_dmatrix(train_set, nthread), "train")]
    if validation_set is not None:
        evals.append((to_dmatrix(validation_set, nthread), "validation"))
    callbacks = training_callbacks(config, has_validation=validation_set is not None)
    try:
        booster = xgboost.train(
            config.params, evals[0][0], num_boost_round=config.num_round, evals=evals,
            verbose_eval=False, callbacks=callbacks, custom_metric=config.custom_metric())
    except xgboost.core.XGBoostError as exc:
        raise AlgorithmError(f"XGBoost rejected the training job: {_xgboost_reason(exc)}. "
                             f"Check the hyperparameters and the labels.") from exc
    if validation_set is not None:
        _log_early_stop(booster, config)
    return booster


def training_callbacks(config: TrainConfig, has_validation: bool
                       ) -> list[xgboost.callback.TrainingCallback]:
    """The per-round log line, then early stopping on the validation set when asked for."""
    callbacks: list[xgboost.callback.TrainingCallback] = [
        xgboost.callback.EvaluationMonitor(logger=_print_round)]
    if config.early_stopping_rounds and has_validation:
        callbacks.append(xgboost.callback.EarlyStopping(
            rounds=config.early_stopping_rounds, metric_name=config.early_stopping_metric,
            data_name="validation", maximize=config.maximize, save_best=True))
    return callbacks


def to_dmatrix(dataset: Dataset, nthread: int) -> xgboost.DMatrix:
    try:
        return xgboost.DMatrix(dataset.features, label=dataset.labels, weight=dataset.weights,
                               missing=np.nan, nthread=nthread)
    except xgboost.core.XGBoostError as exc:
        raise AlgorithmError(f"XGBoost could not use the data: {_xgboost_reason(exc)}.") from exc


def save_model(booster: xgboost.Booster, model_dir: Path) -> Path:
    """Write ``xgboost-model`` (UBJSON bytes; see the module docstring for loading it)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / MODEL_FILE
    path.write_bytes(bytes(booster.save_raw(raw_format="ubj")))
    log(f"Saved the model to {path} ({booster.num_boosted_rounds()} boosted rounds)")
    return path


def _load_data(job: JobEnv, config: TrainConfig) -> tuple[Dataset, Dataset | None]:
    train_channel = job.require_channel("train", "XGBoost")
    train_format = data_format(train_channel, DEFAULT_CONTENT_TYPE, _FORMATS)
    train_set = read_dataset(train_channel, train_format, config.csv_weights, _native_libsvm)
    validation_channel = job.channel("validation")
    if validation_channel is None:
        return train_set, None
    fallback = train_channel.content_type or DEFAULT_CONTENT_TYPE
    validation_format = data_format(validation_channel, fallback, _FORMATS)
    validation_set = read_dataset(validation_channel, validation_format, config.csv_weights,
                                  _native_libsvm)
    return _same_width(train_set, validation_set)


def _native_libsvm(path: Path) -> tuple[sp.csr_matrix, np.ndarray]:
    """XGBoost's own (C++) libsvm reader: ~10x faster than parsing in Python."""
    with warnings.catch_warnings():  # text input is deprecated in xgboost 3.1, still there
        warnings.simplefilter("ignore")
        matrix = xgboost.DMatrix(f"{path}?format=libsvm", silent=True, nthread=-1)
    return matrix.get_data(), matrix.get_label().astype(np.float64)


def _same_width(train_set: Dataset, validation_set: Dataset) -> tuple[Dataset, Dataset]:
    """libsvm files only name the columns they use: pad both to the wider one."""
    width = max(train_set.num_features, validation_set.num_features)
    sparse = sp.issparse(train_set.features) and sp.issparse(validation_set.features)
    if train_set.num_features != validation_set.num_features and not sparse:
        raise AlgorithmError(
            f"The validation data has {validation_set.num_features} feature columns but the "
            f"training data has {train_set.num_features}. Both channels need the same columns.")
    return _widen(train_set, width), _widen(validation_set, width)


def _widen(dataset: Dataset, width: int) -> Dataset:
    return Dataset(with_width(dataset.features, width), dataset.labels, dataset.weights)


def _log_early_stop(booster: xgboost.Booster, config: TrainConfig) -> None:
    patience = config.early_stopping_rounds
    if patience and booster.best_iteration + patience + 1 < config.num_round:
        log(f"Stopped early: the validation metric did not improve for {patience} rounds; "
            f"the model keeps the best iteration, {booster.best_iteration} "
            f"(score {booster.best_score}).")


def _print_round(message: str) -> None:
    print(message.rstrip("\n"), flush=True)


def _xgboost_reason(exc: Exception) -> str:
    text = str(exc).split("Stack trace:")[0].strip()
    return re.sub(r"^\[[0-9:]+\] [^ ]+:[0-9]+: ", "", text).rstrip(".")


def main() -> None:
    run_algorithm(train, "XGBoost")


if __name__ == "__main__":
    main()
