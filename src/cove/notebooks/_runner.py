"""Running a notebook headless in a notebook instance, top to bottom, with nbclient.

The notebook goes where a user's upload would (the instance's ``SageMaker/`` folder), the
instance's own JupyterLab starts its kernel (a session, as opening it in the browser does), and
nbclient drives that kernel over its ZeroMQ ports, read from the kernel's connection file in the
instance's Jupyter runtime directory.  So the code runs exactly where a user's would: the
instance's sandbox, environment, credentials and SDK config — which is what makes this the
proof that a notebook runs unchanged in a cove notebook instance.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cove import errors
from cove.untrusted import Unsafe, move_beneath, read_capped, write_beneath

#: Code run before the first cell, like ``%env NAME=value`` typed into the notebook.
_SET_ENV = "import os as _os; _os.environ.update({!r}); del _os"


@dataclass
class Run:
    """The result of running one notebook: the executed notebook (outputs included), where it
    was saved, how long it took, and the error that ended it early, if one did."""

    notebook: Any
    saved: Path
    seconds: float
    error: str | None = None
    results: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        """Everything the code cells printed (streams and plain-text results), in order."""
        return "".join(_output_text(o) for c in self.notebook.cells
                       if c.cell_type == "code" for o in c.get("outputs", []))


class _ServerKernel:
    """The kernel of a JupyterLab session, as the kernel manager nbclient talks to."""

    has_kernel = True
    ipykernel = True

    def __init__(self, server: _Jupyter, kernel_id: str, runtime_dir: Path,
                 connection: Callable[[], dict[str, Any]]) -> None:
        self.server, self.kernel_id, self.connection = server, kernel_id, connection
        self.runtime_dir = runtime_dir
        self.handles: list[int] = []

    def client(self) -> Any:
        from jupyter_client.asynchronous.client import AsyncKernelClient

        kc = AsyncKernelClient()
        kc.load_connection_info(cast(Any, self.connection()))
        if kc.transport == "ipc":
            # A sandboxed kernel's sockets are files in the runtime directory (its network is
            # its own), named as the sandbox sees them; reach them through a descriptor of the
            # directory, as the path here may pass the 108 bytes a socket address holds.
            handle = os.open(self.runtime_dir, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW
                             | os.O_DIRECTORY)
            self.handles.append(handle)
            kc.ip = f"/proc/self/fd/{handle}/{Path(kc.ip).name}"
        return kc

    def is_alive(self) -> bool:
        return self.server.call("GET", f"/api/kernels/{self.kernel_id}") is not None

    def interrupt_kernel(self) -> None:
        self.server.call("POST", f"/api/kernels/{self.kernel_id}/interrupt")

    def shutdown_kernel(self, now: bool = False) -> None:
        self.server.call("DELETE", f"/api/kernels/{self.kernel_id}")

    def cleanup_resources(self) -> None:
        """The server owns the kernel's files; only the directory handles are ours."""
        for handle in self.handles:
            os.close(handle)
        self.handles.clear()


class _Jupyter:
    """A JupyterLab server's REST API, reached with the token of an authorized URL."""

    def __init__(self, authorized_url: str) -> None:
        parsed = urllib.parse.urlparse(authorized_url)
        self.base = f"{parsed.scheme}://{parsed.netloc}"
        self.token = urllib.parse.parse_qs(parsed.query).get("token", [""])[0]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer; None for 404."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise errors.ServerError(f"JupyterLab answered {method} {path} with {exc.code}: "
                                     f"{exc.read()[:300]!r}") from exc
        except OSError as exc:
            raise errors.ServerError(f"cannot reach JupyterLab at {self.base}: {exc}") from exc
        return json.loads(raw) if raw else {}


