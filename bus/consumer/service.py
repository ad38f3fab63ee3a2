"""Wiring a :class:`ConsumerRunner` to real Kafka and the real schema registry from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus.consumer.admission import Admission, Portable
from bus.consumer.decode import BatchDecoder, DecodedBatch, Decoder, RecordLike, Validator
from bus.consumer.dlq import DeadLetterWriter
from bus.consumer.kafka import broker_error, consumer_config, dlq_producer_config
from bus.consumer.parallel import ProcessPoolDecoder
from bus.consumer.retry import Backoff
from bus.consumer.runner import ConsumerRunner, RunnerConfig, RunStats
from bus.consumer.telemetry import RunnerTelemetry
from bus.consumer.types import BatchSink, Partition
from bus.metrics import ConsumerMetrics, DependencyMetrics
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    """What to consume and where it goes."""

    group_id: str
    topics: Sequence[str]
    sink: BatchSink
    topic_types: Mapping[str, frozenset[str]] | None = None
    validate: Validator | None = None
    admit: Admission | None = None
    """Checks before a decoded record is applied (signatures, value ranges); refused ones are dead letters."""
    prepare: Callable[[], Awaitable[None]] | None = None
    """Run before each batch is decoded (the views re-read the keyring: a key is known before its records)."""
    partitions: Sequence[Partition] = ()
    """Only these partitions, assigned by hand (a rebuild shard); empty: the group assigns them."""


async def run_consumer(
    settings: Settings,
    spec: ConsumerSpec,
    *,
    stop: asyncio.Event,
    until_caught_up: bool = False,
    metrics: ConsumerMetrics | None = None,
    dependencies: DependencyMetrics | None = None,
    backoff: Backoff | None = None,
) -> RunStats:
    """Run one consumer-group member on the real broker until ``stop`` (or caught up, if asked)."""
    producer = AIOKafkaProducer(**dlq_producer_config(settings))
    try:
        await producer.start()
    except Exception as exc:
        await producer.stop()
        raise broker_error(exc, "starting the dead-letter producer") from exc
    try:
        async with SchemaRegistryClient(settings.registry) as registry:
            decoder = _decoder(settings, spec, registry)
            if spec.prepare is not None:
                decoder = _Preparing(decoder, spec.prepare)
            config = RunnerConfig(
                group_id=spec.group_id,
                topics=spec.topics,
                max_batch_records=settings.views.max_batch_records,
                poll_timeout_ms=settings.views.poll_timeout_ms,
                backoff=backoff or Backoff(),
                partitions=tuple(spec.partitions),
            )
            runner = ConsumerRunner(
                AIOKafkaConsumer(**consumer_config(settings, group_id=spec.group_id)),
                spec.sink,
                decoder,
                DeadLetterWriter(producer, group=spec.group_id),
                config,
                RunnerTelemetry(spec.group_id, metrics, dependencies),
            )
            try:
                return await runner.run(stop, until_caught_up=until_caught_up)
            finally:
                inner = decoder.inner if isinstance(decoder, _Preparing) else decoder
                if isinstance(inner, ProcessPoolDecoder):
                    inner.close()
    finally:
        await producer.stop()


def _decoder(settings: Settings, spec: ConsumerSpec, registry: SchemaRegistryClient) -> Decoder:
    """In process, or in ``views.decode_workers`` processes: those take the admission along when it is
    :class:`Portable` (the views' is); a custom validator or another admission keeps decoding in process."""
    workers = settings.views.decode_workers
    admit = spec.admit
    portable = admit is None or isinstance(admit, Portable)
    if workers > 0 and spec.validate is None and portable:
        log.info("%s decodes and checks in %d worker processes", spec.group_id, workers)
        return ProcessPoolDecoder(
            settings.registry,
            workers=workers,
            topic_types=spec.topic_types,
            admission=admit if isinstance(admit, Portable) else None,
        )
    if workers > 0:
        log.warning(
            "views.decode_workers=%d not used by %s: its records are checked by a validator or an admission "
            "the decode workers cannot hold; decoding in process",
            workers,
            spec.group_id,
        )
    contexts = {topic: SerializationContext(topic) for topic in spec.topics}
    return BatchDecoder(
        AvroDeserializer(registry),
        lambda topic: contexts.get(topic) or SerializationContext(topic),
        topic_types=spec.topic_types,
        validate=spec.validate,
        admit=spec.admit,
    )


class _Preparing:
    """A decoder that awaits ``prepare`` before each batch."""

    def __init__(self, inner: Decoder, prepare: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self._prepare = prepare

    async def decode(self, fetched: Mapping[Any, Sequence[RecordLike]]) -> DecodedBatch:
        await self._prepare()
        return await self.inner.decode(fetched)
