"""Cost of signing and verifying per event (issue #12): the batch signature and the per-record proof.

    .venv/bin/python bench/signing_bench.py [--batch 1000] [--rounds 7] [--output bench/results/signing.json]

sign:    leaf hashes + RFC 9162 tree + proofs + one Ed25519 signature per batch + the header values
         (what ``bus.Publisher`` adds to a ``publish_many`` call);
verify:  the views' :class:`bus.signing.verify.Verifier` over every record of those batches, a fresh
         verifier per batch (one Ed25519 check per batch, then a leaf hash and a proof walk per record),
         entitlement included.
Times are CPU seconds of this process (the machine is shared), per event.
The ratios to the unsigned paths use the per-event CPU of the last full bench (``--publish-cpu-us``,
``--rebuild-cpu-us``): an estimate, not measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bus.events.raw import raw_of
from bus.signing import create_agency_key, load_private_key, tree
from bus.signing.envelope import HEADER
from bus.signing.keyring import Keyring
from bus.signing.signer import BatchSigner
from bus.signing.verify import Verifier
from tests import views_samples as s
from tests.unit.runner_fakes import Record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--publish-cpu-us", type=float, default=73.2, help="unsigned publish CPU µs/event")
    parser.add_argument("--rebuild-cpu-us", type=float, default=101.4, help="unsigned rebuild µs/event")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        made = create_agency_key(s.HCMC, Path(tmp))
        signer = BatchSigner(load_private_key(made.private_key_file), made.entry.key_id, s.HCMC)
        keyring = Keyring([made.entry])
    events = [s.report(s.HCMC, code=f"BC-{i}") for i in range(args.batch)]
    raws = [raw_of(e) for e in events]
    parts = [
        (
            e.entity_key().encode(),
            [("ce_id", e.meta.event_id.encode()), ("ce_source", s.HCMC.encode()),
             ("ce_type", e.AVRO_NAME.encode()), ("ce_time", b"2025-07-01T00:00:00.000Z")],
            b"\x00\x00\x00\x00\x01" + bytes(400),
        )
        for e in events
    ]  # fmt: skip
    sign_us, verify_us = [], []
    for _ in range(args.rounds):
        started = time.process_time()
        leaves = [tree.leaf_hash(k, [v for _, v in h], val) for k, h, val in parts]
        headers = signer.sign(leaves)
        sign_us.append((time.process_time() - started) / args.batch * 1e6)
        records = [
            Record("lgsp.reports", 0, i, k, val, (*h, (HEADER, sig)))
            for i, ((k, h, val), sig) in enumerate(zip(parts, headers, strict=True))
        ]
        verifier = Verifier(keyring)
        started = time.process_time()
        refused = [verifier(record, raw) for record, raw in zip(records, raws, strict=True)]
        verify_us.append((time.process_time() - started) / args.batch * 1e6)
        if any(refused):
            raise SystemExit(f"verification failed: {next(r for r in refused if r)}")
    sign, verify = statistics.median(sign_us), statistics.median(verify_us)
    result = {
        "batch": args.batch,
        "rounds": args.rounds,
        "sign_us_per_event": round(sign, 2),
        "verify_us_per_event": round(verify, 2),
        "publish_ratio_estimate": round(args.publish_cpu_us / (args.publish_cpu_us + sign), 3),
        "rebuild_ratio_estimate": round(args.rebuild_cpu_us / (args.rebuild_cpu_us + verify), 3),
        "unsigned_publish_cpu_us": args.publish_cpu_us,
        "unsigned_rebuild_us": args.rebuild_cpu_us,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
