"""Publishing behind the routes: the in-flight bound, the Kafka gate, readiness, and errors as problems.

Admission, decided from the headers alone, before the body is read (:meth:`PublishService.admit`), so
refusing costs almost nothing when the ingress is overloaded:

- ``max_in_flight`` requests already admitted (reading, validating or publishing) -> 429 with
  ``Retry-After``; nothing is sent;
- Kafka known unreachable, or without the topics (the last answer of a metadata probe refreshed in the
  background at most once a second, the same that ``/readyz`` shows) -> 503 with ``Retry-After``; nothing
  is sent (without this gate the producer would queue the events and might deliver them after the 503).

Then, for an admitted request's validated event records, :meth:`PublishService.publish` calls
``publish_records``: 202
with every delivery once Kafka acknowledged all of them; a registry failure (before sending) -> 503; a Kafka
failure mid-publish -> 503 naming the unconfirmed ids.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bus.authz import Principal
from bus.errors import (
    BrokerError,
    PublishError,
    RegistryError,
    SerializationError,
    ValidationError,
)
from bus.events import Event
from bus.events.record import EventRecord
from bus.publisher import Delivery, EventEncodingError
from bus.settings import Settings
from bus.wording import of_total
from producers.ingress.limits import KeyLimiter
from producers.ingress.problems import FieldError, ProblemError, ProblemKind


class EventPublisher(Protocol):
    """What the ingress needs from :class:`bus.Publisher` (a fake in unit tests)."""

    async def publish_records(
        self, records: Sequence[EventRecord], *, on_behalf: Sequence[Principal] | None = None
    ) -> list[Delivery]: ...

    async def prepare(self, types: Iterable[type[Event]] = ()) -> None: ...

    async def present_topics(self, topics: Collection[str], timeout_s: float) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One dependency's state as last probed."""

    ok: bool
    detail: str
    timed_out: bool = False
    """No answer in time: on a busy event loop that is not proof the dependency is down."""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


class CachedProbe:
    """A probe run at most once per ``ttl_s``, bounded by ``timeout_s``; concurrent callers share one run.

    :meth:`get` waits for a fresh answer (``/readyz``); :meth:`peek` never waits (the request path): it
    returns the last answer and starts a refresh in the background when that answer is stale.
    """

    def __init__(
        self,
        probe: Callable[[float], Awaitable[Check]],
        *,
        ttl_s: float = 1.0,
        timeout_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._ttl = ttl_s
        self._timeout = timeout_s
        self._clock = clock
        self._last: Check | None = None
        self._expires = 0.0
        self._running: asyncio.Task[Check] | None = None

    def peek(self) -> Check | None:
        if self._last is None or self._clock() >= self._expires:
            self._refresh()
        return self._last

    async def get(self) -> Check:
        if self._last is not None and self._clock() < self._expires:
            return self._last
        return await asyncio.shield(self._refresh())

    async def aclose(self) -> None:
        """Cancel a probe still running (at shutdown)."""
        if self._running is not None and not self._running.done():
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)

    def _refresh(self) -> asyncio.Task[Check]:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run())
        return self._running

    async def _run(self) -> Check:
        try:
            check = await asyncio.wait_for(self._probe(self._timeout), timeout=self._timeout)
        except TimeoutError:
            check = Check(False, f"no answer within {self._timeout:g} s", timed_out=True)
        except Exception as exc:  # a probe's failure of any kind is the answer, not a crash
            check = Check(False, str(exc) or repr(exc))
        self._last, self._expires = check, self._clock() + self._ttl
        return check


def kafka_probe(publisher: EventPublisher, topics: Iterable[str]) -> Callable[[float], Awaitable[Check]]:
    """Kafka answers a metadata request and has every topic the ingress publishes to."""
    wanted = sorted(set(topics))

    async def probe(timeout_s: float) -> Check:
        present = await publisher.present_topics(wanted, timeout_s)
        missing = [t for t in wanted if t not in present]
        if missing:
            return Check(False, f"reachable, but topics are missing: {', '.join(missing)}")
        return Check(True, "reachable")

    return probe


MAX_COALESCED: Final = 500
"""Single events published together at most, unless told otherwise (the app: ``ingress.max_batch_events``)."""


def ingress_publisher_settings(settings: Settings) -> Settings:
    """The settings of the ingress's own Publisher: its producer does not linger, since the single events
    have already waited ``producer.linger_ms`` for company in the :class:`Coalescer` (and a batch request's
    records need none)."""
    return settings.model_copy(update={"producer": settings.producer.model_copy(update={"linger_ms": 0})})


