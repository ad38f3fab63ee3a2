"""The terminal scoreboard fits 100 columns, one line per province, and ``--wide`` shows every column."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bus.agencies import load_catalog
from consumers.base import ViewResult
from consumers.scoreboard import COLUMNS
from lgsp.cli import app
from lgsp.commands.scoreboard_table import WIDTH, narrow_table
from tests import views_samples as s
from tests.page_samples import fill_store

pytestmark = pytest.mark.unit


def widest_rows() -> ViewResult:
    """Every province and the nation with the widest values a column can hold."""
    rows = []
    for province in [*load_catalog().provinces(), None]:
        row: dict[str, object] = {
            c: 1.0 if c.endswith(("_rate", "completeness")) else 99_999_999 for c in COLUMNS
        }
        row["province"] = province.code if province else "00"
        row["name"] = province.name if province else "Cả nước (nation)"
        rows.append(row)
    return ViewResult("scoreboard", COLUMNS, rows, {"period": "2025-07"})


def test_fits_100_columns_one_line_per_province() -> None:
    out = io.StringIO()
    Console(file=out, width=WIDTH, color_system=None).print(narrow_table(widest_rows()))
    lines = out.getvalue().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= WIDTH
    for province in load_catalog().provinces():
        found = [line for line in lines if f" {province.code}  {province.short_name} " in line]
        assert len(found) == 1, (province.short_name, found)
        assert "100.0%" in found[0]
        assert "99,999,999" in found[0]


def test_views_show_scoreboard_narrow_and_wide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "views.db"
    fill_store(db, [s.sent(1, sender=s.HCMC), s.dossier(s.code(1), 1)])
    monkeypatch.setenv("LGSP_STORE__URL", f"sqlite:///{db}")
    runner = CliRunner()
    narrow = runner.invoke(app, ["views", "show", "scoreboard"])
    assert narrow.exit_code == 0, narrow.output
    assert max(len(line.rstrip()) for line in narrow.output.splitlines()) <= WIDTH
    assert " Hồ Chí Minh " in narrow.output
    assert "--wide" in narrow.output
    wide = runner.invoke(app, ["views", "show", "scoreboard", "--wide"])
    assert wide.exit_code == 0, wide.output
    for word in ("only", "expected", "due"):  # headers of columns the narrow table leaves out
        assert word in wide.output
        assert word not in narrow.output
