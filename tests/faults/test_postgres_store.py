"""Faults of the scale-out store: builders SIGKILLed at random (during rebalances too), PostgreSQL restarted
mid-build, the store full or read-only. Each ends with views equal, field for field, to one clean SQLite
rebuild of the same events, and to the independent recomputation; figures in bench/results/faults-*.json.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from bus.settings import Settings
from tests.faults.pgbuild import (
    Members,
    compare_with_clean_rebuild,
    create_topics,
    publish,
    scenario_settings,
    simulated_events,
    wait_caught_up,
)
from tests.faults.procs import LGSP, Child, settings_env
from tests.pg import PostgresForTests, started_test_postgres

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CATCH_UP_S = 240.0


@pytest.fixture
def private_postgres() -> Iterator[PostgresForTests]:
    """A PostgreSQL of this test's own, which it may restart."""
    with started_test_postgres() as server:
        yield server


async def _applied(settings: Settings) -> int:
    """Records the store has committed so far (0 while it is unreachable), read with a plain connection:
    opening a store would try to create its tables, which a read-only database refuses."""

    def read() -> int:
        try:
            with psycopg.connect(settings.store.url, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT COALESCE(SUM(next_offset), 0) FROM lgsp_main.consumer_offsets"
                ).fetchone()
        except psycopg.Error:  # down, restarting, or not created yet
            return 0
        return int(row[0]) if row else 0

    return await asyncio.to_thread(read)


