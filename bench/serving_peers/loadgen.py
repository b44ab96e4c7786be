"""The load generator: keep-alive HTTP/1.1 connections from one asyncio (uvloop) process.

    python loadgen.py < config.json

Config (JSON on stdin)::

    {"target": {"tcp": ["127.0.0.1", 8080]} | {"unix": "/path/worker.sock"},
     "path": "/invocations", "host": "127.0.0.1:8080",
     "headers": {"content-type": "text/csv", "accept": "text/csv"},
     "body_file": "/tmp/body.csv",
     "sign": null | {"access_key": ..., "secret_key": ..., "region": "us-east-1",
                     "service": "sagemaker", "signer": "fast" | "botocore"},
     "concurrency": 8, "seconds": 20.0, "warmup": 2.0,
     "series_file": null | "/tmp/series.txt"}  # optional: each request's start and latency

Each of ``concurrency`` connections sends the same request, waits for the whole response, and
sends the next (closed loop).  Requests are raw HTTP/1.1 written to asyncio streams, so the
client's own cost per request stays small (tens of µs); signed requests get a fresh SigV4
signature each (``fast``: the same algorithm as botocore's SigV4Auth with the signing key cached
per day, checked against SigV4Auth at start; ``botocore``: SigV4Auth.add_auth per request).
Signing happens before a request's clock starts.

Prints ``go`` when the measured window opens and ``done`` when it closes (so the caller can
sample server CPU over exactly that window), then one JSON line: requests completed in the
window, errors, latency percentiles (ms), and this process's CPU seconds in the window.
Unix socket paths longer than the 107 bytes a sockaddr holds are reached through a directory
descriptor (/proc/self/fd/N/name), as cove does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class FastSigner:
    """SigV4 (AWS4-HMAC-SHA256) for one fixed POST path: header lines to add to a request."""

    def __init__(self, access_key: str, secret_key: str, region: str, service: str, host: str,
                 path: str, headers: dict[str, str]) -> None:
        self.access_key, self.secret_key = access_key, secret_key
        self.region, self.service, self.host, self.path = region, service, host, path
        signed = {**{k.lower(): v.strip() for k, v in headers.items()}, "host": host}
        self.names = sorted([*signed, "x-amz-date"])
        self.signed_headers = ";".join(self.names)
        self.fixed = signed
        self._day = ""
        self._key = b""

    def _signing_key(self, day: str) -> bytes:
        if day != self._day:
            key = ("AWS4" + self.secret_key).encode()
            for part in (day, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._day, self._key = day, key
        return self._key

    def authorization(self, amz_date: str, body: bytes) -> str:
        day = amz_date[:8]
        values = {**self.fixed, "x-amz-date": amz_date}
        canonical = "\n".join([
            "POST", self.path, "",
            "".join(f"{name}:{values[name]}\n" for name in self.names),
            self.signed_headers, hashlib.sha256(body).hexdigest()])
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                f"SignedHeaders={self.signed_headers}, Signature={signature}")

    def extra(self, body: bytes) -> bytes:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return (f"x-amz-date: {amz_date}\r\nauthorization: "
                f"{self.authorization(amz_date, body)}\r\n").encode()


class BotocoreSigner:
    """botocore's SigV4Auth.add_auth on a fresh AWSRequest for every request."""

    def __init__(self, access_key: str, secret_key: str, region: str, service: str, host: str,
                 path: str, headers: dict[str, str]) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        self.auth = SigV4Auth(Credentials(access_key, secret_key), service, region)
        self.request_class = AWSRequest
        self.url = f"http://{host}{path}"
        self.headers = headers

    def signed(self, body: bytes) -> Any:
        request = self.request_class(method="POST", url=self.url, data=body,
                                     headers=dict(self.headers))
        self.auth.add_auth(request)
        return request

    def extra(self, body: bytes) -> bytes:
        headers = self.signed(body).headers
        return (f"x-amz-date: {headers['X-Amz-Date']}\r\nauthorization: "
                f"{headers['Authorization']}\r\n").encode()


