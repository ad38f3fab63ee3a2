"""A view store filled from the simulator (no broker): what the page tests and screenshots look at."""

from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bus.consumer.types import Batch, Partition
from bus.events import Event
from bus.settings import Settings
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import Simulation, SimulationConfig
from producers.simulate.config import DEFAULT_SCALE
from tests import views_samples as s

BATCH = 2000


def simulated_events(count: int, seed: int = 7, scale: float = DEFAULT_SCALE) -> list[Event]:
    """``count`` valid events of a seeded simulated nation (no duplicates, no invalid ones); a small ``scale``
    spreads them over more simulated days."""
    config = SimulationConfig(seed=seed, bad_ratio=0.0, scale=scale)
    return list(itertools.islice(Simulation(config).events(), count))


def fill_store(path: Path, events: list[Event]) -> None:
    """Apply ``events`` to a new store at ``path`` in batches, as the view builder would."""
    views = ViewSet(SqliteStore(path), build_views(Settings()))
    try:
        for start in range(0, len(events), BATCH):
            apply_batch(views, events[start : start + BATCH], offset=start + BATCH)
    finally:
        views.close()


def apply_batch(views: ViewSet, events: list[Event], *, offset: int) -> None:
    """One batch, its offsets moved to ``offset`` (so the page's version moves too)."""
    by_topic, origins = s.by_topic_with_origins(events, first_offset=offset)  # with evidence
    batch = Batch(by_topic, {Partition("lgsp.dossiers", 0): offset}, origins=origins)
    # On a thread of its own: the caller's thread may be running an event loop (pytest-asyncio, Playwright).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, views.apply(batch)).result()
