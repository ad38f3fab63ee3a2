"""The attacks of issue #12, as CloudEvents JSON: one province's key (HCMC) asserting other agencies.

Each builder keeps ``source`` = HCMC (what wave 1 checked) and names another agency inside ``data`` — what the
national views credit. Shared by the ingress and SDK tests (and the note's before/after table).
"""

from __future__ import annotations

from typing import Any

from tests import publishing_samples as samples

HANOI_NAME = "Ủy ban nhân dân Thành phố Hà Nội"


def ministry_document_revoked() -> dict[str, Any]:
    """A document 'from' the Government Office, business type revoke, sent with HCMC's own source."""
    event = samples.document_sent(7, source=samples.HCMC)
    data = event["data"]
    data["business_type"] = "REVOKE"
    return event


def other_province_report() -> dict[str, Any]:
    """Hà Nội's report replaced: reporting agency Hà Nội, revision 2^31-1, value 1."""
    event = samples.report(3, source=samples.HCMC)
    data = event["data"]
    data["reporting_agency"] = {"code": samples.HANOI, "name": HANOI_NAME}
    data["report_id"] = f"{samples.HANOI}/BC-0003/2025-Q2"
    data["revision"] = 2**31 - 1
    data["indicators"] = [{"code": "TT-01", "value": 1.0, "unit": "%"}]
    return event


def other_province_dossier_frozen() -> dict[str, Any]:
    """A Hà Nội dossier frozen at version 2^63-1 as withdrawn."""
    event = samples.dossier(5, source=samples.HCMC, version=2**63 - 1)
    data = event["data"]
    data["processing_agency"] = {"code": samples.HANOI, "name": HANOI_NAME}
    data["province_code"] = "01"
    data["dossier_code"] = "000.00.00.H24-250701-000005"
    data["status"] = "WITHDRAWN"
    return event


def status_for_ministry() -> dict[str, Any]:
    """A status 'reported by' the Ministry of Finance."""
    event = samples.document_status(2, source=samples.HCMC)
    event["data"]["reporting_agency"] = {"code": samples.FINANCE, "name": "Bộ Tài chính"}
    return event


ATTACKS: dict[str, tuple[Any, set[str]]] = {
    "document sender = Government Office (revoke)": (
        ministry_document_revoked,
        {"data.sender", "data.document_id"},
    ),
    "report of another province": (other_province_report, {"data.reporting_agency"}),
    "dossier of another province frozen": (
        other_province_dossier_frozen,
        {"data.processing_agency", "data.province_code"},
    ),
    "status reported by a ministry": (status_for_ministry, {"data.reporting_agency"}),
}
"""name -> (builder, the fields the 403 must name)."""
