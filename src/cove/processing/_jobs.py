"""Processing jobs: the service that keeps their records (``_records``) and the runs that
change them — the training job machinery (queue, shared executor slots, runs,
sandboxed hosts, log streams) with processing's Describe document and hosts."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from cove.executors import Executor, HostWork, Sandbox, instance_resources
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import processing_jobs
from cove.processing._host import ProcessingHost, ProcessingSpec
from cove.processing._records import KIND, ProcessingJob, dump, load
from cove.processing._requests import new_job
from cove.sagemaker import JobStatus, RecordRows
from cove.training import (
    DataPlane,
    HostedJobs,
    HostedRun,
    HostPlan,
    HostResult,
    HostSetup,
    HostSlots,
    Runtime,
    SecondaryStatus,
    TrainingSettings,
    image_kind,
    local_cpus,
)
from cove.training._envs import Environments

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = tuple(s.value for s in JobStatus if s.is_finished())
#: What processingjobconfig.json holds: the job as it was asked for.
CONFIG_KEYS = ("ProcessingJobArn", "ProcessingJobName", "AppSpecification", "Environment",
               "NetworkConfig", "ProcessingInputs", "ProcessingOutputConfig",
               "ProcessingResources", "RoleArn", "StoppingCondition")


class ProcessingJobs(HostedJobs[ProcessingJob]):
    kind = KIND

    def __init__(self, db: Database, data: DataPlane, logs: LogStore, identity: Identity,
                 executor: Executor, sandbox: Sandbox, settings: TrainingSettings,
                 slots: HostSlots) -> None:
        settings.envs_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(db, RecordRows(db, processing_jobs, KIND, load, dump),
                         data, logs, identity, executor, sandbox, slots,
                         Environments(settings.envs_dir, sandbox), settings.endpoint_url)
        self.settings = settings

    def create(self, request: dict[str, Any], region: str, account: str) -> ProcessingJob:
        """Validate a CreateProcessingJob request and queue the job."""
        job = new_job(request, region, account, self.data)
        self.insert(job)
        return job

    @property
    def jobs_dir(self) -> Path:
        return self.settings.home / "processing-jobs"

    def make_run(self, job: ProcessingJob) -> ProcessingRun:
        return ProcessingRun(self, job)

    def stopping(self, job: ProcessingJob, now: float) -> ProcessingJob:
        return job.moved(JobStatus.STOPPING)

    def stopped_before_start(self, job: ProcessingJob, now: float) -> ProcessingJob:
        return job.finished(JobStatus.STOPPED, now)

    def crashed(self, job: ProcessingJob, now: float) -> ProcessingJob:
        return job.finished(JobStatus.FAILED, now, (
            "InternalServerError: cove was restarted while this job was running; its process "
            "ended with the server. Start the job again."))


class ProcessingRun(HostedRun[ProcessingJob]):
    jobs: ProcessingJobs

    def __init__(self, jobs: ProcessingJobs, job: ProcessingJob) -> None:
        super().__init__(jobs, job, LOG_GROUP)

    def phase(self, host: str, status: str, message: str) -> None:
        if host == "algo-1" and status == SecondaryStatus.DOWNLOADING.value:
            self.jobs.change(self.name, lambda j: j.began(time.time()))

    def failed_inside_cove(self, reason: str) -> None:
        self.jobs.change(self.name, lambda j: j.finished(JobStatus.FAILED, time.time(), reason))

    def build_hosts(self) -> list[HostWork]:
        job, settings = self.job, self.jobs.settings
        runtime = Runtime(job.image, image_kind(job.image) or "", True)
        spec = ProcessingSpec(
            config={k: job.config[k] for k in CONFIG_KEYS if k in job.config} | {
                "ProcessingJobArn": job.arn, "ProcessingJobName": job.name},
            inputs=job.inputs, outputs=job.outputs, command=job.command,
            volume_bytes=job.volume_bytes)
        access = self.access_env(settings.region)
        names = tuple(f"algo-{i + 1}" for i in range(self.host_count))
        local = self.jobs.executor.shares_disk
        cpus = local_cpus() if local else int(instance_resources(self.instance_type).cpus)
        hosts: list[HostWork] = []
        for host in names:
            plan = HostPlan(self.name, host, names, {}, {}, self.instance_type, cpus,
                            job.environment)
            setup = HostSetup(job_dir=self.jobs.jobs_dir / self.name / host, output_uri="",
                              code_uri="", entry_point="", entrypoint_override=spec.command,
                              hidden=(settings.home,), readonly=(settings.envs_dir,),
                              access_env=access, stop_grace=settings.stop_grace,
                              limits=settings.limits)
            hosts.append(self.jobs.host_work(partial(ProcessingHost, plan, runtime, spec),
                                             setup, settings.keep_job_dirs))
        return hosts

    def conclude(self, results: list[HostResult]) -> None:
        stopped = next((r.stop_reason for r in results if r.stop_reason), "")
        failed = next((r for r in results if r.failure), None)
        message = "".join(r.message for r in results)[:1024]
        shutting_down, limit = self.shutting_down, self.max_runtime or 0

        def end(job: ProcessingJob) -> ProcessingJob:
            now = time.time()
            if stopped == SecondaryStatus.MAX_RUNTIME_EXCEEDED.value and not shutting_down:
                return job.finished(JobStatus.STOPPED, now, (
                    f"MaxRuntimeExceeded: the job ran longer than its MaxRuntimeInSeconds "
                    f"({limit:.0f} s) and was stopped."), message)
            if stopped and not shutting_down:
                return job.finished(JobStatus.STOPPED, now, exit_message=message)
            if failed is not None or shutting_down:
                return job.finished(JobStatus.FAILED, now, failed.failure if failed else
                                    "InternalServerError: cove shut down while the job was "
                                    "running", message)
            return job.finished(JobStatus.COMPLETED, now, exit_message=message)

        self.jobs.change(self.name, end)
