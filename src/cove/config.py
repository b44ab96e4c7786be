"""Configuration: one frozen value object, resolved flag > environment > config file > default.

Environment variables carry the ``COVE_`` prefix.  The config file is ``$COVE_HOME/config.toml``
(flat keys named like the fields below).  Credentials live apart, in
``$COVE_HOME/credentials.json`` (mode 0600), created at first use.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cove.errors import CoveError
from cove.untrusted import ArchiveLimits

DEFAULT_PORT = 4599
DEFAULT_HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
#: Where the console lives on its own port, and its session cookie's name: the gateway drops
#: any cookie a function tries to set under either.
CONSOLE_PATH = "/ui"
CONSOLE_COOKIE = "cove_session"


class ConfigError(CoveError):
    code = "ConfigError"
    status = 500


@dataclass(frozen=True)
class Credentials:
    """The access key pair clients sign with, and the account they act as."""

    access_key_id: str
    secret_access_key: str
    account_id: str
    #: A temporary key's session token (the keys cove issues to the code it runs); "" for the
    #: long-term root key pair.
    session_token: str = ""

    def environment(self) -> dict[str, str]:
        """The variables boto3 (and every AWS SDK) reads these credentials from."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id,
               "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    @property
    def caller_arn(self) -> str:
        # An assumed-role ARN: the SageMaker SDK turns it into the execution role below.
        return f"arn:aws:sts::{self.account_id}:assumed-role/CoveExecutionRole/cove"

    @property
    def execution_role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/CoveExecutionRole"


@dataclass(frozen=True)
class Config:
    home: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    database_url: str = ""
    #: SQLite durability: NORMAL survives cove crashes; FULL also the OS's (slower commits).
    sqlite_synchronous: str = "NORMAL"
    #: How processes of jobs are confined: auto (bubblewrap when present), bwrap, none.
    sandbox: str = "auto"
    #: Training hosts that may run at once (0: one per CPU, at least 2); more queue.
    max_parallel_jobs: int = 0
    #: Seconds between SIGTERM and SIGKILL when a job is stopped.
    stop_grace_seconds: int = 30
    #: Seed of the weighted choice between production variants (0: unseeded).
    routing_seed: int = 0
    #: Stop endpoints idle this long ("90s", "30m", "2h"; "" or "0": never).
    endpoint_idle_timeout: str = ""
    #: The Python of an environment with SageMaker SDK v3 (``sagemaker>=3``) and ipykernel
    #: (e.g. ``/path/to/.venv-v3/bin/python``): notebook instances then offer a second kernel,
    #: "Python 3 (SageMaker SDK v3)", beside cove's own (SDK v2; v2 and v3 cannot share one).
    sdk_v3_python: str = ""
    #: Function invocations in flight at once, over all functions (Lambda's concurrency
    #: limit): one more synchronous invocation gets TooManyRequestsException.
    function_concurrency: int = 10

    @property
    def idle_timeout_seconds(self) -> float:
        return parse_duration(self.endpoint_idle_timeout)
    access_key_id: str = ""
    secret_access_key: str = ""
    #: The console warns about endpoints unused this long ("have you shut them down?").
    console_idle_warning: str = "1h"
    #: Where job hosts run: local (this machine) or ray (a Ray cluster at ray_address).
    #: ``ml.TYPE=CPUS:GIB[:GPUS],...``: what an instance type asks of the executor, over the
    #: AWS figures (``executors/_resources.py``), e.g. ``ml.m4.xlarge=2:8`` on 2-CPU nodes.
    instance_types: str = ""
    executor: str = "local"
    #: The Ray cluster's address (HOST:PORT of its head) when executor is ray.
    ray_address: str = ""
    #: The web console's port, an origin of its own apart from content users control (bucket
    #: websites, gateway responses): -1 is cove's port + 1 (a free one when cove's is 0), 0 a
    #: free one.
    console_port: int = -1
    #: A request's head (request line and headers) must arrive within this long, or the
    #: connection is answered 408 and closed (slow-header clients hold no connection).
    request_head_timeout: str = "10s"
    #: The largest request head in bytes and the most header fields; more is answered 431.
    max_head_bytes: int = 64 * 1024
    max_headers: int = 200
    #: Connections served at once per port; a request on one more is answered 503.
    max_connections: int = 1000
    #: What an archive users hand cove may unpack to ("10GiB", "512MiB", bytes): a
    #: model.tar.gz, a sourcedir.tar.gz (training or inference code), a Lambda zip (AWS: 250 MiB).
    model_unpacked_limit: str = "10GiB"
    sourcedir_unpacked_limit: str = "1GiB"
    function_unzipped_limit: str = "250MiB"
    #: How many members (files, directories, links) any of those archives may have.
    archive_member_limit: int = 100_000
    #: The Object Ownership of an S3 bucket created without one: BucketOwnerEnforced (AWS's
    #: default since April 2023: ACLs off), or ObjectWriter (the earlier default: ACLs on,
    #: which clients written for it, such as the Ceph S3 conformance suite, expect).
    s3_object_ownership: str = "BucketOwnerEnforced"

    @property
    def archive_limits(self) -> ArchiveLimits:
        return ArchiveLimits(parse_size(self.model_unpacked_limit),
                             parse_size(self.sourcedir_unpacked_limit),
                             parse_size(self.function_unzipped_limit),
                             self.archive_member_limit)

    @property
    def url(self) -> str:
        """Where clients (and the code cove runs) reach this server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def console_bind_port(self) -> int:
        """The port the console listens on (0: a free one)."""
        if self.console_port >= 0:
            return self.console_port
        return self.port + 1 if self.port else 0

    @property
    def head_timeout_seconds(self) -> float:
        seconds = parse_duration(self.request_head_timeout)
        if seconds <= 0:
            raise ConfigError("request_head_timeout must be a positive duration, e.g. 10s")
        return seconds

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'cove.db'}"

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @property
    def server_file(self) -> Path:
        """Where a running server records its pid, host and port."""
        return self.home / "server.json"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def credentials(self) -> Credentials:
        """The configured key pair, else the one stored under home (created at first use)."""
        stored = load_or_create_credentials(self.home)
        if self.access_key_id and self.secret_access_key:
            return Credentials(self.access_key_id, self.secret_access_key, stored.account_id)
        return stored


def read_server_file(home: Path) -> dict[str, Any] | None:
    """Where the server for ``home`` listens, if one is running (what ``serve`` records once
    it listens; clients, the CLI among them, read it and talk to that server)."""
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


def parse_duration(text: str) -> float:
    """``"90"``/``"90s"``, ``"30m"``, ``"2h"``, ``"1d"`` -> seconds; empty -> 0."""
    text = str(text).strip().lower()
    if not text:
        return 0.0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    factor = units.get(text[-1], 1)
    number = text[:-1] if text[-1] in units else text
    try:
        return float(number) * factor
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not a duration: write e.g. 90s, 30m or 2h") from exc


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
               "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """``"10GiB"``, ``"250MiB"``, ``"500MB"``, ``"1048576"`` -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(text).lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ConfigError(f"{text!r} is not a size: write e.g. 10GiB, 250MiB or a byte count")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def default_home() -> Path:
    return Path(os.environ.get("COVE_HOME") or Path.home() / ".cove").expanduser()


