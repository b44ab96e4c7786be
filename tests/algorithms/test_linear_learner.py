"""The built-in linear learner, run as a real subprocess in a hand-built job directory."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.datasets import make_classification, make_regression

from cove.algorithms._linear_params import parse
from cove.algorithms.linear_learner import Scaling, Split, make_estimator, snapshot
from cove.algorithms.linear_learner_model import MODEL_FILE, LinearLearnerModel
from tests.algorithms.conftest import JobDir

MODULE = "cove.algorithms.linear_learner"
Array = npt.NDArray[np.float64]


def add_splits(job: JobDir, features: Array, labels: Array, train_rows: int) -> None:
    job.add_csv("train", labels[:train_rows], features[:train_rows])
    job.add_csv("validation", labels[train_rows:], features[train_rows:])


def test_regressor_learns_a_linear_function(job: JobDir) -> None:
    features, labels = make_regression(n_samples=1000, n_features=13, noise=5.0,
                                       random_state=0)
    add_splits(job, features, labels, 700)
    job.hyperparameters = {"feature_dim": "13", "predictor_type": "regressor",
                           "mini_batch_size": "200"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    metrics = run.metrics("linear-learner")
    assert metrics["validation:mse"][-1] < 2 * 5.0 ** 2  # the noise variance is 25
    assert len(metrics["train:objective_loss"]) == len(metrics["validation:objective_loss"])
    assert 1 <= len(metrics["train:objective_loss"]) <= 15
    assert metrics["validation:objective_loss"][-1] < metrics["validation:objective_loss"][0]
    model = LinearLearnerModel.load(job.model_dir)
    predictions = [record["score"] for record in model.predict(features[700:])]
    mse = float(np.mean((np.asarray(predictions) - labels[700:]) ** 2))
    assert mse == metrics["validation:mse"][-1]


def test_binary_classifier_is_accurate(job: JobDir) -> None:
    features, labels = make_classification(n_samples=1000, n_features=10, n_informative=5,
                                           class_sep=2.0, flip_y=0.0, random_state=2)
    add_splits(job, features, labels.astype(np.float64), 800)
    job.hyperparameters = {"feature_dim": "10", "predictor_type": "binary_classifier",
                           "mini_batch_size": "100", "epochs": "10"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    metrics = run.metrics("linear-learner")
    assert metrics["validation:binary_classification_accuracy"][-1] > 0.9
    assert 0.9 < metrics["validation:binary_f_beta"][-1] <= 1.0
    assert metrics["train:objective_loss"][-1] < 0.4
    records = LinearLearnerModel.load(job.model_dir).predict(features[800:])
    assert {r["predicted_label"] for r in records} == {0, 1}
    assert all(0.0 <= r["score"] <= 1.0 for r in records)
    accuracy = np.mean([r["predicted_label"] for r in records] == labels[800:])
    assert accuracy == metrics["validation:binary_classification_accuracy"][-1]


def test_multiclass_classifier(job: JobDir) -> None:
    features, labels = make_classification(
        n_samples=1500, n_features=8, n_informative=6, n_redundant=0, n_classes=4,
        n_clusters_per_class=1, class_sep=2.5, random_state=3)
    add_splits(job, features, labels.astype(np.float64), 1200)
    job.add_csv("test", labels[1200:].astype(np.float64), features[1200:])
    job.hyperparameters = {"feature_dim": "auto", "predictor_type": "multiclass_classifier",
                           "num_classes": "4", "mini_batch_size": "200"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    metrics = run.metrics("linear-learner")
    assert metrics["validation:multiclass_accuracy"][-1] > 0.8
    assert metrics["test:multiclass_accuracy"] == metrics["validation:multiclass_accuracy"]
    assert metrics["validation:multiclass_top_k_accuracy"][-1] >= 0.95
    record = LinearLearnerModel.load(job.model_dir).predict(features[:1])[0]
    assert len(record["score"]) == 4 and abs(sum(record["score"]) - 1.0) < 1e-9
    assert record["predicted_label"] == int(np.argmax(record["score"]))


def test_log_lines_have_the_real_algorithms_form(job: JobDir) -> None:
    features, labels = make_regression(n_samples=200, n_features=3, random_state=4)
    add_splits(job, features, labels, 150)
    job.hyperparameters = {"feature_dim": "3", "predictor_type": "regressor", "epochs": "2",
                           "optimizer": "adam"}

    run = job.run(MODULE)

    assert run.returncode == 0, run.stderr
    assert "#quality_metric: host=algo-1, epoch=0, train mse_objective <loss>=" in run.stdout
    assert "#quality_metric: host=algo-1, epoch=1, validation mse_objective <loss>=" in run.stdout
    assert "#quality_metric: host=algo-1, validation mse <loss>=" in run.stdout
    assert "#progress_metric: host=algo-1, completed 100 % of epochs" in run.stdout
    assert "optimizer=adam is accepted but has no effect" in run.stdout


def test_saved_model_matches_the_sklearn_estimator() -> None:
    features, labels = make_classification(n_samples=300, n_features=5, n_informative=3,
                                           n_classes=3, random_state=5)
    config = parse({"feature_dim": "5", "predictor_type": "multiclass_classifier",
                    "num_classes": "3"}, warn=print)
    train = Split(features, labels.astype(np.float64))
    scaling = Scaling.learn(config, train)
    estimator = make_estimator(config, train.labels, 0.05)
    estimator.partial_fit(scaling.features(features), train.labels,
                          classes=np.arange(3, dtype=np.float64))

    model = snapshot(estimator, config, scaling)

    expected = estimator.predict_proba(scaling.features(features))
    assert np.allclose(model.scores(features), expected, rtol=1e-12, atol=1e-12)


def test_feature_dim_must_match_the_data(job: JobDir) -> None:
    features, labels = make_regression(n_samples=50, n_features=4, random_state=0)
    job.add_csv("train", labels, features)
    job.hyperparameters = {"feature_dim": "13", "predictor_type": "regressor"}

    assert job.run(MODULE).returncode == 1
    failure = job.failure() or ""
    assert "feature_dim=13" in failure and "4 feature columns" in failure
    assert not (job.model_dir / MODEL_FILE).exists()


def test_missing_predictor_type(job: JobDir) -> None:
    features, labels = make_regression(n_samples=50, n_features=4, random_state=0)
    job.add_csv("train", labels, features)
    job.hyperparameters = {"feature_dim": "4"}

    assert job.run(MODULE).returncode == 1
    assert "Missing required hyperparameter: predictor_type" in (job.failure() or "")


def test_binary_labels_must_be_zero_or_one(job: JobDir) -> None:
    features, labels = make_regression(n_samples=50, n_features=4, random_state=0)
    job.add_csv("train", labels, features)
    job.hyperparameters = {"feature_dim": "4", "predictor_type": "binary_classifier"}

    assert job.run(MODULE).returncode == 1
    assert "needs 0 or 1 in column 0" in (job.failure() or "")


def test_multiclass_needs_num_classes(job: JobDir) -> None:
    features, labels = make_regression(n_samples=50, n_features=4, random_state=0)
    job.add_csv("train", np.zeros(50), features)
    job.hyperparameters = {"feature_dim": "4", "predictor_type": "multiclass_classifier"}

    assert job.run(MODULE).returncode == 1
    assert "num_classes" in (job.failure() or "")
