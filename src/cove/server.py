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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn
import uvloop
from starlette.types import ASGIApp

from cove import __version__
from cove.admin import AdminApi
from cove.config import Config, ConfigError, Credentials, make_home, read_server_file
from cove.console import PREFIX as CONSOLE_PREFIX
from cove.console import Console, console_app, mint_link, moved_to
from cove.edge import Edge, RequestLimits, Verifier, limited_protocol, public_json
from cove.errors import CoveError
from cove.executors import (
    Executor,
    Sandbox,
    choose_sandbox,
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
from cove.pipelines import Acting, ActingServices, Engine, Pipelines, PipelinesApi, PipelineStore
from cove.processing import ProcessingApi, ProcessingJobs
from cove.registry import ModelRegistry, RegistryApi, artifact_check
from cove.sagemaker import Tags
from cove.sagemaker._search import Search
from cove.supervision import FailureLog, every
from cove.training import HostSlots, LocalDataPlane, TrainingApi, TrainingJobs, TrainingSettings
from cove.transform import LocalObjects, TransformApi, TransformJobs, TransformSettings
from cove.tuning import TuningApi, TuningJobs
from cove.wire import JsonService, ShapeValidator

log = logging.getLogger("cove.server")
#: The SageMaker API's request shapes (botocore's model), checked for clients and for cove's
#: own calls alike.
SAGEMAKER_SHAPES = ShapeValidator("sagemaker")


class AlreadyRunning(CoveError):
    code = "AlreadyRunning"
    status = 409


@dataclass(frozen=True)
class Runtime:
    """What exists only once the server is about to run, handed to the components that need
    it when they are built: where cove listens (the URL the code it runs reaches it at) and
    the event loop that will serve it (functions run there, whatever thread asks)."""

    url: str
    loop: asyncio.AbstractEventLoop


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
    #: The SageMaker API's operations; pipelines' steps call the job operations too.
    sagemaker_operations: dict[str, Any]

    @classmethod
    def open(cls, config: Config, runtime: Runtime) -> Platform:
        make_home(config.home)
        try:
            map_instance_types(parse_instance_types(config.instance_types))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        db = Database(config.database, config.sqlite_synchronous, migrate=True)
        credentials = config.credentials()
        store = LocalObjectStore(db, config.objects_dir)
        logs = LogStore(db)
        roles = Roles(db, credentials.account_id)
        roles.ensure_default()
        identity = Identity(db, credentials, roles)
        executor = open_executor(config.executor, config.ray_address,
                                 config.max_parallel_jobs or None, config.stop_grace_seconds)
        settings = TrainingSettings(config.home, runtime.url, config.region,
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
                              HostingSettings(config.home, runtime.url, config.region,
                                              config.routing_seed or None,
                                              config.idle_timeout_seconds), executor,
                              identity)
        training_api = TrainingApi(training, tags)
        tuning = TuningJobs(db, training)
        transforms = TransformJobs(db, LocalObjects(store), artifacts, logs, sandbox,
                                   TransformSettings(config.home),
                                   endpoints.catalog.model,
                                   endpoints.envs, executor, identity, endpoints.worker_keys)
        functions = _functions(config, credentials, db, store, logs, identity, sandbox, runtime)
        notebooks = NotebookInstances(db, identity, logs, sandbox, NotebookSettings(
            config.home, runtime.url, config.region, credentials.account_id,
            sdk_v3_python=config.sdk_v3_python))
        registry = ModelRegistry(db, artifact_check(store))
        search = Search()
        registry_api = RegistryApi(registry, tags, search)
        jobs = {**training_api.operations(),
                **TuningApi(tuning, tags).operations(),
                **ProcessingApi(processing, tags).operations(),
                **HostingApi(endpoints, tags, registry_api.model_container).operations(),
                **TransformApi(transforms, tags).operations(), **tags.operations(),
                **registry_api.operations(), **search.operations(),
                **NotebookApi(notebooks, tags).operations()}
        acting = Acting(ActingServices(
            identity, Authorizer(identity, roles), jobs, SAGEMAKER_SHAPES.validate,
            _invoke(functions), _read_object(store), config.region))
        records = PipelineStore(db)
        pipelines = Pipelines(records, Engine(records, acting, time.time, job_ends=(
            training.on_finished, processing.on_finished, transforms.on_finished,
            tuning.on_finished)), time.time)
        operations = {**jobs, **PipelinesApi(pipelines, tags, acting.read_as_role).operations()}
        return cls(config, credentials, db, store, logs, identity, executor, tags, training,
                   training_api, processing, tuning, endpoints, transforms, functions,
                   Gateway(db, runtime.url), time.time(), notebooks, roles, registry, pipelines,
                   operations)

    def start(self) -> None:
        """Resume what a crash or stop interrupted and start the background engines (in the
        lifespan: the API socket listens already, so the code this starts can reach cove)."""
        self.training.recover()
        self.processing.recover()
        self.tuning.start()
        self.endpoints.recover()
        self.transforms.recover()
        self.notebooks.recover()
        self.pipelines.engine.start()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "pid": os.getpid(),
                "uptime_seconds": round(time.time() - self.started, 1)}


