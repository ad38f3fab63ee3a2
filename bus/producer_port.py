"""The producer port: the few operations :class:`bus.Publisher` needs of a Kafka producer.

aiokafka provides them in production (:class:`bus.aiokafka_adapter.AiokafkaProducerPort`), a fake in unit
tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from bus.settings import Settings


class RecordMetadataLike(Protocol):
    """What a delivery future resolves to (aiokafka's ``RecordMetadata``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class RecordBatchLike(Protocol):
    """A record batch being filled (aiokafka's ``BatchBuilder``)."""

    def append(
        self, *, timestamp: int | None, key: bytes | None, value: bytes | None, headers: Sequence[Any]
    ) -> object | None:
        """Add a record (its relative offset is the count before it); None when the batch is full."""

    def close(self) -> None: ...


class ProducerPort(Protocol):
    """The few producer operations the Publisher uses; aiokafka in production, a fake in unit tests."""

    async def start(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> asyncio.Future[RecordMetadataLike]: ...

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids, sorted (waits for its metadata)."""

    def create_batch(self) -> RecordBatchLike: ...

    async def send_batch(
        self, batch: RecordBatchLike, topic: str, *, partition: int
    ) -> asyncio.Future[RecordMetadataLike]:
        """Queue a closed batch; its future gives the base offset once Kafka acknowledged it."""

    async def close(self, timeout_s: float) -> None: ...

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]: ...


ProducerFactory = Callable[[Settings], ProducerPort]
