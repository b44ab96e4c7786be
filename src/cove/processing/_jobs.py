"""Processing jobs: rows whose ``describe`` column is what DescribeProcessingJob returns, and
the runs that change them — the training job machinery (queue, shared executor slots, runs,
sandboxed hosts, log streams) with processing's Describe document and hosts."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from cove.executors import Executor, HostWork, Sandbox, instance_resources
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import processing_jobs
from cove.processing._host import ProcessingHost, ProcessingSpec
from cove.sagemaker import DescribedRows
from cove.training import (
    DataPlane,
    HostedJobs,
    HostedRun,
    HostPlan,
    HostResult,
    HostSetup,
    HostSlots,
    Runtime,
    TrainingSettings,
    image_kind,
    local_cpus,
)
from cove.training._envs import Environments

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
GIB = 1 << 30
#: What processingjobconfig.json holds: the job as it was asked for.
CONFIG_KEYS = ("ProcessingJobArn", "ProcessingJobName", "AppSpecification", "Environment",
               "NetworkConfig", "ProcessingInputs", "ProcessingOutputConfig",
               "ProcessingResources", "RoleArn", "StoppingCondition")


class ProcessingJobs(HostedJobs):
    status_key = "ProcessingJobStatus"
    kind = "processing job"

    def __init__(self, db: Database, data: DataPlane, logs: LogStore, identity: Identity,
                 executor: Executor, sandbox: Sandbox, settings: TrainingSettings,
                 slots: HostSlots) -> None:
        settings.envs_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(db, DescribedRows(db, processing_jobs, "processing job",
                                           "ProcessingJob"),
                         data, logs, identity, executor, sandbox, slots,
                         Environments(settings.envs_dir, sandbox), settings.endpoint_url)
        self.settings = settings

    @property
    def jobs_dir(self) -> Any:
        return self.settings.home / "processing-jobs"

    def waiting(self, describe: dict[str, Any]) -> bool:
        return "ProcessingStartTime" not in describe

    def host_count(self, describe: dict[str, Any]) -> int:
        return int(describe["ProcessingResources"]["ClusterConfig"]["InstanceCount"])

    def make_run(self, describe: dict[str, Any]) -> ProcessingRun:
        return ProcessingRun(self, describe)

    def stopping(self, d: dict[str, Any]) -> None:
        d["ProcessingJobStatus"] = "Stopping"

    def stopped_before_start(self, d: dict[str, Any]) -> None:
        _finish(d, "Stopped")

    def crashed(self, d: dict[str, Any]) -> None:
        _finish(d, "Failed", "InternalServerError: cove was restarted while this job was "
                             "running; its process ended with the server. Start the job again.")


class ProcessingRun(HostedRun):
    jobs: ProcessingJobs

    def __init__(self, jobs: ProcessingJobs, describe: dict[str, Any]) -> None:
        cluster = describe["ProcessingResources"]["ClusterConfig"]
        super().__init__(jobs, describe, LOG_GROUP, int(cluster["InstanceCount"]),
                         cluster["InstanceType"],
                         float(describe["StoppingCondition"]["MaxRuntimeInSeconds"]))

    def phase(self, host: str, status: str, message: str) -> None:
        if host == "algo-1" and status == "Downloading":
            self.jobs.change(self.name, _started)

    def failed_inside_cove(self, reason: str) -> None:
        self.jobs.change(self.name, lambda d: _finish(d, "Failed", reason))

    def build_hosts(self) -> list[HostWork]:
        d, settings = self.describe, self.jobs.settings
        app = d["AppSpecification"]
        runtime = Runtime(app["ImageUri"], image_kind(app["ImageUri"]) or "", True)
        cluster = d["ProcessingResources"]["ClusterConfig"]
        spec = ProcessingSpec(
            config={k: d[k] for k in CONFIG_KEYS if k in d},
            inputs=tuple(d.get("ProcessingInputs", [])),
            outputs=tuple(d.get("ProcessingOutputConfig", {}).get("Outputs", [])),
            command=(*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])),
            volume_bytes=int(cluster["VolumeSizeInGB"]) * GIB)
        access = self.access_env(settings.region)
        names = tuple(f"algo-{i + 1}" for i in range(self.host_count))
        local = self.jobs.executor.shares_disk
        cpus = local_cpus() if local else int(instance_resources(self.instance_type).cpus)
        hosts: list[HostWork] = []
        for host in names:
            plan = HostPlan(self.name, host, names, {}, {}, self.instance_type, cpus,
                            d.get("Environment", {}))
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
        shutting_down, limit = self.shutting_down, self.max_runtime

        def mutate(d: dict[str, Any]) -> None:
            if message:
                d["ExitMessage"] = message
            if stopped == "MaxRuntimeExceeded" and not shutting_down:
                _finish(d, "Stopped", f"MaxRuntimeExceeded: the job ran longer than its "
                                      f"MaxRuntimeInSeconds ({limit:.0f} s) and was stopped.")
            elif stopped and not shutting_down:
                _finish(d, "Stopped")
            elif failed is not None or shutting_down:
                _finish(d, "Failed", failed.failure if failed else
                        "InternalServerError: cove shut down while the job was running")
            else:
                _finish(d, "Completed")

        self.jobs.change(self.name, mutate)


def _started(d: dict[str, Any]) -> None:
    d.setdefault("ProcessingStartTime", time.time())


def _finish(d: dict[str, Any], status: str, failure: str = "") -> None:
    now = time.time()
    d["ProcessingJobStatus"] = status
    d["ProcessingEndTime"] = now
    d.setdefault("ProcessingStartTime", now)
    if failure:
        d["FailureReason"] = failure[:1024]
