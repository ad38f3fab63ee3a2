"""The rebuild corpus: ``N`` simulated events, encoded once, cached on disk, sent raw to their topics.

Parts use it through :func:`corpus_topics` (the rebuild and scale-out parts share it): the topics are
produced unless a previous run left them, and deleted at the end unless ``--keep-corpus``.

Simulating a million events takes minutes, so the encoded records are cached
(``<dev cache dir>/bench/corpus-*.bin``) without their schema ids: the 5-byte Confluent header is added again
on loading, with the ids of the registry in use. Sending is the fast path: pre-encoded bytes straight to an
``AIOKafkaProducer`` with the Publisher's settings, many records in flight. The records are signed as they
are sent, as their agencies' publishers would sign them (:mod:`bench.keys`: a key per People's Committee and
ministry, made for the sending, public keys on the corpus's keyring topic), so the views verify them as
they verify production's records.

Cache file: a sequence of records, each
``type index (u8) | key len (u16) | key | header count (u8) | (name len u8, name, value len u16, value)* |
body len (u32) | Avro body``. Reading checks every record's framing (a damaged file raises
:class:`CorpusError` instead of sending garbage); each writer uses its own partial file, renamed when done, so
two runs simulating at once cannot interleave their writes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastavro import schemaless_writer

from bench.keys import RawRecord, make_keys, nation_agencies, publish_keys, sign_records
from bench.model import BenchContext
from bench.procs import BenchError
from bench.stack import delete_prefixed_topics, prefixed_topics, prepare_topics, with_prefix
from bus.aiokafka_adapter import producer_kwargs
from bus.cloudevents import kafka_headers
from bus.consumer.kafka import consumer_config, topic_partitions
from bus.events import EVENT_TYPES, Event
from bus.handover import group_by_partition, partition_order
from bus.registry import SchemaRegistryClient
from bus.serde import HEADER, MAGIC_BYTE, parsed_schema, subject_for
from bus.settings import Settings
from bus.signing.envelope import VERSION as ENVELOPE_VERSION
from bus.signing.signer import KeyChain
from bus.topics import TOPICS, topic_for
from producers.simulate import Simulation, SimulationConfig

CORPUS_SEED = 20250701
_FORMAT = 1
_TYPES = sorted(EVENT_TYPES)
_HEAD = struct.Struct("<BH")
_HEADER_NAME = struct.Struct("<B")
_HEADER_VALUE = struct.Struct("<H")
_BODY = struct.Struct("<I")
_IN_FLIGHT = 20_000


class CorpusError(BenchError):
    """The cached corpus is damaged; delete the file (a run then simulates it again)."""


@dataclass(frozen=True, slots=True)
class CorpusRecord:
    type_index: int
    key: bytes
    headers: list[tuple[str, bytes]]
    body: bytes


def corpus_prefix(count: int) -> str:
    """Topic prefix of the corpus of ``count`` events: the same for every run, so it can be reused, until the
    events, the signature envelope's version or the leaf order change (topics kept from before version 2
    would measure version 1's reading; from before the trees went partition by partition, longer walks)."""
    return f"bench-corpus-{count}-{_fingerprint()}-signed-v{ENVELOPE_VERSION}-by-partition."


@contextmanager
def corpus_topics(ctx: BenchContext, count: int) -> Iterator[tuple[Settings, dict[str, int]]]:
    """Settings on the corpus topics of ``count`` events and each topic's record count; the topics are
    produced now unless a previous run left them, and deleted at the end unless ``ctx.keep_corpus``."""
    prefix = corpus_prefix(count)
    settings = with_prefix(ctx.settings, prefix)
    try:
        yield settings, _ensure_corpus(ctx, settings, count)
    finally:
        if not ctx.keep_corpus:
            asyncio.run(delete_prefixed_topics(ctx.settings, prefix))


