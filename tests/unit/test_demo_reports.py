"""The default demo's traffic shows all three event families, report completeness included.

The demo publishes ``duration_s * rate`` simulated events (60 s at 300/s); here the same emissions go straight
into the views (no broker), and the scoreboard must show a report period that fell due.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bus.consumer.types import Batch, Partition
from bus.metrics import NATIONAL
from bus.settings import Settings
from consumers.base import ViewQuery
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from lgsp.demo.options import Traffic
from lgsp.demo.run import family_line
from producers.simulate import EmissionKind, Simulation
from tests import views_samples as s

pytestmark = pytest.mark.unit


def test_the_default_demo_fills_the_report_columns_for_a_due_period() -> None:
    traffic = Traffic()
    simulation = Simulation(traffic.simulation())
    count = int(traffic.duration_s * traffic.rate)
    events = [e.event for e in itertools.islice(simulation, count) if e.kind is not EmissionKind.INVALID]
    views = ViewSet(SqliteStore(":memory:"), build_views(Settings()))
    try:
        asyncio.run(views.apply(Batch(s.by_topic(events), {Partition("lgsp.reports", 0): len(events)})))
        board = views.query("scoreboard", ViewQuery())
    finally:
        views.close()
    nation = next(row for row in board.rows if row["province"] == NATIONAL)
    assert nation["reports_expected"] > 0, board.meta
    assert nation["report_completeness"] is not None
    assert nation["documents_sent"] > 0
    assert nation["dossiers_received"] > 0
    line = family_line(simulation.truth.by_type)
    assert all(f"{family} 0" not in line for family in ("documents", "dossiers", "reports")), line
