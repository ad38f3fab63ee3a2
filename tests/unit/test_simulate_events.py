"""The simulator's events are valid, realistic in shape, and consistent over each entity's life."""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from datetime import datetime

import pytest

from bus.agencies import load_catalog
from bus.cloudevents import from_structured, to_structured
from bus.events import (
    BusinessType,
    DocumentForm,
    DocumentSent,
    DocumentStatus,
    DocumentStatusChanged,
    DossierStatus,
    DossierSynced,
    Event,
    OnlineLevel,
    ReportFiled,
    SigningAuthority,
    SubmissionChannel,
    parse_document_id,
)
from producers.simulate import Emission, EmissionKind, Simulation, SimulationConfig, generate, vocab
from producers.simulate.dossiers import MAX_DOSSIER_SPAN_MS
from producers.simulate.factory import uuid4_from
from producers.simulate.procedures import load_procedures

pytestmark = pytest.mark.unit

N_EVENTS = 30_000
CONFIG = SimulationConfig(seed=5, scale=0.003, late_ratio=0.03)
"""Scale 0.003: 30k events span about a month, so reports and finished dossiers are in the sample."""

# Every status a dossier may move to from each status (portal codes 1-10).
DOSSIER_NEXT = {
    DossierStatus.REGISTERED: {DossierStatus.ACCEPTED, DossierStatus.NOT_ACCEPTED},
    DossierStatus.ACCEPTED: {DossierStatus.PROCESSING},
    DossierStatus.PROCESSING: {
        DossierStatus.SUPPLEMENT_REQUESTED,
        DossierStatus.FINANCIAL_OBLIGATION_REQUESTED,
        DossierStatus.WITHDRAWN,
        DossierStatus.STOPPED,
        DossierStatus.RESOLVED,
    },
    DossierStatus.SUPPLEMENT_REQUESTED: {DossierStatus.PROCESSING},
    DossierStatus.FINANCIAL_OBLIGATION_REQUESTED: {DossierStatus.PROCESSING},
    DossierStatus.RESOLVED: {DossierStatus.RETURNED},
}
DOCUMENT_NEXT = {
    None: {DocumentStatus.ARRIVED},
    DocumentStatus.ARRIVED: {DocumentStatus.ACCEPTED, DocumentStatus.REJECTED, DocumentStatus.RECALLED},
    DocumentStatus.ACCEPTED: {DocumentStatus.ASSIGNED, DocumentStatus.RECALLED},
    DocumentStatus.ASSIGNED: {DocumentStatus.PROCESSING, DocumentStatus.RECALLED},
    DocumentStatus.PROCESSING: {DocumentStatus.FINISHED, DocumentStatus.RECALLED},
    DocumentStatus.FINISHED: {DocumentStatus.RECALLED},
    DocumentStatus.RECALLED: {DocumentStatus.RECALL_ACCEPTED, DocumentStatus.RECALL_REFUSED},
}
NOTATION = re.compile(r"^[A-ZĐ][A-Za-zĐ]*-[A-ZĐ][A-Za-zĐ]*$")
"""Two dash-separated abbreviations: ``UBND-VP`` (Công văn), ``QĐ-UBND`` (other types)."""
TYPE_ABBREVIATIONS = {t.name: t.abbreviation for t in vocab.DOCUMENT_TYPES}


@pytest.fixture(scope="module")
def emissions() -> list[Emission]:
    return list(itertools.islice(Simulation(CONFIG), N_EVENTS))


@pytest.fixture(scope="module")
def events(emissions: list[Emission]) -> list[Event]:
    return [e.event for e in emissions]


def test_every_event_validates_and_equals_its_validated_self(events: list[Event]) -> None:
    for event in events:
        validated = type(event).model_validate(event.model_dump())
        assert validated == event, event.meta.event_id


