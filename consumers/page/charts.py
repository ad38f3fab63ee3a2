"""Small-multiple trend charts as inline SVG (no script, no library): one per KPI, nation and one province.

Each chart is an image with a text alternative (its ``<title>`` and ``<desc>``) and, behind a disclosure, the
same numbers as a table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Final

from consumers.page.kpis import Kpi
from consumers.page.text import Lang, fmt_day, fmt_rate, fmt_short_period, t

WIDTH: Final = 300
HEIGHT: Final = 132
_LEFT, _RIGHT, _TOP, _BOTTOM = 38, 10, 10, 24
NATION_CLASS: Final = "s-nation"
PROVINCE_CLASS: Final = "s-province"


def _x(index: int, count: int) -> float:
    span = WIDTH - _LEFT - _RIGHT
    return _LEFT + (span / 2 if count <= 1 else span * index / (count - 1))


def _y(value: float) -> float:
    return _TOP + (1 - max(0.0, min(1.0, value))) * (HEIGHT - _TOP - _BOTTOM)


def _line(values: Sequence[float | None], css: str) -> str:
    """A polyline broken where a value is missing, and a dot on every point."""
    parts: list[str] = []
    dots: list[str] = []
    pen_down = False
    for index, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        x, y = _x(index, len(values)), _y(value)
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
        if len(values) <= 31 or index == len(values) - 1:
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.4"/>')
    path = f'<path d="{" ".join(parts)}"/>' if parts else ""
    return f'<g class="{css}">{path}{"".join(dots)}</g>'


def _axes(lang: Lang, periods: Sequence[str]) -> str:
    out = []
    for level in (0.0, 0.5, 1.0):
        y = _y(level)
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = html.escape(fmt_rate(lang, level, digits=0))
        out.append(f'<text class="axis" x="{_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{label}</text>')
    if periods:
        shown = sorted({0, len(periods) // 2, len(periods) - 1})
        for index in shown:
            anchor = (
                "start"
                if index == 0 and len(periods) > 1
                else "end"
                if index == len(periods) - 1
                else "middle"
            )
            if len(periods) == 1:
                anchor = "middle"
            label = html.escape(fmt_short_period(lang, periods[index]))
            out.append(
                f'<text class="axis" x="{_x(index, len(periods)):.1f}" y="{HEIGHT - 6}" '
                f'text-anchor="{anchor}">{label}</text>'
            )
    return "".join(out)


def chart(
    lang: Lang,
    kpi: Kpi,
    periods: Sequence[str],
    nation: Sequence[float | None],
    province: tuple[str, Sequence[float | None]] | None,
    *,
    ident: str,
) -> str:
    """One KPI's card: heading, the latest values, the SVG, and the data table."""
    nation_name = t(lang, "nation")
    series = [(nation_name, nation, NATION_CLASS)]
    if province is not None:
        series.append((province[0], province[1], PROVINCE_CLASS))
    names = ", ".join(name for name, _, _ in series)
    first = fmt_day(lang, periods[0]) if periods else "—"
    last = fmt_day(lang, periods[-1]) if periods else "—"
    label = t(lang, "chart_label", kpi=kpi.label(lang), series=names, first=first, last=last)
    latest = "".join(
        f'<span class="latest {css}"><span class="swatch" aria-hidden="true"></span>'
        f"{html.escape(name)} <b>{html.escape(fmt_rate(lang, _last(values)))}</b></span>"
        for name, values, css in series
    )
    if all(value is None for _, values, _ in series for value in values):
        return (
            f'<figure class="trend-card empty" data-kpi="{kpi.column}"><figcaption><span class="trend-name">'
            f"{html.escape(kpi.label(lang))}</span></figcaption>"
            f'<p class="note">{html.escape(t(lang, "no_values"))}</p></figure>'
        )
    lines = "".join(_line(values, css) for _, values, css in series)
    svg = (
        f'<svg class="spark" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{html.escape(kpi.label(lang))}</title>'
        f'<desc id="{ident}-d">{html.escape(label)}</desc>{_axes(lang, periods)}{lines}</svg>'
    )
    return (
        f'<figure class="trend-card" data-kpi="{kpi.column}"><figcaption><span class="trend-name">'
        f"{html.escape(kpi.label(lang))}</span>{latest}</figcaption>{svg}"
        f"{_table(lang, kpi, periods, series)}</figure>"
    )


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def _table(
    lang: Lang, kpi: Kpi, periods: Sequence[str], series: list[tuple[str, Sequence[float | None], str]]
) -> str:
    head = "".join(f'<th scope="col">{html.escape(name)}</th>' for name, _, _ in series)
    rows = "".join(
        f'<tr><th scope="row">{html.escape(fmt_day(lang, period))}</th>'
        + "".join(f"<td>{html.escape(fmt_rate(lang, values[i]))}</td>" for _, values, _ in series)
        + "</tr>"
        for i, period in enumerate(periods)
    )
    return (
        f'<details class="data"><summary>{html.escape(t(lang, "data_table"))}</summary>'
        f'<table><caption class="sr">{html.escape(kpi.label(lang))}</caption><thead><tr>'
        f'<th scope="col">{html.escape(t(lang, "period"))}</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        "</details>"
    )
