"""National KPIs of one seeded multi-month simulation next to the calibration targets they should match.

    .venv/bin/python -m bench.kpi_calibration [--seed 7] [--start 2025-07-01] [--until 2026-07-28]
        [--scale 0.01] [--out bench/results/kpi-calibration.md]

The simulated events (invalid ones left out) go straight into the views, in batches as the runner applies
them (in-memory store, no broker); the scoreboard is read at the views' default as-of (the latest event
time applied). It checks the views' numbers, not the simulator's own observer
(``tests/unit/test_simulate_rates.py`` does that):

* the nation row beside its target: each province's (and the ministries') target of
  ``producers/data/province_targets.csv`` weighted by that row's measured denominator, and the seeds'
  published figures (An Giang's electronic rate 97%, the nation's 86.5%, full-process 45%, digitisation
  67.06% in localities / 60.98% in ministries);
* every province (and the ministries' row) within sampling error of its target: the two-sided p-value of
  its count given the target (normal where ``n p (1 - p) >= 5``, else exact binomial), and how many cells
  are within 2 σ and 3 σ (a calibrated simulator: about 95.4% and 99.7% of them).

The report rates are read where no late filing can still be pending: the default ``--until`` is more than the
simulator's longest delay of a late filing (25 days) after the last deadline before it (20 July 2026), so a
completeness below the target means a missed filing, not one still to come.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from bus.consumer.types import Batch, Partition
from bus.events import Event
from bus.events.record import EventRecord, record_of
from bus.metrics import NATIONAL
from bus.reporting import VIETNAM
from bus.settings import Settings
from bus.topics import topic_for
from bus.types import ProvinceCode
from consumers import documents, dossiers
from consumers.base import Grain, Level, ViewQuery
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from producers.simulate.targets import MINISTRIES_KEY, Targets, TargetTable, load_targets

BATCH = 20_000
CENTRAL = ""
"""The views' province key of ministries and central bodies (they count in the nation only)."""
MIN_VARIANCE = 5.0
TWO_SIGMA = math.erfc(2 / math.sqrt(2))
THREE_SIGMA = math.erfc(3 / math.sqrt(2))


@dataclass(frozen=True)
class Kpi:
    """A scoreboard rate: its successes and trials from a row's counts, and its target from a targets row."""

    column: str
    counts: Callable[[dict[str, int]], tuple[int, int]]
    target: Callable[[Targets], float]


KPIS = (
    Kpi("electronic_rate", lambda c: (c["sent_electronic"], c["sent"]), lambda t: t.electronic_rate),
    Kpi(
        "electronic_only_rate",
        lambda c: (c["sent_electronic_only"], c["sent"]),
        lambda t: t.electronic_rate * (1 - t.dual_form_share),
    ),
    Kpi("online_rate", lambda c: (c["channel_online"], c["received"]), lambda t: t.online_share),
    Kpi("full_online_rate", lambda c: (c["full_online"], c["received"]), lambda t: t.full_process_share),
    Kpi(
        "on_time_rate",
        lambda c: (c["resolved_on_time"], c["resolved"] - c["resolved_without_due"]),
        lambda t: t.on_time_rate,
    ),
    Kpi("digitised_rate", lambda c: (c["digitised"], c["received"]), lambda t: t.digitised_rate),
    Kpi("report_completeness", lambda c: (c["filed"], c["expected"]), lambda t: 1 - t.report_missed_rate),
    Kpi("report_on_time_rate", lambda c: (c["filed_on_time"], c["filed"]), lambda t: 1 - t.report_late_rate),
)


