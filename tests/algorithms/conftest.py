"""A hand-built ``/opt/ml``-style job directory, and a built-in algorithm run in it as a real
subprocess with the training toolkit's ``SM_*`` environment."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from cove.algorithms import BUILTIN_ALGORITHMS


@dataclass
class Run:
    """A finished algorithm process."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    def metrics(self, algorithm: str) -> dict[str, list[float]]:
        """Every value each metric definition extracts, with tabs shown as CloudWatch does."""
        found: dict[str, list[float]] = {}
        for line in self.stdout.splitlines():
            shown = line.replace("\t", "#011")
            for definition in BUILTIN_ALGORITHMS[algorithm].metric_definitions:
                match = re.search(definition["Regex"], shown)
                if match:
                    found.setdefault(definition["Name"], []).append(float(match.group(1)))
        return found


@dataclass
class JobDir:
    """input/config/*.json, input/data/<channel>/..., model/, output/ under ``root``."""

    root: Path
    hyperparameters: dict[str, str] = field(default_factory=dict)
    channels: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for sub in ("input/config", "input/data", "model", "output/data"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    def add_file(self, channel: str, name: str, content: str | bytes,
                 content_type: str | None = None, compression: str | None = None) -> Path:
        directory = self.root / "input" / "data" / channel
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        entry = self.channels.setdefault(channel, {"TrainingInputMode": "File"})
        if content_type:
            entry["ContentType"] = content_type
        if compression:
            entry["CompressionType"] = compression
        return path

    def add_csv(self, channel: str, labels: npt.NDArray[np.float64],
                features: npt.NDArray[np.float64], name: str = "data.csv",
                content_type: str | None = "text/csv") -> Path:
        return self.add_file(channel, name, to_csv(labels, features), content_type)

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
        env.update({
            "SM_MODEL_DIR": str(self.root / "model"),
            "SM_INPUT_DIR": str(self.root / "input"),
            "SM_INPUT_CONFIG_DIR": str(self.root / "input" / "config"),
            "SM_OUTPUT_DIR": str(self.root / "output"),
            "SM_OUTPUT_DATA_DIR": str(self.root / "output" / "data"),
            "SM_CHANNELS": json.dumps(sorted(self.channels)),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
        })
        for name in self.channels:
            env[f"SM_CHANNEL_{name.upper()}"] = str(self.root / "input" / "data" / name)
        return env

    def run(self, module: str, timeout: float = 300) -> Run:
        config = self.root / "input" / "config"
        (config / "hyperparameters.json").write_text(json.dumps(self.hyperparameters))
        (config / "inputdataconfig.json").write_text(json.dumps(self.channels))
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", module], cwd=self.root, env=self.environ(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        return Run(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)

    def failure(self) -> str | None:
        path = self.root / "output" / "failure"
        return path.read_text() if path.exists() else None


def to_csv(labels: npt.NDArray[np.float64], features: npt.NDArray[np.float64]) -> str:
    """Rows ``label,f1,f2,...`` with every float written exactly (repr)."""
    table = np.column_stack([labels, features])
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in table)


@pytest.fixture
def job(tmp_path: Path) -> JobDir:
    return JobDir(tmp_path / "job")
