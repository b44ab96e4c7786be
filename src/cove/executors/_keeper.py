"""The keeper of one sandbox network: run as a script (standard library only, ``python -I -S``)
by ``_networks.py``, never imported by cove.

It makes a user namespace (its uid map written by the parent, which may map the sandbox's root
to an unprivileged uid), then a network namespace with only loopback, owned by that user
namespace, in one thread: every sandboxed process of the network joins both.  The rest of the
process stays in the machine's network, which is what lets it relay:

* ``--api PORT``: connections to 127.0.0.1:PORT inside the namespace go to 127.0.0.1:PORT
  outside (cove's API) — the only way out.
* ``--publish PORT``: connections to 127.0.0.1:PORT outside go to 127.0.0.1:PORT inside (a
  notebook's Jupyter server).

It prints ``user`` when its user namespace exists, reads one line (the parent has written the
maps), prints ``ready <thread id>`` when the network namespace is up, then reads the paths of
its lease, registry lock and record (at once, or when a spare keeper is claimed; it ends if
stdin closes first) and ends, removing them, when no sandbox holds a shared lock on the lease.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import queue
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
CHUNK = 256 * 1024

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare: {os.strerror(errno)}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


class Inside:
    """The thread that lives in the network namespace; sockets it creates belong there."""

    def __init__(self) -> None:
        self.requests: queue.Queue[tuple[Callable[[], socket.socket], queue.Queue[object]]] = (
            queue.Queue())
        self.ready: queue.Queue[object] = queue.Queue()

    def run(self) -> None:
        try:
            _unshare(CLONE_NEWNET)
            _loopback_up()
        except OSError as exc:
            self.ready.put(exc)
            return
        self.ready.put(threading.get_native_id())
        while True:
            make, answer = self.requests.get()
            try:
                answer.put(make())
            except OSError as exc:
                answer.put(exc)

    def socket(self, make: Callable[[], socket.socket]) -> socket.socket:
        answer: queue.Queue[object] = queue.Queue()
        self.requests.put((make, answer))
        result = answer.get()
        if isinstance(result, OSError):
            raise result
        assert isinstance(result, socket.socket)
        return result


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        # The other side went away: closing both ends below is the whole answer.
        source.close()
        target.close()


def _relay(listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = connect()
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _outside(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port))


def _serve(inside: Inside, api: int, publish: list[int]) -> None:
    if api:
        listener = inside.socket(lambda: _listener(api))
        threading.Thread(target=_relay, args=(listener, lambda: _outside(api)),
                         daemon=True).start()
    for port in publish:
        def connect(port: int = port) -> socket.socket:
            sock = inside.socket(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.connect(("127.0.0.1", port))
            return sock
        threading.Thread(target=_relay, args=(_listener(port), connect), daemon=True).start()


def _wait_for_members(lease: str, lock: str, record: str) -> None:
    """Until no sandbox holds the lease; the registry lock keeps a newcomer from joining a
    keeper that is about to end."""
    with open(lease, "rb") as lease_file, open(lock, "rb") as lock_file:
        while True:
            time.sleep(0.2)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                fcntl.flock(lease_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
                continue
            for path in (record, lease, lock):  # a newcomer waiting on the lock sees it go
                os.unlink(path)
            return  # exiting releases the registry lock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", type=int, default=0)
    parser.add_argument("--publish", type=int, action="append", default=[])
    args = parser.parse_args()
    _unshare(CLONE_NEWUSER)
    print("user", flush=True)
    sys.stdin.readline()  # the parent has written our uid and gid maps
    inside = Inside()
    threading.Thread(target=inside.run, daemon=True).start()
    tid = inside.ready.get()
    if isinstance(tid, OSError):
        raise tid
    _serve(inside, args.api, args.publish)
    print(f"ready {tid}", flush=True)
    # Which network this is: a spare keeper waits here until cove gives it one (or ends).
    claim = sys.stdin.readline().split()
    if len(claim) == 3:
        _wait_for_members(*claim)


if __name__ == "__main__":
    main()
