"""The procedure catalog: one online service level per procedure, 2025 authorities, reachable calibration."""

from __future__ import annotations

import pytest

from bus.errors import ConfigError
from bus.events import OnlineLevel
from producers.simulate.procedures import (
    COMMUNE,
    NOT_ACCEPTED_RATE,
    _procedure,
    level_weights,
    load_procedures,
    online_propensity,
    postal_given_offline,
)
from producers.simulate.targets import load_targets

pytestmark = pytest.mark.unit


def test_the_catalog_loads_with_known_levels_and_authorities() -> None:
    catalog = load_procedures()
    everything = (*catalog.province, *catalog.ministry)
    assert len({p.number for p in everything}) == len(everything)
    assert {p.online_service for p in everything} == {OnlineLevel.FULL, OnlineLevel.PARTIAL, OnlineLevel.NONE}
    assert all(p.authority == "ministry" and p.unit.startswith("G") for p in catalog.ministry)
    by_number = {p.number: p for p in everything}
    assert by_number["1.002671"] in catalog.ministry  # driving licences: the police (G01) since 2025
    assert by_number["1.002671"].unit == by_number["1.010624"].unit == "G01"
    assert by_number["1.001695"].authority == by_number["1.000894"].authority == COMMUNE


@pytest.mark.parametrize("level", ["province", "ministry"])
def test_every_target_row_is_reachable_by_the_catalog(level: str) -> None:
    catalog = load_procedures()
    procedures = catalog.province if level == "province" else catalog.ministry
    table = load_targets()
    rows = list(table.provinces.values()) if level == "province" else [table.ministries]
    weights = level_weights(procedures)
    for row in rows:
        propensity = online_propensity(procedures, row.online_share, row.full_process_share, row.key)
        assert 0 < propensity[OnlineLevel.FULL] <= 1
        assert 0 < propensity[OnlineLevel.PARTIAL] <= 1
        assert propensity[OnlineLevel.NONE] == 0
        online = sum(weights[level] * propensity[level] for level in weights)
        full = weights[OnlineLevel.FULL] * propensity[OnlineLevel.FULL]
        postal = (1 - online) * postal_given_offline(row.online_share, row.postal_share)
        received = 1 - online * NOT_ACCEPTED_RATE  # of the dossiers drawn; counter and postal always are
        # the targets are KPIs: shares of the received dossiers, the not-accepted online ones left out
        assert online * (1 - NOT_ACCEPTED_RATE) / received == pytest.approx(row.online_share)
        assert full * (1 - NOT_ACCEPTED_RATE) / received == pytest.approx(row.full_process_share)
        assert postal / received == pytest.approx(row.postal_share)


def test_a_target_the_catalog_cannot_reach_is_a_config_error() -> None:
    procedures = load_procedures().province
    with pytest.raises(ConfigError, match="online at level FULL"):
        online_propensity(procedures, 0.99, 0.99, "test row")


@pytest.mark.parametrize(
    "change",
    [{"online_service": "SOMETIMES"}, {"authority": "district"}, {"unit": COMMUNE}, {"days": "ten"}],
)
def test_a_malformed_row_is_a_config_error(change: dict[str, object]) -> None:
    row: dict[str, object] = {
        "number": "1.000001",
        "name": "x",
        "sector_code": "X",
        "sector_name": "X",
        "unit": "03",
        "authority": "department",
        "online_service": "FULL",
        "days": 5,
        "weight": 1,
        "business_share": 0.1,
        "has_fee": True,
        "financial_obligation": 0.0,
    }
    _procedure(row)
    with pytest.raises(ConfigError):
        _procedure(row | change)
