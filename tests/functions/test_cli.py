"""`cove functions ls` and `cove gateway ls` against a running server."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import CoveServer
from tests.functions.conftest import ROLE, zip_of


def cove_cmd(server: CoveServer, *args: str) -> str:
    env = {**os.environ, "COVE_HOME": str(server.home), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "cove", *args], env=env, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_functions_and_gateway_ls(fresh_cove: CoveServer) -> None:
    assert "No functions." in cove_cmd(fresh_cove, "functions", "ls")
    assert "No APIs." in cove_cmd(fresh_cove, "gateway", "ls")
    arn = fresh_cove.client("lambda").create_function(
        FunctionName="sentiment", Runtime="python3.11", Role=ROLE, Handler="f.handler",
        MemorySize=256, Code={"ZipFile": zip_of({"f.py": "def handler(e, c): return 1"})}
    )["FunctionArn"]
    api = fresh_cove.client("apigatewayv2").create_api(
        Name="reviews", ProtocolType="HTTP", Target=arn, RouteKey="POST /sentiment")
    listing = cove_cmd(fresh_cove, "functions", "ls")
    assert "sentiment" in listing and "python3.11" in listing and "256 MB" in listing
    listing = cove_cmd(fresh_cove, "gateway", "ls")
    assert api["ApiId"] in listing and "reviews" in listing
    assert f"{fresh_cove.url}/gw/{api['ApiId']}" in listing
    assert "POST /sentiment → sentiment" in listing
