"""Evidence behind every number: each applied record kept with the view rows it made, exact under replays,
rebuild merges and pagination; the API endpoint and the scoreboard's links."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bus.consumer.admission import AllOf, Rejection
from bus.consumer.decode import BatchDecoder, RecordLike
from bus.consumer.types import Batch, Origin, Partition
from bus.events import Event
from bus.events.record import EventRecord
from bus.metrics import ViewMetrics
from bus.settings import Settings
from consumers.api import create_app
from consumers.base import ViewQuery
from consumers.evidence import EvidenceNotFoundError, with_evidence_links
from consumers.reports import report_key
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from tests import views_samples as s
from tests.unit.runner_fakes import GOOD_ID, FakeDeserializer, Record, wire

pytestmark = pytest.mark.unit

EVENTS: list[Event] = [
    s.sent(1),  # the Government Office: central
    s.status(1, s.HCMC, "ARRIVED", s.BASE.replace(hour=3)),  # counts where document 1 does
    s.sent(2, sender=s.HCMC),
    s.dossier(s.code(1), 1),  # HCMC, 79
    s.dossier(s.code(2, s.NGHE_AN), 2, agency=s.NGHE_AN, province="40"),
    s.dossier(s.code(1), 1, status="RESOLVED", finished_days=1),
    s.report(s.HCMC),
]
SIGNER = s.SIGNER


def batch_of(events: list[Event], *, first_offset: int = 0) -> Batch:
    """``events`` with their records' coordinates, offsets moved past them."""
    by_topic, origins = s.by_topic_with_origins(events, first_offset=first_offset)
    offsets = {Partition(topic, 0): first_offset + len(items) for topic, items in by_topic.items()}
    return Batch(by_topic, offsets, origins=origins)


def evidence_rows(views: ViewSet) -> list[tuple[object, ...]]:
    with views.store.reader() as reader:
        return reader.query(
            "SELECT topic, partition_no, offset_no, event_id, signer FROM view_evidence"
            " ORDER BY topic, partition_no, offset_no"
        )


@pytest.fixture
def views() -> Iterator[ViewSet]:
    viewset = ViewSet(SqliteStore(":memory:"), build_views(Settings()))
    asyncio.run(viewset.apply(batch_of(EVENTS)))
    yield viewset
    viewset.close()


def test_each_entity_lists_the_records_that_made_it_with_coordinates_and_signer(views: ViewSet) -> None:
    document = views.evidence("documents", s.document_id(1))
    assert [(r.event_id, r.event_type, r.topic, r.offset, r.signer) for r in document.records] == [
        (str(EVENTS[0].meta.event_id), "DocumentSent", "lgsp.documents", 0, SIGNER),
        (str(EVENTS[1].meta.event_id), "DocumentStatusChanged", "lgsp.documents", 1, SIGNER),
    ]
    dossier = views.evidence("dossiers", s.code(1))
    assert [r.event_id for r in dossier.records] == [
        str(EVENTS[3].meta.event_id),
        str(EVENTS[5].meta.event_id),
    ]
    report = EVENTS[6]
    key = report_key(report.to_avro())
    assert [r.event_id for r in views.evidence("reports", key).records] == [str(report.meta.event_id)]
    assert document.after is None


def test_a_province_lists_every_record_that_counts_for_it_and_the_nation_all(views: ViewSet) -> None:
    ids = {str(e.meta.event_id): e for e in EVENTS}
    hcmc = views.evidence("scoreboard", "79")
    assert {r.event_id for r in hcmc.records} == {
        str(EVENTS[i].meta.event_id) for i in (2, 3, 5, 6)
    }  # its document, its dossier's two versions, its report; not the status on the Office's document
    assert {r.province for r in hcmc.records} == {"79"}
    central = views.evidence("scoreboard", "central")
    assert {r.event_id for r in central.records} == {str(EVENTS[i].meta.event_id) for i in (0, 1)}
    nation = views.evidence("scoreboard", "00")
    assert {r.event_id for r in nation.records} == set(ids)


def test_a_replayed_batch_adds_no_second_evidence_row(views: ViewSet) -> None:
    before = evidence_rows(views)
    assert len(before) == len(EVENTS)
    asyncio.run(views.apply(batch_of(EVENTS)))  # a crash before the offsets were seen: read again
    assert evidence_rows(views) == before


def test_a_batch_without_coordinates_keeps_no_evidence() -> None:
    viewset = ViewSet(SqliteStore(":memory:"), build_views(Settings()))
    try:
        asyncio.run(viewset.apply(Batch(s.by_topic([s.dossier(s.code(9), 9)]), {})))
        assert evidence_rows(viewset) == []
    finally:
        viewset.close()


def test_pages_follow_each_other_without_gaps_or_overlap(views: ViewSet) -> None:
    seen: list[tuple[str, int, int]] = []
    after = None
    pages = 0
    while True:
        page = views.evidence("scoreboard", "00", after=after, limit=2)
        seen.extend((r.topic, r.partition, r.offset) for r in page.records)
        pages += 1
        if page.after is None:
            break
        after = page.after
    assert pages == 4
    assert sorted(seen) == [(t, p, o) for t, p, o, _, _ in evidence_rows(views)]  # each record once


