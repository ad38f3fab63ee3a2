"""The silent-agency gauges: one series per province AND per ministry (its level-1 G code), never one
"central" row for all ministries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus.agencies import load_catalog
from bus.consumer.types import Batch
from bus.events import Event
from bus.metrics import ViewMetrics
from bus.settings import Settings
from consumers.activity import FAMILIES, ministry_label
from consumers.api import refresh_kpis
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s

pytestmark = pytest.mark.unit

EVENTS: list[Event] = [
    s.sent(1),  # the Government Office (G22)
    s.sent(2),
    s.sent(3, sender=s.FINANCE, recipients=(s.GOV_OFFICE,)),  # the Ministry of Finance (G12)
    s.dossier(s.code(1), 1),  # Hồ Chí Minh City (79)
    s.dossier(s.code(2), 1, agency=s.NGHE_AN, province="40"),
    s.report(s.FINANCE),
    s.report(s.HCMC),
]


def _gauges(tmp_path: Path, events: list[Event]) -> dict[tuple[str, str], float]:
    views = ViewSet(SqliteStore(tmp_path / "views.db"), build_views(Settings()))
    asyncio.run(views.apply(Batch(s.by_topic(events), {})))
    registry = CollectorRegistry()
    refresh_kpis(views, ViewMetrics(registry))
    views.close()
    found: dict[tuple[str, str], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "lgsp_view_province_events":
                found[sample.labels["province"], sample.labels["view"]] = sample.value
            elif sample.name == "lgsp_reports_overdue":
                found[sample.labels["province"], "overdue"] = sample.value
    return found


def test_each_ministry_is_its_own_series_beside_the_provinces(tmp_path: Path) -> None:
    gauges = _gauges(tmp_path, EVENTS)
    assert gauges["G22", "documents"] == 2
    assert gauges["G12", "documents"] == 1
    assert gauges["G12", "reports"] == 1
    assert gauges["G22", "reports"] == 0
    assert gauges["79", "dossiers"] == 1
    assert gauges["40", "dossiers"] == 1
    assert gauges["79", "reports"] == 1
    assert gauges["79", "documents"] == 0  # the province received documents; it sent none
    units = {unit for unit, _ in gauges}
    assert not units & {"central", "", "00"}


def test_every_ministry_and_province_has_every_series_from_an_empty_store(tmp_path: Path) -> None:
    gauges = _gauges(tmp_path, [])
    catalog = load_catalog()
    ministries = {ministry_label(m.code) for m in catalog.ministries()}
    provinces = {p.code for p in catalog.provinces()}
    assert len(ministries) == len(catalog.ministries())  # level-1 G codes are distinct
    assert all(label.startswith("G") for label in ministries)
    expected = {(unit, view) for unit in ministries | provinces for view in (*FAMILIES, "overdue")}
    assert set(gauges) == expected
    assert set(gauges.values()) == {0.0}


def test_a_ministry_that_filed_owes_one_report_less_than_one_that_did_not(tmp_path: Path) -> None:
    later = s.sent(9, at=s.BASE.replace(year=2026))  # moves as-of past the 2025 deadlines
    gauges = _gauges(tmp_path, [*EVENTS, later])
    assert gauges["G22", "overdue"] > 0
    assert gauges["G12", "overdue"] == gauges["G22", "overdue"] - 1
    assert gauges["79", "overdue"] == gauges["40", "overdue"] - 1
