"""API replicas: two ``lgsp views serve`` processes on one PostgreSQL store answer the same JSON, follow a
blue/green switch together, and report the store and its freshness in ``/readyz`` (503 once it is gone)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bus.consumer.types import Batch, Partition
from bus.events import Event
from bus.settings import Settings
from consumers.store import open_store
from consumers.store.postgres import PostgresStore
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s
from tests.faults.procs import LGSP, Child
from tests.pg import PostgresForTests
from tests.unit.test_views import simulated

pytestmark = pytest.mark.integration

PATHS = (
    "/v1/views/scoreboard?as_of=2026-01-01T00:00:00Z",
    "/v1/views/documents?level=province&grain=month&as_of=2026-01-01T00:00:00Z",
    "/v1/views/dossiers?level=procedure&grain=all&as_of=2026-01-01T00:00:00Z",
    "/v1/views/reports?level=nation&as_of=2026-01-01T00:00:00Z",
)


def _build(url: str, events: list[Event], view_set: str | None = None) -> None:
    views = ViewSet(open_store(url, view_set=view_set), build_views(Settings()))
    by_topic = s.by_topic(events)
    try:
        asyncio.run(views.apply(Batch(by_topic, {Partition("lgsp.documents", 0): len(events)})))
    finally:
        views.close()


async def _replica(url: str, workdir: Path, name: str) -> tuple[Child, str]:
    env = {"LGSP_STORE__URL": url, "PATH": "/usr/bin:/bin"}
    child = Child(name, [str(LGSP), "views", "serve", "--host", "127.0.0.1", "--port", "0"], env, workdir)
    line = await child.wait_for_line(r"Uvicorn running on http://", timeout_s=120)
    match = re.search(r"(http://[0-9.]+:\d+)", line)
    assert match is not None, line
    return child, match.group(1)


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[list[str]]:
    await asyncio.to_thread(_build, postgres_url, list(simulated()))
    started = [await _replica(postgres_url, tmp_path, f"serve{i}") for i in range(2)]
    yield [url for _, url in started]
    for child, _ in started:
        await child.stop()


async def _answers(base: str) -> list[object]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return [(await http.get(path)).json() for path in PATHS]


async def test_two_replicas_answer_alike_and_follow_a_switch(
    replicas: list[str], postgres_url: str, postgres: PostgresForTests
) -> None:
    first, second = replicas
    before = await _answers(first)
    assert before == await _answers(second)
    assert before[0]["rows"]  # type: ignore[index]
    async with httpx.AsyncClient(timeout=30) as http:
        ready = (await http.get(f"{second}/readyz")).json()
    assert ready["store"] == {"backend": "postgresql", "view_set": "main"}
    assert ready["status"] == "ready"
    assert ready["applied_offsets"] == len(simulated())
    assert 0 <= ready["freshness_s"] < 300

    await asyncio.to_thread(_build, postgres_url, list(simulated(1500, seed=5)), "green")
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    try:
        store.switch("green")
    finally:
        store.close()
    after = await _answers(first)
    assert after == await _answers(second)
    assert after != before
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{first}/readyz")).json()["store"]["view_set"] == "green"

    await asyncio.to_thread(postgres.drop_database, postgres_url)  # the store is gone
    async with httpx.AsyncClient(timeout=30) as http:
        gone = await http.get(f"{first}/readyz")
    assert gone.status_code == 503
    assert gone.json()["status"] == "unavailable"
