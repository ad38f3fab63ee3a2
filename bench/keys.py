"""Signing keys of the benchmarks: the simulated nation's publishers sign as production's do (#12).

Like the demo, one key per People's Committee and ministry (the simulator's publishers; a committee's key
speaks for its departments). The private keys live in the run's work directory and are gone with it; the
public keys go on the keyring topic under the part's topic prefix, which the views read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bus.agencies import load_catalog
from bus.settings import Settings, SigningSettings
from bus.signing.envelope import HEADER as SIG_HEADER
from bus.signing.keyring import create_keys, publish_entries
from bus.signing.keys import KeyEntry
from bus.signing.signer import BatchSigner, KeyChain
from bus.signing.tree import IDENTITY_HEADERS, leaf_hash

SIGN_BATCH = 1_000
"""Records under one signature at most when the bench signs raw records (the publish part's batch)."""


@dataclass
class RawRecord:
    """A record as the bench sends it raw: key, value and headers (``lgsp_sig`` appended when signed)."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


def nation_agencies() -> list[str]:
    """The agencies the simulator publishes for, one key each (as ``lgsp demo`` makes them)."""
    catalog = load_catalog()
    return [a.code for a in [*catalog.province_committees(), *catalog.ministries()]]


def make_keys(key_dir: Path, agencies: Iterable[str]) -> tuple[KeyChain, list[KeyEntry]]:
    """A key per agency in ``key_dir``; the publishers' key chain and the entries for the keyring."""
    entries = create_keys(key_dir, agencies)
    chain = KeyChain.from_settings(SigningSettings(key_dir=key_dir))
    if chain is None:  # pragma: no cover - create_keys just wrote them
        raise RuntimeError(f"no keys in {key_dir}")
    return chain, entries


def signing_settings(settings: Settings, key_dir: Path) -> Settings:
    """``settings`` whose Publisher signs with every key of ``key_dir`` (and requires the views to verify)."""
    signing = settings.signing.model_copy(update={"key_dir": key_dir, "key_file": None, "key_id": None})
    views = settings.views.model_copy(update={"require_signatures": True})
    return settings.model_copy(update={"signing": signing, "views": views})


def publish_keys(settings: Settings, entries: Sequence[KeyEntry]) -> None:
    """The public keys on the keyring topic under ``settings.topics.prefix``."""
    asyncio.run(publish_entries(settings, entries))


def sign_records(chain: KeyChain, records: Sequence[RawRecord]) -> None:
    """Append ``lgsp_sig`` to each record: per signer (the key of its ``ce_source``), one signature over the
    hash tree of at most :data:`SIGN_BATCH` of its records, as a publisher of that agency would send them."""
    groups: dict[BatchSigner, list[RawRecord]] = {}
    for record in records:
        source = (record.header("ce_source") or b"").decode()
        signer = chain.signer_for(source)
        if signer is None:
            raise ValueError(f"no bench key may sign for source {source!r}")
        groups.setdefault(signer, []).append(record)
    for signer, group in groups.items():
        for start in range(0, len(group), SIGN_BATCH):
            batch = group[start : start + SIGN_BATCH]
            leaves = [leaf_hash(r.key, [r.header(n) for n in IDENTITY_HEADERS], r.value) for r in batch]
            for record, value in zip(batch, signer.sign(leaves), strict=True):
                record.headers.append((SIG_HEADER, value))
