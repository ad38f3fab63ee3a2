"""Signing keys: Ed25519 key pairs, their private key files, and the keyring entry that publishes each one.

The stable entry point for tools that onboard an agency (``lgsp agencies onboard``, ``lgsp agencies keys
add``, the demo and the test stacks) is :func:`create_agency_key`: it makes a key pair, writes the private key
to ``<key dir>/<key id>.pem`` (PKCS#8 PEM, mode 0600, never overwritten) and returns the
:class:`KeyEntry` to put on the keyring topic (:mod:`bus.signing.keyring`). The private key never leaves that
file; the entry holds only the public key.

Key ids are ``<agency code>#<8 hex>`` (for the ingress's attester keys ``ingress#<8 hex>``): readable in a
dead letter or an evidence row, and an SDK can tell its own agency from its configured key id. The keyring,
not the id, is what the views trust for a key's agency.
"""

from __future__ import annotations

import binascii
import os
import secrets
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bus.authz import Principal
from bus.errors import ConfigError
from bus.types import AgencyCode

if TYPE_CHECKING:
    from bus.settings import Settings

Role = Literal["agency", "ingress"]
"""``agency``: signs its own events (SDK). ``ingress``: attests the agency whose API key it authenticated."""
KEY_ID_SEPARATOR: Final = "#"
INGRESS_KEY_PREFIX: Final = "ingress"
PRIVATE_KEY_MODE: Final = 0o600
_ID_HEX: Final = 8


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return b64url_bytes(data).decode("ascii")


def from_b64url(text: str | bytes) -> bytes:
    """Inverse of :func:`b64url`; ``ValueError`` on malformed input (characters outside the alphabet are
    skipped, as :func:`base64.urlsafe_b64decode` skips them)."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    return binascii.a2b_base64(raw.translate(_TO_STANDARD) + b"=" * (-len(raw) % 4))


def b64url_bytes(data: bytes) -> bytes:
    """:func:`b64url` as bytes (what a header value is made of)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One public key on the keyring: who it speaks for, from when until when, and whether it was revoked.

    Times are UTC epoch milliseconds. A record is accepted under this key when the time it was produced is
    in ``[valid_from_ms, valid_until_ms)`` and before ``revoked_at_ms``: revoking stops records produced
    after it, not the ones already on the log. Rotation is a second key with overlapping validity.
    """

    key_id: str
    agency: AgencyCode
    public_key: bytes
    valid_from_ms: int
    valid_until_ms: int | None = None
    revoked_at_ms: int | None = None
    role: Role = "agency"
    grants: tuple[str, ...] = ()
    """Units this key may also speak for (the agency's explicit grants), beside the catalog's roll-ups."""

    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def usable_at(self, ms: int) -> bool:
        """Within its validity and not revoked at ``ms``."""
        if ms < self.valid_from_ms or (self.valid_until_ms is not None and ms >= self.valid_until_ms):
            return False
        return self.revoked_at_ms is None or ms < self.revoked_at_ms

    def revoked(self, at_ms: int) -> KeyEntry:
        return replace(self, revoked_at_ms=at_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "agency": self.agency,
            "role": self.role,
            "alg": "EdDSA",
            "crv": "Ed25519",
            "public_key": b64url(self.public_key),
            "valid_from_ms": self.valid_from_ms,
            "valid_until_ms": self.valid_until_ms,
            "revoked_at_ms": self.revoked_at_ms,
            "grants": list(self.grants),
        }

    @classmethod
    def from_json(cls, raw: Any) -> KeyEntry:
        """Parse a keyring value; :class:`ConfigError` if it is not one."""
        try:
            role = raw.get("role", "agency")
            if role not in ("agency", "ingress") or raw.get("crv", "Ed25519") != "Ed25519":
                raise ValueError(f"unsupported role or curve in {raw!r}")
            public_key = from_b64url(str(raw["public_key"]))
            Ed25519PublicKey.from_public_bytes(public_key)  # refuses a wrong length now, not at verify time
            return cls(
                key_id=str(raw["key_id"]),
                agency=AgencyCode(str(raw["agency"])),
                public_key=public_key,
                valid_from_ms=int(raw["valid_from_ms"]),
                valid_until_ms=_optional_int(raw.get("valid_until_ms")),
                revoked_at_ms=_optional_int(raw.get("revoked_at_ms")),
                role=role,
                grants=tuple(str(g) for g in raw.get("grants", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"not a keyring entry: {exc}") from exc


@dataclass(frozen=True, slots=True)
class NewKey:
    """What :func:`create_agency_key` made: the entry to publish and where the private key is."""

    entry: KeyEntry
    private_key_file: Path


def new_key_id(owner: str) -> str:
    """``<owner>#<8 random hex>``: the owner is an agency code, or ``ingress`` for an attester key."""
    return f"{owner}{KEY_ID_SEPARATOR}{secrets.token_hex(_ID_HEX // 2)}"


def agency_of_key_id(key_id: str) -> AgencyCode | None:
    """The agency a key id names (None for an ingress key or a malformed id); the keyring has the truth."""
    owner, sep, _ = key_id.partition(KEY_ID_SEPARATOR)
    if not sep or not owner or owner == INGRESS_KEY_PREFIX:
        return None
    return AgencyCode(owner)


def create_agency_key(
    agency: str,
    key_dir: Path,
    *,
    role: Role = "agency",
    valid_from_ms: int | None = None,
    valid_until_ms: int | None = None,
    grants: tuple[str, ...] = (),
) -> NewKey:
    """A new key pair for ``agency``: the private key written to ``key_dir/<key id>.pem`` (mode 0600) and
    the keyring entry to publish (valid from now unless told otherwise). The caller publishes the entry."""
    private = Ed25519PrivateKey.generate()
    key_id = new_key_id(INGRESS_KEY_PREFIX if role == "ingress" else agency)
    path = key_dir / f"{key_id}.pem"
    write_private_key(path, private)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    entry = KeyEntry(
        key_id=key_id,
        agency=AgencyCode(agency),
        public_key=public,
        valid_from_ms=now_ms() if valid_from_ms is None else valid_from_ms,
        valid_until_ms=valid_until_ms,
        role=role,
        grants=grants,
    )
    return NewKey(entry, path)


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """PKCS#8 PEM, created with mode 0600 (never world- or group-readable, not even for an instant);
    an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
    except FileExistsError as exc:
        raise ConfigError(f"private key file {path} already exists; not overwriting it") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``; :class:`ConfigError` if missing, not Ed25519, or readable by
    anyone but its owner (mode must be 0600 or stricter)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read signing key {path}: {exc}") from exc
    if mode & 0o077:
        raise ConfigError(f"signing key {path} has mode {mode:o}; it must be 0600 (chmod 600 {path})")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise ConfigError(f"signing key {path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key")
    return key


def principal_of_settings(settings: Settings) -> Principal | None:
    """The SDK's principal: the agency of ``LGSP_SIGNING__KEY_ID``; None when no single key is configured."""
    key_id = settings.signing.key_id
    agency = agency_of_key_id(key_id) if key_id else None
    return None if agency is None else Principal(agency, key_id=key_id)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
