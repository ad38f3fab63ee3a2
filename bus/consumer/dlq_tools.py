"""Reading dead letters back (``lgsp dlq show``) and re-publishing them (``lgsp dlq replay``).

Replay, in order:

1. read the replay group's bookmark of each DLQ partition: the committed offset, and in its metadata the
   letters below it that were left out (``pending``, see :class:`Bookmark`);
2. read the letters from the first pending one to the end; a letter below the committed offset that is not
   pending was replayed before and is **never sent again**;
3. judge every candidate again as the view builder would (the same :class:`~bus.consumer.decode.BatchDecoder`
   on the registry): by default only the letters that would now be applied are sent; the others stay
   pending for a later replay (``force`` sends them too, and they come back to the DLQ);
4. send the chosen letters to their original topic (same key, value and headers), wait for Kafka's
   acknowledgement of all of them, and only then commit the new bookmarks.

So a letter is replayed at most once per replay group (barring a crash between 4's send and commit), and
a letter whose cause is not fixed yet waits instead of going round the DLQ again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from bus.consumer.decode import BatchDecoder
from bus.consumer.dlq import StoredDeadLetter, parse_dead_letter
from bus.consumer.kafka import broker_error, client_config, dlq_producer_config, topic_partitions
from bus.errors import LgspError
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings
from bus.topics import TOPICS, admin_kwargs

REPLAY_GROUP = "lgsp-dlq-replay"
_POLL_MS = 500
MAX_PENDING = 300
"""Letters left out per partition that a bookmark remembers (Kafka keeps 4 KiB of commit metadata by
default). Past that, the replay stops choosing in that partition, so nothing after is sent twice."""


@dataclass(frozen=True)
class LetterSummary:
    """What an operator needs to find the publisher: the CloudEvents headers the letter kept."""

    source: str
    type: str
    event_id: str


def summary(letter: StoredDeadLetter) -> LetterSummary:
    """Source agency, event type and event id of a letter (``?`` where the publisher did not say)."""
    headers = {name: raw.decode("utf-8", errors="replace") for name, raw in letter.original_headers}
    return LetterSummary(
        source=headers.get("ce_source", "?"),
        type=headers.get("ce_type", "?").rsplit(".", 1)[-1],
        event_id=headers.get("ce_id", "?"),
    )


@dataclass
class ReplayReport:
    """What a replay did (or, dry, would do)."""

    read: int = 0
    replayed: int = 0
    skipped: int = 0
    """Left out by the caller's filter (``--reason``)."""
    still_failing: int = 0
    """Judged again and would still be dead-lettered: kept pending (sent only with ``force``)."""
    already_replayed: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    failing_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Bookmark:
    """A replay group's position in one DLQ partition: every letter below ``offset`` was replayed, except
    those in ``pending`` (left out by a filter or still failing), which later replays consider again."""

    offset: int
    pending: frozenset[int] = frozenset()

    @property
    def start(self) -> int:
        """Where the next replay must read from."""
        return min(self.pending, default=self.offset)

    def is_candidate(self, offset: int) -> bool:
        return offset >= self.offset or offset in self.pending

    def metadata(self) -> str:
        return json.dumps({"pending": sorted(self.pending)}, separators=(",", ":"))

    @classmethod
    def parse(cls, offset: int, metadata: str) -> Bookmark:
        try:
            pending = json.loads(metadata).get("pending", []) if metadata else []
        except (ValueError, AttributeError):
            pending = []  # a bookmark written by an older replay: only the offset counts
        return cls(offset, frozenset(int(o) for o in pending if int(o) < offset))


async def read_dead_letters(
    settings: Settings, topics: Sequence[str], *, limit: int | None = None
) -> list[StoredDeadLetter]:
    """Every dead letter now in ``topics`` (from the beginning), oldest first per partition."""
    consumer = AIOKafkaConsumer(**client_config(settings, client_suffix="dlq-show"), enable_auto_commit=False)
    try:
        await consumer.start()
        tps = await topic_partitions(settings, topics)
        consumer.assign(tps)
        if tps:
            await consumer.seek_to_beginning(*tps)
        return await _read_to_end(consumer, tps, limit)
    except Exception as exc:
        raise broker_error(exc, "reading dead letters") from exc
    finally:
        await consumer.stop()


async def judge_again(settings: Settings, letters: Sequence[StoredDeadLetter]) -> list[str | None]:
    """For each letter, the reason it would be dead-lettered again now, or None if it would be applied.

    The builder's own decoder decides (registry lookups, the contract's rules, the topic's event types)."""
    if not letters:
        return []
    prefix = settings.topics.prefix
    topic_types = {prefix + name: frozenset(spec.event_types) for name, spec in TOPICS.items()}
    async with SchemaRegistryClient(settings.registry) as registry:
        decoder = BatchDecoder(AvroDeserializer(registry), SerializationContext, topic_types=topic_types)
        by_topic: dict[str, list[_Record]] = {}
        for index, letter in enumerate(letters):
            record = _Record(letter.topic, 0, index, letter.key, letter.value, letter.original_headers)
            by_topic.setdefault(letter.topic, []).append(record)
        decoded = await decoder.decode({(topic, 0): records for topic, records in by_topic.items()})
    if decoded.retry is not None:
        raise decoded.retry  # the registry is down: no verdict, nothing replayed
    verdicts: list[str | None] = [None] * len(letters)
    for dead in decoded.dead_letters:
        verdicts[dead.offset] = dead.reason.value
    return verdicts


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    # A replayed letter is appended anew: it is checked as of now.
    timestamp: int = field(default_factory=lambda: int(time.time() * 1000))
    timestamp_type: int = 0


