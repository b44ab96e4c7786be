"""Assembling and running the cove server: the platform's parts, the edge, uvicorn."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from cove import __version__
from cove.config import Config, Credentials
from cove.edge import Edge, Principal, Verifier, public_json, sts_service
from cove.errors import CoveError
from cove.meta import Database
from cove.objects import LocalObjectStore, S3Service

log = logging.getLogger("cove.server")


class AlreadyRunning(CoveError):
    code = "AlreadyRunning"
    status = 409


@dataclass
class Platform:
    """Everything one cove server owns; later components hang off it."""

    config: Config
    credentials: Credentials
    db: Database
    store: LocalObjectStore
    started: float

    @classmethod
    def open(cls, config: Config) -> Platform:
        config.home.mkdir(parents=True, exist_ok=True)
        db = Database(config.database, config.sqlite_synchronous)
        return cls(config, config.credentials(), db,
                   LocalObjectStore(db, config.objects_dir), time.time())

    def principal(self) -> Principal:
        c = self.credentials
        return Principal(c.access_key_id, c.secret_access_key, c.account_id, c.caller_arn)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "pid": os.getpid(),
                "uptime_seconds": round(time.time() - self.started, 1)}


def build_app(platform: Platform) -> Edge:
    root = platform.principal()
    verifier = Verifier(lambda key: root if key == root.access_key_id else None)

    async def sweep() -> None:
        removed = platform.store.sweep()
        if removed:
            log.warning("removed %d unreferenced blob(s) left by an earlier crash", removed)

    async def close() -> None:
        platform.db.close()

    return Edge(
        verifier,
        [S3Service(platform.store, platform.config.region), sts_service()],
        public={"/_cove/health": public_json(platform.health)},
        on_startup=[sweep],
        on_shutdown=[close],
    )


class _Server(uvicorn.Server):
    """uvicorn's server, recording where it listens once its socket is bound."""

    def __init__(self, config: uvicorn.Config, server_file: Path) -> None:
        super().__init__(config)
        self.server_file = server_file

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
        print(f"cove {__version__} listening on {record['url']} (home "
              f"{self.server_file.parent}); Ctrl-C stops it.", flush=True)


def serve(config: Config) -> None:
    """Run cove in the foreground until SIGINT/SIGTERM; one server per home."""
    config.home.mkdir(parents=True, exist_ok=True)
    lock = _lock(config.home)
    try:
        platform = Platform.open(config)
        app = build_app(platform)
        uv = uvicorn.Config(app, host=config.host, port=config.port, lifespan="on",
                            loop="uvloop", http="httptools", log_level="warning",
                            access_log=False, timeout_keep_alive=75, server_header=False)
        _Server(uv, config.server_file).run()
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
