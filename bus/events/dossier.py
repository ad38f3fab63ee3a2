"""Dossier events: snapshots synchronised to the National Public Service Portal."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar

from bus.events._base import (
    Bool,
    Event,
    Identifier,
    Long,
    LongText,
    ReusedAgencyRef,
    Text,
    UtcDatetime,
)
from bus.events.codes import ApplicantType, DossierStatus, OnlineLevel, SubmissionChannel
from bus.events.rules import (
    COUNT,
    DOSSIER_CODE,
    PROCEDURE_CODE,
    PROCEDURE_CODE_PATTERN,
    PROVINCE,
    PROVINCE_CODE,
    SECTOR_CODE,
    dossier_code,
)
from bus.types import DossierCode

__all__ = ["PROCEDURE_CODE_PATTERN", "DossierSynced", "make_dossier_code"]


def make_dossier_code(agency_code: str, received: date, sequence: int) -> DossierCode:
    """A dossier code of the bus's form ``{agency}-{yyMMdd}-{sequence}``: ``000.00.00.H41-250701-0065``."""
    return DossierCode(dossier_code(agency_code, received, sequence))


class DossierSynced(Event):
    """A full snapshot of one dossier (hồ sơ thủ tục hành chính); ``version`` grows with each update.

    Its rules across fields (province of the agency, the timeline) are in ``bus.events.rules.RECORD_RULES``.
    """

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.dossier.DossierSynced"
    SCHEMA_VERSION: ClassVar[int] = 2
    ENTITY_KEY: ClassVar[str] = "dossier_code"

    dossier_code: Annotated[Identifier, DOSSIER_CODE]
    procedure_code: Annotated[str, PROCEDURE_CODE]
    procedure_name: LongText
    sector_code: Annotated[Text, SECTOR_CODE]
    sector_name: Text
    processing_agency: ReusedAgencyRef
    province_code: Annotated[str, PROVINCE_CODE, PROVINCE] | None = None
    applicant_type: ApplicantType
    channel: SubmissionChannel
    online_level: OnlineLevel
    status: DossierStatus
    received_at: UtcDatetime
    due_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    returned_at: UtcDatetime | None = None
    fees_paid_online: Bool
    digitised: Bool
    version: Annotated[Long, COUNT]
    result_digitised: Bool | None = None
