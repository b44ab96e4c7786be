"""One training host, start to end: build its job directory, run the entry point in the
sandbox, stream its output, and (on the first host) upload what it left in model/ and output/.

The routine knows nothing of the metadata database: it reports through ``HostEvents``, so the
same code can run wherever an executor puts it — ``LocalHostWork`` on this machine,
``RemoteHostWork`` on a Ray node (its job directory there, its data through cove's S3 API).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from cove import errors
from cove.executors import Event, ProcessSpec, Sandbox, exceeded, kill, quota_for
from cove.training import _contract as contract
from cove.training._contract import CONTAINER_ROOT, HostPlan
from cove.training._data import DataPlane
from cove.training._envs import Environments
from cove.training._records import SecondaryStatus
from cove.training._runtimes import Runtime
from cove.untrusted import ArchiveLimits, Unsafe, extract_tar, pack_tree, read_capped

FAILURE_LIMIT = 1024
TAIL_LINES = 20


class HostEvents(Protocol):
    def phase(self, host: str, status: str, message: str) -> None: ...
    def log(self, host: str, lines: list[str]) -> None: ...


@dataclass(frozen=True)
class HostResult:
    host: str
    exit_code: int | None  # None: never started
    failure: str  # "" when it succeeded
    stop_reason: str  # "" unless stopped: "Stopped" or "MaxRuntimeExceeded"
    message: str = ""  # what the job left for ExitMessage (processing jobs)


@dataclass(frozen=True)
class HostSetup:
    """Where and how a host runs, beside its plan."""

    job_dir: Path
    output_uri: str  # {S3OutputPath}/{job}/output
    code_uri: str  # sagemaker_submit_directory, "" for built-ins
    entry_point: str
    entrypoint_override: tuple[str, ...]  # ContainerEntrypoint + ContainerArguments
    hidden: tuple[Path, ...]
    readonly: tuple[Path, ...]
    access_env: dict[str, str]  # AWS_ENDPOINT_URL, scoped credentials, region
    stop_grace: float
    limits: ArchiveLimits = ArchiveLimits()  # what sourcedir.tar.gz may unpack to


class TrainingHost:
    """One training host.  Processing hosts (``cove.processing``) build on it: they share the
    sandboxed process, its log lines, stop and the failure tail, and bring their own
    ``run``, ``environment`` and job directory."""

    def __init__(self, plan: HostPlan, runtime: Runtime, setup: HostSetup, data: DataPlane,
                 sandbox: Sandbox, envs: Environments, events: HostEvents) -> None:
        self.plan, self.runtime, self.setup = plan, runtime, setup
        self.data, self.sandbox, self.envs, self.events = data, sandbox, envs, events
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop_reason = ""
        self._lock = threading.Lock()
        self._tail: list[str] = []
        self._env_bin = ""  # the SDK v3 driver's requirements environment's bin/, first on PATH

    # --- control ----------------------------------------------------------------------------

    def stop(self, reason: str = SecondaryStatus.STOPPED.value) -> None:
        """SIGTERM the process group now, SIGKILL it after the grace period."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            proc = self._proc
        if proc is not None and proc.poll() is None:
            self.sandbox.terminate(proc)
            timer = threading.Timer(self.setup.stop_grace, kill, (proc,))
            timer.daemon = True
            timer.start()

    # --- the routine ------------------------------------------------------------------------

    def run(self) -> HostResult:
        host = self.plan.host
        if self.sandbox.warning:
            self._log([self.sandbox.warning])
        if self._stopped_early():
            return HostResult(host, None, "", self._stop_reason)
        self.events.phase(host, SecondaryStatus.DOWNLOADING.value, "Downloading input data")
        if self.runtime.gpu:
            self._log([self.runtime.gpu_note()])
        try:
            command, cwd = self._prepare()
        except errors.ClientError as exc:  # the job's own inputs: its code, its requirements
            self._log([f"cove: {exc.message}"])
            return HostResult(host, None, f"ClientError: {exc.message}"[:FAILURE_LIMIT], "")
        if self._stopped_early():
            return HostResult(host, None, "", self._stop_reason)
        self.events.phase(host, SecondaryStatus.TRAINING.value,
                          "Training image download completed. Training in progress.")
        code = self._execute(command, cwd)
        failure = "" if code == 0 or self._stop_reason else self._failure(code)
        if self.plan.is_master and (code == 0 or self._stop_reason):
            self.events.phase(host, SecondaryStatus.UPLOADING.value,
                              "Uploading generated training model")
            self._upload()
        return HostResult(host, code, failure, self._stop_reason)

    def _stopped_early(self) -> bool:
        with self._lock:
            return bool(self._stop_reason)

    def _prepare(self) -> tuple[list[str], Path]:
        job_dir = self.setup.job_dir
        contract.layout(job_dir)
        contract.write_configs(job_dir, self.plan)
        for name, channel in self.plan.channels.items():
            count = self.data.fetch_channel(channel, job_dir / "input" / "data" / name,
                                            self.shard(channel["DataSource"]["S3DataSource"]))
            self._log([f"Channel {name}: {count} object(s) from "
                       f"{channel['DataSource']['S3DataSource']['S3Uri']}"])
        python = os.environ.get("COVE_JOB_PYTHON") or self.runtime.builtin_command()[0]
        if self.runtime.script_mode and self.setup.code_uri:
            self._fetch_code(job_dir / "code")
            requirements = job_dir / "code" / "requirements.txt"
            if requirements.exists():
                python = self.envs.python_for(requirements, lambda line: self._log([line]))
        if self.setup.entrypoint_override and "sm_drivers" in self.plan.channels:
            self._driver_requirements(job_dir / "input" / "data")
        return self._command(python), self._root() / "code"

    def _driver_requirements(self, data: Path) -> None:
        """SDK v3's ``sm_train.sh`` pip-installs ``SourceCode.requirements`` (named in
        ``sm_drivers/sourcecode.json``, relative to the ``code`` channel) into the image's
        Python, which is read-only here.  The job gets the cached environment for that file
        first on PATH instead, as script mode does; pip then finds everything installed."""
        named = driver_requirements(data)
        if named is None:
            return
        scratch = self.setup.job_dir.parent / f".{self.plan.host}.code"
        shutil.rmtree(scratch, ignore_errors=True)
        try:  # built from a copy: the build leaves the job's own code channel as it was
            shutil.copytree(data / "code", scratch, symlinks=True)
            python = self.envs.python_for(scratch / named, lambda line: self._log([line]))
            self._env_bin = str(Path(python).parent)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def shard(self, source: dict[str, Any]) -> tuple[int, int]:
        """This host's share of an S3 source: all of it, or one of N by key (ShardedByS3Key)."""
        if source.get("S3DataDistributionType") == "ShardedByS3Key":
            return self.plan.hosts.index(self.plan.host), len(self.plan.hosts)
        return 0, 1

    def _fetch_code(self, code_dir: Path) -> None:
        archive = code_dir.parent / "sourcedir.tar.gz"
        self.data.fetch_object(self.setup.code_uri, archive)
        try:
            extract_tar(archive, code_dir, self.setup.limits.sourcedir_bytes,
                        self.setup.limits.members, "sourcedir.tar.gz")
        finally:
            archive.unlink()

    def _command(self, python: str) -> list[str]:
        if self.setup.entrypoint_override:
            return list(self.setup.entrypoint_override)
        if self.runtime.script_mode:
            return [python, self.setup.entry_point,
                    *contract.script_arguments(self.plan.hyperparameters)]
        return [python, "-m", self.runtime.algorithm_module]

    def _root(self) -> Path:
        return CONTAINER_ROOT if self.sandbox.mounts_opt_ml else self.setup.job_dir

    def _execute(self, command: list[str], cwd: Path) -> int:
        # One network for the job's hosts: they reach each other as algo-N on its loopback.
        kind = self.setup.job_dir.parent.parent.name  # jobs | processing-jobs
        spec = ProcessSpec(command, self.environment(), self.setup.job_dir, cwd,
                           self.setup.hidden, self.setup.readonly,
                           {h: "127.0.0.1" for h in self.plan.hosts},
                           network=f"{kind}-{self.plan.job_name}",
                           quota=quota_for(self.plan.instance_type))
        with self._lock:
            if self._stop_reason:
                return -signal.SIGTERM
            self._proc = self.sandbox.spawn(spec, subprocess.PIPE)
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            self._log([raw.decode("utf-8", "replace").rstrip("\n")])
        return self._proc.wait()

    def environment(self) -> dict[str, str]:
        """The process's environment: the training toolkit's ``SM_*`` variables and access."""
        env = contract.base_environment({
            **contract.environment(self.plan, self._root(), self.setup.entry_point),
            **self.setup.access_env, "HOME": str(self._root())})
        if self._env_bin:
            env["PATH"] = os.pathsep.join([self._env_bin, env["PATH"]])
        return env

    def _log(self, lines: list[str]) -> None:
        self._tail = (self._tail + lines)[-TAIL_LINES:]
        self.events.log(self.plan.host, lines)

    def _failure(self, code: int) -> str:
        over = exceeded(self._proc) if self._proc is not None else ""
        if over:  # the sandbox was killed for it: whatever the job wrote is beside the point
            return (f"AlgorithmError: {over}. Last log lines:\n"
                    + "\n".join(self._tail))[:FAILURE_LIMIT]
        # output/failure is the job's to write: read at most the first KiB, never through a link
        try:
            written = read_capped(self.setup.job_dir, "output/failure", FAILURE_LIMIT)
        except Unsafe as exc:
            self._log([f"cove: output/failure was not read: {exc}"])
            written = None
        reason = written.decode("utf-8", "replace").strip() if written else ""
        if not reason:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            reason = f"the training process {how}. Last log lines:\n" + "\n".join(self._tail)
        return ("AlgorithmError: " + reason)[:FAILURE_LIMIT]

    def _upload(self) -> None:
        output = self.setup.output_uri
        self._upload_tree("model", f"{output}/model.tar.gz", always=True)
        self._upload_tree("output/data", f"{output}/output.tar.gz", always=False)

    def _upload_tree(self, relative: str, uri: str, always: bool) -> None:
        """Pack ``relative`` (of the job directory, which user code wrote) without following
        its links, into a file beside the job directory where user code cannot reach."""
        fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".tar.gz",
                                    dir=self.setup.job_dir.parent)
        archive = Path(name)
        try:
            with open(fd, "wb") as out:
                packed = pack_tree(self.setup.job_dir, relative, out,
                                   lambda line: self._log([line]))
            if always or packed.files:
                self.data.upload_file(archive, uri, "application/x-tar")
        finally:
            archive.unlink()


