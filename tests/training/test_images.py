"""Every framework image URI the SageMaker SDK v2 produces for the frameworks cove runs
(PyTorch, scikit-learn, XGBoost, linear learner) — legacy and current repositories, CPU, GPU
and Graviton tags — is accepted and mapped to its runtime; other images are refused."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from cove import errors
from cove.training._runtimes import resolve_runtime

FRAMEWORKS = {"pytorch": "pytorch", "sklearn": "sklearn", "xgboost": "xgboost",
              "linear-learner": "linear-learner"}
INSTANCES = ("ml.m5.large", "ml.p3.2xlarge", "ml.c6g.large")


def _config(framework: str) -> dict[str, Any]:
    import sagemaker

    path = Path(sagemaker.__file__).parent / "image_uri_config" / f"{framework}.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _uris(framework: str) -> set[str]:
    from sagemaker import image_uris

    config = _config(framework)
    scopes = {scope: config[scope] for scope in ("training", "inference")
              if scope in config} or {"training": config}
    uris = set()
    for scope, spec in scopes.items():
        for version, detail in spec.get("versions", {}).items():
            for py in detail.get("py_versions", [None]):
                for instance in INSTANCES:
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            uris.add(image_uris.retrieve(
                                framework, "us-east-1", version=version, py_version=py,
                                instance_type=instance, image_scope=scope))
                    except ValueError:
                        continue  # that combination does not exist (a GPU-only version...)
    return uris


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_every_uri_the_sdk_produces_is_accepted(framework: str) -> None:
    uris = _uris(framework)
    assert len(uris) >= (1 if framework == "linear-learner" else 5)
    kinds = {uri: resolve_runtime(uri, {}).kind for uri in uris}
    assert set(kinds.values()) == {FRAMEWORKS[framework]}, kinds
    if framework == "pytorch":
        assert any("/sagemaker-pytorch:0.4.0-gpu-py3" in uri for uri in uris)
        assert any("-gpu-" in uri for uri in uris) and any("-cpu-" in uri for uri in uris)


def test_gpu_tags_are_noted_and_other_images_refused() -> None:
    legacy = "520713654638.dkr.ecr.us-east-1.amazonaws.com/sagemaker-pytorch:0.4.0-gpu-py3"
    assert resolve_runtime(legacy, {}).gpu and resolve_runtime(legacy, {}).kind == "pytorch"
    assert not resolve_runtime(legacy.replace("gpu", "cpu"), {}).gpu
    for image in ("ubuntu:22.04", "123456789012.dkr.ecr.us-east-1.amazonaws.com/tensorflow-"
                  "training:2.13-cpu-py310", "sagemaker-pytorch-evil"):
        with pytest.raises(errors.ValidationError):
            resolve_runtime(image, {})
