"""The rule table's numbers: the ranges of times, dates and Avro integers (part 1), and the :class:`Limits`
rows (part 2): the text kinds and each field's own lengths, patterns and bounds.

See :mod:`bus.events.rules`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import annotated_types as at
from pydantic import StringConstraints

# --- 1. ranges ---------------------------------------------------------------------------------------------

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""Timestamps outside [EARLIEST, LATEST) are rejected (rule ``timestamp.range``): no LGSP fact is older, and
later ones are typos."""
FIRST_DATE: Final = date(1900, 1, 1)
LAST_DATE: Final = date(2099, 12, 31)
"""Dates outside [FIRST_DATE, LAST_DATE] are rejected (rule ``date.range``)."""
INT32: Final = (-(2**31), 2**31 - 1)
INT64: Final = (-(2**63), 2**63 - 1)
"""The ranges of Avro ``int`` and ``long``."""

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY: Final = date(1970, 1, 1)
_MS: Final = timedelta(milliseconds=1)
EARLIEST_MS: Final = (EARLIEST - EPOCH) // _MS
LATEST_MS: Final = (LATEST - EPOCH) // _MS
FIRST_DAY: Final = (FIRST_DATE - EPOCH_DAY).days
LAST_DAY: Final = (LAST_DATE - EPOCH_DAY).days


def millis_of(value: datetime) -> int:
    """An aware datetime in epoch milliseconds (what Avro's ``timestamp-millis`` holds), floored."""
    return (value - EPOCH) // _MS


def datetime_of_millis(value: int) -> datetime:
    """Epoch milliseconds as the UTC datetime the models hold (``OverflowError`` beyond datetime's range)."""
    return EPOCH + value * _MS


def date_of_days(value: int) -> date:
    """Epoch days (what Avro's ``date`` holds) as a date (``OverflowError`` beyond date's range)."""
    return EPOCH_DAY + timedelta(days=value)


def iso_of_millis(value: int) -> str:
    """Epoch milliseconds as the model shows the time (``datetime.isoformat`` of the UTC datetime)."""
    return datetime_of_millis(value).isoformat()


def iso_of_days(value: int) -> str:
    """Epoch days as the model shows the date (``date.isoformat``)."""
    return date_of_days(value).isoformat()


# --- 2. limits ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits(at.GroupedMetadata):
    """Lengths, pattern and bounds of a value, as pydantic metadata (pydantic expands it).

    Put several in one annotation and the later one's set attributes win (``TEXT`` then ``CODE_NUMBER``
    gives 1..50 characters), as pydantic's own constraints do.
    """

    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    ge: int | None = None
    le: int | None = None

    def __iter__(self) -> Iterator[object]:
        yield from StringConstraints(
            min_length=self.min_length, max_length=self.max_length, pattern=self.pattern
        )
        if self.ge is not None or self.le is not None:
            yield from at.Interval(ge=self.ge, le=self.le)


# The text kinds (non-empty, NFC): free text, long free text, identifiers (no whitespace).
TEXT: Final = Limits(min_length=1, max_length=1000)
LONG_TEXT: Final = Limits(min_length=1, max_length=8000)
IDENTIFIER: Final = Limits(min_length=1, max_length=200, pattern=r"^\S+$")

# One row per field with limits of its own.
CORRELATION_ID: Final = Limits(max_length=200)
CODE_NUMBER: Final = Limits(max_length=50, pattern=r"^[^/\s]+$")
"""edXML số ký hiệu, number part: no slash (it separates number and notation), no whitespace."""
CODE_NOTATION: Final = Limits(max_length=200)
DOCUMENT_TYPE_CODE: Final = Limits(max_length=50)
RECIPIENTS: Final = Limits(min_length=1, max_length=10_000)
COUNT: Final = Limits(ge=0)
"""attachment_count, attachment_bytes, a dossier's version, a report's revision."""
PROCEDURE_CODE_PATTERN: Final = r"^[0-9]\.[0-9]{6}(\.[0-9A-Z]+)*$"
"""``1.000494`` (national procedure code), optionally + an agency code: ``1.000494.000.00.00.H29``."""
PROCEDURE_CODE: Final = Limits(max_length=60, pattern=PROCEDURE_CODE_PATTERN)
SECTOR_CODE: Final = Limits(max_length=100)
PROVINCE_CODE: Final = Limits(pattern=r"^[0-9]{2}$")
REPORT_CODE: Final = Limits(max_length=100)
PERIOD_YEAR: Final = Limits(ge=2000, le=2099)
PERIOD_NUMBER: Final = Limits(ge=1)
"""The upper bound depends on the period type: rule ``report.period_number``."""
INDICATORS: Final = Limits(max_length=10_000)
INDICATOR_CODE: Final = Limits(max_length=100)
UNIT: Final = Limits(max_length=50)
