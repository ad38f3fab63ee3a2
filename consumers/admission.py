"""What the views admit beyond a valid event: the checks run in the consumer's decode step (see
:mod:`bus.consumer.admission`), so a refused record is a dead letter with its reason, never a view error.

1. the signature check (:class:`bus.signing.verify.Verifier`) against the keyring topic, re-read before each
   batch is decoded (a key added, then used, is always known by the time its records are fetched);
2. the event's time against its record's broker timestamp (:class:`EventTimeWindow`);
3. the report catalog's indicator ranges (:class:`IndicatorRanges`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from bus.consumer.admission import Admission, AllOf, Rejection
from bus.consumer.outcome import DeadLetterReason
from bus.events import ReportFiled
from bus.events.raw import RawEvent
from bus.metrics import SignatureMetrics
from bus.reporting import ReportCatalog, load_report_catalog
from bus.signing.keyring import KeyringReader
from bus.signing.verify import Verifier
from consumers.base import to_ms

if TYPE_CHECKING:
    from bus.consumer.decode import RecordLike
    from bus.events import Event
    from bus.settings import Settings


class IndicatorRanges:
    """A ``ReportFiled`` whose indicator values lie outside the report catalog's declared ranges is refused:
    the reports view sums values per indicator, and one value near ``float`` max broke every sum."""

    def __init__(self, catalog: ReportCatalog | None = None) -> None:
        self._catalog = catalog or load_report_catalog()

    def __call__(self, record: RecordLike, event: Event | RawEvent) -> Rejection | None:
        if isinstance(event, RawEvent):
            if event.name != ReportFiled.AVRO_NAME:
                return None
            raw = event.record
            code, pairs = raw["report_code"], [(i["code"], i["value"]) for i in raw["indicators"]]
        elif isinstance(event, ReportFiled):
            code, pairs = event.report_code, [(i.code, i.value) for i in event.indicators]
        else:
            return None
        why = self._catalog.out_of_range(code, pairs)
        return None if why is None else Rejection(DeadLetterReason.VALUE_OUT_OF_RANGE, why)


class EventTimeWindow:
    """An event whose time is more than ``ahead_s`` after its record's timestamp is refused.

    The views' as-of time is the latest event time applied: one event dated 2099 would make every report due
    until 2099 count as missing. The ingress checks its own clock; this check covers every other way in (the
    SDK, a raw client) against the broker's append time (``message.timestamp.type=LogAppendTime`` on the
    topics :func:`bus.topics.ensure_topics` creates), which no producer sets — and it is the same on every
    replay, so rebuilds stay exact."""

    def __init__(self, ahead_s: float) -> None:
        self._ahead_ms = int(ahead_s * 1000)

    def __call__(self, record: RecordLike, event: Event | RawEvent) -> Rejection | None:
        if record.timestamp < 0:  # no timestamp on the record: nothing to compare with
            return None
        occurred = (
            event.record["meta"]["occurred_at"]
            if isinstance(event, RawEvent)
            else to_ms(event.meta.occurred_at)
        )
        if occurred <= record.timestamp + self._ahead_ms:
            return None
        ahead = (occurred - record.timestamp) / 1000
        message = (
            f"the event's time {datetime.fromtimestamp(occurred / 1000, UTC).isoformat()} is {ahead:,.0f} s "
            f"after its record's timestamp (at most {self._ahead_ms / 1000:g} s: views.max_future_s)"
        )
        return Rejection(DeadLetterReason.EVENT_TIME_FUTURE, message)


def views_admission(settings: Settings, verifier: Verifier | None = None) -> Admission:
    """Every check a record passes before the views apply it (the signature check first, when given)."""
    checks: list[Admission] = [] if verifier is None else [verifier]
    ahead_s = settings.views.max_future_s
    if ahead_s is not None:
        checks.append(EventTimeWindow(ahead_s))
    return AllOf([*checks, IndicatorRanges()])


class ViewsTrust:
    """The views' signature check with its keyring: ``async with ViewsTrust(settings) as trust`` reads the
    keyring topic; :meth:`refresh` re-reads it (before each batch); :attr:`admission` is the decode check."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self._settings = settings
        self._reader = KeyringReader(settings)
        self._metrics = SignatureMetrics(registry or CollectorRegistry())
        self.verifier: Verifier | None = None

    async def __aenter__(self) -> ViewsTrust:
        keyring = await self._reader.start()
        views = self._settings.views
        self.verifier = Verifier(
            keyring,
            require=views.require_signatures,
            unsigned_sources=views.unsigned_sources,
            counters=self._metrics,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._reader.close()

    async def refresh(self) -> None:
        await self._reader.refresh()

    @property
    def admission(self) -> Admission:
        return views_admission(self._settings, self.verifier)
