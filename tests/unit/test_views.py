"""The national views on an in-memory store: given events → expected rows; duplicates, order don't matter."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.agencies import load_catalog
from bus.consumer.types import Batch, Partition
from bus.events import DossierSynced, Event
from bus.events.record import record_of
from bus.settings import Settings
from consumers import span
from consumers.base import Grain, Level, ViewQuery
from consumers.dossiers import _SELECT_STATES, DossiersView, _State, _state_from_row, _state_of
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests import views_samples as s
from tests.views_compare import mismatches

pytestmark = pytest.mark.unit

AS_OF = datetime(2025, 9, 1, tzinfo=UTC)
SLA_HOURS = 24.0


def new_viewset() -> ViewSet:
    return ViewSet(SqliteStore(":memory:"), build_views(Settings()))


@pytest.fixture
def viewset() -> Iterator[ViewSet]:
    views = new_viewset()
    yield views
    views.close()


def apply(viewset: ViewSet, events: Sequence[Event], batch_size: int = 500) -> None:
    """Feed ``events`` in order, in batches, as the runner would (one transaction each)."""

    async def feed() -> None:
        offset = 0
        for start in range(0, len(events), batch_size):
            by_topic = s.by_topic(events[start : start + batch_size])
            offset += len(events[start : start + batch_size])
            await viewset.apply(Batch(by_topic, {Partition("lgsp.documents", 0): offset}))

    asyncio.run(feed())


@cache
def simulated(count: int = 4000, seed: int = 11) -> tuple[Event, ...]:
    """Valid simulated events, duplicates and late snapshots included (invalid ones left out)."""
    # a small scale spreads the events over three weeks: monthly reports and finished dossiers included
    config = SimulationConfig(seed=seed, duplicates=0.05, late_ratio=0.05, scale=0.0005)
    emissions = itertools.islice(Simulation(config), count)
    return tuple(e.event for e in emissions if e.kind is not EmissionKind.INVALID)


def test_simulated_events_match_the_recomputation(viewset: ViewSet) -> None:
    events = simulated()
    apply(viewset, events)
    assert mismatches(viewset, events, as_of=AS_OF, sla_hours=SLA_HOURS) == []


@cache
def months(seed: int = 5) -> tuple[Event, ...]:
    """About four simulated months (10 July to November 2025): monthly and quarterly reports fall due, some
    filed late, some never; out-of-order dossier snapshots and duplicates."""
    config = SimulationConfig(
        seed=seed,
        start=datetime(2025, 7, 10, tzinfo=UTC),
        duplicates=0.05,
        late_ratio=0.05,
        scale=0.0002,
    )
    emissions = itertools.islice(Simulation(config), 9000)
    return tuple(e.event for e in emissions if e.kind is not EmissionKind.INVALID)


def test_several_months_match_the_recomputation_with_missed_and_late_reports(viewset: ViewSet) -> None:
    events = months()
    apply(viewset, events)
    last = max(e.meta.occurred_at for e in events)
    assert last > datetime(2025, 10, 21, tzinfo=UTC)  # July, August, September and Q3 have fallen due
    for as_of in (datetime(2025, 8, 25, tzinfo=UTC), last):
        assert mismatches(viewset, events, as_of=as_of, sla_hours=SLA_HOURS) == []
    rows = viewset.query("reports", ViewQuery(level=Level.NATION, grain=Grain.ALL)).rows
    expected, filed, on_time = (sum(r[c] for r in rows) for c in ("expected", "filed", "filed_on_time"))
    assert 0 < filed < expected  # some obligations never filed: completeness below 100%
    assert 0 < on_time < filed  # some filed after the deadline
    (nation,) = [r for r in viewset.query("scoreboard", ViewQuery()).rows if r["province"] == "00"]
    assert nation["reports_expected"] == expected
    assert nation["report_completeness"] == round(filed / expected, 6)
    assert nation["reports_due_later"] > 0  # the year's and half-year's reports, not yet due, count apart


def test_replaying_everything_twice_changes_nothing(viewset: ViewSet) -> None:
    events = simulated()
    apply(viewset, events)
    before = viewset.query("documents", ViewQuery(level=Level.AGENCY, grain=Grain.DAY, as_of=AS_OF)).rows
    apply(viewset, events, batch_size=977)
    after = viewset.query("documents", ViewQuery(level=Level.AGENCY, grain=Grain.DAY, as_of=AS_OF)).rows
    assert after == before
    assert mismatches(viewset, events, as_of=AS_OF, sla_hours=SLA_HOURS) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_order_duplication_and_batching_gives_the_same_views(data: st.DataObject) -> None:
    pool = list(simulated(1200, seed=5)) + hand_made_revisions()
    seed = data.draw(st.integers(0, 2**32 - 1), label="shuffle seed")
    rng = random.Random(seed)
    events = pool + rng.sample(pool, data.draw(st.integers(0, 200), label="duplicates"))
    rng.shuffle(events)
    batch_size = data.draw(st.integers(1, 700), label="batch size")
    views = new_viewset()
    try:
        apply(views, events, batch_size)
        assert mismatches(views, pool, as_of=AS_OF, sla_hours=SLA_HOURS) == []
    finally:
        views.close()


def hand_made_revisions() -> list[Event]:
    """Reports with several revisions and documents whose statuses race their header."""
    deadline = s.BASE + timedelta(days=3)
    events: list[Event] = []
    for n, agency in enumerate((s.HCMC, s.NGHE_AN, s.FINANCE)):
        for revision in range(3):
            filed = s.BASE + timedelta(days=2 * revision + n)
            events.append(
                s.report(
                    agency, revision=revision, filed=filed, deadline=deadline, values=(n + 0.1 * revision,)
                )
            )
        events.append(s.sent(50 + n, at=s.BASE + timedelta(minutes=n)))
        events.append(s.sent(50 + n, at=s.BASE + timedelta(minutes=n), business_type="REVOKE"))
        events.append(s.status(50 + n, s.HCMC, "ACCEPTED", s.BASE + timedelta(minutes=30 + n)))
        events.append(s.status(50 + n, s.HCMC, "ARRIVED", s.BASE + timedelta(minutes=20 + n)))
        events.append(s.status(50 + n, s.NGHE_AN, "FINISHED", s.BASE + timedelta(hours=5)))
    return events


# --- documents, by hand -------------------------------------------------------------------------------------


def test_a_document_counts_once_per_recipient_and_statuses_before_the_header_wait_for_it(
    viewset: ViewSet,
) -> None:
    t = s.BASE
    events: list[Event] = [
        s.status(1, s.HCMC, "ARRIVED", t + timedelta(minutes=5)),  # before its DocumentSent
        s.status(1, s.HCMC, "ACCEPTED", t + timedelta(minutes=7)),  # a second arrival status: same recipient
        s.status(1, s.FINANCE, "ARRIVED", t + timedelta(minutes=1)),  # not a recipient: ignored
    ]
    apply(viewset, events)
    nation = ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=AS_OF)
    assert viewset.query("documents", nation).rows == []
    apply(viewset, [s.sent(1, at=t), s.status(1, s.NGHE_AN, "REJECTED", t + timedelta(hours=30))])
    (row,) = viewset.query("documents", nation).rows
    assert (row["sent"], row["deliveries"], row["arrived"], row["rejected"]) == (1, 2, 1, 1)
    assert row["latency_p50_s"] == row["latency_p99_s"] == 300.0
    assert row["not_arrived_after_sla"] == 1  # Nghệ An never reported arrival
    assert row["electronic_rate"] == 1.0


def test_the_earliest_send_is_the_header_and_a_revocation_is_remembered(viewset: ViewSet) -> None:
    t = s.BASE
    apply(viewset, [s.sent(2, at=t + timedelta(days=1), form="PAPER_ONLY")])
    apply(viewset, [s.sent(2, at=t, form="ELECTRONIC_AND_PAPER"), s.sent(2, at=t, business_type="REVOKE")])
    rows = viewset.query("documents", ViewQuery(level=Level.AGENCY, grain=Grain.DAY, as_of=AS_OF)).rows
    assert [(r["day"], r["sent"], r["sent_electronic"], r["revoked"]) for r in rows] == [
        ("2025-07-01", 1, 1, 1)
    ]


def test_days_are_vietnamese_days(viewset: ViewSet) -> None:
    apply(viewset, [s.sent(3, at=datetime(2025, 7, 1, 18, 30, tzinfo=UTC))])  # 01:30 on 2 July in Hà Nội
    (row,) = viewset.query("documents", ViewQuery(level=Level.AGENCY, grain=Grain.DAY)).rows
    assert row["day"] == "2025-07-02"


# --- dossiers, by hand --------------------------------------------------------------------------------------


def test_the_highest_version_wins_whatever_the_arrival_order(viewset: ViewSet) -> None:
    final = s.dossier(s.code(1), 3, status="RESOLVED", finished_days=2)
    apply(viewset, [s.dossier(s.code(1), 1, status="REGISTERED"), final])
    apply(viewset, [s.dossier(s.code(1), 2, status="PROCESSING"), final])  # late and duplicate
    (row,) = viewset.query("dossiers", ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=AS_OF)).rows
    assert (row["received"], row["resolved"], row["resolved_on_time"], row["open"]) == (1, 1, 1, 0)
    dossiers_view = viewset.view("dossiers")
    assert isinstance(dossiers_view, DossiersView)
    with viewset.store.reader() as reader:
        latest = dossiers_view.latest(reader, s.code(1))
    assert latest is not None
    assert (latest["version"], latest["status"]) == (3, "RESOLVED")


def test_a_dossier_read_back_from_the_store_is_the_state_written_field_by_field(viewset: ViewSet) -> None:
    # The state is read with a SELECT made from the state's own fields: a value landing in another field
    # (a shifted column) would make these differ.
    events = [e for e in simulated() if isinstance(e, DossierSynced)]
    apply(viewset, events)
    written: dict[str, _State] = {}
    for _name, record in map(record_of, events):  # the form the view applies
        state = _state_of(record)
        code = record["dossier_code"]
        if code not in written or state.rank > written[code].rank:
            written[code] = state
    with viewset.store.reader() as reader:
        read = {str(row[0]): _state_from_row(row) for row in reader.query(_SELECT_STATES)}
    assert len(written) > 100
    assert read == written


def test_open_dossiers_past_due_are_overdue_as_of_the_query_time(viewset: ViewSet) -> None:
    apply(viewset, [s.dossier(s.code(2), 1, due_days=1), s.dossier(s.code(3), 1, due_days=None)])
    early = ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=s.BASE + timedelta(hours=1))
    late = ViewQuery(level=Level.NATION, grain=Grain.ALL, as_of=s.BASE + timedelta(days=2))
    assert viewset.query("dossiers", early).rows[0]["overdue"] == 0
    assert viewset.query("dossiers", late).rows[0]["overdue"] == 1
    assert viewset.query("dossiers", late).rows[0]["open"] == 2


def test_registered_and_not_accepted_dossiers_are_not_received(viewset: ViewSet) -> None:
    apply(
        viewset,
        [
            s.dossier(s.code(7), 1, status="REGISTERED"),
            s.dossier(s.code(8), 2, status="NOT_ACCEPTED"),
            s.dossier(s.code(9), 2, channel="COUNTER", level="PARTIAL", digitised=False),
        ],
    )
    (row,) = viewset.query("dossiers", ViewQuery(level=Level.NATION, grain=Grain.ALL)).rows
    assert (row["registered"], row["not_accepted"], row["received"]) == (1, 1, 1)
    assert (row["online_rate"], row["full_online_rate"], row["digitised_rate"]) == (0.0, 0.0, 0.0)


def test_on_time_leaves_out_dossiers_without_a_due_date(viewset: ViewSet) -> None:
    apply(
        viewset,
        [
            s.dossier(s.code(10), 3, status="RESOLVED", finished_days=2, due_days=1),  # late
            s.dossier(s.code(11), 3, status="RETURNED", finished_days=2, due_days=None),  # left out
            s.dossier(
                s.code(12), 3, status="RESOLVED", finished_days=1, due_days=1
            ),  # on time: at the due time
        ],
    )
    (row,) = viewset.query("dossiers", ViewQuery(level=Level.NATION, grain=Grain.ALL)).rows
    assert (row["resolved"], row["resolved_without_due"], row["resolved_on_time"]) == (3, 1, 1)
    assert row["on_time_rate"] == 0.5


def test_equal_versions_are_ordered_by_time_then_event_id(viewset: ViewSet) -> None:
    a = s.dossier(s.code(4), 5, status="PROCESSING", at=s.BASE + timedelta(hours=1), event_id=str(_uuid(1)))
    b = s.dossier(s.code(4), 5, status="WITHDRAWN", at=s.BASE + timedelta(hours=1), event_id=str(_uuid(2)))
    apply(viewset, [b, a])
    (row,) = viewset.query("dossiers", ViewQuery(level=Level.NATION, grain=Grain.ALL)).rows
    assert row["open"] == 0  # b has the larger event id


# --- reports, by hand ---------------------------------------------------------------------------------------


Q3_DEADLINE = datetime(2025, 9, 20, 16, 59, 59, tzinfo=UTC)
"""BC-KSTT-01 for 2025-Q3: the catalog's deadline, 20 September 23:59:59 in Việt Nam."""
AFTER_Q3 = datetime(2025, 10, 1, tzinfo=UTC)


