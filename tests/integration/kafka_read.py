"""Reading back what tests published: end offsets, and every record of some topics (real Kafka)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bus.kafka_client import connection_kwargs
from bus.settings import KafkaSettings

Kafka = str | KafkaSettings
"""Bootstrap servers of a plain cluster, or the settings of a secure one (TLS, SASL)."""


def client_kwargs(kafka: Kafka) -> dict[str, Any]:
    """aiokafka's connection arguments for either form of :data:`Kafka`."""
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else connection_kwargs(kafka)


async def end_offsets(bootstrap: Kafka, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of ``topics`` (what "nothing was published" is checked against)."""
    partitions = await _partitions(bootstrap, list(topics))
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def _partitions(bootstrap: Kafka, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    )


async def read_all(bootstrap: Kafka, topics: Iterable[str]) -> list[Any]:
    """Every record of ``topics`` from the beginning to the current end offsets (aiokafka ConsumerRecords)."""
    ends = await end_offsets(bootstrap, topics)
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    if not wanted:
        return []
    consumer = AIOKafkaConsumer(
        **client_kwargs(bootstrap), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        remaining = dict(wanted)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, batch in batches.items():
                records.extend(batch)
                if batch and batch[-1].offset + 1 >= remaining[tp]:
                    del remaining[tp]
    finally:
        await consumer.stop()
    return records
