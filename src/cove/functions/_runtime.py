"""The Python runtime of one function worker, run as a script inside the sandbox::

    python .../cove/functions/_runtime.py SOCKET

Like Lambda's Python runtime it imports the handler module once (the cold start, timed as Init
Duration), then serves invocations one at a time, each with ``handler(event, context)``; module
state survives between them.  It imports nothing of cove (a script, not a module), so the cold
start pays only for the interpreter and the function's own imports.

cove speaks to it over the Unix socket ``SOCKET``: one connection, frames of a 4-byte big-endian
length and a JSON object.  Request ``{request_id, payload, deadline, arn, client_context}``;
answer ``{result | error, log, init_ms, max_rss_kb, fatal}``.  What the handler prints (and the
root logger) is captured per invocation and returned as ``log``; ``fatal`` asks cove to replace
this worker (out of memory, or a module that never imported).

``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` caps the address space the function may add on top of the
interpreter's own (RLIMIT_AS): an allocation beyond it raises MemoryError.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import resource
import socket
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")


class LambdaContext:
    """What a handler's ``context`` argument offers, with Lambda's attribute names."""

    def __init__(self, request_id: str, deadline: float, arn: str,
                 client_context: Any = None) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.invoked_function_arn = arn
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = client_context
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(message)


class _LambdaLogHandler(logging.Handler):
    """The root logger's handler: Lambda's ``[LEVEL]\\ttime\\trequest id\\tmessage`` lines."""

    request_id = ""

    def emit(self, record: logging.LogRecord) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        sys.stdout.write(f"[{record.levelname}]\t{stamp}.{int(record.msecs):03d}Z\t"
                         f"{self.request_id}\t{self.format(record)}\n")


def _error(exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # not the runtime's own frame
    return {"errorMessage": str(exc), "errorType": kind or type(exc).__name__,
            "stackTrace": traceback.format_list(frames)}


def _load() -> tuple[Any, dict[str, Any] | None]:
    """Import the handler (``module.function``); an import failure is reported per call."""
    spec = os.environ["_HANDLER"]
    module_name, _, function = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except MemoryError as exc:
        return None, _error(exc, "Runtime.OutOfMemory")
    except Exception as exc:
        error = _error(exc, "Runtime.ImportModuleError")
        error["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        print(f"[ERROR] Runtime.ImportModuleError: {error['errorMessage']}", flush=True)
        return None, error
    handler = getattr(module, function, None)
    if not callable(handler):
        return None, {"errorMessage": f"Handler '{function}' missing on module "
                                      f"'{module_name}'", "errorType": "Runtime.HandlerNotFound",
                      "stackTrace": []}
    return handler, None


def _invoke(handler: Any, request: dict[str, Any], log: _LambdaLogHandler) -> dict[str, Any]:
    captured = io.StringIO()
    log.request_id = request["request_id"]
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = captured
    fatal = False
    try:
        event = json.loads(request["payload"]) if request["payload"].strip() else {}
        context = LambdaContext(request["request_id"], request["deadline"], request["arn"],
                                request.get("client_context"))
        result = handler(event, context)
        try:
            answer: dict[str, Any] = {"result": json.dumps(result)}
        except (TypeError, ValueError) as exc:
            answer = {"error": {"errorMessage": f"Unable to marshal response: {exc}",
                                "errorType": "Runtime.MarshalError", "stackTrace": []}}
    except MemoryError as exc:
        fatal = True
        answer = {"error": _error(exc, "Runtime.OutOfMemory")}
        answer["error"]["errorMessage"] = (
            f"RequestId: {request['request_id']} Error: the function used more than its "
            f"MemorySize of {os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']} MB (MemoryError)")
    except Exception as exc:
        answer = {"error": _error(exc)}
        captured.write(f"[ERROR] {type(exc).__name__}: {exc}\n"
                       + "".join(traceback.format_exception(exc)))
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    answer.update(log=captured.getvalue(), fatal=fatal,
                  max_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return answer


def _limit_memory() -> None:
    megabytes = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = size_kb * 1024 + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _recv(conn: socket.socket) -> dict[str, Any] | None:
    head = conn.recv(_HEADER.size, socket.MSG_WAITALL)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    request: dict[str, Any] = json.loads(data)
    return request


def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
    data = json.dumps(answer).encode()
    conn.sendall(_HEADER.pack(len(data)) + data)


def _listener(socket_path: str) -> socket.socket:
    """``fd:N``: the socket cove bound and passed in (it connects only once we listen);
    otherwise a path to bind (cove's tests run the runtime directly)."""
    if socket_path.startswith("fd:"):
        return socket.socket(fileno=int(socket_path[3:]))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(socket_path) > 100:  # past the 108-byte limit of a socket path: via the directory
        directory = os.open(os.path.dirname(socket_path), os.O_RDONLY | os.O_DIRECTORY)
        socket_path = f"/proc/self/fd/{directory}/{os.path.basename(socket_path)}"
    listener.bind(socket_path)
    return listener


def main(socket_path: str) -> None:
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]  # the code, not this script's directory
    os.chdir(os.environ["LAMBDA_TASK_ROOT"])
    log = _LambdaLogHandler()
    logging.getLogger().addHandler(log)
    logging.getLogger().setLevel(logging.INFO)
    _limit_memory()
    started = time.perf_counter()
    handler, init_error = _load()
    init_ms: float | None = (time.perf_counter() - started) * 1000
    listener = _listener(socket_path)
    listener.listen(1)
    conn, _ = listener.accept()
    while (request := _recv(conn)) is not None:
        if init_error is not None:
            answer = {"error": init_error, "log": "", "fatal": True, "max_rss_kb": 0}
        else:
            answer = _invoke(handler, request, log)
        answer["init_ms"], init_ms = init_ms, None
        _send(conn, answer)


if __name__ == "__main__":
    main(sys.argv[1])
