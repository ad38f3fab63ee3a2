"""The national views together with their store: the runner's sink, and the read side for API and CLI.

Writes happen on one dedicated thread (the store's writer), so the event loop keeps fetching and
heartbeating while SQLite works (it releases the GIL during statements).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

from bus.consumer.types import Batch, Partition
from bus.errors import StoreError, ValidationError
from bus.metrics import ViewMetrics
from bus.settings import Settings
from bus.topics import TOPICS
from bus.types import TopicName
from consumers.base import Rollup, View, ViewQuery, ViewResult
from consumers.documents import DocumentsView
from consumers.dossiers import DossiersView
from consumers.evidence import MIGRATION as EVIDENCE_MIGRATION
from consumers.evidence import EvidenceLog, EvidencePage, read_evidence
from consumers.reports import ReportsView
from consumers.scoreboard import ScoreboardView
from consumers.store import ViewStore, open_store
from consumers.store.base import StoreTxn
from consumers.store.sqlite import SqliteStore
from consumers.units import AgenciesView

log = logging.getLogger(__name__)
T = TypeVar("T")

VIEW_NAMES = ("scoreboard", "documents", "dossiers", "reports", "agencies")


def build_views(settings: Settings, rollup: Rollup | None = None) -> list[View]:
    """The national views, sharing one agency roll-up (``agencies``: the units the catalog does not list)."""
    rollup = rollup or Rollup()
    views = settings.views
    reports_view = ReportsView(rollup, since=views.obligations_since, max_days=views.obligations_max_days)
    return [
        DocumentsView(rollup, sla_hours=settings.views.document_sla_hours),
        DossiersView(rollup),
        reports_view,
        ScoreboardView(reports_view, rollup),
        AgenciesView(),
    ]


@dataclass(frozen=True)
class Freshness:
    """The views' progress: partitions and records applied, and when a builder last committed (UTC ms)."""

    partitions: int
    applied: int
    last_commit_ms: int | None


class ViewSet:
    """Views + store. As a ``BatchSink`` it applies a batch and its offsets in one transaction."""

    def __init__(
        self,
        store: ViewStore,
        views: Sequence[View],
        *,
        topic_prefix: str = "",
        metrics: ViewMetrics | None = None,
        rollup: Rollup | None = None,
    ) -> None:
        self._store = store
        self._rollup = rollup or Rollup()
        self._evidence = EvidenceLog(self._rollup)
        self._views = {view.name: view for view in views}
        self._by_topic = {topic_prefix + view.topic: view for view in views if view.topic is not None}
        self._prefix = topic_prefix
        self._metrics = metrics
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="view-store")
        store.migrate([EVIDENCE_MIGRATION, *(m for view in views for m in view.migrations())])

    @classmethod
    def from_settings(
        cls, settings: Settings, *, metrics: ViewMetrics | None = None, view_set: str | None = None
    ) -> ViewSet:
        """The views on the store named by ``settings.store.url``, topics prefixed by ``settings.topics``
        (``view_set``: that set of a PostgreSQL store instead of the current one)."""
        rollup = Rollup()
        return cls(
            open_store(settings.store.url, view_set=view_set),
            build_views(settings, rollup),
            topic_prefix=settings.topics.prefix,
            metrics=metrics,
            rollup=rollup,
        )

    @property
    def store(self) -> ViewStore:
        """The underlying store."""
        return self._store

    def topics(self) -> list[str]:
        """The real (prefixed) topics that feed the views."""
        return sorted(self._by_topic)

    def whole_topics(self) -> set[str]:
        """Real topics of views that are not partition-local (a sharded rebuild reads each in one shard)."""
        return {topic for topic, view in self._by_topic.items() if not view.partition_local}

    def topic_types(self) -> dict[str, frozenset[str]]:
        """Real topic → short Avro names of the events allowed on it (from the topic catalog)."""
        out: dict[str, frozenset[str]] = {}
        for topic, view in self._by_topic.items():
            spec = TOPICS.get(TopicName(view.topic)) if view.topic is not None else None
            if spec is not None:
                out[topic] = frozenset(spec.event_types)
        return out

    # -- BatchSink ------------------------------------------------------------------------------------------

    async def load_offsets(self) -> dict[Partition, int]:
        """The offsets recorded with the views."""
        return await self._on_writer(self._store.load_offsets)

    async def apply(self, batch: Batch) -> None:
        """Apply every view's events, their evidence and the batch's offsets in one transaction."""
        counts = await self._on_writer(lambda: self._apply(batch))
        if self._metrics is not None:
            for view, count in counts.items():
                self._metrics.applied(view, count)

    def _apply(self, batch: Batch) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._store.transaction() as txn:
            # Topics in one order: builders sharing a store then lock shared aggregate rows in one order.
            for topic, events in sorted(batch.events.items()):
                view = self._by_topic.get(topic)
                if view is None or not events:
                    continue
                if not view.partition_local:
                    txn.serialise(view.name)
                view.apply(txn, events)
                self._evidence.record(txn, events, batch.origins.get(topic, ()))
                counts[view.name] = counts.get(view.name, 0) + len(events)
            txn.save_offsets(batch.next_offsets)
        return counts

    def merge_shards(self, paths: Sequence[str | Path]) -> None:
        """Add the views and offsets of rebuild shards (``consumers.rebuild``) to this store, atomically."""
        store = self._store
        if not isinstance(store, SqliteStore):
            raise StoreError("only a SQLite store can merge rebuild shards")
        views = list(self._views.values())

        def merge(txn: StoreTxn, source: str) -> None:
            for view in views:
                view.merge(txn, source)
            EvidenceLog.merge(txn, source)

        store.merge_shards(paths, merge)

    async def _on_writer(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)

    # -- reading ------------------------------------------------------------------------------------------

    def view(self, name: str) -> View:
        """The view called ``name``; ValidationError listing the names otherwise."""
        view = self._views.get(name)
        if view is None:
            raise ValidationError(
                f"no view {name!r}; views: {', '.join(VIEW_NAMES)}", field="view", rule="view.known"
            )
        return view

    def query(self, name: str, query: ViewQuery) -> ViewResult:
        """Read one view (a consistent snapshot; safe from any thread)."""
        view = self.view(name)
        with self._store.reader() as reader:
            return view.query(reader, query)

    def evidence(self, view: str, key: str, *, after: str | None = None, limit: int = 100) -> EvidencePage:
        """One page of the records behind ``view``'s row ``key`` (see consumers.evidence)."""
        topic = next((real for real, feeds in self._by_topic.items() if feeds.name == view), None)
        with self._store.reader() as reader:
            return read_evidence(
                reader, view, key, topic=topic, after=after, limit=limit, rollup=self._rollup
            )

    def freshness(self) -> Freshness:
        """How far the views are, from one read snapshot of the set being served."""
        with self._store.reader() as reader:
            rows = reader.query("SELECT COUNT(*), SUM(next_offset), MAX(updated_at_ms) FROM consumer_offsets")
        partitions, applied, last = rows[0]
        return Freshness(int(partitions), int(applied or 0), None if last is None else int(last))

    def offsets(self) -> Mapping[Partition, int]:
        """The recorded offsets (for status pages)."""
        return self._store.load_offsets()

    def close(self) -> None:
        """Finish pending writes and close the store."""
        self._writer.shutdown(wait=True)
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
