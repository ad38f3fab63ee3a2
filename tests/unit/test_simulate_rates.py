"""Over 120k events the simulator's output recovers its configured rates, within sampling error.

Rates are measured from the events alone (:func:`producers.simulate.observe.observe`, which keeps only
dossiers and reports whose whole life fits in the run) and compared with ``province_targets.csv``:

* per province (and for the ministries), each rate with enough data: ``|z| < 4.5`` where
  ``z = (x - n p) / sqrt(n p (1 - p))``. P(|Z| > 4.5) is 6.8e-6, so over the ~300 cells the chance that a
  correct simulator fails is about 0.2 %;
* per rate, over all cells: the sum of ``z**2`` below the 1 - 1e-4 quantile of chi-square with one degree of
  freedom per cell (Wilson-Hilferty). This catches a simulator that gets each province a little wrong, or
  mixes provinces up, which single cells are too small to show;
* per rate, pooled over every province: ``|z| < 4.5`` with ``z = (sum x - sum n p) / sqrt(sum n p (1 - p))``,
  which covers the report rates whose per-province counts are small.

Cells need ``n p (1 - p) >= 5`` for the normal approximation; the pooled test uses every cell.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import datetime

import pytest

from bus.consumer.types import Batch, Partition
from bus.events.record import EventRecord, record_of
from bus.reporting import VIETNAM
from bus.settings import Settings
from bus.topics import topic_for
from bus.types import ProvinceCode
from consumers.base import Grain, Level, ViewQuery
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from producers.simulate.observe import Observed, Proportion, observe
from producers.simulate.targets import MINISTRIES_KEY, TargetTable, load_targets

pytestmark = pytest.mark.unit

N_EVENTS = 120_000
CONFIG = SimulationConfig(seed=20250701, scale=0.001)
"""Scale 0.001: 120k events span about 13 simulated months, so dossiers of ~10 months have complete lives."""
Z_LIMIT = 4.5
CHI2_TAIL_Z = 3.719
"""Standard normal quantile for a one-sided 1e-4 tail."""
MIN_VARIANCE = 5.0
MIN_CELLS = {
    "electronic_rate": 20,
    "signed_rate": 20,
    "online_share": 20,
    "full_process_share": 20,
    "digitised_rate": 20,
    "dual_form_share": 5,
    "on_time_rate": 5,
}
"""How many provinces must have enough data for the per-province test not to be vacuous (report rates and
the postal share are too rare per province at this size: the pooled test covers them)."""
RATES = (
    "electronic_rate",
    "dual_form_share",
    "signed_rate",
    "online_share",
    "full_process_share",
    "postal_share",
    "digitised_rate",
    "on_time_rate",
    "report_late_rate",
    "report_revised_rate",
)


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return Simulation(CONFIG)


@pytest.fixture(scope="module")
def observed(simulation: Simulation) -> Observed:
    # streamed: observe() keeps only what it needs, not 120k events
    return observe(emission.event for emission in itertools.islice(simulation, N_EVENTS))


def _target(targets: TargetTable, key: str, rate: str) -> float:
    row = targets.of(None if key == MINISTRIES_KEY else ProvinceCode(key))
    value: float = getattr(row, rate)
    return value


def _cells(observed: Observed, rate: str) -> list[tuple[str, Proportion, float]]:
    targets = load_targets()
    return [
        (key, rates[rate], _target(targets, key, rate))
        for key, rates in sorted(observed.rates.items())
        if rate in rates
    ]


def _z(successes: float, expected: float, variance: float) -> float:
    return (successes - expected) / math.sqrt(variance)


def chi2_quantile(degrees: int, z: float = CHI2_TAIL_Z) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile whose normal equivalent is ``z``."""
    k = float(degrees)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def test_the_sample_is_big_enough_to_test(observed: Observed) -> None:
    assert observed.dossier_window is not None
    start, end = observed.dossier_window
    assert (end - start).days >= 180
    assert len(observed.rates) == 35  # 34 provinces + the ministries
    for rate in RATES:
        assert sum(cell.trials for _, cell, _ in _cells(observed, rate)) >= 300, rate


@pytest.mark.parametrize("rate", RATES)
def test_each_province_recovers_its_rate(observed: Observed, rate: str) -> None:
    tested = 0
    for key, cell, p in _cells(observed, rate):
        variance = cell.trials * p * (1 - p)
        if variance < MIN_VARIANCE:
            continue
        tested += 1
        z = _z(cell.successes, cell.trials * p, variance)
        assert abs(z) < Z_LIMIT, (
            f"{rate} of {key}: {cell.successes}/{cell.trials} = {cell.rate:.4f}, target {p}"
        )
    assert tested >= MIN_CELLS.get(rate, 0), f"only {tested} provinces had enough data for {rate}"


