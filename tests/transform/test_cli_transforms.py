"""``cove transforms``: what a user sees of transform jobs, progress included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.transform.helpers import create_model, csv_rows, job_request, unique, wait, xgb_model


def cove_cmd(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COVE_HOME": str(home), "COLUMNS": "250"}  # rows on one line each
    return subprocess.run([sys.executable, "-m", "cove", *args], env=env, text=True,
                          capture_output=True, timeout=120)


def test_ls_describe_logs_stop(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, X = xgb_model(s3, bucket)
    s3.put_object(Bucket=bucket, Key="cli/a.csv", Body=csv_rows(X[:7]))
    s3.put_object(Bucket=bucket, Key="cli/b.csv", Body=csv_rows(X[7:10]))
    name = unique("cli")
    sm.create_transform_job(**job_request(name, create_model(sm, url), f"s3://{bucket}/cli/",
                                          f"s3://{bucket}/cli-out"))
    assert wait(sm, name)["TransformJobStatus"] == "Completed"

    listed = cove_cmd(cove.home, "transforms", "ls")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if name in line)
    assert "Completed" in row and "10 / 10 (100%)" in row and "2 / 2" in row

    described = cove_cmd(cove.home, "transforms", "describe", name)
    assert described.returncode == 0, described.stderr
    text = " ".join(described.stdout.split())
    assert f"s3://{bucket}/cli/ (S3Prefix, text/csv, SplitType Line)" in text
    assert f"s3://{bucket}/cli-out" in text and "BatchStrategy MultiRecord" in text
    assert "10 / 10 (100%)" in text

    logs = cove_cmd(cove.home, "transforms", "logs", name)
    assert logs.returncode == 0, logs.stderr
    assert "Completed: 10 record(s) in 2 object(s)" in logs.stdout

    stopped = cove_cmd(cove.home, "transforms", "stop", name)
    assert stopped.returncode == 1 and "only an InProgress job can be stopped" in " ".join(
        stopped.stderr.split())
