"""Sample events for the serde tests, and DossierSynced pinned to schema v1 (an "old" producer or consumer).

``DossierSyncedV1`` is what a service built against ``DossierSynced.v1.avsc`` is: it writes and reads with the
v1 schema (``bus.schemas.load_schema(name, 1)``), so it never sees ``result_digitised``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from bus.events import DossierSynced, EventMeta

HCMC = "000.00.00.H29"
"""Hồ Chí Minh City People's Committee, province 79."""


class DossierSyncedV1(DossierSynced):
    """DossierSynced as a v1 service sees it: same record name, schema version 1."""

    SCHEMA_VERSION: ClassVar[int] = 1


def dossier(n: int = 0, *, model: type[DossierSynced] = DossierSynced, **overrides: Any) -> DossierSynced:
    """A valid, finished dossier snapshot; ``n`` varies the code and the times."""
    received = datetime(2025, 7, 1, 1, 30, tzinfo=UTC) + timedelta(minutes=n)
    fields: dict[str, Any] = {
        "meta": EventMeta.new(HCMC, occurred_at=received + timedelta(days=2)),
        "dossier_code": f"H29.99-250701-{n:06d}",
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
        "received_at": received,
        "due_at": received + timedelta(days=5),
        "finished_at": received + timedelta(days=2),
        "returned_at": None,
        "fees_paid_online": True,
        "digitised": n % 2 == 0,
        "version": n + 1,
    }
    if model is not DossierSyncedV1:
        fields["result_digitised"] = True
    fields.update(overrides)
    return model.model_validate(fields)
