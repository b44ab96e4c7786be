"""The public gateway path under a flood of made-up stage names: the database is read in worker
threads, never on the event loop, and what is remembered about names that do not exist is
bounded."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx

from cove.config import Config
from cove.gateway import GatewayProxy
from cove.gateway._gateway import MAX_ABSENT
from cove.server import Platform, Runtime

SEGMENTS = 20_000


def test_20000_unknown_segments_stay_bounded_and_off_the_loop(tmp_path: Path) -> None:
    platform = Platform.open(Config(home=tmp_path / "home"),
                             Runtime("http://127.0.0.1:1", asyncio.new_event_loop()))
    try:
        gateway = platform.gateway
        api = gateway.create_api({"ProtocolType": "HTTP", "Name": "flood"})["ApiId"]
        gateway.add(api, "stage", "$default", {"StageName": "$default", "AutoDeploy": True})
        builds_on_loop: list[str] = []
        build = gateway._build

        def watched(api_id: str, stage: str) -> object:
            if threading.current_thread() is threading.main_thread():
                builds_on_loop.append(stage)
            return build(api_id, stage)

        gateway._build = watched  # type: ignore[method-assign,assignment]
        proxy = GatewayProxy(gateway, platform.functions, platform.credentials.account_id)
        statuses = asyncio.run(_flood(proxy, api))
        assert statuses == {404}  # no route matches; every request answered
        assert not builds_on_loop, f"{len(builds_on_loop)} database reads on the event loop"
        assert len(gateway._absent) <= MAX_ABSENT
        assert gateway.view(api, "$default") is not None  # the real stage is still served
    finally:
        platform.executor.shutdown()
        platform.db.close()


async def _flood(proxy: GatewayProxy, api: str) -> set[int]:
    transport = httpx.ASGITransport(app=proxy)
    statuses: set[int] = set()
    async with httpx.AsyncClient(transport=transport, base_url="http://cove") as client:
        for start in range(0, SEGMENTS, 200):
            answers = await asyncio.gather(*(client.get(f"/gw/{api}/seg{n}/x")
                                             for n in range(start, start + 200)))
            statuses |= {a.status_code for a in answers}
    return statuses
