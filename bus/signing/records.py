"""Signing the records of one publish call: the SDK signs with the agency's own keys, the ingress attests the
agencies it authenticated. One signature per signer over the hash tree of its records
(:mod:`bus.signing.tree`); each record gets its ``lgsp_sig`` header with its proof.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bus.errors import ForbiddenError
from bus.signing.envelope import HEADER as SIG_HEADER
from bus.signing.signer import BatchSigner, KeyChain
from bus.signing.tree import IDENTITY_HEADERS, leaf_hash

if TYPE_CHECKING:
    from bus.authz import Principal
    from bus.handover import Record


def sign_records(keychain: KeyChain, sources: Sequence[str], records: list[Record]) -> None:
    """Add ``lgsp_sig`` to every record (whose event's ``meta.source`` is ``sources[i]``): one signature per
    key over the hash tree of its records."""
    groups: dict[BatchSigner, list[int]] = {}
    for index, source in enumerate(sources):
        signer = keychain.signer_for(source)
        if signer is None:
            raise ForbiddenError(
                f"item {index}: no signing key may sign for source {source}; nothing was sent"
            )
        groups.setdefault(signer, []).append(index)
    for signer, indexes in groups.items():
        leaves = [leaf_of(records[i]) for i in indexes]
        for index, header in zip(indexes, signer.sign(leaves), strict=True):
            records[index].headers.append((SIG_HEADER, header))


def attest_records(attester: BatchSigner, on_behalf: Sequence[Principal], records: list[Record]) -> None:
    """Sign as the ingress: one signature per authenticated principal, attesting that agency and API key."""
    groups: dict[Principal, list[int]] = {}
    for index, principal in enumerate(on_behalf):
        groups.setdefault(principal, []).append(index)
    for principal, indexes in groups.items():
        headers = attester.sign(
            [leaf_of(records[i]) for i in indexes],
            attestation="ingress",
            agency=principal.agency,
            api_key_id=principal.key_id,
            grants=tuple(sorted(principal.grants)),
        )
        for index, header in zip(indexes, headers, strict=True):
            records[index].headers.append((SIG_HEADER, header))


def leaf_of(record: Record) -> bytes:
    if record.leaf is not None:
        return record.leaf
    headers = dict(record.headers)
    return leaf_hash(record.key, [headers.get(name) for name in IDENTITY_HEADERS], record.value)
