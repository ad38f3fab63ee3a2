"""What every view shares: the view interface, queries and results, local calendar days, agency roll-ups.

Days and months are those of Việt Nam (Asia/Ho_Chi_Minh, UTC+7 all year, no daylight saving): a document
sent at 2025-07-01T18:00Z counts on 2025-07-02. Times are stored as UTC epoch milliseconds.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bus.agencies import AgencyCatalog, load_catalog
from bus.errors import ValidationError

if TYPE_CHECKING:
    from bus.events.record import EventRecord
    from consumers.store.base import Migration, StoreReader, StoreTxn

LOCAL_OFFSET_MS = 7 * 3600 * 1000
"""Asia/Ho_Chi_Minh is UTC+7 with no daylight saving time."""
_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
CENTRAL = ""
"""The ``province`` of agencies that belong to no province (ministries and central bodies)."""
RollupColumn = Literal["province", "ministry"]
"""The roll-up columns every view's aggregate tables carry (:meth:`Rollup.of`)."""
_PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def to_ms(moment: datetime) -> int:
    """UTC epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


@lru_cache(maxsize=65536)
def _day_of_index(index: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + index).isoformat()


def local_day(ms: int) -> str:
    """The Vietnamese calendar day (``YYYY-MM-DD``) of a UTC epoch-millisecond time."""
    return _day_of_index((ms + LOCAL_OFFSET_MS) // _DAY_MS)


def local_month(ms: int) -> str:
    """The Vietnamese calendar month (``YYYY-MM``) of a UTC epoch-millisecond time."""
    return local_day(ms)[:7]


class Level(StrEnum):
    """How far a view's rows are rolled up (``procedure``: per province and procedure, dossiers only)."""

    AGENCY = "agency"
    PROCEDURE = "procedure"
    PROVINCE = "province"
    MINISTRY = "ministry"
    NATION = "nation"


class Grain(StrEnum):
    """Time grain of a view's rows."""

    DAY = "day"
    MONTH = "month"
    ALL = "all"


@dataclass(frozen=True)
class ViewQuery:
    """Filters and shape of a view read; every filter is optional.

    ``period`` is a month, ``YYYY-MM``; ``as_of`` is the reference time for "still open"/"still not arrived"
    counts (default: now).
    """

    province: str | None = None
    agency: str | None = None
    period: str | None = None
    level: Level | None = None
    grain: Grain | None = None
    as_of: datetime | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.period is not None and not _PERIOD_RE.match(self.period):
            raise ValidationError(
                f"period {self.period!r} is not a month YYYY-MM", field="period", rule="period"
            )
        if self.limit is not None and self.limit < 1:
            raise ValidationError("limit must be at least 1", field="limit", rule="limit")

    def as_of_ms(self) -> int:
        """``as_of`` (or now) in UTC epoch milliseconds."""
        return to_ms(self.as_of if self.as_of is not None else datetime.now(UTC))


@dataclass(frozen=True)
class ViewResult:
    """Rows of a view read, each a JSON-able dict with the same ``columns``."""

    view: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The API/CLI ``--json`` form."""
        return {"view": self.view, "columns": list(self.columns), "rows": self.rows, "meta": self.meta}


class View(ABC):
    """A view built from one topic: its tables (migrations), how a batch changes them, how it is read."""

    name: ClassVar[str]
    topic: ClassVar[str | None]
    """Catalog name of the topic that feeds it (``lgsp.documents``); None for derived views."""
    partition_local: ClassVar[bool] = True
    """Whether all events of one of its entities share a Kafka key (so one partition). If not, builders
    that split the topic's partitions serialise its writes (:meth:`StoreTxn.serialise`), and a sharded
    rebuild reads the topic in one shard."""

    @abstractmethod
    def migrations(self) -> Sequence[Migration]:
        """This view's schema steps, in order."""

    @abstractmethod
    def apply(self, txn: StoreTxn, events: Sequence[EventRecord]) -> None:
        """Fold ``events`` (one batch of this view's topic, in log order) into the view's tables.

        The builder hands over :class:`~bus.events.record.EventRecord` records (checked, logical-type free:
        times in epoch milliseconds); a model is made into one by ``bus.events.record.record_of``.

        Must be idempotent per event and independent of order, so that duplicates, late events and
        re-deliveries never move a count: state is kept per entity and merged by max/min/or rules.
        """

    @abstractmethod
    def query(self, reader: StoreReader, query: ViewQuery) -> ViewResult:
        """The view's rows for ``query``."""

    @abstractmethod
    def merge(self, txn: StoreTxn, source: str) -> None:
        """Add the view's tables in schema ``source`` (a rebuild shard that read other partitions) to these.

        Entity rows are copied (an entity's events share its Kafka key, so one shard holds all of them);
        aggregates, sums of entity contributions, are added.
        """


def ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` rounded to 6 places, or None when there is nothing to divide."""
    return round(numerator / denominator, 6) if denominator else None


class Rollup:
    """Where an agency rolls up: its province (by level-1 group) and, for central agencies, its ministry."""

    def __init__(self, catalog: AgencyCatalog | None = None) -> None:
        self._catalog = catalog or load_catalog()
        self._ministries = {
            code.rsplit(".", 1)[-1]: code for code in (a.code for a in self._catalog.ministries())
        }
        self._cache: dict[str, tuple[str, str]] = {}

    def of(self, agency: str) -> tuple[str, str]:
        """``(province, ministry)``: one of them is :data:`CENTRAL` (``""``); both for unknown agencies."""
        found = self._cache.get(agency)
        if found is None:
            province = self._catalog.province_of(agency) or CENTRAL
            ministry = CENTRAL if province else self._ministries.get(agency.rsplit(".", 1)[-1], CENTRAL)
            found = (province, ministry)
            self._cache[agency] = found
        return found

    def province_name(self, province: str) -> str:
        """Display name of a province code (``""``: central agencies)."""
        if not province:
            return "central"
        try:
            return self._catalog.province(province).name
        except ValidationError:
            return province

    @property
    def catalog(self) -> AgencyCatalog:
        """The agency catalog behind the roll-ups."""
        return self._catalog


def month_bounds(period: str) -> tuple[str, str]:
    """First and last day (``YYYY-MM-DD``) of month ``period`` (``YYYY-MM``)."""
    year, month = (int(part) for part in period.split("-"))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first.isoformat(), (following - timedelta(days=1)).isoformat()


def where(clauses: Sequence[str]) -> str:
    """``WHERE a AND b`` (or nothing)."""
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def place_filters(
    query: ViewQuery, level: Level | None, *, agency_column: str = "agency"
) -> tuple[list[str], list[Any]]:
    """Clauses on the ``province``/``agency``/``ministry`` columns every aggregate table has (``level``
    None: no roll-up level, as in a per-unit list)."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.province is not None:
        clauses.append("province = ?")
        params.append(query.province)
    if query.agency is not None:
        clauses.append(f"{agency_column} = ?")
        params.append(query.agency)
    if level is Level.MINISTRY:
        clauses.append("ministry <> ''")
    return clauses, params


def level_columns(level: Level) -> list[tuple[str, str]]:
    """``(output name, SQL expression)`` of the place columns a level groups by."""
    if level is Level.NATION:
        return []
    if level is Level.PROCEDURE:
        return [("province", "province"), ("procedure_code", "procedure_code")]
    return [(level.value, level.value)]


def unsupported(view: str, what: str, value: str) -> ValidationError:
    """The error for a query shape a view does not offer."""
    return ValidationError(f"the {view} view has no {what} {value!r}", field=what, rule=f"{view}.{what}")
