"""The views' store work per event with and without the evidence rows (#12 item 5), for the signing part.

The same simulated events, in the views' EventRecord form, are applied in batches to fresh SQLite file stores:
``without`` (batches without record coordinates: no evidence rows, the store's work before evidence
existed) and ``with`` (each event with its coordinates and a signer: one ``view_evidence`` row each, in the
batch's transaction). Kafka and decoding are left out, so the difference is the evidence's whole cost, and
its share of the store work an upper bound of its share of a rebuild.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path

from bench.cpu_cases import Case
from bus.consumer.types import Batch, Origin, Partition
from bus.events.record import EventRecord, record_of
from bus.settings import Settings
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests.views_samples import SIGNER, topic_of

BATCH = 2000
"""Events per store transaction (``views.max_batch_records``' order of magnitude)."""


def _events(count: int) -> list[tuple[str, EventRecord]]:
    config = SimulationConfig(seed=5, duplicates=0.02, scale=0.002)
    emissions = (e for e in Simulation(config) if e.kind is not EmissionKind.INVALID)
    return [(topic_of(e.event), record_of(e.event)) for e in itertools.islice(emissions, count)]


def _batches(events: list[tuple[str, EventRecord]], evidence: bool) -> list[Batch]:
    batches: list[Batch] = []
    offsets: dict[str, int] = {}
    for start in range(0, len(events), BATCH):
        by_topic: dict[str, list[EventRecord]] = {}
        origins: dict[str, list[Origin]] = {}
        for topic, event in events[start : start + BATCH]:
            offset = offsets.get(topic, 0)
            offsets[topic] = offset + 1
            by_topic.setdefault(topic, []).append(event)
            origins.setdefault(topic, []).append(Origin(topic, 0, offset, SIGNER))
        next_offsets = {Partition(topic, 0): offsets[topic] for topic in by_topic}
        batches.append(Batch(by_topic, next_offsets, origins=origins if evidence else {}))
    return batches


class StoreCases:
    """``without`` and ``with`` evidence as :class:`Case` s; ``bytes_per_event`` of each last run's store."""

    def __init__(self, count: int, work: Path) -> None:
        events = _events(count)
        self.count = len(events)
        self._plans = {name: _batches(events, name == "with") for name in ("without", "with")}
        self._work = work
        self.bytes_per_event: dict[str, float] = {}

    def case(self, name: str) -> Case:
        return Case(lambda: self._apply(name), lambda: self._fresh(name))

    def _fresh(self, name: str) -> None:
        for leftover in self._work.glob(f"{name}.db*"):
            leftover.unlink()

    def _apply(self, name: str) -> int:
        path = self._work / f"{name}.db"
        views = ViewSet(SqliteStore(path), build_views(Settings()))
        try:
            for batch in self._plans[name]:
                asyncio.run(views.apply(batch))
        finally:
            views.close()
        size = sum(p.stat().st_size for p in self._work.glob(f"{name}.db*"))
        self.bytes_per_event[name] = size / self.count
        return self.count


def work_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="bench-evidence-")
