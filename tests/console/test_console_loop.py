"""The console never runs SQL on the event loop: a slow database call in one request does not
hold up another, and no console request reads or writes the database from the loop's thread.

In process, with a real Platform and database, driven over ASGI by httpx (as the gateway's
event-loop test is)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cove.config import Config
from cove.console import PREFIX, Console, console_app
from cove.server import Platform, Runtime

SLOW = 2.0


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    platform = Platform.open(Config(home=tmp_path / "home"),
                             Runtime("http://127.0.0.1:1", asyncio.new_event_loop()))
    try:
        yield platform
    finally:
        platform.executor.shutdown()
        platform.db.close()


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _watch_database(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every read or write transaction opened on an event loop's thread, by what opened it."""
    seen: list[str] = []
    db = platform.db
    for kind in ("read", "write"):
        original = getattr(db, kind)

        def watched(original: Any = original, kind: str = kind) -> Any:
            if _on_loop():
                seen.append(kind)
            return original()

        monkeypatch.setattr(db, kind, watched)
    return seen


async def _signed_in(client: httpx.AsyncClient, platform: Platform) -> str:
    creds = platform.credentials
    answer = await client.post(f"{PREFIX}/sign-in", data={
        "access_key_id": creds.access_key_id, "secret_access_key": creds.secret_access_key,
        "next": f"{PREFIX}/"})
    assert answer.status_code == 303, answer.text
    page = await client.get(f"{PREFIX}/training-jobs")
    return page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def test_console_requests_open_no_transaction_on_the_event_loop(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch_database(platform, monkeypatch)

    async def drive() -> list[int]:
        transport = httpx.ASGITransport(app=console_app(Console(platform)))
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            csrf = await _signed_in(client, platform)
            statuses = []
            for path in ("/", "/training-jobs", "/processing-jobs", "/tuning-jobs",
                         "/endpoints", "/transform-jobs", "/functions", "/notebook-instances",
                         "/model-registry", "/pipelines", "/training-jobs/missing"):
                statuses.append((await client.get(f"{PREFIX}{path}")).status_code)
            # Actions on what no longer exists (a stale page): each looks it up, then refuses.
            for path, form in [("/training-jobs/gone/stop", {}),
                               ("/endpoints/gone/delete", {"confirm": "gone"}),
                               ("/endpoints/gone/stop", {}),
                               ("/model-registry/gone/1/approval", {"status": "Approved"}),
                               ("/pipelines/gone/executions/x/stop", {})]:
                answer = await client.post(f"{PREFIX}{path}", data={"csrf": csrf, **form})
                statuses.append(answer.status_code)
            await client.post(f"{PREFIX}/sign-out", data={"csrf": csrf})
            return statuses

    statuses = asyncio.run(drive())
    assert 500 not in statuses, statuses
    assert statuses[:10] == [200] * 10 and all(400 <= s < 500 for s in statuses[10:]), statuses
    assert not seen, f"{len(seen)} transactions opened on the event loop: {seen}"


def test_a_slow_database_call_does_not_hold_up_another_request(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """Approving a model version looks the version up; make that take SLOW seconds.  A page
    asked for meanwhile is answered at once, not after the slow call."""
    packages = platform.registry.packages

    entered = threading.Event()

    def slow_packages() -> Any:
        entered.set()
        time.sleep(SLOW)
        return packages()

    monkeypatch.setattr(platform.registry, "packages", slow_packages)

    async def drive() -> tuple[float, float, int]:
        transport = httpx.ASGITransport(app=console_app(Console(platform)))
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            csrf = await _signed_in(client, platform)
            started = time.monotonic()
            approve = asyncio.create_task(client.post(
                f"{PREFIX}/model-registry/g/1/approval",
                data={"csrf": csrf, "status": "Approved"}))
            # wait until the approval is inside its slow look-up (a loop blocked there would
            # also block this wait's completion, so the page below is asked for only then)
            assert await asyncio.to_thread(entered.wait, 60), "the approval never looked up"
            page = await client.get(f"{PREFIX}/training-jobs")
            assert page.status_code == 200
            page_done = time.monotonic() - started
            answer = await approve
            return page_done, time.monotonic() - started, answer.status_code

    page_done, approve_done, status = asyncio.run(drive())
    assert status == 404 or 400 <= status < 500  # no such version: refused, after the look-up
    assert approve_done >= SLOW
    assert page_done < SLOW, f"the page waited {page_done:.2f} s behind the slow call"

