"""Assembling and running the cove server: the platform's parts, the edge, uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp

from cove import __version__
from cove.config import Config, ConfigError, Credentials, make_home
from cove.console import PREFIX as CONSOLE_PREFIX
from cove.console import Console, console_app, mint_link, moved_to
from cove.edge import (
    Body,
    Call,
    Edge,
    JsonService,
    RequestLimits,
    Verifier,
    limited_protocol,
    public_json,
)
from cove.edge._shapes import ShapeValidator
from cove.errors import CoveError
from cove.executors import (
    Executor,
    Sandbox,
    choose_sandbox,
    describe,
    map_instance_types,
    open_executor,
    parse_instance_types,
)
from cove.functions import Functions, FunctionsSettings, LambdaApi, Pool
from cove.gateway import PREFIX as GATEWAY_PREFIX
from cove.gateway import Gateway, GatewayApi, GatewayProxy
from cove.hosting import (
    ArtifactCache,
    Catalog,
    Endpoints,
    HostingApi,
    HostingSettings,
    RuntimeService,
)
from cove.iam import IamApi, Roles, StsApi
from cove.iam._authorizer import Authorizer
from cove.identity import Identity
from cove.logs import LogStore, logs_service
from cove.meta import Database
from cove.notebooks import NotebookApi, NotebookInstances, NotebookSettings
from cove.objects import LocalObjectStore, S3Service, Websites
from cove.objects._website import PREFIX as WEBSITE_PREFIX
from cove.pipelines import (
    Api,
    Engine,
    InstantSteps,
    JobSteps,
    Pipelines,
    PipelinesApi,
    PipelineStore,
)
from cove.processing import ProcessingApi, ProcessingJobs
from cove.registry import ModelRegistry, RegistryApi, artifact_check
from cove.sagemaker import Tags
from cove.sagemaker._search import Search
from cove.supervision import FailureLog, every
from cove.training import REQUIRED as TRAINING_REQUIRED
from cove.training import HostSlots, LocalDataPlane, TrainingApi, TrainingJobs, TrainingSettings
from cove.transform import LocalObjects, TransformApi, TransformJobs, TransformSettings
from cove.tuning import TuningApi, TuningJobs

log = logging.getLogger("cove.server")
#: The SageMaker API's request shapes (botocore's model), checked for clients and for cove's
#: own calls alike.
SAGEMAKER_SHAPES = ShapeValidator("sagemaker", required={"CreateTrainingJob": TRAINING_REQUIRED})


class AlreadyRunning(CoveError):
    code = "AlreadyRunning"
    status = 409


@dataclass
class Platform:
    """Everything one cove server owns; each component hangs off it."""

    config: Config
    credentials: Credentials
    db: Database
    store: LocalObjectStore
    logs: LogStore
    identity: Identity
    executor: Executor
    tags: Tags
    training: TrainingJobs
    training_api: TrainingApi
    processing: ProcessingJobs
    tuning: TuningJobs
    endpoints: Endpoints
    transforms: TransformJobs
    functions: Functions
    gateway: Gateway
    started: float
    notebooks: NotebookInstances
    roles: Roles
    registry: ModelRegistry
    pipelines: Pipelines
    #: The SageMaker API's operations, filled by ``build_app``; pipelines' steps call them too.
    sagemaker_operations: dict[str, Any]

    @classmethod
    def open(cls, config: Config) -> Platform:
        make_home(config.home)
        try:
            map_instance_types(parse_instance_types(config.instance_types))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        db = Database(config.database, config.sqlite_synchronous)
        credentials = config.credentials()
        store = LocalObjectStore(db, config.objects_dir)
        logs = LogStore(db)
        roles = Roles(db, credentials.account_id)
        roles.ensure_default()
        identity = Identity(db, credentials, roles)
        executor = open_executor(config.executor, config.ray_address,
                                 config.max_parallel_jobs or None, config.stop_grace_seconds)
        settings = TrainingSettings(config.home, config.url, config.region,
                                    stop_grace=config.stop_grace_seconds,
                                    limits=config.archive_limits)
        sandbox = choose_sandbox(config.sandbox)
        slots = HostSlots(executor)  # training and processing hosts share the executor
        training = TrainingJobs(db, LocalDataPlane(store), logs, identity, executor, sandbox,
                                settings, slots)
        processing = ProcessingJobs(db, training.data, logs, identity, executor, sandbox,
                                    settings, slots)
        artifacts = ArtifactCache(store, config.home / "artifacts", config.archive_limits)
        tags = Tags(db)
        endpoints = Endpoints(db, Catalog(db, store, tags), artifacts, logs, sandbox,
                              HostingSettings(config.home, config.region,
                                              config.routing_seed or None,
                                              config.idle_timeout_seconds), executor,
                              identity)
        training_api = TrainingApi(training, tags)
        tuning = TuningJobs(db, training)
        transforms = TransformJobs(db, LocalObjects(store), artifacts, logs, sandbox,
                                   TransformSettings(config.home),
                                   endpoints.catalog.model,
                                   endpoints.envs, executor)
        functions = _functions(config, credentials, db, store, logs, identity, sandbox)
        notebooks = NotebookInstances(db, identity, logs, sandbox, NotebookSettings(
            config.home, config.region, credentials.account_id))
        operations: dict[str, Any] = {}
        api = _internal_api(identity, credentials, config.region, operations)
        return cls(config, credentials, db, store, logs, identity, executor, tags, training,
                   training_api, processing, tuning, endpoints, transforms, functions, Gateway(db),
                   time.time(), notebooks, roles, ModelRegistry(db, artifact_check(store)),
                   _pipelines(db, store, functions, api), operations)

    def bound(self, url: str) -> None:
        """The server listens at ``url``: the code cove runs can now reach it."""
        self.training.endpoint_url = url
        self.processing.endpoint_url = url
        self.training.recover()
        self.processing.recover()
        self.tuning.start()
        self.endpoints.endpoint_url = url
        self.endpoints.recover()
        self.transforms.recover()
        self.functions.bind(asyncio.get_running_loop(), url)
        self.gateway.url = url
        self.notebooks.endpoint_url = url
        self.notebooks.recover()
        self.pipelines.engine.start()

    def describe_executor(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        """``Cove.DescribeExecutor`` (signed): the executor and, on Ray, its nodes; the
        sandbox.  Not in the unsigned health answer: node addresses are the caller's business
        only, and asking Ray takes a round trip that health polls should not pay."""
        return {**self.executor.describe(), "sandbox": describe(self.training.sandbox)}

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "pid": os.getpid(),
                "uptime_seconds": round(time.time() - self.started, 1)}


def build_app(platform: Platform, console_url: str) -> tuple[Edge, ASGIApp]:
    """The API port's app, and the console's (served at ``console_url``)."""
    verifier = Verifier(platform.identity.lookup)
    tuning_api = TuningApi(platform.tuning, platform.tags)
    search = Search()
    registry_api = RegistryApi(platform.registry, platform.tags, search)
    hosting_api = HostingApi(platform.endpoints, platform.tags,
                             registry_api.model_container)
    transform_api = TransformApi(platform.transforms, platform.tags)
    pipelines_api = PipelinesApi(platform.pipelines, platform.tags,
                                 _read_object(platform.store))
    operations = platform.sagemaker_operations
    operations.update({
        **platform.training_api.operations(), **tuning_api.operations(),
        **ProcessingApi(platform.processing, platform.tags).operations(),
        **hosting_api.operations(), **transform_api.operations(),
        **platform.tags.operations(), **registry_api.operations(), **search.operations(),
        **pipelines_api.operations(),
        **NotebookApi(platform.notebooks, platform.tags).operations()})
    sagemaker = JsonService("sagemaker", "SageMaker", operations, validator=SAGEMAKER_SHAPES)
    websites = Websites(platform.db, platform.store)
    background: list[asyncio.Task[None]] = []

    async def start() -> None:
        removed = platform.store.sweep()
        if removed:
            log.warning("removed %d unreferenced blob(s) left by an earlier crash", removed)
        background.extend(asyncio.create_task(every(1.0, work, what))
                          for what, work in platform.endpoints.background_work().items())

    async def stop() -> None:
        for task in background:
            task.cancel()
        for what, work in platform.endpoints.background_work().items():
            FailureLog(what, log).run(work)  # a last turn; a failure must not stop shutdown
        await asyncio.to_thread(platform.transforms.shutdown)
        platform.endpoints.shutdown()
        platform.functions.shutdown()
        platform.notebooks.shutdown()
        platform.pipelines.engine.shutdown()
        platform.tuning.shutdown()
        platform.processing.shutdown()
        platform.training.shutdown()
        platform.executor.shutdown()
        platform.db.close()

    return Edge(
        verifier,
        [S3Service(platform.store, platform.config.region, websites), sagemaker,
         RuntimeService(platform.endpoints), logs_service(platform.logs),
         LambdaApi(platform.functions).service(), GatewayApi(platform.gateway).service(),
         JsonService("cove", "Cove", {"DescribeExecutor": platform.describe_executor}),
         StsApi(platform.identity, platform.roles).service(),
         IamApi(platform.roles).service()],
        public={"/_cove/health": public_json(platform.health), WEBSITE_PREFIX: websites,
                GATEWAY_PREFIX: GatewayProxy(platform.gateway, platform.functions,
                                     platform.credentials.account_id),
                CONSOLE_PREFIX: moved_to(console_url)},
        on_startup=[start],
        on_shutdown=[stop],
        authorize=Authorizer(platform.identity, platform.roles),
    ), console_app(Console(platform))


def _read_object(store: LocalObjectStore) -> Callable[[str, str], bytes]:
    def read(bucket: str, key: str) -> bytes:
        info = store.head_object(bucket, key)
        return store.read(info, 0, info.size)
    return read


def _internal_api(identity: Identity, credentials: Credentials, region: str,
                  operations: dict[str, Any]) -> Api:
    """The SageMaker API as cove's own code calls it (a pipeline's steps): the same
    validation and handlers a client's request meets, as the root principal."""
    def call(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        principal = identity.lookup(credentials.access_key_id)
        assert principal is not None
        SAGEMAKER_SHAPES.validate(operation, params)
        request = Request({"type": "http", "method": "POST", "path": "/", "headers": [],
                           "query_string": b""})
        result: dict[str, Any] = operations[operation](params, Call(
            request, principal, region, "internal", Body(_no_body())))
        return dict(json.loads(json.dumps(result or {}, default=_timestamp)))
    return call


async def _no_body() -> AsyncIterator[bytes]:
    yield b""


def _timestamp(value: Any) -> Any:
    if hasattr(value, "timestamp"):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _pipelines(db: Database, store: LocalObjectStore, functions: Functions,
               api: Api) -> Pipelines:
    def invoke(function: str, payload: bytes) -> tuple[bytes, bool]:
        outcome = functions.invoke_blocking(function, payload)
        return outcome.payload, outcome.error

    records = PipelineStore(db)
    engine = Engine(records, JobSteps(api), InstantSteps(api, invoke), _read_object(store),
                    time.time)
    return Pipelines(records, engine, time.time)


def _functions(config: Config, credentials: Credentials, db: Database, store: LocalObjectStore,
               logs: LogStore, identity: Identity, sandbox: Sandbox) -> Functions:
    functions: Functions
    pool = Pool(sandbox, config.function_concurrency,
                lambda key, stream, lines: functions.log_lines(key, stream, lines))
    functions = Functions(db, identity, logs, pool, FunctionsSettings(
        config.home, config.region, credentials.account_id, config.function_concurrency,
        config.archive_limits))

    functions.read_object = _read_object(store)
    return functions


class PortUnavailable(CoveError):
    code = "PortUnavailable"
    status = 409


class _Console(uvicorn.Server):
    """The console's server: same process and event loop as the API's, which owns the signals
    and stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Server(uvicorn.Server):
    """uvicorn's server for the API port: records where it and the console listen once bound,
    and runs the console's server in the same event loop, started once the platform has
    started (its lifespan ran) and stopped before the platform stops."""

    def __init__(self, config: uvicorn.Config, server_file: Path,
                 on_bound: Callable[[str], None], console: _Console,
                 console_socket: socket.socket, console_url: str) -> None:
        super().__init__(config)
        self.server_file = server_file
        self.on_bound = on_bound
        self.console, self.console_socket, self.console_url = console, console_socket, \
            console_url
        self.console_task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGINT/SIGTERM after shutting down, killing the process before
        # cove's own clean-up runs; cove shuts down the same way but exits normally (status 0).
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        # Listening before the record names it: a browser that comes at once waits in the
        # backlog until the console's server accepts, rather than being refused.
        self.console_socket.listen(self.console.config.backlog)
        self.console_task = asyncio.create_task(self.console.serve([self.console_socket]))
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        record = {"pid": os.getpid(), "host": host, "port": port,
                  "url": f"http://{host}:{port}", "console_url": self.console_url,
                  "started": time.time()}
        tmp = self.server_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.server_file)
        self.on_bound(record["url"])
        print(f"cove {__version__} listening on {record['url']} (home "
              f"{self.server_file.parent}); Ctrl-C stops it.", flush=True)
        print(f"Console: {mint_link(self.server_file.parent, self.console_url)} (one-time "
              "sign-in link; `cove ui` makes another)", flush=True)


    async def shutdown(self, sockets: Any = None) -> None:
        self.console.should_exit = True
        try:
            if self.console_task is not None:
                await self.console_task  # its failure, if any, is raised after ours
        finally:
            await super().shutdown(sockets)


def serve(config: Config) -> None:
    """Run cove in the foreground until SIGINT/SIGTERM; one server per home."""
    make_home(config.home)
    lock = _lock(config.home)
    try:
        api_socket = _bind(config.host, config.port, "cove", "COVE_PORT")
        console_socket = _bind(config.host, config.console_bind_port, "the console",
                               "COVE_CONSOLE_PORT")
        console_url = _url(config.host, console_socket.getsockname()[1])
        platform = Platform.open(config)
        limits = RequestLimits(config.head_timeout_seconds, config.max_head_bytes,
                               config.max_headers, config.max_connections)
        edge, console_asgi = build_app(platform, console_url)
        console = _Console(_uvicorn_config(console_asgi, limits, "off"))
        api = _Server(_uvicorn_config(edge, limits, "on"), config.server_file, platform.bound,
                      console, console_socket, console_url)
        api.run(sockets=[api_socket])
    finally:
        record = read_server_file(config.home)
        if record is not None and record["pid"] == os.getpid():
            config.server_file.unlink(missing_ok=True)
        lock.close()


def _uvicorn_config(app: ASGIApp, limits: RequestLimits,
                    lifespan: Literal["on", "off"]) -> uvicorn.Config:
    return uvicorn.Config(app, lifespan=lifespan, loop="uvloop", http=limited_protocol(limits),
                          log_level="warning", access_log=False, timeout_keep_alive=75,
                          server_header=False,
                          proxy_headers=False)  # cove is reached directly, never via a proxy


def _bind(host: str, port: int, what: str, setting: str) -> socket.socket:
    """A bound socket for ``what``, bound before anything starts so that a busy port is a
    clear error (uvicorn would log and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailable(f"{what} cannot listen on {host}:{port}: {exc.strerror}; set "
                              f"{setting} to another port (0 picks a free one).") from exc
    return sock


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def _lock(home: Path) -> Any:
    handle = open(home / "server.lock", "a+")  # noqa: SIM115 - held for the server's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        running = read_server_file(home)
        where = f" at {running['url']} (pid {running['pid']})" if running else ""
        raise AlreadyRunning(f"cove is already running for {home}{where}; "
                             "`cove down` stops it.") from exc
    return handle


def read_server_file(home: Path) -> dict[str, Any] | None:
    """Where the server for ``home`` listens, if one is running."""
    path = home / "server.json"
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return record
