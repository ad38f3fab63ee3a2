"""Signed batches: the hash tree (RFC 9162), the envelope, and every verdict of the views' verifier."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bus.consumer.admission import Count
from bus.consumer.decode import LOG_APPEND_TIME
from bus.errors import ConfigError
from bus.events import Event
from bus.events.record import record_of
from bus.settings import Settings, SigningSettings
from bus.signing import create_agency_key, load_private_key, tree
from bus.signing.envelope import (
    _CANONICAL_V1,
    HEADER,
    MAX_JWS,
    Envelope,
    parse_envelope,
    parse_protected,
    record_headers,
)
from bus.signing.keyring import Keyring
from bus.signing.keys import KeyEntry, NewKey, b64url, b64url_bytes
from bus.signing.signer import BatchSigner, KeyChain
from bus.signing.verify import NODE_BUDGET, Verifier
from consumers.admission import CountedSignatures, ViewsAdmission
from tests import views_samples as s
from tests.unit.runner_fakes import Record

pytestmark = pytest.mark.unit


@given(st.integers(1, 70))
def test_every_leaf_proves_the_root_and_no_other_position(size: int) -> None:
    leaves = [bytes([i % 256]) * 32 for i in range(size)]
    top, paths = tree.proofs(leaves)
    assert top == tree.root(leaves)
    for index, path in enumerate(paths):
        hashes = [path[at : at + 32] for at in range(0, len(path), 32)]
        assert tree.proof_length(index, size) == len(hashes)
        assert tree.fits(path, index, size)
        assert not tree.fits(path + bytes(32), index, size)
        assert tree.root_from_proof(leaves[index], index, size, hashes) == top
        if size > 1:
            assert tree.root_from_proof(leaves[index], (index + 1) % size, size, hashes) != top
    assert not tree.fits(bytes(32 * 41), 0, tree.MAX_LEAVES + 1)  # node keys stay distinct below it


def test_the_closed_form_proof_length_is_every_proofs_length() -> None:
    for size in range(1, 258):
        _, paths = tree.proofs([bytes([i % 256]) * 32 for i in range(size)])
        assert [tree.proof_length(i, size) for i in range(size)] == [len(p) // 32 for p in paths], size


class Keys:
    def __init__(self, tmp: Path) -> None:
        self.hcmc = create_agency_key(s.HCMC, tmp)
        self.hanoi_like = create_agency_key(s.NGHE_AN, tmp)
        self.keyring = Keyring([self.hcmc.entry, self.hanoi_like.entry])

    def signer(self, made: NewKey) -> BatchSigner:
        key = load_private_key(made.private_key_file)
        return BatchSigner(key, made.entry.key_id, made.entry.agency)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


def _records(events: list[Event], signer: BatchSigner | None) -> list[Record]:
    unsigned = [
        (
            event.entity_key().encode(),
            [
                ("ce_id", event.meta.event_id.encode()),
                ("ce_source", event.meta.source.encode()),
                ("ce_type", event.AVRO_NAME.encode()),
                ("ce_time", b"2025-07-01T00:00:00.000Z"),
            ],
            f"value-{i}".encode(),
        )
        for i, event in enumerate(events)
    ]
    if signer is not None:
        leaves = [tree.leaf_hash(k, [v for _, v in h], val) for k, h, val in unsigned]
        for (_, headers, _), sig in zip(unsigned, signer.sign(leaves), strict=True):
            headers.append((HEADER, sig))
    return [Record("lgsp.reports", 0, i, k, v, tuple(h)) for i, (k, h, v) in enumerate(unsigned)]


def _verdicts(verifier: Verifier, events: list[Event], records: list[Record]) -> list[str | None]:
    out = []
    for record, event in zip(records, events, strict=True):
        rejection = verifier(record, record_of(event))
        out.append(None if rejection is None else rejection.reason.value)
    return out


def _as_v1(record: Record) -> Record:
    """The record with its envelope as version 1 wrote it (JSON, proof base64url): what is already on the
    log from before version 2."""
    old = parse_envelope(dict(record.headers)[HEADER])
    v1 = b'{"v":1,"jws":"%b","i":%d,"p":"%b"}' % (old.jws.encode(), old.index, b64url_bytes(old.path))
    return replace(record, headers=tuple((n, v1 if n == HEADER else v) for n, v in record.headers))


def _with_envelope(record: Record, value: bytes) -> Record:
    return replace(record, headers=tuple((n, value if n == HEADER else v) for n, v in record.headers))


def test_a_signed_batch_verifies_record_by_record(keys: Keys) -> None:
    events: list[Event] = [s.report(s.HCMC, code=f"BC-{i}") for i in range(5)]
    records = _records(events, keys.signer(keys.hcmc))
    verifier = Verifier(keys.keyring)
    assert _verdicts(verifier, events, records) == [None] * 5
    assert verifier.last_key_id == keys.hcmc.entry.key_id
    # Each record alone, in any order (a fresh verifier: no cached root).
    assert _verdicts(Verifier(keys.keyring), events[3:4], records[3:4]) == [None]
    envelope = parse_envelope(dict(records[0].headers)[HEADER])
    claims = parse_protected(envelope.protected).claims
    assert (claims.attestation, claims.agency, claims.size) == ("agency", s.HCMC, 5)


def test_each_attack_gets_its_reason(keys: Keys) -> None:
    report: list[Event] = [s.report(s.HCMC)]
    verifier = Verifier(keys.keyring)
    # Written straight to Kafka without an envelope.
    assert _verdicts(verifier, report, _records(report, None)) == ["signature.missing"]
    # One value byte changed.
    good = _records(report, keys.signer(keys.hcmc))[0]
    tampered = replace(good, value=b"X" + (good.value or b"")[1:])
    assert _verdicts(verifier, report, [tampered]) == ["signature.invalid"]
    # Another identity header (ce_source) swapped.
    swapped = replace(
        good, headers=tuple((n, b"000.00.00.H41" if n == "ce_source" else v) for n, v in good.headers)
    )
    assert _verdicts(verifier, report, [swapped]) == ["signature.invalid"]
    # Signed with another agency's (valid) key: Nghệ An may not file HCMC's report.
    assert _verdicts(verifier, report, _records(report, keys.signer(keys.hanoi_like))) == [
        "signer.not-entitled"
    ]
    # A key nobody put on the keyring.
    stranger = create_agency_key(s.HCMC, keys.hcmc.private_key_file.parent)
    assert _verdicts(verifier, report, _records(report, keys.signer(stranger))) == ["signer.unknown"]
    # Revoked before the batch was signed.
    keys.keyring.put(keys.hcmc.entry.revoked(0))
    assert _verdicts(Verifier(keys.keyring), report, [good]) == ["signer.revoked"]
    # A garbage envelope.
    garbage = replace(good, headers=(*good.headers[:-1], (HEADER, b'{"v":1,"jws":"a.b"}')))
    assert _verdicts(verifier, report, [garbage]) == ["signature.invalid"]


def test_revocation_stops_only_what_is_signed_after_it(keys: Keys) -> None:
    report: list[Event] = [s.report(s.HCMC)]
    before = _records(report, keys.signer(keys.hcmc))
    issued = parse_protected(parse_envelope(dict(before[0].headers)[HEADER]).protected).claims.issued_at_ms
    keys.keyring.put(keys.hcmc.entry.revoked(issued + 1))
    assert _verdicts(Verifier(keys.keyring), report, before) == [None]


def test_a_record_the_broker_appended_after_the_revocation_is_refused_whatever_its_iat(keys: Keys) -> None:
    # A thief holding a revoked key sets ``iat`` before the revocation; the broker's append time tells.
    report: list[Event] = [s.report(s.HCMC)]
    signed = _records(report, keys.signer(keys.hcmc))[0]
    issued = parse_protected(parse_envelope(dict(signed.headers)[HEADER]).protected).claims.issued_at_ms
    keys.keyring.put(keys.hcmc.entry.revoked(issued + 1))
    appended_after = replace(signed, timestamp=issued + 1, timestamp_type=LOG_APPEND_TIME)
    appended_before = replace(signed, timestamp=issued, timestamp_type=LOG_APPEND_TIME)
    producer_time_after = replace(
        signed, timestamp=issued + 1, timestamp_type=0
    )  # the producer's word: no proof
    verdicts = [
        _verdicts(Verifier(keys.keyring), report, [record])
        for record in (appended_after, appended_before, producer_time_after)
    ]
    assert verdicts == [["signer.revoked"], [None], [None]]


def test_a_forged_signature_on_a_valid_proof_fails(keys: Keys) -> None:
    report: list[Event] = [s.report(s.HCMC)]
    good = _records(report, keys.signer(keys.hcmc))[0]
    envelope = parse_envelope(dict(good.headers)[HEADER])
    flipped = bytes([envelope.signature[0] ^ 1]) + envelope.signature[1:]
    (value,) = record_headers(f"{envelope.protected}..{b64url(flipped)}", [envelope.path])
    forged = _with_envelope(good, value)
    assert _verdicts(Verifier(keys.keyring), report, [forged]) == ["signature.invalid"]
    assert _verdicts(Verifier(keys.keyring), report, [_as_v1(forged)]) == ["signature.invalid"]


def test_unsigned_records_pass_only_when_allowed_and_are_counted(keys: Keys) -> None:
    counted: list[tuple[str, str]] = []

    class Counters:
        def rejected(self, topic: str, reason: str, source: str) -> None:
            counted.append((reason, source))

        def unsigned(self, topic: str, source: str) -> None:
            counted.append(("unsigned", source))

    report: list[Event] = [s.report(s.HCMC)]
    unsigned = _records(report, None)
    migrating = Verifier(keys.keyring, unsigned_sources={s.HCMC}, counters=Counters())
    assert _verdicts(migrating, report, unsigned) == [None]
    other: list[Event] = [s.report(s.NGHE_AN)]
    assert _verdicts(migrating, other, _records(other, None)) == ["signature.missing"]
    assert _verdicts(Verifier(keys.keyring, require=False), report, unsigned) == [None]
    assert counted == [("unsigned", s.HCMC), ("signature.missing", s.NGHE_AN)]


def test_a_keychain_signs_a_departments_events_with_its_provinces_key(keys: Keys) -> None:
    chain = KeyChain([keys.signer(keys.hcmc), keys.signer(keys.hanoi_like)])
    department = chain.signer_for("000.00.03.H29")
    assert department is not None
    assert department.key_id == keys.hcmc.entry.key_id
    assert chain.signer_for(s.FINANCE) is None


def test_keyring_entries_keep_the_latest_per_key_id(keys: Keys) -> None:
    entry: KeyEntry = keys.hcmc.entry
    ring = Keyring([entry, entry.revoked(5)])
    assert ring.get(entry.key_id) == entry.revoked(5)


def test_a_tampered_record_fails_after_its_batch_mates_verified(keys: Keys) -> None:
    # The verifier remembers authenticated tree nodes: a record changed after its siblings passed must still
    # fail (its walk reaches a remembered node with a different hash, or none at all).
    events: list[Event] = [s.report(s.HCMC, code=f"BC-{i}") for i in range(9)]
    records = _records(events, keys.signer(keys.hcmc))
    verifier = Verifier(keys.keyring)
    assert _verdicts(verifier, events[:8], records[:8]) == [None] * 8
    tampered = [replace(r, value=(r.value or b"") + b"!") for r in records]
    assert _verdicts(verifier, events, tampered) == ["signature.invalid"] * 9
    assert _verdicts(verifier, events[8:], records[8:]) == [None]


def test_the_ingress_attests_the_agency_it_authenticated(keys: Keys, tmp_path: Path) -> None:
    made = create_agency_key(s.GOV_OFFICE, tmp_path / "ingress", role="ingress")
    keys.keyring.put(made.entry)
    ingress = BatchSigner(load_private_key(made.private_key_file), made.entry.key_id, "ingress")

    def attested(events: list[Event], agency: str, grants: tuple[str, ...] = ()) -> list[str | None]:
        parts = _records(events, None)
        leaves = [tree.leaf_hash(r.key, [v for _, v in r.headers], r.value) for r in parts]
        sigs = ingress.sign(
            leaves, attestation="ingress", agency=agency, api_key_id="0123456789ab", grants=grants
        )
        signed = [replace(r, headers=(*r.headers, (HEADER, sig))) for r, sig in zip(parts, sigs, strict=True)]
        return _verdicts(Verifier(keys.keyring), events, signed)

    report: list[Event] = [s.report(s.HCMC)]
    assert attested(report, s.HCMC) == [None]
    finance: list[Event] = [s.report(s.FINANCE)]
    assert attested(finance, s.HCMC) == ["signer.not-entitled"]
    assert attested(finance, s.HCMC, grants=(s.FINANCE,)) == [None]  # the API key's grant, attested
    claims = parse_protected(parse_envelope(_signed_header(ingress)).protected).claims
    assert (claims.attestation, claims.api_key_id) == ("ingress", "0123456789ab")
    # An agency key cannot pass itself off as the ingress.
    own = keys.signer(keys.hcmc)
    parts = _records(report, None)
    leaves = [tree.leaf_hash(r.key, [v for _, v in r.headers], r.value) for r in parts]
    (sig,) = own.sign(leaves, attestation="ingress", agency=s.HCMC)
    assert _verdicts(
        Verifier(keys.keyring), report, [replace(parts[0], headers=(*parts[0].headers, (HEADER, sig)))]
    ) == ["signer.not-entitled"]


def _signed_header(signer: BatchSigner) -> bytes:
    (header,) = signer.sign([bytes(32)], attestation="ingress", agency=s.HCMC, api_key_id="0123456789ab")
    return header


def test_a_key_dir_gives_its_agency_keys_as_signers_and_its_ingress_key_as_attester(tmp_path: Path) -> None:
    for agency in (s.HCMC, s.NGHE_AN):
        create_agency_key(agency, tmp_path)
    first = create_agency_key(s.GOV_OFFICE, tmp_path, role="ingress").entry
    chain = KeyChain.from_settings(SigningSettings(key_dir=tmp_path))
    assert chain is not None
    assert len(chain) == 2
    assert chain.attester is not None
    assert chain.attester.key_id == first.key_id
    create_agency_key(s.GOV_OFFICE, tmp_path, role="ingress")  # a stack's key dir holds one ingress key
    with pytest.raises(ConfigError, match="two ingress keys"):
        KeyChain.from_settings(SigningSettings(key_dir=tmp_path))


_B64 = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60)


@given(_B64, _B64, st.integers(0, 300), st.lists(st.binary(min_size=32, max_size=32), max_size=12))
def test_version_2_and_every_spelling_of_version_1_read_the_same(
    protected: str, signature: str, index: int, proof: list[bytes]
) -> None:
    written = record_headers(f"{protected}..{signature}", [b""] * index + [b"".join(proof)])[index]
    assert written[0] == 2
    v1 = b'{"v":1,"jws":"%b..%b","i":%d,"p":"%b"}' % (
        protected.encode(),
        signature.encode(),
        index,
        b64url_bytes(b"".join(proof)),
    )
    respelled = json.dumps(json.loads(v1), indent=1, sort_keys=True).encode()  # not the form v1 wrote
    assert _CANONICAL_V1.fullmatch(v1) is not None
    assert _CANONICAL_V1.fullmatch(respelled) is None
    read = parse_envelope(written)
    assert read == parse_envelope(v1) == parse_envelope(respelled)
    assert (read.protected, read.signature_b64, read.index, read.proof) == (
        protected,
        signature,
        index,
        tuple(proof),
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"", "empty"),
        (b"\x02", "cut short"),
        (b"\x02\x00\x04a..b\x00\x00\x00", "cut short"),  # the index is four bytes
        (b"\x02\x00\x05a..b\x00\x00\x00\x00", "cut short"),  # the JWS is shorter than it says
        (b"\x02\x00\x04a..b\x00\x00\x00\x00" + bytes(31), "whole 32-byte hashes"),
        (b"\x03\x00\x04a..b\x00\x00\x00\x00", "not an lgsp_sig envelope"),
        (b'{"v":2,"jws":"a..b","i":0,"p":""}', "not an lgsp_sig envelope"),  # no JSON version 2
    ],
)
def test_what_is_not_a_version_2_envelope_is_named(value: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why if why != "empty" else None):
        parse_envelope(value)


def test_a_version_2_envelope_reads_back_exactly_what_was_written() -> None:
    path = bytes(range(64))
    (value,) = record_headers("a..b", [b""])[:1]
    assert value == b"\x02\x00\x04a..b\x00\x00\x00\x00"
    value = record_headers("p..s", [b"", path])[1]
    assert parse_envelope(value) == Envelope("p", "s", "p..s", 1, path)
    with pytest.raises(ValueError, match="does not fit"):
        record_headers("a" * (MAX_JWS - 1) + "..", [b""])


@pytest.mark.parametrize(
    "value",
    [
        b'{"v":1,"jws":"a..b","i":0,"p":"' + b"A" * 42 + b'"}',  # 31.5 bytes: not whole hashes
        b'{"v":1,"jws":"a..b","i":0,"p":"' + b"A" * 41 + b'"}',  # not base64 at all (length 1 mod 4)
        b'{"v":1,"jws":"a.x.b","i":0,"p":""}',  # an attached payload
        b'{"v":1,"jws":"a..b..c","i":0,"p":""}',
        b'{"v":1,"jws":"a..b","i":-1,"p":""}',  # read as JSON; the walk refuses the position
        b'{"v":1,"jws":"a..b","i":123456789012345678901234,"p":""}',  # longer than the pattern reads
        b'{"v":1,"jws":"a..b","i":123456789012345678,"p":""}',
        b'{"v":1,"jws":"a..b","i":"0","p":""}',
        b'{"v":1,"jws":"a..b","i":0,"p":""} ',  # trailing space: read as JSON, still one envelope
    ],
)
def test_near_misses_of_the_version_1_form_get_the_json_reading(value: bytes) -> None:
    try:
        fast: object = parse_envelope(value)
    except ValueError:
        fast = "not an envelope"
    try:
        reparsed = json.loads(value)
        slow: object = parse_envelope(json.dumps(reparsed, indent=1).encode())
    except ValueError:
        slow = "not an envelope"
    assert fast == slow


def test_the_verdicts_do_not_depend_on_what_the_verifier_remembers(keys: Keys) -> None:
    """The caches (verified roots, speakers, entitlements) change the cost, never a verdict: a record refused
    by a fresh verifier is refused by one that has seen its batch mates, and the reverse."""
    events: list[Event] = [s.report(s.HCMC, code=f"BC-{i}") for i in range(6)]
    records = _records(events, keys.signer(keys.hcmc))
    tampered = replace(records[4], value=b"changed")
    foreign = _records([s.report(s.NGHE_AN)], keys.signer(keys.hcmc))[0]  # HCMC's key, Nghe An's report
    warm = Verifier(keys.keyring)
    assert _verdicts(warm, events[:4], records[:4]) == [None] * 4
    for record, event in [(tampered, events[4]), (records[5], events[5]), (foreign, s.report(s.NGHE_AN))]:
        assert _verdicts(warm, [event], [record]) == _verdicts(Verifier(keys.keyring), [event], [record])
    assert _verdicts(warm, [events[4]], [tampered]) == ["signature.invalid"]
    assert _verdicts(warm, [s.report(s.NGHE_AN)], [foreign]) == ["signer.not-entitled"]


def test_the_nodes_a_verifier_remembers_stay_within_its_budget(keys: Keys) -> None:
    signer = keys.signer(keys.hcmc)
    batches = [[s.report(s.HCMC, code=f"BC-{b}-{i}") for i in range(40)] for b in range(6)]
    signed = [(list[Event](events), _records(list[Event](events), signer)) for events in batches]
    bounded, unbounded = Verifier(keys.keyring, node_budget=50), Verifier(keys.keyring)
    for events, records in signed:
        order = list(range(0, 40, 7)) + [i for i in range(40) if i % 7]  # scattered, as across partitions
        picked_events, picked = [events[i] for i in order], [records[i] for i in order]
        assert _verdicts(bounded, picked_events, picked) == [None] * 40
        assert bounded.nodes_held <= 50
        held = sum(len(batch.nodes or ()) for batch in bounded._batches.values())  # the count is exact
        assert bounded.nodes_held == held
        assert _verdicts(unbounded, picked_events, picked) == [None] * 40
    assert unbounded.nodes_held > 50 * 6  # what the budget spared: the nodes of all six batches
    tampered = replace(signed[-1][1][3], value=b"changed")
    assert _verdicts(bounded, [signed[-1][0][3]], [tampered]) == ["signature.invalid"]


class _Trust:
    """What :class:`consumers.admission.ViewsAdmission` reads of a ViewsTrust (no Kafka here)."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.replayed: list[tuple[str, ...]] = []

    def replay(self, counts: Sequence[tuple[str, ...]]) -> None:
        self.replayed.extend(counts)


