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


ALL_REDUCE = """
import os
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)
print(f"rank {rank} of {world} (local {os.environ['LOCAL_RANK']}): all_reduce={total.item():g}",
      flush=True)
assert total.item() == world * (world + 1) / 2
dist.destroy_process_group()
"""


@pytest.mark.timeout(600)
def test_torchrun_two_processes_all_reduce(tmp_path: Path, monkeypatch: Any) -> None:
    """``distributed=Torchrun(process_count_per_node=2)`` on one instance: the driver's
    ``torchrun --nnodes=1 --nproc_per_node=2`` and a gloo all-reduce between the two ranks, on
    the sandbox's own loopback.  The job runs in cove's environment, where PyTorch is (as in
    the image it stands for), not in the SDK's."""
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.training.configs import Compute, SourceCode
    from sagemaker.train import ModelTrainer
    from sagemaker.train.distributed import Torchrun

    from tests_v3.conftest import exported_env, platform_cove

    server = platform_cove(tmp_path / "home")
    try:
        for name, value in exported_env(server).items():
            monkeypatch.setenv(name, value)
        # Session() reuses boto3's default session, which an earlier test on this worker may
        # have made with the keys of its own cove
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        source = tmp_path / "src"
        source.mkdir()
        (source / "train.py").write_text(ALL_REDUCE)
        trainer = ModelTrainer(
            training_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/"
                           "pytorch-training:2.1.0-cpu-py310",
            role=ROLE, sagemaker_session=Session(), base_job_name=unique("v3torchrun"),
            source_code=SourceCode(source_dir=str(source), entry_script="train.py"),
            distributed=Torchrun(process_count_per_node=2),
            compute=Compute(instance_type="ml.m5.xlarge", instance_count=1))
        trainer.train(wait=True, logs=False)
        name = trainer._latest_training_job.training_job_name
        described = server.client("sagemaker").describe_training_job(TrainingJobName=name)
        assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
        logs = server.client("logs")
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                            logStreamNamePrefix=name)["logStreams"]
        text = "\n".join(e["message"] for s in streams for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=s["logStreamName"],
            startFromHead=True)["events"])
        assert "torchrun --nnodes=1 --nproc_per_node=2" in text, text[-3000:]
        for rank in (0, 1):
            assert f"rank {rank} of 2 (local {rank}): all_reduce=3" in text, text[-3000:]
    finally:
        server.stop()
