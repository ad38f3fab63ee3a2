"""Document exchange events (Trục liên thông văn bản quốc gia, edXML QCVN 102:2016/BTTTT)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar

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
)
from bus.events.codes import BusinessType, DocumentForm, DocumentStatus, Priority, SigningAuthority
from bus.events.rules import (
    CODE_NOTATION,
    CODE_NUMBER,
    COUNT,
    DOCUMENT_ID,
    DOCUMENT_TYPE_CODE,
    RECIPIENTS,
    DocumentIdParts,
    document_id_parts,
)
from bus.types import DocumentId

DocumentIdText = Annotated[Identifier, DOCUMENT_ID]
"""An edXML document id of a sender in the catalog (rule table: ``DOCUMENT_ID``)."""


def make_document_id(sender: str, promulgation_date: date, number: str, notation: str) -> DocumentId:
    """The edXML document id, e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``."""
    return DocumentId(f"{sender},{promulgation_date:%Y/%m/%d},{number}/{notation}")


def parse_document_id(document_id: str) -> DocumentIdParts:
    """Split an edXML document id; ValueError if it does not have the shape."""
    parts = document_id_parts(document_id)
    if isinstance(parts, str):
        raise ValueError(parts)
    return parts


class DocumentSent(Event):
    """An official document sent over the axis: the edXML message header (gửi văn bản).

    Its rules across fields (the id matches the header, recipients unique, due date, attachments, what only a
    revocation or update may say) are in ``bus.events.rules.RECORD_RULES``. Version 2 added the last four
    fields (all optional): events written with v1 read them as None.
    """

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.document.DocumentSent"
    SCHEMA_VERSION: ClassVar[int] = 2
    ENTITY_KEY: ClassVar[str] = "document_id"

    document_id: DocumentIdText
    sender: ReusedAgencyRef
    recipients: Annotated[tuple[ReusedAgencyRef, ...], RECIPIENTS]
    code_number: Annotated[Text, CODE_NUMBER]
    code_notation: Annotated[Text, CODE_NOTATION]
    promulgation_place: Text
    promulgation_date: Date
    document_type_code: Annotated[Text, DOCUMENT_TYPE_CODE]
    document_type_name: Text
    subject: LongText
    signer_position: Text
    signer_name: Text
    due_date: Date | None = None
    priority: Priority
    steering: Bool
    business_type: BusinessType
    attachment_count: Annotated[Int, COUNT]
    attachment_bytes: Annotated[Long, COUNT]
    digitally_signed: Bool
    form: DocumentForm
    response_for: DocumentIdText | None = None
    signing_authority: SigningAuthority | None = None
    referenced_document_id: DocumentIdText | None = None
    business_reason: LongText | None = None


class DocumentStatusChanged(Event):
    """Status feedback on a received document, from a recipient (edXML Status)."""

    AVRO_NAME: ClassVar[str] = "vn.gov.lgsp.document.DocumentStatusChanged"
    SCHEMA_VERSION: ClassVar[int] = 1
    ENTITY_KEY: ClassVar[str] = "document_id"

    document_id: DocumentIdText
    reporting_agency: ReusedAgencyRef
    status: DocumentStatus
    description: LongText | None = None
    status_at: UtcDatetime