def build_app(platform: Platform, console_url: str) -> tuple[Edge, ASGIApp]:
    """The API port's app, and the console's (served at ``console_url``)."""
    verifier = Verifier(platform.identity.lookup)
    sagemaker = JsonService("sagemaker", "SageMaker", platform.sagemaker_operations,
                            validator=SAGEMAKER_SHAPES)
    websites = Websites(platform.db, platform.store)
    background: list[asyncio.Task[None]] = []

    async def start() -> None:
        removed = platform.store.sweep()
        if removed:
            log.warning("removed %d unreferenced blob(s) left by an earlier crash", removed)
        background.extend(asyncio.create_task(every(1.0, work, what))
                          for what, work in platform.endpoints.background_work().items())
        platform.start()

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
        [S3Service(platform.store, platform.config.region, websites, platform.identity,
                   platform.config.s3_object_ownership), sagemaker,
         RuntimeService(platform.endpoints), logs_service(platform.logs),
         LambdaApi(platform.functions).service(), GatewayApi(platform.gateway).service(),
         AdminApi(platform.executor, platform.training.sandbox, platform.store,
                  platform.endpoints, platform.transforms, platform.identity).service(),
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


def _invoke(functions: Functions) -> Callable[[str, bytes], tuple[bytes, bool]]:
    def invoke(function: str, payload: bytes) -> tuple[bytes, bool]:
        outcome = functions.invoke_blocking(function, payload)
        return outcome.payload, outcome.error
    return invoke


def _functions(config: Config, credentials: Credentials, db: Database, store: LocalObjectStore,
               logs: LogStore, identity: Identity, sandbox: Sandbox,
               runtime: Runtime) -> Functions:
    functions: Functions
    pool = Pool(sandbox, config.function_concurrency,
                lambda key, stream, lines: functions.log_lines(key, stream, lines))
    functions = Functions(db, identity, logs, pool, FunctionsSettings(
        config.home, runtime.url, config.region, credentials.account_id,
        config.function_concurrency, config.archive_limits), runtime.loop, _read_object(store))
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

    def __init__(self, config: uvicorn.Config, server_file: Path, console: _Console,
                 console_socket: socket.socket, console_url: str) -> None:
        super().__init__(config)
        self.server_file = server_file
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
        # Listening from now on: what the lifespan resumes (jobs, workers) may call cove at
        # once and waits in the backlog until uvicorn accepts, rather than being refused.
        api_socket.listen(_BACKLOG)
        host, port = api_socket.getsockname()[:2]
        loop = uvloop.new_event_loop()
        platform = Platform.open(config, Runtime(f"http://{host}:{port}", loop))
        limits = RequestLimits(config.head_timeout_seconds, config.max_head_bytes,
                               config.max_headers, config.max_connections)
        edge, console_asgi = build_app(platform, console_url)
        console = _Console(_uvicorn_config(console_asgi, limits, "off"))
        api = _Server(_uvicorn_config(edge, limits, "on"), config.server_file, console,
                      console_socket, console_url)
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            runner.run(api.serve(sockets=[api_socket]))
    finally:
        record = read_server_file(config.home)
        if record is not None and record["pid"] == os.getpid():
            config.server_file.unlink(missing_ok=True)
        lock.close()


_BACKLOG = 2048  # uvicorn's default


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

