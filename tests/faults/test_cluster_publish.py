"""Broker loss under `lgsp publish`: topics made with the cluster's defaults ride through a SIGKILL.

Red team: after ``lgsp dev up --brokers 3``, ``lgsp topics create`` made topics with replication factor 1,
and a broker SIGKILLed while ``lgsp publish`` sent 30,000 events stopped the publish with 144 events "not
confirmed within 30 s". Here the topics get no replication settings at all (the cluster's defaults apply:
RF 3, ``min.insync.replicas`` 2), one broker dies mid-publish, and the publish must exit 0 with every event
on the topics exactly once. The same on the secure cluster (`lgsp dev up --secure --brokers 3`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.events import EVENT_TYPES
from bus.kafka_client import kafka_environment
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import Settings
from bus.topics import ensure_topics
from lgsp.devstack import DevStack
from tests.faults.ledger import scan_topics, topic_ends
from tests.faults.procs import LGSP, Child, settings_env
from tests.faults.stacks import FaultStack, fault_settings
from tests.faults.test_cluster import leader_of
from tests.faults.verify import data_topics
from tests.integration.kafka_read import Kafka, client_kwargs
from tests.stack import SecureStack

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVENTS = 30_000
KILL_AFTER = 3_000


async def replication(kafka: Kafka, topic: str) -> tuple[int, str]:
    """Replicas per partition and ``min.insync.replicas`` of ``topic``, as the brokers report them."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
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


async def with_cluster_topics(
    cluster: DevStack, fault_stack: FaultStack, tmp_path: Path, **sections: dict[str, Any]
) -> Settings:
    """Settings for the plain 3-broker cluster (``fault_settings`` with ``sections``), their topics created
    with no replication settings: the cluster's defaults apply (asserted: RF 3, ``min.insync.replicas`` 2)."""
    bootstrap = cluster.endpoints.bootstrap_servers
    settings = fault_settings(bootstrap, fault_stack.registry_url, tmp_path, **sections)
    assert settings.topics.replication_factor is None  # the cluster decides
    await ensure_topics(settings)
    assert await replication(bootstrap, data_topics(settings)[0]) == (3, "2")
    return settings


async def test_publish_of_30000_events_survives_a_broker_sigkill(
    cluster: DevStack, fault_stack: FaultStack, tmp_path: Path
) -> None:
    settings = await with_cluster_topics(
        cluster, fault_stack, tmp_path, producer={"delivery_timeout_s": 30.0}
    )
    bootstrap = settings.kafka.bootstrap_servers
    await publish_through_a_broker_kill(cluster, settings, bootstrap, settings_env(settings), tmp_path)


async def test_publish_of_30000_events_survives_a_broker_sigkill_on_the_secure_cluster(
    secure_cluster: SecureStack, tmp_path: Path
) -> None:
    """The same over SASL_SSL: TLS between the brokers, SCRAM clients, the admin publishing (the child gets
    the connection from ``LGSP_KAFKA__*``; with plain settings it could not reach the SASL_SSL listener)."""
    settings = await with_secure_cluster_topics(
        secure_cluster, tmp_path, producer={"delivery_timeout_s": 30.0}
    )
    env = settings_env(settings, **kafka_environment(secure_cluster.admin))
    await publish_through_a_broker_kill(
        secure_cluster.launcher, settings, secure_cluster.admin, env, tmp_path
    )


async def with_secure_cluster_topics(
    secure_cluster: SecureStack, tmp_path: Path, **sections: dict[str, Any]
) -> Settings:
    """:func:`with_cluster_topics` on the secure cluster: the admin's connection, topics with the cluster's
    defaults (asserted), the schemas registered by the registry's admin (it takes writes from no one else)."""
    launcher = secure_cluster.launcher
    registry = launcher.registry_admin_settings()
    settings = fault_settings(launcher.endpoints.bootstrap_servers, registry.url, tmp_path, **sections)
    settings = settings.model_copy(update={"kafka": secure_cluster.admin})
    assert settings.topics.replication_factor is None  # `dev up --secure --brokers 3` set the defaults
    await ensure_topics(settings)
    assert await replication(secure_cluster.admin, data_topics(settings)[0]) == (3, "2")
    async with SchemaRegistryClient(registry) as client:
        await register_schemas(client, sorted(EVENT_TYPES))
    return settings


async def publish_through_a_broker_kill(
    cluster: DevStack, settings: Settings, kafka: Kafka, env: dict[str, str], tmp_path: Path
) -> None:
    """`lgsp publish` of EVENTS simulated events; the leader of the first topic's partition 0 SIGKILLed
    after KILL_AFTER landed: exit 0, every event on the topics exactly once."""
    topics = data_topics(settings)
    events_file = tmp_path / "events.jsonl"
    await asyncio.to_thread(
        subprocess.run,
        [str(LGSP), "simulate", "--seed", "13", "--events", str(EVENTS), "--out", str(events_file)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    offered = [json.loads(line)["id"] for line in events_file.read_text().splitlines()]
    assert len(offered) == EVENTS

    victim = await leader_of(kafka, topics[0], 0)
    publish = Child("publish", [str(LGSP), "publish", str(events_file)], env, tmp_path)
    try:
        landed = 0
        while landed < KILL_AFTER and publish.alive():
            await asyncio.sleep(0.05)  # polls Kafka's end offsets: no event to wait on
            landed = await _sum_ends(kafka, topics)
        await asyncio.to_thread(cluster.kill_broker, victim)
        # The kill fell mid-publish: the publish still ran when the broker was gone, with events to send.
        # (Counted before the kill: right after it, a new client's metadata still names the dead broker and
        # a request sent there fails, NodeNotReadyError, until the controller fences it.)
        assert publish.alive(), "the publish ended before the broker was killed:\n" + publish.tail()
        assert landed < EVENTS
        code = await publish.wait(timeout_s=600)
        assert code == 0, publish.tail()
    finally:
        publish.kill()
        await asyncio.to_thread(cluster.start_broker, victim)
    scan = await scan_topics(kafka, topics)
    assert scan.records == EVENTS
    assert set(scan.copies) == set(offered)
    assert max(scan.copies.values()) == 1


async def _sum_ends(kafka: Kafka, topics: list[str]) -> int:
    return sum((await topic_ends(kafka, topics)).values())
