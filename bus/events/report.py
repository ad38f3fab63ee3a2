"""Report events: periodic reports filed on the National Reporting Information System."""

from __future__ import annotations

from typing import Annotated, ClassVar

from bus.events._base import (
    AvroRecord,
    Double,
    Event,
    Identifier,
    Int,
    ReusedAgencyRef,
    Text,
    UtcDatetime,
)
from bus.events.codes import PeriodType
from bus.events.periods import Period
from bus.events.rules import (
    COUNT,
    INDICATOR_CODE,
    INDICATORS,
    PERIOD_NUMBER,
    PERIOD_YEAR,
    REPORT_CODE,
    UNIT,
    report_id,
)
from bus.types import ReportId


def make_report_id(agency_code: str, report_code: str, period: Period) -> ReportId:
    """The conventional id of one report for one agency and period: ``{agency}/{report}/{period label}``."""
    return ReportId(report_id(agency_code, report_code, period))


class IndicatorValue(AvroRecord):
    """One indicator value of a report (giá trị chỉ tiêu)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.report.IndicatorValue"

    code: Annotated[Identifier, INDICATOR_CODE]
    value: Double
    unit: Annotated[Text, UNIT]


class ReportFiled(Event):
    """A periodic report filed by an agency, with its indicator values (báo cáo định kỳ).

    Its rules across fields (period number in range, indicator codes unique) are in
    ``bus.events.rules.RECORD_RULES``.
    """

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.report.ReportFiled"
    SCHEMA_VERSION: ClassVar[int] = 1
    ENTITY_KEY: ClassVar[str] = "report_id"

    report_id: Identifier
    report_code: Annotated[Identifier, REPORT_CODE]
    reporting_agency: ReusedAgencyRef
    period_type: PeriodType
    period_year: Annotated[Int, PERIOD_YEAR]
    period_number: Annotated[Int, PERIOD_NUMBER]
    deadline_at: UtcDatetime
    filed_at: UtcDatetime
    revision: Annotated[Int, COUNT]
    indicators: Annotated[tuple[IndicatorValue, ...], INDICATORS]

    @property
    def period(self) -> Period | None:
        """The reporting period, or None when the period type is UNKNOWN to this reader."""
        if self.period_type is PeriodType.UNKNOWN:
            return None
        return Period(self.period_type, self.period_year, self.period_number)

    @property
    def on_time(self) -> bool:
        """True if filed no later than the deadline."""
        return self.filed_at <= self.deadline_at
