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
from dataclasses import dataclass
from typing import Any, Final, Literal

from bus.signing.keys import b64url, from_b64url

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


def record_header(jws: str, index: int, proof: list[bytes]) -> bytes:
    """One record's ``lgsp_sig`` value."""
    path = b64url(b"".join(proof))
    return f'{{"v":{VERSION},"jws":"{jws}","i":{index},"p":"{path}"}}'.encode("ascii")


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed ``lgsp_sig`` value (not yet verified)."""

    protected: str
    signature: bytes
    jws: str
    index: int
    proof: tuple[bytes, ...]


def parse_envelope(value: bytes) -> Envelope:
    """The envelope in a header value; ``ValueError`` if it is not one."""
    raw = json.loads(value)
    if not isinstance(raw, dict) or raw.get("v") != VERSION:
        raise ValueError("not a version 1 lgsp_sig envelope")
    jws, index, proof = raw.get("jws"), raw.get("i"), raw.get("p")
    if not isinstance(jws, str) or type(index) is not int or not isinstance(proof, str):
        raise ValueError("lgsp_sig needs jws (string), i (integer) and p (string)")
    protected, empty, signature = jws.split(".")  # ValueError unless exactly three parts
    if empty:
        raise ValueError("the JWS payload must be detached (empty)")
    path = from_b64url(proof)
    if len(path) % 32:
        raise ValueError("the proof must be whole 32-byte hashes")
    hashes = tuple(path[at : at + 32] for at in range(0, len(path), 32))
    return Envelope(protected, from_b64url(signature), jws, index, hashes)


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
