"""Part signing: the CPU cost per event of signing a batch and of verifying its records (#12).

    sign    per batch of the publish part's size: each record's leaf hash (key, identity headers, value),
            the RFC 9162 tree with every record's proof, one Ed25519 signature per signer and the
            ``lgsp_sig`` values (:func:`bench.keys.sign_records`: what the Publisher adds to a call)
    verify  the views' :class:`bus.signing.verify.Verifier` over every record of those batches, entitlement
            included: one Ed25519 check per batch signature, then a leaf hash and a proof walk per record

The events are the workload's DossierSynced (three provinces, so a batch of 1,000 carries three signatures
of ~333 records), encoded by the serde with the stub registry; times are CPU seconds of this process. What
the costs do to whole paths is measured beside the unsigned paths in the same run: the publish part's
signed Publisher and the rebuild part's views with and without verification.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_cases import Case, Rates, run_rounds
from bench.keys import RawRecord, make_keys, sign_records
from bench.model import BenchContext, PartResult
from bench.procs import BenchError
from bench.stats import Better, Figure
from bench.stub_registry import stub_registry
from bench.workload import AGENCIES, make_dossiers
from bus.cloudevents import kafka_headers
from bus.events import DossierSynced
from bus.serde import AvroSerializer, SerializationContext
from bus.signing.keyring import Keyring
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
    timestamp: int = -1  # as a record without a broker time: the append-time checks are not measured
    timestamp_type: int = 0


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
    signing: list[RawRecord] = []

    def fresh() -> None:
        signing[:] = [RawRecord(r.key, r.value, list(r.headers)) for r in unsigned]

    def sign() -> int:
        for chunk in chunks:
            sign_records(chain, [signing[i] for i in chunk])
        return count

    fresh()
    sign()
    consumed = [
        Consumed(_TOPIC, 0, offset, r.key, r.value, tuple(r.headers)) for offset, r in enumerate(signing)
    ]
    verifier: list[Verifier] = []

    def new_verifier() -> None:  # nothing verified yet: every batch signature is checked once per round
        verifier[:] = [Verifier(Keyring(entries))]

    def verify() -> int:
        check = verifier[0]
        refused = [
            why for record, event in zip(consumed, events, strict=True) if (why := check(record, event))
        ]
        if refused:
            raise BenchError(f"{len(refused)} records did not verify: {refused[0]}")
        return count

    ctx.say(f"signing: {rounds} rounds of {count} events in batches of {batch}")
    rates = run_rounds(
        {"sign": [("sign", Case(sign, fresh))], "verify": [("verify", Case(verify, new_verifier))]}, rounds
    )
    result.figures.add(_per_event("sign", "sign: leaf hashes + tree + Ed25519 per batch", rates["sign"]))
    result.figures.add(_per_event("verify", "verify: the views' Verifier, per record", rates["verify"]))
    result.notes.append(
        "CPU µs per event of this process. The ratios of the signed to the unsigned paths, measured in the "
        "same run, are in the publish part (signed Publisher / Publisher) and the rebuild part (views "
        "verifying / views not verifying)."
    )
    return result


def _per_event(key: str, label: str, rates: Rates) -> Figure:
    figure = Figure(key, label, "CPU µs/event", Better.LOWER)
    for rate in rates.cpu:
        figure.add(1e6 / rate)
    return figure


async def _encode(events: list[DossierSynced]) -> list[RawRecord]:
    async with stub_registry() as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare([DossierSynced])
        records = []
        for event in events:
            headers = kafka_headers(event)
            value = serializer.serialize(event, SerializationContext(_TOPIC, "value", headers))
            records.append(RawRecord(event.entity_key().encode(), value, headers))
        return records