def _ensure_corpus(ctx: BenchContext, settings: Settings, count: int) -> dict[str, int]:
    """The corpus topics with exactly ``count`` records. A damaged or wrong-sized cache file is deleted and
    simulated again, once."""
    prefix = settings.topics.prefix
    # Listed first: counting describes the topics, which a broker that auto-creates topics would create
    # (with its default partition count) if they are missing.
    if {prefix + name for name in TOPICS} <= set(asyncio.run(prefixed_topics(settings, prefix))):
        counts = asyncio.run(topic_counts(settings, prefix))
        if sum(counts.values()) == count:
            ctx.say(f"corpus: reusing the {count:,} events under {prefix}")
            return counts
    for attempt in (1, 2):
        try:
            return _produce(ctx, settings, count)
        except CorpusError as exc:
            if attempt == 2:
                raise
            ctx.say(f"corpus: {exc}; simulating it again")
            cache_path(settings, count).unlink(missing_ok=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _produce(ctx: BenchContext, settings: Settings, count: int) -> dict[str, int]:
    prefix = settings.topics.prefix
    asyncio.run(delete_prefixed_topics(ctx.settings, prefix))
    path = cache_path(settings, count)
    if not path.exists():
        ctx.say(f"corpus: simulating {count:,} events into {path} (once; later runs reuse the file)")
        simulate_to_cache(path, count, ctx.say)
    asyncio.run(prepare_topics(settings))
    chain, entries = make_keys(ctx.work_dir / f"corpus-keys-{uuid.uuid4().hex[:8]}", nation_agencies())
    publish_keys(settings, entries)
    ctx.say(f"corpus: sending {count:,} pre-encoded events, signed by {len(entries)} agencies, to {prefix}*")
    sent = asyncio.run(send_cache(settings, path, chain, ctx.say))
    if sent != count:
        raise CorpusError(f"{path} holds {sent} records, not {count}")
    counts = asyncio.run(topic_counts(settings, prefix))
    if sum(counts.values()) != count:
        raise BenchError(f"corpus: sent {sent} records, the topics hold {sum(counts.values())}")
    return counts


def cache_path(settings: Settings, count: int) -> Path:
    return settings.dev.cache_dir / "bench" / f"corpus-{count}-{_fingerprint()}.bin"


@functools.cache
def _fingerprint() -> str:
    """Changes with the seed, the cache format, the event schemas (versions and files) and the data that
    decides which events are valid (agency catalog, simulation targets). Not with the simulator's code: an
    older simulator's events are still valid events (delete the cache directory to force a new corpus)."""
    digest = hashlib.sha256(f"{CORPUS_SEED}:{_FORMAT}:".encode())
    for name in _TYPES:
        digest.update(f"{name}@{EVENT_TYPES[name].SCHEMA_VERSION};".encode())
    for path in _inputs():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def _inputs() -> list[Path]:
    import producers.simulate
    from bus.agencies import __file__ as agencies_module
    from bus.schemas import schema_dir

    data_dirs = [Path(agencies_module).parent / "data", Path(producers.simulate.__file__).parents[1] / "data"]
    files = sorted(schema_dir().rglob("*.avsc"))
    for data in data_dirs:
        files += sorted(f for f in data.rglob("*") if f.is_file())
    return files


def simulate_to_cache(path: Path, count: int, progress: Callable[[str], None]) -> None:
    """Simulate ``count`` events (seeded) and write them, Avro-encoded, to ``path``."""
    writer = _BodyWriter()
    simulation = Simulation(SimulationConfig(seed=CORPUS_SEED))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    started = time.monotonic()
    with partial.open("wb") as out:
        for index, emission in enumerate(simulation):
            if index == count:
                break
            out.write(writer.encode(emission.event))
            if index and index % 100_000 == 0:
                rate = index / (time.monotonic() - started)
                progress(f"corpus: simulated {index:,} of {count:,} events ({rate:,.0f}/s)")
    partial.replace(path)


class _BodyWriter:
    """Encodes an event into one cache record (the serde's Avro body, without the schema id)."""

    def __init__(self) -> None:
        self._schemas = {name: parsed_schema(EVENT_TYPES[name].avro_schema(), name) for name in _TYPES}
        self._index = {name: i for i, name in enumerate(_TYPES)}

    def encode(self, event: Event) -> bytes:
        name = event.AVRO_NAME
        body = BytesIO()
        schemaless_writer(body, self._schemas[name], event.to_avro())
        key = event.entity_key().encode()
        parts = [_HEAD.pack(self._index[name], len(key)), key]
        headers = kafka_headers(event)
        parts.append(bytes([len(headers)]))
        for header, value in headers:
            raw = header.encode()
            parts += [_HEADER_NAME.pack(len(raw)), raw, _HEADER_VALUE.pack(len(value)), value]
        data = body.getvalue()
        parts += [_BODY.pack(len(data)), data]
        return b"".join(parts)


def read_cache(path: Path) -> Iterator[CorpusRecord]:
    """The records of a cache file, each checked (:class:`CorpusError` at the first damaged one)."""
    with path.open("rb", buffering=1 << 20) as reader:
        index = 0
        while head := reader.read(_HEAD.size):
            try:
                yield _record(reader, head)
            except (CorpusError, struct.error, IndexError, UnicodeDecodeError) as exc:
                raise CorpusError(f"{path} is damaged at record {index}: {exc}; delete it") from exc
            index += 1


def _record(reader: BinaryIO, head: bytes) -> CorpusRecord:
    type_index, key_len = _HEAD.unpack(head)
    if type_index >= len(_TYPES) or key_len == 0:
        raise CorpusError(f"bad record head (type {type_index}, key length {key_len})")
    key = _exactly(reader, key_len)
    headers = []
    for _ in range(_exactly(reader, 1)[0]):
        name = _exactly(reader, _HEADER_NAME.unpack(_exactly(reader, 1))[0]).decode()
        value = _exactly(reader, _HEADER_VALUE.unpack(_exactly(reader, 2))[0])
        headers.append((name, value))
    if not headers:
        raise CorpusError("a record without its CloudEvents headers")
    body_len = _BODY.unpack(_exactly(reader, 4))[0]
    if body_len == 0:
        raise CorpusError("a record with an empty body")
    return CorpusRecord(type_index, key, headers, _exactly(reader, body_len))


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise CorpusError(f"truncated: wanted {size} bytes, got {len(data)}")
    return data


async def topic_counts(settings: Settings, prefix: str) -> dict[str, int]:
    """Records on each catalog topic under ``prefix`` (end − beginning offsets; 0 for a missing topic)."""
    counts = {prefix + name: 0 for name in TOPICS}
    partitions = await topic_partitions(settings, list(counts))
    if not partitions:
        return counts
    consumer = AIOKafkaConsumer(**consumer_config(settings, group_id=None))
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    for tp, end in ends.items():
        counts[tp.topic] += end - starts.get(tp, 0)
    return counts


async def send_cache(settings: Settings, path: Path, chain: KeyChain, progress: Callable[[str], None]) -> int:
    """Send every cached record, signed, to its topic under ``settings.topics.prefix``; how many were sent."""
    types = [EVENT_TYPES[name] for name in _TYPES]
    async with SchemaRegistryClient(settings.registry) as registry:
        frames = [await _frame_of(registry, t) for t in types]
    topics = [topic_for(t, prefix=settings.topics.prefix) for t in types]
    producer = AIOKafkaProducer(**producer_kwargs(settings))
    await producer.start()
    sent = 0
    try:
        partitions: dict[str, list[int]] = {t: sorted(await producer.partitions_for(t)) for t in topics}
        window: list[tuple[str, RawRecord]] = []
        for record in read_cache(path):
            raw = RawRecord(record.key, frames[record.type_index] + record.body, list(record.headers))
            window.append((topics[record.type_index], raw))
            if len(window) >= _IN_FLIGHT:
                sent += await _send_window(producer, chain, window, partitions)
                window.clear()
                if sent % 200_000 == 0:
                    progress(f"corpus: sent {sent:,} records")
        sent += await _send_window(producer, chain, window, partitions)
    finally:
        await producer.stop()
    return sent


async def _send_window(
    producer: AIOKafkaProducer,
    chain: KeyChain,
    window: list[tuple[str, RawRecord]],
    partitions: dict[str, list[int]],
) -> int:
    """Sign the window's records (per agency, :data:`bench.keys.SIGN_BATCH` a signature), send, await. As the
    Publisher does, each signer's tree takes its records partition by partition: the window is placed first
    (:func:`bus.handover.partition_order`; each partition keeps its order)."""
    groups = group_by_partition([(topic, raw.key) for topic, raw in window], partitions)
    sign_records(chain, [window[index][1] for index in partition_order(groups)])
    pending = []
    for (topic, partition), indexes in groups.items():
        for raw in (window[index][1] for index in indexes):
            sent = await producer.send(
                topic, raw.value, key=raw.key, headers=raw.headers, partition=partition
            )
            pending.append(sent)
    await asyncio.gather(*pending)
    return len(window)


async def _frame_of(registry: SchemaRegistryClient, event_type: type[Event]) -> bytes:
    """The 5-byte Confluent header the serializer puts before ``event_type``'s Avro body."""
    schema_id = await registry.lookup(subject_for(event_type), event_type.avro_schema_source())
    return HEADER.pack(MAGIC_BYTE, schema_id)
