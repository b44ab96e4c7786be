"""Server CPU per S3 operation: the cove process's user+system time for PUT / GET 1 MiB x N.

Wall-clock throughput (``s3_throughput.py``) swings with the load of a shared machine; the CPU
a server spends per request does much less, so this is the figure to compare two versions by:

    .venv/bin/python bench/s3_server_cpu.py                       # this checkout
    .venv/bin/python bench/s3_server_cpu.py --src /other/checkout/src --count 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

MIB = 1 << 20


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_cove(home: Path, src: str | None) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "COVE_HOME": str(home)}
    if src:
        env["PYTHONPATH"] = src
    proc = subprocess.Popen([sys.executable, "-m", "cove", "up", "--port", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            record = json.loads((home / "server.json").read_text())
            if record["pid"] == proc.pid:
                urllib.request.urlopen(record["url"] + "/_cove/health", timeout=2).read()
                return proc, str(record["url"])
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("cove did not start")


def measure(url: str, home: Path, pid: int, count: int) -> dict[str, tuple[float, float]]:
    creds = json.loads((home / "credentials.json").read_text())
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=creds["access_key_id"],
                      aws_secret_access_key=creds["secret_access_key"],
                      region_name="us-east-1", config=Config(retries={"max_attempts": 0}))
    s3.create_bucket(Bucket="cpu-bench")
    data = os.urandom(MIB)
    for i in range(5):  # warm up
        s3.put_object(Bucket="cpu-bench", Key=f"warm{i}", Body=data)
    out = {}
    for op in ("PUT", "GET"):
        cpu0, wall0 = process_cpu(pid), time.perf_counter()
        for i in range(count):
            if op == "PUT":
                s3.put_object(Bucket="cpu-bench", Key=f"k{i}", Body=data)
            elif s3.get_object(Bucket="cpu-bench", Key=f"k{i}")["Body"].read() != data:
                raise SystemExit(f"GET k{i}: wrong bytes")
        out[op] = ((process_cpu(pid) - cpu0) / count * 1000,
                   (time.perf_counter() - wall0) / count * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="run cove from this source tree (PYTHONPATH)")
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix=".tmp-s3cpu-", dir=Path(__file__).parent))
    proc = None
    try:
        proc, url = start_cove(home, args.src)
        for op, (cpu, wall) in measure(url, home, proc.pid, args.count).items():
            print(f"{op} 1 MiB x {args.count}: server CPU {cpu:.2f} ms/op, wall {wall:.2f} ms/op")
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