def run_notebook(source: Path, authorized_url: str, work_dir: Path, runtime_dir: Path, *,
                 env: dict[str, str] | None = None, extra: Iterable[Path] = (),
                 cell_timeout: float = 1800, kernel_name: str = "python3") -> Run:
    """Run ``source`` in the notebook instance whose JupyterLab ``authorized_url`` logs into.

    ``work_dir`` and ``runtime_dir`` are the instance's ``SageMaker/`` folder and Jupyter runtime
    directory on this machine; ``extra`` files and folders are copied beside the notebook (code
    it uses).  The executed notebook is saved over the copy in ``work_dir``.  A cell that fails
    ends the run: ``Run.error`` says which and why.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # SageMaker/ and Jupyter's runtime directory are the instance's code's to rearrange: what
    # goes in is staged out of its reach and moved in, nothing there is followed.
    base, work = work_dir.parent, work_dir.name
    notebook = _place(source, extra, base, work)
    target = work_dir / source.name
    server = _Jupyter(authorized_url)
    session = server.call("POST", "/api/sessions", {
        "path": source.name, "name": source.name, "type": "notebook",
        "kernel": {"name": kernel_name}})
    kernel_id = session["kernel"]["id"]
    runtime = str(runtime_dir.relative_to(base))
    _connection_info(base, runtime, kernel_id)  # there, and whole
    # read again when the client connects: the server may rewrite it while the kernel starts
    kernel = _ServerKernel(server, kernel_id, runtime_dir,
                           lambda: _connection_info(base, runtime, kernel_id))
    client = NotebookClient(notebook, km=cast(Any, kernel), timeout=cell_timeout,
                            kernel_name=kernel_name, allow_errors=False, record_timing=True)
    started = time.monotonic()
    error = None
    try:
        client.kc = _ready_client(client, kernel, env or {})
        client.execute()
    except CellExecutionError as exc:
        error = str(exc)
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        kernel.cleanup_resources()
        server.call("DELETE", f"/api/sessions/{session['id']}")
        write_beneath(base, f"{work}/{source.name}",
                      nbformat.writes(notebook).encode())  # type: ignore[no-untyped-call]
    run = Run(notebook, target, time.monotonic() - started, error)
    run.results = results(run.text())
    return run


def results(text: str) -> dict[str, float]:
    """The key figures a tutorial prints as ``RESULT name=value`` lines."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            for pair in line[len("RESULT "):].split():
                key, _, value = pair.partition("=")
                try:
                    found[key] = float(value)
                except ValueError:
                    continue
    return found


def _ready_client(client: Any, kernel: _ServerKernel, env: dict[str, str]) -> Any:
    """A started kernel client, the run's environment variables already set in the kernel."""
    from jupyter_core.utils import run_sync

    kc = kernel.client()

    async def start() -> None:
        # no heartbeat channel: it calls a kernel dead after 1 s without a beat, which a kernel
        # still starting on a busy machine is not.  Ready is the kernel's own kernel_info reply:
        # JupyterLab's execution_state says "starting" until a client asks the kernel something
        # (a REST-only caller waiting for it to change waited out the whole startup timeout)
        kc.start_channels(hb=False)
        await kc.wait_for_ready(timeout=client.startup_timeout)
        if env:
            reply = await kc.execute_interactive(_SET_ENV.format(env), silent=True,
                                                 timeout=60)
            if reply["content"]["status"] != "ok":
                raise errors.ServerError(f"cannot set the run's environment in the kernel: "
                                         f"{reply['content']}")

    run_sync(start)()
    kc.allow_stdin = False
    return kc


def _place(source: Path, extra: Iterable[Path], base: Path, work: str) -> Any:
    """Copy the notebook and ``extra`` into ``base/work``; returns the notebook as read."""
    import nbformat

    staging = Path(tempfile.mkdtemp(dir=base.parent, prefix=f".{base.name}-run-"))
    try:
        for path in extra:
            _copy(path, staging / path.name)
            move_beneath(staging / path.name, base, f"{work}/{path.name}")
        shutil.copyfile(source, staging / source.name)
        notebook = nbformat.read(staging / source.name, as_version=4)  # type: ignore[no-untyped-call]
        move_beneath(staging / source.name, base, f"{work}/{source.name}")
        return notebook
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _connection_info(base: Path, runtime: str, kernel_id: str,
                     timeout: float = 30) -> dict[str, Any]:
    """The kernel's connection file, once it is there and whole (read without following a
    link the instance's code may have put in its place)."""
    relative = f"{runtime}/kernel-{kernel_id}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            raw = read_capped(base, relative, 64 << 10)
        except Unsafe as exc:
            raise errors.ClientError(f"the kernel's connection file was not read: {exc}") from exc
        try:
            info = json.loads(raw) if raw else None
        except ValueError:  # still being written
            info = None
        if isinstance(info, dict):
            return info
        time.sleep(0.05)
    raise errors.ServerError(f"the kernel's connection file {relative} did not appear")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    else:
        shutil.copyfile(source, target)


def _output_text(output: Any) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    data = output.get("data", {})
    if "text/plain" in data:
        return str(data["text/plain"]) + "\n"
    return ""
