"""Functions: their durable records and code, and running them.

A function is a row (its FunctionConfiguration document, the SHA-256 of its code, the scoped key
pair its workers sign with, its resource policy) plus its zip under
``$COVE_HOME/functions/code/<sha>.zip``, unpacked beside it on first use.  Workers get the
function's own variables, cove's endpoint and region, that key pair and Lambda's standard
variables; nothing of cove's environment.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.functions._logbuffer import LogBuffer
from cove.functions._records import Function
from cove.functions._rows import FunctionRows, last_modified
from cove.functions._workers import Pool, Worker, WorkerDied, WorkerSpec
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.training._contract import base_environment
from cove.untrusted import ArchiveLimits, ArchiveRefused, check_zip, extract_zip

log = logging.getLogger("cove.functions")

MAX_ZIP = 50 * 1024 * 1024
TAIL_BYTES = 4096
RUNTIME_PATTERN = re.compile(r"python3\.\d+")
#: Variables Lambda sets itself; a function may not override them.
RESERVED = frozenset({
    "_HANDLER", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR", "AWS_ENDPOINT_URL"})


@dataclass(frozen=True)
class FunctionsSettings:
    home: Path
    #: Where cove listens: what the handlers' boto3 reaches it at.
    endpoint_url: str
    region: str
    account: str
    concurrency: int
    limits: ArchiveLimits = ArchiveLimits()


@dataclass(frozen=True)
class Outcome:
    """One finished invocation: the payload, whether it is an error, and its log."""

    payload: bytes
    error: bool
    log: str


class Functions:
    """The functions of this server: records, code, workers and invocations."""

    def __init__(self, db: Database, identity: Identity, logs: LogStore, pool: Pool,
                 settings: FunctionsSettings, loop: asyncio.AbstractEventLoop,
                 read_object: Callable[[str, str], bytes]) -> None:
        """``loop`` is the server's event loop (invocations run there, whatever thread asks);
        ``read_object(bucket, key)`` reads code a CreateFunction names in S3."""
        self.db, self.identity, self.logs, self.pool = db, identity, logs, pool
        self.rows = FunctionRows(db, self._missing)
        self.settings = settings
        self.endpoint_url = settings.endpoint_url
        self._loop = loop
        self.read_object = read_object
        self.code_root = settings.home / "functions" / "code"
        self.worker_root = settings.home / "functions" / "workers"
        self._logs = LogBuffer(logs.put_events)
        #: Worker specs by function (read on every invocation), dropped on any change.
        self._specs: dict[str, tuple[WorkerSpec, Function]] = {}
        self._generation = 0
        self._background: set[asyncio.Task[Any]] = set()

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{self.settings.account}:function:{name}"

    # --- records ----------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> Function:
        name = self.name_of(params["FunctionName"])
        zipped = self.code_from(params["Code"])
        settings = _settings(params, None)
        if self.rows.exists(name):
            raise errors.ResourceConflictException(f"Function already exist: {name}",
                                                   Type="User")
        key = self._store_code(zipped)
        arn = self.arn(name)
        creds = self.identity.issue(arn, settings["role"], name)
        now = time.time()
        fn = Function(name=name, arn=arn, modified=now, revision_id=str(uuid.uuid4()),
                      code_key=key, access_key_id=creds.access_key_id, created=now,
                      **_code_fields(zipped), **settings)
        self.rows.insert(fn)
        return fn

    def get(self, name: str) -> Function:
        return self.rows.get(name)

    def all(self) -> list[Function]:
        return self.rows.all()

    def update_code(self, params: dict[str, Any]) -> Function:
        name = self.name_of(params["FunctionName"])
        old = self.rows.get(name).code_key
        zipped = self.code_from(params)
        key = self._store_code(zipped)
        fn = self._update(name, code_key=key, **_code_fields(zipped))
        if key != old:
            self._drop_code(old)
        return fn

    def update_configuration(self, params: dict[str, Any]) -> Function:
        name = self.name_of(params["FunctionName"])
        current = self.rows.get(name)
        settings = _settings(params, current)
        if settings["role"] != current.role:  # its workers now act for the new role
            self.identity.rebind(current.arn, settings["role"])
        return self._update(name, **settings)

    def delete(self, name: str) -> None:
        name = self.name_of(name)
        fn = self.rows.get(name)
        self.rows.delete(name)
        self.identity.revoke(fn.arn)
        self.pool_retire(name)
        self._drop_code(fn.code_key)

    def add_permission(self, name: str, statement: dict[str, Any]) -> dict[str, Any]:
        self.rows.change(self.name_of(name), lambda fn: fn.permitted(statement))
        return statement

    def policy(self, name: str) -> list[dict[str, Any]]:
        fn = self.rows.get(self.name_of(name))
        if not fn.policy:
            raise errors.ResourceNotFoundException(
                "The resource you requested does not exist.", Type="User")
        return [dict(s) for s in fn.policy]

    def name_of(self, value: str) -> str:
        """A function name from a name, a partial ARN or a full ARN (qualifiers refused)."""
        if value.startswith("arn:"):
            parts = value.split(":")
            if len(parts) == 8 and parts[7] != "$LATEST":
                raise errors.InvalidParameterValue("cove's functions have no versions or "
                                                   "aliases: use $LATEST or no qualifier.")
            return parts[6] if len(parts) >= 7 else value
        return value.split(":")[-1] if ":" in value else value

    def _missing(self, name: str) -> errors.CoveError:
        return errors.ResourceNotFoundException(f"Function not found: {self.arn(name)}",
                                                Type="User")

    def _update(self, name: str, **changes: Any) -> Function:
        fn = self.rows.change(name, lambda fn: fn.updated(time.time(), str(uuid.uuid4()),
                                                          **changes))
        self.pool_retire(name)
        return fn

    def pool_retire(self, name: str) -> None:
        """Idle workers of ``name`` run old code or settings: end them (from any thread)."""
        self._generation += 1
        self._specs.pop(name, None)
        self._loop.call_soon_threadsafe(self.pool.retire, f"{name}\0")

    # --- code -------------------------------------------------------------------------------

    def code_from(self, code: dict[str, Any]) -> bytes:
        """The zip of a Code structure (ZipFile, or S3Bucket/S3Key in cove's store)."""
        if code.get("ZipFile"):
            value = code["ZipFile"]
            zipped = value if isinstance(value, bytes) else base64.b64decode(value)
        elif code.get("S3Bucket") and code.get("S3Key"):
            zipped = self._read_s3(code["S3Bucket"], code["S3Key"])
        else:
            raise errors.InvalidParameterValue(
                "Please provide a source for function code: ZipFile or S3Bucket and S3Key.")
        if len(zipped) > MAX_ZIP:
            raise errors.RequestTooLarge(f"The code zip is larger than {MAX_ZIP} bytes.")
        try:  # unzip it all now (what the zip claims about sizes counts for nothing)
            check_zip(zipped, self.settings.limits.function_bytes, self.settings.limits.members)
        except ArchiveRefused as exc:
            raise errors.InvalidParameterValue(exc.message) from exc
        return zipped

    def _read_s3(self, bucket: str, key: str) -> bytes:
        try:
            return self.read_object(bucket, key)
        except (errors.NoSuchBucket, errors.NoSuchKey) as exc:
            raise errors.InvalidParameterValue(
                f"Error occurred while GetObject. S3 Error Code: {exc.code}. S3 Error Message: "
                f"{exc.message}") from exc

    def _store_code(self, zipped: bytes) -> str:
        sha = hashlib.sha256(zipped).hexdigest()
        path = self.code_root / f"{sha}.zip"
        if not path.exists():
            self.code_root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(zipped)
            tmp.replace(path)
        return sha

    def _drop_code(self, sha: str) -> None:
        """Remove a zip (and its unpacked copy) no function uses any more."""
        if not self.rows.uses_code(sha):
            (self.code_root / f"{sha}.zip").unlink(missing_ok=True)
            shutil.rmtree(self.code_root / sha, ignore_errors=True)

    def code_dir(self, sha: str) -> Path:
        """The unpacked code (made on first use; the zip is what is kept)."""
        target = self.code_root / sha
        if not target.is_dir():
            staging = self.code_root / f".{sha}.{uuid.uuid4().hex}"
            limits = self.settings.limits
            extract_zip(self.code_root / f"{sha}.zip", staging, limits.function_bytes,
                        limits.members)
            try:
                staging.rename(target)
            except OSError:  # another invocation unpacked it first
                shutil.rmtree(staging, ignore_errors=True)
        return target

    # --- running ----------------------------------------------------------------------------

    def worker_spec(self, name: str) -> tuple[WorkerSpec, Function]:
        fn = self.rows.get(name)
        principal = self.identity.lookup(fn.access_key_id)
        if principal is None:
            raise errors.ServerError(f"the key pair of function {name} is missing")
        region = self.settings.region
        env = base_environment({
            **fn.variables,
            "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": principal.access_key_id,
            "AWS_SECRET_ACCESS_KEY": principal.secret_access_key,
            "AWS_SESSION_TOKEN": principal.session_token or "",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
            "_HANDLER": fn.handler, "TZ": ":UTC"})
        spec = WorkerSpec(f"{name}\0{fn.revision_id}", self.code_dir(fn.code_key), env,
                          self.worker_root, (self.settings.home,))
        return spec, fn

    async def invoke(self, name: str, payload: bytes, wait: bool) -> Outcome:
        """Run one invocation; ``wait`` queues it for a slot (Event) instead of refusing."""
        cached = self._specs.get(name)
        if cached is None:
            generation = self._generation
            cached = await asyncio.to_thread(self.worker_spec, name)
            if generation == self._generation:  # no update raced with the read
                self._specs[name] = cached
        spec, fn = cached
        if not fn.state.is_invocable():
            raise errors.ResourceConflictException(
                f"The operation cannot be performed at this time. The function is currently in "
                f"the following state: {fn.state.value}", Type="User")
        await self.pool.acquire(wait)
        try:
            return await self._run(spec, fn, payload)
        finally:
            await self.pool.release()

    def invoke_blocking(self, name_or_arn: str, payload: bytes) -> Outcome:
        """A RequestResponse invocation from a thread that is not the event loop's (a
        pipeline's Lambda step): it runs on the loop and this thread waits for it."""
        name = self.name_of(name_or_arn)
        return asyncio.run_coroutine_threadsafe(self.invoke(name, payload, True),
                                                self._loop).result()

    def invoke_later(self, name: str, payload: bytes) -> None:
        """An Event invocation: queued, run when a slot is free, its outcome only logged."""
        task = asyncio.get_running_loop().create_task(self.invoke(name, payload, True))
        self._background.add(task)
        task.add_done_callback(self._finished_later)

    def _finished_later(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("an asynchronous invocation failed: %s", task.exception())

    async def _run(self, spec: WorkerSpec, fn: Function, payload: bytes) -> Outcome:
        request_id = str(uuid.uuid4())
        timeout = float(fn.timeout)
        started = time.perf_counter()
        begun_ms = int(time.time() * 1000)
        worker: Worker | None = None
        try:
            worker, cold = await self.pool.checkout(spec)
            stream = worker.stream
            answer = await worker.invoke({
                "request_id": request_id, "payload": payload.decode("utf-8"),
                "deadline": time.time() + timeout, "arn": fn.arn}, timeout)
        except TimeoutError:
            answer = {"error": {"errorType": "Sandbox.Timedout", "errorMessage":
                                f"RequestId: {request_id} Error: Task timed out after "
                                f"{timeout:.2f} seconds"}, "fatal": True,
                      "log": f"{last_modified(time.time())} {request_id} Task timed out after "
                             f"{timeout:.2f} seconds\n"}
        except WorkerDied as exc:
            answer = {"error": {"errorType": "Runtime.ExitError",
                                "errorMessage": f"RequestId: {request_id} Error: {exc}"},
                      "fatal": True, "log": f"RequestId: {request_id} Error: {exc}\n"}
        if worker is None:
            stream, cold = "cove-no-worker", True
        elif answer.get("fatal"):
            worker.stop()
        else:
            self.pool.checkin(worker)
        duration = (time.perf_counter() - started) * 1000
        text = _log_text(request_id, fn.memory, answer, duration, cold)
        self._write_log(fn.name, stream, begun_ms, text)
        if "error" in answer:
            error = {**answer["error"], "requestId": request_id}
            return Outcome(_json(error), True, text)
        return Outcome(answer["result"].encode(), False, text)

    def _write_log(self, name: str, stream: str, begun_ms: int, text: str) -> None:
        events = [(begun_ms, line) for line in text.rstrip("\n").split("\n")]
        self._logs.add(f"/aws/lambda/{name}", stream, events)

    def log_lines(self, key: str, stream: str, lines: list[str]) -> None:
        """A worker's output outside invocations, into its function's log stream."""
        name = key.split("\0", 1)[0]
        now = int(time.time() * 1000)
        self._logs.add(f"/aws/lambda/{name}", stream, [(now, line) for line in lines])

    def shutdown(self) -> None:
        self.pool.shutdown()
        self._logs.close()


def _code_fields(zipped: bytes) -> dict[str, Any]:
    return {"code_sha256": base64.b64encode(hashlib.sha256(zipped).digest()).decode(),
            "code_size": len(zipped)}


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _log_text(request_id: str, memory: int, answer: dict[str, Any],
              duration: float, cold: bool) -> str:
    """START, the invocation's output, END and REPORT, as Lambda writes them."""
    used = max(1, int(answer.get("max_rss_kb", 0)) // 1024)
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
              f"Billed Duration: {max(1, int(duration + 0.999))} ms\t"
              f"Memory Size: {memory} MB\tMax Memory Used: {used} MB\t")
    if cold and answer.get("init_ms") is not None:
        report += f"Init Duration: {answer['init_ms']:.2f} ms\t"
    output = answer.get("log", "")
    if output and not output.endswith("\n"):
        output += "\n"
    return (f"START RequestId: {request_id} Version: $LATEST\n{output}"
            f"END RequestId: {request_id}\n{report}\n")


def tail(text: str) -> str:
    """``X-Amz-Log-Result``: the last 4 KB of the invocation's log, base64."""
    return base64.b64encode(text.encode()[-TAIL_BYTES:]).decode()


__all__ = ["Function", "Functions", "FunctionsSettings", "Outcome", "Pool", "tail"]


def _settings(params: dict[str, Any], current: Function | None) -> dict[str, Any]:
    """The record fields a CreateFunction or UpdateFunctionConfiguration request sets,
    validated; members it leaves out keep ``current``'s values (or Lambda's defaults)."""
    if params.get("PackageType", "Zip") != "Zip":
        raise errors.InvalidParameterValue("cove runs Zip functions only (no images).")
    runtime = params.get("Runtime", current.runtime if current else None)
    if runtime is None or not RUNTIME_PATTERN.fullmatch(runtime):
        raise errors.InvalidParameterValue(
            f"Runtime {runtime!r} is not supported by cove: use python3.x (functions run "
            f"on cove's own Python).")
    timeout = params.get("Timeout", current.timeout if current else 3)
    memory = params.get("MemorySize", current.memory if current else 128)
    _check_limits(timeout, memory)
    handler = params.get("Handler", current.handler if current else None)
    if not handler or "." not in handler:
        raise errors.InvalidParameterValue(
            f"Handler {handler!r} must be module.function, e.g. lambda_function.handler.")
    if params.get("Layers"):
        raise errors.InvalidParameterValue("cove has no layers: put the packages in the "
                                           "function's zip.")
    return {"runtime": runtime, "handler": handler, "timeout": timeout, "memory": memory,
            "role": params.get("Role", current.role if current else "") or "",
            "description": params.get("Description", current.description if current else ""),
            "variables": _variables(params, current)}


def _check_limits(timeout: int, memory: int) -> None:
    if not 1 <= timeout <= 900:
        raise errors.InvalidParameterValue(
            f"Timeout is {timeout} s: it must be between 1 and 900 seconds.")
    if not 128 <= memory <= 10240:
        raise errors.InvalidParameterValue(
            f"MemorySize is {memory} MB: it must be between 128 and 10240 MB.")


def _variables(params: dict[str, Any], current: Function | None) -> Mapping[str, str]:
    """Environment.Variables: the request's (an empty Environment clears them) or the
    current ones; Lambda's own names refused."""
    if "Environment" in params:
        variables = dict((params["Environment"] or {}).get("Variables") or {})
    else:
        variables = dict(current.variables) if current else {}
    reserved = sorted(set(variables) & RESERVED)
    if reserved:
        raise errors.InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{', '.join(reserved)}")
    return MappingProxyType(variables)
