"""Simulated time: integer milliseconds since the epoch (UTC), seen through Vietnam's office week.

Vietnam keeps UTC+7 all year (no daylight saving), so local hour-of-week is plain arithmetic. Offices work
Monday to Friday, 07:30-11:30 and 13:00-17:00; activity outside those hours is low but not zero (online
submissions, urgent dispatches). Legal time limits count working days: weekdays that are not Vietnamese
public holidays (Tết, Hùng Kings, 30 April, 1 May, National Day and their substitute days, from the
``holidays`` package); the arrival rate itself does not dip on holidays.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Final

import holidays

SECOND_MS: Final = 1000
MINUTE_MS: Final = 60 * SECOND_MS
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
WEEK_MS: Final = 7 * DAY_MS
LOCAL_OFFSET_MS: Final = 7 * HOUR_MS
"""Asia/Ho_Chi_Minh is UTC+7 without daylight saving."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)
_WORK_START_MS: Final = 7 * HOUR_MS + 30 * MINUTE_MS
_WORK_END_MS: Final = 17 * HOUR_MS
_LUNCH_START_MS: Final = 11 * HOUR_MS + 30 * MINUTE_MS
_LUNCH_END_MS: Final = 13 * HOUR_MS

_WEEKDAY_PROFILE: Final = (
    0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.12, 0.55,  # 00-07
    1.00, 1.00, 1.00, 0.85, 0.25, 0.60, 1.00, 1.00,  # 08-15
    0.90, 0.35, 0.15, 0.12, 0.10, 0.08, 0.06, 0.04,  # 16-23
)  # fmt: skip
_SATURDAY_PROFILE: Final = tuple(round(v * 0.18, 4) for v in _WEEKDAY_PROFILE)
_SUNDAY_PROFILE: Final = tuple(round(v * 0.08, 4) for v in _WEEKDAY_PROFILE)

ACTIVITY: Final[tuple[float, ...]] = _WEEKDAY_PROFILE * 5 + _SATURDAY_PROFILE + _SUNDAY_PROFILE
"""Relative activity of agencies for each local hour of the week (Monday 00:00 first); the peak is 1."""
MEAN_ACTIVITY: Final = sum(ACTIVITY) / len(ACTIVITY)


def to_ms(moment: datetime) -> int:
    """A timezone-aware datetime as epoch milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("simulated time needs a timezone-aware datetime")
    return (moment - _EPOCH) // _ONE_MS


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (millisecond precision, as Avro carries it).

    ``fromtimestamp`` of a float is exact to the millisecond until 2100 (the float's error stays under half a
    microsecond, and it rounds to microseconds), and three times faster than adding a timedelta.
    """
    return datetime.fromtimestamp(ms / 1000, UTC)


def local_date(ms: int) -> date:
    """The calendar date in Vietnam at ``ms``."""
    return (_EPOCH + timedelta(milliseconds=ms + LOCAL_OFFSET_MS)).date()


def local_midnight(day: date) -> int:
    """Epoch ms of 00:00 in Vietnam on ``day``."""
    return (day - _EPOCH.date()).days * DAY_MS - LOCAL_OFFSET_MS


def hour_of_week(ms: int) -> int:
    """Local hour of the week, Monday 00:00-00:59 being 0."""
    local = ms + LOCAL_OFFSET_MS
    weekday = (local // DAY_MS + _EPOCH_WEEKDAY) % 7
    return int(weekday * 24 + (local % DAY_MS) // HOUR_MS)


def activity(ms: int) -> float:
    """Relative activity at ``ms`` (peak 1)."""
    return ACTIVITY[hour_of_week(ms)]


def is_weekday(ms: int) -> bool:
    local = ms + LOCAL_OFFSET_MS
    return (local // DAY_MS + _EPOCH_WEEKDAY) % 7 < 5


def _office_open(slot: int) -> bool:
    """Is the office open in this half hour of the week (Monday 00:00-00:29 being 0)?"""
    day, into_day = divmod(slot * _SLOT_MS, DAY_MS)
    morning = _WORK_START_MS <= into_day < _LUNCH_START_MS
    return day < 5 and (morning or _LUNCH_END_MS <= into_day < _WORK_END_MS)


_SLOT_MS: Final = 30 * MINUTE_MS
_SLOTS: Final = WEEK_MS // _SLOT_MS
_OPEN: Final = tuple(_office_open(slot) for slot in range(_SLOTS))
_SLOTS_TO_OPENING: Final = tuple(
    next(k for k in range(1, _SLOTS + 1) if _OPEN[(slot + k) % _SLOTS]) for slot in range(_SLOTS)
)
"""From a closed half hour, how many half-hour steps to the start of the next open one."""


def next_office_time(ms: int) -> int:
    """``ms`` if an office is open then, else the next opening (07:30 or 13:00 of a weekday)."""
    local = ms + LOCAL_OFFSET_MS
    index = local // _SLOT_MS
    slot = (index + _EPOCH_WEEKDAY * DAY_MS // _SLOT_MS) % _SLOTS
    if _OPEN[slot]:
        return ms
    return (index + _SLOTS_TO_OPENING[slot]) * _SLOT_MS - LOCAL_OFFSET_MS


def office_time(rng: random.Random, ms: int) -> int:
    """Like :func:`next_office_time`, but work waiting for the opening starts within 90 minutes of it."""
    opened = next_office_time(ms)
    if opened == ms:
        return ms
    return opened + int(rng.random() * _OPENING_SPREAD_MS)


_OPENING_SPREAD_MS: Final = 90 * MINUTE_MS


def add_working_days(ms: int, days: int) -> int:
    """17:00 local on the ``days``-th working day after ``ms`` (0: the same working day, or the next one)."""
    moment = next_office_time(ms)
    day_start = (moment + LOCAL_OFFSET_MS) // DAY_MS * DAY_MS - LOCAL_OFFSET_MS
    while days > 0:
        day_start += DAY_MS
        if is_working_day(day_start + _WORK_START_MS):
            days -= 1
    return day_start + _WORK_END_MS


def working_days_between(start_ms: int, end_ms: int) -> int:
    """Working days after ``start_ms``'s day up to and including ``end_ms``'s day (local calendar)."""
    count, day = 0, start_ms
    while local_date(day) < local_date(end_ms):
        day += DAY_MS
        count += is_working_day(day)
    return count


def is_working_day(ms: int) -> bool:
    """A weekday that is not a Vietnamese public holiday (local calendar)."""
    return is_weekday(ms) and local_date(ms) not in public_holidays(local_date(ms).year)


@cache
def public_holidays(year: int) -> frozenset[date]:
    """Vietnam's public holidays (and substitute days off) of ``year``."""
    return frozenset(holidays.country_holidays("VN", years=year))