@dataclass(frozen=True)
class Cell:
    key: str
    """Province code, or ``ministries``."""
    successes: int
    trials: int
    target: float

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    @property
    def variance(self) -> float:
        return self.trials * self.target * (1 - self.target)

    @property
    def z(self) -> float:
        return (self.successes - self.trials * self.target) / math.sqrt(self.variance)

    @property
    def exact(self) -> bool:
        """Too small for the normal approximation: the exact binomial test instead."""
        return self.variance < MIN_VARIANCE

    @property
    def p_value(self) -> float:
        """Two-sided: normal for a large cell, else exact (the outcomes no likelier than the one seen)."""
        if not self.exact:
            return math.erfc(abs(self.z) / math.sqrt(2))
        n, p = self.trials, self.target
        if p in (0.0, 1.0):
            return 1.0 if self.successes == n * p else 0.0
        seen = _log_pmf(self.successes, n, p)
        return min(1.0, sum(math.exp(lp) for k in range(n + 1) if (lp := _log_pmf(k, n, p)) <= seen + 1e-9))


def _log_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _events(config: SimulationConfig, until: datetime) -> Iterator[Event]:
    for emission in Simulation(config):
        if emission.event.meta.occurred_at >= until:
            return
        if emission.kind is not EmissionKind.INVALID:
            yield emission.event


async def _feed(views: ViewSet, events: Iterator[Event]) -> int:
    applied = 0
    by_topic: dict[str, list[EventRecord]] = {}
    for event in events:
        by_topic.setdefault(topic_for(event), []).append(record_of(event))
        applied += 1
        if applied % BATCH == 0:
            await views.apply(Batch(by_topic, {Partition("lgsp.dossiers", 0): applied}))
            by_topic = {}
    if by_topic:
        await views.apply(Batch(by_topic, {Partition("lgsp.dossiers", 0): applied}))
    return applied


def _counts(views: ViewSet) -> tuple[dict[str, dict[str, int]], str | None]:
    """Per province key (``""``: central) every count the KPIs need, and the as-of of the read."""
    with views.store.reader() as reader:
        docs = documents.province_totals(reader, None)
        doss = dossiers.province_totals(reader, None)
    reports = views.query("reports", ViewQuery(level=Level.PROVINCE, grain=Grain.ALL))
    counts: dict[str, dict[str, int]] = {}
    for key in {*docs, *doss}:
        counts[key] = {**docs.get(key, {}), **doss.get(key, {})}
    for row in reports.rows:
        mine = counts.setdefault(str(row["province"]), {})
        for name in ("expected", "filed", "filed_on_time"):
            mine[name] = mine.get(name, 0) + int(row[name])
    board = views.query("scoreboard", ViewQuery())
    return counts, board.meta["as_of"]


def _cells(kpi: Kpi, counts: dict[str, dict[str, int]], table: TargetTable) -> list[Cell]:
    cells = []
    for key, mine in sorted(counts.items()):
        row = table.of(None if key == CENTRAL else ProvinceCode(key))
        successes, trials = kpi.counts(_zeros(mine))
        cells.append(Cell(MINISTRIES_KEY if key == CENTRAL else key, successes, trials, kpi.target(row)))
    return cells


def _zeros(counts: dict[str, int]) -> dict[str, int]:
    names = (*documents.TOTALS, *dossiers.COUNTERS, "expected", "filed", "filed_on_time")
    return {name: counts.get(name, 0) for name in names}


