"""Notebook instances: rows in ``notebook_instances`` and the JupyterLab server of each.

Each is a :class:`~cove.notebooks._records.NotebookInstance` record whose lifecycle is
:class:`~cove.notebooks._lifecycle.NotebookInstanceStatus`: every change of status goes through
its allowed transitions.

An instance's JupyterLab runs in the sandbox like a job: cove's home hidden, the instance's
directory at ``/opt/ml``, a key pair of its own (issued at each start, revoked at stop), bound to
127.0.0.1 on a free port and protected by the instance's token.  Its output goes to the
``/aws/sagemaker/NotebookInstances`` log group.  When cove stops, the servers stop with it but
their rows stay ``InService``; the next cove starts them again (``recover``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update

from cove import errors
from cove.executors import ProcessSpec, Sandbox, kill
from cove.hosting._fleet import line_batches
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import notebook_instances
from cove.notebooks import _environment as environment
from cove.notebooks._environment import InstanceDirectory
from cove.notebooks._kernels import (
    V3_DISPLAY_NAME,
    Kernel,
    readable,
    sdk_v3_problem,
    v2_kernel,
    v3_kernel,
)
from cove.notebooks._lifecycle import DELETE_FROM, START_FROM, STOP_FROM
from cove.notebooks._lifecycle import NotebookInstanceStatus as Status
from cove.notebooks._records import NotebookInstance, new_instance
from cove.notebooks._rows import dump, load
from cove.sagemaker import RecordRows

log = logging.getLogger("cove.notebooks")

LOG_GROUP = "/aws/sagemaker/NotebookInstances"
#: What must be importable for an instance to start.
REQUIRED = ("jupyterlab", "ipykernel")
INSTALL_HINT = "pip install 'cove[notebook]'"


@dataclass(frozen=True)
class NotebookSettings:
    home: Path
    #: Where cove listens: what the kernels' boto3 and SDK reach it at.
    endpoint_url: str
    region: str
    account: str
    #: How long JupyterLab may take to answer before the instance is Failed (generous: a
    #: loaded machine takes minutes to import it; AWS takes minutes to start one anyway).
    start_timeout: float = 300.0
    stop_grace: float = 10.0
    #: An SDK v3 environment's Python ("" for none): a second kernel (``_kernels.py``).
    sdk_v3_python: str = ""


def jupyter_missing() -> list[str]:
    """The packages a notebook instance needs that are not installed."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


