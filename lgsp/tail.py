"""Reading a topic decoded, for people (``lgsp topics tail``): the last (or first) events as CloudEvents JSON.

It reads without a consumer group (nothing is committed; the views are not disturbed) up to the end offsets
it found when it started, so it always stops. Without ``--from-beginning`` it shows the last ``count`` events
of the topic, starting ``count`` records before the end of each partition; with ``--key`` it reads only the
partition Kafka's default partitioner gives that key, from its beginning, and keeps the records with that key.

Each record becomes a :class:`TailedRecord`: where it is, its key, the CloudEvent (structured mode, as
:func:`bus.cloudevents.to_structured` writes it), the state of its signature header, and for a dead-letter
topic the ``lgsp_dlq_*`` reason headers. A record that does not decode is shown with the error instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.asyncapi import SIGNATURE_HEADER
from bus.cloudevents import to_structured
from bus.consumer.dlq import HEADER_PREFIX as DLQ_HEADER_PREFIX
from bus.consumer.kafka import broker_error, client_config, topic_partitions
from bus.errors import LgspError
from bus.partitioner import partition_for
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings
from bus.topics import TOPICS, dlq_topic

DEFAULT_COUNT = 10
_POLL_MS = 500


@dataclass(frozen=True)
class TailedRecord:
    """One record as ``lgsp topics tail`` shows it."""

    topic: str
    partition: int
    offset: int
    timestamp: str
    key: str | None
    signature: str
    """``present`` when the record carries ``lgsp_sig``, ``unsigned`` when it does not."""
    event: dict[str, Any] | None
    error: str | None = None
    dead_letter: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "key": self.key,
            "signature": self.signature,
        }
        if self.dead_letter:
            out["dead_letter"] = self.dead_letter
        if self.error is not None:
            out["error"] = self.error
        else:
            out["event"] = self.event
        return out


def resolve_topic(name: str, prefix: str) -> str:
    """The real topic for ``name``: a catalog name, a short one (``dossiers``), their ``.dlq``, or as is."""
    base, dlq = (name.removesuffix(".dlq"), True) if name.endswith(".dlq") else (name, False)
    for catalog_name in TOPICS:
        if base in (catalog_name, catalog_name.rpartition(".")[2]):
            real = prefix + catalog_name
            return dlq_topic(real) if dlq else real
    return name


async def tail(
    settings: Settings,
    topic: str,
    *,
    count: int = DEFAULT_COUNT,
    from_beginning: bool = False,
    key: str | None = None,
) -> list[TailedRecord]:
    """The last ``count`` records of ``topic`` (the first, ``from_beginning``), decoded, oldest first."""
    consumer = AIOKafkaConsumer(**client_config(settings, client_suffix="tail"), enable_auto_commit=False)
    try:
        await consumer.start()
        partitions = await topic_partitions(settings, [topic])
        if not partitions:
            raise LgspError(f"topic {topic!r} does not exist (lgsp topics list shows the topics)")
        if key is not None:
            ids = sorted(tp.partition for tp in partitions)
            partitions = [TopicPartition(topic, partition_for(key.encode(), ids))]
        consumer.assign(partitions)
        records = await _read(consumer, partitions, count, from_beginning=from_beginning, key=key)
    except LgspError:
        raise
    except Exception as exc:
        raise broker_error(exc, f"reading {topic}") from exc
    finally:
        await consumer.stop()
    async with SchemaRegistryClient(settings.registry) as registry:
        return await _decode(records, AvroDeserializer(registry))


async def _read(
    consumer: AIOKafkaConsumer, partitions: list[Any], count: int, *, from_beginning: bool, key: str | None
) -> list[Any]:
    begins = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        start = begins[tp] if from_beginning or key is not None else max(begins[tp], ends[tp] - count)
        consumer.seek(tp, start)
    wanted = key.encode() if key is not None else None
    # Per partition, because records arrive partition by partition in no time order: the last (first)
    # ``count`` overall are among each partition's last (first) ``count``, all that is kept of it.
    kept: dict[Any, list[Any]] = {tp: [] for tp in partitions}
    pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=_POLL_MS)
        for tp, records in batch.items():
            got = kept[tp]
            got.extend(r for r in records if r.offset < ends[tp] and (wanted is None or r.key == wanted))
            if from_beginning:
                del got[count:]
            else:
                del got[: max(0, len(got) - count)]
        pending = {
            tp
            for tp in pending
            if not (from_beginning and len(kept[tp]) >= count) and await consumer.position(tp) < ends[tp]
        }
    ordered = sorted(chain.from_iterable(kept.values()), key=lambda r: (r.timestamp, r.partition, r.offset))
    return ordered[:count] if from_beginning else ordered[-count:]


async def _decode(records: Sequence[Any], deserializer: AvroDeserializer) -> list[TailedRecord]:
    ids = set()
    for record in records:
        try:
            ids.add(AvroDeserializer.schema_id_of(record.value or b""))
        except LgspError:
            continue  # shown with its error below
    failed = await deserializer.prepare_ids(ids)
    return [_tailed(record, deserializer, failed) for record in records]


def _tailed(record: Any, deserializer: AvroDeserializer, failed: dict[Any, LgspError]) -> TailedRecord:
    headers = dict(record.headers or ())
    event: dict[str, Any] | None = None
    error: str | None = None
    try:
        schema_id = AvroDeserializer.schema_id_of(record.value or b"")
        if schema_id in failed:
            raise failed[schema_id]
        event = to_structured(deserializer.deserialize(record.value, SerializationContext(record.topic)))
    except LgspError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return TailedRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(timespec="milliseconds"),
        key=record.key.decode("utf-8", "replace") if record.key is not None else None,
        signature="present" if headers.get(SIGNATURE_HEADER) else "unsigned",
        event=event,
        error=error,
        dead_letter={
            name.removeprefix(DLQ_HEADER_PREFIX): (value or b"").decode("utf-8", "replace")
            for name, value in headers.items()
            if name.startswith(DLQ_HEADER_PREFIX)
        },
    )
