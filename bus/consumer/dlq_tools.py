"""Reading dead letters back (``lgsp dlq show``) and re-publishing them (``lgsp dlq replay``).

Replay sends each dead letter's original key, value and headers back to its original topic (named by its
``lgsp_dlq_topic`` header), waits for Kafka's acknowledgement of all of them, and only then commits the DLQ
offsets of the replay group, so a letter is replayed at least once and, barring a crash in between, once.
Replayed records are judged again by the view builder: if the cause was fixed (a schema registered, an agency
added to the catalog) they are applied; otherwise they come back to the DLQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.consumer.dlq import StoredDeadLetter, parse_dead_letter
from bus.consumer.kafka import broker_error, client_config, dlq_producer_config, topic_partitions
from bus.settings import Settings

REPLAY_GROUP = "lgsp-dlq-replay"
_POLL_MS = 500


@dataclass
class ReplayReport:
    """What a replay did (or, dry, would do)."""

    read: int = 0
    replayed: int = 0
    skipped: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


async def read_dead_letters(
    settings: Settings, topics: Sequence[str], *, limit: int | None = None
) -> list[StoredDeadLetter]:
    """Every dead letter now in ``topics`` (from the beginning), oldest first per partition."""
    consumer = AIOKafkaConsumer(**client_config(settings, client_suffix="dlq-show"), enable_auto_commit=False)
    try:
        await consumer.start()
        tps = await _assign(settings, consumer, topics, from_beginning=True)
        return await _read_to_end(consumer, tps, limit)
    except Exception as exc:
        raise broker_error(exc, "reading dead letters") from exc
    finally:
        await consumer.stop()


async def replay_dead_letters(
    settings: Settings,
    topics: Sequence[str],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    accept: Callable[[StoredDeadLetter], bool] | None = None,
    group_id: str = REPLAY_GROUP,
    from_beginning: bool = False,
) -> ReplayReport:
    """Re-publish the dead letters the replay group has not replayed yet (all, ``from_beginning``)."""
    consumer = AIOKafkaConsumer(
        **client_config(settings, client_suffix="dlq-replay"),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(**dlq_producer_config(settings))
    report = ReplayReport()
    try:
        await consumer.start()
        await producer.start()
        tps = await _assign(settings, consumer, topics, from_beginning=from_beginning)
        letters = await _read_to_end(consumer, tps, limit)
        chosen = [letter for letter in letters if accept is None or accept(letter)]
        report.read, report.skipped = len(letters), len(letters) - len(chosen)
        for letter in chosen:
            report.by_topic[letter.topic] = report.by_topic.get(letter.topic, 0) + 1
        if dry_run:
            return report
        futures = [
            await producer.send(
                letter.topic, value=letter.value, key=letter.key, headers=letter.original_headers
            )
            for letter in chosen
        ]
        await asyncio.gather(*futures)
        report.replayed = len(chosen)
        offsets = _next_offsets(letters, chosen)
        if offsets:
            await consumer.commit(offsets)
    except Exception as exc:
        raise broker_error(exc, "replaying dead letters") from exc
    finally:
        await producer.stop()
        await consumer.stop()
    return report


async def _assign(
    settings: Settings, consumer: AIOKafkaConsumer, topics: Sequence[str], *, from_beginning: bool
) -> list[Any]:
    tps = await topic_partitions(settings, topics)
    consumer.assign(tps)
    if from_beginning and tps:
        await consumer.seek_to_beginning(*tps)
    return tps


async def _read_to_end(
    consumer: AIOKafkaConsumer, tps: list[Any], limit: int | None
) -> list[StoredDeadLetter]:
    if not tps:
        return []
    ends = await consumer.end_offsets(tps)
    pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
    letters: list[StoredDeadLetter] = []
    while pending and (limit is None or len(letters) < limit):
        batch = await consumer.getmany(*pending, timeout_ms=_POLL_MS)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp] and (limit is None or len(letters) < limit):
                    letters.append(_letter(record))
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    return letters


def _letter(record: Any) -> StoredDeadLetter:
    headers = list(record.headers or ())
    return parse_dead_letter(record.topic, record.partition, record.offset, record.key, record.value, headers)


def _next_offsets(letters: Sequence[StoredDeadLetter], chosen: Sequence[StoredDeadLetter]) -> dict[Any, int]:
    """Per DLQ partition, the offset up to which every letter was replayed: a letter left out by the filter
    stops its partition there, so a later replay with another filter still finds it."""
    replayed = {(letter.dlq_topic, letter.dlq_partition, letter.dlq_offset) for letter in chosen}
    offsets: dict[Any, int] = {}
    blocked: set[Any] = set()
    for letter in letters:
        tp = TopicPartition(letter.dlq_topic, letter.dlq_partition)
        if tp in blocked:
            continue
        if (letter.dlq_topic, letter.dlq_partition, letter.dlq_offset) not in replayed:
            blocked.add(tp)
            continue
        offsets[tp] = letter.dlq_offset + 1
    return offsets