def _pooled(cells: list[Cell]) -> Cell:
    successes = sum(c.successes for c in cells)
    trials = sum(c.trials for c in cells)
    expected = sum(c.trials * c.target for c in cells)
    return Cell(NATIONAL, successes, trials, expected / trials if trials else 0.0)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def report(
    args: argparse.Namespace, applied: int, as_of: str | None, counts: dict[str, dict[str, int]]
) -> str:
    table = load_targets()
    lines = [
        f"# KPI calibration: seed {args.seed}, scale {args.scale}, {args.start} to {args.until}",
        "",
        f"`.venv/bin/python -m bench.kpi_calibration --seed {args.seed} --start {args.start} "
        f"--until {args.until} --scale {args.scale}`",
        "",
        f"{applied:,} valid events applied to the views (in-memory SQLite, no broker); "
        f"scoreboard as of {as_of}.",
        "",
        "## The nation beside its calibration target",
        "",
        "Target: each row's target of `producers/data/province_targets.csv` weighted by its measured "
        "denominator (n); z in units of the binomial standard error.",
        "",
        "| KPI | nation | target | n | z |",
        "|---|---:|---:|---:|---:|",
    ]
    by_kpi = {kpi.column: _cells(kpi, counts, table) for kpi in KPIS}
    for column, cells in by_kpi.items():
        nation = _pooled(cells)
        z = _fmt_z(nation)
        lines.append(f"| {column} | {_fmt(nation.rate)} | {nation.target:.4f} | {nation.trials:,} | {z} |")
    lines += [
        "",
        "## The seeds' published figures",
        "",
        "| figure | source | measured | n | published |",
        "|---|---|---:|---:|---:|",
    ]

    def provinces(column: str) -> list[Cell]:
        return [c for c in by_kpi[column] if c.key != MINISTRIES_KEY]

    ministries = [c for c in by_kpi["digitised_rate"] if c.key == MINISTRIES_KEY]
    an_giang = [c for c in by_kpi["electronic_rate"] if c.key == "91"]
    for label, source, cells, published in (
        ("electronic rate, An Giang", "AG-2020", an_giang, 0.97),
        ("electronic rate, 34 provinces", "KG-2020", provinces("electronic_rate"), 0.865),
        ("full-process online, nation", "AG-2025", by_kpi["full_online_rate"], 0.45),
        ("digitisation, localities", "AG-2025", provinces("digitised_rate"), 0.6706),
        ("digitisation, ministries", "AG-2025", ministries, 0.6098),
    ):
        pooled = _pooled(cells)
        lines.append(f"| {label} | [{source}] | {_fmt(pooled.rate)} | {pooled.trials:,} | {published:.4f} |")
    lines += [
        "",
        "## Provinces within sampling error",
        "",
        "Cells: 34 provinces + the ministries' row, those with data. Two-sided p-value of the target given "
        f"the cell: normal where n p (1 - p) >= {MIN_VARIANCE:g}, else exact binomial (`exact` cells). "
        "Within sampling error at 2 σ: p > 0.0455 (a calibrated simulator: ~95% of cells); at 3 σ: "
        "p > 0.0027 (~99.7%).",
        "",
        "| KPI | cells | exact | within 2 σ | within 3 σ | sum z² of the normal cells (df) | outside 3 σ |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for column, cells in by_kpi.items():
        tested = [c for c in cells if c.trials > 0]
        exact = sum(c.exact for c in tested)
        within2 = sum(c.p_value > TWO_SIGMA for c in tested)
        within3 = sum(c.p_value > THREE_SIGMA for c in tested)
        outside = ", ".join(
            f"{c.key} {_fmt(c.rate)} vs {c.target:.3f} (n {c.trials}, p {c.p_value:.1e})"
            for c in tested
            if c.p_value <= THREE_SIGMA
        )
        normal = [c.z**2 for c in tested if not c.exact]
        chi2 = f"{sum(normal):.1f} ({len(normal)})"
        lines.append(
            f"| {column} | {len(tested)} | {exact} | {within2} | {within3} | {chi2} | {outside or '—'} |"
        )
    return "\n".join(lines) + "\n"


def _fmt_z(cell: Cell) -> str:
    return "—" if cell.variance <= 0 else f"{cell.z:+.2f}"


def _local(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(), VIETNAM).astimezone(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2025-07-01", help="first simulated day (Việt Nam)")
    parser.add_argument(
        "--until", default="2026-07-28", help="the run stops at this day's midnight (Việt Nam)"
    )
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args()
    config = SimulationConfig(seed=args.seed, start=_local(args.start), scale=args.scale)
    views = ViewSet(SqliteStore(":memory:"), build_views(Settings()))
    try:
        applied = asyncio.run(_feed(views, _events(config, _local(args.until))))
        counts, as_of = _counts(views)
    finally:
        views.close()
    text = report(args, applied, as_of, counts)
    sys.stdout.write(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
