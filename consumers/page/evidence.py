"""The list of entities behind one number, each with the id of the event that set its state, linked to the
signed records that made it (``GET /v1/views/{view}/{key}/evidence``: Kafka coordinates, signer key ids)."""

from __future__ import annotations

from typing import Any

from consumers.page.render import View, esc, updated_line
from consumers.page.text import Lang, fmt_int, t


def evidence_main(
    view: View, source: str, filters: dict[str, str], total: int, rows: list[dict[str, Any]]
) -> str:
    lang = view.lang
    what = ", ".join(f"{name} = {value}" for name, value in filters.items()) or source
    body = "".join(
        f'<tr><th scope="row"><span class="code">{esc(row["key"])}</span></th>'
        f'<td><a class="code" href="{esc(row["evidence"])}">{esc(row["event_id"] or "—")}</a></td>'
        f'<td><time datetime="{esc(row["at"] or "")}">{esc(_when(row["at"]))}</time></td></tr>'
        for row in rows
    )
    heads = (
        ("Thực thể", "Entity"),
        ("Mã sự kiện (bằng chứng)", "Event id (evidence)"),
        ("Thời điểm (UTC)", "Time (UTC)"),
    )
    cells = "".join(f'<th scope="col">{esc(vi if lang is Lang.VI else en)}</th>' for vi, en in heads)
    shown = f"{fmt_int(lang, len(rows))} {t(lang, 'of')} {fmt_int(lang, total)} {t(lang, 'events')}"
    return (
        f'<p class="crumbs"><a href="{view.link("/")}">{esc(t(lang, "back"))}</a></p>'
        f'<div class="headline"><h1>{esc(t(lang, "evidence_of", what=f"{source}: {what}"))}</h1>'
        f"{updated_line(lang)}</div><p>{esc(shown)}</p>"
        '<section class="panel"><div class="scroll"><table class="data-table">'
        f"<thead><tr>{cells}</tr></thead>"
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _when(at: str | None) -> str:
    return (at or "—")[:19].replace("T", " ")