def load_config(home: Path | str | None = None, **flags: Any) -> Config:
    """Resolve the configuration: explicit flags win, then ``COVE_*`` variables, then the file."""
    root = Path(home).expanduser() if home else default_home()
    file_values = _read_config_file(root / "config.toml")
    values: dict[str, Any] = {}
    for field in fields(Config):
        if field.name == "home":
            continue
        env = os.environ.get(f"COVE_{field.name.upper()}")
        flag = flags.get(field.name)
        chosen = next((v for v in (flag, env, file_values.get(field.name)) if v is not None),
                      None)
        if chosen is not None:
            values[field.name] = _coerce(field.name, chosen, field.type)
    return Config(home=root.resolve(), **values)


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    if annotation in (int, "int"):
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be an integer, got {value!r}") from exc
    return str(value)


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def make_home(home: Path) -> None:
    """Create the data directory, owner-only: it holds the database, credentials and logs."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)


def secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of the owner-only file ``path``, written from ``make()`` on first use.

    Written whole to a private temporary file, then linked into place: no moment where the
    secret is world-readable, and no reader ever sees it half-written.  When two processes
    race, the first link wins and both return its contents.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    make_home(path.parent)
    tmp = path.with_suffix(f".{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(make())
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def load_or_create_credentials(home: Path) -> Credentials:
    """Read ``credentials.json`` under home, creating it (owner-only) on first use."""
    data = json.loads(secret_file(home / "credentials.json", _new_credentials))
    return Credentials(data["access_key_id"], data["secret_access_key"], data["account_id"])


def _new_credentials() -> bytes:
    return json.dumps({
        "access_key_id": "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits)
                                          for _ in range(16)),
        "secret_access_key": secrets.token_urlsafe(30)[:40],
        "account_id": "".join(secrets.choice(string.digits) for _ in range(12)),
    }).encode()
