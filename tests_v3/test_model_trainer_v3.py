"""SDK v3's ModelTrainer, unchanged: ``SourceCode(requirements=...)`` runs its ``sm_train.sh``
(ContainerEntrypoint ``/bin/bash``, the ``code`` and ``sm_drivers`` channels), whose pip install
finds the cached environment cove built from the file the driver names; and a
``sourcecode.json`` naming a file outside the source directory fails the job."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.processing.helpers import ROLE, SKLEARN_IMAGE, unique
from tests.training.test_job_lifecycle import _tiny_package

TRAIN = """
import json, os, covetestpkg, helper
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "rows.csv")).read().splitlines()
json.dump({"answer": covetestpkg.ANSWER * helper.FACTOR, "rows": len(rows)},
          open(os.path.join(os.environ["SM_MODEL_DIR"], "answer.json"), "w"))
"""


def _trainer(cove: Any, source: Path, requirements: str | None = "requirements.txt") -> Any:
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.training.configs import Compute, SourceCode
    from sagemaker.train import ModelTrainer

    return ModelTrainer(
        training_image=SKLEARN_IMAGE, role=ROLE, sagemaker_session=Session(),
        source_code=SourceCode(source_dir=str(source), requirements=requirements,
                               entry_script="train.py"),
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        base_job_name=unique("v3mt"))


def test_source_code_requirements(cove: Any, cove_env: dict[str, str], bucket: str,
                                  tmp_path: Path) -> None:
    from sagemaker.core.training.configs import InputData

    source = tmp_path / "src"
    source.mkdir()
    wheel = _tiny_package(source)
    (source / "requirements.txt").write_text(f"./{wheel.name}\n")
    (source / "helper.py").write_text("FACTOR = 2\n")
    (source / "train.py").write_text(TRAIN)
    s3 = cove.client("s3")
    s3.put_object(Bucket=bucket, Key="v3-train/rows.csv", Body=b"1\n2\n3\n")
    trainer = _trainer(cove, source)
    trainer.train(input_data_config=[InputData(channel_name="train",
                                               data_source=f"s3://{bucket}/v3-train")],
                  wait=True, logs=False)
    job = trainer._latest_training_job
    described = cove.client("sagemaker").describe_training_job(
        TrainingJobName=job.training_job_name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["AlgorithmSpecification"]["ContainerEntrypoint"][0] == "/bin/bash"
    bucket_name, key = described["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
    archive = s3.get_object(Bucket=bucket_name, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile("answer.json")
        assert member is not None
        assert json.load(member) == {"answer": 84, "rows": 3}


def test_requirements_outside_the_source_fail_the_job(cove: Any, cove_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    """The SDK checks the name on the client; the job's own sourcecode.json is what cove
    reads, so a forged one is the hostile case: the job fails and names the file."""
    from sagemaker.core.helper.session_helper import Session

    named = "../../../../etc/passwd"
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('never runs')\n")
    trainer = _trainer(cove, source, requirements=None)
    original = trainer._write_source_code_json

    def forged(tmp_dir: Any, source_code: Any) -> None:
        original(tmp_dir, source_code)
        path = Path(tmp_dir.name) / "sourcecode.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "requirements": named}))

    trainer._write_source_code_json = forged
    from sagemaker.core.utils.exceptions import FailedStatusError

    with pytest.raises(FailedStatusError):
        trainer.train(wait=True, logs=False)
    described = Session().sagemaker_client.describe_training_job(
        TrainingJobName=trainer._latest_training_job.training_job_name)
    assert described["TrainingJobStatus"] == "Failed"
    assert "SourceCode.requirements" in described["FailureReason"], described["FailureReason"]
    assert named in described["FailureReason"]
