"""National KPIs of one seeded multi-month simulation next to the calibration targets they should match.

    .venv/bin/python -m bench.kpi_calibration [--seed 7] [--events 120000] [--scale 0.002]

The simulated events go straight into the views (in-memory store, no broker); the nation row of the
scoreboard is printed beside the volume-weighted national target of ``producers/data/province_targets.csv``
(documents weight document rates, dossiers weight dossier rates; the ministries' row included).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Callable

from bus.consumer.types import Batch, Partition
from bus.metrics import NATIONAL
from bus.settings import Settings
from consumers.base import ViewQuery
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from producers.simulate.targets import Targets, load_targets

_TOPICS = {"DocumentSent": "lgsp.documents", "DocumentStatusChanged": "lgsp.documents",
           "DossierSynced": "lgsp.dossiers", "ReportFiled": "lgsp.reports"}  # fmt: skip


def _weighted(rate: Callable[[Targets], float], weight: Callable[[Targets], float]) -> float:
    rows = list(load_targets())
    return sum(rate(t) * weight(t) for t in rows) / sum(weight(t) for t in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--scale", type=float, default=0.002)
    args = parser.parse_args()
    simulation = Simulation(SimulationConfig(seed=args.seed, scale=args.scale))
    by_topic: dict[str, list[object]] = {}
    for emission in itertools.islice(simulation, args.events):
        if emission.kind is not EmissionKind.INVALID:
            by_topic.setdefault(_TOPICS[type(emission.event).__name__], []).append(emission.event)
    views = ViewSet(SqliteStore(":memory:"), build_views(Settings()))
    asyncio.run(views.apply(Batch(by_topic, {Partition("lgsp.reports", 0): 1})))  # type: ignore[arg-type]
    board = views.query("scoreboard", ViewQuery())
    views.close()
    nation = next(row for row in board.rows if row["province"] == NATIONAL)
    docs, doss = (lambda t: t.documents_per_day), (lambda t: t.dossiers_per_day)
    targets = {
        "electronic_rate": _weighted(lambda t: t.electronic_rate, docs),
        "electronic_only_rate": _weighted(lambda t: t.electronic_rate * (1 - t.dual_form_share), docs),
        "online_rate": _weighted(lambda t: t.online_share, doss),
        "full_online_rate": _weighted(lambda t: t.full_process_share, doss),
        "on_time_rate": _weighted(lambda t: t.on_time_rate, doss),
        "digitised_rate": _weighted(lambda t: t.digitised_rate, doss),
        "report_completeness": _weighted(lambda t: 1 - t.report_missed_rate, lambda t: 1.0),
        "report_on_time_rate": _weighted(lambda t: 1 - t.report_late_rate, lambda t: 1.0),
    }
    print(f"seed {args.seed}, {args.events:,} events, scale {args.scale}, as of {board.meta['as_of']}")
    print(
        f"documents sent {nation['documents_sent']:,}, dossiers received {nation['dossiers_received']:,}, "
        f"reports expected {nation['reports_expected']:,}, due later {nation['reports_due_later']:,}"
    )
    print(f"{'KPI':<22}{'nation':>10}{'target':>10}")
    for column, target in targets.items():
        value = nation[column]
        shown = "—" if value is None else f"{value:.4f}"
        print(f"{column:<22}{shown:>10}{target:>10.4f}")


if __name__ == "__main__":
    main()
