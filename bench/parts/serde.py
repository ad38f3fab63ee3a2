"""Part serde: our Avro serde beside raw fastavro (schemaless) and the Apache ``avro`` package.

Cases, each over the same DossierSynced records (:mod:`bench.workload`; the events' ``to_avro()`` dicts for
the raw cases):

    serde.encode      event -> Confluent wire bytes (AvroSerializer.serialize: to_avro + fastavro + header)
    serde.decode      wire bytes -> event (AvroDeserializer.deserialize: fastavro + from_avro validation)
    fastavro.encode   dict -> Avro binary (schemaless_writer into a BytesIO)
    fastavro.decode   Avro binary -> dict (schemaless_reader)
    avro.encode       dict -> Avro binary (avro.io.DatumWriter + BinaryEncoder)
    avro.decode       Avro binary -> dict (avro.io.DatumReader + BinaryDecoder)
    model.to_avro     event -> dict only (the model's share of serde.encode)
    model.from_avro   dict -> event only (the model's share of serde.decode: pydantic + semantic rules)
    serde.*.framing   the serde with free model conversions (FramingOnly): framing + fastavro only

Each round runs every case once, in turn, after one warm-up round. Rates are per second of process CPU
time, which stays steady on a shared machine (wall-clock rates are kept in the JSON). The registry is the
in-process stub (:mod:`bench.stub_registry`): the serde talks to it only while preparing.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Self

import avro
import avro.io
import avro.schema
from fastavro import schemaless_reader, schemaless_writer
from pydantic import PrivateAttr

from bench.cpu_cases import Case, Rates, as_figure, run_rounds
from bench.model import BenchContext, PartResult
from bench.procs import BenchError
from bench.stats import Ratio
from bench.stub_registry import stub_registry
from bench.workload import make_dossiers
from bus.events import DossierSynced
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext

CTX = SerializationContext("lgsp.dossiers")
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
    serde = asyncio.run(prepare_serde())
    inputs = build_inputs(events, min(1_000, events), serde.serializer)
    ctx.say(f"serde: {rounds} rounds of {events} events per case")
    rates = run_rounds({name: [(name, case)] for name, case in cases(serde, inputs).items()}, rounds)
    for key, label in _CASES:
        result.figures.add(as_figure(key, label, rates[key]))
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
    parts = breakdown(rates)
    for op in ("encode", "decode"):
        result.notes.append(
            f"{op}: {parts[f'{op}_us']:.1f} µs/event = fastavro {parts[f'{op}_fastavro_us']:.1f} + model "
            f"{parts[f'{op}_model_us']:.1f} + the rest {parts[f'{op}_serde_own_us']:+.1f}; our framing alone "
            f"{parts[f'{op}_framing_us']:+.1f} µs (CPU time, best round)"
        )
    result.notes.append(
        "Same records for every case; our serde includes the model (to_avro / from_avro with validation) "
        "and the 5-byte Confluent header, the raw cases work on plain dicts. The registry is an in-process "
        "stub: the serde talks to it only while preparing."
    )
    return result


class FramingOnly(DossierSynced):
    """DossierSynced whose model conversions cost nothing: through the serde, only framing + fastavro remain.

    ``to_avro`` hands back a prepared dict and ``from_avro`` the decoded dict itself, so ``serde.*.framing``
    against ``fastavro.*`` on the same records is exactly what the serde adds.
    """

    _record: dict[str, Any] = PrivateAttr(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        return self._record

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Self:
        return record  # type: ignore[return-value]  # a dict on purpose: no model work is measured


def framing_only(event: DossierSynced) -> FramingOnly:
    twin = FramingOnly.model_validate(event.model_dump())
    twin._record = event.to_avro()
    return twin


@dataclass
class Serde:
    serializer: AvroSerializer
    deserializer: AvroDeserializer
    framing_deserializer: AvroDeserializer


async def prepare_serde() -> Serde:
    """Serializer and deserializers prepared for DossierSynced; no registry calls happen after this."""
    async with stub_registry() as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare([DossierSynced, FramingOnly])
        deserializer = AvroDeserializer(registry)
        framing = AvroDeserializer(registry, reader_types={DossierSynced.AVRO_NAME: FramingOnly})
        sample = serializer.serialize(make_dossiers(1)[0], CTX)
        for reader in (deserializer, framing):
            failed = await reader.prepare_ids([reader.schema_id_of(sample)])
            if failed:
                raise BenchError(f"could not prepare the deserializer: {failed}")
    return Serde(serializer, deserializer, framing)


@dataclass
class Inputs:
    events: list[DossierSynced]
    framing_events: list[FramingOnly]
    records: list[dict[str, Any]]
    wire: list[bytes]
    avro_binary: list[bytes]
    decoded: list[dict[str, Any]]


def cases(serde: Serde, inputs: Inputs) -> dict[str, Case]:
    """Each case processes every input once and returns how many it processed."""
    serializer, deserializer = serde.serializer, serde.deserializer
    parsed = DossierSynced.avro_schema()
    apache = avro.schema.parse(json.dumps(DossierSynced.avro_schema_source()))
    writer, reader = avro.io.DatumWriter(apache), avro.io.DatumReader(apache)

    def serde_encode(inputs: Inputs) -> int:
        serialize = serializer.serialize
        return len([serialize(event, CTX) for event in inputs.events])

    def serde_decode(inputs: Inputs) -> int:
        deserialize = deserializer.deserialize
        return len([deserialize(data, CTX) for data in inputs.wire])

    def serde_encode_framing(inputs: Inputs) -> int:
        # the record the model hands out, written as serialize() writes a record it did not build itself
        serialize = serializer.serialize_record
        return len([serialize(FramingOnly, event.to_avro(), CTX) for event in inputs.framing_events])

    def serde_decode_framing(inputs: Inputs) -> int:
        deserialize = serde.framing_deserializer.deserialize
        return len([deserialize(data, CTX) for data in inputs.wire])

    def fastavro_encode(inputs: Inputs) -> int:
        out = []
        for record in inputs.records:
            buffer = BytesIO()
            schemaless_writer(buffer, parsed, record)
            out.append(buffer.getvalue())
        return len(out)

    def fastavro_decode(inputs: Inputs) -> int:
        return len([schemaless_reader(BytesIO(data), parsed, None) for data in inputs.avro_binary])

    def avro_encode(inputs: Inputs) -> int:
        out = []
        for record in inputs.records:
            buffer = BytesIO()
            writer.write(record, avro.io.BinaryEncoder(buffer))
            out.append(buffer.getvalue())
        return len(out)

    def avro_decode(inputs: Inputs) -> int:
        return len([reader.read(avro.io.BinaryDecoder(BytesIO(data))) for data in inputs.avro_binary])

    def model_to_avro(inputs: Inputs) -> int:
        return len([event.to_avro() for event in inputs.events])

    def model_from_avro(inputs: Inputs) -> int:
        return len([DossierSynced.from_avro(record) for record in inputs.decoded])

    runs: dict[str, Callable[[Inputs], int]] = {
        "serde.encode": serde_encode,
        "serde.decode": serde_decode,
        "serde.encode.framing": serde_encode_framing,
        "serde.decode.framing": serde_decode_framing,
        "fastavro.encode": fastavro_encode,
        "fastavro.decode": fastavro_decode,
        "avro.encode": avro_encode,
        "avro.decode": avro_decode,
        "model.to_avro": model_to_avro,
        "model.from_avro": model_from_avro,
    }
    return {name: Case(functools.partial(run, inputs)) for name, run in runs.items()}


def build_inputs(count: int, distinct: int, serializer: AvroSerializer) -> Inputs:
    base = make_dossiers(distinct)
    events = [base[i % distinct] for i in range(count)]
    twins = [framing_only(event) for event in base]
    framing_events = [twins[i % distinct] for i in range(count)]
    records = [event.to_avro() for event in framing_events]  # the very dicts the framing cases write
    wire = [serializer.serialize(event, CTX) for event in events]
    avro_binary = [data[5:] for data in wire]
    parsed = DossierSynced.avro_schema()
    distinct_records = [_read_record(data, parsed) for data in avro_binary[:distinct]]
    decoded = [distinct_records[i % distinct] for i in range(count)]
    return Inputs(events, framing_events, records, wire, avro_binary, decoded)


def _read_record(data: bytes, parsed: Any) -> dict[str, Any]:
    record = schemaless_reader(BytesIO(data), parsed, None)
    if not isinstance(record, dict):
        raise TypeError("DossierSynced decodes to a record")
    return record


def breakdown(rates: Mapping[str, Rates]) -> dict[str, float]:
    """CPU microseconds per event from each case's best round, and what the serde adds beyond fastavro plus
    the model."""

    def micros(case: str) -> float:
        return rates[case].best_cpu_us

    return {
        "encode_us": micros("serde.encode"),
        "encode_fastavro_us": micros("fastavro.encode"),
        "encode_model_us": micros("model.to_avro"),
        "encode_serde_own_us": micros("serde.encode") - micros("fastavro.encode") - micros("model.to_avro"),
        "decode_us": micros("serde.decode"),
        "decode_fastavro_us": micros("fastavro.decode"),
        "decode_model_us": micros("model.from_avro"),
        "decode_serde_own_us": micros("serde.decode") - micros("fastavro.decode") - micros("model.from_avro"),
        "encode_framing_us": micros("serde.encode.framing") - micros("fastavro.encode"),
        "decode_framing_us": micros("serde.decode.framing") - micros("fastavro.decode"),
    }
