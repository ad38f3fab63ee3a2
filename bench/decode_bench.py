"""Decode (consume-path) throughput per event type: fastavro alone, the model's ``from_avro``, the serde.

    .venv/bin/python bench/decode_bench.py [--per-type 1000] [--rounds 9] [--baseline DIR]
                                           [--output bench/results/decode.json]

Cases, for each of the four event types, over the same simulated events (``producers.simulate``, fixed seed):

    fastavro      Avro binary -> dict (schemaless_reader, the model's schema; the raw baseline)
    from_avro     dict -> event (``Model.from_avro``: what the consumer pays for the model)
    deserialize   Confluent wire bytes -> event (``AvroDeserializer.deserialize``: framing + fastavro + model)
    deserialize_raw  wire bytes -> the views' record (``AvroDeserializer.deserialize_raw``: framing +
                  fastavro without logical types + the rules in plain code; what the view builder runs)

and ``mixed.deserialize`` / ``mixed.deserialize_raw``: the simulation's own stream, types interleaved as the
consumer sees them. A baseline without ``deserialize_raw`` is measured on the other cases only.

``--baseline DIR`` measures another checkout's ``bus`` package beside this one (``from_avro`` and
``deserialize`` of each type, and the mixed stream), e.g. the code before a change::

    git worktree add /tmp/lgsp-base HEAD && .venv/bin/python bench/decode_bench.py --baseline /tmp/lgsp-base

Its ``bus`` is copied under the name ``bus_baseline`` (imports rewritten) so both run in one process, and
each round runs a case and its baseline back to back: on a shared machine only such pairs compare fairly.
The table gives the speed-up as the median (min–max) of the per-round ratios.

Every event is distinct (nothing is cycled), so no per-record cache can flatter a figure; caches keyed by
agency (the catalog lookups, reused agency references) do see their real share of repeats. Each round runs
every case once after a warm-up round; figures are events per second of process CPU time
(``time.process_time``), which stays meaningful on a loaded machine; the JSON keeps wall-clock rates too.
The registry is an in-process stub: the deserializer talks to it only while preparing.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import importlib
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import fastavro
import httpx
from fastavro import schemaless_reader

from bus.events import EVENT_TYPES, Event
from bus.registry import schema_text
from producers.simulate import Simulation, SimulationConfig

ROOT = Path(__file__).resolve().parent
SEED = 20250701
REPORT_SCALE = 0.0005
"""At the default scale reports are rare early on; a small nation files them among fewer other events."""
_SMALL_LIMIT = 60_000
"""Events of the small nation at most (about a thousand reports): bounds the set-up time."""
NAMES = sorted(EVENT_TYPES)
BASELINE_PACKAGE = "bus_baseline"


@dataclass(frozen=True)
class Bus:
    """The modules of one ``bus`` package that the cases use (this checkout's, or a baseline's)."""

    events: ModuleType
    registry: ModuleType
    serde: ModuleType
    settings: ModuleType

    @classmethod
    def named(cls, package: str) -> Bus:
        modules = (
            importlib.import_module(f"{package}.{m}") for m in ("events", "registry", "serde", "settings")
        )
        return cls(*modules)

    def model(self, name: str) -> Any:
        return self.events.EVENT_TYPES[name]

    def context(self) -> Any:
        return self.serde.SerializationContext("bench.decode")


def load_baseline(checkout: Path) -> Bus:
    """``checkout``'s ``bus`` package, importable beside ours as ``bus_baseline``."""
    source = checkout / "bus"
    if not (source / "events").is_dir():
        raise SystemExit(f"{checkout} has no bus/events package")
    scratch = Path(tempfile.mkdtemp(prefix="decode-bench-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    target = scratch / BASELINE_PACKAGE
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    if (checkout / "schemas").is_dir():  # bus.schemas reads the checkout's schemas/ beside the package
        shutil.copytree(checkout / "schemas", target.parent / "schemas")
    imports = re.compile(r"\b(from|import) bus\b")
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = imports.sub(rf"\1 {BASELINE_PACKAGE}", text)
        text = text.replace('resources.files("bus")', f'resources.files("{BASELINE_PACKAGE}")')
        path.write_text(text, encoding="utf-8")
    sys.path.insert(0, str(target.parent))
    return Bus.named(BASELINE_PACKAGE)


class StubRegistry:
    """The two calls the serde makes while preparing: lookup by subject, schema by id (ids 1..4)."""

    def __init__(self) -> None:
        self.texts = {i + 1: schema_text(EVENT_TYPES[n].avro_schema_source()) for i, n in enumerate(NAMES)}
        self.ids = {n: i + 1 for i, n in enumerate(NAMES)}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/schemas/ids/" in path:
            schema_id = int(path.rsplit("/", 1)[1])
            return httpx.Response(200, json={"schema": self.texts[schema_id], "schemaType": "AVRO"})
        subject = path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"subject": subject, "version": 1, "id": self.ids[subject]})


