"""Training jobs: their state in the metadata database and the runs that change it.

A job is a row whose ``describe`` column is exactly what DescribeTrainingJob returns.  Jobs
queue (InProgress / Starting) until the executor has slots for their hosts, then start in
creation order.  A run reports phases, log lines and metrics as they happen; every change is a
transaction, so a restart loses nothing acknowledged.  Jobs that were running when cove stopped
are marked Failed on the next start (their processes died with cove); queued ones start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cove.executors import Executor, HostWork, Sandbox, instance_resources
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import training_jobs
from cove.sagemaker import DescribedRows
from cove.training import _metrics as metrics
from cove.training._contract import HostPlan, decode_hyperparameters
from cove.training._data import DataPlane
from cove.training._envs import Environments
from cove.training._host import HostResult, HostSetup, TrainingHost
from cove.training._runs import HostedJobs, HostedRun, HostSlots, local_cpus
from cove.training._runtimes import resolve_runtime
from cove.untrusted import ArchiveLimits

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class TrainingSettings:
    home: Path
    endpoint_url: str
    region: str
    stop_grace: float = 30.0
    keep_job_dirs: bool = False
    limits: ArchiveLimits = ArchiveLimits()

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def envs_dir(self) -> Path:
        return self.home / "envs"


class TrainingJobs(HostedJobs):
    status_key = "TrainingJobStatus"
    kind = "training job"

    def __init__(self, db: Database, data: DataPlane, logs: LogStore, identity: Identity,
                 executor: Executor, sandbox: Sandbox, settings: TrainingSettings,
                 slots: HostSlots | None = None) -> None:
        settings.envs_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(db, DescribedRows(db, training_jobs, "training job", "TrainingJob"),
                         data, logs, identity, executor, sandbox, slots or HostSlots(executor),
                         Environments(settings.envs_dir, sandbox), settings.endpoint_url)
        self.settings = settings

    def waiting(self, describe: dict[str, Any]) -> bool:
        return bool(describe["SecondaryStatus"] == "Starting")

    def host_count(self, describe: dict[str, Any]) -> int:
        return int(describe["ResourceConfig"]["InstanceCount"])

    def make_run(self, describe: dict[str, Any]) -> JobRun:
        return JobRun(self, describe)

    def stopping(self, d: dict[str, Any]) -> None:
        _set_status(d, "Stopping", "Stopping", "Stopping the training job")

    def stopped_before_start(self, d: dict[str, Any]) -> None:
        _finish(d, "Stopped", "Stopped", "The job was stopped before it started")

    def crashed(self, d: dict[str, Any]) -> None:
        _finish(d, "Failed", "Failed", "cove stopped while the job was running",
                failure="InternalServerError: cove was restarted while this job was running; "
                        "its process ended with the server. Start the job again.")


class JobRun(HostedRun):
    """The run of one training job: its hosts, its log streams, its metrics, its final
    status."""

    jobs: TrainingJobs

    def __init__(self, jobs: TrainingJobs, describe: dict[str, Any]) -> None:
        limit = describe["StoppingCondition"].get("MaxRuntimeInSeconds")
        super().__init__(jobs, describe, LOG_GROUP,
                         int(describe["ResourceConfig"]["InstanceCount"]),
                         describe["ResourceConfig"]["InstanceType"],
                         float(limit) if limit else None)
        self.parser = metrics.MetricParser(
            describe["AlgorithmSpecification"].get("MetricDefinitions", []))

    def phase(self, host: str, status: str, message: str) -> None:
        if host != "algo-1":
            return
        def mutate(d: dict[str, Any]) -> None:
            if d["TrainingJobStatus"] == "InProgress":
                _transition(d, status, message)
            if status == "Downloading" and "TrainingStartTime" not in d:
                d["TrainingStartTime"] = time.time()
        self.jobs.change(self.name, mutate)

    def parse(self, lines: list[str], now: float) -> list[dict[str, float | str | int]]:
        return [p for line in lines for p in self.parser.parse(line, now)]

    def record(self, points: list[dict[str, float | str | int]]) -> None:
        metrics.record(self.jobs.db, self.name, points)

    def failed_inside_cove(self, reason: str) -> None:
        self.jobs.change(self.name, lambda d: _finish(
            d, "Failed", "Failed", "cove could not run the job", failure=reason))

    def build_hosts(self) -> list[HostWork]:
        d, settings = self.describe, self.jobs.settings
        runtime = resolve_runtime(d["AlgorithmSpecification"]["TrainingImage"],
                                  d.get("HyperParameters", {}))
        access = self.access_env(settings.region)
        decoded = decode_hyperparameters(d.get("HyperParameters", {}))
        spec = d["AlgorithmSpecification"]
        override = tuple(spec.get("ContainerEntrypoint", [])) + tuple(
            spec.get("ContainerArguments", []))
        names = tuple(f"algo-{i + 1}" for i in range(self.host_count))
        channels = {c["ChannelName"]: c for c in d.get("InputDataConfig", [])}
        instance_type = d["ResourceConfig"]["InstanceType"]
        local = self.jobs.executor.shares_disk
        cpus = local_cpus() if local else int(instance_resources(instance_type).cpus)
        hosts: list[HostWork] = []
        for host in names:
            plan = HostPlan(self.name, host, names, d.get("HyperParameters", {}), channels,
                            instance_type, cpus, d.get("Environment", {}))
            setup = HostSetup(
                job_dir=settings.jobs_dir / self.name / host,
                output_uri=f"{d['OutputDataConfig']['S3OutputPath'].rstrip('/')}/"
                           f"{self.name}/output",
                code_uri=str(decoded.get("sagemaker_submit_directory", "")),
                entry_point=str(decoded.get("sagemaker_program", "")),
                entrypoint_override=override, hidden=(settings.home,),
                readonly=(settings.envs_dir,),
                access_env=access, stop_grace=settings.stop_grace, limits=settings.limits)
            hosts.append(self.jobs.host_work(partial(TrainingHost, plan, runtime), setup,
                                             settings.keep_job_dirs))
        return hosts

    def conclude(self, results: list[HostResult]) -> None:
        stopped = next((r.stop_reason for r in results if r.stop_reason), "")
        failed = next((r for r in results if r.failure), None)
        final = metrics.final_values(self.jobs.db, self.name)
        master = results[0]
        artifacts = master.exit_code == 0 or bool(stopped and master.exit_code is not None)
        output = self.describe["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        shutting_down = self.shutting_down

        def mutate(d: dict[str, Any]) -> None:
            d["FinalMetricDataList"] = final
            if artifacts:
                d["ModelArtifacts"] = {
                    "S3ModelArtifacts": f"{output}/{self.name}/output/model.tar.gz"}
            if stopped and not shutting_down:
                _finish(d, "Stopped", stopped, "Training job stopped" if stopped == "Stopped"
                        else "The job reached its MaxRuntimeInSeconds and was stopped")
            elif failed is not None or shutting_down:
                reason = failed.failure if failed else (
                    "InternalServerError: cove shut down while the job was running")
                _finish(d, "Failed", "Failed", "Training job failed", failure=reason)
            else:
                _finish(d, "Completed", "Completed", "Training job completed")

        self.jobs.change(self.name, mutate)


# --- Describe document edits ------------------------------------------------------------------

def _transition(d: dict[str, Any], status: str, message: str) -> None:
    now = time.time()
    transitions = d.setdefault("SecondaryStatusTransitions", [])
    if transitions and transitions[-1]["Status"] == status:
        return
    if transitions:
        transitions[-1]["EndTime"] = now
    transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    d["SecondaryStatus"] = status


def _set_status(d: dict[str, Any], status: str, secondary: str, message: str) -> None:
    d["TrainingJobStatus"] = status
    _transition(d, secondary, message)


def _finish(d: dict[str, Any], status: str, secondary: str, message: str,
            failure: str = "") -> None:
    _set_status(d, status, secondary, message)
    last = d["SecondaryStatusTransitions"][-1]
    now = last["EndTime"] = last["StartTime"]  # the final status ends where it begins
    if failure:
        d["FailureReason"] = failure
    d["TrainingEndTime"] = now
    start = d.get("TrainingStartTime", now)
    d.setdefault("TrainingStartTime", start)
    d["TrainingTimeInSeconds"] = max(1, round(now - start))
    d["BillableTimeInSeconds"] = d["TrainingTimeInSeconds"] * int(
        d["ResourceConfig"]["InstanceCount"])


__all__ = ["LOG_GROUP", "TERMINAL", "JobRun", "TrainingJobs", "TrainingSettings"]