def test_latest_revision_wins_and_the_first_filing_decides_on_time(viewset: ViewSet) -> None:
    opening = s.dossier(s.code(0), 1)  # the views' first event: the window of obligations opens at BASE
    late_fix = s.report(s.HCMC, revision=1, filed=Q3_DEADLINE + timedelta(days=1), values=(20.0,))
    apply(viewset, [opening, late_fix])
    query = ViewQuery(level=Level.AGENCY, as_of=AFTER_Q3)
    (row,) = [r for r in viewset.query("reports", query).rows if r["agency"] == s.HCMC and r["filed"]]
    assert (row["period"], row["filed"], row["filed_on_time"]) == ("2025-Q3", 1, 0)
    on_time = s.report(s.HCMC, revision=0, filed=Q3_DEADLINE - timedelta(days=2), values=(10.0,))
    apply(viewset, [on_time])  # arrives after the correction
    result = viewset.query("reports", query)
    (row,) = [r for r in result.rows if r["agency"] == s.HCMC and r["filed"]]
    assert (row["expected"], row["filed"], row["filed_on_time"], row["completeness"]) == (1, 1, 1, 1.0)
    (indicator,) = [i for i in result.meta["indicators"] if i["agency"] == s.HCMC]
    assert indicator["sum"] == 20.0  # revision 1's values


