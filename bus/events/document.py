"""Document exchange events (Trục liên thông văn bản quốc gia, edXML QCVN 102:2016/BTTTT)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Annotated, ClassVar, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bus.events._base import (
    Bool,
    Date,
    Event,
    Identifier,
    Int,
    Long,
    LongText,
    ReusedAgencyRef,
    Text,
    UtcDatetime,
    catalog_of,
    rule_error,
)
from bus.events.codes import BusinessType, DocumentForm, DocumentStatus, Priority
from bus.types import AgencyCode, DocumentId

_DOCUMENT_ID_RE = re.compile(
    r"^(?P<sender>[0-9A-Z.]+),(?P<date>\d{4}/\d{2}/\d{2}),(?P<number>[^/\s]+)/(?P<notation>\S(?:.*\S)?)$"
)


@dataclass(frozen=True)
class DocumentIdParts:
    """The parts of an edXML document id ``{sender},{yyyy/MM/dd},{number}/{notation}``."""

    sender: AgencyCode
    promulgation_date: date
    number: str
    notation: str


def make_document_id(sender: str, promulgation_date: date, number: str, notation: str) -> DocumentId:
    """The edXML document id, e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``."""
    return DocumentId(f"{sender},{promulgation_date:%Y/%m/%d},{number}/{notation}")


@lru_cache(maxsize=4096)
def parse_document_id(document_id: str) -> DocumentIdParts:
    """Split an edXML document id; ValueError if it does not have the shape."""
    # Cached (the parts are frozen): a DocumentSent's validators parse its id twice, and the status events
    # of one document follow each other closely.
    match = _DOCUMENT_ID_RE.match(document_id)
    if match is None:
        raise ValueError(f"{document_id!r} is not {{sender}},{{yyyy/MM/dd}},{{number}}/{{notation}}")
    year, month, day = (int(part) for part in match["date"].split("/"))
    return DocumentIdParts(
        AgencyCode(match["sender"]), date(year, month, day), match["number"], match["notation"]
    )


def _check_document_id(value: str, info: ValidationInfo) -> DocumentIdParts:
    try:
        parts = parse_document_id(value)
    except ValueError as exc:
        raise rule_error("document_id.format", str(exc)) from None
    if parts.sender not in catalog_of(info).known_codes:
        raise rule_error(
            "agency_code.known", f"sender {parts.sender!r} of the document id has no known level-1 unit"
        )
    return parts


class DocumentSent(Event):
    """An official document sent over the axis: the edXML message header (gửi văn bản)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.document.DocumentSent"
    SCHEMA_VERSION: ClassVar[int] = 1

    document_id: Identifier
    sender: ReusedAgencyRef
    recipients: Annotated[tuple[ReusedAgencyRef, ...], Field(min_length=1, max_length=10_000)]
    code_number: Annotated[Text, Field(max_length=50, pattern=r"^[^/\s]+$")]
    code_notation: Annotated[Text, Field(max_length=200)]
    promulgation_place: Text
    promulgation_date: Date
    document_type_code: Annotated[Text, Field(max_length=50)]
    document_type_name: Text
    subject: LongText
    signer_position: Text
    signer_name: Text
    due_date: Date | None = None
    priority: Priority
    steering: Bool
    business_type: BusinessType
    attachment_count: Annotated[Int, Field(ge=0)]
    attachment_bytes: Annotated[Long, Field(ge=0)]
    digitally_signed: Bool
    form: DocumentForm

    def entity_key(self) -> str:
        return self.document_id

    @field_validator("document_id")
    @classmethod
    def _document_id_shape(cls, value: str, info: ValidationInfo) -> str:
        _check_document_id(value, info)
        return value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        # The record-wide rules in one validator, in their order: one call from pydantic per event, not one
        # per rule (the calls, not the rules, were most of the cost of decoding an event).
        self._document_id_matches_header()
        self._header_consistent()
        return self

    def _document_id_matches_header(self) -> None:
        parts = parse_document_id(self.document_id)
        if parts.sender != self.sender.code:
            raise rule_error(
                "document_id.sender",
                f"document_id sender {parts.sender!r} differs from sender.code {self.sender.code!r}",
                field="document_id",
            )
        if parts.promulgation_date != self.promulgation_date:
            raise rule_error(
                "document_id.date",
                f"document_id date {parts.promulgation_date} differs from "
                f"promulgation_date {self.promulgation_date}",
                field="document_id",
            )
        if (parts.number, parts.notation) != (self.code_number, self.code_notation):
            raise rule_error(
                "document_id.number",
                f"document_id number/notation {parts.number}/{parts.notation} differs from "
                f"code_number/code_notation {self.code_number}/{self.code_notation}",
                field="document_id",
            )

    def _header_consistent(self) -> None:
        codes = [r.code for r in self.recipients]
        if len(set(codes)) != len(codes):
            raise rule_error(
                "recipients.unique", "an agency appears twice among the recipients", field="recipients"
            )
        if self.due_date is not None and self.due_date < self.promulgation_date:
            raise rule_error(
                "document.due_after_promulgation",
                f"due_date {self.due_date} is before promulgation_date {self.promulgation_date}",
                field="due_date",
            )
        if self.attachment_count == 0 and self.attachment_bytes != 0:
            raise rule_error(
                "document.attachments",
                "attachment_bytes must be 0 when attachment_count is 0",
                field="attachment_bytes",
            )


class DocumentStatusChanged(Event):
    """Status feedback on a received document, from a recipient (edXML Status)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.document.DocumentStatusChanged"
    SCHEMA_VERSION: ClassVar[int] = 1

    document_id: Identifier
    reporting_agency: ReusedAgencyRef
    status: DocumentStatus
    description: LongText | None = None
    status_at: UtcDatetime

    def entity_key(self) -> str:
        return self.document_id

    @field_validator("document_id")
    @classmethod
    def _document_id_shape(cls, value: str, info: ValidationInfo) -> str:
        _check_document_id(value, info)
        return value
