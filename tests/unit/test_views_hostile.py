"""No valid event can break the views (issue #12 item 6).

Random valid events, and hostile-but-well-formed ones (indicator values up to ``float`` max, versions and
revisions at their type's maximum), go through the views' admission exactly as the decode step applies it
(refused ones would be dead letters), the rest into every view; then every endpoint and ``/metrics`` must
answer 200.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bus.consumer.outcome import DeadLetterReason
from bus.consumer.types import Batch, Partition
from bus.events import Event, IndicatorValue, ReportFiled
from bus.events.record import record_of
from bus.events.rules import EARLIEST
from bus.metrics import ViewMetrics
from bus.settings import Settings
from consumers.admission import views_admission
from consumers.api import create_app
from consumers.base import ViewQuery
from consumers.store import SqliteStore
from consumers.viewset import VIEW_NAMES, ViewSet, build_views
from tests import views_samples as s
from tests.strategies import events, report_filed
from tests.unit.runner_fakes import Record

pytestmark = pytest.mark.unit

MAX_FLOAT = sys.float_info.max  # 1.7976931348623157e308


@st.composite
def hostile_reports(draw: st.DrawFn) -> ReportFiled:
    """A valid report whose indicator values sit at the edges of a double, at the maximum revision."""
    report = draw(report_filed())
    edge = st.sampled_from([MAX_FLOAT, -MAX_FLOAT, 1e308, 5e-324, 0.0, -0.0, 1e15, 1e16])
    indicators = tuple(
        IndicatorValue(code=c, value=draw(edge), unit="%")
        for c in ("X1", "X2", "X3")[: draw(st.integers(1, 3))]
    )
    return report.model_copy(update={"indicators": indicators, "revision": 2**31 - 1})


RECENT = st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
EXTREME = st.sampled_from([EARLIEST, datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC)])


@st.composite
def timed(draw: st.DrawFn, strategy: st.SearchStrategy[Event]) -> Event:
    """An event of ``strategy`` that occurred lately, or at an edge of the event times the contract allows.

    The reports view counts obligations between the earliest and latest event times it applied: one event
    of 1970 or 2099 made every read enumerate a century of obligations (minutes each). The views now refuse
    events ahead of their record's broker time (``time.future``) and count at most
    ``views.obligations_max_days`` before as-of."""
    event = draw(strategy)
    occurred = draw(st.one_of(RECENT, EXTREME)).replace(microsecond=0)
    return at(event, occurred)


def at(event: Event, occurred: datetime) -> Event:
    return event.model_copy(update={"meta": event.meta.model_copy(update={"occurred_at": occurred})})


def _record(event: Event) -> Record:
    return Record(s.topic_of(event), 0, 0, event.entity_key().encode(), b"")


def _endpoints() -> list[str]:
    paths = ["/", "/metrics", "/healthz"]
    for name in VIEW_NAMES:
        paths.append(f"/v1/views/{name}")
        if name != "scoreboard":  # one row per province: it takes no level
            paths += [f"/v1/views/{name}?level={level}" for level in ("nation", "agency")]
    return paths


async def _read_all(views: ViewSet) -> dict[str, int]:
    registry = CollectorRegistry()
    transport = httpx.ASGITransport(app=create_app(views, registry, ViewMetrics(registry)))
    async with httpx.AsyncClient(transport=transport, base_url="http://views.test") as http:
        return {path: (await http.get(path)).status_code for path in _endpoints()}


def _apply_and_read(admitted: Sequence[Event]) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        views = ViewSet(SqliteStore(Path(tmp) / "views.db"), build_views(Settings()))
        try:
            by_topic = s.by_topic(admitted)
            offsets = {Partition(topic, 0): len(evs) for topic, evs in by_topic.items()}
            asyncio.run(views.apply(Batch(by_topic, offsets)))
            return asyncio.run(_read_all(views))
        finally:
            views.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(timed(st.one_of(events(), hostile_reports())), min_size=1, max_size=12))
def test_every_endpoint_answers_200_whatever_valid_events_the_topics_hold(drawn: list[Event]) -> None:
    admit = views_admission(Settings())
    admitted = []
    for event in drawn:
        record = _record(event)
        rejection = admit(record, record_of(event))
        ahead = event.meta.occurred_at.timestamp() * 1000 > record.timestamp + 300_000
        if rejection is None:
            assert not ahead
            admitted.append(event)
        elif ahead:
            assert rejection.reason is DeadLetterReason.EVENT_TIME_FUTURE
        else:
            assert rejection.reason is DeadLetterReason.VALUE_OUT_OF_RANGE
    statuses = _apply_and_read(admitted)
    assert {path: code for path, code in statuses.items() if code != 200} == {}


def test_the_overflowing_reports_of_the_issue_are_refused_with_a_reason() -> None:
    admit = views_admission(Settings())
    attack = s.report(s.HCMC).model_copy(
        update={"indicators": (IndicatorValue(code="EDOC_RATE", value=MAX_FLOAT, unit="%"),)}
    )
    rejection = admit(_record(attack), record_of(attack))
    assert rejection is not None
    assert rejection.reason is DeadLetterReason.VALUE_OUT_OF_RANGE
    assert "EDOC_RATE" in rejection.message


def test_a_store_that_already_holds_them_still_answers() -> None:
    # Two filings at float max, applied past the admission (a store filled before the ranges existed):
    # math.fsum overflowed and every endpoint reading the reports answered 500.
    huge = (IndicatorValue(code="EDOC_RATE", value=MAX_FLOAT, unit="%"),)
    two = [s.report(agency).model_copy(update={"indicators": huge}) for agency in (s.HCMC, s.NGHE_AN)]
    statuses = _apply_and_read(two)
    assert {path: code for path, code in statuses.items() if code != 200} == {}


def test_an_event_ahead_of_its_records_timestamp_is_refused_a_skewed_clock_is_not() -> None:
    report = s.report(s.HCMC)
    appended = int(report.meta.occurred_at.timestamp() * 1000)
    five_minutes = 300_000

    def reason(record_ms: int, settings: Settings | None = None) -> str | None:
        record = replace(_record(report), timestamp=record_ms)
        rejection = views_admission(settings or Settings())(record, record_of(report))
        return None if rejection is None else rejection.reason.value

    assert reason(appended - five_minutes) is None  # a producer's clock a few minutes fast
    assert reason(appended - five_minutes - 1) == "time.future"
    assert reason(-1) is None  # a record without a timestamp: nothing to compare with
    off = Settings.model_validate({"views": {"max_future_s": None}})  # replays of a fast simulated clock
    assert reason(appended - 86_400_000, off) is None


def _reports_window(events: Sequence[Event], **views: object) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate({"views": views})
        viewset = ViewSet(SqliteStore(Path(tmp) / "views.db"), build_views(settings))
        try:
            topic = s.topic_of(events[0])
            batch = Batch({topic: [record_of(e) for e in events]}, {Partition(topic, 0): len(events)})
            asyncio.run(viewset.apply(batch))
            meta = viewset.query("reports", ViewQuery()).as_json()["meta"]
            return meta["since"], meta["as_of"]
        finally:
            viewset.close()


def test_one_event_of_1970_does_not_make_half_a_century_of_reports_due() -> None:
    old = at(s.report(s.NGHE_AN), EARLIEST)
    latest = at(s.report(s.HCMC), datetime(2026, 12, 1, tzinfo=UTC))
    since, as_of = _reports_window([old, latest], obligations_max_days=366)
    assert (since[:10], as_of[:10]) == ("2025-11-30", "2026-12-01")
    since, _ = _reports_window([old, latest], obligations_max_days=366, obligations_since="2026-07-01")
    assert since[:10] == "2026-07-01"
    since, _ = _reports_window([latest], obligations_since="2020-01-01")  # the events' own start is later
    assert since[:10] == "2026-12-01"
