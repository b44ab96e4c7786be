"""A requirements build whose package index is on the network reaches that index and nothing
else: its sandbox's only way out is cove's index proxy, which goes only to the configured hosts.

The index is a real HTTP index on the machine's loopback; the hostile package is an sdist whose
build backend (run by pip inside the build) tries a listener the test opens, cove's own API and
an arbitrary host, directly and through the proxy."""

from __future__ import annotations

import functools
import io
import json
import socket
import tarfile
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import CoveServer
from tests.training.helpers import log_lines, script_job, unique, upload_source, wait

BACKEND = '''
"""Runs inside pip's build of evilnet: every way out it tries is recorded in the wheel."""
import json, os, socket, urllib.request, zipfile

def _direct(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return "CONNECTED"
    except OSError as exc:
        return "blocked: " + type(exc).__name__

def _proxied(url):
    try:
        return "status %%d" %% urllib.request.urlopen(url, timeout=20).status
    except urllib.error.HTTPError as exc:
        return "status %%d" %% exc.code
    except OSError as exc:
        return "failed: " + type(exc).__name__

def _connect(target):
    proxy = os.environ["HTTPS_PROXY"].rsplit(":", 1)
    with socket.create_connection((proxy[0][len("http://"):], int(proxy[1])), timeout=20) as s:
        s.sendall(("CONNECT %%s HTTP/1.1\\r\\nHost: %%s\\r\\n\\r\\n" %% (target, target)).encode())
        return s.recv(100).split(b"\\r\\n")[0].decode()

def _probe():
    listener, api, index = %(listener)d, %(api)d, %(index)d
    return {
        "direct listener": _direct(listener), "direct api": _direct(api),
        "direct index": _direct(index), "direct far": _direct(80, "93.184.216.34"),
        "proxy listener": _proxied("http://127.0.0.1:%%d/" %% listener),
        "proxy api": _proxied("http://127.0.0.1:%%d/" %% api),
        "proxy far": _proxied("http://example.com/"),
        "connect listener": _connect("127.0.0.1:%%d" %% listener),
        "connect far": _connect("example.com:443"),
        "proxy index": _proxied("http://127.0.0.1:%%d/simple/goodpkg/" %% index),
    }

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "evilnet-1.0-py3-none-any.whl"
    info = "evilnet-1.0.dist-info"
    files = {"evilnet.py": "FOUND = %%r\\n" %% json.dumps(_probe()),
             info + "/METADATA": "Metadata-Version: 2.1\\nName: evilnet\\nVersion: 1.0\\n",
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: evil\\nRoot-Is-Purelib: true\\n"
                              "Tag: py3-none-any\\n"}
    files[info + "/RECORD"] = "".join(f + ",,\\n" for f in files) + info + "/RECORD,,\\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name
'''

PYPROJECT = '''
[build-system]
requires = []
build-backend = "evilbackend"
backend-path = ["."]
'''

TRAIN = '''
import goodpkg, evilnet
print("GOOD", goodpkg.GREETING)
print("FOUND", evilnet.FOUND)
'''


def _wheel(path: Path) -> None:
    """goodpkg 1.0 as a real (pure-Python) wheel."""
    info = "goodpkg-1.0.dist-info"
    files = {"goodpkg.py": "GREETING = 'hello from the index'\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: goodpkg\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


def _sdist(path: Path, backend: str) -> None:
    files = {"pyproject.toml": PYPROJECT, "evilbackend.py": backend,
             "PKG-INFO": "Metadata-Version: 2.1\nName: evilnet\nVersion: 1.0\n"}
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            entry = tarfile.TarInfo(f"evilnet-1.0/{name}")
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))


def _index(root: Path, backend: str) -> None:
    for project, file in (("goodpkg", "goodpkg-1.0-py3-none-any.whl"),
                          ("evilnet", "evilnet-1.0.tar.gz")):
        (root / "simple" / project).mkdir(parents=True)
        (root / "simple" / project / "index.html").write_text(
            f'<html><body><a href="../../files/{file}">{file}</a></body></html>\n')
    (root / "files").mkdir()
    _wheel(root / "files" / "goodpkg-1.0-py3-none-any.whl")
    _sdist(root / "files" / "evilnet-1.0.tar.gz", backend)


@contextmanager
def _serving(root: Path) -> Iterator[int]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _listener() -> Iterator[tuple[int, list[object]]]:
    """A port on the machine's loopback that records whoever connects."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    seen: list[object] = []

    def accept() -> None:
        while True:
            try:
                client, address = sock.accept()
            except OSError:
                return  # closed: the test is over
            seen.append(address)
            client.close()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        sock.close()


def test_a_build_reaches_its_index_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    with _listener() as (listener, seen), _serving(tmp_path / "index") as index:
        server = CoveServer(tmp_path / "home", {
            "PIP_INDEX_URL": f"http://127.0.0.1:{index}/simple"}).start()
        try:  # the index's files are written once cove's port is known
            api = int(server.url.rsplit(":", 1)[1].rstrip("/"))
            _index(tmp_path / "index", BACKEND % {"listener": listener, "api": api,
                                                  "index": index})
            text = _train(server)
        finally:
            server.stop()
        assert seen == [], "the build reached the test's listener"
    assert f"this build reaches only: 127.0.0.1:{index}" in text, text[-3000:]
    assert "GOOD hello from the index" in text, text[-3000:]
    found = json.loads(next(line for line in text.splitlines()
                            if line.startswith("FOUND "))[len("FOUND "):])
    assert found["proxy index"] == "status 200", found
    for way in ("direct listener", "direct api", "direct index", "direct far"):
        assert found[way].startswith("blocked"), found
    for way in ("proxy listener", "proxy api", "proxy far"):
        assert found[way] == "status 403", found
    for way in ("connect listener", "connect far"):
        assert found[way].startswith("HTTP/1.1 403"), found


def _train(server: CoveServer) -> str:
    s3, sm = server.client("s3"), server.client("sagemaker")
    s3.create_bucket(Bucket="indexnet")
    source = upload_source(s3, "indexnet", {"train.py": TRAIN,
                                            "requirements.txt": "goodpkg\nevilnet\n"})
    name = unique("indexnet")
    sm.create_training_job(**script_job(name, "indexnet", source))
    d = wait(sm, name, timeout=300)
    text = "\n".join(log_lines(server.client("logs"), name))
    assert d["TrainingJobStatus"] == "Completed", (d.get("FailureReason"), text[-3000:])
    return text
