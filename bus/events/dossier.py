"""Dossier events: snapshots synchronised to the National Public Service Portal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bus.agencies import load_catalog
from bus.events._base import (
    Bool,
    Event,
    Identifier,
    Long,
    LongText,
    ReusedAgencyRef,
    Text,
    UtcDatetime,
    catalog_of,
    rule_error,
)
from bus.events.codes import ApplicantType, DossierStatus, OnlineLevel, SubmissionChannel

PROCEDURE_CODE_PATTERN = r"^[0-9]\.[0-9]{6}(\.[0-9A-Z]+)*$"
"""``1.000494`` (national procedure code), optionally + an agency code: ``1.000494.000.00.00.H29``."""


class DossierSynced(Event):
    """A full snapshot of one dossier (hồ sơ thủ tục hành chính); ``version`` grows with each update."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.dossier.DossierSynced"
    SCHEMA_VERSION: ClassVar[int] = 2

    dossier_code: Identifier
    procedure_code: Annotated[str, Field(max_length=60, pattern=PROCEDURE_CODE_PATTERN)]
    procedure_name: LongText
    sector_code: Annotated[Text, Field(max_length=100)]
    sector_name: Text
    processing_agency: ReusedAgencyRef
    province_code: Annotated[str, Field(pattern=r"^[0-9]{2}$")] | None = None
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
    version: Annotated[Long, Field(ge=0)]
    result_digitised: Bool | None = None

    def entity_key(self) -> str:
        return self.dossier_code

    @field_validator("province_code")
    @classmethod
    def _known_province(cls, value: str | None, info: ValidationInfo) -> str | None:
        catalog = load_catalog() if info.context is None else catalog_of(info)  # the first: decoded events
        if value is not None and value not in catalog.province_codes:
            raise rule_error("province_code.known", f"{value!r} is not one of the 34 province codes")
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        # The record-wide rules in one validator, in their order: one call from pydantic per event, not one
        # per rule (the calls, not the rules, were most of the cost of decoding an event).
        self._province_of_agency(info)
        self._timeline()
        return self

    def _province_of_agency(self, info: ValidationInfo) -> None:
        catalog = load_catalog() if info.context is None else catalog_of(info)
        expected = catalog.province_of(self.processing_agency.code)
        if self.province_code != expected:
            raise rule_error(
                "province_code.matches_agency",
                f"province_code is {self.province_code!r} but processing agency "
                f"{self.processing_agency.code} belongs to {expected!r}",
                field="province_code",
            )

    def _timeline(self) -> None:
        received, due, finished, returned = self.received_at, self.due_at, self.finished_at, self.returned_at
        if due is not None and due < received:
            raise _before(due, "due_at", received, "received_at", "dossier.due_after_received")
        if finished is not None and finished < received:
            raise _before(finished, "finished_at", received, "received_at", "dossier.finished_after_received")
        if finished is None and self.status.is_finished:
            raise rule_error(
                "dossier.finished_requires_time",
                f"a dossier with status {self.status.value} ({self.status.code}) needs finished_at",
                field="finished_at",
            )
        if returned is not None:
            if finished is None:
                raise rule_error(
                    "dossier.returned_requires_finished",
                    "returned_at is set but finished_at is not",
                    field="finished_at",
                )
            if returned < finished:
                raise _before(
                    returned, "returned_at", finished, "finished_at", "dossier.returned_after_finished"
                )
        elif self.status is DossierStatus.RETURNED:
            raise rule_error(
                "dossier.returned_requires_time",
                "a dossier with status RETURNED (10) needs returned_at",
                field="returned_at",
            )


def _before(later: datetime, later_name: str, earlier: datetime, earlier_name: str, rule: str) -> Exception:
    """The error for ``later_name`` being before ``earlier_name``."""
    return rule_error(
        rule, f"{later.isoformat()} is before {earlier_name} {earlier.isoformat()}", field=later_name
    )
