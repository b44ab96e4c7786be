"""SDK v3 against cove, as its documentation's first cells and processors are written: the
session from `cove env`'s exports, `cove.sagemaker_session()`, and a ScriptProcessor job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processing.helpers import ROLE, SKLEARN_IMAGE, objects, unique

SCRIPT = """
import os
rows = open("/opt/ml/processing/input/data/rows.csv").read().splitlines()
os.makedirs("/opt/ml/processing/out", exist_ok=True)
open("/opt/ml/processing/out/count.txt", "w").write(str(len(rows)))
"""


def test_the_first_cell_runs_from_cove_env(cove: Any, cove_env: dict[str, str]) -> None:
    from sagemaker.core.helper.session_helper import Session

    assert Path(cove_env["SAGEMAKER_USER_CONFIG_OVERRIDE"]).is_file()
    session = Session()  # no arguments, as the v3 documentation writes it
    expected = f"sagemaker-us-east-1-{cove.credentials['account_id']}"
    assert session.default_bucket() == expected
    assert expected in [b["Name"] for b in cove.client("s3").list_buckets()["Buckets"]]


def test_cove_sagemaker_session_under_v3(cove: Any, tmp_path: Path) -> None:
    import cove as cove_package

    session = cove_package.sagemaker_session(cove.home)
    assert type(session).__module__ == "sagemaker.core.helper.session_helper"
    (tmp_path / "hello.csv").write_text("1,2\n")
    uri = session.upload_data(str(tmp_path / "hello.csv"), key_prefix="v3-upload")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert cove.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == b"1,2\n"


def test_script_processor(cove: Any, cove_env: dict[str, str], bucket: str,
                          tmp_path: Path) -> None:
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )

    s3 = cove.client("s3")
    s3.put_object(Bucket=bucket, Key="v3-in/rows.csv", Body=b"1\n2\n3\n")
    script = tmp_path / "count.py"
    script.write_text(SCRIPT)
    processor = ScriptProcessor(image_uri=SKLEARN_IMAGE, command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=1,
                                sagemaker_session=Session())
    name = unique("v3proc")
    processor.run(code=str(script), job_name=name, wait=True, logs=False, inputs=[
        ProcessingInput(input_name="data", s3_input=ProcessingS3Input(
            s3_uri=f"s3://{bucket}/v3-in", local_path="/opt/ml/processing/input/data",
            s3_data_type="S3Prefix", s3_input_mode="File"))], outputs=[
        ProcessingOutput(output_name="out", s3_output=ProcessingS3Output(
            s3_uri=f"s3://{bucket}/v3-out/{name}", local_path="/opt/ml/processing/out",
            s3_upload_mode="EndOfJob"))])
    described = cove.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    assert objects(s3, bucket, f"v3-out/{name}") == {"count.txt": b"3"}


def _readme_v3_blocks() -> list[str]:
    from tests.test_readme import README

    return [body for body in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
            if "from sagemaker.core" in body]


#: what each v3 block of the README prints last (the main suite skips them: v2 has no
#: sagemaker.core)
README_V3_OUTPUT = [r"b'hello from v3'", r"b'\[2[01]\.\d*\]'"]


@pytest.mark.parametrize("index", range(len(README_V3_OUTPUT)))
def test_readme_v3_blocks_run_as_printed(cove: Any, cove_env: dict[str, str], tmp_path: Path,
                                         index: int) -> None:
    blocks = _readme_v3_blocks()
    assert len(blocks) == len(README_V3_OUTPUT), "a v3 README block without its expected output"
    script = tmp_path / "example.py"
    script.write_text(blocks[index])
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, text=True,
                         capture_output=True, timeout=600, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-4000:]
    assert re.fullmatch(README_V3_OUTPUT[index], out.stdout.strip().splitlines()[-1]), out.stdout
