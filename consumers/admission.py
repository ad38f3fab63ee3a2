"""What the views admit beyond a valid event: the checks run in the consumer's decode step (see
:mod:`bus.consumer.admission`), so a refused record is a dead letter with its reason, never a view error.

1. the signature check (:class:`bus.signing.verify.Verifier`) against the keyring topic, re-read before each
   batch is decoded (a key added, then used, is always known by the time its records are fetched);
2. the event's time against its record's broker timestamp (:class:`EventTimeWindow`);
3. the report catalog's indicator ranges (:class:`IndicatorRanges`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from bus.consumer.admission import Admission, AllOf, Count, Rejection
from bus.consumer.outcome import DeadLetterReason
from bus.events import ReportFiled
from bus.metrics import SignatureMetrics
from bus.reporting import ReportCatalog, load_report_catalog
from bus.signing.keyring import Keyring, KeyringReader
from bus.signing.keys import KeyEntry
from bus.signing.verify import Verifier

if TYPE_CHECKING:
    from bus.consumer.decode import RecordLike
    from bus.events.record import EventRecord
    from bus.settings import Settings


class IndicatorRanges:
    """A ``ReportFiled`` whose indicator values lie outside the report catalog's declared ranges is refused:
    the reports view sums values per indicator, and one value near ``float`` max broke every sum."""

    def __init__(self, catalog: ReportCatalog | None = None) -> None:
        self._catalog = catalog or load_report_catalog()

    def __call__(self, record: RecordLike, event: EventRecord) -> Rejection | None:
        if event.name != ReportFiled.AVRO_NAME:
            return None
        report = event.avro
        code, pairs = report["report_code"], [(i["code"], i["value"]) for i in report["indicators"]]
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

    def __call__(self, record: RecordLike, event: EventRecord) -> Rejection | None:
        if record.timestamp < 0:  # no timestamp on the record: nothing to compare with
            return None
        occurred = event.occurred_ms
        if occurred <= record.timestamp + self._ahead_ms:
            return None
        ahead = (occurred - record.timestamp) / 1000
        message = (
            f"the event's time {datetime.fromtimestamp(occurred / 1000, UTC).isoformat()} is {ahead:,.0f} s "
            f"after its record's timestamp (at most {self._ahead_ms / 1000:g} s: views.max_future_s)"
        )
        return Rejection(DeadLetterReason.EVENT_TIME_FUTURE, message)


def views_admission(settings: Settings, trust: ViewsTrust | None = None) -> ViewsAdmission:
    """Every check a record passes before the views apply it: the signature check first (``trust``'s), the
    event-time window, the report catalog's ranges."""
    return ViewsAdmission(settings, trust)


def _checks(verifier: Verifier | None, ahead_s: float | None) -> list[Admission]:
    checks: list[Admission] = [] if verifier is None else [verifier]
    if ahead_s is not None:
        checks.append(EventTimeWindow(ahead_s))
    return [*checks, IndicatorRanges()]


class ViewsAdmission(AllOf):
    """The views' checks, in process or in decode workers (:class:`bus.consumer.admission.Portable`): a
    worker builds the same checks from :meth:`snapshot` (the settings' part and the keyring as it is now),
    and the signature counts it makes come back to :meth:`replay`, into this process's metrics."""

    def __init__(self, settings: Settings, trust: ViewsTrust | None = None) -> None:
        self._views = settings.views
        self._trust = trust
        super().__init__(_checks(trust.verifier if trust else None, self._views.max_future_s))

    def snapshot(self) -> ViewsAdmissionSnapshot:
        verifier = self._trust.verifier if self._trust else None
        if verifier is None:
            return ViewsAdmissionSnapshot((-1,), False, (), self._views.max_future_s, None)
        return ViewsAdmissionSnapshot(
            version=(verifier.keyring.version,),
            require=verifier.require,
            unsigned_sources=tuple(sorted(verifier.unsigned_sources)),
            max_future_s=self._views.max_future_s,
            entries=tuple(verifier.keyring),
        )

    def replay(self, counts: Sequence[Count]) -> None:
        if self._trust is not None:
            self._trust.replay(counts)


@dataclass(frozen=True)
class ViewsAdmissionSnapshot:
    """:class:`ViewsAdmission` as a decode worker rebuilds it (pickled to the worker with each chunk)."""

    version: tuple[int, ...]
    require: bool
    unsigned_sources: tuple[str, ...]
    max_future_s: float | None
    entries: tuple[KeyEntry, ...] | None
    """The keyring's entries; None: no signature check (the bench's "not verifying" builder)."""

    def build(self, counted: list[Count]) -> Admission:
        verifier = None
        if self.entries is not None:
            verifier = Verifier(
                Keyring(self.entries),
                require=self.require,
                unsigned_sources=self.unsigned_sources,
                counters=CountedSignatures(counted),
            )
        return AllOf(_checks(verifier, self.max_future_s))


class CountedSignatures:
    """The verifier's counters in a worker: kept as tuples for :meth:`ViewsTrust.replay` (which reads them
    in this form)."""

    def __init__(self, counted: list[Count]) -> None:
        self._counted = counted

    def rejected(self, topic: str, reason: str, source: str) -> None:
        self._counted.append(("rejected", topic, reason, source))

    def unsigned(self, topic: str, source: str) -> None:
        self._counted.append(("unsigned", topic, source))


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
    def admission(self) -> ViewsAdmission:
        return views_admission(self._settings, self)

    def replay(self, counts: Sequence[Count]) -> None:
        """What a decode worker's verifier counted, into the metrics (as the in-process verifier counts)."""
        for kind, *labels in counts:
            if kind == "rejected":
                self._metrics.rejected(*labels)
            elif kind == "unsigned":
                self._metrics.unsigned(*labels)
