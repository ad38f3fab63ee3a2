"""Encode/decode throughput of DossierSynced: our serde beside raw fastavro and the Apache ``avro`` package.

    .venv/bin/python bench/serde_bench.py [--events 20000] [--rounds 7] [--output bench/results/serde.json]

Cases, each over the same records (the events' ``to_avro()`` dicts for the raw cases):

    serde.encode      event -> Confluent wire bytes (AvroSerializer.serialize: to_avro + fastavro + header)
    serde.decode      wire bytes -> event (AvroDeserializer.deserialize: fastavro + from_avro validation)
    fastavro.encode   dict -> Avro binary (schemaless_writer into a BytesIO)
    fastavro.decode   Avro binary -> dict (schemaless_reader)
    avro.encode       dict -> Avro binary (avro.io.DatumWriter + BinaryEncoder)
    avro.decode       Avro binary -> dict (avro.io.DatumReader + BinaryDecoder)
    model.to_avro     event -> dict only (the model's share of serde.encode)
    model.from_avro   dict -> event only (the model's share of serde.decode: pydantic + semantic rules)
    serde.*.framing   the serde with free model conversions (FramingOnly): framing + fastavro only

Each round runs every case once, in turn, after one warm-up round; the result is the median events/s with
min and max over rounds. The registry is an in-process stub by default (the serde only talks to it while
preparing, never per record); ``--registry-url`` uses a real one whose subjects are registered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, Self

import avro
import avro.io
import avro.schema
import fastavro
import httpx
from fastavro import schemaless_reader, schemaless_writer
from pydantic import PrivateAttr

from bus.events import DossierSynced, EventMeta
from bus.registry import SchemaRegistryClient, schema_text
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import RegistrySettings

ROOT = Path(__file__).resolve().parent
CTX = SerializationContext("lgsp.dossiers")
AGENCIES = (
    ("000.00.00.H29", "79", "Ủy ban nhân dân Thành phố Hồ Chí Minh"),
    ("000.00.00.H24", "01", "Ủy ban nhân dân thành phố Hà Nội"),
    ("000.00.00.H14", "04", "Ủy ban nhân dân tỉnh Cao Bằng"),
)
PROCEDURES = (
    ("1.000494", "HT", "Hộ tịch", "Đăng ký khai sinh có yếu tố nước ngoài"),
    (
        "1.001193",
        "DD",
        "Đất đai",
        "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
    ),
    ("2.000488", "LLTP", "Lý lịch tư pháp", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam"),
)


def make_dossiers(count: int, seed: int = 20250701) -> list[DossierSynced]:
    """``count`` valid, varied dossier snapshots (finished and in progress), reproducible from ``seed``."""
    rng = random.Random(seed)
    return [_dossier(n, rng) for n in range(count)]


def _dossier(n: int, rng: random.Random) -> DossierSynced:
    agency, province, agency_name = rng.choice(AGENCIES)
    number, sector, sector_name, name = rng.choice(PROCEDURES)
    received = datetime(2025, 7, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24 * 90))
    finished = rng.random() < 0.6
    return DossierSynced.model_validate(
        {
            "meta": EventMeta.new(agency, occurred_at=received + timedelta(hours=rng.randrange(1, 200))),
            "dossier_code": f"{agency}-250701-{n % 1_000_000:06d}",
            "procedure_code": f"{number}.000.00.00.{agency[-3:]}",
            "procedure_name": name,
            "sector_code": sector,
            "sector_name": sector_name,
            "processing_agency": {"code": agency, "name": agency_name},
            "province_code": province,
            "applicant_type": rng.choice(["CITIZEN", "BUSINESS"]),
            "channel": rng.choice(["COUNTER", "ONLINE", "POSTAL"]),
            "online_level": rng.choice(["FULL", "PARTIAL", "NONE"]),
            "status": "RESOLVED" if finished else rng.choice(["REGISTERED", "ACCEPTED", "PROCESSING"]),
            "received_at": received,
            "due_at": received + timedelta(days=rng.randrange(1, 30)),
            "finished_at": received + timedelta(days=rng.randrange(0, 20)) if finished else None,
            "returned_at": None,
            "fees_paid_online": rng.random() < 0.5,
            "digitised": rng.random() < 0.7,
            "version": rng.randrange(1, 12),
            "result_digitised": rng.choice([None, True, False]),
        }
    )


class StubRegistry:
    """Answers the two calls the serde makes while preparing: lookup (id 1) and schema by id."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.text = schema_text(schema)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/schemas/ids/1"):
            return httpx.Response(200, json={"schema": self.text, "schemaType": "AVRO"})
        return httpx.Response(200, json={"subject": DossierSynced.AVRO_NAME, "version": 1, "id": 1})


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


