"""cove's index proxy on its own, over real sockets: it relays an allowed host's answers as
they are (a redirect is pip's to follow, and pip's next request is checked like the first),
refuses every other host, and bounds its connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cove.training import _indexproxy


class _Redirecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test reads the answers


@contextmanager
def _origin() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _ask(port: int, request: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def test_pypi_brings_its_files_host() -> None:
    hosts = _indexproxy.allowed_hosts(["https://pypi.org/simple", "http://mirror.local:8080/s",
                                       "file:///opt/wheels", "/opt/wheels"])
    assert hosts == {("pypi.org", 443), ("files.pythonhosted.org", 443),
                     ("mirror.local", 8080)}


def test_answers_are_relayed_not_followed_and_other_hosts_refused() -> None:
    with _origin() as origin, _indexproxy.running(
            frozenset({("127.0.0.1", origin)})) as proxy:
        answer = _ask(proxy.port, f"GET http://127.0.0.1:{origin}/simple/x/ HTTP/1.1\r\n"
                                  f"Host: 127.0.0.1:{origin}\r\nConnection: keep-alive\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 302"), answer
        assert b"Location: http://127.0.0.1:1/elsewhere" in answer
        # the redirect's target, asked next, is another host: refused, as is any other port
        for target in ("127.0.0.1:1", f"localhost:{origin}", f"127.1:{origin}"):
            refused = _ask(proxy.port, f"GET http://{target}/elsewhere HTTP/1.1\r\n\r\n")
            assert refused.startswith(b"HTTP/1.1 403"), (target, refused)
            refused = _ask(proxy.port, f"CONNECT {target} HTTP/1.1\r\n\r\n")
            assert refused.startswith(b"HTTP/1.1 403"), (target, refused)
        assert _ask(proxy.port, "GET /relative HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert _ask(proxy.port, "nonsense\r\n\r\n") == b""


def test_connections_are_bounded() -> None:
    with _indexproxy.running(frozenset()) as proxy:
        idle = [socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
                for _ in range(_indexproxy.MAX_CONNECTIONS)]
        try:
            for sock in idle:  # each has been accepted and holds its slot, sending nothing
                sock.sendall(b"GET")
            answer = b""
            for _ in range(100):  # the slots fill as the proxy's loop accepts them
                answer = _ask(proxy.port, "GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n")
                if answer.startswith(b"HTTP/1.1 503"):
                    break
            assert answer.startswith(b"HTTP/1.1 503"), answer
        finally:
            for sock in idle:
                sock.close()
        # the slots free as their clients go
        for _ in range(100):
            answer = _ask(proxy.port, "GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n")
            if answer.startswith(b"HTTP/1.1 403"):
                break
        assert answer.startswith(b"HTTP/1.1 403"), answer
