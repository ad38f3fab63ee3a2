"""Valid CloudEvents (structured mode) of all four event types, for the publisher, file and ingress tests.

Each builder returns a fresh JSON-able dict with a new event id; ``n`` varies the entity so keys spread over
partitions. ``event(...)`` turns one into a model through :func:`bus.cloudevents.from_structured`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bus.cloudevents import format_time, from_structured
from bus.events import Event, make_document_id

HCMC = "000.00.00.H29"
"""Hồ Chí Minh City People's Committee (province 79)."""
HCMC_JUSTICE = "000.00.03.H29"
"""Sở Tư pháp thành phố Hồ Chí Minh: a department of province 79."""
HANOI = "000.00.00.H24"
GOV_OFFICE = "000.00.00.G22"
FINANCE = "000.00.00.G12"

_BASE = datetime(2025, 7, 1, 1, 30, tzinfo=UTC)


def _envelope(type_name: str, source: str, occurred: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": type_name,
        "time": format_time(occurred),
        "datacontenttype": "application/json",
        "data": data,
    }


def dossier_received_at(n: int) -> datetime:
    """When sample dossier ``n`` was received (its event occurred two days later, when it was resolved)."""
    return _BASE + timedelta(minutes=n)


def dossier_data(n: int = 0, *, version: int = 1) -> dict[str, Any]:
    """The ``data`` of a valid, resolved DossierSynced as JSON; ``n`` varies the code and the times."""
    received = dossier_received_at(n)
    return {
        "dossier_code": f"000.00.00.H29-250701-{n:06d}",
        "procedure_code": "1.000494.000.00.00.H29",
        "procedure_name": "Đăng ký khai sinh có yếu tố nước ngoài",
        "sector_code": "HT",
        "sector_name": "Hộ tịch",
        "processing_agency": {"code": HCMC, "name": "Ủy ban nhân dân Thành phố Hồ Chí Minh"},
        "province_code": "79",
        "applicant_type": "CITIZEN",
        "channel": "ONLINE",
        "online_level": "FULL",
        "status": "RESOLVED",
        "received_at": format_time(received),
        "due_at": format_time(received + timedelta(days=5)),
        "finished_at": format_time(received + timedelta(days=2)),
        "fees_paid_online": True,
        "digitised": n % 2 == 0,
        "version": version,
        "result_digitised": True,
    }


def dossier(n: int = 0, *, source: str = HCMC, version: int = 1) -> dict[str, Any]:
    received = dossier_received_at(n)
    return _envelope(
        "vn.gov.lgsp.dossier.DossierSynced",
        source,
        received + timedelta(days=2),
        dossier_data(n, version=version),
    )


def _document_id(n: int) -> str:
    return make_document_id(GOV_OFFICE, date(2025, 7, 1), str(1000 + n), "VPCP-TTĐT")


def document_sent(n: int = 0, *, source: str = GOV_OFFICE) -> dict[str, Any]:
    return _envelope(
        "vn.gov.lgsp.document.DocumentSent",
        source,
        _BASE + timedelta(minutes=n),
        {
            "document_id": _document_id(n),
            "sender": {"code": GOV_OFFICE, "name": "Văn phòng Chính phủ"},
            "recipients": [{"code": HCMC, "name": "Ủy ban nhân dân Thành phố Hồ Chí Minh"}],
            "code_number": str(1000 + n),
            "code_notation": "VPCP-TTĐT",
            "promulgation_place": "Hà Nội",
            "promulgation_date": "2025-07-01",
            "document_type_code": "18",
            "document_type_name": "Công văn",
            "subject": "Về việc triển khai nền tảng tích hợp, chia sẻ dữ liệu",
            "signer_position": "Chủ nhiệm",
            "signer_name": "Trần Văn Sơn",
            "priority": "NORMAL",
            "steering": False,
            "business_type": "NEW",
            "attachment_count": 1,
            "attachment_bytes": 20480,
            "digitally_signed": True,
            "form": "ELECTRONIC_ONLY",
            # DocumentSent v2: a reply to the previous sample, signed on behalf of the Government
            "response_for": _document_id(n - 1),
            "signing_authority": "ON_BEHALF",  # or its edXML prefix "TM."
        },
    )


def document_revoked(n: int = 0, *, reason: str = "Ban hành chưa đúng thẩm quyền") -> dict[str, Any]:
    """The Government Office revokes ``document_sent(n)`` under its own id, saying which and why (v2)."""
    revocation = document_sent(n)
    revocation["time"] = format_time(_BASE + timedelta(minutes=n, hours=3))
    revocation["data"] |= {
        "business_type": "REVOKE",
        "referenced_document_id": _document_id(n),
        "business_reason": reason,
    }
    return revocation


def document_status(n: int = 0, *, source: str = HCMC) -> dict[str, Any]:
    status_at = _BASE + timedelta(minutes=n, hours=1)
    return _envelope(
        "vn.gov.lgsp.document.DocumentStatusChanged",
        source,
        status_at,
        {
            "document_id": _document_id(n),
            "reporting_agency": {"code": HCMC, "name": "Ủy ban nhân dân Thành phố Hồ Chí Minh"},
            "status": "ARRIVED",
            "status_at": format_time(status_at),
        },
    )


def report(n: int = 0, *, source: str = FINANCE) -> dict[str, Any]:
    return _envelope(
        "vn.gov.lgsp.report.ReportFiled",
        source,
        _BASE + timedelta(minutes=n),
        {
            "report_id": f"{FINANCE}/BC-{n:04d}/2025-Q2",
            "report_code": f"BC-{n:04d}",
            "reporting_agency": {"code": FINANCE, "name": "Bộ Tài chính"},
            "period_type": "QUARTER",
            "period_year": 2025,
            "period_number": 2,
            "deadline_at": format_time(_BASE + timedelta(days=10)),
            "filed_at": format_time(_BASE + timedelta(minutes=n)),
            "revision": 0,
            "indicators": [{"code": "TT-01", "value": 97.5, "unit": "%"}],
        },
    )


BUILDERS: tuple[Callable[..., dict[str, Any]], ...] = (dossier, document_sent, document_status, report)


def mixed(count: int) -> list[dict[str, Any]]:
    """``count`` events cycling through the four types."""
    return [BUILDERS[i % len(BUILDERS)](i) for i in range(count)]


def event(obj: dict[str, Any]) -> Event:
    return from_structured(obj)
