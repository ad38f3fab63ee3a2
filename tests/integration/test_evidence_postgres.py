"""The evidence on the PostgreSQL store (the same SQL as SQLite's): written with the batch, exact when a
batch is applied again, read by entity and by province, paged with the same cursors."""

from __future__ import annotations

import asyncio

import pytest

from bus.settings import Settings
from consumers.store import open_store
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s
from tests.unit.test_evidence import EVENTS, batch_of, evidence_rows

pytestmark = pytest.mark.integration


def test_evidence_on_postgresql_is_exact_under_replays_and_pages_alike(postgres_url: str) -> None:
    views = ViewSet(open_store(postgres_url), build_views(Settings()))
    try:
        asyncio.run(views.apply(batch_of(EVENTS)))
        first = evidence_rows(views)
        assert len(first) == len(EVENTS)
        asyncio.run(views.apply(batch_of(EVENTS)))  # the same records again (a builder re-reading them)
        assert evidence_rows(views) == first
        dossier = views.evidence("dossiers", s.code(1))
        assert [r.event_id for r in dossier.records] == [str(EVENTS[i].meta.event_id) for i in (3, 5)]
        assert {r.signer for r in dossier.records} == {s.SIGNER}
        seen: list[tuple[str, int, int]] = []
        after: str | None = None
        while True:
            page = views.evidence("scoreboard", "00", after=after, limit=2)
            seen.extend((r.topic, r.partition, r.offset) for r in page.records)
            if page.after is None:
                break
            after = page.after
        assert sorted(seen) == [(t, p, o) for t, p, o, _, _ in first]
        assert len(views.evidence("scoreboard", "79").records) == 4
    finally:
        views.close()
