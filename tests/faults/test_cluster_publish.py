"""Broker loss under `lgsp publish`: topics made with the cluster's defaults ride through a SIGKILL.

Red team: after ``lgsp dev up --brokers 3``, ``lgsp topics create`` made topics with replication factor 1,
and a broker SIGKILLed while ``lgsp publish`` sent 30,000 events stopped the publish with 144 events "not
confirmed within 30 s". Here the topics get no replication settings at all (the cluster's defaults apply:
RF 3, ``min.insync.replicas`` 2), one broker dies mid-publish, and the publish must exit 0 with every event
on the topics exactly once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.topics import ensure_topics
from lgsp.devstack import DevStack
from tests.faults.ledger import scan_topics, topic_ends
from tests.faults.procs import LGSP, Child, settings_env
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.test_cluster import leader_of
from tests.faults.verify import data_topics

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 30_000
KILL_AFTER = 3_000


async def _replication(bootstrap: str, topic: str) -> tuple[int, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, None)])
    finally:
        await admin.close()
    replicas = {len(p["replicas"]) for p in described[0]["partitions"]}
    entries = configs[0].to_object()["resources"][0]["config_entries"]
    (min_isr,) = (e["config_value"] for e in entries if e["config_names"] == "min.insync.replicas")
    assert len(replicas) == 1, replicas
    return replicas.pop(), min_isr


async def test_publish_of_30000_events_survives_a_broker_sigkill(
    cluster: DevStack, fault_stack: FaultStack, tmp_path: Path
) -> None:
    bootstrap = cluster.endpoints.bootstrap_servers
    settings = fault_settings(
        bootstrap, fault_stack.registry_url, tmp_path, producer={"delivery_timeout_s": 30.0}
    )
    assert settings.topics.replication_factor is None  # the cluster decides
    await ensure_topics(settings)
    topics = data_topics(settings)
    assert await _replication(bootstrap, topics[0]) == (3, "2")

    events_file = tmp_path / "events.jsonl"
    await asyncio.to_thread(
        subprocess.run,
        [str(LGSP), "simulate", "--seed", "13", "--events", str(EVENTS), "--out", str(events_file)],
        env=settings_env(settings),
        check=True,
        capture_output=True,
        timeout=600,
    )
    offered = [json.loads(line)["id"] for line in events_file.read_text().splitlines()]
    assert len(offered) == EVENTS

    victim = await leader_of(bootstrap, topics[0], 0)
    publish = Child("publish", [str(LGSP), "publish", str(events_file)], settings_env(settings), tmp_path)
    try:
        while await _sum_ends(bootstrap, topics) < KILL_AFTER and publish.alive():  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polls Kafka's end offsets: no event to wait on
        assert publish.alive(), "the publish ended before the broker could be killed:\n" + publish.tail()
        await asyncio.to_thread(cluster.kill_broker, victim)
        landed_at_kill = await _sum_ends(bootstrap, topics)
        code = await publish.wait(timeout_s=600)
        assert code == 0, publish.tail()
        assert landed_at_kill < EVENTS
    finally:
        publish.kill()
        await asyncio.to_thread(cluster.start_broker, victim)
    scan = await scan_topics(bootstrap, topics)
    assert scan.records == EVENTS
    assert set(scan.copies) == set(offered)
    assert max(scan.copies.values()) == 1


async def _sum_ends(bootstrap: str, topics: list[str]) -> int:
    return sum((await topic_ends(bootstrap, topics)).values())
