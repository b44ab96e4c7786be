"""One processing host, start to end: the processing container contract without the
container.

The job directory is mounted at ``/opt/ml`` as in a SageMaker processing container:
``config/processingjobconfig.json`` and ``config/resourceconfig.json``, each input under its
``LocalPath`` (``/opt/ml/processing/...``), each output's ``LocalPath`` created empty, and
``output/message`` for what the job wants in ExitMessage.  The process is the
``ContainerEntrypoint`` + ``ContainerArguments`` run with the image's Python environment
(cove's, or the cached environment of the ``requirements.txt`` a FrameworkProcessor ships);
at the end every host uploads its outputs' files to their ``S3Uri``.

The server never follows a path the job's code could have changed: the exit message and the
output files are opened one directory at a time with ``O_NOFOLLOW``, and only regular files
are read.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cove import errors
from cove.training import (
    CONTAINER_ROOT,
    DataPlane,
    HostPlan,
    HostResult,
    HostSetup,
    Runtime,
    SecondaryStatus,
    TrainingHost,
    base_environment,
)
from cove.training._envs import Environments
from cove.training._host import FAILURE_LIMIT, HostEvents

PROCESSING_ROOT = PurePosixPath("/opt/ml/processing")
MESSAGE_LIMIT = 1024
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ProcessingSpec:
    """What a processing host runs, beside its plan: the parts of the Describe document."""

    config: dict[str, Any]  # processingjobconfig.json
    inputs: tuple[dict[str, Any], ...]  # ProcessingInputs
    outputs: tuple[dict[str, Any], ...]  # ProcessingOutputConfig.Outputs
    command: tuple[str, ...]  # ContainerEntrypoint + ContainerArguments
    volume_bytes: int  # VolumeSizeInGB: what decompressed inputs may fill


def inside(local_path: str) -> PurePosixPath:
    """A LocalPath relative to /opt/ml, or ValidationError unless it is a clean path under
    /opt/ml/processing/."""
    path = PurePosixPath(local_path)
    parts = path.parts
    if not path.is_absolute() or ".." in parts or "." in parts or path == PROCESSING_ROOT \
            or not path.is_relative_to(PROCESSING_ROOT) or "//" in local_path:
        raise errors.ValidationError(
            f"LocalPath {local_path!r} must be a path under /opt/ml/processing/ (no '.' or "
            "'..' parts), e.g. /opt/ml/processing/input/data.")
    return path.relative_to(CONTAINER_ROOT.as_posix())


class ProcessingHost(TrainingHost):
    """One host of a processing job."""

    def __init__(self, plan: HostPlan, runtime: Runtime, spec: ProcessingSpec,
                 setup: HostSetup, data: DataPlane, sandbox: Any, envs: Environments,
                 events: HostEvents) -> None:
        super().__init__(plan, runtime, setup, data, sandbox, envs, events)
        self.spec = spec
        self._env_bin = ""  # a requirements.txt environment's bin/, first on PATH

    def run(self) -> HostResult:
        host = self.plan.host
        if self._stopped_early():
            return HostResult(host, None, "", self._stop_reason)
        self.events.phase(host, SecondaryStatus.DOWNLOADING.value, "Downloading inputs")
        if self.runtime.gpu:
            self._log([self.runtime.gpu_note()])
        if not self.sandbox.mounts_opt_ml:
            return HostResult(host, None, "ClientError: processing jobs address their data at "
                              "/opt/ml/processing/..., which only the bubblewrap sandbox "
                              "provides: apt-get install bubblewrap", "")
        self._prepare_job_dir()
        if self._stopped_early():
            return HostResult(host, None, "", self._stop_reason)
        self.events.phase(host, "Processing", "Running the processing container")
        code = self._execute(list(self.spec.command), CONTAINER_ROOT)
        message = self._exit_message()
        failure = "" if code == 0 or self._stop_reason else self._failure(code)
        if code == 0 and not self._stop_reason:
            self.events.phase(host, SecondaryStatus.UPLOADING.value, "Uploading outputs")
            self._upload_outputs()
        return HostResult(host, code, failure, self._stop_reason, message)

    def environment(self) -> dict[str, str]:
        env = base_environment({**self.plan.environment, **self.setup.access_env,
                                "HOME": CONTAINER_ROOT.as_posix(),
                                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
        if self._env_bin:
            env["PATH"] = os.pathsep.join([self._env_bin, env["PATH"]])
        return env

    # --- before the process -----------------------------------------------------------------

    def _prepare_job_dir(self) -> None:
        job_dir = self.setup.job_dir
        for sub in ("config", "output", "processing"):
            (job_dir / sub).mkdir(parents=True, exist_ok=True)
        (job_dir / "config" / "processingjobconfig.json").write_text(
            json.dumps(self.spec.config))
        (job_dir / "config" / "resourceconfig.json").write_text(json.dumps(
            {"current_host": self.plan.host, "hosts": list(self.plan.hosts)}))
        for entry in self.spec.inputs:
            self._fetch_input(entry)
        for entry in self.spec.outputs:
            (job_dir / inside(entry["S3Output"]["LocalPath"])).mkdir(parents=True,
                                                                     exist_ok=True)

    def _fetch_input(self, entry: dict[str, Any]) -> None:
        source = entry["S3Input"]
        target = self.setup.job_dir / inside(source["LocalPath"])
        channel = {"DataSource": {"S3DataSource": {
            "S3Uri": source["S3Uri"], "S3DataType": source["S3DataType"]}}}
        count = self.data.fetch_channel(channel, target, self.shard(source))
        self._log([f"Input {entry['InputName']}: {count} object(s) from {source['S3Uri']} "
                   f"to {source['LocalPath']}"])
        if source.get("S3CompressionType") == "Gzip":
            self._gunzip_all(target)
        archive = target / "sourcedir.tar.gz"
        if archive.is_file() and not archive.is_symlink():
            self._requirements_env(archive)

    def _gunzip_all(self, directory: Path) -> None:
        """S3CompressionType Gzip: each object decompressed where it landed (``x.gz`` -> ``x``),
        no more than the volume holds in all."""
        budget = self.spec.volume_bytes
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            with open(path, "rb") as head:
                if head.read(2) != _GZIP_MAGIC:
                    continue
            budget -= _gunzip(path, path.with_suffix("") if path.suffix == ".gz" else path,
                              budget)

    def _requirements_env(self, archive: Path) -> None:
        """A FrameworkProcessor's code (``sourcedir.tar.gz``) with a ``requirements.txt``: its
        ``runproc.sh`` pip-installs it, so the job gets the cached environment for it, first on
        PATH (pip then finds everything already installed)."""
        scratch = self.setup.job_dir.parent / f".{self.plan.host}.sourcedir"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
            requirements = scratch / "requirements.txt"
            if requirements.is_file():
                python = self.envs.python_for(requirements, lambda line: self._log([line]))
                self._env_bin = str(Path(python).parent)
        except (tarfile.TarError, OSError) as exc:
            raise errors.ValidationError(f"{archive.name} in the code input is not a readable "
                                         f"tar.gz archive: {exc}") from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # --- after the process ------------------------------------------------------------------

    def _failure(self, code: int) -> str:
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        reason = f"the processing process {how}. Last log lines:\n" + "\n".join(self._tail)
        return ("AlgorithmError: " + reason)[:FAILURE_LIMIT]

    def _exit_message(self) -> str:
        """The first KB of ``/opt/ml/output/message``, if the job wrote one."""
        with _open_beneath(self.setup.job_dir, PurePosixPath("output/message")) as fd:
            if fd is None:
                return ""
            raw = os.read(fd, MESSAGE_LIMIT * 4)
        return raw.decode("utf-8", "replace")[:MESSAGE_LIMIT]

    def _upload_outputs(self) -> None:
        for entry in self.spec.outputs:
            target = entry["S3Output"]
            uri = target["S3Uri"].rstrip("/")
            count = 0
            for relative, fd in _regular_files(self.setup.job_dir,
                                               inside(target["LocalPath"])):
                self.data.upload_file(Path(f"/proc/self/fd/{fd}"), f"{uri}/{relative}",
                                      "application/octet-stream")
                count += 1
            self._log([f"Output {entry['OutputName']}: {count} file(s) from "
                       f"{target['LocalPath']} to {uri}"])


def _gunzip(source: Path, target: Path, budget: int) -> int:
    """Decompress ``source`` into ``target`` (replacing it); bytes written."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        written = _copy_decompressed(source, partial, budget)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    source.unlink()
    partial.replace(target)
    return written


