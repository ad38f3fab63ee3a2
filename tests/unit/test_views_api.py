"""The views HTTP API and the ``lgsp views show`` / ``lgsp dlq`` CLI on a small store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from bus.consumer.types import Batch, Partition
from bus.events import Event
from bus.kpis import KPIS
from bus.metrics import ViewMetrics
from bus.settings import Settings
from consumers.api import create_app
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from lgsp.cli import app
from tests import views_samples as s

pytestmark = pytest.mark.unit

EVENTS: list[Event] = [
    s.sent(1),
    s.status(1, s.HCMC, "ARRIVED", s.BASE.replace(hour=3)),
    s.dossier(s.code(1), 1),
    s.dossier(
        s.code(2), 2, status="RESOLVED", finished_days=1, agency=s.NGHE_AN, province="40", channel="COUNTER"
    ),
    s.report(s.HCMC),
]


def fill(path: Path) -> None:
    views = ViewSet(SqliteStore(path), build_views(Settings()))
    asyncio.run(views.apply(Batch(s.by_topic(EVENTS), {Partition("lgsp.dossiers", 0): 2})))
    views.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "views.db"
    fill(path)
    return path


Client = tuple[httpx.AsyncClient, CollectorRegistry]


@pytest.fixture
async def client(db: Path) -> AsyncIterator[Client]:
    registry = CollectorRegistry()
    views = ViewSet(SqliteStore(db), build_views(Settings()))
    transport = httpx.ASGITransport(app=create_app(views, registry, ViewMetrics(registry)))
    async with httpx.AsyncClient(transport=transport, base_url="http://views.test") as http:
        yield http, registry
    views.close()


async def test_each_view_answers_json_with_filters(client: Client) -> None:
    http, _ = client
    scoreboard = (await http.get("/v1/views/scoreboard")).json()
    assert scoreboard["view"] == "scoreboard"
    assert len(scoreboard["rows"]) == 35  # 34 provinces and the nation
    assert scoreboard["rows"][-1]["province"] == "00"
    dossiers = (await http.get("/v1/views/dossiers", params={"province": "40", "period": "2025-07"})).json()
    assert [(r["province"], r["received"], r["resolved"]) for r in dossiers["rows"]] == [("40", 1, 1)]
    by_agency = (await http.get("/v1/views/dossiers", params={"agency": s.HCMC, "level": "agency"})).json()
    assert [r["agency"] for r in by_agency["rows"]] == [s.HCMC]
    documents = (await http.get("/v1/views/documents", params={"level": "nation", "grain": "all"})).json()
    assert documents["rows"][0]["arrived"] == 1
    reports = (await http.get("/v1/views/reports", params={"province": "79", "level": "province"})).json()
    assert any(r["due_later_filed"] == 1 for r in reports["rows"])  # Q3 is due on 20 September


async def test_the_openapi_gives_each_kpi_its_one_definition(client: Client) -> None:
    http, _ = client
    spec = (await http.get("/openapi.json")).json()
    described = spec["paths"]["/v1/views/scoreboard"]["get"]["description"]
    for kpi in KPIS:
        assert f"`{kpi.column}`: {kpi.definition}" in described


async def test_bad_filters_are_problem_documents(client: Client) -> None:
    http, _ = client
    bad_period = await http.get("/v1/views/dossiers", params={"period": "July"})
    assert (bad_period.status_code, bad_period.json()["field"]) == (400, "period")
    answer = await http.get("/v1/views/dossiers", params={"grain": "day"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == "grain"


async def test_the_page_metrics_and_health(client: Client) -> None:
    http, registry = client
    page = await http.get("/")
    assert page.status_code == 200
    assert "Thành phố Hồ Chí Minh" in page.text
    metrics = (await http.get("/metrics")).text
    assert 'lgsp_kpi_dossier_on_time_ratio{province="40"} 1.0' in metrics
    assert registry.get_sample_value("lgsp_kpi_dossier_online_ratio", {"province": "00"}) == 0.5
    assert (await http.get("/healthz")).json()["status"] == "ok"
    ready = (await http.get("/readyz")).json()
    assert ready["status"] in {"ready", "stale"}
    assert ready["store"]["backend"] == "sqlite"
    assert ready["applied_offsets"] > 0


def test_views_show_prints_a_table_or_json(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_STORE__URL", f"sqlite:///{db}")
    runner = CliRunner()
    table = runner.invoke(app, ["views", "show", "dossiers", "--level", "province"])
    assert table.exit_code == 0, table.output
    assert "received" in table.output
    as_json = runner.invoke(app, ["views", "show", "scoreboard", "--json", "--province", "79"])
    assert as_json.exit_code == 0, as_json.output
    (row,) = json.loads(as_json.output)["rows"]
    assert row["dossiers_received"] == 1
    unknown = runner.invoke(app, ["views", "show", "nope"])
    assert unknown.exit_code == 1
    assert "no view" in unknown.output
