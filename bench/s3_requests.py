#!/usr/bin/env python3
"""S3 request costs against one cove, with boto3: what a single request spends, not throughput.

* GET 1 MiB, cached: wall time, the server's and this client's CPU per GET (300 GETs of
  objects just written and read once), with botocore's default response checksum check and
  without it (``response_checksum_validation="when_required"``): the client's share.
* PUT 1 MiB: median time of a PUT of a new key, and of one that replaces an object.
* DeleteObjects of 1000 keys of 1 KiB: the request's time.

    python bench/s3_requests.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from s3_throughput import Endpoint, cove_server, own_cpu, process_cpu

MIB = 1 << 20
BUCKET = "cove-bench"


def client(ep: Endpoint, **config: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=ep.url, region_name="us-east-1",
                        aws_access_key_id=ep.key, aws_secret_access_key=ep.secret,
                        config=Config(s3={"addressing_style": "path"}, **config))


def gets(s3, pid: int, label: str, n: int = 300) -> None:  # type: ignore[no-untyped-def]
    for i in range(50):
        s3.get_object(Bucket=BUCKET, Key=f"g{i % 20}")["Body"].read()
    server, mine, start = process_cpu(pid), own_cpu(), time.perf_counter()
    for i in range(n):
        s3.get_object(Bucket=BUCKET, Key=f"g{i % 20}")["Body"].read()
    wall = (time.perf_counter() - start) / n * 1000
    print(f"  GET 1 MiB, {label:34} {wall:5.2f} ms/GET  server cpu "
          f"{(process_cpu(pid) - server) / n * 1000:4.2f} ms  client cpu "
          f"{(own_cpu() - mine) / n * 1000:4.2f} ms", flush=True)


def puts(s3, round_no: int, n: int = 100) -> None:  # type: ignore[no-untyped-def]
    body = os.urandom(MIB)

    def timed(key: str) -> float:
        start = time.perf_counter()
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return time.perf_counter() - start

    new = [timed(f"p{round_no}/{i}") for i in range(n)]
    replacing = [timed(f"p{round_no}/{i}") for i in range(n)]
    print(f"  PUT 1 MiB, median of {n}: new key {statistics.median(new) * 1000:5.2f} ms, "
          f"replacing an object {statistics.median(replacing) * 1000:5.2f} ms", flush=True)


def delete_objects(s3, round_no: int, n: int = 1000) -> None:  # type: ignore[no-untyped-def]
    keys = [f"d{round_no}/{i}" for i in range(n)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 1024)
    start = time.perf_counter()
    answer = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": k} for k in keys], "Quiet": True})
    elapsed = time.perf_counter() - start
    if answer.get("Errors"):
        raise RuntimeError(f"DeleteObjects failed: {answer['Errors'][:3]}")
    print(f"  DeleteObjects of {n} keys of 1 KiB: {elapsed:.3f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds [2]")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=".tmp-s3requests-", dir=Path(__file__).parent))
    try:
        with cove_server(work) as ep:
            assert ep.pid is not None
            s3 = client(ep)
            s3.create_bucket(Bucket=BUCKET)
            body = os.urandom(MIB)
            for i in range(20):
                s3.put_object(Bucket=BUCKET, Key=f"g{i}", Body=body)
            lean = client(ep, response_checksum_validation="when_required")
            for n in range(args.rounds):
                print(f"round {n + 1} of {args.rounds}", flush=True)
                gets(s3, ep.pid, "botocore's default")
                gets(lean, ep.pid, "response checksum when_required")
                puts(s3, n)
                delete_objects(s3, n)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