def _copy_decompressed(source: Path, target: Path, budget: int) -> int:
    written = 0
    try:
        with gzip.open(source, "rb") as compressed, open(target, "wb") as out:
            while chunk := compressed.read(_CHUNK):
                written += len(chunk)
                if written > budget:
                    raise errors.ValidationError(
                        f"{source.name} decompresses to more than the job's volume "
                        "(VolumeSizeInGB) holds.")
                out.write(chunk)
    except (OSError, EOFError) as exc:
        raise errors.ValidationError(f"{source.name} is not a valid gzip file ({exc}); set "
                                     "S3CompressionType to None for plain objects.") from exc
    return written


@contextlib.contextmanager
def _open_beneath(root: Path, relative: PurePosixPath) -> Iterator[int | None]:
    """A read-only descriptor of the regular file ``root/relative``, following no symbolic
    link on the way; None if anything on the path is missing, a link, or not a regular file."""
    fds: list[int] = []
    try:
        fds.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY))
        for part in relative.parts[:-1]:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                               dir_fd=fds[-1]))
        fd = os.open(relative.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK,
                     dir_fd=fds[-1])
        fds.append(fd)
        yield fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        yield None
    finally:
        for opened in fds:
            os.close(opened)


def _regular_files(root: Path, relative: PurePosixPath) -> Iterator[tuple[str, int]]:
    """(path relative to ``root/relative``, open descriptor) of every regular file below it;
    links (file or directory) are skipped, never followed."""
    base: list[int] = []
    try:
        base.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY))
        for part in relative.parts:
            base.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                dir_fd=base[-1]))
    except OSError:
        for fd in base:
            os.close(fd)
        return
    try:
        for top, _dirs, files, dir_fd in os.fwalk(".", dir_fd=base[-1], follow_symlinks=False):
            for name in sorted(files):
                yield from _one_file(top, name, dir_fd)
    finally:
        for fd in base:
            os.close(fd)


def _one_file(top: str, name: str, dir_fd: int) -> Iterator[tuple[str, int]]:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return  # a link (ELOOP) or gone: not uploaded
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            yield PurePosixPath(top, name).as_posix().removeprefix("./"), fd
    finally:
        os.close(fd)
