"""In-process measurements by CPU time (the serde, decode and signing parts): cases, rounds, rates.

A :class:`Case` processes its inputs once and says how many items it processed; :func:`run_rounds` runs
every case once as a warm-up (caches, lazy imports, CPU frequency), then ``rounds`` times. Cases that
compare with each other form a group and run back to back, in alternating order from round to round, so a
change in machine load touches all of them. Rates are items per second of this process's CPU time
(``time.process_time``), which stays meaningful on a shared machine; wall-clock rates are kept beside them.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.stats import Figure


def _nothing() -> None:
    return None


@contextmanager
def harness_out_of_gc() -> Iterator[None]:
    """The bench's own objects (its inputs: thousands of events, records, encoded bytes) out of the garbage
    collector's sight while the cases run, as a bus process freezes its start-up (``bus.gc_policy``).

    Otherwise every full collection walks the harness's heap and lands on whichever case happens to run: in
    the publish part it cost the Publisher about 3 CPU µs per event at random (sequential, 15.4-17.4 µs frozen
    against 17-21, ``/tmp/b12/signpub.py``). What the measured code allocates is still collected and counted.
    Garbage is collected first so none is pinned; the heap is unfrozen after."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass(frozen=True)
class Case:
    """What one measurement runs (returning how many items it processed), after an untimed ``setup``."""

    run: Callable[[], int]
    setup: Callable[[], object] = _nothing


@dataclass
class Rates:
    """One case's rates, one per round."""

    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    @property
    def best_cpu_us(self) -> float:
        """CPU µs per item in the best round (the least disturbed one on a shared machine)."""
        return 1e6 / max(self.cpu)


def measure(case: Case) -> tuple[float, float]:
    """Items per CPU second and per wall second of one run of ``case``."""
    case.setup()
    wall, cpu = time.perf_counter(), time.process_time()
    processed = case.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return processed / cpu if cpu > 0 else float("inf"), processed / wall


def run_rounds(groups: Mapping[str, Sequence[tuple[str, Case]]], rounds: int) -> dict[str, Rates]:
    """Every group's cases back to back, in alternating order from round to round, after a warm-up."""
    for group in groups.values():
        for _, case in group:
            measure(case)
    rates = {name: Rates() for group in groups.values() for name, _ in group}
    for index in range(rounds):
        for group in groups.values():
            for name, case in group if index % 2 == 0 else reversed(group):
                cpu, wall = measure(case)
                rates[name].cpu.append(cpu)
                rates[name].wall.append(wall)
    return rates


def as_figure(key: str, label: str, rates: Rates, unit: str = "events/s per CPU-s") -> Figure:
    """The figure of one case: its CPU rates, with the wall-clock rates in the detail."""
    figure = Figure(key, label, unit)
    for value in rates.cpu:
        figure.add(value)
    figure.detail["wall_per_s"] = rates.wall
    return figure