def _q3(viewset: ViewSet, as_of: datetime | None) -> dict[str, Any]:
    rows = viewset.query("reports", ViewQuery(level=Level.NATION, as_of=as_of)).rows
    (row,) = [r for r in rows if r["report_code"] == "BC-KSTT-01" and r["period"] == "2025-Q3"]
    return row


def test_completeness_counts_every_obligation_due_by_as_of_not_only_those_filed(viewset: ViewSet) -> None:
    filed = Q3_DEADLINE - timedelta(days=3)
    apply(
        viewset,
        [s.dossier(s.code(0), 1)] + [s.report(a, filed=filed) for a in (s.HCMC, s.NGHE_AN, s.FINANCE)],
    )
    row = _q3(viewset, AFTER_Q3)
    owers = len(load_catalog().province_committees()) + len(load_catalog().ministries())
    assert (row["expected"], row["filed"], row["filed_on_time"]) == (owers, 3, 3)
    assert row["completeness"] == round(3 / owers, 6) < 1
    assert row["due_later"] == 0


def test_reports_not_yet_due_are_apart_and_count_in_no_rate(viewset: ViewSet) -> None:
    apply(viewset, [s.dossier(s.code(0), 1), s.report(s.HCMC, filed=s.BASE + timedelta(days=5))])
    row = _q3(viewset, datetime(2025, 9, 1, tzinfo=UTC))
    assert (row["expected"], row["filed"], row["completeness"]) == (0, 0, None)
    assert (row["due_later"], row["due_later_filed"]) == (row["due_later"], 1)
    assert row["due_later"] > 1
    # as-of defaults to the latest event time applied (5 July): nothing of the quarter is due either
    assert _q3(viewset, None)["expected"] == 0


