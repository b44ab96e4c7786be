"""The workers a transform job sends its mini-batches to, on this machine: a hosting
:class:`~cove.hosting.Fleet` of sandboxed model-server processes, reached over their sockets.

The engine sees only :class:`~cove.transform._engine.Invoker`; a pool of workers elsewhere (a
Ray cluster) implements the same three calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from cove.hosting import Fleet, Worker, WorkerResponse, WorkerUnavailable

#: How long a request waits for a ready worker while the fleet restarts one that died.
READY_WAIT = 120.0


class LocalWorkers:
    """``count`` workers of one fleet; requests go to the least busy ready one."""

    def __init__(self, fleet: Fleet, count: int) -> None:
        self.fleet, self.count = fleet, count

    def start(self) -> None:
        """Start the workers and wait until each answers /ping; FleetFailed if one cannot."""
        self.fleet.start(self.count)

    def stop(self) -> None:
        self.fleet.stop()

    async def invoke(self, body: bytes, headers: dict[str, str],
                     timeout: float) -> WorkerResponse:
        worker = await self._ready_worker()
        worker.in_flight += 1
        try:
            return await worker.client.request("POST", "/invocations", headers, body, timeout)
        finally:
            worker.in_flight -= 1

    async def execution_parameters(self) -> dict[str, Any] | None:
        """What the model's container answers at GET /execution-parameters (None: nothing)."""
        worker = await self._ready_worker()
        try:
            response = await worker.client.request("GET", "/execution-parameters", {}, b"", 10)
        except (TimeoutError, WorkerUnavailable):
            return None
        if response.status != 200:
            return None
        try:
            answer = json.loads(response.body)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    async def close(self) -> None:
        """Close the idle connections (on the loop that opened them)."""
        for worker in self.fleet.workers:
            worker.client.close()

    async def _ready_worker(self) -> Worker:
        # A worker that died is being restarted by its fleet: wait for it (or another one).
        deadline = time.monotonic() + READY_WAIT
        while (worker := self.fleet.pick()) is None:
            if time.monotonic() > deadline:
                raise WorkerUnavailable(f"no model worker became ready within "
                                        f"{READY_WAIT:.0f} s (they keep failing to restart; "
                                        "see the workers' log streams)")
            await asyncio.sleep(0.05)
        return worker