def test_a_decode_worker_rebuilds_the_same_checks_from_a_pickled_snapshot(keys: Keys) -> None:
    """What `views.decode_workers` relies on: the snapshot travels, the checks it builds give the in-process
    verdicts, and they count what the in-process verifier counts; a changed keyring is a new version."""
    events: list[Event] = [s.report(s.HCMC, code=f"BC-{i}") for i in range(4)]
    records = _records(events, keys.signer(keys.hcmc))
    records[2] = replace(records[2], value=b"changed")
    records[3] = replace(records[3], headers=records[3].headers[:-1])  # no envelope
    counted_here: list[tuple[str, ...]] = []
    trust = _Trust(Verifier(keys.keyring, counters=CountedSignatures(counted_here)))
    here = ViewsAdmission(Settings(), cast(Any, trust))
    snapshot = pickle.loads(pickle.dumps(here.snapshot()))  # noqa: S301 - our own bytes, as the pool sends them
    counted_there: list[Count] = []
    there = snapshot.build(counted_there)
    pairs = list(zip(records, [record_of(event) for event in events], strict=True))
    verdicts_here = [None if (r := here(rec, ev)) is None else r.reason for rec, ev in pairs]
    verdicts_there = [None if (r := there(rec, ev)) is None else r.reason for rec, ev in pairs]
    assert verdicts_here == verdicts_there == [None, None, "signature.invalid", "signature.missing"]
    assert counted_there == counted_here
    assert len(counted_there) == 2
    here.replay(counted_there)
    assert trust.replayed == counted_there
    before = snapshot.version
    keys.keyring.put(keys.hcmc.entry.revoked(1))
    assert here.snapshot().version != before


