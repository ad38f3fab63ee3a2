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
at the first authenticated node) instead of an Ed25519 verification (~100 µs) and a full walk.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from typing import TYPE_CHECKING, Final, Protocol

from cryptography.exceptions import InvalidSignature

from bus.agencies import AgencyCatalog, load_catalog
from bus.authz import Principal, asserted_agencies, refusals
from bus.consumer.admission import Rejection
from bus.consumer.decode import LOG_APPEND_TIME
from bus.consumer.outcome import DeadLetterReason
from bus.events.raw import RawEvent
from bus.signing import tree
from bus.signing.envelope import (
    HEADER,
    Claims,
    Envelope,
    Protected,
    parse_envelope,
    parse_protected,
    signing_input,
)
from bus.signing.keyring import Keyring
from bus.signing.keys import KeyEntry
from bus.types import AgencyCode

if TYPE_CHECKING:
    from bus.consumer.decode import RecordLike
    from bus.events import Event

_CACHE_SIZE: Final = 4096
_IDENTITY: Final = tuple(tree.IDENTITY_HEADERS)
_HEADER_BYTES: Final = HEADER


class SignatureCounters(Protocol):
    """Where the verifier counts (``bus.metrics.SignatureMetrics``; a fake in tests)."""

    def rejected(self, topic: str, reason: str, source: str) -> None: ...
    def unsigned(self, topic: str, source: str) -> None: ...


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
    ) -> None:
        self.keyring = keyring
        self._require = require
        self._unsigned_sources = frozenset(unsigned_sources)
        self._catalog = catalog or load_catalog()
        self._counters = counters
        self._nodes: OrderedDict[str, dict[tree.NodeKey, bytes]] = OrderedDict()
        """Per verified batch signature (JWS): its root and the tree nodes authenticated so far."""
        self._protected: dict[str, Protected | None] = {}
        self._speakers: dict[str, tuple[KeyEntry, Principal | str]] = {}
        self._entitled: dict[tuple[Principal, str, tuple[tuple[str, str], ...]], str | None] = {}
        self.last_key_id: str | None = None
        """The key id of the last record admitted (for the evidence the views keep)."""

    def __call__(self, record: RecordLike, event: Event | RawEvent) -> Rejection | None:
        headers = dict(record.headers or ())
        source = _source(event)
        self.last_key_id = None
        envelope_value = headers.get(_HEADER_BYTES)
        if envelope_value is None:
            if self._require and source not in self._unsigned_sources:
                return self._reject(record, DeadLetterReason.SIGNATURE_MISSING, source, "no lgsp_sig header")
            if self._counters is not None:
                self._counters.unsigned(record.topic, self._label(source))
            return None
        rejection = self._verify(record, event, headers, envelope_value, source)
        if rejection is not None and self._counters is not None:
            self._counters.rejected(record.topic, rejection.reason.value, self._label(source))
        return rejection

    def _verify(
        self,
        record: RecordLike,
        event: Event | RawEvent,
        headers: dict[str, bytes],
        value: bytes,
        source: str,
    ) -> Rejection | None:
        try:
            envelope = parse_envelope(value)
        except (ValueError, UnicodeDecodeError) as exc:
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, f"malformed lgsp_sig: {exc}")
        protected = self._parse_protected(envelope.protected)
        if protected is None:
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, "malformed protected header")
        entry = self.keyring.get(protected.key_id)
        if entry is None:
            message = f"key {protected.key_id} is not on the keyring"
            return _rejection(DeadLetterReason.SIGNER_UNKNOWN, message)
        leaf = tree.leaf_hash(record.key, [headers.get(name) for name in _IDENTITY], record.value)
        known = self._nodes.get(envelope.jws)
        top, seen = tree.walk(leaf, envelope.index, protected.claims.size, envelope.path, known)
        if top is None or not self._signed(envelope, top, entry):
            message = f"the signature of key {entry.key_id} does not verify for this record"
            return _rejection(DeadLetterReason.SIGNATURE_INVALID, message)
        self._nodes[envelope.jws].update(seen)  # authenticated now: later records of the batch stop here
        issued = protected.claims.issued_at_ms
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
        principal = self._speaker(envelope.protected, protected.claims, entry)
        if isinstance(principal, str):
            return _rejection(DeadLetterReason.SIGNER_NOT_ENTITLED, principal)
        name, data = (event.name, event.record) if isinstance(event, RawEvent) else (event.AVRO_NAME, event)
        why = self._entitlement(principal, source, tuple(asserted_agencies(name, data, self._catalog)))
        if why is not None:
            return _rejection(DeadLetterReason.SIGNER_NOT_ENTITLED, f"signed by {entry.key_id}: {why}")
        self.last_key_id = entry.key_id
        return None

    def _speaker(self, key: str, claims: Claims, entry: KeyEntry) -> Principal | str:
        """Whom a batch's signature speaks for (or why it speaks for no one): an agency key for its agency
        and grants, an ingress key for the agency it attests with that API key's grants. Remembered per
        protected header while its keyring entry is the same object (a refresh replaces revoked entries)."""
        cached = self._speakers.get(key)
        if cached is not None and cached[0] is entry:
            return cached[1]
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
        if len(self._speakers) >= _CACHE_SIZE:
            self._speakers.clear()
        self._speakers[key] = (entry, found)
        return found

    def _entitlement(
        self, principal: Principal, source: str, asserted: tuple[tuple[str, str], ...]
    ) -> str | None:
        """Why ``principal`` may not assert ``source`` and ``asserted`` (None: entitled), remembered: a
        batch repeats a handful of (signer, agencies) combinations over thousands of records."""
        memo = (principal, source, asserted)
        if memo in self._entitled:
            return self._entitled[memo]
        refused = refusals(principal, source, asserted, self._catalog)
        why = "; ".join(f"{r.field}: {r.message}" for r in refused) if refused else None
        if len(self._entitled) >= _CACHE_SIZE:
            self._entitled.clear()
        self._entitled[memo] = why
        return why

    def _parse_protected(self, protected: str) -> Protected | None:
        if protected in self._protected:
            return self._protected[protected]
        try:
            parsed: Protected | None = parse_protected(protected)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if len(self._protected) >= _CACHE_SIZE:
            self._protected.clear()
        self._protected[protected] = parsed
        return parsed

    def _signed(self, envelope: Envelope, top: bytes, entry: KeyEntry) -> bool:
        nodes = self._nodes.get(envelope.jws)
        if nodes is not None:
            return nodes[tree.ROOT] == top
        try:
            entry.verifier().verify(envelope.signature, signing_input(envelope.protected, top))
        except (InvalidSignature, ValueError):  # ValueError: the signature is not base64url
            return False
        self._nodes[envelope.jws] = {tree.ROOT: top}
        if len(self._nodes) > _CACHE_SIZE:
            self._nodes.popitem(last=False)
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


def _source(event: Event | RawEvent) -> str:
    if isinstance(event, RawEvent):
        return str(event.record["meta"]["source"])
    return event.meta.source
