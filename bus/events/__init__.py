"""Typed event models: the Python API of the bus contracts (one pydantic model per Avro record).

Models are frozen, validate semantic rules a schema cannot say (agency codes exist in the catalog, a dossier's
timeline is ordered, an edXML document id matches its header), keep text in Unicode NFC and times as
UTC-aware datetimes with millisecond precision. Each model reads and writes the latest version of its
``.avsc`` (``SCHEMA_VERSION``); ``tests/unit/test_events_drift.py`` fails if model and schema differ.

Direct construction raises ``pydantic.ValidationError``; :meth:`Event.from_avro` and
:func:`bus.cloudevents.from_structured` raise :class:`bus.errors.ValidationError` with a dotted ``field``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bus.errors import UnknownEventTypeError
from bus.events._base import AgencyRef, AvroRecord, Event, EventMeta, to_lgsp_error, validate
from bus.events.codes import (
    ApplicantType,
    BusinessType,
    CodedEnum,
    DocumentForm,
    DocumentStatus,
    DossierStatus,
    OnlineLevel,
    PeriodType,
    Priority,
    SigningAuthority,
    SubmissionChannel,
)
from bus.events.document import (
    DocumentSent,
    DocumentStatusChanged,
    make_document_id,
    parse_document_id,
)
from bus.events.dossier import DossierSynced, make_dossier_code
from bus.events.periods import Period, periods_of_year
from bus.events.problems import nearest
from bus.events.report import IndicatorValue, ReportFiled, make_report_id
from bus.events.rules import DocumentIdParts

EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType(
    {cls.AVRO_NAME: cls for cls in (DocumentSent, DocumentStatusChanged, DossierSynced, ReportFiled)}
)
"""Every event model by its Avro full name (== CloudEvents ``type`` == registry subject)."""


def event_type(name: str) -> type[Event]:
    """The model for Avro full name / CloudEvents type ``name``; UnknownEventTypeError if the bus has none."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        near = nearest(name, EVENT_TYPES) or nearest(name.rsplit(".", 1)[-1], _BY_SHORT_NAME)
        hint = f"did you mean {_BY_SHORT_NAME.get(near[0], near[0])!r}?" if near else None
        raise UnknownEventTypeError(
            f"unknown event type {name!r}; known: {', '.join(sorted(EVENT_TYPES))}", hint=hint
        ) from None


_BY_SHORT_NAME = {name.rsplit(".", 1)[-1]: name for name in EVENT_TYPES}


__all__ = [
    "EVENT_TYPES",
    "AgencyRef",
    "ApplicantType",
    "AvroRecord",
    "BusinessType",
    "CodedEnum",
    "DocumentForm",
    "DocumentIdParts",
    "DocumentSent",
    "DocumentStatus",
    "DocumentStatusChanged",
    "DossierStatus",
    "DossierSynced",
    "Event",
    "EventMeta",
    "IndicatorValue",
    "OnlineLevel",
    "Period",
    "PeriodType",
    "Priority",
    "ReportFiled",
    "SigningAuthority",
    "SubmissionChannel",
    "event_type",
    "make_document_id",
    "make_dossier_code",
    "make_report_id",
    "parse_document_id",
    "periods_of_year",
    "to_lgsp_error",
    "validate",
]
