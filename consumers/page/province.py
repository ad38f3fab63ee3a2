"""A province's page: its indicators against the nation, their trends, its agencies, dossiers and reports.

Every count links to the events behind it (``/evidence?view=…``), and from there each entity to the signed
records that made it (``GET /v1/views/{view}/{key}/evidence``); the province's own records are linked beside
its totals (``GET /v1/views/scoreboard/{code}/evidence``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from bus.agencies import Province
from bus.metrics import NATIONAL
from consumers.base import ViewResult
from consumers.evidence import SCOREBOARD, evidence_href
from consumers.page.data import Trend
from consumers.page.drill import AgencyRow, Obligations
from consumers.page.kpis import Kpi, available, colour_class
from consumers.page.render import View, esc, kpi_cards, trends, updated_line
from consumers.page.text import Lang, fmt_int, fmt_rate, status_text, t

PROCEDURES_SHOWN = 12


def evidence_link(view: View, count: int, source: str, **filters: str) -> str:
    """``count`` as a link to the events behind it."""
    query = urlencode({"view": source, **filters, **({"lang": "en"} if view.lang is Lang.EN else {})})
    return f'<a class="ev" href="/evidence?{esc(query)}">{esc(fmt_int(view.lang, count))}</a>'


def _count(view: View, count: int, source: str, css: str = "", **filters: str) -> str:
    """A table cell with ``count`` linked to its evidence (a plain 0: there is nothing behind it)."""
    inner = evidence_link(view, count, source, **filters) if count else "0"
    return f'<td class="num {css}">{inner}</td>'


def _rate(lang: Lang, value: float | None) -> str:
    return (
        f'<td class="num"><span class="pill {colour_class(value)}">{esc(fmt_rate(lang, value))}</span></td>'
    )


def _agencies(view: View, rows: Sequence[AgencyRow]) -> str:
    lang = view.lang
    if not rows:
        return f"<p>{esc(t(lang, 'no_rows'))}</p>"
    body = []
    for row in rows:
        name = row.name or t(lang, "unit_other")
        merged = (
            f'<span class="sub">{esc(t(lang, "merged_from"))} {esc(row.merged_from)}</span>'
            if row.merged_from
            else ""
        )
        docs, doss = row.documents, row.dossiers
        body.append(
            f'<tr><th scope="row">{esc(name)}<span class="code">{esc(row.code)}</span>{merged}</th>'
            + _count(view, int(docs.get("sent", 0)), "documents", agency=row.code)
            + _rate(lang, docs.get("electronic_rate"))
            + _count(view, int(doss.get("received", 0)), "dossiers", agency=row.code)
            + f"{_rate(lang, doss.get('online_rate'))}{_rate(lang, doss.get('on_time_rate'))}</tr>"
        )
    heads = (
        "agency",
        "documents_sent",
        "electronic_rate",
        "dossiers_received",
        "online_rate",
        "on_time_rate",
    )
    return _table(lang, heads, "".join(body), t(lang, "agencies"))


_HEADS = {
    "electronic_rate": ("Tỷ lệ điện tử", "Electronic"),
    "online_rate": ("Trực tuyến", "Online"),
    "on_time_rate": ("Đúng hạn", "On time"),
    "owed": ("Phải nộp", "Owed"),
}
"""Column headings used only in these tables."""


def _head(lang: Lang, key: str) -> str:
    if key in _HEADS:
        return _HEADS[key][0] if lang is Lang.VI else _HEADS[key][1]
    return t(lang, key)


def _table(lang: Lang, heads: Sequence[str], body: str, caption: str) -> str:
    cells = "".join(
        f'<th scope="col" class="{"num" if i else "text"}">{esc(_head(lang, h))}</th>'
        for i, h in enumerate(heads)
    )
    return (
        f'<div class="scroll"><table class="data-table"><caption class="sr">{esc(caption)}</caption>'
        f"<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _statuses(view: View, province: str, counts: dict[str, int]) -> str:
    lang = view.lang
    total = sum(counts.values())
    if not total:
        return f"<p>{esc(t(lang, 'no_rows'))}</p>"
    items = []
    for status, count in sorted(counts.items(), key=lambda item: -item[1]):
        share = count / total
        link = evidence_link(view, count, "dossiers", province=province, status=status)
        items.append(
            f'<li><span class="st-name">{esc(status_text(lang, status))}</span>'
            f'<span class="st-bar"><span style="width:{share * 100:.1f}%"></span></span>'
            f'<span class="st-count">{link} <span class="sub">({esc(fmt_rate(lang, share))})</span>'
            "</span></li>"
        )
    return f'<ul class="statuses">{"".join(items)}</ul>'


def _procedures(view: View, province: str, rows: Sequence[dict[str, Any]]) -> str:
    lang = view.lang
    if not rows:
        return f"<p>{esc(t(lang, 'no_rows'))}</p>"
    body = "".join(
        f'<tr><th scope="row"><span class="code">{esc(row["procedure_code"])}</span></th>'
        + _count(
            view, int(row["received"]), "dossiers", province=province, procedure_code=row["procedure_code"]
        )
        + f"{_rate(lang, row.get('online_rate'))}{_rate(lang, row.get('on_time_rate'))}</tr>"
        for row in rows[:PROCEDURES_SHOWN]
    )
    note = t(lang, "top_note", shown=str(min(PROCEDURES_SHOWN, len(rows))), total=str(len(rows)))
    table = _table(lang, ("procedure", "dossiers_received", "online_rate", "on_time_rate"), body, note)
    return f'{table}<p class="note">{esc(note)}</p>'


def _reports(view: View, province: str, rows: Sequence[Obligations]) -> str:
    lang = view.lang
    if not rows:
        return f"<p>{esc(t(lang, 'no_rows'))}</p>"
    body = "".join(
        f'<tr><th scope="row">{esc(o.name)}<span class="code">{esc(o.report_code)}</span></th>'
        f'<td class="num">{esc(fmt_int(lang, o.owed))}</td>'
        + _count(view, o.on_time, "reports", "ok", province=province, report_code=o.report_code, on_time="1")
        + _count(view, o.late, "reports", "warn", province=province, report_code=o.report_code, on_time="0")
        + f'<td class="num{" bad" if o.missing else ""}">{esc(fmt_int(lang, o.missing))}</td>'
        f'<td class="num">{esc(fmt_int(lang, o.due_later))}</td></tr>'
        for o in rows
    )
    heads = ("report", "owed", "filed_on_time", "filed_late", "missing", "due_later")
    return _table(lang, heads, body, t(lang, "reports"))


def _panel(ident: str, title: str, body: str) -> str:
    return (
        f'<section class="panel" aria-labelledby="{ident}"><h2 id="{ident}">{esc(title)}</h2>{body}</section>'
    )


def province_main(
    view: View,
    province: Province,
    board: ViewResult,
    trend: Trend,
    *,
    agencies: Sequence[AgencyRow],
    statuses: dict[str, int],
    procedures: Sequence[dict[str, Any]],
    obligations: Sequence[Obligations],
) -> str:
    """The ``<main>`` of ``/province/{code}``."""
    lang = view.lang
    kpis: list[Kpi] = available(board.columns)
    row = next((r for r in board.rows if r["province"] == province.code), {})
    nation = next((r for r in board.rows if r["province"] == NATIONAL), {})
    merged = ", ".join(province.merged_from)
    path = f"/province/{province.code}"
    code = province.code
    documents = evidence_link(view, int(row.get("documents_sent") or 0), "documents", province=code)
    dossiers = evidence_link(view, int(row.get("dossiers_received") or 0), "dossiers", province=code)
    signed = evidence_href(SCOREBOARD, code)
    totals = (
        f'<p class="totals">{esc(t(lang, "documents_sent"))}: {documents} · '
        f"{esc(t(lang, 'dossiers_received'))}: {dossiers} · "
        f'<a class="ev" href="{esc(signed)}">{esc(t(lang, "signed_records"))}</a></p>'
    )
    return (
        f'<p class="crumbs"><a href="{view.link("/")}">{esc(t(lang, "back"))}</a></p>'
        f'<div class="headline"><h1>{esc(province.name)} <span class="code">{esc(code)}</span></h1>'
        f"{updated_line(lang)}</div>"
        f'<p class="merged">{esc(t(lang, "merged_from"))}: {esc(merged)}</p>{totals}'
        f"{kpi_cards(view, kpis, row, nation=nation)}"
        f"{trends(view, kpis, trend, path=path, place=code)}"
        '<div class="split">'
        f"{_panel('ag-h', t(lang, 'agencies'), _agencies(view, agencies))}"
        f"{_panel('st-h', t(lang, 'dossiers_by_status'), _statuses(view, code, statuses))}</div>"
        '<div class="split">'
        f"{_panel('pr-h', t(lang, 'dossiers_by_procedure'), _procedures(view, code, procedures))}"
        f"{_panel('re-h', t(lang, 'reports'), _reports(view, code, obligations))}</div>"
    )