def test_a_period_due_before_the_first_event_is_not_counted_missing(viewset: ViewSet) -> None:
    apply(viewset, [s.dossier(s.code(0), 1, at=AFTER_Q3)])  # the views start in October
    with viewset.store.reader() as reader:
        assert span.applied(reader) is not None
    rows = viewset.query("reports", ViewQuery(level=Level.NATION, as_of=AFTER_Q3 + timedelta(days=1))).rows
    assert all(r["expected"] == 0 for r in rows)


# --- unlisted units -----------------------------------------------------------------------------------------


def test_units_the_catalog_does_not_list_are_counted_and_rolled_up_not_refused(viewset: ViewSet) -> None:
    commune = "000.12.34.H29"  # a commune of Hồ Chí Minh City: well formed, level-1 unit H29, not listed
    kien_giang = "000.00.00.H33"  # Kiên Giang's pre-2025 People's Committee: An Giang (91) since 2025-07-01
    apply(
        viewset,
        [
            s.dossier(s.code(20), 1, agency=commune),
            s.dossier(s.code(21), 1, agency=kien_giang, province="91"),
            s.dossier(s.code(21), 1, agency=kien_giang, province="91"),  # a duplicate
        ],
    )
    rows = viewset.query("agencies", ViewQuery()).rows
    assert [(r["agency"], r["province"]) for r in rows] == [(commune, "79"), (kien_giang, "91")]
    board = {r["province"]: r for r in viewset.query("scoreboard", ViewQuery()).rows}
    assert (board["79"]["dossiers_received"], board["91"]["dossiers_received"]) == (1, 1)


# --- queries ------------------------------------------------------------------------------------------------


def test_filters_by_province_agency_and_period(viewset: ViewSet) -> None:
    apply(viewset, [s.dossier(s.code(5), 1), s.dossier(s.code(6), 1, agency=s.NGHE_AN, province="40")])
    assert [r["province"] for r in viewset.query("dossiers", ViewQuery(province="40")).rows] == ["40"]
    assert viewset.query("dossiers", ViewQuery(agency=s.HCMC, level=Level.AGENCY)).rows[0]["agency"] == s.HCMC
    assert viewset.query("dossiers", ViewQuery(period="2025-08")).rows == []
    (hcmc,) = viewset.query("scoreboard", ViewQuery(province="79")).rows
    assert hcmc["dossiers_received"] == 1


def test_a_bad_period_or_shape_is_refused() -> None:
    from bus.errors import ValidationError

    with pytest.raises(ValidationError, match="YYYY-MM"):
        ViewQuery(period="2025-13")
    views = new_viewset()
    try:
        with pytest.raises(ValidationError, match="grain"):
            views.query("dossiers", ViewQuery(grain=Grain.DAY))
        with pytest.raises(ValidationError, match="no view"):
            views.query("nope", ViewQuery())
    finally:
        views.close()


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"
