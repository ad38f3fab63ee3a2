"""aiokafka behind the producer port: the one module that knows aiokafka's producer, internals included.

Two things the Publisher needs have no public API in aiokafka, so this module reaches into its internals,
and only this module:

* closing with a deadline: the idempotent producer retries forever and ``stop()`` waits for it; to give up on
  pending records, :meth:`AiokafkaProducerPort._abandon_pending` cancels ``producer._sender.sender_task`` and
  fails the batches of ``producer._message_accumulator`` (``_batches``, ``_pending_batches``, ``fail_all``,
  each batch's ``future`` and ``_drain_waiter``);
* asking which topics exist without creating them: a raw ``MetadataRequest`` with
  ``allow_auto_topic_creation=False`` sent through ``producer.client``, parsed by ``ClusterMetadata``;
* the LZ4 compression level (``settings.producer.lz4_level``): aiokafka compresses every batch with
  ``aiokafka.codec.lz4_encode`` at level 9 (high compression), looked up as a module global of its record
  batch builders (``aiokafka.record._crecords.default_records`` and its pure-Python twin
  ``aiokafka.record.default_records``); :func:`use_lz4_level` replaces those globals with the same function
  at the configured level. It is process-wide: every producer of the process compresses at the last level
  set (a process has one settings object).

:func:`check_internals` verifies that an installed aiokafka still has all of them; the port calls it when it
is built (a ``ConfigError`` naming what is missing, not an ``AttributeError`` at close time) and
``tests/unit/test_aiokafka_adapter.py`` fails on an incompatible aiokafka. pyproject.toml bounds aiokafka to
the versions checked.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
from collections.abc import Collection
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.producer.message_accumulator import MessageAccumulator, MessageBatch
from aiokafka.protocol.metadata import MetadataRequest

from bus.errors import ConfigError
from bus.kafka_client import connection_kwargs
from bus.producer_port import RecordBatchLike, RecordMetadataLike
from bus.settings import Settings

log = logging.getLogger(__name__)

CLOSE_GRACE_S: Final = 5.0
"""How long closing waits for the sender task after it was cancelled, and for stop() after abandoning."""


def check_internals(producer: AIOKafkaProducer) -> None:
    """ConfigError unless ``producer`` (not started) has every internal this module uses."""
    missing = [name for name, present in _internals(producer).items() if not present]
    if missing:
        import aiokafka

        raise ConfigError(
            f"aiokafka {aiokafka.__version__} lacks what bus.aiokafka_adapter relies on: "
            f"{', '.join(missing)}; install the aiokafka version pyproject.toml allows"
        )


def _internals(producer: AIOKafkaProducer) -> dict[str, bool]:
    sender = getattr(producer, "_sender", None)
    accumulator = getattr(producer, "_message_accumulator", None)
    pending = getattr(accumulator, "_pending_batches", None)
    batch_init = inspect.getsource(MessageBatch.__init__)
    try:
        MetadataRequest([], allow_auto_topic_creation=False)
        metadata_request = True
    except (TypeError, ValueError):
        metadata_request = False
    return {
        "producer._sender.sender_task": sender is not None and hasattr(sender, "sender_task"),
        "producer._message_accumulator (a MessageAccumulator)": isinstance(accumulator, MessageAccumulator),
        "MessageAccumulator._batches": isinstance(getattr(accumulator, "_batches", None), dict),
        "MessageAccumulator._pending_batches": isinstance(pending, set),
        "MessageAccumulator.fail_all": callable(getattr(accumulator, "fail_all", None)),
        "MessageBatch.future": "self.future" in batch_init,
        "MessageBatch._drain_waiter": "self._drain_waiter" in batch_init,
        "producer.client.cluster.brokers / producer.client.send": callable(
            getattr(getattr(producer.client, "cluster", None), "brokers", None)
        )
        and callable(getattr(producer.client, "send", None)),
        "MetadataRequest(topics, allow_auto_topic_creation=...)": metadata_request,
        "ClusterMetadata.update_metadata": callable(getattr(ClusterMetadata, "update_metadata", None)),
    }


def use_lz4_level(level: int) -> None:
    """Make aiokafka compress LZ4 batches at ``level`` (process-wide; see the module docstring).

    Level 9, aiokafka's, is LZ4's high-compression mode: on the bus's events it costs about three times the
    CPU of level 1 for batches 10-15% smaller (bench/results, 2026-12-06), and a Python producer is
    CPU-bound long before the network is.
    """
    import aiokafka.codec
    import aiokafka.record._crecords.default_records as cython_builder
    import aiokafka.record.default_records as python_builder

    encode = functools.partial(aiokafka.codec.lz4_encode, level=level)
    for module in (cython_builder, python_builder):
        current = getattr(module, "lz4_encode", None)
        if current is None:
            raise ConfigError(
                f"aiokafka {aiokafka.__version__}: {module.__name__} has no lz4_encode to set the LZ4 level "
                "on; install the aiokafka version pyproject.toml allows"
            )
        if getattr(current, "keywords", None) != encode.keywords:
            module.lz4_encode = encode


def producer_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka producer arguments from settings: acks=all, idempotence, linger, batch size, compression.

    Public so a benchmark can build a raw producer with exactly the Publisher's settings; with LZ4 it also
    sets the process's LZ4 level (:func:`use_lz4_level`), which aiokafka takes no argument for.
    """
    kafka, producer = settings.kafka, settings.producer
    if producer.compression_type == "lz4":
        use_lz4_level(producer.lz4_level)
    # aiokafka expires nothing while idempotent; its request timeout should still fit in our deadline.
    request_timeout_ms = min(kafka.request_timeout_ms, int(producer.delivery_timeout_s * 1000))
    return {
        **connection_kwargs(kafka),
        "request_timeout_ms": request_timeout_ms,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": producer.linger_ms,
        "max_batch_size": producer.max_batch_size,
        "max_request_size": producer.max_request_size,
        "compression_type": None if producer.compression_type == "none" else producer.compression_type,
    }


