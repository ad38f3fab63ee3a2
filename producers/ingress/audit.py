"""The ingress's audit trail: every event request, published or refused, appended to ``lgsp.audit``.

One JSON record per ``POST /v1/events`` or ``/v1/events:batch`` answer (:class:`AuditRecord`): when, the
route, the status and problem type, the outcome (``published`` for a 202, else ``refused``), the agency and
API key id that authenticated (none for a 401), the client address as the server saw it, and the event ids
(those of the body's events once parsed: a 422's ids are the ``id`` members the body had). The record key is
the agency (``-`` unauthenticated), so one agency's trail keeps its order.

Off the latency path: a request only puts its record on a bounded queue (:meth:`AuditTrail.append`, never
waits); a background task sends the queue to Kafka in batches. When Kafka is slower than the requests for
longer than ``LGSP_AUDIT__QUEUE_MAX`` records, or a send fails, records are dropped and counted
(``lgsp_ingress_audit_dropped_total{reason}``): a slow or absent audit topic never delays nor fails a request.
The topic is created if missing with the retention of ``LGSP_AUDIT__RETENTION_DAYS``
(:func:`bus.topics.audit_topic_plan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.errors import BrokerError, BrokerUnavailableError, LgspError
from bus.kafka_client import connection_kwargs
from bus.metrics import IngressMetrics
from bus.settings import Settings
from bus.topics import AUDIT_TOPIC, ensure_audit_topic

log = logging.getLogger(__name__)

PUBLISHED: Final = "published"
REFUSED: Final = "refused"
ANONYMOUS: Final = "-"
"""The record key of requests no API key authenticated."""
_CLOSE_WAIT_S: Final = 5.0
_RETRY_START_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event request as the audit trail keeps it."""

    at_ms: int
    path: str
    status: int
    problem: str | None
    agency: str | None
    api_key_id: str | None
    client: str | None
    event_ids: tuple[str, ...]

    @property
    def outcome(self) -> str:
        return PUBLISHED if self.status == 202 else REFUSED

    def to_json(self) -> dict[str, Any]:
        return {
            "time_ms": self.at_ms,
            "path": self.path,
            "status": self.status,
            "outcome": self.outcome,
            "problem": self.problem,
            "agency": self.agency,
            "api_key_id": self.api_key_id,
            "client": self.client,
            "event_ids": list(self.event_ids),
        }


class AuditSink(Protocol):
    """Where the routes put audit records (:class:`AuditTrail`; a list in unit tests)."""

    def append(self, record: AuditRecord) -> None: ...


def now_ms() -> int:
    return int(time.time() * 1000)


class AuditTrail:
    """The bounded queue and the task that sends it to ``lgsp.audit`` (``start`` / ``close``)."""

    def __init__(self, settings: Settings, metrics: IngressMetrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=settings.audit.queue_max)
        self._topic = settings.topics.prefix + AUDIT_TOPIC
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.written = 0
        self.dropped = 0

    @property
    def topic(self) -> str:
        return self._topic

    def append(self, record: AuditRecord) -> None:
        """Queue ``record`` for sending; drop it (counted) if the queue is full. Never waits."""
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._drop("queue-full", 1)

    async def start(self) -> None:
        """Start sending in the background (connecting to Kafka is part of it: an absent broker delays the
        trail, never the ingress)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-trail")

    async def close(self) -> None:
        """Send what is queued (up to a few seconds), then stop."""
        self._closing.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=_CLOSE_WAIT_S)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        left = self._queue.qsize()
        if left:
            self._drop("kafka", left)
            while not self._queue.empty():
                self._queue.get_nowait()

    async def _run(self) -> None:
        producer = await self._connect()
        if producer is None:
            return
        try:
            while not (self._closing.is_set() and self._queue.empty()):
                batch = await self._next_batch()
                if batch:
                    await self._send(producer, batch)
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()

    async def _connect(self) -> AIOKafkaProducer | None:
        """A started producer on an existing topic; retried until it works or the trail closes."""
        created = False
        while not self._closing.is_set():
            producer = AIOKafkaProducer(
                **connection_kwargs(self._settings.kafka, client_suffix="audit"), acks="all", linger_ms=20
            )
            try:
                if not created:
                    created = await self._ensure_topic()
                await producer.start()
                return producer
            except (KafkaError, OSError, LgspError) as exc:
                log.warning("audit trail: cannot reach Kafka yet (%s); requests go on, records queue", exc)
                with contextlib.suppress(KafkaError, OSError):
                    await producer.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), timeout=_RETRY_START_S)
        return None

    async def _ensure_topic(self) -> bool:
        """Create the topic if missing (True once tried). On a secure cluster the ingress may only write it
        (the admin creates it, ``ensure_audit_topic``): a refusal is logged, and sending then tells."""
        try:
            await ensure_audit_topic(self._settings)
        except BrokerError as exc:
            if isinstance(exc, BrokerUnavailableError):
                raise  # Kafka not there yet: try again with the producer
            log.warning("audit trail: could not create %s (%s); expecting it to exist", self._topic, exc)
        return True

    async def _next_batch(self) -> list[AuditRecord]:
        """Up to ``batch_max`` records: the first waited for (until closing), the rest for at most
        ``flush_interval_s``."""
        audit = self._settings.audit
        batch: list[AuditRecord] = []
        if self._queue.empty():
            getter = asyncio.ensure_future(self._queue.get())
            closing = asyncio.ensure_future(self._closing.wait())
            done, _ = await asyncio.wait({getter, closing}, return_when=asyncio.FIRST_COMPLETED)
            closing.cancel()
            if getter not in done:
                getter.cancel()
                return batch
            batch.append(getter.result())
        deadline = time.monotonic() + audit.flush_interval_s
        while len(batch) < audit.batch_max:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing.is_set():
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), timeout=remaining))
            except TimeoutError:
                break
        return batch

    async def _send(self, producer: AIOKafkaProducer, batch: Sequence[AuditRecord]) -> None:
        try:
            futures = [
                await producer.send(
                    self._topic,
                    json.dumps(record.to_json(), ensure_ascii=False).encode(),
                    key=(record.agency or ANONYMOUS).encode(),
                )
                for record in batch
            ]
            await asyncio.gather(*futures)
        except (KafkaError, OSError) as exc:
            log.warning("audit trail: %d records not written: %s", len(batch), exc)
            self._drop("kafka", len(batch))
            return
        self.written += len(batch)
        if self._metrics is not None:
            self._metrics.audit_written.inc(len(batch))

    def _drop(self, reason: str, count: int) -> None:
        self.dropped += count
        if self._metrics is not None:
            self._metrics.audit_dropped.labels(reason=reason).inc(count)
