"""Decode (consume-path) throughput per event type: fastavro alone, the model's ``from_avro``, the serde.

    .venv/bin/python bench/decode_bench.py [--per-type 1000] [--rounds 7] [--output bench/results/decode.json]

Cases, for each of the four event types, over the same simulated events (``producers.simulate``, fixed seed):

    fastavro      Avro binary -> dict (schemaless_reader, the model's schema; the raw baseline)
    from_avro     dict -> event (``Model.from_avro``: what the consumer pays for the model)
    validated     dict -> event through full pydantic validation (``bus.events.validate``; the reference)
    deserialize   Confluent wire bytes -> event (``AvroDeserializer.deserialize``: framing + fastavro + model)

and ``mixed.deserialize``: the simulation's own stream, types interleaved as the consumer sees them.

Every event is distinct (nothing is cycled), so no per-record cache can flatter a figure. Each round runs
every case once after a warm-up round; figures are events per second of process CPU time
(``time.process_time``), which stays meaningful on a shared, loaded machine; the table gives the median and
min–max over rounds, and the JSON keeps wall-clock rates too. The registry is an in-process stub: the
deserializer talks to it only while preparing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import httpx
from fastavro import schemaless_reader

from bus.events import EVENT_TYPES, Event, validate
from bus.registry import SchemaRegistryClient, schema_text
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import RegistrySettings
from producers.simulate import Simulation, SimulationConfig

ROOT = Path(__file__).resolve().parent
SEED = 20250701
REPORT_SCALE = 0.0005
"""At the default scale reports are rare early on; a small nation files them among fewer other events."""
_SMALL_LIMIT = 60_000
"""Events of the small nation at most (about a thousand reports): bounds the set-up time."""
CTX = SerializationContext("bench.decode")
NAMES = sorted(EVENT_TYPES)


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


async def prepare_serde() -> tuple[AvroSerializer, AvroDeserializer]:
    """A serializer and a deserializer for every event type; no registry call happens after this."""
    transport = httpx.MockTransport(StubRegistry())
    settings = RegistrySettings(url="http://stub.invalid/apis/ccompat/v7")
    async with SchemaRegistryClient(settings, transport=transport) as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare(EVENT_TYPES.values())
        deserializer = AvroDeserializer(registry)
        failed = await deserializer.prepare_ids(range(1, len(NAMES) + 1))  # type: ignore[arg-type]
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


@dataclass
class Inputs:
    """One type's inputs: the same events as Avro bodies, fastavro's dicts and Confluent-framed bytes."""

    model: type[Event]
    parsed: Any
    bodies: list[bytes]
    records: list[dict[str, Any]]
    wire: list[bytes]


def inputs_of(model: type[Event], events: list[Event], serializer: AvroSerializer) -> Inputs:
    wire = [serializer.serialize(event, CTX) for event in events]
    bodies = [data[5:] for data in wire]
    parsed = model.avro_schema()
    records = [schemaless_reader(BytesIO(body), parsed, None) for body in bodies]
    return Inputs(model, parsed, bodies, records, wire)  # type: ignore[arg-type]


Case = Callable[[], int]


def cases_of(inputs: Inputs, deserializer: AvroDeserializer) -> dict[str, Case]:
    """Each case processes every input once and returns how many it processed."""
    model, parsed = inputs.model, inputs.parsed

    def fastavro_decode() -> int:
        return len([schemaless_reader(BytesIO(body), parsed, None) for body in inputs.bodies])

    def from_avro() -> int:
        convert = model.from_avro
        return len([convert(record) for record in inputs.records])

    def validated() -> int:
        return len([validate(model, record) for record in inputs.records])

    def deserialize() -> int:
        read = deserializer.deserialize
        return len([read(data, CTX) for data in inputs.wire])

    return {
        "fastavro": fastavro_decode,
        "from_avro": from_avro,
        "validated": validated,
        "deserialize": deserialize,
    }


def measure(case: Case) -> tuple[float, float]:
    """Events/s by process CPU time and by wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    processed = case()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return processed / cpu if cpu > 0 else float("inf"), processed / wall


Rates = dict[str, dict[str, list[float]]]


def run(all_cases: dict[str, Case], rounds: int) -> Rates:
    for case in all_cases.values():  # warm-up: lazy imports, caches of schemas and catalog
        measure(case)
    rates: Rates = {name: {"cpu": [], "wall": []} for name in all_cases}
    for _ in range(rounds):
        for name, case in all_cases.items():
            cpu, wall = measure(case)
            rates[name]["cpu"].append(cpu)
            rates[name]["wall"].append(wall)
    return rates


def summary(rates: Rates) -> dict[str, dict[str, dict[str, float]]]:
    return {
        name: {
            clock: {"median": statistics.median(r), "min": min(r), "max": max(r)}
            for clock, r in clocks.items()
        }
        for name, clocks in rates.items()
    }


def report(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [f"{'case':<40}{'cpu ev/s median':>16}{'(min':>10}{'max)':>10}{'us/ev':>8}{'vs fastavro':>12}"]
    for name, clocks in results.items():
        cpu = clocks["cpu"]
        kind, _, case = name.rpartition(".")
        base = results.get(f"{kind}.fastavro")
        ratio = f"{cpu['median'] / base['cpu']['median']:.2f}x" if base and case != "fastavro" else ""
        lines.append(
            f"{name:<40}{cpu['median']:>16,.0f}{cpu['min']:>10,.0f}{cpu['max']:>10,.0f}"
            f"{1e6 / cpu['median']:>8.1f}{ratio:>12}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--per-type", type=int, default=1_000, help="distinct events of each type")
    parser.add_argument("--mixed", type=int, default=10_000, help="events of the interleaved stream")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--types", nargs="*", default=None, help="short names, e.g. DossierSynced")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "decode.json")
    parser.add_argument("--label", default="", help="free text stored with the result (e.g. before/after)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()
    serializer, deserializer = asyncio.run(prepare_serde())
    by_type, stream = simulate(args.per_type, args.mixed)
    all_cases: dict[str, Case] = {}
    counts = {}
    for name in NAMES:
        model = EVENT_TYPES[name]
        if args.types and model.__name__ not in args.types:
            continue
        counts[model.__name__] = len(by_type[name])
        for case, run_case in cases_of(inputs_of(model, by_type[name], serializer), deserializer).items():
            all_cases[f"{model.__name__}.{case}"] = run_case
    if args.mixed:
        wire = [serializer.serialize(event, CTX) for event in stream]
        all_cases["mixed.deserialize"] = lambda: len([deserializer.deserialize(d, CTX) for d in wire])
        counts["mixed"] = len(wire)
    results = summary(run(all_cases, args.rounds))
    print(f"events per case: {counts}")
    print(report(results))
    payload = {
        "benchmark": "decode",
        "label": args.label,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events_per_case": counts,
        "rounds": args.rounds,
        "unit": "events/s; cpu: per second of process CPU time (steadier when shared); wall: per second",
        "results": results,
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
