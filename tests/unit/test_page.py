"""The national page without a browser: its layout data, colour classes, formats, routes and drill-down."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bus.agencies import load_catalog
from bus.events import Event
from bus.events.codes import PeriodType
from bus.events.periods import Period
from bus.kpis import KPI_BY_COLUMN
from bus.metrics import ViewMetrics
from bus.reporting import load_report_catalog
from bus.settings import Settings
from consumers.api import create_app
from consumers.page import data, drill, tiles
from consumers.page.kpis import BREAKS, KPIS, class_ranges, colour_class
from consumers.page.text import TEXT, Lang, fmt_day, fmt_int, fmt_rate
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from tests import views_oracle as oracle
from tests import views_samples as s
from tests.page_samples import apply_batch, fill_store, simulated_events

pytestmark = pytest.mark.unit

Q3 = Period(PeriodType.QUARTER, 2025, 3)
DEADLINE = load_report_catalog().get("BC-CCHC-01").deadline(Q3)  # type: ignore[union-attr]
EVENTS: list[Event] = [
    s.sent(1, sender=s.HCMC),
    s.dossier(s.code(1), 1),
    s.dossier(
        s.code(2), 2, status="RESOLVED", finished_days=1, agency=s.NGHE_AN, province="40", channel="COUNTER"
    ),
    s.report(s.HCMC, "BC-CCHC-01", filed=DEADLINE - timedelta(days=1), deadline=DEADLINE),
]


def test_one_tile_per_province_each_in_its_own_cell() -> None:
    assert set(tiles.GRID) == load_catalog().province_codes
    cells = list(tiles.GRID.values()) + [(row, column) for _, row, column in tiles.ISLANDS]
    assert len(set(cells)) == len(cells)
    assert all(1 <= row <= tiles.ROWS and column >= 1 for row, column in cells)


def test_north_to_south_follows_the_statistics_codes_roughly() -> None:
    # Hà Nội is north of Huế, which is north of Hồ Chí Minh City, which is north of Cà Mau
    rows = [tiles.GRID[code][0] for code in ("01", "46", "79", "96")]
    assert rows == sorted(rows)
    assert len(set(rows)) == len(rows)


def test_colour_classes_split_at_the_breaks() -> None:
    assert colour_class(None) == "nodata"
    assert colour_class(0.0) == "b0"
    assert [colour_class(b) for b in BREAKS] == ["b1", "b2", "b3", "b4", "b5"]
    assert colour_class(BREAKS[0] - 1e-9) == "b0"
    assert colour_class(1.0) == "b5"
    ranges = class_ranges()
    assert ranges[0][1] == 0.0
    assert ranges[-1][2] == 1.0
    assert all(a[2] == b[1] for a, b in itertools.pairwise(ranges))


def test_vietnamese_and_english_formats() -> None:
    assert fmt_rate(Lang.VI, 0.8654) == "86,5\u00a0%"
    assert fmt_rate(Lang.EN, 0.8654) == "86.5%"
    assert fmt_rate(Lang.VI, None) == "—"
    assert fmt_int(Lang.VI, 1234567) == "1.234.567"
    assert fmt_int(Lang.EN, 1234567) == "1,234,567"
    assert fmt_day(Lang.VI, "2025-07-03") == "03/07/2025"
    assert fmt_day(Lang.EN, "2025-07-03") == "3 Jul 2025"
    assert fmt_day(Lang.VI, "2025-07") == "07/2025"


def test_the_page_colours_only_by_defined_rates() -> None:
    assert {k.column for k in KPIS} <= {c for c in KPI_BY_COLUMN if c.endswith(("_rate", "_completeness"))}


def test_every_text_has_both_languages() -> None:
    assert all(vi and en for vi, en in TEXT.values())
    assert all(k.vi and k.en and k.vi_note and k.en_note for k in KPIS)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "views.db"
    fill_store(path, EVENTS)
    return path


@pytest.fixture
async def http(db: Path) -> AsyncIterator[httpx.AsyncClient]:
    registry = CollectorRegistry()
    views = ViewSet(SqliteStore(db), build_views(Settings()))
    transport = httpx.ASGITransport(app=create_app(views, registry, ViewMetrics(registry)))
    async with httpx.AsyncClient(transport=transport, base_url="http://views.test") as client:
        yield client
    views.close()


async def test_index_has_a_tile_per_province_and_no_outside_asset(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert len(re.findall(r'data-province="(\d{2})"', page.text)) == 34
    assert '<html lang="vi">' in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(not re.match(r"^(https?:)?//", source) for source in sources), sources
    for asset in ("page.css", "page.js", "icon.svg"):
        assert (await http.get(f"/static/page/{asset}")).status_code == 200
    assert (await http.get("/static/page/../api.py")).status_code == 404


async def test_english_and_part_main(http: httpx.AsyncClient) -> None:
    english = await http.get("/", params={"lang": "en", "kpi": "online_rate"})
    assert '<html lang="en">' in english.text
    assert 'aria-current="true" ' in english.text or 'aria-current="true">' in english.text
    assert "Dossiers online" in english.text
    part = await http.get("/", params={"part": "main"})
    assert part.status_code == 200
    assert "<html" not in part.text
    assert 'data-province="79"' in part.text
    assert part.headers["X-Page-Version"]
    assert (await http.get("/", params={"kpi": "no_such"})).status_code == 200  # falls back to the default
    assert (await http.get("/", params={"compare": "99"})).status_code == 404


async def test_province_page_and_evidence(http: httpx.AsyncClient) -> None:
    page = await http.get("/province/79")
    assert page.status_code == 200
    assert "Thành phố Hồ Chí Minh" in page.text
    assert re.search(r"/evidence\?view=dossiers&amp;province=79&amp;status=[A-Z_]+", page.text)
    assert (await http.get("/province/99")).status_code == 404
    evidence = await http.get("/evidence", params={"view": "dossiers", "province": "79"})
    assert evidence.status_code == 200
    dossier = next(e for e in EVENTS if getattr(e, "dossier_code", None) == s.code(1))
    assert dossier.meta.event_id in evidence.text
    evidence_href = f"/v1/views/dossiers/{quote(s.code(1), safe='')}/evidence"
    assert evidence_href in evidence.text
    proof = (await http.get(evidence_href)).json()  # the link answers: the signed records behind it
    assert [r["event_id"] for r in proof["records"]] == [dossier.meta.event_id]
    assert "/v1/views/scoreboard/79/evidence" in page.text
    assert (await http.get("/evidence", params={"view": "nothing"})).status_code == 400


async def test_version_moves_when_the_views_apply(http: httpx.AsyncClient, db: Path) -> None:
    before = (await http.get("/v1/page/version")).json()["version"]
    views = ViewSet(SqliteStore(db), build_views(Settings()))
    try:
        apply_batch(views, [s.dossier(s.code(3), 1)], offset=99)
    finally:
        views.close()
    after = (await http.get("/v1/page/version")).json()["version"]
    assert after != before


def test_obligations_split_missing_from_due_later(db: Path) -> None:
    views = ViewSet(SqliteStore(db), build_views(Settings()))
    try:
        before = {
            o.report_code: o for o in drill.obligations(views, "79", as_of=DEADLINE - timedelta(days=10))
        }
        after = {o.report_code: o for o in drill.obligations(views, "79", as_of=DEADLINE + timedelta(days=1))}
    finally:
        views.close()
    # ten days before the Q3 deadlines, nothing of Q3 is filed or missing yet
    assert before["BC-CCHC-01"].on_time == 0
    assert before["BC-CCHC-01"].missing == 0
    assert before["BC-CCHC-01"].due_later >= 1
    # a day after: the filing (a day early) is on time, the other Q3 reports are missing
    assert after["BC-CCHC-01"].on_time == 1
    assert after["BC-CCHC-01"].late == 0
    assert after["BC-PCTN-01"].missing == 1
    assert after["BC-KSTT-01"].missing == 1
    for o in after.values():
        assert o.owed == o.on_time + o.late + o.missing + o.due_later


def test_trends_are_exact_under_replays_and_shuffles(tmp_path: Path) -> None:
    events = simulated_events(3000, seed=11, scale=0.002)  # several simulated days
    once, twice = tmp_path / "once.db", tmp_path / "twice.db"
    fill_store(once, events)
    shuffled = list(reversed(events))  # late events everywhere
    fill_store(twice, events + shuffled)  # every event delivered twice
    trends = []
    for path in (once, twice):
        views = ViewSet(SqliteStore(path), build_views(Settings()))
        try:
            trends.append((data.daily(views), data.monthly(views)))
        finally:
            views.close()
    assert trends[0] == trends[1]
    daily, monthly = trends[0]
    assert len(daily.periods) >= 2
    assert any(value is not None for value in daily.of("00", "online_rate"))
    facts = oracle.document_facts(events)  # the independent recomputation of the views' tests
    for row in oracle.documents_rows(
        facts, oracle.Places(), level="nation", grain="day", as_of_ms=0, sla_ms=0
    ):
        assert daily.of("00", "electronic_rate")[daily.periods.index(row["day"])] == row["electronic_rate"]
    views = ViewSet(SqliteStore(once), build_views(Settings()))
    try:
        for index, month in enumerate(monthly.periods):  # a month's values are the scoreboard's for it
            rows = {r["province"]: r for r in data.scoreboard(views, month).rows}
            for place in ("00", "79", "01"):
                assert monthly.of(place, "online_rate")[index] == rows[place]["online_rate"]
                assert monthly.of(place, "electronic_rate")[index] == rows[place]["electronic_rate"]
    finally:
        views.close()


async def test_an_empty_store_renders_every_page(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    views = ViewSet(SqliteStore(tmp_path / "empty.db"), build_views(Settings()))
    transport = httpx.ASGITransport(app=create_app(views, registry, ViewMetrics(registry)))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://views.test") as client:
            for path in (
                "/",
                "/?grain=month",
                "/?compare=79&lang=en",
                "/province/79",
                "/evidence?view=reports",
            ):
                answer = await client.get(path)
                assert answer.status_code == 200, path
            page = (await client.get("/")).text
            assert page.count('class="tile nodata') == 34
    finally:
        views.close()


async def test_province_cards_compare_with_the_nation(http: httpx.AsyncClient) -> None:
    page = (await http.get("/province/40")).text
    assert "điểm so với cả nước" in page
    assert 'href="/?kpi=online_rate&amp;compare=40"' in page
