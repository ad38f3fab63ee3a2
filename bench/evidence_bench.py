"""Cost of keeping the evidence (issue #12): the views' store writes per event with and without it.

    .venv/bin/python -m bench.evidence_bench [--events 100000] [--batch 2000] [--rounds 3] [--output FILE]

The same simulated events (decoded once into the views' RawEvent form) are applied in batches to fresh SQLite
file stores, alternating in each round: ``without`` (a batch without record coordinates: no evidence rows,
the store's work before evidence existed) and ``with`` (every event with its coordinates and a signer: one
``view_evidence`` row each, written in the batch's transaction). Kafka and decoding are left out, so the
difference is the evidence's whole store-side cost; it is also the upper bound of its share of a rebuild
(``bench.rebuild_bench`` measures a rebuild end to end). Reports CPU µs per event (this process), wall µs
per event and the store file's size per event.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bus.consumer.types import Batch, Origin, Partition
from bus.events.raw import RawEvent, raw_of
from bus.settings import Settings
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests.views_samples import SIGNER, topic_of


def _events(count: int) -> list[tuple[str, RawEvent]]:
    config = SimulationConfig(seed=5, duplicates=0.02, scale=0.002)
    emissions = (e for e in Simulation(config) if e.kind is not EmissionKind.INVALID)
    return [(topic_of(e.event), raw_of(e.event)) for e in itertools.islice(emissions, count)]


def _batches(events: list[tuple[str, RawEvent]], size: int, evidence: bool) -> list[Batch]:
    batches: list[Batch] = []
    offsets: dict[str, int] = {}
    for start in range(0, len(events), size):
        by_topic: dict[str, list[RawEvent]] = {}
        origins: dict[str, list[Origin]] = {}
        for topic, event in events[start : start + size]:
            offset = offsets.get(topic, 0)
            offsets[topic] = offset + 1
            by_topic.setdefault(topic, []).append(event)
            origins.setdefault(topic, []).append(Origin(topic, 0, offset, SIGNER))
        next_offsets = {Partition(topic, 0): offsets[topic] for topic in by_topic}
        batches.append(Batch(by_topic, next_offsets, origins=origins if evidence else {}))
    return batches


def _run(batches: list[Batch], directory: Path, events: int) -> dict[str, float]:
    path = directory / "views.db"
    views = ViewSet(SqliteStore(path), build_views(Settings()))
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for batch in batches:
            asyncio.run(views.apply(batch))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        views.close()
    size = sum(p.stat().st_size for p in directory.iterdir() if p.name.startswith("views.db"))
    for leftover in directory.iterdir():
        leftover.unlink()
    return {"cpu_us": cpu / events * 1e6, "wall_us": wall / events * 1e6, "bytes": size / events}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    events = _events(args.events)
    plans = {name: _batches(events, args.batch, name == "with") for name in ("without", "with")}
    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, batches in plans.items():
                runs[name].append(_run(batches, Path(tmp), len(events)))
    median = {
        name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in runs.items()
    }
    result: dict[str, Any] = {
        "events": len(events),
        "batch": args.batch,
        "rounds": args.rounds,
        "median": median,
        "evidence_cpu_us_per_event": median["with"]["cpu_us"] - median["without"]["cpu_us"],
        "evidence_bytes_per_event": median["with"]["bytes"] - median["without"]["bytes"],
        "cpu_ratio_with_to_without": median["with"]["cpu_us"] / median["without"]["cpu_us"],
        "runs": runs,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
