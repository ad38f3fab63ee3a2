"""``lgsp views explain VIEW KEY --verify``: re-read the records behind a view row from Kafka and check them
again, the way the views did before applying them.

Each evidence record (:mod:`consumers.evidence`) names its topic, partition and offset. The record there is
fetched and put through the views' own decode step (:class:`~bus.consumer.decode.BatchDecoder`) with the
views' admission (:func:`consumers.admission.views_admission`: signature against the keyring, indicator
ranges), signatures required whatever the migration settings say. The verdict per record is ``ok`` or the
dead-letter reason the views would give it (``signature.invalid``, ``signer.revoked``, ...), plus:

* ``record.gone``: nothing at that offset any more (retention or compaction removed it);
* ``record.changed``: the record there is not the event the evidence names (another event id), or it was
  signed by another key than the one the views saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from bus.consumer.decode import BatchDecoder, RecordLike
from bus.consumer.kafka import broker_error
from bus.kafka_client import connection_kwargs
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings
from consumers.admission import ViewsTrust
from consumers.evidence import EvidenceRecord

OK: Final = "ok"
GONE: Final = "record.gone"
CHANGED: Final = "record.changed"
_FETCH_TIMEOUT_MS: Final = 5_000


@dataclass(frozen=True)
class Check:
    """The verdict on one evidence record: ``outcome`` is :data:`OK` or why not, ``detail`` says more."""

    record: EvidenceRecord
    outcome: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == OK


async def verify_evidence(
    settings: Settings, records: Sequence[EvidenceRecord], topic_types: Mapping[str, frozenset[str]]
) -> list[Check]:
    """Re-read and re-verify every record of ``records`` (in their order); ``topic_types`` as the views'."""
    strict = settings.model_copy(
        update={
            "views": settings.views.model_copy(update={"require_signatures": True, "unsigned_sources": []})
        }
    )
    fetched = await fetch_records(settings, [(r.topic, r.partition, r.offset) for r in records])
    checks: list[Check] = []
    async with ViewsTrust(strict) as trust, SchemaRegistryClient(settings.registry) as registry:
        contexts: dict[str, SerializationContext] = {}
        decoder = BatchDecoder(
            AvroDeserializer(registry),
            lambda topic: contexts.setdefault(topic, SerializationContext(topic)),
            topic_types=topic_types,
            admit=trust.admission,
        )
        for evidence in records:
            record = fetched.get((evidence.topic, evidence.partition, evidence.offset))
            if record is None:
                checks.append(Check(evidence, GONE, "no record at this offset any more"))
                continue
            checks.append(await _check(decoder, evidence, record))
    return checks


async def _check(decoder: BatchDecoder, evidence: EvidenceRecord, record: RecordLike) -> Check:
    batch = await decoder.decode({"record": [record]})
    if batch.retry is not None:
        raise batch.retry
    if batch.dead_letters:
        letter = batch.dead_letters[0]
        return Check(evidence, letter.reason.value, letter.message)
    event = batch.events[record.topic][0]
    origin = batch.origins[record.topic][0]
    event_id = event.event_id
    if event_id != evidence.event_id:
        return Check(evidence, CHANGED, f"the record there is event {event_id}, not {evidence.event_id}")
    if origin.signer != evidence.signer:
        return Check(evidence, CHANGED, f"signed by {origin.signer}, the views saw {evidence.signer}")
    return Check(evidence, OK, f"signed by {origin.signer}")


async def fetch_records(
    settings: Settings, coordinates: Sequence[tuple[str, int, int]]
) -> dict[tuple[str, int, int], RecordLike]:
    """The records at ``(topic, partition, offset)``; a coordinate whose record is gone is left out."""
    wanted: dict[TopicPartition, list[int]] = defaultdict(list)
    for topic, partition, offset in coordinates:
        wanted[TopicPartition(topic, partition)].append(offset)
    found: dict[tuple[str, int, int], RecordLike] = {}
    if not wanted:
        return found
    consumer = AIOKafkaConsumer(
        **connection_kwargs(settings.kafka, client_suffix="explain"),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
        consumer.assign(list(wanted))
        ends = await consumer.end_offsets(list(wanted))
        for tp, offsets in wanted.items():
            for offset in sorted(set(offsets)):
                if offset >= ends[tp]:
                    continue
                consumer.seek(tp, offset)
                # the first record at or after the offset: a later one means this offset is gone
                got = await consumer.getmany(tp, timeout_ms=_FETCH_TIMEOUT_MS, max_records=1)
                records = got.get(tp, [])
                if records and records[0].offset == offset:
                    found[(tp.topic, tp.partition, offset)] = records[0]
    except KafkaError as exc:
        raise broker_error(exc, "re-reading the evidence records") from exc
    finally:
        await consumer.stop()
    return found
