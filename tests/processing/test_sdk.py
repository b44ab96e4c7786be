"""The SageMaker Python SDK v2's processors against cove, unchanged: SKLearnProcessor,
ScriptProcessor and FrameworkProcessor (whose runproc.sh pip-installs requirements.txt)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.processing.helpers import ROLE, SKLEARN_IMAGE, objects, unique
from tests.training.test_job_lifecycle import _tiny_package

PREPROCESS = """
import argparse, os
import numpy as np
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=float, default=1.0)
args = parser.parse_args()
data = np.loadtxt("/opt/ml/processing/input/raw.csv", delimiter=",")
scaled = StandardScaler().fit_transform(data) * args.scale
os.makedirs("/opt/ml/processing/train", exist_ok=True)
np.savetxt("/opt/ml/processing/train/train.csv", scaled, delimiter=",", fmt="%.4f")
print("rows", len(scaled), flush=True)
"""


@pytest.fixture
def session(cove: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name, value in cove.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                      "      TelemetryOptOut: true\n")
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    import boto3
    import sagemaker

    from cove._sdk_polls import quick_session_class

    # as cove.sagemaker_session() makes it: the SDK's Session, its waits looking each
    # second rather than sleeping 5-30 s before each look at a job cove ran in two
    return quick_session_class(sagemaker.Session)(boto_session=boto3.Session(),
                                                  default_bucket=bucket)


def _raw(session: Any, bucket: str, tmp_path: Path) -> str:
    import numpy as np

    raw = tmp_path / "raw.csv"
    np.savetxt(raw, np.arange(12, dtype=float).reshape(6, 2), delimiter=",")
    return str(session.upload_data(str(raw), bucket=bucket, key_prefix="raw"))


def test_sklearn_processor_runs_a_script(session: Any, bucket: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor

    script = tmp_path / "preprocess.py"
    script.write_text(PREPROCESS)
    processor = SKLearnProcessor(framework_version="1.2-1", role=ROLE,
                                 instance_type="ml.m5.large", instance_count=1,
                                 sagemaker_session=session)
    name = unique("sklp")
    processor.run(code=str(script), job_name=name, arguments=["--scale", "2"],
                  inputs=[ProcessingInput(source=_raw(session, bucket, tmp_path),
                                          destination="/opt/ml/processing/input")],
                  outputs=[ProcessingOutput(output_name="train",
                                            source="/opt/ml/processing/train")])
    assert "rows 6" in capsys.readouterr().out  # run() streamed the job's log
    job = processor.jobs[-1].describe()
    assert job["ProcessingJobStatus"] == "Completed"
    destination = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    prefix = destination.removeprefix(f"s3://{bucket}/")
    rows = objects(session.boto_session.client("s3"), bucket, prefix)["train.csv"].splitlines()
    assert len(rows) == 6 and rows[0].startswith(b"-2.9")  # standardised, then doubled


def test_script_processor_with_an_image_uri(session: Any, bucket: str, tmp_path: Path) -> None:
    from sagemaker.processing import ProcessingOutput, ScriptProcessor

    script = tmp_path / "hello.py"
    script.write_text("import os, sys\nos.makedirs('/opt/ml/processing/out', exist_ok=True)\n"
                      "with open('/opt/ml/processing/out/args.txt', 'w') as f:\n"
                      "    f.write(' '.join(sys.argv[1:]))\n")
    processor = ScriptProcessor(image_uri=SKLEARN_IMAGE, command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=1,
                                sagemaker_session=session, env={"MODE": "test"})
    processor.run(code=str(script), arguments=["a", "b"], logs=False, job_name=unique("scr"),
                  outputs=[ProcessingOutput(source="/opt/ml/processing/out",
                                            destination=f"s3://{bucket}/script-out")])
    assert processor.jobs[-1].describe()["ProcessingJobStatus"] == "Completed"
    s3 = session.boto_session.client("s3")
    assert objects(s3, bucket, "script-out") == {"args.txt": b"a b"}


def test_framework_processor_installs_requirements(session: Any, bucket: str,
                                                   tmp_path: Path) -> None:
    from sagemaker.processing import FrameworkProcessor, ProcessingOutput
    from sagemaker.sklearn import SKLearn

    source = tmp_path / "src"
    source.mkdir()
    wheel = _tiny_package(source)
    (source / "requirements.txt").write_text(f"./{wheel.name}\n")
    (source / "helper.py").write_text("FACTOR = 2\n")
    (source / "process.py").write_text(textwrap.dedent("""
        import json, os, covetestpkg, helper
        os.makedirs("/opt/ml/processing/result", exist_ok=True)
        json.dump({"answer": covetestpkg.ANSWER * helper.FACTOR},
                  open("/opt/ml/processing/result/answer.json", "w"))
    """))
    processor = FrameworkProcessor(estimator_cls=SKLearn, framework_version="1.2-1", role=ROLE,
                                   instance_type="ml.m5.large", instance_count=1,
                                   sagemaker_session=session)
    name = unique("fwp")
    processor.run(code="process.py", source_dir=str(source), job_name=name, logs=False,
                  outputs=[ProcessingOutput(source="/opt/ml/processing/result",
                                            destination=f"s3://{bucket}/fw/{name}")])
    job = processor.jobs[-1].describe()
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    s3 = session.boto_session.client("s3")
    assert json.loads(objects(s3, bucket, f"fw/{name}")["answer.json"]) == {"answer": 84}
