"""View stores: the views' tables and their consumed offsets, written in one transaction.

``open_store(url)`` picks the backend from the URL scheme: ``sqlite:///path`` (default) or, later,
``postgresql://...`` (the interface in :mod:`consumers.store.base` is written for it).
"""

from __future__ import annotations

from bus.errors import ConfigError
from consumers.store.base import Migration, StoreReader, StoreTxn, ViewStore
from consumers.store.sqlite import SqliteStore

__all__ = ["Migration", "SqliteStore", "StoreReader", "StoreTxn", "ViewStore", "open_store"]


def open_store(url: str) -> ViewStore:
    """The store named by ``url`` (``settings.store.url``)."""
    if url.startswith("sqlite:"):
        return SqliteStore.from_url(url)
    scheme = url.split(":", 1)[0]
    raise ConfigError(f"store backend {scheme!r} is not available yet; use sqlite:///path")
