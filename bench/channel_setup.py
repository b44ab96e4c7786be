#!/usr/bin/env python3
"""Input channel set-up: how long ``LocalObjectStore.materialize`` takes to put a channel's
objects into a job directory (100 x 1 MiB and 1 x 256 MiB by default), best of a few rounds,
beside the disk's raw copy rate (``shutil.copyfile`` of the same blobs) for reference.

    python bench/channel_setup.py [--small-count 100] [--large-mib 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cove.meta import Database
from cove.objects import LocalObjectStore, ObjectInfo


def fill(store: LocalObjectStore, bucket: str, prefix: str, count: int, size: int,
         scratch: Path) -> list[ObjectInfo]:
    source = scratch / "source"
    infos = []
    for index in range(count):
        source.write_bytes(os.urandom(size))
        infos.append(store.put_file(bucket, f"{prefix}/{index:04d}", source))
    return infos


def best(rounds: int, scratch: Path, work: Callable[[Path], None]) -> float:
    times = []
    for round_ in range(rounds):
        target = scratch / f"channel-{round_}"
        started = time.perf_counter()
        work(target)
        times.append(time.perf_counter() - started)
        shutil.rmtree(target)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-count", type=int, default=100)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("COVE_BENCH_DIR")) as tmp:
        scratch = Path(tmp)
        store = LocalObjectStore(Database(f"sqlite:///{scratch / 'cove.db'}", migrate=True),
                                 scratch / "objects")
        store.create_bucket("bench", "us-east-1")
        cases = {f"{args.small_count} x 1 MiB": fill(store, "bench", "small", args.small_count,
                                                       1 << 20, scratch),
                 f"1 x {args.large_mib} MiB": fill(store, "bench", "large", 1,
                                                   args.large_mib << 20, scratch)}
        print(f"{'channel':<16}{'materialize':>14}{'copyfile':>12}")
        for name, infos in cases.items():
            def materialize(target: Path, infos: list[ObjectInfo] = infos) -> None:
                for info in infos:
                    store.materialize(info, target / info.key)

            def copy(target: Path, infos: list[ObjectInfo] = infos) -> None:
                for info in infos:
                    (target / info.key).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(store.blobs.path(info.parts[0][0]), target / info.key)
            print(f"{name:<16}{best(args.rounds, scratch, materialize) * 1000:>11.1f} ms"
                  f"{best(args.rounds, scratch, copy) * 1000:>9.1f} ms")


if __name__ == "__main__":
    main()
