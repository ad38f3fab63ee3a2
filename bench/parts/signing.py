"""Part signing: the CPU cost per event of signing a batch and of verifying its records (#12).

    sign    per batch of the publish part's size: each record's leaf hash (key, identity headers, value),
            the RFC 9162 tree with every record's proof, one Ed25519 signature per signer and the
            ``lgsp_sig`` values (:func:`bus.signing.records.sign_records`: what the Publisher adds to a call)
    verify  the views' :class:`bus.signing.verify.Verifier` over every record of those batches, entitlement
            included: one Ed25519 check per batch signature, then a leaf hash and a proof walk per record

The events are the workload's DossierSynced (three provinces, so a batch of 1,000 carries three signatures
of ~333 records), encoded by the serde with the stub registry; times are CPU seconds of this process. What
the costs do to whole paths is measured beside the unsigned paths in the same run: the publish part's
signed Publisher and the rebuild part's views with and without verification.

    evidence  the views' store work per event with and without the evidence rows (:mod:`bench.evidence_cost`:
              the same events applied to fresh SQLite stores, one ``view_evidence`` row per record or none)
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from bench.cpu_cases import Case, Rates, harness_out_of_gc, run_rounds
from bench.evidence_cost import StoreCases, work_dir
from bench.keys import make_keys
from bench.model import BenchContext, PartResult
from bench.procs import BenchError
from bench.stats import Better, Figure, Ratio
from bench.stub_registry import stub_registry
from bench.workload import AGENCIES, make_dossiers
from bus.cloudevents import kafka_headers
from bus.consumer.decode import LOG_APPEND_TIME
from bus.events import DossierSynced
from bus.events.record import record_of
from bus.handover import Record
from bus.serde import AvroSerializer, SerializationContext
from bus.signing.keyring import Keyring
from bus.signing.keys import now_ms
from bus.signing.records import sign_records
from bus.signing.verify import Verifier

TITLE = "Signing: sign and verify CPU per event (batch signature + per-record proof)"
_TOPIC = "lgsp.dossiers"


@dataclass(frozen=True)
class Consumed:
    """A record as the views get it from Kafka (the fields the verifier reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int = -1  # the run sets the time a broker appended it: the append-time checks run too
    timestamp_type: int = LOG_APPEND_TIME


def run(ctx: BenchContext) -> PartResult:
    rounds = ctx.sizes.rounds_for("signing")
    count, batch = ctx.sizes.signing_events, ctx.sizes.publish_chunk
    result = PartResult("signing", TITLE, rounds=rounds)
    result.sizes = {"events_per_round": count, "batch": batch, "signers": len(AGENCIES)}
    events = make_dossiers(count)
    unsigned = asyncio.run(_encode(events))
    with tempfile.TemporaryDirectory(prefix="bench-keys-") as key_dir:
        chain, entries = make_keys(Path(key_dir), [code for code, _, _ in AGENCIES])
    chunks = [range(i, min(i + batch, count)) for i in range(0, count, batch)]
    signing: list[Record] = []

    def fresh() -> None:
        signing[:] = [replace(r, headers=list(r.headers)) for r in unsigned]

    def sign() -> int:
        for chunk in chunks:
            sign_records(chain, [events[i].meta.source for i in chunk], [signing[i] for i in chunk])
        return count

    fresh()
    sign()
    consumed = [
        Consumed(_TOPIC, 0, offset, r.key, r.value, tuple(r.headers), now_ms())
        for offset, r in enumerate(signing)
    ]
    decoded = [record_of(event) for event in events]  # what the views' decoder hands the verifier
    verifier: list[Verifier] = []

    def new_verifier() -> None:  # nothing verified yet: every batch signature is checked once per round
        verifier[:] = [Verifier(Keyring(entries))]

    def verify() -> int:
        check = verifier[0]
        refused = [
            why for record, event in zip(consumed, decoded, strict=True) if (why := check(record, event))
        ]
        if refused:
            raise BenchError(f"{len(refused)} records did not verify: {refused[0]}")
        return count

    ctx.say(f"signing: {rounds} rounds of {count} events in batches of {batch}")
    with work_dir() as work:
        store = StoreCases(count, Path(work))
        with harness_out_of_gc():
            rates = run_rounds(
                {
                    "sign": [("sign", Case(sign, fresh))],
                    "verify": [("verify", Case(verify, new_verifier))],
                    "evidence": [(name, store.case(name)) for name in ("without", "with")],
                },
                rounds,
            )
    result.figures.add(_per_event("sign", "sign: leaf hashes + tree + Ed25519 per batch", rates["sign"]))
    result.figures.add(_per_event("verify", "verify: the views' Verifier, per record", rates["verify"]))
    for name in ("without", "with"):
        figure = _per_event(f"store.{name}", f"views' store work {name} evidence rows", rates[name])
        figure.detail["bytes_per_event"] = store.bytes_per_event[name]
        result.figures.add(figure)
    result.ratios.append(Ratio("store.with", "store.without", "store work without evidence"))
    result.sizes["evidence_events"] = store.count
    result.notes.append(
        "CPU µs per event of this process, its inputs frozen out of the garbage collector's sight "
        "(gc.freeze). The ratios of the signed to the unsigned paths, measured in the "
        "same run, are in the publish part (signed Publisher / Publisher) and the rebuild part (views "
        "verifying / views not verifying)."
    )
    return result


def _per_event(key: str, label: str, rates: Rates) -> Figure:
    figure = Figure(key, label, "CPU µs/event", Better.LOWER)
    for rate in rates.cpu:
        figure.add(1e6 / rate)
    return figure


async def _encode(events: list[DossierSynced]) -> list[Record]:
    async with stub_registry() as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare([DossierSynced])
        records = []
        for event in events:
            headers = kafka_headers(event)
            value = serializer.serialize(event, SerializationContext(_TOPIC, "value", headers))
            key = event.entity_key().encode()
            records.append(Record(str(event.meta.event_id), event.AVRO_NAME, _TOPIC, key, value, headers))
        return records
