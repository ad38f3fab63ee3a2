"""Report events: periodic reports filed on the National Reporting Information System."""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator

from bus.events._base import (
    AvroRecord,
    Double,
    Event,
    Identifier,
    Int,
    ReusedAgencyRef,
    Text,
    UtcDatetime,
    rule_error,
)
from bus.events.codes import PeriodType
from bus.events.periods import PERIODS_PER_YEAR, Period
from bus.types import ReportId


def make_report_id(agency_code: str, report_code: str, period: Period) -> ReportId:
    """The conventional id of one report for one agency and period: ``{agency}/{report}/{period label}``."""
    return ReportId(f"{agency_code}/{report_code}/{period.label}")


class IndicatorValue(AvroRecord):
    """One indicator value of a report (giá trị chỉ tiêu)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.report.IndicatorValue"

    code: Annotated[Identifier, Field(max_length=100)]
    value: Double
    unit: Annotated[Text, Field(max_length=50)]


class ReportFiled(Event):
    """A periodic report filed by an agency, with its indicator values (báo cáo định kỳ)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.report.ReportFiled"
    SCHEMA_VERSION: ClassVar[int] = 1

    report_id: Identifier
    report_code: Annotated[Identifier, Field(max_length=100)]
    reporting_agency: ReusedAgencyRef
    period_type: PeriodType
    period_year: Annotated[Int, Field(ge=2000, le=2099)]
    period_number: Annotated[Int, Field(ge=1)]
    deadline_at: UtcDatetime
    filed_at: UtcDatetime
    revision: Annotated[Int, Field(ge=0)]
    indicators: Annotated[tuple[IndicatorValue, ...], Field(max_length=10_000)]

    def entity_key(self) -> str:
        return self.report_id

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

    @model_validator(mode="after")
    def _rules(self) -> Self:
        # The record-wide rules in one validator, in their order: one call from pydantic per event, not one
        # per rule (the calls, not the rules, were most of the cost of decoding an event).
        self._period_in_range()
        self._indicator_codes_unique()
        return self

    def _period_in_range(self) -> None:
        count = PERIODS_PER_YEAR.get(self.period_type)
        if count is not None and self.period_number > count:
            raise rule_error(
                "report.period_number",
                f"period_number {self.period_number} is out of 1..{count} for {self.period_type.value}",
                field="period_number",
            )

    def _indicator_codes_unique(self) -> None:
        seen: set[str] = set()
        for index, indicator in enumerate(self.indicators):
            if indicator.code in seen:
                raise rule_error(
                    "report.indicator_unique",
                    f"indicator code {indicator.code!r} appears twice",
                    field=f"indicators[{index}].code",
                )
            seen.add(indicator.code)
