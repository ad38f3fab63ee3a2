"""Part decode: the consume path per event type — fastavro alone, the model's ``from_avro``, the serde.

Cases, for each of the four event types, over the same simulated events (``producers.simulate``, fixed seed):

    fastavro         Avro binary -> dict (schemaless_reader, the type's schema; the raw baseline)
    from_avro        dict -> event (``Model.from_avro``: what a consumer pays for the model)
    deserialize      wire bytes -> event (``AvroDeserializer.deserialize``: framing + fastavro + model)
    deserialize_record  wire bytes -> the views' record (``AvroDeserializer.deserialize_record``: framing
                     + fastavro + the compiled contract's checks; what the view builder runs)

and the ``mixed`` stream (the simulation's own, types interleaved as the consumer sees them): fastavro,
``deserialize`` and ``deserialize_record``; the target (decode + validate ≥ 0.8× raw fastavro) is judged on
it.

Every event is distinct (nothing is cycled), so no per-record cache can flatter a figure; caches keyed by
agency (the catalog lookups) do see their real share of repeats. Rates are events per CPU second
(:mod:`bench.cpu_cases`); the registry is the in-process stub.

Comparing two checkouts (before / after a change): run ``lgsp bench --part decode`` in each; the results
name their commit. On a shared machine run them back to back and read the ratios to fastavro, which the
same process measured beside them.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader

from bench.cpu_cases import Case, as_figure, run_rounds
from bench.model import BenchContext, PartResult
from bench.procs import BenchError
from bench.stats import Ratio, Target
from bench.stub_registry import NAMES, SCHEMA_IDS, stub_registry
from bus.events import EVENT_TYPES, Event
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.types import SchemaId
from producers.simulate import Simulation, SimulationConfig

TITLE = "Decode: wire bytes → event / views' record, per type and mixed, vs raw fastavro"
SEED = 20250701
REPORT_SCALE = 0.0005
"""At the default scale reports are rare early on; a small nation files them among fewer other events."""
_SMALL_LIMIT = 60_000
"""Events of the small nation at most (about a thousand reports): bounds the set-up time."""
CTX = SerializationContext("bench.decode")
_LABELS = {
    "fastavro": "raw fastavro schemaless_reader",
    "from_avro": "dict → event (from_avro)",
    "deserialize": "our serde: wire bytes → event (deserialize)",
    "deserialize_record": "our serde: wire bytes → views' record (deserialize_record)",
}


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for("decode")
    per_type, mixed = ctx.sizes.decode_per_type, ctx.sizes.decode_mixed
    result = PartResult("decode", TITLE, rounds=rounds)
    serializer, deserializer = asyncio.run(_prepare())
    by_type, stream = simulate(per_type, mixed)
    groups: dict[str, list[tuple[str, Case]]] = {}
    for name in NAMES:
        short = name.rsplit(".", 1)[1]
        inputs = Inputs.of([serializer.serialize(event, CTX) for event in by_type[name]])
        result.sizes[f"{short}_events"] = len(inputs.wire)
        groups[short] = [(f"{short}.{case}", c) for case, c in type_cases(name, inputs, deserializer).items()]
    wire = [serializer.serialize(event, CTX) for event in stream]
    result.sizes["mixed_events"] = len(wire)
    groups["mixed"] = [(f"mixed.{case}", c) for case, c in mixed_cases(Inputs.of(wire), deserializer).items()]
    ctx.say(f"decode: {rounds} rounds, {per_type} events per type and a mixed stream of {len(wire)}")
    rates = run_rounds(groups, rounds)
    for group, cases in groups.items():
        for key, _ in cases:
            case = key.rsplit(".", 1)[1]
            result.figures.add(as_figure(key, f"{group}: {_LABELS[case]}", rates[key]))
            if case != "fastavro":
                result.ratios.append(Ratio(key, f"{group}.fastavro", "raw fastavro"))
    result.targets = [
        Target(
            "decode + validate ≥ 0.8× raw fastavro (mixed stream)",
            "mixed.deserialize_record/mixed.fastavro",
            ">=",
            0.8,
            "×",
        )
    ]
    result.notes.append(
        "Events per CPU second of this process, every case over the same bytes, each group's cases back to "
        "back in alternating order; the models' from_avro gets records freshly decoded before it runs (as "
        "a consumer's are), since re-converting the same dicts would flatter it (cached UTF-8 forms and "
        "hashes)."
    )
    return result


async def _prepare() -> tuple[AvroSerializer, AvroDeserializer]:
    """A serializer and a deserializer for every event type; no registry calls after this."""
    async with stub_registry() as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare(EVENT_TYPES.values())
        deserializer = AvroDeserializer(registry)
        failed = await deserializer.prepare_ids(SCHEMA_IDS.values())
        if failed:
            raise BenchError(f"could not prepare the deserializer: {failed}")
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
    """Confluent-framed records, their Avro bodies and each body's writer schema (by the schema id)."""

    wire: list[bytes]
    bodies: list[bytes]
    schemas: list[Any]

    @classmethod
    def of(cls, wire: list[bytes]) -> Inputs:
        parsed = {SCHEMA_IDS[name]: EVENT_TYPES[name].avro_schema() for name in NAMES}
        schemas = [parsed[SchemaId(int.from_bytes(data[1:5], "big"))] for data in wire]
        return cls(wire, [data[5:] for data in wire], schemas)


def fastavro_case(inputs: Inputs) -> Case:
    pairs = list(zip(inputs.bodies, inputs.schemas, strict=True))
    return Case(lambda: len([schemaless_reader(BytesIO(body), schema, None) for body, schema in pairs]))


def type_cases(name: str, inputs: Inputs, deserializer: AvroDeserializer) -> dict[str, Case]:
    """fastavro, ``from_avro``, ``deserialize`` and ``deserialize_record`` of one type's events.

    ``from_avro`` gets records decoded just before it runs (untimed), as a consumer's are: fresh objects.
    """
    convert, parsed = EVENT_TYPES[name].from_avro, EVENT_TYPES[name].avro_schema()
    fresh: list[Any] = []

    def decode() -> None:
        fresh[:] = [schemaless_reader(BytesIO(body), parsed, None) for body in inputs.bodies]

    return {
        "fastavro": fastavro_case(inputs),
        "from_avro": Case(lambda: len([convert(record) for record in fresh]), decode),
        **mixed_cases(inputs, deserializer, with_fastavro=False),
    }


def mixed_cases(
    inputs: Inputs, deserializer: AvroDeserializer, *, with_fastavro: bool = True
) -> dict[str, Case]:
    read, read_record = deserializer.deserialize, deserializer.deserialize_record
    cases = {"fastavro": fastavro_case(inputs)} if with_fastavro else {}
    cases["deserialize"] = Case(lambda: len([read(data, CTX) for data in inputs.wire]))
    cases["deserialize_record"] = Case(lambda: len([read_record(data, CTX) for data in inputs.wire]))
    return cases