_PARTS = st.one_of(st.none(), st.binary(max_size=40))


@given(_PARTS, st.lists(_PARTS, min_size=0, max_size=6), _PARTS)
def test_the_leaf_framed_in_one_call_equals_the_leaf_framed_part_by_part(
    key: bytes | None, identity: list[bytes | None], value: bytes | None
) -> None:
    framed = b"\x00" + b"".join(
        b"\xff\xff\xff\xff" if part is None else len(part).to_bytes(4, "big") + part
        for part in (key, *identity, value)
    )
    assert tree.leaf_hash(key, identity, value) == hashlib.sha256(framed).digest()


@given(st.lists(st.binary(max_size=40), min_size=6, max_size=6))
def test_the_leaf_of_six_present_parts_is_framed_as_any_other(parts: list[bytes]) -> None:
    framed = b"\x00" + b"".join(len(part).to_bytes(4, "big") + part for part in parts)
    assert tree.full_leaf_hash(*parts) == hashlib.sha256(framed).digest()


@given(_PARTS, st.lists(_PARTS, min_size=4, max_size=4), _PARTS)
def test_the_leaf_of_a_records_headers_takes_its_identity_headers_in_order(
    key: bytes | None, identity: list[bytes | None], value: bytes | None
) -> None:
    headers = {"ce_specversion": b"1.0", "content-type": b"application/avro"}
    headers |= {
        name: part for name, part in zip(tree.IDENTITY_HEADERS, identity, strict=True) if part is not None
    }
    assert tree.leaf_hash_of(key, headers, value) == tree.leaf_hash(key, identity, value)