@pytest.mark.parametrize("rate", RATES)
def test_provinces_together_fit_their_targets(observed: Observed, rate: str) -> None:
    squares = [
        _z(cell.successes, cell.trials * p, cell.trials * p * (1 - p)) ** 2
        for _, cell, p in _cells(observed, rate)
        if cell.trials * p * (1 - p) >= MIN_VARIANCE
    ]
    if squares:
        assert sum(squares) < chi2_quantile(len(squares)), (
            f"{rate}: chi2 {sum(squares):.1f} over {len(squares)}"
        )
    cells = _cells(observed, rate)
    successes = sum(cell.successes for _, cell, _ in cells)
    expected = sum(cell.trials * p for _, cell, p in cells)
    variance = sum(cell.trials * p * (1 - p) for _, cell, p in cells)
    assert abs(_z(successes, expected, variance)) < Z_LIMIT, f"{rate}: {successes} vs {expected:.1f} expected"


def test_published_figures_come_back(observed: Observed) -> None:
    """The seeds' figures, read back with their own sampling error."""
    an_giang = observed.rates["91"]["electronic_rate"]
    assert abs(an_giang.rate - 0.97) < Z_LIMIT * math.sqrt(0.97 * 0.03 / an_giang.trials)
    ministries = observed.rates[MINISTRIES_KEY]["digitised_rate"]
    assert abs(ministries.rate - 0.6098) < Z_LIMIT * math.sqrt(0.6098 * 0.3902 / ministries.trials)


def test_rates_differ_between_provinces_as_the_targets_do(observed: Observed) -> None:
    """Not one national rate everywhere: An Giang's 97% is far above the lowest province's electronic rate."""
    targets = load_targets()
    lowest = min(targets.provinces.values(), key=lambda row: row.electronic_rate)
    low = observed.rates[lowest.key]["electronic_rate"]
    high = observed.rates["91"]["electronic_rate"]
    spread = Z_LIMIT * math.sqrt(
        low.rate * (1 - low.rate) / low.trials + high.rate * (1 - high.rate) / high.trials
    )
    assert high.rate - low.rate > spread


def test_ground_truth_counts_what_was_emitted(simulation: Simulation, observed: Observed) -> None:
    truth = simulation.truth
    assert truth.emitted == N_EVENTS == sum(truth.by_type.values())
    for key, rates in observed.rates.items():
        counted = truth.outcomes[key]
        electronic = rates["electronic_rate"]
        sent_electronically = counted["electronic_only"] + counted["electronic_and_paper"]
        assert (sent_electronically, counted["documents"]) == (electronic.successes, electronic.trials)


def test_missed_filings_come_back_as_the_views_completeness() -> None:
    """A missed filing leaves no event, so the observer cannot see ``report_missed_rate``: the views' report
    completeness over a simulated year, pooled over every province and the ministries, must be within sampling
    error of 1 - each row's missed rate. Report volume does not depend on the scale, so a tiny scale keeps
    this fast; the run ends more than the longest late filing (25 days) after the last deadline it counts."""
    start = datetime(2025, 7, 1, tzinfo=VIETNAM)
    until = datetime(2026, 7, 28, tzinfo=VIETNAM)
    emissions = itertools.takewhile(
        lambda e: e.event.meta.occurred_at < until,
        Simulation(SimulationConfig(seed=20250702, start=start, scale=0.00005)),
    )
    by_topic: dict[str, list[EventRecord]] = {}
    for emission in emissions:
        if emission.kind is not EmissionKind.INVALID:
            by_topic.setdefault(topic_for(emission.event), []).append(record_of(emission.event))
    views = ViewSet(SqliteStore(":memory:"), build_views(Settings()))
    try:
        asyncio.run(views.apply(Batch(by_topic, {Partition("lgsp.reports", 0): 1})))
        rows = views.query("reports", ViewQuery(level=Level.PROVINCE, grain=Grain.ALL)).rows
    finally:
        views.close()
    targets = load_targets()
    filed = expected = mean = variance = 0.0
    for row in rows:
        p = 1 - targets.of(ProvinceCode(row["province"]) if row["province"] else None).report_missed_rate
        filed += row["filed"]
        expected += row["expected"]
        mean += row["expected"] * p
        variance += row["expected"] * p * (1 - p)
    assert expected >= 1500  # a year of monthly, quarterly, half-year and year reports of 34 + ministries
    assert filed < expected  # some never filed
    assert abs(_z(filed, mean, variance)) < Z_LIMIT, f"{filed} of {expected} filed, {mean:.1f} expected"
