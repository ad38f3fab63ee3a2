"""Part 1, serde: our Avro serde beside raw fastavro (schemaless) and the Apache ``avro`` package.

Reuses ``bench/serde_bench.py`` (its inputs, cases and rounds): the same DossierSynced records for every case,
every case once per round after a warm-up round. Rates are per second of process CPU time, which stays
steady on a shared machine (wall-clock rates are kept in the JSON).
"""

from __future__ import annotations

import asyncio

from bench import serde_bench
from bench.model import BenchContext, PartResult
from bench.stats import Figure, Ratio

_CASES = (
    ("serde.encode", "our serde: encode (event → Confluent wire bytes)"),
    ("fastavro.encode", "raw fastavro schemaless_writer"),
    ("avro.encode", "Apache avro DatumWriter"),
    ("serde.decode", "our serde: decode (wire bytes → validated event)"),
    ("fastavro.decode", "raw fastavro schemaless_reader"),
    ("avro.decode", "Apache avro DatumReader"),
    ("serde.encode.framing", "of which: our framing alone (model cost removed)"),
    ("serde.decode.framing", "of which: our framing alone, decode (no model validation)"),
    ("model.to_avro", "of which: model → dict (to_avro)"),
    ("model.from_avro", "of which: dict → model (from_avro, pydantic + rules)"),
)


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for("serde")
    events = ctx.sizes.serde_events
    result = PartResult("serde", "Serde: encode / decode DossierSynced", rounds=rounds)
    result.sizes = {"events_per_round": events, "distinct_events": min(1_000, events)}
    serde = asyncio.run(serde_bench.prepare_serde(None))
    inputs = serde_bench.build_inputs(events, min(1_000, events), serde.serializer)
    ctx.say(f"serde: {rounds} rounds of {events} events per case")
    rates = serde_bench.run(inputs, serde_bench.cases(serde), rounds)
    for key, label in _CASES:
        figure = result.figures.add(Figure(key, label, "events/s per CPU-s"))
        for value in rates[key]["cpu"]:
            figure.add(value)
        figure.detail["wall_events_per_s"] = rates[key]["wall"]
    result.ratios = [
        Ratio("serde.encode", "fastavro.encode", "raw fastavro"),
        Ratio("serde.encode", "avro.encode", "Apache avro"),
        Ratio("serde.decode", "fastavro.decode", "raw fastavro"),
        Ratio("serde.decode", "avro.decode", "Apache avro"),
        Ratio("serde.encode.framing", "fastavro.encode", "raw fastavro"),
        Ratio("serde.decode.framing", "fastavro.decode", "raw fastavro"),
        Ratio("fastavro.encode", "avro.encode", "Apache avro"),
        Ratio("fastavro.decode", "avro.decode", "Apache avro"),
    ]
    sizes = sorted(len(data) for data in inputs.wire)
    result.sizes["encoded_bytes_median"] = sizes[len(sizes) // 2]
    parts = serde_bench.breakdown(serde_bench.summary(rates))
    for op in ("encode", "decode"):
        result.notes.append(
            f"{op}: {parts[f'{op}_us']:.1f} µs/event = fastavro {parts[f'{op}_fastavro_us']:.1f} + model "
            f"{parts[f'{op}_model_us']:.1f} + the rest {parts[f'{op}_serde_own_us']:+.1f}; our framing alone "
            f"{parts[f'{op}_framing_us']:+.1f} µs (CPU time, best round; serde_bench.breakdown)"
        )
    result.notes.append(
        "Same records for every case; our serde includes the model (to_avro / from_avro with validation) "
        "and the 5-byte Confluent header, the raw cases work on plain dicts. The registry is an in-process "
        "stub: the serde talks to it only while preparing."
    )
    return result
