"""Verifying records before the views apply them: an :class:`~bus.consumer.admission.Admission`.

For each decoded record, in order (the first failure is the dead-letter reason):

1. ``signature.missing``: no ``lgsp_sig`` header. Accepted instead (and counted as unsigned) when signatures
   are not required, or the record's source is listed for a migration (``unsigned_sources``);
2. ``signature.invalid``: the envelope or its protected header is malformed, the proof does not lead from the
   record's leaf (key, identity headers, exact value bytes) to a root, or the signature over that root fails;
3. ``signer.unknown``: the key id is not on the keyring;
4. ``signer.revoked``: the batch was signed outside the key's validity or at/after its revocation, or the
   broker appended the record at/after the revocation (topics with ``LogAppendTime``: a backdated ``iat``
   does not help a thief);
5. ``signer.not-entitled``: the signer may not speak for the event's ``source`` or an agency its data asserts
   (:mod:`bus.authz`; an agency key speaks for its agency and grants, an ingress key for the agency it
   attests, with that API key's grants).

A batch's signature is checked once: the verified root and every tree node authenticated on the way are
remembered per JWS, so the rest of the batch costs a leaf hash and one or two node hashes (a proof walk stops
at the first authenticated node) instead of an Ed25519 verification (~100 µs) and a full walk. A proof must
still be exactly as long as its position needs (:func:`bus.signing.tree.fits`). Its hashes above the first
authenticated node are not read: the record's leaf is proven by that node, so a copy of a genuine record
whose proof was altered only there is admitted as the genuine one is (and counted once, by its event id).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from cryptography.exceptions import InvalidSignature

from bus.agencies import AgencyCatalog, load_catalog
from bus.authz import Principal, asserted_agencies, assertion_key, refusals
from bus.consumer.admission import Rejection
from bus.consumer.decode import LOG_APPEND_TIME
from bus.consumer.outcome import DeadLetterReason
from bus.events.record import EventRecord
from bus.signing import tree
from bus.signing.envelope import HEADER, Protected, parse_protected, read_envelope, signing_input, split_jws
from bus.signing.keyring import Keyring
from bus.signing.keys import KeyEntry, from_b64url
from bus.types import AgencyCode

if TYPE_CHECKING:
    from bus.consumer.decode import RecordLike

_CACHE_SIZE: Final = 4096
NODE_BUDGET: Final = 1 << 20
"""The most tree nodes a verifier remembers across its batches (each about 100 bytes: some 100 MB). Batches
spread over many partitions leave about two authenticated nodes per record until all their records have come,
and up to ``_CACHE_SIZE`` batches are remembered: without a bound a rebuild could hold gigabytes."""
_HEADER_BYTES: Final = HEADER


class SignatureCounters(Protocol):
    """Where the verifier counts (``bus.metrics.SignatureMetrics``; a fake in tests)."""

    def rejected(self, topic: str, reason: str, source: str) -> None: ...
    def unsigned(self, topic: str, source: str) -> None: ...


_Entitlements = dict[tuple[str, str, tuple[str | None, ...]], str | None]
"""One signer's verdicts per (source, event type, :func:`bus.authz.assertion_key`): why it may not assert
them, None when it may."""
_Speaker = tuple[KeyEntry, Principal | str, _Entitlements]


@dataclass(slots=True)
class _Batch:
    """What the verifier has worked out about one batch signature (JWS), once for all its records."""

    protected: str
    signature_b64: str
    header: Protected
    nodes: dict[tree.NodeKey, bytes] | None = None
    """Once its signature verified: the root (``tree.ROOT``) and every tree node authenticated so far."""
    speaker: _Speaker | None = None
    """Whom it speaks for under that keyring entry, and that signer's entitlements (``Verifier._speaker``)."""
    admitted_at: int | None = None
    """The keyring version under which the full check last admitted one of its records: under that version
    its signature, its key's validity when it signed and its ``speaker`` hold for every record of it, so the
    others need only their own checks (``Verifier._admit``)."""