async def _wait_applied(settings: Settings, records: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await _applied(settings) < records:
        if time.monotonic() > deadline:
            raise AssertionError(f"the builders did not apply {records} records in {timeout_s:g} s")
        await asyncio.sleep(0.2)


async def test_two_members_with_random_sigkills_equal_a_clean_sqlite_rebuild(
    settings: Settings, topic_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    config = scenario_settings(settings, topic_prefix, postgres_url)
    await create_topics(config)
    events = simulated_events(8000, seed=16)
    await publish(config, events[: len(events) // 2])
    members = Members(config, tmp_path)
    members.start(2)
    chance = random.Random(16)
    kills: list[str] = []
    try:
        await _wait_applied(config, 300)
        publishing = asyncio.create_task(publish(config, events[len(events) // 2 :]))
        for _ in range(4):
            await asyncio.sleep(chance.uniform(0.5, 4.0))  # any moment: mid-batch, mid-rebalance, idle
            victim = chance.randrange(len(members.running))
            kills.append(f"{members.running[victim].name} at {await _applied(config)} records")
            members.sigkill(victim)
        await publishing
        await wait_caught_up(config, members, timeout_s=CATCH_UP_S)
        codes = await members.stop()
    finally:
        members.kill_all()
    problems = await compare_with_clean_rebuild(
        "postgres: 2 members, 4 random SIGKILLs", config, events, tmp_path, started=started, kills=kills
    )
    assert codes == [0, 0]
    assert problems == [], "\n".join(problems[:20])


async def test_postgresql_restarted_mid_build(
    settings: Settings, topic_prefix: str, private_postgres: PostgresForTests, tmp_path: Path
) -> None:
    server = private_postgres.server
    assert server is not None

    async def fault() -> dict[str, object]:
        await asyncio.to_thread(server.restart, mode="immediate")  # a crash, then the same server again
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.restart, mode="fast")  # and a clean shutdown mid-build
        return {}

    config = scenario_settings(settings, topic_prefix, private_postgres.new_database())
    await _two_members_through(config, tmp_path, "server crashed and restarted mid-build", fault, seed=17)


async def test_a_builder_started_while_postgresql_is_down_waits_for_it(
    settings: Settings, topic_prefix: str, private_postgres: PostgresForTests, tmp_path: Path
) -> None:
    """A builder that starts while its store is down (a host rebooting, a restart racing the deployment)
    waits for the store as it does when the store goes away later, instead of exiting: CI caught a member
    that started during the restart above exit 1 at "opening the view set"."""
    server = private_postgres.server
    assert server is not None
    started = time.monotonic()
    config = scenario_settings(settings, topic_prefix, private_postgres.new_database())
    await create_topics(config)
    events = simulated_events(1000, seed=19)
    await publish(config, events)
    await asyncio.to_thread(server.stop, mode="fast")
    members = Members(config, tmp_path)
    try:
        members.start(1)
        await members.running[0].wait_for_line("opening the view store failed", timeout_s=120)
        await asyncio.sleep(2.0)
        assert members.exited() == [], members.running[0].tail()
        await asyncio.to_thread(server.start)
        await wait_caught_up(config, members, timeout_s=CATCH_UP_S)
        codes = await members.stop()
    finally:
        members.kill_all()
    problems = await compare_with_clean_rebuild(
        "postgres: a builder started while the server was down", config, events, tmp_path, started=started
    )
    assert codes == [0]
    assert problems == [], "\n".join(problems[:20])


async def test_the_views_api_started_while_postgresql_is_down_waits_for_it(
    settings: Settings, topic_prefix: str, private_postgres: PostgresForTests, tmp_path: Path
) -> None:
    """``lgsp views serve`` too: it waits for its store before it listens, then answers."""
    server = private_postgres.server
    assert server is not None
    config = scenario_settings(settings, topic_prefix, private_postgres.new_database())
    await asyncio.to_thread(server.stop, mode="fast")
    api = Child(
        "serve",
        [str(LGSP), "views", "serve", "--host", "127.0.0.1", "--port", "0"],
        settings_env(config),
        tmp_path,
    )
    try:
        await api.wait_for_line("opening the view store failed", timeout_s=120)
        await asyncio.sleep(2.0)
        assert api.alive(), api.tail()
        await asyncio.to_thread(server.start)
        line = await api.wait_for_line(r"Uvicorn running on http://", timeout_s=120)
        match = re.search(r"(http://[0-9.]+:\d+)", line)
        assert match is not None, line
        async with httpx.AsyncClient(base_url=match.group(1), timeout=30) as http:
            answer = await http.get("/v1/views/scoreboard")
        assert answer.status_code == 200, answer.text
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal for the supervisor to see
        assert await api.stop() in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in api.tail()
    finally:
        api.kill()


@pytest.mark.parametrize("refusal", ["read-only", "full"])
async def test_a_store_that_refuses_writes_for_a_while(
    refusal: str, settings: Settings, topic_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    # read-only: the database's default_transaction_read_only, as on a standby or a quota lock-down;
    # full: PostgreSQL's disk_full error (SQLSTATE 53100), raised by a trigger on the offsets table - a real
    # full disk cannot be made on this machine without mounting a file system.
    config = scenario_settings(settings, topic_prefix, postgres_url)

    async def fault() -> dict[str, object]:
        await asyncio.to_thread(_refuse_writes, postgres_url, refusal, True)
        await asyncio.sleep(3.0)
        refused_at = await _applied(config)
        assert refused_at >= 500
        await asyncio.sleep(2.0)
        assert await _applied(config) == refused_at, "writes went through while the store refused them"
        await asyncio.to_thread(_refuse_writes, postgres_url, refusal, False)
        return {"refused_at": refused_at}

    await _two_members_through(config, tmp_path, f"store {refusal} for 5 s", fault, seed=18)


async def _two_members_through(
    config: Settings,
    workdir: Path,
    what: str,
    fault: Callable[[], Awaitable[dict[str, object]]],
    *,
    seed: int,
) -> None:
    """Two members build 6000 published events; ``fault`` strikes once 500 are applied; then the views
    must equal a clean SQLite rebuild."""
    started = time.monotonic()
    await create_topics(config)
    events = simulated_events(6000, seed=seed)
    await publish(config, events)
    members = Members(config, workdir)
    members.start(2)
    try:
        await _wait_applied(config, 500)
        details = await fault()
        await wait_caught_up(config, members, timeout_s=CATCH_UP_S)
        codes = await members.stop()
    finally:
        members.kill_all()
    problems = await compare_with_clean_rebuild(
        f"postgres: {what}", config, events, workdir, started=started, **details
    )
    assert codes == [0, 0]
    assert problems == [], "\n".join(problems[:20])


def _refuse_writes(url: str, fault: str, on: bool) -> None:
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # this session may start read-only
        if fault == "read-only":
            conn.execute(
                f'ALTER DATABASE "{database}" SET default_transaction_read_only = {"on" if on else "off"}'
            )
            # sessions read the setting when they start: end them, the builders reconnect
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        elif on:
            conn.execute(
                "CREATE OR REPLACE FUNCTION lgsp_main.disk_full() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'"
                " USING ERRCODE = 'disk_full'; END $$"
            )
            conn.execute(
                "CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON lgsp_main.consumer_offsets"
                " FOR EACH ROW EXECUTE FUNCTION lgsp_main.disk_full()"
            )
        else:
            conn.execute("DROP TRIGGER disk_full ON lgsp_main.consumer_offsets")
