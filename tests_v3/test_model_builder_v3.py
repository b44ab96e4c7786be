"""SDK v3's ModelBuilder, unchanged: a ModelTrainer's artifact built, deployed (no inference
code: the container's default handler loads model.joblib), registered with ``register()`` into
the model registry and the registered package deployed; and the InferenceSpec + SchemaBuilder
path, whose generated TorchServe ``inference.py`` imports ``sagemaker.serve`` in the worker."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.processing.helpers import SKLEARN_IMAGE, unique

PT_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
TRAIN = """
import os, joblib, numpy as np
from sklearn.linear_model import LinearRegression
X = np.arange(12, dtype=float).reshape(6, 2)
model = LinearRegression().fit(X, X @ [1.5, -2.0] + 3)
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""
ROWS = "1,2\n3,4"
EXPECTED = [0.5, -0.5]  # 1.5 * x1 - 2 * x2 + 3


def _in_service(endpoint: Any) -> Any:
    """ModelBuilder.deploy polls every 30 s; deploy(wait=False) and a 1 s wait is the remedy."""
    endpoint.wait_for_status("InService", poll=1, timeout=300)
    return endpoint


def _invoke_csv(endpoint: Any) -> list[float]:
    reply = endpoint.invoke(body=ROWS, content_type="text/csv", accept="application/json")
    return [float(v) for v in json.loads(reply.body.read())]


def test_trained_artifact_deployed_registered_and_package_deployed(
        cove: Any, cove_env: dict[str, str], tmp_path: Path) -> None:
    from sagemaker.core.resources import Endpoint, EndpointConfig, Model
    from sagemaker.core.shapes import ContainerDefinition, ProductionVariant
    from sagemaker.core.training.configs import Compute, SourceCode
    from sagemaker.serve.mode.function_pointers import Mode
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer

    role = f"arn:aws:iam::{cove.credentials['account_id']}:role/CoveExecutionRole"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN)
    trainer = ModelTrainer(training_image=SKLEARN_IMAGE, role=role,
                           source_code=SourceCode(source_dir=str(tmp_path / "src"),
                                                  entry_script="train.py"),
                           compute=Compute(instance_type="ml.m5.large", instance_count=1),
                           base_job_name=unique("v3mb"))
    trainer.train(wait=True, logs=False)
    builder = ModelBuilder(model=trainer, image_uri=SKLEARN_IMAGE, role_arn=role,
                           instance_type="ml.m5.large", mode=Mode.SAGEMAKER_ENDPOINT)
    builder.build()
    endpoint = _in_service(builder.deploy(endpoint_name=unique("v3mb"),
                                          initial_instance_count=1, wait=False))
    np.testing.assert_allclose(_invoke_csv(endpoint), EXPECTED, atol=1e-9)

    group = unique("v3group")
    package_arn = builder.register(
        model_package_group_name=group, content_types=["text/csv"],
        response_types=["application/json"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], approval_status="Approved",
        description="trained by ModelTrainer")
    package = cove.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    assert package["ModelPackageGroupName"] == group
    assert package["ModelApprovalStatus"] == "Approved"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == SKLEARN_IMAGE
    assert container["ModelDataUrl"] == trainer._latest_training_job.model_artifacts \
        .s3_model_artifacts

    name = unique("v3pkg")
    Model.create(model_name=name, execution_role_arn=role,
                 primary_container=ContainerDefinition(model_package_name=package_arn))
    EndpointConfig.create(endpoint_config_name=name, production_variants=[ProductionVariant(
        variant_name="AllTraffic", model_name=name, initial_instance_count=1,
        instance_type="ml.m5.large")])
    deployed = _in_service(Endpoint.create(endpoint_name=name, endpoint_config_name=name))
    np.testing.assert_allclose(_invoke_csv(deployed), EXPECTED, atol=1e-9)
    for each in (endpoint, deployed):
        each.delete()


class Doubler:
    """An InferenceSpec's model: what ``load`` returns from the model directory."""

    def __init__(self, factor: float) -> None:
        self.factor = factor


def test_inference_spec_and_schema_builder(cove: Any, cove_env: dict[str, str],
                                           tmp_path: Path) -> None:
    import cloudpickle
    from sagemaker.serve.builder.schema_builder import SchemaBuilder
    from sagemaker.serve.mode.function_pointers import Mode
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.serve.spec.inference_spec import InferenceSpec
    from sagemaker.serve.utils.types import ModelServer

    class Spec(InferenceSpec):  # type: ignore[misc]
        def load(self, model_dir: str) -> Doubler:
            with open(os.path.join(model_dir, "factor.json")) as file:
                return Doubler(json.load(file)["factor"])

        def invoke(self, input_object: Any, model: Doubler) -> Any:
            return [[v * model.factor for v in row] for row in input_object]

    # a notebook's classes live in __main__ and are pickled by value; this module's the same way
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "factor.json").write_text('{"factor": 2.5}')
    role = f"arn:aws:iam::{cove.credentials['account_id']}:role/CoveExecutionRole"
    builder = ModelBuilder(
        inference_spec=Spec(), schema_builder=SchemaBuilder([[1.0, 2.0]], [[2.5, 5.0]]),
        model_path=str(model_dir), model_server=ModelServer.TORCHSERVE, image_uri=PT_IMAGE,
        role_arn=role, instance_type="ml.m5.large", mode=Mode.SAGEMAKER_ENDPOINT,
        dependencies={"auto": False})  # auto capture runs with an emptied environment
    model = builder.build()
    assert model.primary_container.environment["SAGEMAKER_PROGRAM"] == "inference.py"
    endpoint = builder.deploy(endpoint_name=unique("v3spec"), initial_instance_count=1,
                              wait=False)
    try:
        endpoint.wait_for_status("InService", poll=1, timeout=300)
    except Exception:  # noqa: BLE001 - the one known gap is named below, anything else fails
        endpoint.refresh()
        reason = str(endpoint.failure_reason)
        if "'/lib'" in reason and "Read-only file system" in reason:
            endpoint.delete()
            pytest.xfail("the generated handler copies shared_libs into /lib, read-only in "
                         "this sandbox until the sandbox makes /lib writable")
        raise
    reply = endpoint.invoke(body=json.dumps([[1.0, 2.0], [4.0, -2.0]]),
                            content_type="application/json", accept="application/json")
    assert json.loads(reply.body.read()) == [[2.5, 5.0], [10.0, -5.0]]
    endpoint.delete()
