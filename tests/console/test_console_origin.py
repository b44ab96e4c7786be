"""The console on its own origin: its own port, recorded in server.json and printed by the CLI;
the API port only sends browsers over there; content users control is sandboxed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.conftest import CoveServer
from tests.console.conftest import signed_in


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_console_has_its_own_port_and_the_api_port_redirects(cove: CoveServer) -> None:
    api, console = urlsplit(cove.url), urlsplit(cove.console_url)
    assert api.hostname == console.hostname and api.port != console.port
    record = json.loads((cove.home / "server.json").read_text())
    assert record["console_url"] == cove.console_url
    moved = requests.get(cove.url + "/ui/objects?x=1", allow_redirects=False, timeout=30)
    assert moved.status_code == 302
    assert moved.headers["location"] == cove.console_url + "/ui/objects?x=1"
    posted = requests.post(cove.url + "/ui/sign-in", data={"access_key_id": "x"}, timeout=30,
                           allow_redirects=False)
    assert posted.status_code == 404 and cove.console_url in posted.json()["message"]
    assert "set-cookie" not in posted.headers
    root = requests.get(cove.console_url + "/", allow_redirects=False, timeout=30)
    assert root.status_code == 303 and root.headers["location"] == "/ui/"
    # the console's port serves the console and nothing else: no S3, no sites, no gateway
    for path in ("/site/x/", "/gw/x/", "/_cove/health", "/bucket"):
        assert requests.get(cove.console_url + path, timeout=30).status_code == 404


def test_signed_in_on_the_console_origin_only(cove: CoveServer) -> None:
    session, csrf = signed_in(cove)
    assert session.get(cove.console_url + "/ui/objects", timeout=30).status_code == 200
    # an action from a page of the API's origin (a bucket website) is refused by Origin
    forged = session.post(cove.console_url + "/ui/endpoints/none/stop", timeout=30,
                          data={"csrf": csrf}, headers={"Origin": cove.url})
    assert forged.status_code == 403
    sandboxed = session.post(cove.console_url + "/ui/endpoints/none/stop", timeout=30,
                             data={"csrf": csrf}, headers={"Origin": "null"})
    assert sandboxed.status_code == 403
    # cookies planted next to the real one (another port of this host may set them) are
    # passed over, before or after it
    real = session.cookies["cove_session"]
    for header in (f"cove_session=planted.{'0' * 64}; cove_session={real}",
                   f"cove_session={real}; cove_session=planted"):
        answer = requests.get(cove.console_url + "/ui/", headers={"Cookie": header},
                              timeout=30)
        assert answer.status_code == 200 and "Dashboard" in answer.text
    assert requests.get(cove.console_url + "/ui/", timeout=30, headers={
        "Cookie": "cove_session=planted"}).status_code == 401


def test_console_port_setting_cli_and_sign_in_link(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("COVE_")},
           "COVE_HOME": str(home), "COVE_CONSOLE_PORT": str(port)}

    def cove_cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cove", *args], env={**env, "COLUMNS": "200"},
                              capture_output=True, text=True, timeout=120)

    up = cove_cmd("up", "--detach", "--port", "0")
    try:
        assert up.returncode == 0, up.stderr
        assert f"http://127.0.0.1:{port}/ui/sign-in/link?token=" in up.stdout
        status = cove_cmd("status").stdout
        assert f"http://127.0.0.1:{port}/ui/" in status
        link = cove_cmd("ui", "--no-open").stdout.split()[-1]
        assert link.startswith(f"http://127.0.0.1:{port}/ui/sign-in/link?token=")
        browser = requests.Session()
        assert browser.get(link, timeout=30).url == f"http://127.0.0.1:{port}/ui/"
        # a busy console port is a clear error, not a traceback
        busy = subprocess.run([sys.executable, "-m", "cove", "up", "--port", "0"],
                              env={**env, "COVE_HOME": str(tmp_path / "other")},
                              capture_output=True, text=True, timeout=120)
        assert busy.returncode != 0 and "Traceback" not in busy.stderr
        assert f"the console cannot listen on 127.0.0.1:{port}" in busy.stderr + busy.stdout
        assert "COVE_CONSOLE_PORT" in busy.stderr + busy.stdout
    finally:
        cove_cmd("down")


def test_console_port_defaults_next_to_coves(tmp_path: Path) -> None:
    from cove.config import load_config

    assert load_config(tmp_path, port=4599).console_bind_port == 4600
    assert load_config(tmp_path, port=0).console_bind_port == 0
    assert load_config(tmp_path, port=4599, console_port=0).console_bind_port == 0
    assert load_config(tmp_path, port=4599, console_port=9000).console_bind_port == 9000