class Verifier:
    """Checks every record's envelope against the keyring (see the module docstring)."""

    def __init__(
        self,
        keyring: Keyring,
        *,
        require: bool = True,
        unsigned_sources: Collection[str] = (),
        catalog: AgencyCatalog | None = None,
        counters: SignatureCounters | None = None,
        node_budget: int = NODE_BUDGET,
    ) -> None:
        self.keyring = keyring
        self.require = require
        self.unsigned_sources = frozenset(unsigned_sources)
        self._catalog = catalog or load_catalog()
        self._counters = counters
        self._batches: OrderedDict[bytes, _Batch] = OrderedDict()
        self._node_budget = node_budget
        self._nodes_held = 0
        self._entitled: dict[Principal, _Entitlements] = {}
        """Per signer, why it may not assert (source, agencies) (None: entitled)."""
        self.last_key_id: str | None = None
        """The key id of the last record admitted (for the evidence the views keep)."""

    def __call__(self, record: RecordLike, event: EventRecord) -> Rejection | None:
        headers = dict(record.headers or ())
        self.last_key_id = None
        envelope_value = headers.get(_HEADER_BYTES)
        if envelope_value is None:
            return self._unsigned(record, event.source)
        envelope: tuple[bytes, int, bytes] | ValueError
        try:
            jws, index, path = read_envelope(envelope_value)
        except ValueError as exc:  # UnicodeDecodeError included
            envelope = exc
        else:
            batch = self._batches.get(jws)
            if (
                batch is not None
                and batch.admitted_at == self.keyring.version
                and self._admit(record, event, headers, index, path, batch)
            ):
                return None
            envelope = (jws, index, path)
        source = event.source
        rejection = self._verify(record, event, headers, envelope, source)
        if rejection is not None and self._counters is not None:
            self._counters.rejected(record.topic, rejection.reason.value, self._label(source))
        return rejection

    def _unsigned(self, record: RecordLike, source: str) -> Rejection | None:
        if self.require and source not in self.unsigned_sources:
            return self._reject(record, DeadLetterReason.SIGNATURE_MISSING, source, "no lgsp_sig header")
        if self._counters is not None:
            self._counters.unsigned(record.topic, self._label(source))
        return None

    def _admit(
        self,
        record: RecordLike,
        event: EventRecord,
        headers: dict[str, bytes],
        index: int,
        path: bytes,
        batch: _Batch,
    ) -> bool:
        """True when the record passes every check, for a batch admitted under this keyring: its leaf reaches
        an authenticated node of the batch's tree, the broker appended it before its key was revoked, and its
        signer may assert what it asserts. False leaves the verdict (and the reason) to :meth:`_verify`,
        which checks everything again: this path only ever admits what that one would."""
        nodes, speaker = batch.nodes, batch.speaker
        if nodes is None or speaker is None:
            return False
        entry, principal, memo = speaker
        if isinstance(principal, str):
            return False
        leaf = tree.leaf_hash_of(record.key, headers, record.value)
        authentic = nodes.get(index)  # a leaf's node key is its index
        if authentic is None:
            top, seen = tree.walk(leaf, index, batch.header.claims.size, path, nodes)
            if top is None or top != nodes[tree.ROOT]:
                return False
            self._remember(batch, nodes, seen)
        # A sibling's walk authenticated this position: no proof to walk, but it must be one for it
        elif authentic != leaf or not tree.fits(path, index, batch.header.claims.size):
            return False
        revoked = entry.revoked_at_ms
        if revoked is not None and record.timestamp_type == LOG_APPEND_TIME and record.timestamp >= revoked:
            return False
        if self._entitlement(principal, memo, event.source, event.name, event.avro) is not None:
            return False
        self.last_key_id = entry.key_id
        return True

    def _verify(
        self,
        record: RecordLike,
        event: EventRecord,
        headers: dict[str, bytes],
        envelope: tuple[bytes, int, bytes] | ValueError,
        source: str,
    ) -> Rejection | None:
        if isinstance(envelope, ValueError):
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, f"malformed lgsp_sig: {envelope}")
        jws, index, path = envelope
        try:
            batch = self._batch(jws)
        except (ValueError, UnicodeDecodeError) as exc:
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, f"malformed lgsp_sig: {exc}")
        if batch is None:
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, "malformed protected header")
        claims = batch.header.claims
        entry = self.keyring.get(batch.header.key_id)
        if entry is None:
            message = f"key {batch.header.key_id} is not on the keyring"
            return _rejection(DeadLetterReason.SIGNER_UNKNOWN, message)
        leaf = tree.leaf_hash_of(record.key, headers, record.value)
        top, seen = tree.walk(leaf, index, batch.header.claims.size, path, batch.nodes)
        if top is None or not self._signed(batch, top, entry) or batch.nodes is None:
            message = f"the signature of key {entry.key_id} does not verify for this record"
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, message)
        self._remember(batch, batch.nodes, seen)  # authenticated now: later records of the batch stop here
        issued = claims.issued_at_ms
        if not entry.usable_at(issued):
            validity = (
                f"valid {entry.valid_from_ms}..{entry.valid_until_ms}, revoked at {entry.revoked_at_ms}"
            )
            message = f"key {entry.key_id} was not usable when the batch was signed ({issued}; {validity})"
            return _rejection(DeadLetterReason.SIGNER_REVOKED, message)
        revoked = entry.revoked_at_ms
        if record.timestamp_type == LOG_APPEND_TIME and revoked is not None and record.timestamp >= revoked:
            # ``iat`` is the signer's word: a thief holding a revoked key backdates it; the append time is
            # the broker's
            message = (
                f"key {entry.key_id} was revoked at {revoked}; this record was appended at "
                f"{record.timestamp} (its signature claims {issued})"
            )
            return _rejection(DeadLetterReason.SIGNER_REVOKED, message)
        speaker = batch.speaker
        if speaker is None or speaker[0] is not entry:
            speaker = self._speaker(batch, entry)
        principal, memo = speaker[1], speaker[2]
        if isinstance(principal, str):
            return _rejection(DeadLetterReason.SIGNER_NOT_ENTITLED, principal)
        why = self._entitlement(principal, memo, source, event.name, event.avro)
        if why is not None:
            return _rejection(DeadLetterReason.SIGNER_NOT_ENTITLED, f"signed by {entry.key_id}: {why}")
        self.last_key_id = entry.key_id
        batch.admitted_at = self.keyring.version
        return None

    def _batch(self, jws: bytes) -> _Batch | None:
        """The batch state of ``jws`` (None when its protected header is not one of ours); ValueError when
        the JWS is not ``protected..signature``."""
        batch = self._batches.get(jws)
        if batch is not None:
            return batch
        protected, signature = split_jws(jws)
        try:
            header = parse_protected(protected)
        except (ValueError, UnicodeDecodeError):
            return None
        batch = self._batches[jws] = _Batch(protected, signature, header)
        if len(self._batches) > _CACHE_SIZE:
            self._nodes_held -= len(self._batches.popitem(last=False)[1].nodes or ())
        return batch

    @property
    def nodes_held(self) -> int:
        """Tree nodes remembered across all batches (at most the node budget after each record)."""
        return self._nodes_held

    def _remember(
        self, batch: _Batch, nodes: dict[tree.NodeKey, bytes], seen: list[tuple[tree.NodeKey, bytes]]
    ) -> None:
        held = len(nodes)
        nodes.update(seen)
        self._nodes_held += len(nodes) - held
        if self._nodes_held > self._node_budget:
            self._forget_nodes()

    def _forget_nodes(self) -> None:
        """Shrink the oldest batches to their verified root until half the budget is held. Their later
        records then walk their whole proofs (a few µs) instead of stopping early, with no second Ed25519
        check; the verdicts are the same."""
        for batch in self._batches.values():
            nodes = batch.nodes
            if nodes is not None and len(nodes) > 1:
                self._nodes_held -= len(nodes) - 1
                batch.nodes = {tree.ROOT: nodes[tree.ROOT]}
                if self._nodes_held <= self._node_budget // 2:
                    return

    def _speaker(self, batch: _Batch, entry: KeyEntry) -> _Speaker:
        """Whom a batch's signature speaks for (or why it speaks for no one): an agency key for its agency
        and grants, an ingress key for the agency it attests with that API key's grants. Remembered in the
        batch while its keyring entry is the same object (a refresh replaces a revoked entry), with the
        signer's entitlements memo."""
        claims = batch.header.claims
        found: Principal | str
        if entry.role == "ingress":
            if claims.attestation != "ingress":
                found = "an ingress key signed as an agency"
            else:
                found = Principal(AgencyCode(claims.agency), frozenset(claims.grants))
        elif claims.attestation != "agency" or claims.agency != entry.agency:
            found = f"key {entry.key_id} is {entry.agency}'s, not {claims.agency}'s"
        else:
            found = Principal(entry.agency, frozenset(entry.grants))
        memo: _Entitlements = {}
        if isinstance(found, Principal):
            if len(self._entitled) >= _CACHE_SIZE:
                self._entitled.clear()
            memo = self._entitled.setdefault(found, memo)
        batch.speaker = (entry, found, memo)
        return batch.speaker

    def _entitlement(
        self, principal: Principal, memo: _Entitlements, source: str, name: str, data: object
    ) -> str | None:
        """Why ``principal`` may not assert ``source`` and the agencies of ``data`` (an event of type
        ``name``; None: entitled), remembered in the signer's ``memo``: a signer repeats a handful of
        (source, asserted fields) combinations over thousands of records."""
        key = (source, name, assertion_key(name, data))
        if key in memo:
            return memo[key]
        asserted = asserted_agencies(name, data, self._catalog)
        refused = refusals(principal, source, asserted, self._catalog)
        why = "; ".join(f"{r.field}: {r.message}" for r in refused) if refused else None
        if len(memo) >= _CACHE_SIZE:
            memo.clear()
        memo[key] = why
        return why

    def _signed(self, batch: _Batch, top: bytes, entry: KeyEntry) -> bool:
        if batch.nodes is not None:
            return batch.nodes[tree.ROOT] == top
        try:
            signature = from_b64url(batch.signature_b64)
            entry.verifier().verify(signature, signing_input(batch.protected, top))
        except (InvalidSignature, ValueError):  # ValueError: the signature is not base64url
            return False
        batch.nodes = {tree.ROOT: top}
        self._nodes_held += 1
        return True

    def _reject(self, record: RecordLike, reason: DeadLetterReason, source: str, message: str) -> Rejection:
        if self._counters is not None:
            self._counters.rejected(record.topic, reason.value, self._label(source))
        return _rejection(reason, message)

    def _label(self, source: str) -> str:
        # Bounded: a claimed source outside the catalog is "other", so garbage cannot grow the label set.
        return source if source in self._catalog.known_codes else "other"


def _rejection(reason: DeadLetterReason, message: str) -> Rejection:
    return Rejection(reason, message)
