"""``cove pipelines`` against a real server: ls, describe, start --wait, executions, an
execution's steps, stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.pipelines.helpers import create, source, steps, training_step
from tests.training.helpers import unique, wait_for


def cove_cmd(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cove", *args, "--home", str(home)],
                          env={**os.environ, "COLUMNS": "200"}, text=True,
                          capture_output=True, timeout=240)


def test_pipelines_cli(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    name = unique("clipipe")
    code = source(s3, bucket)
    create(sm, name, [training_step("Train", bucket, code)],
           [{"Name": "Note", "Type": "String", "DefaultValue": "x"}])
    assert name in cove_cmd(cove.home, "pipelines", "ls").stdout
    described = cove_cmd(cove.home, "pipelines", "describe", name)
    assert "Train" in described.stdout and "Note" in described.stdout

    started = cove_cmd(cove.home, "pipelines", "start", name, "-p", "Note=y", "--wait")
    assert started.returncode == 0, started.stderr
    assert "Succeeded" in started.stdout and "TrainingJob pipelines-" in started.stdout
    listed = cove_cmd(cove.home, "pipelines", "executions", name)
    assert listed.stdout.count("Succeeded") == 1

    bad = cove_cmd(cove.home, "pipelines", "start", name, "-p", "Nope=1")
    assert bad.returncode != 0 and "Nope" in bad.stdout + bad.stderr

    slow = unique("clislow")
    create(sm, slow, [training_step("Slow", bucket, code, pause=120)])
    arn = sm.start_pipeline_execution(PipelineName=slow, ClientRequestToken="c" * 32)[
        "PipelineExecutionArn"]
    wait_for(lambda: steps(sm, arn).get("Slow", {}).get("StepStatus") == "Executing")
    stopped = cove_cmd(cove.home, "pipelines", "stop", arn)
    assert "Stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    shown = cove_cmd(cove.home, "pipelines", "execution", arn)
    assert "Slow" in shown.stdout and "Stopped" in shown.stdout
