"""Handing a call's encoded records to the producer: per partition, as whole record batches where that pays.

The Publisher picks each record's partition itself (:func:`bus.partitioner.partition_for`, the same murmur2
choice as aiokafka's and Java's default partitioner). A partition's records of one call go to the producer as
whole record batches (``create_batch``/``send_batch``: one delivery future per batch) from
``BATCH_MIN_RECORDS`` on, below that record by record (``send``, lingering for others to join).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiokafka.errors import KafkaTimeoutError

from bus.errors import BrokerError
from bus.partitioner import partition_for
from bus.producer_port import ProducerPort, RecordBatchLike, RecordMetadataLike

BATCH_MIN_RECORDS: Final = 8
"""A partition's records of one call go as one record batch from this many on, below record by record: a
batch is sent at once (it is closed), while single records linger up to ``linger_ms`` for others to join."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much, once per event
class Record:
    """One event, encoded and ready to send."""

    event_id: str
    type_name: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    leaf: bytes | None = None
    """Its signing leaf (:func:`bus.signing.tree.leaf_hash`) when the encoder had it at hand."""


Placed = tuple[asyncio.Future[RecordMetadataLike], int]
"""Where a record went: the future of its batch (or its own) and its index in that batch (0 for its own)."""


Placement = dict[tuple[str, int], list[int]]
"""The indexes of a call's records per (topic, partition), each list in call order."""


async def placement(producer: ProducerPort, records: list[Record]) -> Placement:
    """Where each record goes: its topic's partition for its key (:func:`bus.partitioner.partition_for`)."""
    partitions: dict[str, list[int]] = {}
    for topic in {record.topic for record in records}:
        ids = partitions[topic] = await producer.partitions(topic)
        if not ids:  # what aiokafka's send() would wait for until its own timeout
            raise KafkaTimeoutError(f"no partitions known for topic {topic}")
    return group_by_partition([(record.topic, record.key) for record in records], partitions)


def group_by_partition(
    places: Sequence[tuple[str, bytes]], partitions: Mapping[str, Sequence[int]]
) -> Placement:
    """The indexes of ``places`` (topic, key) per (topic, partition), among each topic's ``partitions``."""
    groups: Placement = {}
    for index, (topic, key) in enumerate(places):
        place = (topic, partition_for(key, partitions[topic]))
        group = groups.get(place)
        if group is None:
            groups[place] = [index]
        else:
            group.append(index)
    return groups


def partition_order(groups: Placement) -> list[int]:
    """Every index, partition by partition, each partition's in call order: the order in which a signer's hash
    tree takes its records, so that a partition's records of one signer are neighbours in it and their
    proofs share all but their lowest hashes."""
    return [index for indexes in groups.values() for index in indexes]


async def hand_over(
    producer: ProducerPort, records: list[Record], groups: Placement, placed: list[Placed | None]
) -> None:
    """Give every record to the producer where ``groups`` places it, filling ``placed`` as they go (what is
    left None was not sent)."""
    for (topic, partition), indexes in groups.items():
        if len(indexes) >= BATCH_MIN_RECORDS:
            await _send_batches(producer, topic, partition, records, indexes, placed)
            continue
        for index in indexes:
            record = records[index]
            future = await producer.send(
                topic, record.value, key=record.key, headers=record.headers, partition=partition
            )
            placed[index] = (future, 0)


async def _send_batches(
    producer: ProducerPort,
    topic: str,
    partition: int,
    records: list[Record],
    indexes: list[int],
    placed: list[Placed | None],
) -> None:
    """One partition's records as few batches as fit, in order; a full batch is sent and a new one begun."""
    batch = producer.create_batch()
    members: list[int] = []
    for index in indexes:
        record = records[index]
        while (
            batch.append(timestamp=None, key=record.key, value=record.value, headers=record.headers) is None
        ):
            if not members:  # aiokafka takes any record into an empty batch; a port that does not is broken
                raise BrokerError(f"the producer's empty batch refused a {len(record.value)}-byte record")
            await _submit(producer, batch, topic, partition, members, placed)
            batch, members = producer.create_batch(), []
        members.append(index)
    await _submit(producer, batch, topic, partition, members, placed)


async def _submit(
    producer: ProducerPort,
    batch: RecordBatchLike,
    topic: str,
    partition: int,
    members: list[int],
    placed: list[Placed | None],
) -> None:
    # Closed, the batch is sent at once: nothing else may join it, so lingering would only add latency.
    batch.close()
    future = await producer.send_batch(batch, topic, partition=partition)
    for position, index in enumerate(members):
        placed[index] = (future, position)