@st.composite
def _streams(draw: st.DrawFn) -> tuple[int, list[tuple[int, str, int]], int | None]:
    """A batch size, then which records arrive in what order (index, kind, broker append time offset) and
    when (if at all) the key is revoked, relative to the batch's ``iat``."""
    size = draw(st.integers(1, 24))
    kinds = st.sampled_from(
        ["genuine", "genuine", "genuine", "tampered", "foreign", "swapped", "padded", "truncated", "v1"]
    )
    arrivals = draw(st.lists(st.tuples(st.integers(0, size - 1), kinds, st.integers(-2, 2)), max_size=40))
    revoked = draw(st.one_of(st.none(), st.integers(-1, 2)))
    return size, arrivals, revoked


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=_streams())
# Always tried: after the revocation, a record appended before it is admitted (the batch is admitted again
# under the new keyring), then its sibling appended after it must still be refused.
@example(stream=(2, [(0, "genuine", 0), (1, "genuine", 0), (0, "genuine", 0), (1, "genuine", 2)], 1))
@pytest.mark.parametrize("budget", [NODE_BUDGET, 3])  # 3: nodes are forgotten every few records
def test_a_warm_verifier_gives_each_record_the_verdict_a_fresh_one_gives(
    keys: Keys, budget: int, stream: tuple[int, list[tuple[int, str, int]], int | None]
) -> None:
    """What the verifier remembers of a batch (its verified root, the nodes and siblings its walks
    authenticated, its signer's entitlements) changes the cost, never a verdict: over any order of genuine,
    tampered and foreign records, proofs padded or cut, envelopes of either version, appended before or after
    a revocation that may arrive mid-stream, a verifier that has seen everything before gives each record the
    verdict of a verifier that sees it alone."""
    size, arrivals, revoked = stream
    events: list[Event] = [s.report(s.HCMC, code=f"BC-{i}") for i in range(size)]
    records = _records(events, keys.signer(keys.hcmc))
    foreign_events: list[Event] = [s.report(s.NGHE_AN, code=f"BC-{i}") for i in range(size)]
    foreign = _records(foreign_events, keys.signer(keys.hcmc))  # HCMC's key, Nghe An's reports
    issued = parse_protected(parse_envelope(dict(records[0].headers)[HEADER]).protected).claims.issued_at_ms
    entry = keys.hcmc.entry
    ring = Keyring([entry, keys.hanoi_like.entry])
    warm = Verifier(ring, node_budget=budget)
    for step, (index, kind, appended) in enumerate(arrivals):
        if revoked is not None and step == len(arrivals) // 2:
            ring.put(entry.revoked(issued + revoked))
        event, record = events[index], records[index]
        if kind == "tampered":
            record = replace(record, value=(record.value or b"") + b"!")
        elif kind == "foreign":
            event, record = foreign_events[index], foreign[index]
        elif kind == "swapped":  # another record's envelope: a proof for another leaf
            record = replace(record, headers=records[(index + 1) % size].headers)
        elif kind in ("padded", "truncated"):  # a proof longer or shorter than its position needs
            value = dict(record.headers)[HEADER]
            record = _with_envelope(record, value + bytes(32) if kind == "padded" else value[:-32])
        elif kind == "v1":  # written before version 2
            record = _as_v1(record)
        record = replace(record, timestamp=issued + appended, timestamp_type=LOG_APPEND_TIME)
        alone = Verifier(Keyring(ring.snapshot().values()))
        assert _verdicts(warm, [event], [record]) == _verdicts(alone, [event], [record]), (step, kind)
