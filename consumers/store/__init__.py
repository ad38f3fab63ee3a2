"""View stores: the views' tables and their consumed offsets, written in one transaction.

``open_store(url)`` picks the backend from the URL scheme: ``sqlite:///path`` (the embedded default) or
``postgresql://...`` / ``postgres://...`` (several builders and API replicas; view sets for blue/green).
"""

from __future__ import annotations

from bus.errors import ConfigError
from consumers.store.base import Migration, StoreReader, StoreTxn, ViewStore
from consumers.store.sqlite import SqliteStore

__all__ = [
    "Migration",
    "SqliteStore",
    "StoreReader",
    "StoreTxn",
    "ViewStore",
    "is_postgres",
    "open_store",
]


POSTGRES_SCHEMES = ("postgresql:", "postgres:")


def is_postgres(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL store."""
    return url.startswith(POSTGRES_SCHEMES)


def open_store(url: str, *, view_set: str | None = None) -> ViewStore:
    """The store named by ``url`` (``settings.store.url``); ``view_set`` pins a PostgreSQL store to one
    view set (blue/green) instead of the current one."""
    if url.startswith("sqlite:"):
        if view_set is not None:
            raise ConfigError("view sets (blue/green) need a PostgreSQL store; SQLite has one set")
        return SqliteStore.from_url(url)
    if is_postgres(url):
        from consumers.store.postgres import PostgresStore  # psycopg loads only for PostgreSQL stores

        return PostgresStore.from_url(url, view_set=view_set)
    scheme = url.split(":", 1)[0]
    raise ConfigError(f"no store backend for {scheme!r}; use sqlite:///path or postgresql://host/db")
