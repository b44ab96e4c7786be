"""Processing jobs in the CLI (`cove processing ls|describe|logs|stop`) and the console."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.console.conftest import signed_in
from tests.processing.helpers import (
    log_lines,
    processing_job,
    unique,
    upload_script,
    wait,
    wait_for,
)

SLOW = "import time\nprint('step one', flush=True)\ntime.sleep(300)\n"
QUICK = "open('/opt/ml/output/message', 'w').write('all done')\nprint('quick <b>job</b>')\n"


def _cli(cove: Any, *args: str) -> str:
    env = {**os.environ, "COVE_HOME": str(cove.home), "COLUMNS": "250"}
    out = subprocess.run([sys.executable, "-m", "cove", "processing", *args], env=env,
                         text=True, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_cli_lists_describes_shows_logs_and_stops(cove: Any, s3: Any, bucket: str) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    quick, slow = unique("cliq"), unique("clis")
    sm.create_processing_job(**processing_job(quick, upload_script(s3, bucket, QUICK)))
    sm.create_processing_job(**processing_job(slow, upload_script(s3, bucket, SLOW)))
    wait(sm, quick)
    listing = _cli(cove, "ls")
    assert quick in listing and "Completed" in listing and slow in listing
    described = _cli(cove, "describe", quick)
    assert "all done" in described and "sagemaker-scikit-learn" in described
    assert "quick <b>job</b>" in _cli(cove, "logs", quick)
    wait_for(lambda: "step one" in log_lines(logs, slow))
    assert "Stopped" in _cli(cove, "stop", slow)
    assert sm.describe_processing_job(ProcessingJobName=slow)["ProcessingJobStatus"] == "Stopped"
    env = {**os.environ, "COVE_HOME": str(cove.home), "COLUMNS": "250"}
    missing = subprocess.run([sys.executable, "-m", "cove", "processing", "describe", "nope"],
                             env=env, text=True, capture_output=True, timeout=120)
    assert missing.returncode == 1 and "Could not find processing job" in missing.stderr


def test_the_console_lists_shows_and_stops_a_job(cove: Any, s3: Any, bucket: str) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    quick, slow = unique("uiq"), unique("uis")
    sm.create_processing_job(**processing_job(quick, upload_script(s3, bucket, QUICK)))
    sm.create_processing_job(**processing_job(slow, upload_script(s3, bucket, SLOW)))
    wait(sm, quick)
    session, csrf = signed_in(cove)
    listing = session.get(f"{cove.console_url}/ui/processing-jobs?name={quick}", timeout=30)
    assert listing.status_code == 200 and quick in listing.text and slow not in listing.text
    page = session.get(f"{cove.console_url}/ui/processing-jobs/{quick}", timeout=30).text
    assert "all done" in page and "quick &lt;b&gt;job&lt;/b&gt;" in page  # escaped log line
    wait_for(lambda: "step one" in log_lines(logs, slow))
    forged = session.post(f"{cove.console_url}/ui/processing-jobs/{slow}/stop", data={"csrf": "x"},
                          timeout=30)
    assert forged.status_code == 403
    stop = session.post(f"{cove.console_url}/ui/processing-jobs/{slow}/stop", data={"csrf": csrf},
                        timeout=30)
    assert stop.status_code == 200 and stop.url.endswith(f"/ui/processing-jobs/{slow}")
    assert wait(sm, slow, timeout=90)["ProcessingJobStatus"] == "Stopped"
    assert session.get(f"{cove.console_url}/ui/processing-jobs/none", timeout=30).status_code == 404
