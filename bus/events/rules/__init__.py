"""The rule table of the event contracts: every limit, format and semantic rule of the events, written once.

Each row is named (the ``rule`` an error reports) and carries its message. Two consumers read the table:

* the pydantic models (``bus.events._base``, ``document``, ``dossier``, ``report``) put its rows in their
  field annotations: a :class:`Limits` row is pydantic metadata (lengths, pattern, bounds: what the ingress's
  OpenAPI shows), a :class:`FieldRule` row is a pydantic validator, and :data:`RECORD_RULES` run in
  ``Event``'s one model validator;
* :mod:`bus.events.contract` compiles, from each event's ``.avsc`` and the same annotations, the plain-code
  check that the views' decode path runs on records read without logical types.

So a limit is a number in this package only, and a rule a function in this package only: change it here, and
the models, the OpenAPI and the compiled checks follow. Layout (each row in one module; this one re-exports
them, so callers import from ``bus.events.rules``):

1. ranges of times and dates, and the integer widths of Avro (:mod:`~bus.events.rules.limits`);
2. :class:`Limits` rows: the text kinds (``TEXT``, ``LONG_TEXT``, ``IDENTIFIER``) and each field's own limits
   (:mod:`~bus.events.rules.limits`);
3. :class:`FieldRule` rows: rules on one value that need code (a catalog lookup, a parsed id)
   (:mod:`~bus.events.rules.fields`);
4. record rules: rules across fields, per event type (:data:`RECORD_RULES`), on the record in its plain form
   (times in epoch milliseconds, dates in epoch days, nested records as dicts, enums as their symbols)
   (:mod:`~bus.events.rules.records`).
"""

from __future__ import annotations

from bus.events.rules.fields import (
    AGENCY_CODE,
    DOCUMENT_ID,
    DOSSIER_CODE,
    DOSSIER_CODE_EXAMPLE,
    DOSSIER_CODE_FORM,
    FINITE,
    MULTI_LINE,
    NFC,
    PROVINCE,
    SINGLE_LINE,
    DocumentIdParts,
    FieldRule,
    Nfc,
    Violation,
    catalog_of,
    document_id_parts,
    dossier_code,
    report_id,
    rule_error,
)
from bus.events.rules.limits import (
    CODE_NOTATION,
    CODE_NUMBER,
    CORRELATION_ID,
    COUNT,
    DOCUMENT_TYPE_CODE,
    EARLIEST,
    EARLIEST_MS,
    EPOCH,
    EPOCH_DAY,
    FIRST_DATE,
    FIRST_DAY,
    IDENTIFIER,
    INDICATOR_CODE,
    INDICATORS,
    INT32,
    INT64,
    LAST_DATE,
    LAST_DAY,
    LATEST,
    LATEST_MS,
    LONG_TEXT,
    PERIOD_NUMBER,
    PERIOD_YEAR,
    PROCEDURE_CODE,
    PROCEDURE_CODE_PATTERN,
    PROVINCE_CODE,
    RECIPIENTS,
    REPORT_CODE,
    SECTOR_CODE,
    TEXT,
    UNIT,
    Limits,
    iso_of_days,
    iso_of_millis,
)
from bus.events.rules.records import (
    FINISHED_STATUSES,
    RECORD_RULES,
    Record,
    RecordRule,
    comparable_name,
    first_violation,
)

__all__ = [
    "AGENCY_CODE",
    "CODE_NOTATION",
    "CODE_NUMBER",
    "CORRELATION_ID",
    "COUNT",
    "DOCUMENT_ID",
    "DOCUMENT_TYPE_CODE",
    "DOSSIER_CODE",
    "DOSSIER_CODE_EXAMPLE",
    "DOSSIER_CODE_FORM",
    "EARLIEST",
    "EARLIEST_MS",
    "EPOCH",
    "EPOCH_DAY",
    "FINISHED_STATUSES",
    "FINITE",
    "FIRST_DATE",
    "FIRST_DAY",
    "IDENTIFIER",
    "INDICATORS",
    "INDICATOR_CODE",
    "INT32",
    "INT64",
    "LAST_DATE",
    "LAST_DAY",
    "LATEST",
    "LATEST_MS",
    "LONG_TEXT",
    "MULTI_LINE",
    "NFC",
    "PERIOD_NUMBER",
    "PERIOD_YEAR",
    "PROCEDURE_CODE",
    "PROCEDURE_CODE_PATTERN",
    "PROVINCE",
    "PROVINCE_CODE",
    "RECIPIENTS",
    "RECORD_RULES",
    "REPORT_CODE",
    "SECTOR_CODE",
    "SINGLE_LINE",
    "TEXT",
    "UNIT",
    "DocumentIdParts",
    "FieldRule",
    "Limits",
    "Nfc",
    "Record",
    "RecordRule",
    "Violation",
    "catalog_of",
    "comparable_name",
    "document_id_parts",
    "dossier_code",
    "first_violation",
    "iso_of_days",
    "iso_of_millis",
    "report_id",
    "rule_error",
]
