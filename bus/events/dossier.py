"""Dossier events: snapshots synchronised to the National Public Service Portal."""

from __future__ import annotations

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
    PROCEDURE_CODE,
    PROCEDURE_CODE_PATTERN,
    PROVINCE,
    PROVINCE_CODE,
    SECTOR_CODE,
)

__all__ = ["PROCEDURE_CODE_PATTERN", "DossierSynced"]


class DossierSynced(Event):
    """A full snapshot of one dossier (hồ sơ thủ tục hành chính); ``version`` grows with each update.

    Its rules across fields (province of the agency, the timeline) are in ``bus.events.rules.RECORD_RULES``.
    """

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.dossier.DossierSynced"
    SCHEMA_VERSION: ClassVar[int] = 2

    dossier_code: Identifier
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

    def entity_key(self) -> str:
        return self.dossier_code
