"""Reading the job contract from the environment, and failing like a container."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cove.algorithms import BUILTIN_ALGORITHMS, Algorithm
from cove.algorithms._jobenv import AlgorithmError, JobEnv, run_algorithm
from tests.algorithms.conftest import JobDir


def write_config(job: JobDir) -> None:
    config = job.root / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(job.hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps(job.channels))


def test_hyperparameters_and_channels_from_the_environment(job: JobDir) -> None:
    job.hyperparameters = {"num_round": "10", "objective": '"reg:linear"'}
    job.add_file("train", "b.csv", "1,2\n", "text/csv")
    job.add_file("train", "a/z.csv.gz", "3,4\n", "text/csv", "Gzip")
    job.add_file("train", ".cache/skip.csv", "x\n")
    job.add_file("validation", "v.libsvm", "1 1:2\n")
    write_config(job)

    env = JobEnv.from_environ(job.environ())

    assert env.hyperparameters == {"num_round": "10", "objective": "reg:linear"}
    assert env.model_dir == job.model_dir
    assert sorted(env.channels) == ["train", "validation"]
    train = env.channels["train"]
    assert (train.content_type, train.compression) == ("text/csv", "Gzip")
    assert [content for _, content in train.read_files()] == [b"3,4\n", b"1,2\n"]
    assert env.channels["validation"].content_type is None


def test_unexpected_errors_write_a_failure_and_exit_1(
        job: JobDir, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write_config(job)
    for key, value in job.environ().items():
        monkeypatch.setenv(key, value)

    def broken(_: JobEnv) -> None:
        raise KeyError("oops")

    with pytest.raises(SystemExit) as exit_info:
        run_algorithm(broken, "test")

    assert exit_info.value.code == 1
    assert "internal error (KeyError" in (job.failure() or "")
    assert "Traceback" in capsys.readouterr().err


def test_algorithm_errors_become_the_failure_reason(
        job: JobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(job)
    for key, value in job.environ().items():
        monkeypatch.setenv(key, value)

    def refuses(_: JobEnv) -> None:
        raise AlgorithmError("Set num_round.")

    with pytest.raises(SystemExit) as exit_info:
        run_algorithm(refuses, "test")

    assert exit_info.value.code == 1
    assert job.failure() == "Set num_round.\n"


def test_registry() -> None:
    xgboost = BUILTIN_ALGORITHMS["xgboost"]
    assert isinstance(xgboost, Algorithm)
    assert xgboost.module == "cove.algorithms.xgboost"
    assert xgboost.required_hyperparameters == ("num_round",)
    assert xgboost.default_content_type == "text/libsvm"
    names = {d["Name"] for d in xgboost.metric_definitions}
    assert {"validation:rmse", "train:rmse", "validation:auc", "validation:logloss"} <= names
    linear = BUILTIN_ALGORITHMS["linear-learner"]
    assert linear.required_hyperparameters == ("feature_dim", "predictor_type")
    names = {d["Name"] for d in linear.metric_definitions}
    assert {"validation:mse", "validation:binary_classification_accuracy",
            "train:objective_loss", "validation:objective_loss"} <= names


def test_the_contracts_example_regex_is_in_the_registry() -> None:
    import re

    definition = next(d for d in BUILTIN_ALGORITHMS["xgboost"].metric_definitions
                      if d["Name"] == "validation:rmse")
    line = "[12]#011train-rmse:0.41#011validation-rmse:0.47"
    match = re.search(definition["Regex"], line)
    assert match is not None and match.group(1) == "0.47"
    assert re.search(r".*\[[0-9]+\].*#011validation-rmse:(\S+)", line) is not None


def test_missing_config_dir_means_no_hyperparameters(tmp_path: Path) -> None:
    env = JobEnv.from_environ({"SM_INPUT_DIR": str(tmp_path / "input")})
    assert env.hyperparameters == {} and env.channels == {}
    assert env.model_dir == tmp_path / "model"
