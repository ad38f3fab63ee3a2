"""10,000 records through the real broker, idempotent producer: none lost, none doubled, order per key."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bus.settings import Settings

pytestmark = pytest.mark.integration

RECORDS = 10_000
KEYS = 40
PARTITIONS = 4
# A bound so a broken broker fails the test instead of hanging it; not a performance assertion.
CONSUME_DEADLINE_S = 120.0


async def _create_topic(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()


async def _delete_topic(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        with contextlib.suppress(KafkaError):
            await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _produce(settings: Settings, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = []
        for seq in range(RECORDS):
            key = f"key-{seq % KEYS:02d}"
            value = f"{key}:{seq // KEYS}"
            futures.append(await producer.send(topic, key=key.encode(), value=value.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _consume(settings: Settings, topic: str) -> list[tuple[int, str, str]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[int, str, str]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONSUME_DEADLINE_S
        while len(received) < RECORDS and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for partition, records in batches.items():
                received.extend((partition.partition, r.key.decode(), r.value.decode()) for r in records)
    finally:
        await consumer.stop()
    return received


async def test_every_record_comes_back_once_and_in_order_per_key(
    settings: Settings, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}roundtrip"
    await _create_topic(settings, topic)
    try:
        await _produce(settings, topic)
        received = await _consume(settings, topic)
    finally:
        await _delete_topic(settings, topic)

    assert len(received) == RECORDS
    by_key: dict[str, list[int]] = defaultdict(list)
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    for partition, key, value in received:
        value_key, seq = value.split(":")
        assert value_key == key
        by_key[key].append(int(seq))
        partitions_of_key[key].add(partition)
    assert len(by_key) == KEYS
    for key, seqs in by_key.items():
        assert seqs == list(range(RECORDS // KEYS)), f"{key} lost, doubled or reordered records"
        assert len(partitions_of_key[key]) == 1
    assert len({p for parts in partitions_of_key.values() for p in parts}) >= 3