def check_fast_signer(fast: FastSigner, slow: BotocoreSigner, body: bytes) -> None:
    """The fast signer must produce botocore's Authorization header for the same request."""
    request = slow.signed(body)
    expected = request.headers["Authorization"]
    got = fast.authorization(request.headers["X-Amz-Date"], body)
    if got != expected:
        raise SystemExit(f"loadgen: the fast SigV4 signer disagrees with botocore:\n"
                         f"  botocore: {expected}\n  fast:     {got}")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        length = int(lower[at + 17:end])
        return status, await reader.readexactly(length)
    if b"\r\ntransfer-encoding: chunked" in lower:
        pieces: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(pieces)
            pieces.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if status in (204, 304) or 100 <= status < 200:
        return status, b""
    raise ValueError(f"response without a length: {head[:200]!r}")


class Load:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.body = open(config["body_file"], "rb").read()  # noqa: SIM115
        headers = dict(config.get("headers", {}))
        self.head = (f"POST {config['path']} HTTP/1.1\r\nhost: {config['host']}\r\n"
                     + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                     + f"content-length: {len(self.body)}\r\n").encode()
        self.extra: Callable[[bytes], bytes] = lambda body: b""
        sign = config.get("sign")
        if sign:
            args = (sign["access_key"], sign["secret_key"], sign["region"], sign["service"],
                    config["host"], config["path"], headers)
            slow = BotocoreSigner(*args)
            if sign.get("signer", "fast") == "botocore":
                self.extra = slow.extra
            else:
                fast = FastSigner(*args)
                check_fast_signer(fast, slow, self.body)
                self.extra = fast.extra
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error = ""
        self.first_body = b""
        # optional: every measured request's (start, latency), written to this file
        self.series: list[tuple[float, float]] | None = [] if config.get("series_file") else None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        target = self.config["target"]
        if "tcp" in target:
            host, port = target["tcp"]
            return await asyncio.open_connection(host, port, limit=1 << 20)
        path = target["unix"]
        if len(path.encode()) > 100:
            directory = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
            path = f"/proc/self/fd/{directory}/{os.path.basename(path)}"
        return await asyncio.open_unix_connection(path, limit=1 << 20)

    async def client(self) -> None:
        reader, writer = await self.connect()
        body, head, extra = self.body, self.head, self.extra
        latencies, clock = self.latencies, time.perf_counter
        try:
            while not self.stopping:
                request = head + extra(body) + b"\r\n" + body
                started = clock()
                writer.write(request)
                try:
                    status, answer = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    self._error(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await self.connect()
                    continue
                elapsed = clock() - started
                if status != 200:
                    self._error(f"HTTP {status}: {answer[:300]!r}")
                    continue
                if not self.first_body:
                    self.first_body = answer
                if self.measuring:
                    latencies.append(elapsed)
                    if self.series is not None:
                        self.series.append((started, elapsed))
        finally:
            writer.close()

    def _error(self, message: str) -> None:
        if self.measuring:
            self.errors += 1
        if not self.first_error:
            self.first_error = message

    async def run(self) -> dict[str, Any]:
        concurrency = int(self.config["concurrency"])
        tasks = [asyncio.create_task(self.client()) for _ in range(concurrency)]
        await asyncio.sleep(float(self.config.get("warmup", 2.0)))
        for task in tasks:
            if task.done():  # a client that could not connect
                task.result()
        print("go", flush=True)
        cpu0, started = cpu_seconds(), time.perf_counter()
        self.measuring = True
        await asyncio.sleep(float(self.config["seconds"]))
        self.measuring = False
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
        print("done", flush=True)
        self.stopping = True
        for task in tasks:  # responses still in flight are not waited for
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.series is not None:
            with open(self.config["series_file"], "w") as out:
                out.writelines(f"{t - started:.6f} {1000 * d:.3f}\n" for t, d in self.series)
        latencies = sorted(self.latencies)
        count = len(latencies)

        def pct(p: float) -> float:
            return latencies[min(count - 1, int(p / 100 * count))] * 1000 if count else 0.0

        return {"requests": count, "errors": self.errors, "seconds": elapsed,
                "rps": count / elapsed, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
                "max_ms": latencies[-1] * 1000 if count else 0.0,
                "mean_ms": sum(latencies) / count * 1000 if count else 0.0,
                "cpu_seconds": cpu, "first_error": self.first_error,
                "first_body": self.first_body[:400].decode("utf-8", "replace")}


def main() -> None:
    config = json.loads(sys.stdin.read())
    load = Load(config)
    try:
        import uvloop
        result = uvloop.run(load.run())
    except ImportError:
        result = asyncio.run(load.run())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