async def replay_dead_letters(
    settings: Settings,
    topics: Sequence[str],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    accept: Callable[[StoredDeadLetter], bool] | None = None,
    group_id: str = REPLAY_GROUP,
    from_beginning: bool = False,
    force: bool = False,
) -> ReplayReport:
    """Re-publish the dead letters that this replay group has not replayed yet and that would now be applied
    (all that it has not replayed with ``force``; every letter again with ``from_beginning``)."""
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
        tps = await topic_partitions(settings, topics)
        bookmarks = {} if from_beginning else await _bookmarks(settings, group_id, tps)
        consumer.assign(tps)
        if tps:
            await consumer.seek_to_beginning(*tps)
        for tp, bookmark in bookmarks.items():
            consumer.seek(tp, bookmark.start)
        letters = await _read_to_end(consumer, tps, limit)
        plan = await _plan(settings, letters, bookmarks, accept, force, report)
        if dry_run:
            return report
        futures = [
            await producer.send(
                letter.topic, value=letter.value, key=letter.key, headers=letter.original_headers
            )
            for letter in plan.chosen
        ]
        await asyncio.gather(*futures)
        report.replayed = len(plan.chosen)
        if plan.bookmarks:
            await consumer.commit({tp: (b.offset, b.metadata()) for tp, b in plan.bookmarks.items()})
    except LgspError:
        raise  # the registry's or our own error, already saying what failed
    except Exception as exc:
        raise broker_error(exc, "replaying dead letters") from exc
    finally:
        await producer.stop()
        await consumer.stop()
    return report


@dataclass
class _Plan:
    chosen: list[StoredDeadLetter]
    bookmarks: dict[TopicPartition, Bookmark]


async def _plan(
    settings: Settings,
    letters: Sequence[StoredDeadLetter],
    bookmarks: Mapping[TopicPartition, Bookmark],
    accept: Callable[[StoredDeadLetter], bool] | None,
    force: bool,
    report: ReplayReport,
) -> _Plan:
    """Which letters to send, and each partition's bookmark once they are sent."""
    report.read = len(letters)
    candidates = []
    for letter in letters:
        bookmark = bookmarks.get(TopicPartition(letter.dlq_topic, letter.dlq_partition))
        if bookmark is not None and not bookmark.is_candidate(letter.dlq_offset):
            report.already_replayed += 1
        else:
            candidates.append(letter)
    verdicts = [None] * len(candidates) if force else await judge_again(settings, candidates)
    chosen: list[StoredDeadLetter] = []
    pending: dict[TopicPartition, set[int]] = {}
    ends: dict[TopicPartition, int] = {}
    full: set[TopicPartition] = set()
    for letter, verdict in zip(candidates, verdicts, strict=True):
        tp = TopicPartition(letter.dlq_topic, letter.dlq_partition)
        if tp in full:
            continue  # the bookmark cannot remember more: leave the rest of the partition for later
        wanted = accept is None or accept(letter)
        if wanted and verdict is None:
            chosen.append(letter)
            report.by_topic[letter.topic] = report.by_topic.get(letter.topic, 0) + 1
        else:
            if not wanted:
                report.skipped += 1
            else:
                report.still_failing += 1
                report.failing_reasons[str(verdict)] = report.failing_reasons.get(str(verdict), 0) + 1
            pending.setdefault(tp, set()).add(letter.dlq_offset)
            if len(pending[tp]) >= MAX_PENDING:
                full.add(tp)
        ends[tp] = letter.dlq_offset + 1
    new = {}
    for tp, end in ends.items():
        old = bookmarks.get(tp)
        kept = {o for o in (old.pending if old else ()) if o >= end}  # pending beyond what was read (limit)
        new[tp] = Bookmark(max(end, old.offset if old else 0), frozenset(pending.get(tp, set()) | kept))
    return _Plan(chosen, new)


async def _bookmarks(
    settings: Settings, group_id: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, Bookmark]:
    if not tps:
        return {}
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    try:
        await admin.start()
        committed: Mapping[TopicPartition, OffsetAndMetadata] = await admin.list_consumer_group_offsets(
            group_id, partitions=list(tps)
        )
    finally:
        await admin.close()
    return {
        tp: Bookmark.parse(meta.offset, meta.metadata or "")
        for tp, meta in committed.items()
        if meta.offset is not None and meta.offset >= 0
    }


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
