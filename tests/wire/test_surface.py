"""Validation pinned: a request lacking what cove needs is a ValidationException in AWS's
wording whatever botocore is installed, because cove keeps its own list of required members
(``cove/wire/surface.json``) for the operations it implements, on top of botocore's model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from cove.wire import _shapes
from cove.wire._surface import COVE_REQUIRED, SURFACE_FILE, operations, pinned_required
from tests.conftest import CoveServer
from tests.wire.surface import served, surface

#: Makes the botocore it is loaded into mark nothing required (what a botocore that dropped
#: the marks would do), and says so in $COVE_TEST_STRIPPED.
STRIP_REQUIRED = """
import os
import botocore.loaders as loaders

_load = loaders.Loader.load_service_model

def load_service_model(self, service_name, type_name, api_version=None):
    model = _load(self, service_name, type_name, api_version)
    if type_name == "service-2":
        stripped = sum(shape.pop("required", None) is not None
                       for shape in model.get("shapes", {}).values())
        with open(os.environ["COVE_TEST_STRIPPED"], "a") as out:
            out.write(f"{service_name} {stripped}\\n")
    return model

loaders.Loader.load_service_model = load_service_model
"""


def test_the_pinned_surface_is_what_cove_serves_and_botocore_marks() -> None:
    """Stale pins fail here: an operation added without pinning, or a tested botocore whose
    required members differ.  Fix: ``python -m tests.wire.surface --write``."""
    pinned = json.loads(SURFACE_FILE.read_text())
    assert surface(served()) == pinned, \
        "surface.json is stale: python -m tests.wire.surface --write"


def test_cove_pins_what_a_training_job_cannot_run_without() -> None:
    from cove.training import REQUIRED

    assert set(COVE_REQUIRED["sagemaker"]["CreateTrainingJobRequest"]) == set(REQUIRED)
    assert set(REQUIRED) <= pinned_required("sagemaker")["CreateTrainingJobRequest"]
    assert "CreateTrainingJob" in operations("sagemaker")


def test_the_validator_requires_the_pins_when_the_model_marks_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = json.loads(json.dumps(_shapes._load_model("sagemaker")))
    for shape in model["shapes"].values():
        shape.pop("required", None)
    monkeypatch.setattr(_shapes, "_load_model", lambda service: model)
    _shapes._specs.cache_clear()
    try:
        validator = _shapes.ShapeValidator("sagemaker")
        bare = validator.errors("CreateTrainingJob", {"TrainingJobName": "j"})
        nested = validator.errors("CreateTrainingJob", {
            "TrainingJobName": "j", "AlgorithmSpecification": {},
            "ResourceConfig": {"InstanceType": "ml.m5.large"}})
    finally:
        _shapes._specs.cache_clear()
    assert _nulls(bare) == {"roleArn", "outputDataConfig", "algorithmSpecification",
                            "resourceConfig"}
    assert _nulls(nested) == {"roleArn", "outputDataConfig",
                              "algorithmSpecification.trainingInputMode"}


def _nulls(errors: list[str]) -> set[str]:
    return {e.split("'")[1] for e in errors if e.endswith("Member must not be null")}


@pytest.fixture(scope="module")
def stripped_cove(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A cove server whose botocore marks nothing required."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(STRIP_REQUIRED)
    marker = site / "stripped.txt"
    server = CoveServer(tmp_path_factory.mktemp("home"), extra_env={
        "PYTHONPATH": str(site), "COVE_TEST_STRIPPED": str(marker)}).start(timeout=120)
    yield server, marker
    server.stop()


def _refused(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def test_a_server_whose_botocore_marks_nothing_required_still_refuses(
        stripped_cove: Any) -> None:
    from cove._sdk import execution_role

    server, marker = stripped_cove
    # the client checks nothing itself, as a non-botocore client would
    sm = server.client("sagemaker", parameter_validation=False)
    message = _refused(sm.create_training_job, TrainingJobName="pinned",
                       AlgorithmSpecification={"TrainingImage": "x"},
                       ResourceConfig={"InstanceType": "ml.m5.large"})
    assert message.startswith("3 validation errors detected: "), message
    for path in ("algorithmSpecification.trainingInputMode", "roleArn", "outputDataConfig"):
        assert (f"Value null at '{path}' failed to satisfy constraint: Member must not be null"
                in message), message
    message = _refused(sm.create_endpoint_config, EndpointConfigName="c",
                       ProductionVariants=[{"InstanceType": "ml.m5.large"}])
    assert "Value null at 'productionVariants.1.member.variantName'" in message
    assert "Value null at 'resourceConfig'" in _refused(
        sm.create_training_job, TrainingJobName="pinned", RoleArn=execution_role(server.home),
        AlgorithmSpecification={"TrainingImage": "x", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://b/o"})
    _refused(sm.create_endpoint, EndpointName="e")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []  # nothing was created
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    stripped = dict(line.split() for line in marker.read_text().splitlines())
    assert int(stripped["sagemaker"]) > 100  # the server's botocore really marked nothing


def test_pinned_botocore_is_the_tested_line() -> None:
    """pyproject pins boto3/botocore to the line these tests run on."""
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"botocore>=1.43,<1.44"' in text and '"boto3>=1.43,<1.44"' in text
    assert botocore.__version__.startswith("1.43.")
    _ = BotoConfig  # the clients above use parameter_validation=False through it