def driver_requirements(data: Path) -> str | None:
    """The requirements file SDK v3's ``sm_drivers/sourcecode.json`` names, as a path inside
    the ``code`` channel; None if it names none.  The file is the job's: read capped, never
    through a link, and a name that leaves the code channel is a ClientError."""
    try:
        raw = read_capped(data, "sm_drivers/sourcecode.json", 64 * 1024)
        settings = json.loads(raw) if raw else {}
    except (Unsafe, ValueError) as exc:
        raise errors.ClientError(f"sm_drivers/sourcecode.json is not readable JSON: "
                                 f"{exc}") from exc
    named = settings.get("requirements") if isinstance(settings, dict) else None
    if not named or not isinstance(named, str) or named == "auto":
        return None
    parts = PurePosixPath(named).parts
    if PurePosixPath(named).is_absolute() or ".." in parts:
        raise errors.ClientError(f"SourceCode.requirements {named!r} must be a file in the "
                                 f"source directory.")
    path = data / "code" / named
    if path.is_symlink() or not path.is_file():
        raise errors.ClientError(f"SourceCode.requirements {named!r} is not a file in the "
                                 f"source directory (the code channel).")
    return named


def remove_job_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)



class EventSink:
    """``HostEvents`` that turn each report into an executor ``Event``."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit

    def phase(self, host: str, status: str, message: str) -> None:
        self.emit(("phase", (host, status, message)))

    def log(self, host: str, lines: list[str]) -> None:
        self.emit(("log", (host, lines)))


#: Builds a host where it runs: (setup, data plane, sandbox, environments, events) -> host.
#: ``functools.partial(TrainingHost, plan, runtime)``, picklable for a remote executor.
HostFactory = Callable[[HostSetup, DataPlane, Sandbox, Environments, HostEvents], TrainingHost]


class LocalHostWork:
    """A host on this machine: inputs copied from the store, cove's sandbox and
    environments."""

    def __init__(self, make: HostFactory, setup: HostSetup, data: DataPlane, sandbox: Sandbox,
                 envs: Environments, keep_job_dir: bool) -> None:
        self.host = make(setup, data, sandbox, envs, EventSink(_unset))
        self.keep_job_dir = keep_job_dir

    def run(self, events: Callable[[Event], None]) -> HostResult:
        self.host.events = EventSink(events)
        try:
            return self.host.run()
        finally:
            if not self.keep_job_dir:
                remove_job_dir(self.host.setup.job_dir)

    def stop(self, reason: str) -> None:
        self.host.stop(reason)


class RemoteHostWork:
    """A host shipped to another machine (a Ray node): it builds its job directory under that
    machine's temp directory, reaches data through cove's S3 API, and confines the job with
    the best sandbox that machine has.  Picklable: plain data until ``run``."""

    def __init__(self, make: HostFactory, setup: HostSetup, sandbox: str,
                 keep_job_dir: bool) -> None:
        self.make, self.setup = make, setup
        self.sandbox, self.keep_job_dir = sandbox, keep_job_dir
        self._host: TrainingHost | None = None
        self._stop_reason = ""

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_host": None}

    def run(self, events: Callable[[Event], None]) -> HostResult:
        import tempfile

        from cove.executors import choose_sandbox
        from cove.training._data import S3DataPlane

        root = Path(tempfile.gettempdir()) / f"cove-node-{os.getuid()}"
        sandbox = choose_sandbox(self.sandbox)
        local_dir = self.setup.job_dir  # <jobs>/<job>/<host> on cove's machine
        kind = local_dir.parent.parent.name  # jobs | processing-jobs: names may repeat
        setup = replace(self.setup,
                        job_dir=root / kind / local_dir.parent.name / local_dir.name,
                        hidden=tuple(p for p in self.setup.hidden if p.exists()),
                        readonly=(root / "envs",))
        (root / "envs").mkdir(parents=True, exist_ok=True)
        host = self.make(setup, S3DataPlane(setup.access_env), sandbox,
                         Environments(root / "envs", sandbox), EventSink(events))
        self._host = host
        if self._stop_reason:
            host.stop(self._stop_reason)
        try:
            return host.run()
        finally:
            if not self.keep_job_dir:
                remove_job_dir(setup.job_dir)

    def stop(self, reason: str) -> None:
        self._stop_reason = self._stop_reason or reason
        if self._host is not None:
            self._host.stop(reason)


def _unset(event: Event) -> None:
    raise RuntimeError("a training host reported before it was started")