async def prepare_serde(bus: Bus) -> tuple[Any, Any]:
    """A serializer and a deserializer of ``bus`` for every event type; no registry calls after this."""
    transport = httpx.MockTransport(StubRegistry())
    settings = bus.settings.RegistrySettings(url="http://stub.invalid/apis/ccompat/v7")
    async with bus.registry.SchemaRegistryClient(settings, transport=transport) as registry:
        serializer = bus.serde.AvroSerializer(registry)
        await serializer.prepare(bus.events.EVENT_TYPES.values())
        deserializer = bus.serde.AvroDeserializer(registry)
        failed = await deserializer.prepare_ids(range(1, len(NAMES) + 1))
        if failed:
            raise SystemExit(f"could not prepare the deserializer: {failed}")
    return serializer, deserializer


def simulate(per_type: int, mixed: int) -> tuple[dict[str, list[Event]], list[Event]]:
    """Up to ``per_type`` distinct events of each type, and the first ``mixed`` events of the main stream."""
    stream = [e.event for e in itertools.islice(Simulation(SimulationConfig(seed=SEED)), mixed)]
    by_type: dict[str, list[Event]] = {name: [] for name in NAMES}
    small = itertools.islice(Simulation(SimulationConfig(seed=SEED, scale=REPORT_SCALE)), _SMALL_LIMIT)
    for event in itertools.chain(stream, (e.event for e in small)):
        bucket = by_type[event.AVRO_NAME]
        if len(bucket) < per_type:
            bucket.append(event)
        if all(len(b) >= per_type for b in by_type.values()):
            break
    return by_type, stream


@dataclass(frozen=True)
class Case:
    """What one measurement runs (returning how many events it processed), after an untimed ``setup``."""

    run: Callable[[], int]
    setup: Callable[[], object] = lambda: None


@dataclass
class Inputs:
    """One type's events as Avro bodies and as Confluent-framed bytes."""

    name: str
    parsed: Any
    bodies: list[bytes]
    wire: list[bytes]


def inputs_of(name: str, events: list[Event], serializer: Any, ctx: Any) -> Inputs:
    wire = [serializer.serialize(event, ctx) for event in events]
    return Inputs(name, EVENT_TYPES[name].avro_schema(), [data[5:] for data in wire], wire)


def model_cases(inputs: Inputs, bus: Bus, deserializer: Any) -> dict[str, Case]:
    """``from_avro`` and ``deserialize`` of one type with ``bus``.

    ``from_avro`` gets records decoded just before it runs (untimed), as a consumer's are: fresh objects.
    Converting the same dicts round after round would flatter it: a string caches its UTF-8 form and its
    hash on first use, and pydantic and the caches use both.
    """
    convert, read, ctx = bus.model(inputs.name).from_avro, deserializer.deserialize, bus.context()
    fresh: list[Any] = []  # fastavro's dicts

    def decode() -> None:
        fresh[:] = [schemaless_reader(BytesIO(body), inputs.parsed, None) for body in inputs.bodies]

    cases = {
        "from_avro": Case(lambda: len([convert(record) for record in fresh]), decode),
        "deserialize": Case(lambda: len([read(data, ctx) for data in inputs.wire])),
    }
    read_raw = getattr(deserializer, "deserialize_raw", None)
    if read_raw is not None:
        cases["deserialize_raw"] = Case(lambda: len([read_raw(data, ctx) for data in inputs.wire]))
    return cases


def fastavro_case(inputs: Inputs) -> Case:
    parsed = inputs.parsed
    return Case(lambda: len([schemaless_reader(BytesIO(body), parsed, None) for body in inputs.bodies]))


def measure(case: Case) -> tuple[float, float]:
    """Events/s by process CPU time and by wall time."""
    case.setup()
    wall, cpu = time.perf_counter(), time.process_time()
    processed = case.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return processed / cpu if cpu > 0 else float("inf"), processed / wall


Rates = dict[str, dict[str, list[float]]]
"""case -> clock ("cpu" or "wall") -> events/s per round."""


def run(groups: dict[str, list[tuple[str, Case]]], rounds: int) -> Rates:
    """Every group's cases back to back, in alternating order from round to round, after a warm-up."""
    for group in groups.values():
        for _, case in group:
            measure(case)
    rates: Rates = {name: {"cpu": [], "wall": []} for group in groups.values() for name, _ in group}
    for index in range(rounds):
        for group in groups.values():
            for name, case in group if index % 2 == 0 else reversed(group):
                cpu, wall = measure(case)
                rates[name]["cpu"].append(cpu)
                rates[name]["wall"].append(wall)
    return rates


