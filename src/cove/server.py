"""Assembling and running the cove server: the platform's parts, the edge, uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from cove import __version__
from cove.config import Config, ConfigError, Credentials, make_home
from cove.console import PREFIX as CONSOLE_PREFIX
from cove.console import Console, mint_link
from cove.edge import Edge, JsonService, Verifier, public_json, sts_service
from cove.edge._shapes import ShapeValidator
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
from cove.hosting import ArtifactCache, Endpoints, HostingApi, HostingSettings, RuntimeService
from cove.identity import Identity
from cove.logs import LogStore, logs_service
from cove.meta import Database
from cove.meta.tables import models
from cove.notebooks import NotebookApi, NotebookInstances, NotebookSettings
from cove.objects import LocalObjectStore, S3Service, Websites
from cove.objects._website import PREFIX as WEBSITE_PREFIX
from cove.sagemaker import Tags
from cove.supervision import FailureLog, every
from cove.training import REQUIRED as TRAINING_REQUIRED
from cove.training import LocalDataPlane, TrainingApi, TrainingJobs, TrainingSettings
from cove.transform import LocalObjects, TransformApi, TransformJobs, TransformSettings
from cove.tuning import TuningApi, TuningJobs

log = logging.getLogger("cove.server")


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
    tuning: TuningJobs
    endpoints: Endpoints
    transforms: TransformJobs
    functions: Functions
    gateway: Gateway
    started: float
    notebooks: NotebookInstances

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
        identity = Identity(db, credentials)
        executor = open_executor(config.executor, config.ray_address,
                                 config.max_parallel_jobs or None, config.stop_grace_seconds)
        settings = TrainingSettings(config.home, config.url, config.region,
                                    stop_grace=config.stop_grace_seconds)
        sandbox = choose_sandbox(config.sandbox)
        training = TrainingJobs(db, LocalDataPlane(store), logs, identity, executor, sandbox,
                                settings)
        artifacts = ArtifactCache(store, config.home / "artifacts")
        endpoints = Endpoints(db, artifacts, logs, sandbox,
                              HostingSettings(config.home, config.region,
                                              config.routing_seed or None,
                                              config.idle_timeout_seconds), executor)
        tags = Tags(db)
        training_api = TrainingApi(training, training.data, tags)
        tuning = TuningJobs(db, training, training_api.build)
        transforms = TransformJobs(db, LocalObjects(store), artifacts, logs, sandbox,
                                   TransformSettings(config.home),
                                   lambda name: endpoints.get(models, name, "model"),
                                   endpoints.envs, executor)
        functions = _functions(config, credentials, db, store, logs, identity, sandbox)
        notebooks = NotebookInstances(db, identity, logs, sandbox, NotebookSettings(
            config.home, config.region, credentials.account_id))
        return cls(config, credentials, db, store, logs, identity, executor, tags, training,
                   training_api, tuning, endpoints, transforms, functions, Gateway(db),
                   time.time(), notebooks)

    def bound(self, url: str) -> None:
        """The server listens at ``url``: the code cove runs can now reach it."""
        self.training.endpoint_url = url
        self.training.recover()
        self.tuning.start()
        self.endpoints.recover()
        self.transforms.recover()
        self.functions.bind(asyncio.get_running_loop(), url)
        self.gateway.url = url
        self.notebooks.endpoint_url = url
        self.notebooks.recover()

    def describe_executor(self, params: dict[str, Any], call: Any) -> dict[str, Any]:
        """``Cove.DescribeExecutor`` (signed): the executor and, on Ray, its nodes.  Not in the
        unsigned health answer: node addresses are the caller's business only, and asking Ray
        takes a round trip that health polls should not pay."""
        return self.executor.describe()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "pid": os.getpid(),
                "uptime_seconds": round(time.time() - self.started, 1)}


def build_app(platform: Platform) -> Edge:
    verifier = Verifier(platform.identity.lookup)
    tuning_api = TuningApi(platform.tuning, platform.training_api.build, platform.tags)
    hosting_api = HostingApi(platform.endpoints, platform.store, platform.tags)
    transform_api = TransformApi(platform.transforms, platform.tags)
    sagemaker = JsonService("sagemaker", "SageMaker", {
        **platform.training_api.operations(), **tuning_api.operations(),
        **hosting_api.operations(), **transform_api.operations(),
        **platform.tags.operations(),
        **NotebookApi(platform.notebooks, platform.tags).operations()},
        validator=ShapeValidator("sagemaker", required={"CreateTrainingJob": TRAINING_REQUIRED}))
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
        platform.tuning.shutdown()
        platform.training.shutdown()
        platform.executor.shutdown()
        platform.db.close()

    return Edge(
        verifier,
        [S3Service(platform.store, platform.config.region, websites), sts_service(), sagemaker,
         RuntimeService(platform.endpoints), logs_service(platform.logs),
         LambdaApi(platform.functions).service(), GatewayApi(platform.gateway).service(),
         JsonService("cove", "Cove", {"DescribeExecutor": platform.describe_executor})],
        public={"/_cove/health": public_json(platform.health), WEBSITE_PREFIX: websites,
                GATEWAY_PREFIX: GatewayProxy(platform.gateway, platform.functions,
                                     platform.credentials.account_id),
                CONSOLE_PREFIX: Console(platform)},
        on_startup=[start],
        on_shutdown=[stop],
    )


def _functions(config: Config, credentials: Credentials, db: Database, store: LocalObjectStore,
               logs: LogStore, identity: Identity, sandbox: Sandbox) -> Functions:
    functions: Functions
    pool = Pool(sandbox, config.function_concurrency,
                lambda key, stream, lines: functions.log_lines(key, stream, lines))
    functions = Functions(db, identity, logs, pool, FunctionsSettings(
        config.home, config.region, credentials.account_id, config.function_concurrency))

    def read_object(bucket: str, key: str) -> bytes:
        info = store.head_object(bucket, key)
        return store.read(info, 0, info.size)

    functions.read_object = read_object
    return functions


class _Server(uvicorn.Server):
    """uvicorn's server, recording where it listens once its socket is bound."""

    def __init__(self, config: uvicorn.Config, server_file: Path,
                 on_bound: Callable[[str], None]) -> None:
        super().__init__(config)
        self.server_file = server_file
        self.on_bound = on_bound

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
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        record = {"pid": os.getpid(), "host": host, "port": port,
                  "url": f"http://{host}:{port}", "started": time.time()}
        tmp = self.server_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.server_file)
        self.on_bound(record["url"])
        print(f"cove {__version__} listening on {record['url']} (home "
              f"{self.server_file.parent}); Ctrl-C stops it.", flush=True)
        print(f"Console: {mint_link(self.server_file.parent, record['url'])} (one-time "
              "sign-in link; `cove ui` makes another)", flush=True)


def serve(config: Config) -> None:
    """Run cove in the foreground until SIGINT/SIGTERM; one server per home."""
    make_home(config.home)
    lock = _lock(config.home)
    try:
        platform = Platform.open(config)
        app = build_app(platform)
        uv = uvicorn.Config(app, host=config.host, port=config.port, lifespan="on",
                            loop="uvloop", http="httptools", log_level="warning",
                            access_log=False, timeout_keep_alive=75, server_header=False,
                            proxy_headers=False)  # cove is reached directly, never via a proxy
        _Server(uv, config.server_file, platform.bound).run()
    finally:
        record = read_server_file(config.home)
        if record is not None and record["pid"] == os.getpid():
            config.server_file.unlink(missing_ok=True)
        lock.close()


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