class AiokafkaProducerPort:
    """aiokafka's producer with the bus's settings (:func:`producer_kwargs`)."""

    def __init__(self, settings: Settings) -> None:
        self._producer = AIOKafkaProducer(**producer_kwargs(settings))
        check_internals(self._producer)

    async def start(self) -> None:
        await self._producer.start()

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> asyncio.Future[RecordMetadataLike]:
        future: asyncio.Future[RecordMetadataLike] = await self._producer.send(
            topic, value, key=key, headers=headers, partition=partition
        )
        return future

    async def partitions(self, topic: str) -> list[int]:
        return sorted(await self._producer.partitions_for(topic))

    def create_batch(self) -> RecordBatchLike:
        batch: RecordBatchLike = self._producer.create_batch()
        return batch

    async def send_batch(
        self, batch: RecordBatchLike, topic: str, *, partition: int
    ) -> asyncio.Future[RecordMetadataLike]:
        future: asyncio.Future[RecordMetadataLike] = await self._producer.send_batch(
            batch, topic, partition=partition
        )
        return future

    async def close(self, timeout_s: float) -> None:
        """Stop, flushing pending records for up to ``timeout_s``; then abandon the rest and disconnect."""
        stopping = asyncio.ensure_future(self._producer.stop())
        done, _ = await asyncio.wait({stopping}, timeout=timeout_s)
        if not done:
            log.warning("Kafka did not acknowledge pending records within %.1f s; abandoning them", timeout_s)
            await self._abandon_pending()
            await asyncio.wait({stopping}, timeout=CLOSE_GRACE_S)
        if not stopping.done():
            stopping.cancel()
        elif not stopping.cancelled() and stopping.exception() is not None:
            log.warning("error while closing the Kafka producer: %r", stopping.exception())

    async def _abandon_pending(self) -> None:
        # The idempotent producer retries forever and stop() waits for it. aiokafka has no public way out, so:
        # stop its sender task, then fail the batches it still holds, which lets stop() finish.
        producer: Any = self._producer
        sender_task = producer._sender.sender_task
        if sender_task is not None and not sender_task.done():
            sender_task.cancel()
            await asyncio.wait({sender_task}, timeout=CLOSE_GRACE_S)
        accumulator = producer._message_accumulator
        queued = [batch for queue in accumulator._batches.values() for batch in queue]
        batches = [*queued, *accumulator._pending_batches]
        # Re-enqueued batches keep a done-callback that removes them from this set; keep that removal valid.
        accumulator._pending_batches.update(queued)
        accumulator.fail_all(KafkaTimeoutError("the producer was closed before Kafka acknowledged"))
        for batch in batches:  # nobody waits on these any more; reading them keeps asyncio quiet
            for future in (batch.future, batch._drain_waiter):
                if future.done() and not future.cancelled():
                    future.exception()

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]:
        # A metadata request for these topics only, never creating them; aiokafka's client has no public call
        # for that, so this uses its request API and its own response parser. Any broker can answer, so they
        # are asked in turn (random order, as aiokafka's own metadata refresh does) until one does: a broker
        # just lost stays in the metadata until the controller fences it, and asking only it made a cluster
        # riding through the loss look unreachable (the ingress answered 503 to every request meanwhile).
        client = self._producer.client
        nodes = [broker.nodeId for broker in client.cluster.brokers()]
        if not nodes:
            raise KafkaConnectionError("no broker known")
        random.shuffle(nodes)
        request = MetadataRequest(list(topics), allow_auto_topic_creation=False)
        failures: list[str] = []
        async with asyncio.timeout(timeout_s):  # the whole probe, however many brokers it asks
            for node in nodes:
                try:
                    response = await client.send(node, request)
                except KafkaError as exc:  # not connected, connection lost, request timed out
                    failures.append(f"node {node}: {exc!r}")
                    continue
                metadata = ClusterMetadata()
                metadata.update_metadata(response)
                return set(metadata.topics()) & set(topics)
        raise KafkaConnectionError(f"no broker answered a metadata request ({'; '.join(failures)})")
