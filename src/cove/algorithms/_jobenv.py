"""The training-container contract as a built-in algorithm sees it.

A job is a process whose environment names the ``/opt/ml``-style directories (``SM_MODEL_DIR``,
``SM_OUTPUT_DIR``, ``SM_INPUT_CONFIG_DIR``, ``SM_CHANNEL_<NAME>``, ...).  :class:`JobEnv` reads
them once; :func:`run_algorithm` runs an algorithm's ``train(job)`` and turns any failure into
what SageMaker shows: a one-paragraph ``output/failure`` (→ ``FailureReason``) and exit code 1.

:class:`AlgorithmError` is the one exception an algorithm raises for the customer's mistakes
(missing hyperparameter, unparsable data); its message is the failure reason verbatim.  Anything
else is a bug in cove: the traceback goes to stderr and the failure file says so.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

_CONTAINER_ROOT = Path("/opt/ml")
_GZIP_MAGIC = b"\x1f\x8b"


class AlgorithmError(Exception):
    """A customer error: the message becomes ``output/failure`` (the job's FailureReason)."""


@dataclass(frozen=True)
class Channel:
    """One input channel: a directory of files plus its InputDataConfig entry."""

    name: str
    path: Path
    content_type: str | None = None
    compression: str = "None"

    def files(self) -> list[Path]:
        """Every data file under the channel, recursively, sorted; hidden files skipped."""
        if not self.path.is_dir():
            raise AlgorithmError(
                f"The {self.name!r} channel directory {self.path} does not exist. Check the "
                f"channel's S3 URI points at your data.")
        return sorted(
            p for p in self.path.rglob("*")
            if p.is_file() and not any(part.startswith(".")
                                       for part in p.relative_to(self.path).parts))

    def read_files(self) -> Iterator[tuple[Path, bytes]]:
        """(path, content) for every file, gzip files decompressed."""
        for path in self.files():
            yield path, self.read(path)

    def is_compressed(self, path: Path) -> bool:
        if not (self.compression.lower() == "gzip" or path.suffix == ".gz"):
            return False
        with open(path, "rb") as f:
            return f.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC

    def read(self, path: Path) -> bytes:
        """A file's content, decompressed when it is gzip."""
        data = path.read_bytes()
        wants_gzip = self.compression.lower() == "gzip" or path.suffix == ".gz"
        if not (wants_gzip and data.startswith(_GZIP_MAGIC)):
            return data
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise AlgorithmError(
                f"Could not decompress {self.relative(path)} in the {self.name!r} channel: "
                f"{exc}. Upload a valid gzip file, or set CompressionType to None.") from exc

    def relative(self, path: Path) -> str:
        return f"{self.name}/{path.relative_to(self.path)}"


@dataclass(frozen=True)
class JobEnv:
    """Everything a built-in algorithm reads from its environment."""

    hyperparameters: dict[str, str]
    channels: dict[str, Channel]
    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    current_host: str = "algo-1"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> JobEnv:
        env = os.environ if environ is None else environ
        config_dir = _config_dir(env)
        hyperparameters = _decode_hyperparameters(_read_json(config_dir / "hyperparameters.json"))
        return cls(
            hyperparameters=hyperparameters,
            channels=_channels(env, _read_json(config_dir / "inputdataconfig.json")),
            model_dir=_dir(env, "SM_MODEL_DIR", "model"),
            output_dir=output_dir(env),
            output_data_dir=_dir(env, "SM_OUTPUT_DATA_DIR", "output/data"),
            current_host=_current_host(env, config_dir),
        )

    def channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def require_channel(self, name: str, algorithm: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            raise AlgorithmError(
                f"The {algorithm} algorithm needs a {name!r} channel, but the job has "
                f"{_names(self.channels)}. Pass it in InputDataConfig (estimator.fit({{'{name}': "
                f"s3_input}})).")
        return channel


def output_dir(environ: Mapping[str, str]) -> Path:
    return _dir(environ, "SM_OUTPUT_DIR", "output")


def log(message: str) -> None:
    """One flushed log line in the containers' ``[timestamp LEVEL]`` style."""
    stamp = time.strftime("%m/%d/%Y %H:%M:%S")
    print(f"[{stamp} INFO] {message}", flush=True)


def warn(message: str) -> None:
    stamp = time.strftime("%m/%d/%Y %H:%M:%S")
    print(f"[{stamp} WARNING] {message}", flush=True)


def run_algorithm(train: Callable[[JobEnv], None], name: str) -> NoReturn:
    """Run ``train`` against the process environment and exit like a training container."""
    environ = os.environ
    try:
        train(JobEnv.from_environ(environ))
    except AlgorithmError as exc:
        _fail(environ, str(exc))
    except Exception as exc:  # the last line of defence: record the bug, then exit 1
        traceback.print_exc(file=sys.stderr)
        _fail(environ, f"The {name} algorithm failed with an internal error ({type(exc).__name__}:"
                       f" {exc}). This is a bug in cove; the job's log has the traceback.")
    sys.stdout.flush()
    sys.exit(0)


def _fail(environ: Mapping[str, str], reason: str) -> NoReturn:
    print(f"ERROR: {reason}", file=sys.stderr, flush=True)
    target = output_dir(environ) / "failure"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(reason + "\n")
    except OSError as exc:
        print(f"ERROR: could not write {target}: {exc}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    sys.exit(1)


def _dir(environ: Mapping[str, str], variable: str, default: str) -> Path:
    if variable in environ:
        return Path(environ[variable])
    root = Path(environ["SM_INPUT_DIR"]).parent if "SM_INPUT_DIR" in environ else _CONTAINER_ROOT
    return root / default


def _config_dir(environ: Mapping[str, str]) -> Path:
    if "SM_INPUT_CONFIG_DIR" in environ:
        return Path(environ["SM_INPUT_CONFIG_DIR"])
    return _dir(environ, "SM_INPUT_DIR", "input") / "config"


def _read_json(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except ValueError as exc:
        raise AlgorithmError(f"{path.name} is not valid JSON: {exc}.") from exc
    if not isinstance(loaded, dict):
        raise AlgorithmError(f"{path.name} must hold a JSON object, not {type(loaded).__name__}.")
    return loaded


def _decode_hyperparameters(raw: dict[str, object]) -> dict[str, str]:
    """Values are strings; a JSON-encoded string (``"\\"reg:linear\\""``) is unwrapped."""
    decoded: dict[str, str] = {}
    for key, value in raw.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) >= 2 and text[0] == text[-1] == '"':
            # not JSON after all: keep the quotes, and the parser will say what is wrong
            with contextlib.suppress(ValueError):
                text = str(json.loads(text))
        decoded[key] = text
    return decoded


def _channels(environ: Mapping[str, str], config: dict[str, object]) -> dict[str, Channel]:
    names = set(config)
    configured = {name.upper() for name in config}
    names.update(k[len("SM_CHANNEL_"):].lower() for k in environ
                 if k.startswith("SM_CHANNEL_") and k[len("SM_CHANNEL_"):] not in configured)
    data_root = _dir(environ, "SM_INPUT_DIR", "input") / "data"
    channels: dict[str, Channel] = {}
    for name in sorted(names):
        entry = config.get(name)
        spec = entry if isinstance(entry, dict) else {}
        path = Path(environ.get(f"SM_CHANNEL_{name.upper()}", str(data_root / name)))
        channels[name] = Channel(
            name=name, path=path, content_type=spec.get("ContentType") or None,
            compression=str(spec.get("CompressionType") or "None"))
    return channels


def _current_host(environ: Mapping[str, str], config_dir: Path) -> str:
    if environ.get("SM_CURRENT_HOST"):
        return environ["SM_CURRENT_HOST"]
    host = _read_json(config_dir / "resourceconfig.json").get("current_host")
    return host if isinstance(host, str) and host else "algo-1"


def _names(channels: Mapping[str, Channel]) -> str:
    if not channels:
        return "no channels"
    return "channels " + ", ".join(repr(n) for n in channels)
