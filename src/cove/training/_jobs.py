"""Training jobs: their state in the metadata database and the runs that change it.

A job is a :class:`TrainingJob` record (stored by ``_rows``); this service owns its rules:
CreateTrainingJob's validation, the lifecycle, the queue.  Jobs
queue (InProgress / Starting) until the executor has slots for their hosts, then start in
creation order.  A run reports phases, log lines and metrics as they happen; every change is a
transaction, so a restart loses nothing acknowledged.  Jobs that were running when cove stopped
are marked Failed on the next start (their processes died with cove); queued ones start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from cove.executors import Executor, HostWork, Sandbox, instance_resources
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import training_jobs
from cove.sagemaker import JobStatus, RecordRows
from cove.training import _metrics as metrics
from cove.training import _rows
from cove.training._contract import HostPlan, decode_hyperparameters
from cove.training._data import DataPlane
from cove.training._envs import Environments
from cove.training._host import HostResult, HostSetup, TrainingHost
from cove.training._records import KIND, FinalMetric, SecondaryStatus, TrainingJob
from cove.training._requests import new_job
from cove.training._runs import HostedJobs, HostedRun, HostSlots, local_cpus
from cove.training._runtimes import resolve_runtime
from cove.untrusted import ArchiveLimits

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = tuple(s.value for s in JobStatus if s.is_finished())


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


class TrainingJobs(HostedJobs[TrainingJob]):
    """The training-job service: CreateTrainingJob's rules, the queue and the runs."""

    kind = KIND

    def __init__(self, db: Database, data: DataPlane, logs: LogStore, identity: Identity,
                 executor: Executor, sandbox: Sandbox, settings: TrainingSettings,
                 slots: HostSlots | None = None) -> None:
        settings.envs_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(db, RecordRows(db, training_jobs, KIND, _rows.load, _rows.dump),
                         data, logs, identity, executor, sandbox, slots or HostSlots(executor),
                         Environments(settings.envs_dir, sandbox), settings.endpoint_url)
        self.settings = settings

    def create(self, request: dict[str, Any], region: str, account: str,
               tuning_job_arn: str = "") -> TrainingJob:
        """Validate a CreateTrainingJob request (a tuning job's trial's too) and queue the
        job; ValidationException and nothing stored if cove cannot run it."""
        job = self.check(request, region, account, tuning_job_arn)
        self.insert(job)
        return job

    def check(self, request: dict[str, Any], region: str, account: str,
              tuning_job_arn: str = "") -> TrainingJob:
        """The job ``request`` would make, not stored: CreateTrainingJob's own error if cove
        could not run it (a tuning job checks its definition this way)."""
        return new_job(request, region, account, self.data, tuning_job_arn)

    def make_run(self, job: TrainingJob) -> JobRun:
        return JobRun(self, job)

    def stopping(self, job: TrainingJob, now: float) -> TrainingJob:
        return job.moved(JobStatus.STOPPING, SecondaryStatus.STOPPING,
                         "Stopping the training job", now)

    def stopped_before_start(self, job: TrainingJob, now: float) -> TrainingJob:
        return job.finished(JobStatus.STOPPED, SecondaryStatus.STOPPED,
                            "The job was stopped before it started", now)

    def crashed(self, job: TrainingJob, now: float) -> TrainingJob:
        return job.finished(
            JobStatus.FAILED, SecondaryStatus.FAILED, "cove stopped while the job was running",
            now, failure="InternalServerError: cove was restarted while this job was running; "
                         "its process ended with the server. Start the job again.")


class JobRun(HostedRun[TrainingJob]):
    """The run of one training job: its hosts, its log streams, its metrics, its final
    status."""

    jobs: TrainingJobs

    def __init__(self, jobs: TrainingJobs, job: TrainingJob) -> None:
        super().__init__(jobs, job, LOG_GROUP)
        self.parser = metrics.MetricParser(job.metric_definitions)

    def phase(self, host: str, status: str, message: str) -> None:
        if host != "algo-1":
            return
        secondary = SecondaryStatus(status)
        self.jobs.change(self.name, lambda j: j.phase(secondary, message, time.time()))

    def waiting_for(self, message: str) -> None:
        self.jobs.change(self.name, lambda j: j.waiting_for(message))

    def parse(self, lines: list[str], now: float) -> list[dict[str, float | str | int]]:
        return [p for line in lines for p in self.parser.parse(line, now)]

    def record(self, points: list[dict[str, float | str | int]]) -> None:
        metrics.record(self.jobs.db, self.name, points)

    def failed_inside_cove(self, reason: str) -> None:
        self.jobs.change(self.name, lambda j: j.finished(
            JobStatus.FAILED, SecondaryStatus.FAILED, "cove could not run the job", time.time(),
            failure=reason))

    def build_hosts(self) -> list[HostWork]:
        job, settings = self.job, self.jobs.settings
        runtime = resolve_runtime(job.image, job.hyperparameters)
        access = self.access_env(settings.region)
        decoded = decode_hyperparameters(job.hyperparameters)
        override = tuple(job.algorithm.get("ContainerEntrypoint", [])) + tuple(
            job.algorithm.get("ContainerArguments", []))
        names = tuple(f"algo-{i + 1}" for i in range(self.host_count))
        local = self.jobs.executor.shares_disk
        cpus = local_cpus() if local else int(instance_resources(job.instance_type).cpus)
        hosts: list[HostWork] = []
        for host in names:
            plan = HostPlan(self.name, host, names, job.hyperparameters, job.channels,
                            job.instance_type, cpus, job.environment)
            setup = HostSetup(
                job_dir=settings.jobs_dir / self.name / host,
                output_uri=f"{job.output_path}/{self.name}/output",
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
        final = tuple(FinalMetric(str(m["MetricName"]), float(m["Value"]), float(m["Timestamp"]))
                      for m in metrics.final_values(self.jobs.db, self.name))
        master = results[0]
        artifacts = master.exit_code == 0 or bool(stopped and master.exit_code is not None)
        model = f"{self.job.output_path}/{self.name}/output/model.tar.gz" if artifacts else ""
        shutting_down = self.shutting_down

        def end(job: TrainingJob) -> TrainingJob:
            job = replace(job, final_metrics=final, model_artifacts=model or job.model_artifacts)
            now = time.time()
            if stopped and not shutting_down:
                return job.finished(JobStatus.STOPPED, SecondaryStatus(stopped), (
                    "Training job stopped" if stopped == SecondaryStatus.STOPPED.value
                    else "The job reached its MaxRuntimeInSeconds and was stopped"), now)
            if failed is not None or shutting_down:
                reason = failed.failure if failed else (
                    "InternalServerError: cove shut down while the job was running")
                return job.finished(JobStatus.FAILED, SecondaryStatus.FAILED,
                                    "Training job failed", now, failure=reason)
            return job.finished(JobStatus.COMPLETED, SecondaryStatus.COMPLETED,
                                "Training job completed", now)

        self.jobs.change(self.name, end)


__all__ = ["LOG_GROUP", "TERMINAL", "JobRun", "TrainingJobs", "TrainingSettings"]
