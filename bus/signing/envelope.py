"""The ``lgsp_sig`` header: one JWS (RFC 7515, detached content per appendix F) per producer batch, plus the
record's inclusion proof.

Header value (UTF-8 JSON, one line)::

    {"v": 1, "jws": "<BASE64URL(protected)>..<BASE64URL(signature)>", "i": <index>, "p": "<BASE64URL(path)>"}

``p`` is the inclusion proof: the audit path's 32-byte hashes, bottom-up, concatenated (one string to decode
per record instead of one per level).

The JWS payload, detached, is the batch's Merkle root (:mod:`bus.signing.tree`, 32 bytes); anyone holding the
root can rebuild the JWS compact form ``protected.BASE64URL(root).signature`` and check it with any JOSE
library (``alg`` ``EdDSA``, RFC 8037). The protected header::

    {"alg": "EdDSA", "kid": "<key id>", "typ": "lgsp-batch+jws",
     "lgsp": {"att": "agency" | "ingress", "for": "<agency>", "n": <leaves>, "iat": <epoch ms>,
              "akid": "<ingress API key id>", "grants": ["<unit>", ...]}}

``att`` says who vouches: ``agency`` (its own key, the SDK) or ``ingress`` (the ingress's key, attesting the
agency ``for`` that it authenticated with API key ``akid``, with that key's ``grants``). ``iat`` is when the
batch was signed: a key revoked at T stops records signed from T on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from bus.signing.keys import b64url, b64url_bytes, from_b64url
from bus.signing.tree import HASH_SIZE as _HASH

HEADER: Final = "lgsp_sig"
VERSION: Final = 1
TYP: Final = "lgsp-batch+jws"
Attestation = Literal["agency", "ingress"]


@dataclass(frozen=True, slots=True)
class Claims:
    """The ``lgsp`` member of a batch's protected header."""

    attestation: Attestation
    agency: str
    size: int
    issued_at_ms: int
    api_key_id: str | None = None
    grants: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"att": self.attestation, "for": self.agency, "n": self.size}
        out["iat"] = self.issued_at_ms
        if self.api_key_id is not None:
            out["akid"] = self.api_key_id
        if self.grants:
            out["grants"] = list(self.grants)
        return out


@dataclass(frozen=True, slots=True)
class Protected:
    """A parsed protected header."""

    key_id: str
    claims: Claims


def protected_header(key_id: str, claims: Claims) -> str:
    """BASE64URL of the protected header's JSON (what the signature covers, with the root)."""
    header = {"alg": "EdDSA", "kid": key_id, "typ": TYP, "lgsp": claims.to_json()}
    return b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def signing_input(protected: str, root: bytes) -> bytes:
    """RFC 7515 section 5.1 step 8: ``ASCII(BASE64URL(protected) || '.' || BASE64URL(payload))``."""
    return f"{protected}.{b64url(root)}".encode("ascii")


