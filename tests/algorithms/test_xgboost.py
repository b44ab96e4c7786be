"""The built-in XGBoost algorithm, run as a real subprocess in a hand-built job directory."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
import xgboost as xgb
from sklearn.datasets import dump_svmlight_file, make_classification, make_regression

from cove.algorithms._xgboost_params import available_cpus
from cove.algorithms.xgboost import MODEL_FILE
from tests.algorithms.conftest import JobDir, to_csv

MODULE = "cove.algorithms.xgboost"
TUTORIAL = {"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
            "subsample": "0.8"}
Array = npt.NDArray[np.float64]


def regression_data(rows: int = 600) -> tuple[Array, Array]:
    features, labels = make_regression(n_samples=rows, n_features=8, noise=10.0, random_state=0)
    return features, labels


def classification_data(rows: int = 800) -> tuple[Array, Array]:
    features, labels = make_classification(n_samples=rows, n_features=10, n_informative=4,
                                           flip_y=0.2, random_state=1)
    return features, labels.astype(np.float64)


def load_model(job: JobDir) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray((job.model_dir / MODEL_FILE).read_bytes()))
    return booster


def in_process(params: dict[str, Any], train: xgb.DMatrix, validation: xgb.DMatrix,
               rounds: int, callbacks: list[Any] | None = None) -> xgb.Booster:
    return xgb.train({**params, "nthread": available_cpus()}, train, num_boost_round=rounds,
                     evals=[(train, "train"), (validation, "validation")], verbose_eval=False,
                     callbacks=callbacks)


def test_regression_matches_in_process_xgboost(job: JobDir) -> None:
    features, labels = regression_data()
    job.add_csv("train", labels[:400], features[:400])
    job.add_csv("validation", labels[400:], features[400:], content_type="csv")
    job.hyperparameters = {**TUTORIAL, "objective": "reg:linear", "num_round": "30",
                           "seed": "7", "made_up": "1"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    assert "Ignoring unknown hyperparameter made_up=1" in run.stdout
    expected = in_process(
        {"max_depth": 5, "eta": 0.2, "gamma": 4.0, "min_child_weight": 6.0, "subsample": 0.8,
         "objective": "reg:squarederror", "seed": 7},
        xgb.DMatrix(features[:400], label=labels[:400]),
        xgb.DMatrix(features[400:], label=labels[400:]), rounds=30)
    test_rows = xgb.DMatrix(features[400:])
    assert np.array_equal(load_model(job).predict(test_rows), expected.predict(test_rows))
    rmse = run.metrics("xgboost")
    assert len(rmse["train:rmse"]) == len(rmse["validation:rmse"]) == 30
    assert rmse["validation:rmse"][-1] < rmse["validation:rmse"][0]


def test_round_lines_have_the_containers_form(job: JobDir) -> None:
    features, labels = regression_data(200)
    job.add_csv("train", labels[:150], features[:150])
    job.add_csv("validation", labels[150:], features[150:])
    job.hyperparameters = {"num_round": "3"}

    run = job.run(MODULE)

    rounds = [line for line in run.stdout.splitlines() if line.startswith("[") and "\t" in line]
    assert [line.split("\t")[0] for line in rounds] == ["[0]", "[1]", "[2]"]
    assert all(line.split("\t")[1].startswith("train-rmse:") for line in rounds)
    assert all(line.split("\t")[2].startswith("validation-rmse:") for line in rounds)
    value = rounds[0].split("\t")[2].split(":")[1]
    assert len(value.split(".")[1]) == 5  # XGBoost's own {score:.5f}


def test_binary_early_stopping_matches_in_process_xgboost(job: JobDir) -> None:
    features, labels = classification_data()
    job.add_csv("train", labels[:600], features[:600])
    job.add_csv("validation", labels[600:], features[600:])
    job.hyperparameters = {"objective": "binary:logistic", "num_round": "500", "eta": "0.5",
                           "max_depth": "6", "eval_metric": "error,logloss",
                           "early_stopping_rounds": "5", "seed": "3"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    dtrain = xgb.DMatrix(features[:600], label=labels[:600])
    dvalid = xgb.DMatrix(features[600:], label=labels[600:])
    stopper = xgb.callback.EarlyStopping(rounds=5, metric_name="logloss",
                                         data_name="validation", save_best=True)
    expected = in_process({"objective": "binary:logistic", "eta": 0.5, "max_depth": 6,
                           "eval_metric": ["error", "logloss"], "seed": 3},
                          dtrain, dvalid, 500, callbacks=[stopper])
    model = load_model(job)
    assert np.array_equal(model.predict(dvalid), expected.predict(dvalid))
    logloss = run.metrics("xgboost")["validation:logloss"]
    assert len(logloss) == expected.best_iteration + 5 + 1 < 500
    assert model.num_boosted_rounds() == expected.best_iteration + 1
    assert "Stopped early" in run.stdout


def test_libsvm_is_the_default_content_type(job: JobDir) -> None:
    rng = np.random.default_rng(5)
    counts = sp.random(500, 300, density=0.05, format="csr", random_state=5,
                       data_rvs=lambda n: rng.integers(1, 4, n).astype(np.float64))
    labels = (counts @ rng.normal(size=300) > 0).astype(np.float64)
    buffer = io.BytesIO()
    dump_svmlight_file(counts[:400], labels[:400], buffer, zero_based=True)
    job.add_file("train", "train.libsvm", buffer.getvalue())  # no ContentType: libsvm
    buffer = io.BytesIO()
    dump_svmlight_file(counts[400:], labels[400:], buffer, zero_based=True)
    job.add_file("validation", "validation.libsvm", buffer.getvalue(), "text/libsvm")
    job.hyperparameters = {"objective": "binary:logistic", "num_round": "20", "max_depth": "4"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    expected = in_process({"objective": "binary:logistic", "max_depth": 4},
                          xgb.DMatrix(counts[:400], label=labels[:400]),
                          xgb.DMatrix(counts[400:], label=labels[400:]), 20)
    rows = xgb.DMatrix(counts[400:])
    assert np.array_equal(load_model(job).predict(rows), expected.predict(rows))
    assert len(run.metrics("xgboost")["validation:logloss"]) == 20


def test_gzip_files_across_subdirectories(job: JobDir) -> None:
    features, labels = regression_data(300)
    lines = to_csv(labels, features).splitlines(keepends=True)
    job.add_file("train", "a/part-0.csv.gz", "".join(lines[:100]), "text/csv", "Gzip")
    job.add_file("train", "b/part-1.csv.gz", "".join(lines[100:200]), "text/csv", "Gzip")
    job.add_file("train", ".hidden", "not,data\n")
    job.hyperparameters = {"num_round": "10", "max_depth": "3"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    assert "Train matrix has 200 rows and 8 columns" in run.stdout
    dtrain = xgb.DMatrix(features[:200], label=labels[:200])
    expected = xgb.train({"max_depth": 3, "nthread": available_cpus()}, dtrain, 10)
    rows = xgb.DMatrix(features[200:])
    assert np.array_equal(load_model(job).predict(rows), expected.predict(rows))


def test_model_file_loads_by_path(job: JobDir) -> None:
    features, labels = regression_data(100)
    job.add_csv("train", labels, features)
    job.hyperparameters = {"num_round": "2"}

    assert job.run(MODULE).returncode == 0

    with pytest.warns(UserWarning, match="UBJSON"):
        booster = xgb.Booster(model_file=str(job.model_dir / MODEL_FILE))
    assert booster.num_boosted_rounds() == 2


def test_container_metrics_and_tuning_objective(job: JobDir) -> None:
    features, labels = classification_data(300)
    job.add_csv("train", labels[:200], features[:200])
    job.add_csv("validation", labels[200:], features[200:])
    job.hyperparameters = {"objective": "binary:logistic", "num_round": "5",
                           "eval_metric": "accuracy,f1", "_tuning_objective_metric":
                           "validation:auc"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    metrics = run.metrics("xgboost")
    for name in ("validation:accuracy", "validation:f1", "validation:auc", "train:accuracy"):
        assert len(metrics[name]) == 5 and all(0.0 <= v <= 1.0 for v in metrics[name])


def test_missing_num_round_fails_with_the_reason(job: JobDir) -> None:
    features, labels = regression_data(50)
    job.add_csv("train", labels, features)
    job.hyperparameters = {"max_depth": "3"}

    run = job.run(MODULE)

    assert run.returncode == 1
    failure = job.failure()
    assert failure is not None and "num_round" in failure
    assert "Missing required hyperparameter" in failure
    assert not (job.model_dir / MODEL_FILE).exists()


def test_multiclass_needs_num_class(job: JobDir) -> None:
    features, labels = regression_data(50)
    job.add_csv("train", np.zeros(50), features)
    job.hyperparameters = {"num_round": "3", "objective": "multi:softmax"}

    assert job.run(MODULE).returncode == 1
    assert "num_class" in (job.failure() or "")


def test_bad_hyperparameter_value(job: JobDir) -> None:
    features, labels = regression_data(50)
    job.add_csv("train", labels, features)
    job.hyperparameters = {"num_round": "3", "max_depth": "deep"}

    assert job.run(MODULE).returncode == 1
    assert "max_depth" in (job.failure() or "") and "'deep'" in (job.failure() or "")


def test_csv_with_a_header_fails_naming_the_line(job: JobDir) -> None:
    job.add_file("train", "train.csv", "label,x1,x2\n1,2,3\n0,4,5\n", "text/csv")
    job.hyperparameters = {"num_round": "3"}

    run = job.run(MODULE)

    assert run.returncode == 1
    failure = job.failure() or ""
    assert "line 1" in failure and "train/train.csv" in failure and "header" in failure


def test_labels_xgboost_rejects_become_the_failure(job: JobDir) -> None:
    features, _ = regression_data(50)
    job.add_csv("train", np.full(50, 3.0), features)
    job.hyperparameters = {"num_round": "3", "objective": "binary:logistic"}

    assert job.run(MODULE).returncode == 1
    assert "XGBoost rejected the training job" in (job.failure() or "")


def test_missing_train_channel(job: JobDir) -> None:
    features, labels = regression_data(50)
    job.add_csv("validation", labels, features)
    job.hyperparameters = {"num_round": "3"}

    assert job.run(MODULE).returncode == 1
    assert "'train' channel" in (job.failure() or "")
