"""The calibration file: every province of the catalog, the seeds' published figures, sane rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.agencies import load_catalog
from bus.errors import ConfigError
from bus.types import ProvinceCode
from producers.simulate.obligations import load_obligations
from producers.simulate.targets import MINISTRIES_KEY, default_targets_path, load_targets

pytestmark = pytest.mark.unit


def weighted_mean(field: str) -> float:
    rows = list(load_targets().provinces.values())
    # the file weights provinces by population, which its dossier volumes are proportional to
    total = sum(row.dossiers_per_day for row in rows)
    weighted: float = sum(getattr(row, field) * row.dossiers_per_day for row in rows)
    return weighted / total


def test_every_catalog_province_has_a_row() -> None:
    targets = load_targets()
    assert set(targets.provinces) == {p.code for p in load_catalog().provinces()}
    assert targets.ministries.key == MINISTRIES_KEY


def test_the_seeds_figures_are_in_the_file() -> None:
    targets = load_targets()
    assert targets.provinces[ProvinceCode("91")].electronic_rate == 0.97  # An Giang, 2020
    assert targets.ministries.digitised_rate == 0.6098  # ministries, to 2024-12-10
    assert weighted_mean("electronic_rate") == pytest.approx(0.865, abs=0.002)  # nationally
    assert weighted_mean("full_process_share") == pytest.approx(0.45, abs=0.002)  # 2024
    assert weighted_mean("digitised_rate") == pytest.approx(0.6706, abs=0.002)  # localities
    assert min(row.on_time_rate for row in targets) >= 0.9


def test_the_header_names_its_sources_and_rows_say_which_values_are_illustrative() -> None:
    text = default_targets_path().read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for source in ("AG-2020", "KG-2020", "AG-2025", "86.5%", "67.06%", "60.98%", "ILLUSTRATIVE"):
        assert source in header
    assert all("illustrative" in row.provenance for row in load_targets())


def test_documents_dominate_the_volumes() -> None:
    targets = list(load_targets())
    assert sum(r.documents_per_day for r in targets) > sum(r.dossiers_per_day for r in targets)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("01,Hà Nội,1,1,1.5,0.5,0.9,0.5,0.4,0.05,0.6,0.9,0.5,0.05,0.05,0.05,x", "not a rate"),
        ("01,Hà Nội,1,1,0.9,0.5,0.9,0.5,0.6,0.05,0.6,0.9,0.5,0.05,0.05,0.05,x", "full_process_share"),
        ("01,Hà Nội,1,1,abc,0.5,0.9,0.5,0.4,0.05,0.6,0.9,0.5,0.05,0.05,0.05,x", "not a number"),
    ],
)
def test_malformed_rows_are_config_errors(tmp_path: Path, line: str, message: str) -> None:
    lines = default_targets_path().read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("key,"))
    path = tmp_path / "targets.csv"
    ministries = "ministries,M,1,1,0.9,0.5,0.9,0.5,0.4,0.05,0.6,0.9,0.5,0.05,0.05,0.05,x"
    path.write_text(f"# test\n{header}\n{line}\n{ministries}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_targets(path)


def test_report_obligations_come_from_the_contracts_catalog() -> None:
    obligations = load_obligations()
    assert obligations
    assert all(o.indicators and o.period_types and o.owed_by for o in obligations)
