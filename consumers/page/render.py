"""The national page: the shell every page shares, and the map page (KPI cards, tile map, ranking, trends).

Everything is rendered here, on the server, from the views: the page reads fine without script, and the small
script (``static/page.js``) only swaps the ``<main>`` part in place (a KPI chosen, a province compared, the
views moved on) instead of reloading.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from bus.agencies import load_catalog
from bus.metrics import NATIONAL
from bus.reporting import VIETNAM
from consumers.base import Grain, ViewResult
from consumers.page import tiles
from consumers.page.charts import chart
from consumers.page.data import Trend
from consumers.page.kpis import BY_COLUMN, DEFAULT, Kpi, available, class_ranges, colour_class
from consumers.page.text import Lang, fmt_int, fmt_rate, t

ASSETS: Final = "/static/page"
POLL_SECONDS: Final = 3
"""How often the script asks whether the views moved (``/v1/page/version``)."""
_CURRENT: Final = ' aria-current="true"'
_ISLANDS: Final = {
    "hoang_sa": ("Q.đ. Hoàng Sa", "Hoàng Sa (Paracel) Is."),
    "truong_sa": ("Q.đ. Trường Sa", "Trường Sa (Spratly) Is."),
}


@dataclass(frozen=True)
class View:
    """What the reader chose: language, indicator, trend grain, the province compared with the nation."""

    lang: Lang = Lang.VI
    kpi: str = DEFAULT
    grain: Grain | None = None
    compare: str | None = None

    def link(self, path: str = "/", **changes: Any) -> str:
        chosen = replace(self, **changes)
        params = {
            "lang": chosen.lang.value if chosen.lang is not Lang.VI else None,
            "kpi": chosen.kpi if chosen.kpi != DEFAULT else None,
            "grain": chosen.grain.value if chosen.grain is not None else None,
            "compare": chosen.compare,
        }
        query = urlencode({k: v for k, v in params.items() if v})
        return html.escape(f"{path}?{query}" if query else path)


def esc(value: object) -> str:
    return html.escape(str(value))


def shell(view: View, title: str, main: str, *, version: str, path: str) -> str:
    """A whole page around ``main``."""
    lang = view.lang
    other = Lang.EN if lang is Lang.VI else Lang.VI
    switch = view.link(path, lang=other)
    return (
        f'<!doctype html><html lang="{lang.value}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · LGSP</title>"
        f'<link rel="stylesheet" href="{ASSETS}/page.css">'
        f'<link rel="icon" href="{ASSETS}/icon.svg" type="image/svg+xml">'
        f'<script src="{ASSETS}/page.js" defer></script></head>'
        f'<body data-version="{esc(version)}" data-poll="{POLL_SECONDS}">'
        f'<a class="skip" href="#main">{esc(t(lang, "skip"))}</a>'
        '<header class="top"><a class="brand" href="' + view.link("/", compare=None) + '">'
        '<img src="' + ASSETS + '/icon.svg" alt="" width="36" height="36">'
        f'<span><span class="brand-title">{esc(t(lang, "title"))}</span>'
        f'<span class="brand-sub">{esc(t(lang, "subtitle"))}</span></span></a>'
        f'<div class="tools"><span class="live"><span class="dot" aria-hidden="true"></span>'
        f"{esc(t(lang, 'live'))}</span>"
        f'<a class="lang" href="{switch}" hreflang="{other.value}" lang="{other.value}">'
        f"{esc(t(lang, 'language'))}</a></div></header>"
        f'<main id="main" tabindex="-1">{main}</main>'
        f'<footer><a href="/v1/views/scoreboard">{esc(t(lang, "api"))}</a> · <a href="/docs">OpenAPI</a>'
        ' · <a href="/metrics">/metrics</a></footer></body></html>'
    )


def updated_line(lang: Lang, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return (
        f'<p class="updated" role="status">{esc(t(lang, "updated"))} '
        f'<time datetime="{moment.isoformat()}">{moment.astimezone(VIETNAM):%H:%M:%S}</time></p>'
    )


def kpi_cards(
    view: View, kpis: Sequence[Kpi], row: dict[str, Any], *, nation: dict[str, Any] | None = None
) -> str:
    """Every indicator's value for the nation (each card colours the map by it) or, with ``nation``, for one
    province against the nation (each card opens the national map coloured by it, the province compared)."""
    cards = []
    for kpi in kpis:
        value = row.get(kpi.column)
        current = nation is None and kpi.column == view.kpi
        if nation is None:
            href = view.link("/", kpi=kpi.column)
        else:
            href = view.link("/", kpi=kpi.column, compare=str(row.get("province")), grain=None)
        cards.append(
            f'<a class="card tone-{colour_class(value)}{" selected" if current else ""}" data-swap '
            f'data-key="kpi-{kpi.column}" href="{href}"{_CURRENT if current else ""}>'
            f'<span class="card-name">{esc(kpi.label(view.lang))}</span>'
            f'<span class="card-value">{esc(fmt_rate(view.lang, value))}</span>'
            + (_delta(view.lang, value, nation.get(kpi.column)) if nation is not None else "")
            + f'<span class="card-note">{esc(kpi.note(view.lang))}</span></a>'
        )
    return f'<nav class="cards" aria-label="{esc(t(view.lang, "kpi"))}">{"".join(cards)}</nav>'


def _delta(lang: Lang, value: float | None, nation: float | None) -> str:
    """``▲ 3,2 điểm so với cả nước``: the province against the nation, in percentage points."""
    if value is None or nation is None:
        return ""
    points = round((value - nation) * 100, 1)
    arrow = "▲" if points > 0 else "▼" if points < 0 else "="
    number = f"{abs(points):.1f}".replace(".", ",") if lang is Lang.VI else f"{abs(points):.1f}"
    return f'<span class="card-delta">{arrow} {esc(t(lang, "points_vs_nation", points=number))}</span>'


def _tip(view: View, kpis: Sequence[Kpi], row: dict[str, Any], name: str, code: str) -> str:
    lines = "".join(
        f'<span class="tip-row{" on" if k.column == view.kpi else ""}"><span>{esc(k.label(view.lang))}</span>'
        f"<b>{esc(fmt_rate(view.lang, row.get(k.column)))}</b></span>"
        for k in kpis
    )
    counts = (
        f'<span class="tip-row"><span>{esc(t(view.lang, "documents_sent"))}</span>'
        f"<b>{esc(fmt_int(view.lang, int(row.get('documents_sent') or 0)))}</b></span>"
        f'<span class="tip-row"><span>{esc(t(view.lang, "dossiers_received"))}</span>'
        f"<b>{esc(fmt_int(view.lang, int(row.get('dossiers_received') or 0)))}</b></span>"
    )
    return (
        f'<span class="tip" id="tip-{code}" role="tooltip"><span class="tip-title">{esc(name)}</span>'
        f"{lines}{counts}</span>"
    )


def tile_map(view: View, kpis: Sequence[Kpi], board: ViewResult) -> str:
    """The 34 tiles, coloured by the chosen indicator, with the legend."""
    lang = view.lang
    kpi = BY_COLUMN[view.kpi]
    catalog = load_catalog()
    rows = {str(r["province"]): r for r in board.rows}
    items = []
    for province in catalog.provinces():
        row = rows.get(province.code, {})
        value = row.get(kpi.column)
        grid_row, grid_column = tiles.GRID[province.code]
        label = f"{province.short_name}: {kpi.label(lang)} {fmt_rate(lang, value)}"
        west = " west" if grid_column >= tiles.TIP_WEST_FROM else ""
        items.append(
            f'<a class="tile {colour_class(value)}{west}" data-province="{province.code}"'
            f' data-key="tile-{province.code}"'
            f' data-value="{"" if value is None else value}" style="grid-area:{grid_row}/{grid_column}"'
            f' href="{view.link(f"/province/{province.code}", compare=None)}" aria-label="{esc(label)}"'
            f' aria-describedby="tip-{province.code}">'
            f'<span class="tile-name" aria-hidden="true">{esc(province.short_name)}</span>'
            f'<span class="tile-value" aria-hidden="true">{esc(fmt_rate(lang, value))}</span>'
            f"{_tip(view, kpis, row, province.name, province.code)}</a>"
        )
    for key, grid_row, grid_column in tiles.ISLANDS:
        text = _ISLANDS[key][0] if lang is Lang.VI else _ISLANDS[key][1]
        items.append(f'<span class="island" style="grid-area:{grid_row}/{grid_column}">{esc(text)}</span>')
    columns = max(tiles.COLUMNS, *(c for _, _, c in tiles.ISLANDS))
    return (
        f'<div class="tilemap" role="group" aria-label="{esc(t(lang, "map_label", kpi=kpi.label(lang)))}"'
        f' style="--rows:{tiles.ROWS};--cols:{columns}">{"".join(items)}</div>'
        f"{legend(lang)}"
        f'<p class="note">{esc(t(lang, "map_note"))}</p>'
    )


def legend(lang: Lang) -> str:
    entries = "".join(
        f'<li data-low="{low}" data-high="{high}"><span class="key {css}" aria-hidden="true"></span>'
        f"{esc(fmt_rate(lang, low, digits=0))}–{esc(fmt_rate(lang, high, digits=0))}</li>"
        for css, low, high in class_ranges()
    )
    entries += f'<li><span class="key nodata" aria-hidden="true"></span>{esc(t(lang, "no_data"))}</li>'
    return f'<div class="legend"><h3>{esc(t(lang, "legend"))}</h3><ul>{entries}</ul></div>'


def ranking(view: View, board: ViewResult) -> str:
    """The provinces sorted by the chosen indicator: the map's numbers as a table."""
    lang = view.lang
    kpi = BY_COLUMN[view.kpi]
    provinces = [r for r in board.rows if r["province"] != NATIONAL]
    ordered = sorted(provinces, key=lambda r: (r[kpi.column] is None, -(r[kpi.column] or 0), r["name"]))
    body = []
    for rank, row in enumerate(ordered, 1):
        value = row[kpi.column]
        width = 0 if value is None else round(value * 100, 1)
        code = row["province"]
        body.append(
            f'<tr data-row="{code}"><td class="num">{rank}</td>'
            f'<th scope="row"><a href="{view.link(f"/province/{code}", compare=None)}">'
            f"{esc(row['name'])}</a></th>"
            f'<td class="bar-cell"><span class="bar {colour_class(value)}" style="width:{width}%">'
            "</span></td>"
            f'<td class="num">{esc(fmt_rate(lang, value))}</td></tr>'
        )
    return (
        f'<table class="ranking"><caption>{esc(t(lang, "ranking"))}: {esc(kpi.label(lang))}</caption>'
        f'<thead><tr><th scope="col">#</th><th scope="col">{esc(t(lang, "province"))}</th>'
        f'<th scope="col"><span class="sr">{esc(kpi.label(lang))}</span></th>'
        f'<th scope="col" class="num">{esc(t(lang, "value"))}</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def trends(view: View, kpis: Sequence[Kpi], trend: Trend, *, path: str, place: str | None) -> str:
    """The trend cards for the nation and ``place`` (a province code), with the grain and province choice."""
    lang = view.lang
    catalog = load_catalog()
    province = catalog.province(place) if place else None
    cards = "".join(
        chart(
            lang,
            kpi,
            trend.periods,
            trend.of(NATIONAL, kpi.column),
            (province.short_name, trend.of(province.code, kpi.column)) if province else None,
            ident=f"trend-{kpi.column}",
        )
        for kpi in kpis
    )
    grains = "".join(
        f'<a data-swap data-key="grain-{g.value}" href="{view.link(path, grain=g)}"'
        f"{_CURRENT if trend.grain is g else ''}>{esc(t(lang, key))}</a>"
        for g, key in ((Grain.MONTH, "by_month"), (Grain.DAY, "by_day"))
    )
    chooser = ""
    if path == "/":
        options = f'<option value="">{esc(t(lang, "none"))}</option>' + "".join(
            f'<option value="{p.code}"{" selected" if p.code == place else ""}>{esc(p.short_name)}</option>'
            for p in sorted(catalog.provinces(), key=lambda p: p.short_name)
        )
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{esc(value)}">'
            for name, value in (
                ("lang", lang.value),
                ("kpi", view.kpi),
                ("grain", view.grain.value if view.grain else ""),
            )
            if value
        )
        chooser = (
            f'<form class="compare" method="get" action="/" data-swap-form>{hidden}'
            f'<label for="compare">{esc(t(lang, "trend_compare"))}</label>'
            f'<select id="compare" name="compare" data-key="compare">{options}</select>'
            f'<button type="submit">{esc(t(lang, "show"))}</button></form>'
        )
    return (
        '<section class="panel trends" aria-labelledby="trends-h"><div class="panel-head">'
        f'<h2 id="trends-h">{esc(t(lang, "trends"))}</h2>'
        f'<div class="controls">{chooser}'
        f'<nav class="seg" aria-label="{esc(t(lang, "period"))}">{grains}</nav>'
        f'</div></div><div class="trend-grid">{cards}</div></section>'
    )


def index_main(view: View, board: ViewResult, trend: Trend) -> str:
    """The ``<main>`` of ``/``."""
    lang = view.lang
    kpis = available(board.columns)
    nation = next((r for r in board.rows if r["province"] == NATIONAL), {})
    kpi = BY_COLUMN[view.kpi]
    return (
        f'<div class="headline"><h1>{esc(t(lang, "nation"))}</h1>{updated_line(lang)}</div>'
        f"{kpi_cards(view, kpis, nation)}"
        '<div class="split"><section class="panel map-panel" aria-labelledby="map-h">'
        f'<h2 id="map-h">{esc(t(lang, "map"))}: {esc(kpi.label(lang))}</h2>'
        f"{tile_map(view, kpis, board)}</section>"
        f'<section class="panel" aria-label="{esc(t(lang, "ranking"))}">'
        f"{ranking(view, board)}</section></div>"
        f"{trends(view, kpis, trend, path='/', place=view.compare)}"
    )
