"""What the views admit beyond a valid event: the checks run in the consumer's decode step (see
:mod:`bus.consumer.admission`), so a refused record is a dead letter with its reason, never a view error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.consumer.admission import Admission, AllOf, Rejection
from bus.consumer.outcome import DeadLetterReason
from bus.events import ReportFiled
from bus.events.raw import RawEvent
from bus.reporting import ReportCatalog, load_report_catalog

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


def views_admission(settings: Settings) -> Admission:
    """Every check a record passes before the views apply it."""
    return AllOf([IndicatorRanges()])
