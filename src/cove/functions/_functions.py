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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cove import errors
from cove.functions._logbuffer import LogBuffer
from cove.functions._workers import Pool, Worker, WorkerDied, WorkerSpec
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import functions as functions_table
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


def last_modified(stamp: float) -> str:
    """Lambda's LastModified: ``2026-11-24T05:40:00.123+0000``."""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class Functions:
    """The functions of this server: records, code, workers and invocations."""

    def __init__(self, db: Database, identity: Identity, logs: LogStore, pool: Pool,
                 settings: FunctionsSettings, loop: asyncio.AbstractEventLoop,
                 read_object: Callable[[str, str], bytes]) -> None:
        """``loop`` is the server's event loop (invocations run there, whatever thread asks);
        ``read_object(bucket, key)`` reads code a CreateFunction names in S3."""
        self.db, self.identity, self.logs, self.pool = db, identity, logs, pool
        self.settings = settings
        self.endpoint_url = settings.endpoint_url
        self._loop = loop
        self.read_object = read_object
        self.code_root = settings.home / "functions" / "code"
        self.worker_root = settings.home / "functions" / "workers"
        self._logs = LogBuffer(logs.put_events)
        #: Worker specs by function (read on every invocation), dropped on any change.
        self._specs: dict[str, tuple[WorkerSpec, dict[str, Any]]] = {}
        self._generation = 0
        self._background: set[asyncio.Task[Any]] = set()

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{self.settings.account}:function:{name}"

    # --- records ----------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = self.name_of(params["FunctionName"])
        zipped = self.code_from(params["Code"])
        config = self._configuration(name, params, {})
        with self.db.read() as conn:
            exists = conn.execute(select(functions_table.c.name).where(
                functions_table.c.name == name)).first() is not None
        if exists:
            raise errors.ResourceConflictException(f"Function already exist: {name}",
                                                   Type="User")
        sha = self._store_code(zipped)
        config.update(_code_fields(zipped))
        creds = self.identity.issue(config["FunctionArn"], config.get("Role", ""), name)
        try:
            with self.db.write() as conn:
                conn.execute(insert(functions_table).values(
                    name=name, configuration=config, code_sha=sha,
                    access_key_id=creds.access_key_id, policy=[], created=time.time()))
        except IntegrityError as exc:  # created by a concurrent request since the check
            raise errors.ResourceConflictException(f"Function already exist: {name}",
                                                   Type="User") from exc
        return config

    def get(self, name: str) -> dict[str, Any]:
        row = self._row(name)
        config: dict[str, Any] = row.configuration
        return config

    def all(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(functions_table.c.configuration).order_by(
                functions_table.c.name)).all()
        return [row.configuration for row in rows]

    def update_code(self, params: dict[str, Any]) -> dict[str, Any]:
        name = self.name_of(params["FunctionName"])
        old = self._row(name).code_sha
        zipped = self.code_from(params)
        sha = self._store_code(zipped)
        config = self._update(name, _code_fields(zipped), sha)
        if sha != old:
            self._drop_code(old)
        return config

    def update_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        name = self.name_of(params["FunctionName"])
        current = self.get(name)
        config = self._configuration(name, params, current)
        if config.get("Role") != current.get("Role"):  # its workers now act for the new role
            self.identity.rebind(current["FunctionArn"], config.get("Role", ""))
        return self._update(name, {"Environment": None, **config})  # None: variables cleared

    def delete(self, name: str) -> None:
        name = self.name_of(name)
        row = self._row(name)
        with self.db.write() as conn:
            conn.execute(delete(functions_table).where(functions_table.c.name == name))
        self.identity.revoke(row.configuration["FunctionArn"])
        self.pool_retire(name)
        self._drop_code(row.code_sha)

    def add_permission(self, name: str, statement: dict[str, Any]) -> dict[str, Any]:
        row = self._row(self.name_of(name))
        policy = list(row.policy)
        if any(s["Sid"] == statement["Sid"] for s in policy):
            raise errors.ResourceConflictException(
                f"The statement id ({statement['Sid']}) provided already exists. Please provide "
                "a new statement id, or remove the existing statement.")
        policy.append(statement)
        with self.db.write() as conn:
            conn.execute(update(functions_table).where(
                functions_table.c.name == row.name).values(policy=policy))
        return statement

    def policy(self, name: str) -> list[dict[str, Any]]:
        row = self._row(self.name_of(name))
        if not row.policy:
            raise errors.ResourceNotFoundException(
                "The resource you requested does not exist.", Type="User")
        return list(row.policy)

    def name_of(self, value: str) -> str:
        """A function name from a name, a partial ARN or a full ARN (qualifiers refused)."""
        if value.startswith("arn:"):
            parts = value.split(":")
            if len(parts) == 8 and parts[7] != "$LATEST":
                raise errors.InvalidParameterValue("cove's functions have no versions or "
                                                   "aliases: use $LATEST or no qualifier.")
            return parts[6] if len(parts) >= 7 else value
        return value.split(":")[-1] if ":" in value else value

    def _row(self, name: str) -> Any:
        with self.db.read() as conn:
            row = conn.execute(select(functions_table).where(
                functions_table.c.name == name)).first()
        if row is None:
            raise errors.ResourceNotFoundException(
                f"Function not found: {self.arn(name)}", Type="User")
        return row

    def _update(self, name: str, changes: dict[str, Any], sha: str | None = None) -> dict[str, Any]:
        with self.db.write() as conn:
            row = conn.execute(select(functions_table).where(
                functions_table.c.name == name)).first()
            if row is None:
                raise errors.ResourceNotFoundException(f"Function not found: {self.arn(name)}")
            merged = {**row.configuration, **changes,
                      "LastModified": last_modified(time.time()), "RevisionId": str(uuid.uuid4())}
            config = {k: v for k, v in merged.items() if v is not None}
            values: dict[str, Any] = {"configuration": config}
            if sha is not None:
                values["code_sha"] = sha
            conn.execute(update(functions_table).where(
                functions_table.c.name == name).values(**values))
        self.pool_retire(name)
        return config

    def pool_retire(self, name: str) -> None:
        """Idle workers of ``name`` run old code or settings: end them (from any thread)."""
        self._generation += 1
        self._specs.pop(name, None)
        self._loop.call_soon_threadsafe(self.pool.retire, f"{name}\0")

    def _configuration(self, name: str, params: dict[str, Any],
                       current: dict[str, Any]) -> dict[str, Any]:
        runtime = params.get("Runtime", current.get("Runtime"))
        if params.get("PackageType", "Zip") != "Zip":
            raise errors.InvalidParameterValue("cove runs Zip functions only (no images).")
        if runtime is None or not RUNTIME_PATTERN.fullmatch(runtime):
            raise errors.InvalidParameterValue(
                f"Runtime {runtime!r} is not supported by cove: use python3.x (functions run "
                f"on cove's own Python).")
        timeout = params.get("Timeout", current.get("Timeout", 3))
        memory = params.get("MemorySize", current.get("MemorySize", 128))
        if not 1 <= timeout <= 900:
            raise errors.InvalidParameterValue(
                f"Timeout is {timeout} s: it must be between 1 and 900 seconds.")
        if not 128 <= memory <= 10240:
            raise errors.InvalidParameterValue(
                f"MemorySize is {memory} MB: it must be between 128 and 10240 MB.")
        handler = params.get("Handler", current.get("Handler"))
        if not handler or "." not in handler:
            raise errors.InvalidParameterValue(
                f"Handler {handler!r} must be module.function, e.g. lambda_function.handler.")
        if params.get("Layers"):
            raise errors.InvalidParameterValue("cove has no layers: put the packages in the "
                                               "function's zip.")
        environment = params["Environment"] if "Environment" in params else current.get(
            "Environment", {})
        variables = (environment or {}).get("Variables") or {}
        reserved = sorted(set(variables) & RESERVED)
        if reserved:
            raise errors.InvalidParameterValue(
                "Lambda was unable to configure your environment variables because the "
                "environment variables you have provided contains reserved keys that are "
                f"currently not supported for modification. Reserved keys used in this request: "
                f"{', '.join(reserved)}")
        current = {k: v for k, v in current.items() if k != "Environment"}
        config = {
            **current, "FunctionName": name, "FunctionArn": self.arn(name), "Runtime": runtime,
            "Role": params.get("Role", current.get("Role")), "Handler": handler,
            "Description": params.get("Description", current.get("Description", "")),
            "Timeout": timeout, "MemorySize": memory,
            "LastModified": last_modified(time.time()), "Version": "$LATEST",
            "TracingConfig": {"Mode": "PassThrough"}, "RevisionId": str(uuid.uuid4()),
            "State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip",
            "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
        }
        if variables:
            config["Environment"] = {"Variables": dict(variables)}
        return config

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
        with self.db.read() as conn:
            used = conn.execute(select(functions_table.c.name).where(
                functions_table.c.code_sha == sha)).first() is not None
        if not used:
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

    def code_zip(self, name: str) -> bytes:
        return (self.code_root / f"{self._row(name).code_sha}.zip").read_bytes()

    # --- running ----------------------------------------------------------------------------

    def worker_spec(self, name: str) -> tuple[WorkerSpec, dict[str, Any]]:
        row = self._row(name)
        config = row.configuration
        principal = self.identity.lookup(row.access_key_id)
        if principal is None:
            raise errors.ServerError(f"the key pair of function {name} is missing")
        region = self.settings.region
        env = base_environment({
            **config.get("Environment", {}).get("Variables", {}),
            "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": principal.access_key_id,
            "AWS_SECRET_ACCESS_KEY": principal.secret_access_key,
            "AWS_SESSION_TOKEN": principal.session_token or "",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config['Runtime']}",
            "_HANDLER": config["Handler"], "TZ": ":UTC"})
        spec = WorkerSpec(f"{name}\0{config['RevisionId']}", self.code_dir(row.code_sha), env,
                          self.worker_root, (self.settings.home,))
        return spec, config

    async def invoke(self, name: str, payload: bytes, wait: bool) -> Outcome:
        """Run one invocation; ``wait`` queues it for a slot (Event) instead of refusing."""
        cached = self._specs.get(name)
        if cached is None:
            generation = self._generation
            cached = await asyncio.to_thread(self.worker_spec, name)
            if generation == self._generation:  # no update raced with the read
                self._specs[name] = cached
        spec, config = cached
        await self.pool.acquire(wait)
        try:
            return await self._run(spec, config, payload)
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

    async def _run(self, spec: WorkerSpec, config: dict[str, Any], payload: bytes) -> Outcome:
        request_id = str(uuid.uuid4())
        timeout = float(config["Timeout"])
        started = time.perf_counter()
        begun_ms = int(time.time() * 1000)
        worker: Worker | None = None
        try:
            worker, cold = await self.pool.checkout(spec)
            stream = worker.stream
            answer = await worker.invoke({
                "request_id": request_id, "payload": payload.decode("utf-8"),
                "deadline": time.time() + timeout, "arn": config["FunctionArn"]}, timeout)
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
        text = _log_text(request_id, config, answer, duration, cold)
        self._write_log(config["FunctionName"], stream, begun_ms, text)
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
    return {"CodeSha256": base64.b64encode(hashlib.sha256(zipped).digest()).decode(),
            "CodeSize": len(zipped)}


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _log_text(request_id: str, config: dict[str, Any], answer: dict[str, Any],
              duration: float, cold: bool) -> str:
    """START, the invocation's output, END and REPORT, as Lambda writes them."""
    used = max(1, int(answer.get("max_rss_kb", 0)) // 1024)
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
              f"Billed Duration: {max(1, int(duration + 0.999))} ms\t"
              f"Memory Size: {config['MemorySize']} MB\tMax Memory Used: {used} MB\t")
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


__all__ = ["Functions", "FunctionsSettings", "Outcome", "Pool", "tail"]
