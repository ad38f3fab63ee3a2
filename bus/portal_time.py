"""The National Public Service Portal's local times: ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh, to RFC 3339 UTC.

The portal's dossier sync sends ``NgayTiepNhan``, ``NgayHenTra``, ``NgayCoKetQua``, ``NgayTraKetQua`` as local
wall-clock digits (``20250701083000`` = 08:30 on 1 July 2025 in Việt Nam); the bus stores UTC. The ingress
converts them when ``LGSP_INGRESS__PORTAL_LOCAL_TIMES`` is true, before the contract checks the event, so an
impossible time (month 13) is still refused by the contract's own rule, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bus.reporting import VIETNAM

DOSSIER_TYPE: Final = "vn.gov.lgsp.dossier.DossierSynced"
PORTAL_TIME_FIELDS: Final = ("received_at", "due_at", "finished_at", "returned_at")
"""The DossierSynced fields the portal sends as local ``yyyyMMddHHmmss``."""
_DIGITS: Final = re.compile(r"^\d{14}$")


def portal_time(value: str) -> str | None:
    """RFC 3339 UTC (milliseconds) of a portal ``yyyyMMddHHmmss`` local time; None if it is not one."""
    if not _DIGITS.match(value):
        return None
    try:
        local = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=VIETNAM)
    except ValueError:
        return None
    return local.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_portal_times(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A structured-mode CloudEvent of a DossierSynced with its portal local times in RFC 3339 UTC; any other
    object unchanged."""
    data = event.get("data")
    if event.get("type") != DOSSIER_TYPE or not isinstance(data, Mapping):
        return event
    converted = dict(data)
    for field in PORTAL_TIME_FIELDS:
        value = converted.get(field)
        if isinstance(value, str) and (utc := portal_time(value)) is not None:
            converted[field] = utc
    return {**event, "data": converted}
