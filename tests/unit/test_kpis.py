"""The KPI definitions are written once (bus/kpis.py): docs/views.md, the gauges and the OpenAPI show them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.kpis import KPI_BY_GAUGE, KPIS, markdown
from bus.metrics import KPI_SPECS
from consumers.scoreboard import COLUMNS

pytestmark = pytest.mark.unit

VIEWS_DOC = Path(__file__).resolve().parents[2] / "docs" / "views.md"


def test_docs_views_shows_the_definitions_as_written() -> None:
    assert markdown() in VIEWS_DOC.read_text(encoding="utf-8"), (
        "docs/views.md 'KPI definitions' is out of date: paste `python -m bus.kpis` there"
    )


def test_every_gauge_describes_its_kpi_with_the_definition() -> None:
    assert {kpi.value for kpi in KPI_SPECS} == set(KPI_BY_GAUGE)
    for kpi, spec in KPI_SPECS.items():
        assert spec.help.startswith(KPI_BY_GAUGE[kpi.value].definition)


def test_every_definition_is_a_scoreboard_column() -> None:
    assert [kpi.column for kpi in KPIS] == [c for c in COLUMNS if c in {k.column for k in KPIS}]
    assert set(COLUMNS) - {kpi.column for kpi in KPIS} == {"province", "name", "reports_due_later"}
