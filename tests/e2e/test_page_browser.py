"""The national page in a real browser: Debian's Chromium, headless, driven by Playwright for Python.

The views are built from a seeded simulated nation (and a few report filings made here), served by the real
views API in a thread; the page is checked as a person uses it (hover, keyboard, click, a new batch arriving)
and with axe-core (from npm, ``make node-deps``) for accessibility. Screenshots go to ``build/screenshots/``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from bus.agencies import load_catalog
from bus.events import Event
from bus.events.codes import PeriodType
from bus.events.periods import Period
from bus.reporting import load_report_catalog
from bus.settings import Settings
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s
from tests.page_samples import apply_batch, fill_store, simulated_events
from tests.page_server import serving

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "build" / "screenshots"
EVENTS = 12_000
LATER = 3_000
Q3 = Period(PeriodType.QUARTER, 2025, 3)


def report_filings() -> list[Event]:
    """Q3 2025 filings: every second province's People's Committee files BC-CCHC-01 on time; Hồ Chí Minh City
    also files BC-KSTT-01 two days late (its other two Q3 reports stay missing)."""
    catalog = load_report_catalog()
    filings: list[Event] = []
    for index, province in enumerate(load_catalog().provinces()):
        if index % 2 == 0 or province.code == "79":
            definition = catalog.get("BC-CCHC-01")
            assert definition is not None
            deadline = definition.deadline(Q3)
            filings.append(s.report(province.committee, "BC-CCHC-01", filed=deadline - timedelta(days=3),
                                    deadline=deadline))  # fmt: skip
    late = catalog.get("BC-KSTT-01")
    assert late is not None
    deadline = late.deadline(Q3)
    filings.append(s.report(s.HCMC, "BC-KSTT-01", filed=deadline + timedelta(days=2), deadline=deadline))
    return filings


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return simulated_events(EVENTS + LATER)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, events: list[Event]) -> Path:
    path = tmp_path_factory.mktemp("page") / "views.db"
    fill_store(path, events[:EVENTS] + report_filings())
    return path


@pytest.fixture(scope="module")
def base_url(store: Path) -> Iterator[str]:
    with serving(store) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed (`make system-deps` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    console = Console(page)
    yield page, console
    context.close()
    assert console.errors == [], console.errors


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make node-deps` (npm ci)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def scoreboard(base_url: str) -> dict[str, dict[str, Any]]:
    rows = httpx.get(f"{base_url}/v1/views/scoreboard").json()["rows"]
    return {row["province"]: row for row in rows}


def legend_colours(page: Page) -> list[tuple[float, float, str]]:
    found: list[tuple[float, float, str]] = page.eval_on_selector_all(
        ".legend li[data-low]",
        "items => items.map(li => [Number(li.dataset.low), Number(li.dataset.high),"
        " getComputedStyle(li.querySelector('.key')).backgroundColor])",
    )
    return found


def check_tiles(page: Page, base_url: str, kpi: str) -> None:
    """One tile per province; each shows the scoreboard's value and the legend's colour for it."""
    codes = {p.code for p in load_catalog().provinces()}
    tiles = page.eval_on_selector_all(
        ".tilemap [data-province]",
        "els => els.map(e => [e.dataset.province, e.dataset.value, getComputedStyle(e).backgroundColor,"
        " e.querySelector('.tile-value').textContent])",
    )
    assert sorted(code for code, _, _, _ in tiles) == sorted(codes)
    legend = legend_colours(page)
    assert len(legend) == 6
    assert len({colour for _, _, colour in legend}) == 6
    board = scoreboard(base_url)
    coloured = 0
    for code, shown, colour, text in tiles:
        want = board[code][kpi]
        if want is None:
            assert (shown, text) == ("", "—")
            continue
        assert math.isclose(float(shown), want), (code, shown, want)
        assert text == f"{want * 100:.1f}".replace(".", ",") + "\u00a0%", (code, text, want)  # vi-VN
        (expected,) = [c for low, high, c in legend if low <= want < high or (high == 1 and want == 1)]
        assert colour == expected, (code, want, colour, expected)
        coloured += 1
    assert coloured >= 20


def test_map_tiles_follow_the_scoreboard(page: tuple[Page, Console], base_url: str) -> None:
    tab, _ = page
    tab.goto(base_url + "/")
    expect(tab.locator("h1")).to_have_text("Cả nước")
    assert tab.evaluate("document.documentElement.lang") == "vi"
    check_tiles(tab, base_url, "electronic_rate")
    tab.evaluate("window.__stayed = true")
    tab.locator('.cards a[href*="kpi=online_rate"]').click()
    expect(tab.locator(".cards a[aria-current]")).to_contain_text("Hồ sơ trực tuyến")
    check_tiles(tab, base_url, "online_rate")
    assert tab.evaluate("window.__stayed") is True, "choosing a KPI reloaded the page"
    assert "kpi=online_rate" in tab.url
    shot(tab, "page-online")


def test_hover_and_keyboard_show_the_numbers(page: tuple[Page, Console], base_url: str) -> None:
    tab, _ = page
    tab.goto(base_url + "/")
    tile = tab.locator('[data-province="79"]')
    tip = tile.locator(".tip")
    expect(tip).to_be_hidden()
    tile.hover()
    expect(tip).to_be_visible()
    value = scoreboard(base_url)["79"]["electronic_rate"]
    expect(tip).to_contain_text(f"{value * 100:.1f}".replace(".", ",") + "\u00a0%")
    tab.mouse.move(0, 0)
    tab.locator('[data-province="01"]').focus()
    expect(tab.locator('[data-province="01"] .tip')).to_be_visible()
    tab.keyboard.press("Tab")  # the next tile in reading order gets the focus and shows its numbers
    focused = tab.evaluate("document.activeElement.dataset.province")
    assert focused
    assert focused != "01"
    expect(tab.locator(f'[data-province="{focused}"] .tip')).to_be_visible()
    tab.keyboard.press("Enter")
    expect(tab).to_have_url(re.compile(rf"/province/{focused}$"))


def test_trends_render_for_nation_and_province(page: tuple[Page, Console], base_url: str) -> None:
    tab, _ = page
    tab.goto(base_url + "/?grain=day")
    cards = tab.locator(".trend-card")
    assert cards.count() >= 7
    assert tab.locator(".trend-card g.s-nation path").count() >= 5
    assert tab.locator(".trend-card g.s-province").count() == 0
    tab.select_option("#compare", "79")
    expect(tab.locator(".trend-card g.s-province path").first).to_be_visible()
    expect(tab.locator('.trend-card[data-kpi="online_rate"] figcaption')).to_contain_text("Hồ Chí Minh")
    points = tab.locator('.trend-card[data-kpi="online_rate"] g.s-nation circle').count()
    days = httpx.get(f"{base_url}/v1/views/documents?level=nation&grain=day").json()["rows"]
    assert points >= len(days) - 1  # one point per day (the dossier days may add one)
    tab.locator('.seg a[href*="grain=month"]').click()
    expect(tab.locator('.seg a[aria-current="true"]')).to_have_text("Theo tháng")
    assert tab.locator(".trend-card g.s-nation circle").count() >= 1


def test_province_drill_down_and_evidence(page: tuple[Page, Console], base_url: str) -> None:
    tab, _ = page
    tab.goto(base_url + "/")
    tab.locator('[data-province="79"]').click()
    expect(tab).to_have_url(re.compile(r"/province/79$"))
    expect(tab.locator("h1")).to_contain_text("Hồ Chí Minh")
    expect(tab.locator(".merged")).to_contain_text("Bình Dương")
    agencies = tab.locator("#ag-h + .scroll tbody tr")
    assert agencies.count() >= 3
    assert tab.locator(".statuses li").count() >= 2
    assert tab.locator("#pr-h + .scroll tbody tr").count() >= 3
    reports = tab.locator("#re-h + .scroll tbody tr")
    assert reports.count() >= 4
    late = reports.filter(has_text="BC-KSTT-01")
    expect(late.locator("td").nth(2)).to_have_text("1")  # filed late
    expect(reports.filter(has_text="BC-CCHC-01").locator("td").nth(1)).to_have_text("1")  # on time
    expect(reports.filter(has_text="BC-PCTN-01").locator("td").nth(3)).to_have_text("1")  # missing
    shot(tab, "province-79")
    status = tab.locator(".statuses li").first
    count = int(status.locator("a.ev").inner_text().replace(".", ""))
    status.locator("a.ev").click()
    expect(tab).to_have_url(re.compile(r"/evidence\?view=dossiers&province=79&status="))
    rows = tab.locator("tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() == min(count, 200)
    event_id = rows.first.locator("td").first.inner_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", event_id), event_id
    href = rows.first.locator("a").get_attribute("href")
    assert href is not None
    assert re.fullmatch(r"/v1/views/dossiers/[^/]+/evidence", href)


def test_live_refresh_without_reload(
    page: tuple[Page, Console], base_url: str, store: Path, events: list[Event]
) -> None:
    tab, _ = page
    tab.goto(base_url + "/?kpi=online_rate")
    tab.evaluate("window.__stayed = true")
    before = tab.evaluate("document.body.dataset.version")
    views = ViewSet(SqliteStore(store), build_views(Settings()))
    try:
        apply_batch(views, events[EVENTS:], offset=10**9)
    finally:
        views.close()
    expect(tab.locator("body")).not_to_have_attribute("data-version", before, timeout=15_000)
    assert tab.evaluate("window.__stayed") is True, "the page reloaded instead of refreshing in place"
    check_tiles(tab, base_url, "online_rate")


@pytest.mark.parametrize(
    "path", ["/", "/?lang=en&kpi=on_time_rate", "/province/79", "/evidence?view=reports&province=79"]
)
def test_axe_finds_no_serious_violations(page: tuple[Page, Console], base_url: str, path: str) -> None:
    tab, _ = page
    tab.goto(base_url + path)
    violations = axe_violations(tab)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)


def test_english_page(page: tuple[Page, Console], base_url: str) -> None:
    tab, _ = page
    tab.goto(base_url + "/")
    tab.locator("a.lang").click()
    expect(tab.locator("h1")).to_have_text("Nation")
    assert tab.evaluate("document.documentElement.lang") == "en"
    expect(tab.locator(".cards a").first).to_contain_text("%")
    assert "\u00a0%" not in tab.locator(".cards a").first.inner_text()
    shot(tab, "page-en")
