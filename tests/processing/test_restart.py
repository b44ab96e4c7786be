"""Processing and training jobs share the executor's slots; a restart fails the running
processing job honestly and starts the queued ones."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CoveServer
from tests.processing.helpers import log_lines, processing_job, unique, upload_script, wait
from tests.training.helpers import script_job, upload_source, wait_for
from tests.training.helpers import wait as wait_training


def test_slots_are_shared_and_a_restart_fails_the_running_job(tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_MAX_PARALLEL_JOBS": "1"}).start()
    try:
        s3, sm, logs = server.client("s3"), server.client("sagemaker"), server.client("logs")
        s3.create_bucket(Bucket="restart")
        sleeper = upload_script(s3, "restart", "import time\nprint('started', flush=True)\n"
                                               "time.sleep(120)\n")
        running, queued = unique("running"), unique("queued")
        sm.create_processing_job(**processing_job(running, sleeper))
        wait_for(lambda: "started" in log_lines(logs, running))
        training = unique("train")
        sm.create_training_job(**script_job(training, "restart", upload_source(
            s3, "restart", {"train.py": "print('trained')\n"})))
        sm.create_processing_job(**processing_job(queued, upload_script(
            s3, "restart", "print('done')\n")))
        # one slot, taken by the running processing job: the training job waits for it
        assert sm.describe_training_job(TrainingJobName=training)["SecondaryStatus"] == \
            "Starting"
        assert "ProcessingStartTime" not in sm.describe_processing_job(
            ProcessingJobName=queued)
        server.kill()
        server.start()
        sm = server.client("sagemaker")
        d = sm.describe_processing_job(ProcessingJobName=running)
        assert d["ProcessingJobStatus"] == "Failed" and "restarted" in d["FailureReason"]
        assert wait_training(sm, training)["TrainingJobStatus"] == "Completed"
        assert wait(sm, queued)["ProcessingJobStatus"] == "Completed"
    finally:
        server.stop()
