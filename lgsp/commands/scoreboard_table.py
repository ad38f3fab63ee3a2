"""The scoreboard for a terminal: one line per province in 100 columns (``--wide``: every column).

Short headers, explained once under the table; province names in their short form, never wrapped.
"""

from __future__ import annotations

from typing import Any, Final

from rich import box
from rich.table import Table

from bus.agencies import load_catalog
from bus.metrics import NATIONAL
from consumers.base import ViewResult

WIDTH: Final = 100
"""The terminal width the narrow table fits."""
NARROW: Final = (
    # (scoreboard column, short header, what it means)
    ("province", "#", "province code"),
    ("name", "province", ""),
    ("documents_sent", "docs", "documents sent"),
    ("electronic_rate", "e-doc", "sent electronically"),
    ("dossiers_received", "dossiers", "dossiers received"),
    ("online_rate", "online", "submitted online"),
    ("full_online_rate", "full", "full-process online"),
    ("on_time_rate", "on time", "resolved on time"),
    ("digitised_rate", "digit.", "digitised"),
    ("report_completeness", "reports", "reports filed / owed"),
    ("report_on_time_rate", "rep.ot", "reports filed on time"),
)
_NATION_NAME: Final = "Cả nước"


def _short_name(row: dict[str, Any]) -> str:
    code = str(row.get("province", ""))
    if code == NATIONAL:
        return _NATION_NAME
    catalog = load_catalog()
    return catalog.province(code).short_name if catalog.is_province(code) else str(row.get("name", code))


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value * 100:.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def narrow_table(result: ViewResult) -> Table:
    """The key columns of the scoreboard under short headers, for ``result`` rows (nation last)."""
    columns = [(c, header, meaning) for c, header, meaning in NARROW if c in result.columns]
    period = result.meta.get("period") or "all periods"
    legend = " · ".join(f"{header}: {meaning}" for _, header, meaning in columns if meaning)
    table = Table(
        title=f"scoreboard ({period})",
        caption=f"{legend}\nrates in %; `lgsp views show scoreboard --wide` shows every column",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption_justify="left",
    )
    for column, header, _ in columns:
        text = column in ("province", "name")
        table.add_column(header, justify="left" if text else "right", no_wrap=True)
    for row in result.rows:
        cells = [_short_name(row) if c == "name" else _cell(c, row.get(c)) for c, _, _ in columns]
        table.add_row(*cells, style="bold" if row.get("province") == NATIONAL else None)
    return table
