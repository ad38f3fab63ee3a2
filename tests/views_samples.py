"""Hand-made, valid events for the views tests (every field explicit, times in UTC)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bus.agencies import load_catalog
from bus.consumer.types import Origin
from bus.events import DocumentSent, DocumentStatusChanged, DossierSynced, Event, EventMeta, ReportFiled
from bus.events.document import make_document_id
from bus.events.dossier import make_dossier_code
from bus.events.record import EventRecord, record_of

GOV_OFFICE = "000.00.00.G22"
FINANCE = "000.00.00.G12"
HCMC = "000.00.00.H29"
"""Hồ Chí Minh City People's Committee (province 79)."""
NGHE_AN = "000.00.00.H41"
"""Nghệ An People's Committee (province 40)."""
BASE = datetime(2025, 7, 1, 2, 0, tzinfo=UTC)

TOPIC_OF = {
    "DocumentSent": "lgsp.documents",
    "DocumentStatusChanged": "lgsp.documents",
    "DossierSynced": "lgsp.dossiers",
    "ReportFiled": "lgsp.reports",
}


def topic_of(event: Event) -> str:
    """The catalog topic an event goes to."""
    return TOPIC_OF[type(event).__name__]


SIGNER = "000.00.00.H29#0badcafe"
"""The key id the samples' coordinates name as signer."""


def by_topic(events: Iterable[Event]) -> dict[str, list[EventRecord]]:
    """``events`` per topic, in order, as the decoder hands them over (records)."""
    grouped: dict[str, list[EventRecord]] = {}
    for event in events:
        grouped.setdefault(topic_of(event), []).append(record_of(event))
    return grouped


def by_topic_with_origins(
    events: list[Event], *, first_offset: int = 0
) -> tuple[dict[str, list[EventRecord]], dict[str, list[Origin]]]:
    """``events`` per topic as the runner hands them over, each with its record's coordinates (partition 0 of
    its topic, offsets in order from ``first_offset``) and :data:`SIGNER`: what the views keep as evidence."""
    grouped: dict[str, list[EventRecord]] = {}
    origins: dict[str, list[Origin]] = {}
    for event in events:
        topic = topic_of(event)
        offset = first_offset + len(grouped.get(topic, ()))
        grouped.setdefault(topic, []).append(record_of(event))
        origins.setdefault(topic, []).append(Origin(topic, 0, offset, SIGNER))
    return grouped, origins


def meta(source: str, at: datetime, event_id: str | None = None) -> EventMeta:
    return EventMeta.model_validate(
        {"event_id": event_id or str(uuid.uuid4()), "source": source, "occurred_at": at}
    )


def ref(code: str) -> dict[str, str]:
    """An agency reference, with the catalog's name where it lists the unit (agency_name.matches_catalog)."""
    agency = load_catalog().find(code)
    return {"code": code, "name": agency.name if agency is not None else "Đơn vị ngoài danh mục"}


def code(n: int, agency: str = HCMC) -> str:
    """The ``n``-th dossier code of the samples (rule ``dossier_code.format``): received on BASE's day."""
    return make_dossier_code(agency, BASE.date(), n)


def document_id(n: int, sender: str = GOV_OFFICE) -> str:
    return make_document_id(sender, BASE.date(), str(100 + n), "VPCP-TH")


def sent(
    n: int,
    *,
    sender: str = GOV_OFFICE,
    recipients: tuple[str, ...] = (HCMC, NGHE_AN),
    at: datetime = BASE,
    form: str = "ELECTRONIC_ONLY",
    signed: bool = True,
    business_type: str = "NEW",
    event_id: str | None = None,
) -> DocumentSent:
    fields: dict[str, Any] = {
        "meta": meta(sender, at, event_id),
        "document_id": document_id(n, sender),
        "sender": ref(sender),
        "recipients": [ref(r) for r in recipients],
        "code_number": str(100 + n),
        "code_notation": "VPCP-TH",
        "promulgation_place": "Hà Nội",
        "promulgation_date": BASE.date(),
        "document_type_code": "18",
        "document_type_name": "Công văn",
        "subject": "Về việc thử nghiệm",
        "signer_position": "Chủ nhiệm",
        "signer_name": "Nguyễn Văn A",
        "priority": "NORMAL",
        "steering": False,
        "business_type": business_type,
        "attachment_count": 0,
        "attachment_bytes": 0,
        "digitally_signed": signed,
        "form": form,
    }
    return DocumentSent.model_validate(fields)


def status(
    n: int, agency: str, code: str, at: datetime, *, sender: str = GOV_OFFICE, event_id: str | None = None
) -> DocumentStatusChanged:
    return DocumentStatusChanged.model_validate(
        {
            "meta": meta(agency, at, event_id),
            "document_id": document_id(n, sender),
            "reporting_agency": ref(agency),
            "status": code,
            "status_at": at,
        }
    )


def dossier(
    code: str,
    version: int,
    *,
    status: str = "PROCESSING",
    agency: str = HCMC,
    province: str | None = "79",
    received: datetime = BASE,
    due_days: float | None = 5,
    finished_days: float | None = None,
    channel: str = "ONLINE",
    level: str = "FULL",
    digitised: bool = True,
    at: datetime | None = None,
    event_id: str | None = None,
) -> DossierSynced:
    finished = received + timedelta(days=finished_days) if finished_days is not None else None
    return DossierSynced.model_validate(
        {
            "meta": meta(agency, at or received + timedelta(hours=version), event_id),
            "dossier_code": code,
            "procedure_code": f"1.000494.000.00.00.{agency.rsplit('.', 1)[-1]}",
            "procedure_name": "Đăng ký khai sinh",
            "sector_code": "HT",
            "sector_name": "Hộ tịch",
            "processing_agency": ref(agency),
            "province_code": province,
            "applicant_type": "CITIZEN",
            "channel": channel,
            "online_level": level,
            "status": status,
            "received_at": received,
            "due_at": received + timedelta(days=due_days) if due_days is not None else None,
            "finished_at": finished,
            "returned_at": finished if status == "RETURNED" else None,
            "fees_paid_online": True,
            "digitised": digitised,
            "version": version,
        }
    )


def report(
    agency: str,
    code: str = "BC-KSTT-01",
    *,
    quarter: int = 3,
    revision: int = 0,
    filed: datetime = BASE,
    deadline: datetime = BASE + timedelta(days=30),
    values: tuple[float, ...] = (10.0,),
    at: datetime | None = None,
    event_id: str | None = None,
) -> ReportFiled:
    return ReportFiled.model_validate(
        {
            "meta": meta(agency, at or filed, event_id),
            "report_id": f"{agency}/{code}/2025-Q{quarter}",
            "report_code": code,
            "reporting_agency": ref(agency),
            "period_type": "QUARTER",
            "period_year": 2025,
            "period_number": quarter,
            "deadline_at": deadline,
            "filed_at": filed,
            "revision": revision,
            "indicators": [
                {"code": f"IND_{i}", "value": value, "unit": "%"} for i, value in enumerate(values)
            ],
        }
    )