class Coalescer:
    """Publishes the single events of concurrent requests together: one ``publish_records`` call for all the
    events that arrive within ``linger_s`` of the first (or ``max_events`` of them, whichever comes first),
    so that the per-call work (stamp, lock, the batch signature, a produce request, the confirmation) is paid
    once for them rather than once per request.

    This is the producer's own ``linger_ms`` lifted one level up: a record handed to Kafka's producer alone
    waits that long for company anyway, so waiting here instead costs no latency, and the ingress's Publisher
    then sends at once (its producer does not linger again: :func:`ingress_publisher_settings`). With
    ``linger_s`` 0, the events handed over in one turn of the event loop go together and a lone request goes
    alone, at once.

    Each request still gets its own answer. If the shared call fails before sending (an event that does not
    encode, the registry), nothing was sent, and each event is published again on its own so that only the
    request at fault gets the error. If it fails while sending (:class:`~bus.errors.PublishError`), a request
    whose event Kafka confirmed gets its delivery, and every other one that failure naming its own event as
    unconfirmed: it may have landed, and the client resends it unchanged as after any 503 (consumers drop
    duplicates by event id).
    """

    def __init__(
        self, publisher: EventPublisher, *, linger_s: float = 0.0, max_events: int = MAX_COALESCED
    ) -> None:
        self._publisher = publisher
        self._linger_s = linger_s
        self._max_events = max_events
        self._pending: list[tuple[EventRecord, Principal | None, asyncio.Future[Delivery]]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def publish(self, event: EventRecord, principal: Principal | None = None) -> Delivery:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivery] = loop.create_future()
        if not self._pending:
            self._timer = (
                loop.call_later(self._linger_s, self._flush)
                if self._linger_s > 0
                else loop.call_soon(self._flush)
            )
        self._pending.append((event, principal, future))
        if len(self._pending) >= self._max_events:
            self._flush()
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._pending = self._pending, []
        if not group:
            return
        task = asyncio.get_running_loop().create_task(self._publish(group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _publish(
        self, group: list[tuple[EventRecord, Principal | None, asyncio.Future[Delivery]]]
    ) -> None:
        if len(group) == 1:
            await self._alone(*group[0])
            return
        try:
            deliveries = await self._publisher.publish_records(
                [event for event, _, _ in group], **_on_behalf([p for _, p, _ in group])
            )
        except PublishError as exc:
            stored = {delivery.id: delivery for delivery in exc.deliveries}
            for event, _, future in group:
                delivery = stored.get(event.event_id)
                if delivery is not None:  # Kafka has it: this request succeeded, whatever befell the others
                    _settle(future, result=delivery)
                else:
                    _settle(future, error=_unconfirmed(event, exc))
        except (EventEncodingError, ValidationError, RegistryError, SerializationError):
            await asyncio.gather(*(self._alone(event, p, future) for event, p, future in group))
        except asyncio.CancelledError:
            for _, _, future in group:
                future.cancel()
            raise
        except Exception as exc:  # unexpected: each request answers it (500, logged) rather than hanging
            for _, _, future in group:
                _settle(future, error=exc)
        else:
            for (_, _, future), delivery in zip(group, deliveries, strict=True):
                _settle(future, result=delivery)

    async def _alone(
        self, event: EventRecord, principal: Principal | None, future: asyncio.Future[Delivery]
    ) -> None:
        try:
            (delivery,) = await self._publisher.publish_records([event], **_on_behalf([principal]))
        except Exception as exc:
            _settle(future, error=exc)
        else:
            _settle(future, result=delivery)


def _on_behalf(principals: Sequence[Principal | None]) -> dict[str, Any]:
    """``publish_records``'s ``on_behalf`` when every event has its authenticated principal (the ingress signs
    as their attester), else nothing (tests and embeddings without principals)."""
    known = [p for p in principals if p is not None]
    return {"on_behalf": known} if known and len(known) == len(principals) else {}


def _unconfirmed(event: EventRecord, shared: PublishError) -> PublishError:
    """The failure of a shared call as the failure of one of its events (same cause)."""
    error = PublishError(
        f"a publish of {len(shared.unconfirmed) + shared.confirmed} events was not confirmed whole",
        unconfirmed=[event.event_id],
    )
    error.__cause__ = shared.__cause__
    return error


def _settle(
    future: asyncio.Future[Delivery], *, result: Delivery | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # its request was cancelled (the client went away)
        return
    if error is not None:
        future.set_exception(error)
    elif result is not None:
        future.set_result(result)


class PublishService:
    """Publishes validated events for the routes, turning every failure into a problem."""

    def __init__(
        self,
        publisher: EventPublisher,
        *,
        gate: CachedProbe,
        max_in_flight: int,
        retry_after_s: int,
        on_in_flight: Callable[[int], None] = lambda _n: None,
        on_unavailable: Callable[[Sequence[EventRecord] | None], None] = lambda _events: None,
        per_key: KeyLimiter | None = None,
        linger_s: float = 0.0,
        max_coalesced: int = MAX_COALESCED,
    ) -> None:
        self._publisher = publisher
        self._gate = gate
        self._max_in_flight = max_in_flight
        self._per_key = per_key or KeyLimiter(max_in_flight=max_in_flight, rate_per_s=1e9, burst=10**9)
        self._retry_after = {"Retry-After": str(retry_after_s)}
        self._on_in_flight = on_in_flight
        self._on_unavailable = on_unavailable
        """Told of every publish refused with 503: its events, or None when the body was not read yet."""
        self._coalescer = Coalescer(publisher, linger_s=linger_s, max_events=max_coalesced)
        self.in_flight = 0

    @contextmanager
    def admit(self, key: str) -> Iterator[None]:
        """Hold one of the ``max_in_flight`` places, and one of ``key``'s, for the block; 429 or 503 at once
        if none is to be had. ``key`` is the authenticated agency: admission comes after the key check."""
        refusal = self._per_key.refusal(key)
        if refusal is not None:
            raise ProblemError(
                ProblemKind.OVERLOADED, f"{refusal}; nothing was published", headers=self._retry_after
            )
        if self.in_flight >= self._max_in_flight:
            raise ProblemError(
                ProblemKind.OVERLOADED,
                f"{self.in_flight} requests are in flight (the limit); nothing was published",
                headers=self._retry_after,
            )
        kafka = self._gate.peek()  # never waits: a request does not pay for the probe
        # Only a definite failure closes the gate: a probe that timed out may just have queued behind busy
        # requests; if Kafka really hangs, the publish itself fails within the delivery timeout.
        if kafka is not None and not kafka.ok and not kafka.timed_out:
            self._on_unavailable(None)
            raise ProblemError(
                ProblemKind.UNAVAILABLE,
                f"Kafka is unavailable ({kafka.detail}); nothing was published",
                headers=self._retry_after,
            )
        self._set_in_flight(self.in_flight + 1)
        try:
            with self._per_key.hold(key):
                yield
        finally:
            self._set_in_flight(self.in_flight - 1)

    def _set_in_flight(self, value: int) -> None:
        self.in_flight = value
        self._on_in_flight(value)

    async def publish(
        self, events: Sequence[EventRecord], *, batch: bool, principal: Principal | None = None
    ) -> list[Delivery]:
        """Publish an admitted request's event records; every failure becomes a problem."""
        try:
            if not batch and len(events) == 1:
                return [await self._coalescer.publish(events[0], principal)]
            return await self._publisher.publish_records(events, **_on_behalf([principal] * len(events)))
        except EventEncodingError as exc:
            raise ProblemError(
                ProblemKind.INVALID_EVENT,
                "an event does not fit its Avro schema; nothing was published",
                errors=[FieldError(f"[{exc.index}]" if batch else None, "avro-schema", str(exc))],
            ) from exc
        except ValidationError as exc:
            raise ProblemError(
                ProblemKind.INVALID_EVENT,
                f"{exc}; nothing was published",
                errors=[FieldError(exc.field, exc.rule or "invalid", str(exc))],
            ) from exc
        except PublishError as exc:
            raise ProblemError(
                ProblemKind.UNAVAILABLE,
                f"Kafka did not confirm {of_total(len(exc.unconfirmed), len(events), 'event')} "
                f"({exc.__cause__!r}); "
                "resend them unchanged: consumers drop duplicates by event id",
                headers=self._retry_after,
                extra={"unconfirmed": exc.unconfirmed, "confirmed": exc.confirmed},
            ) from exc
        except (RegistryError, SerializationError, BrokerError) as exc:
            self._on_unavailable(events)
            raise ProblemError(
                ProblemKind.UNAVAILABLE, f"{exc}; nothing was published", headers=self._retry_after
            ) from exc
