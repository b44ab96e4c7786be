"""The SDK v3 editions of the tutorials (``examples/tutorials-v3/*.py``, notebook-style
``# %%`` scripts), each run as a user runs it after ``eval "$(cove env)"``: a cove of its own,
the exports of ``cove env`` and ``COVE_TUTORIAL_SCALE=small``, nothing else.  A tutorial passes
when it exits 0, the figures it prints (``RESULT name=value``) meet the floors below, and it
leaves no endpoint, endpoint configuration or model behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests_v3.conftest import exported_env

TUTORIALS = Path(__file__).resolve().parents[1] / "examples" / "tutorials-v3"
SCRIPTS = sorted(TUTORIALS.glob("*.py"))
#: diabetes targets 25..346 (standard deviation ~77): a constant guess scores RMSE ~77
FLOORS = {"01-regression-train-model-trainer.py": {"rmse": 70.0},
          "02-regression-tuning.py": {"rmse": 70.0},
          "03-regression-deploy-model-builder.py": {"rmse": 70.0}}
#: the one known gap, until the sandbox gives model workers a writable /lib
READ_ONLY_LIB = re.compile(r"shared_libs'\), '/lib', '\[Errno 30\] Read-only file system")


def test_every_tutorial_has_floors() -> None:
    assert sorted(FLOORS) == [p.name for p in SCRIPTS]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_tutorial_runs_as_printed(script: Path, fresh_cove: Any, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    env = {**clean, **exported_env(fresh_cove), "COVE_TUTORIAL_SCALE": "small"}
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, text=True,
                         capture_output=True, timeout=840)
    print(f"\nTUTORIAL {script.name}: {time.monotonic() - started:.1f} s")
    sm = fresh_cove.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [], "the tutorial left endpoints running"
    if out.returncode != 0 and READ_ONLY_LIB.search(out.stderr):
        pytest.xfail("ModelBuilder's generated handler copies shared_libs into /lib, read-only "
                     "in this sandbox until the sandbox makes /lib writable")
    assert out.returncode == 0, out.stderr[-4000:]
    results = {name: float(value) for name, value in
               re.findall(r"^RESULT (\w+)=([-0-9.eE+]+)$", out.stdout, re.M)}
    for name, bound in FLOORS[script.name].items():
        assert name in results, f"{script.name} printed no RESULT {name}: {out.stdout[-2000:]}"
        assert results[name] < bound, f"{script.name}: {name}={results[name]} >= {bound}"
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
