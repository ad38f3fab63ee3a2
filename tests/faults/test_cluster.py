"""Fault 2: one broker of three killed with SIGKILL mid-stream, restarted later; nothing stops.

A three-node KRaft cluster (``lgsp dev up --brokers 3`` through the launcher API) carries topics with
replication factor 3 and ``min.insync.replicas=2``. The broker leading the first documents partition is
killed while the Publisher sends paced batches and ``lgsp views run`` consumes; with two replicas left every
write can still be acknowledged by acks=all, so publishing and the views must carry on while it is down.
The broker is restarted after more traffic has gone through, and the views must end exact.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bus.publisher import Publisher
from bus.topics import ensure_topics
from lgsp.devstack import DevStack
from tests.faults.ledger import Ledger, feed, resend_pending
from tests.faults.procs import ViewsProcess, applied, wait_until
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.verify import data_topics, settle
from tests.faults.workload import chunks, take_units
from tests.integration.kafka_read import Kafka, client_kwargs

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 3000
CHUNK = 100


async def leader_of(bootstrap: Kafka, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for item in described[0]["partitions"]:
        if item["partition"] == partition:
            return int(item["leader"])
    raise AssertionError(f"{topic} has no partition {partition}")


async def test_one_of_three_brokers_killed_and_restarted(
    cluster: DevStack, fault_stack: FaultStack, tmp_path: Path
) -> None:
    started = time.monotonic()
    bootstrap = cluster.endpoints.bootstrap_servers
    settings = fault_settings(
        bootstrap,
        fault_stack.registry_url,
        tmp_path,
        topics={"replication_factor": 3, "min_insync_replicas": 2},
        producer={"delivery_timeout_s": 30.0},
    )
    await ensure_topics(settings)
    events = take_units(EVENTS, seed=202)
    ledger = Ledger()
    views = ViewsProcess(settings, tmp_path)
    try:
        await views.wait_for_line(r"assigned \d+ partitions", timeout_s=120)
        victim = await leader_of(bootstrap, data_topics(settings)[0], 0)
        async with Publisher(settings) as publisher:
            await publisher.prepare()
            feeder = asyncio.create_task(feed(publisher, ledger, chunks(events, CHUNK), pace_s=0.1))
            await wait_until(
                lambda: ledger.chunks_ok >= 8 and ledger.in_flight and applied(views.store) > 0,
                timeout_s=120,
                what="a batch in flight after confirmed ones, and a view builder that has applied some",
            )
            cluster.kill_broker(victim)
            ok_at_kill, applied_at_kill = ledger.chunks_ok, applied(views.store)
            await wait_until(
                lambda: ledger.chunks_ok >= ok_at_kill + 8 and applied(views.store) > applied_at_kill + 400,
                timeout_s=180,
                what="publishing and the views to carry on without the killed broker",
            )
            ok_while_down = ledger.chunks_ok - ok_at_kill
            applied_while_down = applied(views.store) - applied_at_kill
            await asyncio.to_thread(cluster.start_broker, victim)
            await feeder
        async with Publisher(settings) as publisher:
            await resend_pending(publisher, ledger)
        outcome = await settle(
            "2 one of 3 brokers SIGKILL (RF 3, min ISR 2)",
            settings,
            ledger,
            views,
            started=started,
            details={
                "killed_node": victim,
                "batches_confirmed_while_down": ok_while_down,
                "records_applied_while_down": applied_while_down,
            },
        )
    finally:
        views.kill()
    outcome.assert_exact(ledger)
    assert ok_while_down >= 8
    assert applied_while_down > 400
