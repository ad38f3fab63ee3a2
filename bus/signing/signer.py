"""Signing producer batches: one Ed25519 signature over the hash tree of a batch, a proof per record.

:class:`BatchSigner` signs with one key; :class:`KeyChain` holds the keys a publisher may sign with and picks
the one for an event's ``source`` (an SDK has one key: its agency's; the simulator, the demo and the test
stacks publish for many agencies and hold one key per agency, ``LGSP_SIGNING__KEY_DIR``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus.agencies import AgencyCatalog, load_catalog
from bus.authz import Principal, may_publish_for
from bus.errors import ConfigError
from bus.settings import SigningSettings
from bus.signing import tree
from bus.signing.envelope import Attestation, Claims, protected_header, record_headers, signing_input
from bus.signing.keys import (
    INGRESS_KEY_PREFIX,
    KEY_ID_SEPARATOR,
    agency_of_key_id,
    b64url,
    load_private_key,
    now_ms,
)
from bus.types import AgencyCode


class BatchSigner:
    """Signs batches with one key, as its agency (``agency``) or as the ingress attesting an agency."""

    def __init__(self, key: Ed25519PrivateKey, key_id: str, agency: str) -> None:
        self.key_id = key_id
        self.agency = AgencyCode(agency)
        self._key = key

    def sign(
        self,
        leaves: Sequence[bytes],
        *,
        attestation: Attestation = "agency",
        agency: str | None = None,
        api_key_id: str | None = None,
        grants: tuple[str, ...] = (),
    ) -> list[bytes]:
        """The ``lgsp_sig`` value of each leaf's record, in order (one signature for all of them)."""
        claims = Claims(attestation, agency or self.agency, len(leaves), now_ms(), api_key_id, grants)
        protected = protected_header(self.key_id, claims)
        top, paths = tree.proofs(leaves)
        jws = f"{protected}..{b64url(self._key.sign(signing_input(protected, top)))}"
        return record_headers(jws, paths)


class KeyChain:
    """The signing keys of a publisher, by agency; :meth:`signer_for` picks the key for a ``source``."""

    def __init__(
        self,
        signers: Sequence[BatchSigner],
        catalog: AgencyCatalog | None = None,
        *,
        attester: BatchSigner | None = None,
    ) -> None:
        self.attester = attester
        """The ingress's key (id ``ingress#...``): signs what it attests for authenticated agencies."""
        self._signers = list(signers)
        self._by_agency = {s.agency: s for s in self._signers}
        self._catalog = catalog or load_catalog()
        self._for_source: dict[str, BatchSigner | None] = {}

    def __len__(self) -> int:
        return len(self._signers)

    def signer_for(self, source: str) -> BatchSigner | None:
        """The key of ``source`` itself, else one whose agency may publish for it (a province's key for its
        departments); None if none may."""
        if source in self._for_source:
            return self._for_source[source]
        found = self._by_agency.get(AgencyCode(source))
        if found is None:
            found = next(
                (s for s in self._signers if may_publish_for(Principal(s.agency), source, self._catalog)),
                None,
            )
        self._for_source[source] = found
        return found

    @classmethod
    def from_settings(cls, settings: SigningSettings) -> KeyChain | None:
        """``key_file`` + ``key_id`` (an SDK), every ``<key id>.pem`` of ``key_dir`` (tools; an ``ingress#…``
        one is the attester), or None."""
        signers: list[BatchSigner] = []
        attester: BatchSigner | None = None
        if settings.key_file is not None:
            if not settings.key_id:
                raise ConfigError("LGSP_SIGNING__KEY_FILE needs LGSP_SIGNING__KEY_ID (its id in the keyring)")
            if settings.key_id.startswith(INGRESS_KEY_PREFIX + KEY_ID_SEPARATOR):
                key = load_private_key(settings.key_file)
                attester = BatchSigner(key, settings.key_id, INGRESS_KEY_PREFIX)
            else:
                signers.append(_signer(settings.key_file, settings.key_id))
        if settings.key_dir is not None:
            for path in sorted(settings.key_dir.glob("*.pem")):
                if path.stem.startswith(INGRESS_KEY_PREFIX + KEY_ID_SEPARATOR):  # a stack's ingress key
                    if attester is not None:
                        raise ConfigError(f"two ingress keys: {attester.key_id} and {path.stem}; keep one")
                    attester = BatchSigner(load_private_key(path), path.stem, INGRESS_KEY_PREFIX)
                else:
                    signers.append(_signer(path, path.stem))
        return cls(signers, attester=attester) if signers or attester else None


def _signer(path: Path, key_id: str) -> BatchSigner:
    agency = agency_of_key_id(key_id)
    if agency is None:
        raise ConfigError(f"signing key id {key_id!r} does not name an agency (AGENCY#hex)")
    return BatchSigner(load_private_key(path), key_id, agency)
