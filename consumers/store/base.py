"""The view store interface: view writes and consumed offsets committed in one transaction.

A backend keeps, besides the views' own tables, the next offset to read per partition. Both are written in
the same transaction, so after any crash the views and the offsets agree: the store's offsets are the
truth, whatever the consumer group committed in Kafka (see docs in ``consumers/__init__``).

SQL passed to :class:`StoreTxn` and :class:`StoreReader` uses ``?`` placeholders and the portable subset
shared by SQLite (≥ 3.35) and PostgreSQL: ``INSERT ... ON CONFLICT (...) DO UPDATE`` with ``excluded``,
window functions, ``BIGINT``/``TEXT``/``DOUBLE PRECISION`` columns. The PostgreSQL backend translates ``?`` to
its paramstyle and otherwise runs the same statements; it reads ``SUM``/``AVG`` results (``numeric``) as
``int``/``float`` and booleans as 0/1, like SQLite. Keep out of the subset: SQLite-only functions
(``printf``, ``strftime``, ``group_concat``, ``IFNULL``, multi-argument ``MAX``/``MIN``), integer division
of a ``SUM`` (``numeric`` in PostgreSQL), ``ORDER BY`` on columns that may be NULL (NULLs sort first in
SQLite, last in PostgreSQL), and ``?`` inside string literals.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from bus.consumer.types import Partition

Row = tuple[Any, ...]

MAX_IN_PARAMS = 900
"""Keys per ``IN (...)`` list; below SQLite's and PostgreSQL's bind-parameter limits."""


@dataclass(frozen=True)
class Migration:
    """One ordered step of one component's schema (``component`` is a view name or ``core``)."""

    component: str
    version: int
    description: str
    statements: tuple[str, ...]


class StoreReader(ABC):
    """Read access, for queries that do not write."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of a SELECT."""


class StoreTxn(StoreReader):
    """One unit of work; everything done through it commits or rolls back together."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row (batched by the driver)."""

    @abstractmethod
    def save_offsets(self, offsets: Mapping[Partition, int]) -> None:
        """Record the next offset to read for each partition, as part of this transaction."""

    @abstractmethod
    def serialise(self, name: str) -> None:
        """Hold an exclusive lock named ``name`` until this transaction ends.

        For state that is not partition-local (one entity's events on several partitions): two builders
        of one store then never read-modify-write it at once. A single-writer backend needs no lock.
        """


class ViewStore(ABC):
    """A transactional store for the views and their offsets. Not thread-safe: one writer thread."""

    @abstractmethod
    def migrate(self, migrations: Sequence[Migration]) -> dict[str, int]:
        """Apply the migrations newer than each component's recorded version; return the versions."""

    @abstractmethod
    def load_offsets(self) -> dict[Partition, int]:
        """Next offset to read per partition (empty for a new store)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[StoreTxn]:
        """A write transaction: commits on normal exit, rolls back on exception."""

    @abstractmethod
    def reader(self) -> AbstractContextManager[StoreReader]:
        """A consistent read snapshot; safe to use from another thread than the writer's."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """What readiness reports about the store: its backend and where (never credentials)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; idempotent."""


CORE_MIGRATIONS = (
    Migration(
        "core",
        1,
        "offsets of the records the views include",
        (
            "CREATE TABLE IF NOT EXISTS consumer_offsets ("
            " topic TEXT NOT NULL, partition_no INTEGER NOT NULL, next_offset BIGINT NOT NULL,"
            " updated_at_ms BIGINT NOT NULL, PRIMARY KEY (topic, partition_no))",
        ),
    ),
)
"""Every backend's own tables, beside the views'."""
CREATE_SCHEMA_VERSION = (
    "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL, description TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)"
)


def chunks(items: Sequence[Any], size: int = MAX_IN_PARAMS) -> Iterator[Sequence[Any]]:
    """``items`` in slices small enough for one ``IN (...)`` list."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def placeholders(count: int) -> str:
    """``?, ?, ...`` for an ``IN`` list of ``count`` values."""
    return ", ".join("?" * count)


def select_in(reader: StoreReader, sql_prefix: str, keys: Sequence[Any], suffix: str = "") -> list[Row]:
    """Rows of ``{sql_prefix} IN (keys...) {suffix}``, querying in chunks."""
    rows: list[Row] = []
    for part in chunks(keys):
        rows.extend(reader.query(f"{sql_prefix} IN ({placeholders(len(part))}) {suffix}", part))
    return rows


def sums_by(
    reader: StoreReader,
    table: str,
    keys: Sequence[str],
    sums: Sequence[str],
    condition: str = "",
    params: Sequence[Any] = (),
) -> Iterator[tuple[tuple[str, ...], dict[str, int]]]:
    """``SELECT keys, SUM(each of sums) FROM table condition GROUP BY keys``, each row as the text of its
    ``keys`` and ``{sum: int}``. The SELECT and the names read back are made from the same two lists, so a
    column added to either cannot shift values. Names come from code, never from input."""
    width = len(keys)
    rows = reader.query(
        f"SELECT {', '.join(keys)}, {', '.join(f'SUM({c})' for c in sums)} FROM {table} {condition}"
        f" GROUP BY {', '.join(keys)}",
        params,
    )
    for row in rows:
        yield tuple(str(v) for v in row[:width]), dict(zip(sums, (int(v) for v in row[width:]), strict=True))


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str], *, add: Sequence[str] = ()) -> str:
    """Portable ``INSERT ... ON CONFLICT (key) DO UPDATE``: ``add`` columns are incremented by the new
    values, the other non-key columns replaced. Names come from code, never from input."""
    assignments = [
        f"{c} = {table}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
        for c in columns
        if c not in key
    ]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(assignments)}"
    )


def copy_sql(
    source: str, table: str, columns: Sequence[str], key: Sequence[str], *, add: Sequence[str] = ()
) -> str:
    """Copy ``table``'s rows from schema ``source`` (an attached shard) into the same table here.

    With ``add``, rows with the same ``key`` are summed column by column (aggregates of disjoint entities);
    without, a key present on both sides fails the statement: such tables hold entities that must have been
    in one shard only. Names come from code, never from input.
    """
    names = ", ".join(columns)
    select = f"INSERT INTO {table} ({names}) SELECT {names} FROM {source}.{table}"
    if not add:
        return select
    assignments = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in add)
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT
    return f"{select} WHERE true ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}"


def create_table(table: str, columns: Mapping[str, str], key: Sequence[str]) -> str:
    """Portable ``CREATE TABLE`` from ``{column: type}`` and the primary key columns."""
    body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    return f"CREATE TABLE {table} ({body}, PRIMARY KEY ({', '.join(key)}))"


def reread_topic(topic: str) -> str:
    """The statement that forgets the store's offsets of ``topic`` (any prefix), so that the builder reads it
    again from the earliest offset: for a migration that changes what a view keeps per entity and rebuilds
    its tables. ``topic`` comes from code, never from input."""
    return f"DELETE FROM consumer_offsets WHERE topic LIKE '%{topic}'"  # a prefix is free text


OFFSET_COLUMNS = ("topic", "partition_no", "next_offset", "updated_at_ms")
OFFSET_KEY = ("topic", "partition_no")
UPSERT_OFFSET = upsert_sql("consumer_offsets", OFFSET_COLUMNS, OFFSET_KEY)
UPSERT_SCHEMA_VERSION = upsert_sql(
    "schema_version", ("component", "version", "description", "applied_at_ms"), ("component",)
)