def test_an_agency_lists_the_records_that_count_for_it(views: ViewSet) -> None:
    nghe_an = views.evidence("agencies", s.NGHE_AN)
    assert [r.event_id for r in nghe_an.records] == [str(EVENTS[4].meta.event_id)]
    assert {r.agency for r in views.evidence("agencies", s.HCMC).records} == {s.HCMC}
    assert len(views.evidence("agencies", s.HCMC).records) == 4


def test_unknown_views_provinces_and_entities_are_not_found(views: ViewSet) -> None:
    for view, key in [
        ("agencies", "000.00.00.H99"),
        ("nope", "1"),
        ("scoreboard", "99"),
        ("dossiers", s.code(404)),
    ]:
        with pytest.raises(EvidenceNotFoundError):
            views.evidence(view, key)
    assert views.evidence("scoreboard", "01").records == []  # a province with nothing yet: an empty list


def test_the_scoreboard_links_each_row_to_its_province_evidence(views: ViewSet) -> None:
    board = with_evidence_links(views.query("scoreboard", ViewQuery()))
    assert with_evidence_links(views.query("dossiers", ViewQuery())).columns[-1] != "evidence"
    links = {row["province"]: row["evidence"] for row in board.rows}
    assert links["79"] == "/v1/views/scoreboard/79/evidence"
    assert links["00"] == "/v1/views/scoreboard/00/evidence"
    assert board.columns[-1] == "evidence"


def test_rebuild_shards_merge_their_evidence(tmp_path: Path) -> None:
    shards = [tmp_path / "a.db", tmp_path / "b.db"]
    halves = [EVENTS[:3], EVENTS[3:]]  # documents in one shard, dossiers and reports in the other
    for path, events in zip(shards, halves, strict=True):
        shard = ViewSet(SqliteStore(path), build_views(Settings()))
        asyncio.run(shard.apply(batch_of(events)))
        shard.close()
    target = ViewSet(SqliteStore(tmp_path / "target.db"), build_views(Settings()))
    try:
        target.merge_shards(shards)
        assert len(evidence_rows(target)) == len(EVENTS)
        assert len(target.evidence("scoreboard", "79").records) == 4
    finally:
        target.close()


async def test_the_decoder_gives_each_admitted_event_its_coordinates_and_signer() -> None:
    events = [s.report(s.HCMC), s.report(s.NGHE_AN), s.report(s.GOV_OFFICE)]

    class Signed:
        last_key_id: str | None = None

        def __call__(self, record: RecordLike, event: Event | EventRecord) -> Rejection | None:
            self.last_key_id = f"key-{record.offset}"
            return None

    decoder = BatchDecoder(FakeDeserializer(events), lambda topic: None, admit=AllOf([Signed()]))
    records = [Record("lgsp.reports", 3, 10 + i, b"k", wire(GOOD_ID, f"#{i}".encode())) for i in range(3)]
    batch = await decoder.decode({"tp": records})
    assert batch.origins["lgsp.reports"] == [
        Origin("lgsp.reports", 3, 10 + i, f"key-{10 + i}") for i in range(3)
    ]


@pytest.fixture
async def client(views: ViewSet) -> AsyncIterator[httpx.AsyncClient]:
    registry = CollectorRegistry()
    transport = httpx.ASGITransport(app=create_app(views, registry, ViewMetrics(registry)))
    async with httpx.AsyncClient(transport=transport, base_url="http://views.test") as http:
        yield http


async def test_the_endpoint_pages_answers_404_problems_and_is_in_the_openapi(
    client: httpx.AsyncClient,
) -> None:
    document = s.document_id(1)  # has slashes: the key is the rest of the path before /evidence
    assert "/" in document
    answer = await client.get(f"/v1/views/documents/{document}/evidence")
    assert answer.status_code == 200
    assert [r["offset"] for r in answer.json()["records"]] == [0, 1]
    first = (await client.get("/v1/views/scoreboard/00/evidence", params={"limit": 5})).json()
    assert len(first["records"]) == 5
    rest = (await client.get(first["next"])).json()
    assert len(rest["records"]) == 2
    assert rest["next"] is None
    for path in (f"/v1/views/dossiers/{s.code(404)}/evidence", "/v1/views/agencies/x/evidence"):
        missing = await client.get(path)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["status"] == 404
    bad = await client.get("/v1/views/scoreboard/00/evidence", params={"after": "nonsense"})
    assert (bad.status_code, bad.json()["field"]) == (400, "after")
    board = (await client.get("/v1/views/scoreboard")).json()
    assert board["rows"][-1]["evidence"] == "/v1/views/scoreboard/00/evidence"
    spec = (await client.get("/openapi.json")).json()
    assert "404" in spec["paths"]["/v1/views/{view}/{key}/evidence"]["get"]["responses"]
