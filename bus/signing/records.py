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
from bus.signing.tree import leaf_hash_of

if TYPE_CHECKING:
    from bus.authz import Principal
    from bus.handover import Record


def sign_records(
    keychain: KeyChain, sources: Sequence[str], records: list[Record], order: Sequence[int] | None = None
) -> None:
    """Add ``lgsp_sig`` to every record (whose event's ``meta.source`` is ``sources[i]``): one signature per
    key over the hash tree of its records. ``order``: every record's index, in the order the trees take them
    (by default as given)."""
    by_source: dict[str, list[int]] = {}
    for index in range(len(records)) if order is None else order:
        by_source.setdefault(sources[index], []).append(index)  # a call's records come from a few sources
    groups: dict[BatchSigner, list[int]] = {}
    for source, indexes in by_source.items():
        signer = keychain.signer_for(source)
        if signer is None:
            raise ForbiddenError(
                f"item {min(indexes)}: no signing key may sign for source {source}; nothing was sent"
            )
        groups.setdefault(signer, []).extend(indexes)
    for signer, indexes in groups.items():
        _append(records, indexes, signer.sign(_leaves(records, indexes)))


def attest_records(
    attester: BatchSigner,
    on_behalf: Sequence[Principal],
    records: list[Record],
    order: Sequence[int] | None = None,
) -> None:
    """Sign as the ingress: one signature per authenticated principal, attesting that agency and API key.
    ``order`` as for :func:`sign_records`."""
    groups: dict[Principal, list[int]] = {}
    for index in range(len(records)) if order is None else order:
        groups.setdefault(on_behalf[index], []).append(index)
    for principal, indexes in groups.items():
        headers = attester.sign(
            _leaves(records, indexes),
            attestation="ingress",
            agency=principal.agency,
            api_key_id=principal.key_id,
            grants=tuple(sorted(principal.grants)),
        )
        _append(records, indexes, headers)


def _leaves(records: list[Record], indexes: list[int]) -> list[bytes]:
    return [leaf_of(records[index]) for index in indexes]


def _append(records: list[Record], indexes: list[int], headers: list[bytes]) -> None:
    for index, header in zip(indexes, headers, strict=True):
        records[index].headers.append((SIG_HEADER, header))


def leaf_of(record: Record) -> bytes:
    if record.leaf is not None:
        return record.leaf
    return leaf_hash_of(record.key, dict(record.headers), record.value)