class NotebookInstances:
    """Every notebook instance of one cove server, and the processes of those that run."""

    def __init__(self, db: Database, identity: Identity, logs: LogStore, sandbox: Sandbox,
                 settings: NotebookSettings) -> None:
        self.db, self.identity, self.logs = db, identity, logs
        self.sandbox, self.settings = sandbox, settings
        self.rows: RecordRows[NotebookInstance] = RecordRows(
            db, notebook_instances, "notebook instance", load, dump, missing=_missing)
        #: Where cove listens, once it does: what the instances' boto3 talks to.
        self.endpoint_url = settings.endpoint_url
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._closing = False

    # --- the API's operations ---------------------------------------------------------------

    def create(self, params: dict[str, Any], region: str, account: str) -> NotebookInstance:
        """Record a new instance (Pending) and start its JupyterLab in the background."""
        instance = new_instance(params, region, account)
        _require_jupyter()
        c = notebook_instances.c
        with self.db.write() as conn:
            if conn.execute(select(c.name).where(c.name == instance.name)).first():
                raise errors.ResourceInUse("Cannot create a duplicate Notebook Instance "
                                           f"({instance.name})")
            conn.execute(insert(notebook_instances).values(
                name=instance.name, arn=instance.arn, status=instance.status_value,
                creation_time=instance.created, last_modified=instance.modified,
                describe=dump(instance), token=secrets.token_urlsafe(32)))
        self._in_background(self._launch, instance.name)
        return instance

    def get(self, name: str) -> NotebookInstance:
        return self.rows.get(name)

    def all(self) -> list[NotebookInstance]:
        return self.rows.all()

    def start(self, name: str) -> None:
        _require_jupyter()
        self._transition(name, START_FROM, Status.PENDING)
        self._in_background(self._launch, name)

    def stop(self, name: str) -> None:
        self._transition(name, STOP_FROM, Status.STOPPING)
        self._in_background(self._halt, name)

    def delete(self, name: str) -> None:
        self._transition(name, DELETE_FROM, Status.DELETING)
        self._in_background(self._remove, name)

    def authorized_url(self, name: str) -> str:
        """The URL that logs a browser into the instance's JupyterLab."""
        instance = self.rows.get(name)
        if instance.status is not Status.IN_SERVICE:
            raise errors.ValidationError(
                f"Notebook Instance {name} is {instance.status.value}: a URL can "
                "be made only for an InService instance (start it first).")
        token, port = self._secrets(name)
        return f"http://127.0.0.1:{port}/lab?token={token}"

    def directory(self, name: str) -> InstanceDirectory:
        root = self.settings.home / "notebooks" / name
        return InstanceDirectory(root, Path("/opt/ml") if self.sandbox.mounts_opt_ml else root)

    # --- server life ------------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: start again what was running, finish what was half done."""
        for instance in self.rows.all():
            name, status = instance.name, instance.status
            self._end_leftover(name)
            if status in (Status.PENDING, Status.IN_SERVICE):  # it ran: run it again
                self._set(name, Status.PENDING)
                self._in_background(self._launch, name)
            elif status is Status.STOPPING:
                self.identity.revoke(instance.arn)
                self._set(name, Status.STOPPED)
            elif status is Status.DELETING:
                self._in_background(self._remove, name)

    def shutdown(self) -> None:
        """cove is stopping: end every JupyterLab, leaving the rows as they are."""
        with self._lock:
            self._closing = True
            procs = list(self._procs.values())
        for proc in procs:
            self._end(proc)

    # --- the work behind the operations -----------------------------------------------------

    def _launch(self, name: str) -> None:
        instance = self.rows.get(name)
        arn = instance.arn
        directory = self.directory(name)
        region, account = self.settings.region, self.settings.account
        kernels, readable = self._kernels(name)
        environment.prepare(directory, name, arn, region,
                            environment.default_bucket(region, account), kernels)
        self.identity.revoke(arn)
        credentials = self.identity.issue(arn, instance.role_arn, name)
        token, _ = self._secrets(name)
        port = _free_port()
        env = environment.environment(directory, self.endpoint_url, region, credentials,
                                      token)
        command = _jupyter_command(directory, port, ipc=self.sandbox.mounts_opt_ml)
        spec = ProcessSpec(command, env, directory.root,
                           directory.seen("SageMaker"), hidden=(self.settings.home,),
                           readonly=readable, ports=(port,))
        proc = self.sandbox.spawn(spec, subprocess.PIPE)
        with self._lock:
            self._procs[name] = proc
        with self.db.write() as conn:
            conn.execute(update(notebook_instances).where(notebook_instances.c.name == name)
                         .values(port=port, pid=proc.pid))
        last_lines: deque[str] = deque(maxlen=1)
        supervisor = threading.Thread(target=self._supervise, args=(name, proc, last_lines),
                                      daemon=True, name=f"cove-notebook-{name}")
        supervisor.start()
        failure = self._wait_ready(proc, port, token)
        if failure is None:
            self._set(name, Status.IN_SERVICE, url=f"127.0.0.1:{port}")
            return
        self._end(proc)
        supervisor.join(5)  # its output is read to the end: the last line says why
        if last_lines:
            failure += f"; it last said: {last_lines[-1][:300]}"
        self.identity.revoke(arn)
        self._set(name, Status.FAILED, failure=failure)

    def _kernels(self, name: str) -> tuple[list[Kernel], tuple[Path, ...]]:
        """The kernels the instance offers, and what its sandbox must show to run them; an SDK
        v3 Python that cannot run one is said in the instance's log, not offered."""
        kernels = [v2_kernel(sys.executable)]
        python = self.settings.sdk_v3_python
        if not python:
            return kernels, ()
        problem = sdk_v3_problem(python)
        if problem is not None:
            line = f"cove: no {V3_DISPLAY_NAME} kernel: {problem}"
            log.warning("notebook instance %s: %s", name, line)
            self.logs.put_events(LOG_GROUP, f"{name}/jupyter.log",
                                 [(int(time.time() * 1000), line)])
            return kernels, ()
        return [*kernels, v3_kernel(python)], readable(python)

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, token: str) -> str | None:
        """None once JupyterLab answers with the token; else why it never will."""
        deadline = time.monotonic() + self.settings.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return (f"JupyterLab exited with code {proc.returncode} before it was ready; "
                        f"its log is in {LOG_GROUP}")
            if _answers(port, token):
                return None
            time.sleep(0.2)
        return (f"JupyterLab did not answer within {self.settings.start_timeout:.0f} s; its "
                f"log is in {LOG_GROUP}")

    def _supervise(self, name: str, proc: subprocess.Popen[bytes],
                   last_lines: deque[str]) -> None:
        stream = f"{name}/jupyter.log"
        assert proc.stdout is not None
        for lines in line_batches(proc.stdout.fileno()):
            now = int(time.time() * 1000)
            self.logs.put_events(LOG_GROUP, stream, [(now, line) for line in lines])
            last_lines.extend(line for line in lines if line.strip())
        code = proc.wait()
        with self._lock:
            mine = self._procs.get(name) is proc
            if mine:
                del self._procs[name]
            closing = self._closing
        if not mine or closing:
            return
        try:  # it ended on its own (not by Stop): say so rather than claim InService
            instance = self.rows.get(name)
        except errors.CoveError:
            return
        if instance.status is Status.IN_SERVICE:
            self.identity.revoke(instance.arn)
            self._set(name, Status.FAILED, failure=f"JupyterLab exited with code {code}; its "
                                                   f"log is in {LOG_GROUP}")

    def _halt(self, name: str) -> None:
        with self._lock:
            proc = self._procs.pop(name, None)
        if proc is not None:
            self._end(proc)
        self.identity.revoke(self.rows.get(name).arn)
        self._set(name, Status.STOPPED)
        self._clear_process(name)

    def _remove(self, name: str) -> None:
        arn = self.rows.get(name).arn
        self.identity.revoke(arn)
        root = self.directory(name).root
        if root.exists():
            shutil.rmtree(root)
        with self.db.write() as conn:
            conn.execute(delete(notebook_instances).where(notebook_instances.c.name == name))

    def _end(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        self.sandbox.terminate(proc)
        try:
            proc.wait(self.settings.stop_grace)
        except subprocess.TimeoutExpired:
            kill(proc)
            proc.wait(5)

    def _end_leftover(self, name: str) -> None:
        """A JupyterLab an earlier cove left running (a plain process outlives its parent):
        end it, if the recorded pid is still that server (its command names the directory)."""
        with self.db.read() as conn:
            row = conn.execute(select(notebook_instances.c.pid).where(
                notebook_instances.c.name == name)).first()
        if row is None or row.pid is None:
            return
        try:
            command = Path(f"/proc/{row.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return  # it is gone
        if b"jupyterlab" in command and str(self.directory(name).root).encode() in command:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(row.pid, signal.SIGTERM)

    # --- rows -------------------------------------------------------------------------------

    def _transition(self, name: str, allowed: tuple[Status, ...], to: Status) -> None:
        """A request moves the instance: only from ``allowed``, only along its lifecycle."""
        self.rows.change(name, lambda instance: instance.requested(to, allowed))

    def _set(self, name: str, status: Status, url: str | None = None,
             failure: str | None = None) -> None:
        """cove's own work moves the instance, along its lifecycle (an illegal move raises)."""
        self.rows.change(name, lambda instance: instance.moved(status, url, failure))

    def _secrets(self, name: str) -> tuple[str, int | None]:
        with self.db.read() as conn:
            row = conn.execute(select(notebook_instances.c.token, notebook_instances.c.port)
                               .where(notebook_instances.c.name == name)).first()
        if row is None:
            raise _missing(name)
        return row.token, row.port

    def _clear_process(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(update(notebook_instances).where(notebook_instances.c.name == name)
                         .values(pid=None))

    def _in_background(self, work: Callable[[str], None], name: str) -> None:
        def run() -> None:
            try:
                work(name)
            except Exception as exc:  # noqa: BLE001 - recorded as the instance's failure
                log.exception("notebook instance %s: %s failed", name, work.__name__)
                reason = exc.message if isinstance(exc, errors.CoveError) else repr(exc)
                try:
                    self._set(name, Status.FAILED, failure=f"cove could not {_verb(work)} "
                                                           f"the instance: {reason}")
                except errors.CoveError:
                    log.exception("notebook instance %s: cannot record the failure", name)

        threading.Thread(target=run, daemon=True, name=f"cove-notebook-{name}").start()


def _verb(work: Callable[[str], None]) -> str:
    return {"_launch": "start", "_halt": "stop", "_remove": "delete"}.get(
        getattr(work, "__name__", ""), "change")


def _jupyter_command(directory: InstanceDirectory, port: int, ipc: bool) -> list[str]:
    """``ipc``: kernels talk over socket files (a sandbox's loopback is its own; the files are
    reachable from outside, which ``run_notebook`` needs)."""
    transport = ["--KernelManager.transport=ipc"] if ipc else []
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", *transport,
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={directory.seen('SageMaker')}",
            # no calls to the internet from a local server
            "--LabApp.news_url=", "--LabApp.check_for_updates_class="
            "jupyterlab.NeverCheckForUpdate"]


def _answers(port: int, token: str) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require_jupyter() -> None:
    missing = jupyter_missing()
    if missing:
        raise errors.ValidationError(
            f"Notebook instances need JupyterLab on the machine running cove ({', '.join(missing)} "
            f"not installed): {INSTALL_HINT}, then restart cove.")


def _missing(name: str) -> errors.CoveError:
    return errors.ValidationError("RecordNotFound")
