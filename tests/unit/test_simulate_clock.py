"""Simulated time in Vietnam's office week."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from producers.simulate.clock import (
    ACTIVITY,
    DAY_MS,
    add_working_days,
    hour_of_week,
    local_date,
    local_midnight,
    next_office_time,
    office_time,
    to_datetime,
    to_ms,
    working_days_between,
)
from producers.simulate.observe import next_monday

pytestmark = pytest.mark.unit

VN = timezone(timedelta(hours=7))


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return to_ms(datetime(year, month, day, hour, minute, tzinfo=VN))


def local(at_ms: int) -> datetime:
    return to_datetime(at_ms).astimezone(VN)


def test_hour_of_week_starts_on_monday_local_time() -> None:
    assert hour_of_week(ms(2025, 6, 30)) == 0  # a Monday
    assert hour_of_week(ms(2025, 7, 6, 23, 59)) == 167  # the Sunday after


def test_activity_peaks_in_office_hours_and_is_low_at_night_and_weekends() -> None:
    assert max(ACTIVITY) == 1.0
    assert ACTIVITY[9] == 1.0
    assert ACTIVITY[2] < 0.05
    assert max(ACTIVITY[5 * 24 :]) < 0.2


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ((2025, 7, 1, 9, 0), (2025, 7, 1, 9, 0)),  # open
        ((2025, 7, 1, 6, 0), (2025, 7, 1, 7, 30)),  # before opening
        ((2025, 7, 1, 12, 0), (2025, 7, 1, 13, 0)),  # lunch
        ((2025, 7, 1, 18, 0), (2025, 7, 2, 7, 30)),  # evening
        ((2025, 7, 4, 17, 30), (2025, 7, 7, 7, 30)),  # Friday evening -> Monday
        ((2025, 7, 5, 10, 0), (2025, 7, 7, 7, 30)),  # Saturday
    ],
)
def test_next_office_time(at: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert next_office_time(ms(*at)) == ms(*expected)


def test_office_time_starts_waiting_work_soon_after_opening() -> None:
    rng = random.Random(1)
    saturday = ms(2025, 7, 5, 10)
    for _ in range(100):
        moment = local(office_time(rng, saturday))
        assert moment.date() == date(2025, 7, 7)
        assert (7, 30) <= (moment.hour, moment.minute) < (9, 0)


def test_working_days_skip_weekends_and_end_at_five() -> None:
    friday_morning = ms(2025, 7, 4, 9)
    assert local(add_working_days(friday_morning, 1)) == datetime(2025, 7, 7, 17, tzinfo=VN)
    assert local(add_working_days(friday_morning, 10)) == datetime(2025, 7, 18, 17, tzinfo=VN)


def test_local_dates_and_midnights() -> None:
    late_evening_utc = to_ms(datetime(2025, 6, 30, 18, tzinfo=UTC))  # 01:00 on 1 July in Vietnam
    assert local_date(late_evening_utc) == date(2025, 7, 1)
    assert local_midnight(date(2025, 7, 1)) == ms(2025, 7, 1)
    assert local(next_monday(ms(2025, 7, 2, 10))) == datetime(2025, 7, 7, tzinfo=VN)
    assert next_monday(ms(2025, 7, 7)) == ms(2025, 7, 7)


def test_times_keep_exact_milliseconds_until_2100() -> None:
    rng = random.Random(2)
    for start in (ms(2025, 7, 1), ms(2099, 12, 1)):
        for _ in range(10_000):
            moment = start + rng.randrange(30 * DAY_MS)
            value = to_datetime(moment)
            assert value.microsecond % 1000 == 0
            assert to_ms(value) == moment


def test_working_days_skip_vietnamese_public_holidays() -> None:
    # Friday 29 August 2025; Monday 1 and Tuesday 2 September are National Day
    friday = ms(2025, 8, 29, 10)
    assert add_working_days(friday, 1) == ms(2025, 9, 3, 17)
    assert working_days_between(friday, ms(2025, 9, 3, 9)) == 1


def test_a_supplement_request_extends_the_due_date_of_later_snapshots() -> None:
    from itertools import islice

    from bus.events import DossierStatus, DossierSynced
    from producers.simulate import Simulation, SimulationConfig

    dossiers: dict[str, list[DossierSynced]] = {}
    for emission in islice(Simulation(SimulationConfig(seed=3, scale=0.002)), 20_000):
        if isinstance(emission.event, DossierSynced):
            dossiers.setdefault(emission.event.dossier_code, []).append(emission.event)
    extended = 0
    for snapshots in dossiers.values():
        ordered = sorted(snapshots, key=lambda d: d.version)
        statuses = [d.status for d in ordered]
        if DossierStatus.SUPPLEMENT_REQUESTED not in statuses:
            continue
        asked = statuses.index(DossierStatus.SUPPLEMENT_REQUESTED)
        before, after = ordered[asked].due_at, ordered[-1].due_at
        assert before is not None
        assert after is not None
        assert after >= before  # supplemented the same day: no working day to add
        extended += after > before
    assert extended > 0
