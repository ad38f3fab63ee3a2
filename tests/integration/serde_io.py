"""Kafka plumbing for the serde integration tests: the real subjects, a private topic, produce, consume."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bus.events import EVENT_TYPES
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import Settings
from bus.topics import admin_kwargs


async def register_real_subjects(settings: Settings) -> None:
    """Register the project's schemas in file order (idempotent), as `lgsp schemas register` does."""
    async with SchemaRegistryClient(settings.registry) as client:
        await register_schemas(client, sorted(EVENT_TYPES))


@asynccontextmanager
async def private_topic(settings: Settings, name: str, partitions: int = 1) -> AsyncIterator[str]:
    """A topic for one test, deleted afterwards."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
        yield name
    finally:
        await admin.delete_topics([name])
        await admin.close()


async def produce(settings: Settings, topic: str, records: Sequence[tuple[str, bytes]]) -> None:
    """Send ``(key, value)`` records and wait until Kafka confirms each one."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def consume(settings: Settings, topic: str, count: int, timeout_s: float = 60.0) -> list[Any]:
    """The first ``count`` records of ``topic`` (aiokafka ``ConsumerRecord``), polling up to ``timeout_s``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records += batch
    finally:
        await consumer.stop()
    if len(records) < count:
        raise AssertionError(f"only {len(records)} of {count} records arrived on {topic} in {timeout_s} s")
    return records[:count]
