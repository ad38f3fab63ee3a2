"""Fault 1: the (only) broker is killed with SIGKILL while events are being published and consumed.

A dedicated broker (``fault_stack``) takes the traffic; ``lgsp views run`` consumes it in its own process.
While the Publisher sends paced batches, the broker is killed, batches fail for a while, the broker is
restarted and the rest goes through. The Publisher must confirm only what Kafka stored and report every
other event in ``PublishError.unconfirmed``; the caller then resends those unchanged (the contract), and the
views — which never stopped — must hold every confirmed event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bus.authz import asserted_by_event
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics
from tests.faults.ingress_client import issue_key, post
from tests.faults.ledger import Ledger, feed, resend_pending, scan_topics
from tests.faults.procs import IngressProcess, ViewsProcess, applied, wait_until
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.verify import data_topics, settle
from tests.faults.workload import chunks, take_units
from tests.integration.kafka_read import read_all

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 4000
CHUNK = 100
NODE = 1


def _settings(fault_stack: FaultStack, tmp_path: Path, *, delivery_timeout_s: float) -> Settings:
    return fault_settings(
        fault_stack.bootstrap_servers,
        fault_stack.registry_url,
        tmp_path,
        producer={"delivery_timeout_s": delivery_timeout_s},
    )


async def test_broker_killed_and_restarted_mid_stream(fault_stack: FaultStack, tmp_path: Path) -> None:
    started = time.monotonic()
    settings = _settings(fault_stack, tmp_path, delivery_timeout_s=5.0)
    await ensure_topics(settings)
    events = take_units(EVENTS, seed=101)
    ledger = Ledger()
    launcher = fault_stack.launcher
    views = ViewsProcess(settings, tmp_path)
    try:
        await views.wait_for_line(r"assigned \d+ partitions", timeout_s=120)
        async with Publisher(settings) as publisher:
            await publisher.prepare()
            feeder = asyncio.create_task(feed(publisher, ledger, chunks(events, CHUNK), pace_s=0.05))
            await wait_until(
                lambda: ledger.chunks_ok >= 10 and ledger.in_flight and applied(views.store) > 0,
                timeout_s=120,
                what="a batch in flight after confirmed ones, and a view builder that has applied some",
            )
            launcher.kill_broker(NODE)
            confirmed_at_kill = len(ledger.confirmed)
            await wait_until(lambda: ledger.chunks_failed >= 2, timeout_s=120, what="failed batches")
            await asyncio.to_thread(launcher.start_broker, NODE)
            ok_before_restart = ledger.chunks_ok
            await feeder
        # The Publisher is closed: whatever it was still retrying has landed or been abandoned.
        scan = await scan_topics(settings.kafka.bootstrap_servers, data_topics(settings))
        landed_anyway = len({i for i in ledger.pending if scan.copies[i]})
        reported = set(ledger.reported_unconfirmed)
        async with Publisher(settings) as publisher:
            await resend_pending(publisher, ledger)
        outcome = await settle(
            "1 broker SIGKILL + restart",
            settings,
            ledger,
            views,
            started=started,
            landed_anyway=landed_anyway,
            details={
                "confirmed_at_kill": confirmed_at_kill,
                "chunks_ok_after_restart": ledger.chunks_ok - ok_before_restart,
            },
        )
    finally:
        views.kill()
        await asyncio.to_thread(fault_stack.restart_missing)
    outcome.assert_exact(ledger)
    assert reported, "the outage was never reported to the caller"
    assert ledger.chunks_ok - ok_before_restart > 0, "publishing did not resume after the restart"


async def test_an_ingress_started_while_kafka_is_down_answers_503_then_publishes(
    fault_stack: FaultStack, tmp_path: Path
) -> None:
    """The ingress used to exit at start when Kafka did not answer (a crash loop under a restart policy);
    now it serves 503 and a /readyz naming Kafka, and publishes once the broker is back."""
    settings = _settings(fault_stack, tmp_path, delivery_timeout_s=3.0)
    await ensure_topics(settings)
    (event,) = take_units(1, seed=7)
    asserted = {code for _, code in asserted_by_event(event)}
    token = issue_key(settings.ingress.api_keys_file, {event.meta.source, *asserted})
    async with _ingress_without_kafka(fault_stack, settings, tmp_path) as (ingress, client):
        refused = await post(client, token, [event], batch=False)
        assert refused.status_code == 503, refused.text
        assert ingress.alive()
        await asyncio.to_thread(fault_stack.launcher.start_broker, NODE)
        deadline = time.monotonic() + 120
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ingress.tail()
            await asyncio.sleep(0.5)
        accepted = await post(client, token, [event], batch=False)
        assert accepted.status_code == 202, accepted.text
        assert "Kafka is unavailable at start" in ingress.tail(200)
    records = await read_all(settings.kafka.bootstrap_servers, data_topics(settings))
    assert [r.key for r in records] == [event.entity_key().encode()]


async def test_an_ingress_stopped_while_kafka_is_down_exits_at_once(
    fault_stack: FaultStack, tmp_path: Path
) -> None:
    """SIGTERM while the ingress is still trying to reach Kafka (and its audit trail queues records): it stops
    retrying and exits gracefully at once, rather than retrying on or waiting out the delivery timeout (60 s
    here) for a broker that is not there."""
    settings = _settings(fault_stack, tmp_path, delivery_timeout_s=60.0)
    await ensure_topics(settings)
    issue_key(settings.ingress.api_keys_file, [])  # an ingress refuses to start without its key file
    async with _ingress_without_kafka(fault_stack, settings, tmp_path) as (ingress, _client):
        await ingress.wait_for_line("Kafka is unavailable at start", timeout_s=30)
        asked = time.monotonic()
        code = await ingress.stop(timeout_s=45)
        took = time.monotonic() - asked
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal for the supervisor to see
    assert code in (0, -signal.SIGTERM), ingress.tail()
    assert "Application shutdown complete" in ingress.tail(200)
    assert took < 15, f"the ingress took {took:.1f} s to stop:\n{ingress.tail()}"


@contextlib.asynccontextmanager
async def _ingress_without_kafka(
    fault_stack: FaultStack, settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[IngressProcess, httpx.AsyncClient]]:
    """The broker killed, then an ingress started: it serves, its /readyz says Kafka is down (503). Stopped,
    and the broker restarted, on the way out."""
    fault_stack.launcher.kill_broker(NODE)
    ingress = IngressProcess(settings, tmp_path)
    try:
        url = await ingress.started(timeout_s=120)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["kafka"]["ok"] is False
            yield ingress, client
    finally:
        await ingress.stop()
        await asyncio.to_thread(fault_stack.restart_missing)