def speed_ups(rates: Rates) -> dict[str, dict[str, float]]:
    """Per case with a ``baseline.`` twin: median, min and max over rounds of (ours / baseline), CPU clock."""
    out = {}
    for name, clocks in rates.items():
        twin = rates.get(f"baseline.{name}")
        if twin is None:
            continue
        ratios = [a / b for a, b in zip(clocks["cpu"], twin["cpu"], strict=True)]
        out[name] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return out


def summary(rates: Rates) -> dict[str, dict[str, dict[str, float]]]:
    return {
        name: {
            clock: {"median": statistics.median(r), "min": min(r), "max": max(r)}
            for clock, r in clocks.items()
        }
        for name, clocks in rates.items()
    }


def report(results: dict[str, dict[str, dict[str, float]]], ups: dict[str, dict[str, float]]) -> str:
    head = f"{'case':<40}{'cpu ev/s median':>16}{'(min':>10}{'max)':>10}{'us/ev':>8}{'vs fastavro':>12}"
    lines = [head + ("   speed-up vs baseline (min-max)" if ups else "")]
    for name, clocks in results.items():
        cpu = clocks["cpu"]
        kind = name.removeprefix("baseline.").rpartition(".")[0]
        base = results.get(f"{kind}.fastavro")
        ratio = (
            f"{cpu['median'] / base['cpu']['median']:.2f}x" if base and not name.endswith("fastavro") else ""
        )
        up = ups.get(name)
        gain = f"   {up['median']:.2f}x ({up['min']:.2f}-{up['max']:.2f})" if up else ""
        lines.append(
            f"{name:<40}{cpu['median']:>16,.0f}{cpu['min']:>10,.0f}{cpu['max']:>10,.0f}"
            f"{1e6 / cpu['median']:>8.1f}{ratio:>12}{gain}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--per-type", type=int, default=1_000, help="distinct events of each type")
    parser.add_argument("--mixed", type=int, default=10_000, help="events of the interleaved stream")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--types", nargs="*", default=None, help="short names, e.g. DossierSynced")
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout to compare with")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "decode.json")
    parser.add_argument("--label", default="", help="free text stored with the result")
    return parser.parse_args(argv)


def build_groups(
    args: argparse.Namespace, buses: dict[str, Bus]
) -> tuple[dict[str, list[tuple[str, Case]]], dict[str, int]]:
    """The cases, grouped so that each case runs right beside its baseline twin."""
    serdes = {label: asyncio.run(prepare_serde(bus)) for label, bus in buses.items()}
    serializer, ctx = serdes[""][0], buses[""].context()
    by_type, stream = simulate(args.per_type, args.mixed)
    groups: dict[str, list[tuple[str, Case]]] = {}
    counts: dict[str, int] = {}
    for name in NAMES:
        short = name.rsplit(".", 1)[1]
        if args.types and short not in args.types:
            continue
        inputs = inputs_of(name, by_type[name], serializer, ctx)
        counts[short] = len(inputs.wire)
        groups[f"{short}.fastavro"] = [(f"{short}.fastavro", fastavro_case(inputs))]
        for label, bus in buses.items():
            for case, run_case in model_cases(inputs, bus, serdes[label][1]).items():
                groups.setdefault(f"{short}.{case}", []).append((f"{label}{short}.{case}", run_case))
    if args.mixed:
        wire = [serializer.serialize(event, ctx) for event in stream]
        counts["mixed"] = len(wire)
        for label, bus in buses.items():
            for method in ("deserialize", "deserialize_raw"):
                read = getattr(serdes[label][1], method, None)
                if read is not None:
                    groups.setdefault(f"mixed.{method}", []).append(
                        (f"{label}mixed.{method}", _reading(read, bus.context(), wire))
                    )
    return groups, counts


def _reading(read: Callable[[bytes, Any], Any], ctx: Any, wire: list[bytes]) -> Case:
    return Case(lambda: len([read(data, ctx) for data in wire]))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()
    buses = {"": Bus.named("bus")}
    if args.baseline is not None:
        buses["baseline."] = load_baseline(args.baseline.resolve())
    groups, counts = build_groups(args, buses)
    rates = run(groups, args.rounds)
    results, ups = summary(rates), speed_ups(rates)
    print(f"events per case: {counts}")
    print(report(results, ups))
    payload = {
        "benchmark": "decode",
        "label": args.label,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "baseline": str(args.baseline) if args.baseline else None,
        "events_per_case": counts,
        "rounds": args.rounds,
        "unit": "events/s; cpu: per second of process CPU time (steadier when shared); wall: per second",
        "results": results,
        "speed_up_vs_baseline_cpu": ups,
        "environment": {
            "python": sys.version.split()[0],
            "fastavro": fastavro.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_1_5_15_before": load_before,
            "loadavg_1_5_15_after": os.getloadavg(),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