def record_headers(jws: str, paths: Sequence[bytes]) -> list[bytes]:
    """Each record's ``lgsp_sig`` value: the batch's JWS, the record's index and its proof (hashes
    concatenated, as :func:`bus.signing.tree.proofs` gives them)."""
    head = b'{"v":%d,"jws":"%b","i":' % (VERSION, jws.encode("ascii"))
    return [b'%b%d,"p":"%b"}' % (head, index, b64url_bytes(path)) for index, path in enumerate(paths)]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed ``lgsp_sig`` value (not yet verified)."""

    protected: str
    signature_b64: str
    """The JWS signature as sent (BASE64URL): decoded only when its batch is first verified."""
    jws: str
    index: int
    path: bytes
    """The inclusion proof: whole 32-byte hashes, bottom-up, concatenated."""

    @property
    def signature(self) -> bytes:
        return from_b64url(self.signature_b64)

    @property
    def proof(self) -> tuple[bytes, ...]:
        return tuple(self.path[at : at + _HASH] for at in range(0, len(self.path), _HASH))


_B64URL: Final = rb"[A-Za-z0-9_-]*"
_CANONICAL: Final = re.compile(
    rb'\{"v":%d,"jws":"(%b\.\.%b)","i":(0|[1-9][0-9]{0,17}),"p":"(%b)"\}'
    % (VERSION, _B64URL, _B64URL, _B64URL)
)
"""The exact form :func:`record_headers` writes. Its strings hold no JSON escapes, so reading them by pattern
gives what ``json.loads`` gives, at a fraction of the cost per record; any other spelling is read as JSON."""
_LAST_QUANTUM: Final = {0: 0, 2: 1, 3: 2}
"""Bytes that a last, partial group of 0, 2 or 3 base64 characters (unpadded) holds; 1 is never valid."""


def read_envelope(value: bytes) -> tuple[bytes, int, bytes]:
    """The batch's JWS (``protected..signature``), the record's index and its proof, still base64url (see
    :func:`proof_hashes`); ``ValueError`` if the value is not an envelope. What the views read per record:
    the JWS is the same for a whole batch, so everything derived from it is worked out once per batch."""
    canonical = _CANONICAL.fullmatch(value)
    if canonical is not None:
        jws, index, proof = canonical.groups()
        quantum = _LAST_QUANTUM.get(len(proof) % 4)
        if quantum is None or (len(proof) // 4 * 3 + quantum) % _HASH:
            raise ValueError("the proof must be whole 32-byte hashes")
        return jws, int(index), proof
    raw = json.loads(value)
    if not isinstance(raw, dict) or raw.get("v") != VERSION:
        raise ValueError("not a version 1 lgsp_sig envelope")
    jws, index, proof = raw.get("jws"), raw.get("i"), raw.get("p")
    if not isinstance(jws, str) or type(index) is not int or not isinstance(proof, str):
        raise ValueError("lgsp_sig needs jws (string), i (integer) and p (string)")
    split_jws(jws.encode("ascii"))  # UnicodeEncodeError (a ValueError) for what base64url never holds
    path = from_b64url(proof)
    if len(path) % _HASH:
        raise ValueError("the proof must be whole 32-byte hashes")
    # The proof again in the written form: what the JSON allowed beyond it (padding, ...) reads the same
    return jws.encode("ascii"), index, b64url_bytes(path)


def split_jws(jws: bytes) -> tuple[str, str]:
    """A detached JWS's protected header and signature (both BASE64URL); ``ValueError`` unless it is
    ``protected..signature``."""
    protected, empty, signature = jws.decode("ascii").split(".")  # ValueError unless exactly three parts
    if empty:
        raise ValueError("the JWS payload must be detached (empty)")
    return protected, signature


def proof_hashes(proof: bytes, count: int | None = None) -> bytes:
    """The first ``count`` hashes of a proof :func:`read_envelope` returned (all of them by default),
    concatenated. A walk that reaches a node already authenticated needs only the first one or two: three
    hashes are exactly 128 base64 characters, so a prefix decodes on its own."""
    return from_b64url(proof if count is None else proof[: count * _HASH * 4 // 3])


def parse_envelope(value: bytes) -> Envelope:
    """The envelope in a header value; ``ValueError`` if it is not one."""
    jws, index, proof = read_envelope(value)
    protected, signature = split_jws(jws)
    return Envelope(protected, signature, jws.decode("ascii"), index, proof_hashes(proof))


def parse_protected(protected: str) -> Protected:
    """The protected header's key id and claims; ``ValueError`` unless it is one of ours."""
    raw = json.loads(from_b64url(protected))
    if not isinstance(raw, dict) or raw.get("alg") != "EdDSA" or raw.get("typ") != TYP:
        raise ValueError("the protected header must say alg EdDSA, typ lgsp-batch+jws")
    claims, key_id = raw.get("lgsp"), raw.get("kid")
    if not isinstance(claims, dict) or not isinstance(key_id, str):
        raise ValueError("the protected header needs kid and lgsp")
    attestation = claims.get("att")
    if attestation not in ("agency", "ingress"):
        raise ValueError("lgsp.att must be agency or ingress")
    agency, size, issued = claims.get("for"), claims.get("n"), claims.get("iat")
    if not isinstance(agency, str) or type(size) is not int or type(issued) is not int or size < 1:
        raise ValueError("lgsp needs for (string), n (positive integer), iat (integer)")
    akid, grants = claims.get("akid"), claims.get("grants", [])
    if (akid is not None and not isinstance(akid, str)) or not isinstance(grants, list):
        raise ValueError("lgsp.akid must be a string and lgsp.grants a list")
    parsed = Claims(attestation, agency, size, issued, akid, tuple(str(g) for g in grants))
    return Protected(key_id, parsed)