async def prepare_serde(registry_url: str | None) -> Serde:
    """Serializer and deserializers prepared for DossierSynced; no registry calls happen after this."""
    transport = None
    if registry_url is None:
        registry_url = "http://stub.invalid/apis/ccompat/v7"
        transport = httpx.MockTransport(StubRegistry(DossierSynced.avro_schema_source()))
    async with SchemaRegistryClient(RegistrySettings(url=registry_url), transport=transport) as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare([DossierSynced, FramingOnly])
        deserializer = AvroDeserializer(registry)
        framing = AvroDeserializer(registry, reader_types={DossierSynced.AVRO_NAME: FramingOnly})
        sample = serializer.serialize(make_dossiers(1)[0], CTX)
        for reader in (deserializer, framing):
            failed = await reader.prepare_ids([reader.schema_id_of(sample)])
            if failed:
                raise SystemExit(f"could not prepare the deserializer: {failed}")
    return Serde(serializer, deserializer, framing)


@dataclass
class Inputs:
    events: list[DossierSynced]
    framing_events: list[FramingOnly]
    records: list[dict[str, Any]]
    wire: list[bytes]
    avro_binary: list[bytes]
    decoded: list[dict[str, Any]]


def cases(serde: Serde) -> dict[str, Callable[[Inputs], int]]:
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

    return {
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


Rates = dict[str, dict[str, list[float]]]
"""case -> clock ("cpu" or "wall") -> events/s per round."""


def measure(case: Callable[[Inputs], int], inputs: Inputs) -> tuple[float, float]:
    """Events/s by process CPU time and by wall time (the machine may be shared: CPU time is steadier)."""
    wall, cpu = time.perf_counter(), time.process_time()
    processed = case(inputs)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return processed / cpu, processed / wall


def run(inputs: Inputs, all_cases: dict[str, Callable[[Inputs], int]], rounds: int) -> Rates:
    for case in all_cases.values():  # warm-up: caches, lazy imports, CPU frequency
        measure(case, inputs)
    rates: Rates = {name: {"cpu": [], "wall": []} for name in all_cases}
    for _ in range(rounds):
        for name, case in all_cases.items():
            cpu, wall = measure(case, inputs)
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


def breakdown(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """CPU microseconds per event from each case's best round (the least disturbed on a shared machine),
    and what the serde adds beyond fastavro plus the model."""

    def micros(case: str) -> float:
        return 1e6 / results[case]["cpu"]["max"]

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


def report(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        f"{'case':<22}{'cpu median ev/s':>16}{'(min':>10}{'max)':>10}"
        f"{'wall median':>14}{'(min':>10}{'max)':>10}"
    ]
    for name, clocks in results.items():
        cpu, wall = clocks["cpu"], clocks["wall"]
        lines.append(
            f"{name:<22}{cpu['median']:>16,.0f}{cpu['min']:>10,.0f}{cpu['max']:>10,.0f}"
            f"{wall['median']:>14,.0f}{wall['min']:>10,.0f}{wall['max']:>10,.0f}"
        )
    for clock in ("cpu", "wall"):
        enc = results["serde.encode"][clock]["median"] / results["fastavro.encode"][clock]["median"]
        dec = results["serde.decode"][clock]["median"] / results["fastavro.decode"][clock]["median"]
        lines.append(f"serde / raw fastavro ({clock}): encode {enc:.2f}x, decode {dec:.2f}x")
    parts = breakdown(results)
    for op in ("encode", "decode"):
        lines.append(
            f"{op}: {parts[f'{op}_us']:.1f} us/event = fastavro {parts[f'{op}_fastavro_us']:.1f}"
            f" + model {parts[f'{op}_model_us']:.1f} + rest {parts[f'{op}_serde_own_us']:+.1f};"
            f" serde framing alone {parts[f'{op}_framing_us']:+.1f} (best-round cpu)"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="records per case per round")
    parser.add_argument("--distinct", type=int, default=1_000, help="distinct events, cycled")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--registry-url", default=None, help="a real ccompat registry (default: in-process stub)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "serde.json")
    parser.add_argument("--label", default="", help="free text stored with the result (e.g. before/after)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_before = os.getloadavg()
    serde = asyncio.run(prepare_serde(args.registry_url))
    inputs = build_inputs(args.events, min(args.distinct, args.events), serde.serializer)
    results = summary(run(inputs, cases(serde), args.rounds))
    print(report(results))
    payload = {
        "benchmark": "serde",
        "event": DossierSynced.AVRO_NAME,
        "label": args.label,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events_per_round": args.events,
        "distinct_events": min(args.distinct, args.events),
        "rounds": args.rounds,
        "bytes_per_event_median": statistics.median(len(w) for w in inputs.wire),
        "unit": "events/s; cpu: per second of process CPU time (steadier when shared); wall: per second",
        "results": results,
        "breakdown_best_round_cpu_us_per_event": breakdown(results),
        "environment": {
            "python": sys.version.split()[0],
            "fastavro": fastavro.__version__,
            "avro": getattr(avro, "__version__", "unknown"),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "registry": args.registry_url or "in-process stub",
            "loadavg_1_5_15_before": load_before,
            "loadavg_1_5_15_after": os.getloadavg(),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