def test_every_event_round_trips_through_cloudevents_json(events: list[Event]) -> None:
    for event in events:
        text = json.dumps(to_structured(event), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        assert from_structured(json.loads(text)) == event


def test_validated_construction_gives_the_same_events() -> None:
    trusted = list(itertools.islice(generate(CONFIG), 3000))
    validated = list(
        itertools.islice(
            generate(SimulationConfig(seed=5, scale=0.003, late_ratio=0.03, validated=True)), 3000
        )
    )
    assert trusted == validated


def test_all_four_types_come_with_documents_dominating(events: list[Event]) -> None:
    counts = {
        t: sum(isinstance(e, t) for e in events)
        for t in (DocumentSent, DocumentStatusChanged, DossierSynced, ReportFiled)
    }
    documents = counts[DocumentSent] + counts[DocumentStatusChanged]
    assert documents > counts[DossierSynced] > counts[ReportFiled] > 0


def test_event_ids_are_uuid4_and_unique(events: list[Event]) -> None:
    ids = [e.meta.event_id for e in events]
    assert len(set(ids)) == len(ids)
    assert all(i[14] == "4" and i[19] in "89ab" for i in ids)


def test_uuid_from_rng_is_deterministic_rfc_layout() -> None:
    import random
    import uuid

    first = [uuid4_from(random.Random(1)) for _ in range(2)]
    assert first[0] == first[1]
    parsed = uuid.UUID(first[0])
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == first[0]


def test_new_events_come_in_simulated_time_order(emissions: list[Emission]) -> None:
    times = [e.event.meta.occurred_at for e in emissions if e.kind is EmissionKind.NEW]
    assert times == sorted(times)
    assert times[0] >= CONFIG.start


def test_sources_are_catalog_agencies_and_cover_every_province(events: list[Event]) -> None:
    catalog = load_catalog()
    unlisted = {e.meta.source for e in events if e.meta.source not in catalog}
    # the only unlisted sources: the illustrative communes, which handle dossiers and nothing else
    assert all(catalog.province_of(code) and code in catalog.known_codes for code in unlisted)
    assert unlisted
    assert all(isinstance(e, DossierSynced) for e in events if e.meta.source in unlisted)
    provinces = {catalog.province_of(e.meta.source) for e in events if isinstance(e, DocumentSent)}
    assert provinces == {p.code for p in catalog.provinces()} | {None}


def test_documents_look_like_edxml_headers(events: list[Event]) -> None:
    # a REVOKE re-states a document already sent
    documents = [e for e in events if isinstance(e, DocumentSent) and not _revocation(e)]
    numbers: defaultdict[tuple[str, int, str], set[str]] = defaultdict(set)
    for document in documents:
        parts = parse_document_id(document.document_id)
        assert parts.sender == document.sender.code
        assert NOTATION.match(document.code_notation), document.code_notation
        assert document.sender.code not in {r.code for r in document.recipients}
        abbreviation = TYPE_ABBREVIATIONS[document.document_type_name]
        if abbreviation is None:  # Công văn: agency, then drafting unit
            assert document.code_notation.split("-")[0] not in TYPE_ABBREVIATIONS.values()
        else:
            assert document.code_notation.startswith(f"{abbreviation}-")
        key = (document.sender.code, document.promulgation_date.year, document.document_type_code)
        assert document.code_number not in numbers[key], "a register never reuses a number"
        numbers[key].add(document.code_number)
        if document.form is DocumentForm.PAPER_ONLY:
            assert not document.digitally_signed
            assert document.attachment_count == 0
    forms = {d.form for d in documents}
    assert forms == {DocumentForm.ELECTRONIC_ONLY, DocumentForm.ELECTRONIC_AND_PAPER, DocumentForm.PAPER_ONLY}
    assert {d.document_type_name for d in documents} >= {"Công văn", "Quyết định", "Kế hoạch", "Báo cáo"}
    assert any(len(d.recipients) == 34 for d in documents), "ministries write to all 34 provinces"


def test_status_feedback_comes_from_recipients_in_order(events: list[Event]) -> None:
    documents = {e.document_id: e for e in events if isinstance(e, DocumentSent) and not _revocation(e)}
    last: dict[tuple[str, str], DocumentStatus | None] = {}
    seen_statuses: set[DocumentStatus] = set()
    for event in events:
        if not isinstance(event, DocumentStatusChanged):
            continue
        document = documents[event.document_id]
        assert document.form is not DocumentForm.PAPER_ONLY, "paper never travels over the axis"
        assert event.reporting_agency in document.recipients
        assert event.meta.source == event.reporting_agency.code
        assert event.status_at == event.meta.occurred_at >= document.meta.occurred_at
        key = (event.document_id, event.reporting_agency.code)
        assert event.status in DOCUMENT_NEXT[last.get(key)], (last.get(key), event.status)
        last[key] = event.status
        seen_statuses.add(event.status)
    assert seen_statuses == set(DocumentStatus) - {DocumentStatus.UNKNOWN}


def _revocation(event: DocumentSent) -> bool:
    return event.business_type is BusinessType.REVOKE


def test_documents_v2_fields_replies_signing_authority_and_revocations(events: list[Event]) -> None:
    sent = [e for e in events if isinstance(e, DocumentSent)]
    first = {e.document_id: e for e in reversed(sent) if not _revocation(e)}
    revocations = [e for e in sent if _revocation(e)]
    replies = [e for e in sent if e.response_for is not None]
    # replies: a realistic share, each to an earlier document of its single recipient, to the sender
    assert 0.02 < len(replies) / len(first) < 0.4
    for reply in replies:
        earlier = first.get(reply.response_for or "")  # the run starts cold: it replies to what it sent
        assert earlier is not None, f"{reply.document_id} replies to {reply.response_for}, never sent"
        assert earlier.meta.occurred_at <= reply.meta.occurred_at
        assert earlier.sender.code == reply.recipients[0].code
        assert reply.sender in earlier.recipients
    # every document says how it was signed, consistent with the signer's position
    assert all(e.signing_authority is not None for e in sent)
    authorities = {(e.signer_position, e.signing_authority) for e in sent}
    assert {a for _, a in authorities} >= {
        SigningAuthority.DIRECT,
        SigningAuthority.ON_BEHALF,
        SigningAuthority.DEPUTY,
        SigningAuthority.BY_ORDER,
    }
    assert len({p for p, _ in authorities}) == len(authorities)  # one authority per position
    # a recalled document is revoked by its sender, naming it and why, before any recipient reports 13
    assert revocations
    recalled = {
        e.document_id for e in events if isinstance(e, DocumentStatusChanged) and e.status.code == "13"
    }
    assert recalled <= {e.document_id for e in revocations}
    for revocation in revocations:
        original = first[revocation.document_id]
        assert revocation.referenced_document_id == revocation.document_id
        assert revocation.business_reason in vocab.REVOCATION_REASONS
        assert revocation.meta.occurred_at > original.meta.occurred_at
        assert (
            revocation.model_copy(
                update={
                    "meta": original.meta,
                    "business_type": original.business_type,
                    "response_for": original.response_for,
                    "referenced_document_id": original.referenced_document_id,
                    "business_reason": original.business_reason,
                }
            )
            == original
        )
    for update in (e for e in sent if e.business_type is BusinessType.UPDATE):
        assert update.business_reason in vocab.UPDATE_REASONS
        assert update.referenced_document_id is None or update.referenced_document_id in first
    assert all(
        e.referenced_document_id is None and e.business_reason is None
        for e in sent
        if e.business_type is BusinessType.NEW
    )


def test_dossier_snapshots_grow_in_version_and_follow_the_portal_lifecycle(events: list[Event]) -> None:
    by_code: defaultdict[str, list[DossierSynced]] = defaultdict(list)
    for event in events:
        if isinstance(event, DossierSynced):
            by_code[event.dossier_code].append(event)
    statuses: set[DossierStatus] = set()
    for snapshots in by_code.values():
        snapshots.sort(key=lambda s: s.version)
        versions = [s.version for s in snapshots]
        # one snapshot held back for late delivery may still be unsent when the run stops
        assert len(set(versions)) == len(versions)
        assert versions[-1] - len(versions) <= 1
        first = snapshots[0]
        assert first.procedure_code.endswith(first.processing_agency.code.rsplit(".", 1)[-1])
        if first.version == 1:
            assert (first.status is DossierStatus.REGISTERED) == (first.channel is SubmissionChannel.ONLINE)
            assert first.status in (DossierStatus.REGISTERED, DossierStatus.ACCEPTED)
        for before, after in itertools.pairwise(snapshots):
            if after.version == before.version + 1:
                assert after.status in DOSSIER_NEXT[before.status], (before.status, after.status)
            assert after.meta.occurred_at >= before.meta.occurred_at
            fixed = (
                "received_at",
                "channel",
                "online_level",
                "digitised",
                "procedure_code",
                "applicant_type",
            )
            assert all(getattr(after, f) == getattr(before, f) for f in fixed)
        for snapshot in snapshots:
            statuses.add(snapshot.status)
            if snapshot.channel is SubmissionChannel.ONLINE:  # the level is the procedure's, any channel
                assert snapshot.online_level is not OnlineLevel.NONE
            else:
                assert not snapshot.fees_paid_online
            assert _ms(snapshot.meta.occurred_at) - _ms(first.received_at) <= MAX_DOSSIER_SPAN_MS
    assert statuses == set(DossierStatus) - {DossierStatus.UNKNOWN}


def test_reports_are_filed_per_agency_and_period_with_revisions(events: list[Event]) -> None:
    reports = [e for e in events if isinstance(e, ReportFiled)]
    by_id: defaultdict[str, list[ReportFiled]] = defaultdict(list)
    for report in reports:
        assert report.period is not None
        assert (
            report.report_id == f"{report.reporting_agency.code}/{report.report_code}/{report.period.label}"
        )
        assert report.indicators
        by_id[report.report_id].append(report)
    for filings in by_id.values():
        assert [f.revision for f in filings] == list(range(len(filings)))
        assert len({f.deadline_at for f in filings}) == 1
    assert any(not r.on_time for r in reports)
    assert any(r.revision > 0 for r in reports)


def test_late_snapshots_arrive_after_a_newer_version(emissions: list[Emission]) -> None:
    newest: dict[str, int] = {}
    late = 0
    for emission in emissions:
        event = emission.event
        if not isinstance(event, DossierSynced):
            continue
        if emission.kind is EmissionKind.LATE:
            assert newest[event.dossier_code] > event.version
            late += 1
        newest[event.dossier_code] = max(newest.get(event.dossier_code, 0), event.version)
    assert late > 0


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_each_procedure_has_one_online_level_its_service_level(events: list[Event]) -> None:
    catalog = load_procedures()
    level_of = {p.name: p.online_service for p in (*catalog.province, *catalog.ministry)}
    seen: defaultdict[str, set[OnlineLevel]] = defaultdict(set)
    channels: defaultdict[OnlineLevel, set[SubmissionChannel]] = defaultdict(set)
    for event in events:
        if isinstance(event, DossierSynced):
            seen[event.procedure_name].add(event.online_level)
            channels[event.online_level].add(event.channel)
    assert {name: levels for name, levels in seen.items() if len(levels) > 1} == {}
    assert all(levels == {level_of[name]} for name, levels in seen.items())
    assert SubmissionChannel.ONLINE not in channels[OnlineLevel.NONE]  # no online service, no online dossier
    assert (
        SubmissionChannel.COUNTER in channels[OnlineLevel.FULL]
    )  # a full-process service is used at the counter too


def test_2025_competent_authorities_police_for_driving_licences_communes_for_foreign_civil_status(
    events: list[Event],
) -> None:
    catalog = load_catalog()
    dossiers = [e for e in events if isinstance(e, DossierSynced)]
    licences = [d for d in dossiers if "giấy phép lái xe" in d.procedure_name]
    civil = [
        d for d in dossiers if d.procedure_name.endswith("có yếu tố nước ngoài") and d.sector_code == "HT"
    ]
    assert licences
    assert civil
    assert {d.processing_agency.code for d in licences} == {"000.00.00.G01"}  # Bộ Công an
    assert {d.province_code for d in licences} == {None}  # a ministry's dossier: the nation's row
    for dossier in civil:
        code = dossier.processing_agency.code
        assert code in catalog.known_codes
        assert not catalog.is_listed(code)  # communes: illustrative, unlisted units
        assert catalog.province_of(code) == dossier.province_code
        assert dossier.processing_agency.name.startswith("Ủy ban nhân dân xã")
