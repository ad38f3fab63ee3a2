"""API keys per agency, stored hashed, and the rule of who may publish for which ``source``.

Keys look like ``lgsp_<key id>_<secret>``: the key id (12 hex digits) is public and finds the entry; the
secret is 32 random bytes from :mod:`secrets` (256 bits). The file keeps only ``sha256(secret)``.

Why SHA-256 and not scrypt/PBKDF2: a slow, salted KDF protects *low-entropy* secrets (passwords) against
guessing after the file leaks. Our secrets are never chosen by people: they are 256-bit random values, so a
guess succeeds with probability 2^-256 whatever the hash costs, and salting adds nothing because no two
secrets collide. A slow KDF would instead cost every request milliseconds of CPU, which at 1k requests/s on
two cores is both the latency budget and a denial-of-service lever. Comparison is constant-time
(:func:`hmac.compare_digest`).

The key file (``settings.ingress.api_keys_file``), written by ``lgsp ingress keys add``::

    {"version": 1, "hash": "sha256",
     "agencies": {"000.00.00.H29": {"grants": ["000.00.00.G22"],
                                    "keys": [{"id": "3f9a...", "sha256": "<hex>", "created_at": "..."}]}}}

Who may publish for ``source`` and for the agencies an event's data asserts: :mod:`bus.authz` (the agency
itself; any unit explicitly granted to it (``grants``); for a provincial People's Committee every unit of its
province; and ``source`` must be the asserted agency or one of its units).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from bus.agencies import AgencyCatalog
from bus.authz import Principal as Principal  # re-exported: the ingress's principal is the bus's
from bus.authz import Refusal, may_publish_for, record_refusals
from bus.errors import ConfigError
from bus.events.record import EventRecord
from bus.types import AgencyCode

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "lgsp"
_KEY_ID_HEX: Final = 12
_TOKEN_RE: Final = re.compile(r"^lgsp_([0-9a-f]{12})_([A-Za-z0-9_-]{20,200})$")
FILE_VERSION: Final = 1


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key's secret part (see the module docstring for why not a slow KDF)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: str
    sha256: str
    created_at: str


@dataclass
class AgencyEntry:
    keys: list[StoredKey] = field(default_factory=list)
    grants: set[str] = field(default_factory=set)


class KeyRefusal(StrEnum):
    """Why a presented key was refused: the ``error_description`` of ``WWW-Authenticate`` tells them apart."""

    MISSING = "no API key was sent"
    MALFORMED = "the Authorization header is not 'Bearer lgsp_<key id>_<secret>'"
    UNKNOWN = "the API key is unknown to this ingress"
    REVOKED = "the API key was revoked or replaced; ask the operator for your agency's current key"


class ApiKeyStore:
    """The parsed key file: agencies with their hashed keys and grants, and the ids of revoked keys."""

    def __init__(
        self, agencies: Mapping[str, AgencyEntry] | None = None, *, revoked: Mapping[str, str] | None = None
    ) -> None:
        self._agencies: dict[str, AgencyEntry] = dict(agencies or {})
        self._revoked: dict[str, str] = dict(revoked or {})
        """Key id -> the agency it belonged to: kept after revocation so a 401 can say "revoked"."""
        self._by_key_id: dict[str, tuple[str, StoredKey]] = {}
        self._reindex()

    # --- reading -----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> ApiKeyStore:
        """Parse the key file; :class:`ConfigError` naming the file and the problem if it is unusable."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"API key file {path} does not exist; create it with `lgsp ingress keys add AGENCY`"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"API key file {path} is unreadable: {exc}") from exc
        return cls.from_json(raw, where=str(path))

    @classmethod
    def load_or_empty(cls, path: Path) -> ApiKeyStore:
        """Like :meth:`load`, but a missing file is an empty store (for the key-management commands)."""
        return cls.load(path) if path.exists() else cls()

    @classmethod
    def from_json(cls, raw: Any, *, where: str = "key file") -> ApiKeyStore:
        if not isinstance(raw, dict) or raw.get("version") != FILE_VERSION or raw.get("hash") != "sha256":
            raise ConfigError(f"{where}: expected an object with version {FILE_VERSION} and hash sha256")
        agencies = raw.get("agencies")
        if not isinstance(agencies, dict):
            raise ConfigError(f"{where}: `agencies` must be an object keyed by agency code")
        revoked = raw.get("revoked", {})
        if not isinstance(revoked, dict) or not all(isinstance(v, str) for v in revoked.values()):
            raise ConfigError(f"{where}: `revoked` must map key ids to agency codes")
        entries = {code: _parse_entry(entry, f"{where}: agency {code}") for code, entry in agencies.items()}
        return cls(entries, revoked=revoked)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FILE_VERSION,
            "hash": "sha256",
            "agencies": {
                code: {
                    "grants": sorted(entry.grants),
                    "keys": [
                        {"id": k.id, "sha256": k.sha256, "created_at": k.created_at} for k in entry.keys
                    ],
                }
                for code, entry in sorted(self._agencies.items())
            },
            "revoked": dict(sorted(self._revoked.items())),
        }

    def agencies(self) -> Mapping[str, AgencyEntry]:
        return self._agencies

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization`` header value, or ``None`` if absent or wrong."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        match = _TOKEN_RE.match(token.strip())
        if match is None:
            return None
        found = self._by_key_id.get(match.group(1))
        if found is None:
            return None
        agency, stored = found
        if not hmac.compare_digest(hash_secret(match.group(2)), stored.sha256):
            return None
        return Principal(AgencyCode(agency), frozenset(self._agencies[agency].grants), key_id=stored.id)

    def refusal(self, authorization: str | None) -> KeyRefusal:
        """Why :meth:`authenticate` refused ``authorization`` (call it only after a refusal)."""
        if not authorization:
            return KeyRefusal.MISSING
        scheme, _, token = authorization.partition(" ")
        match = _TOKEN_RE.match(token.strip()) if scheme.lower() == "bearer" else None
        if match is None:
            return KeyRefusal.MALFORMED
        return KeyRefusal.REVOKED if match.group(1) in self._revoked else KeyRefusal.UNKNOWN

    # --- writing (the key-management commands) -----------------------------------------------------------

    def add_key(self, agency: str, *, grants: Iterable[str] = (), keep_existing: bool = False) -> str:
        """Issue a new key for ``agency``; returns the token, which is shown once and never stored."""
        entry = self._agencies.setdefault(agency, AgencyEntry())
        if not keep_existing:
            self._revoked.update((key.id, agency) for key in entry.keys)
            entry.keys.clear()
        key_id = secrets.token_hex(_KEY_ID_HEX // 2)
        secret = secrets.token_urlsafe(32)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        entry.keys.append(StoredKey(key_id, hash_secret(secret), created))
        entry.grants.update(grants)
        self._reindex()
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def grant(self, agency: str, units: Iterable[str]) -> None:
        self._agencies.setdefault(agency, AgencyEntry()).grants.update(units)

    def revoke(self, agency: str) -> bool:
        """Remove the agency with all its keys and grants (offboarding); whether it was there."""
        entry = self._agencies.pop(agency, None)
        removed = entry is not None
        if entry is not None:
            self._revoked.update((key.id, agency) for key in entry.keys)
        self._reindex()
        return removed

    def revoke_key(self, key_id: str) -> str | None:
        """Remove one key (the end of a rotation); the agency keeps its other keys and its grants.

        Returns the agency the key belonged to, or None if no agency has it.
        """
        found = self._by_key_id.get(key_id)
        if found is None:
            return None
        agency, stored = found
        self._agencies[agency].keys.remove(stored)
        self._revoked[key_id] = agency
        self._reindex()
        return agency

    def ungrant(self, agency: str, units: Iterable[str]) -> set[str]:
        """Remove grants from the agency; the ones it had."""
        entry = self._agencies.get(agency)
        if entry is None:
            return set()
        removed = entry.grants & set(units)
        entry.grants -= removed
        return removed

    def save(self, path: Path) -> None:
        """Write atomically, readable by the owner only (hashes are not secrets, but grants are policy)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _reindex(self) -> None:
        self._by_key_id = {k.id: (code, k) for code, entry in self._agencies.items() for k in entry.keys}


def _parse_entry(entry: Any, where: str) -> AgencyEntry:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    grants = entry.get("grants", [])
    keys = entry.get("keys", [])
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise ConfigError(f"{where}: `grants` must be a list of agency codes")
    if not isinstance(keys, list):
        raise ConfigError(f"{where}: `keys` must be a list")
    parsed: list[StoredKey] = []
    for key in keys:
        if not isinstance(key, dict) or not all(isinstance(key.get(f), str) for f in ("id", "sha256")):
            raise ConfigError(f"{where}: each key needs string `id` and `sha256`")
        parsed.append(StoredKey(key["id"], key["sha256"], str(key.get("created_at", ""))))
    return AgencyEntry(parsed, set(grants))


class ReloadingKeyStore:
    """The key file, re-read when its modification time changes (checked at most every ``interval_s``).

    So keys can be added or revoked without restarting the ingress. A file that went missing or became
    corrupt fails *closed* and loudly: no key is accepted (a deleted file must not leave revoked keys
    working), the error is logged, :meth:`problem` says why (``/readyz`` answers 503 with it) and
    ``on_state(False)`` is called (the ``lgsp_ingress_key_file_ok`` gauge). A good file restores all.
    """

    def __init__(
        self, path: Path, *, interval_s: float = 2.0, on_state: Callable[[bool], None] = lambda _ok: None
    ) -> None:
        self._path = path
        self._interval = interval_s
        self._on_state = on_state
        self._store = ApiKeyStore.load(path)
        self._problem: str | None = None
        self._mtime = _mtime(path)
        self._checked = time.monotonic()
        on_state(True)

    def current(self) -> ApiKeyStore:
        now = time.monotonic()
        if now - self._checked >= self._interval:
            self._checked = now
            mtime = _mtime(self._path)
            if mtime != self._mtime:
                self._mtime = mtime
                self._reload()
        return self._store

    def problem(self) -> str | None:
        """Why no key is accepted (the key file's error), or None while the file is good."""
        self.current()
        return self._problem

    def _reload(self) -> None:
        try:
            self._store = ApiKeyStore.load(self._path)
        except ConfigError as exc:
            self._store = ApiKeyStore()
            self._problem = str(exc)
            log.error("API key file unusable, no key is accepted until it is fixed: %s", exc)
            self._on_state(False)
            return
        if self._problem is not None:
            log.warning("API key file %s is usable again", self._path)
        self._problem = None
        self._on_state(True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


class Authorizer:
    """Decides whether a principal may publish an event: its ``source`` and every agency its data asserts
    (the rules are :mod:`bus.authz`, shared with the SDK and the views)."""

    def __init__(self, catalog: AgencyCatalog) -> None:
        self._catalog = catalog

    def may_publish(self, principal: Principal, source: str) -> bool:
        return may_publish_for(principal, source, self._catalog)

    def refusals(self, principal: Principal, record: EventRecord) -> list[Refusal]:
        """Each field of ``record`` that ``principal`` may not assert, with the rule (empty: allowed)."""
        return record_refusals(principal, record, self._catalog)
