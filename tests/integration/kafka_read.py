"""Reading back what tests published: end offsets, and every record of some topics (real Kafka)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of ``topics`` (what "nothing was published" is checked against)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fresh metadata: the topics may have been created a moment ago
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topics: Iterable[str]) -> list[Any]:
    """Every record of ``topics`` from the beginning to the current end offsets (aiokafka ConsumerRecords)."""
    ends = await end_offsets(bootstrap, topics)
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    if not wanted:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
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
