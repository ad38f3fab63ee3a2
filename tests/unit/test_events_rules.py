"""Semantic rules in the models: each broken rule names its field (a dotted path) and the rule."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest

from bus.agencies import load_catalog
from bus.errors import UnknownAgencyError, UnknownEventTypeError, ValidationError
from bus.events import (
    DocumentSent,
    DocumentStatus,
    DocumentStatusChanged,
    DossierStatus,
    DossierSynced,
    Event,
    EventMeta,
    Period,
    PeriodType,
    ReportFiled,
    SigningAuthority,
    event_type,
    make_document_id,
    parse_document_id,
    validate,
)
from tests.strategies import (
    sample_document_sent,
    sample_dossier_synced,
    sample_meta,
    sample_report_filed,
    sample_status_changed,
)

pytestmark = pytest.mark.unit

RECEIVED = datetime(2025, 7, 1, 1, 30, tzinfo=UTC)
HCMC_JUSTICE = {"code": "000.00.03.H29", "name": "Sở Tư pháp thành phố Hồ Chí Minh"}
NGHE_AN_NAME = "Ủy ban nhân dân tỉnh Nghệ An"

SAMPLE_ID = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
"""The document id of ``sample_document_sent``."""
EARLIER_ID = "000.00.00.G22,2015/09/01,7000/VPCP-TTĐT"

BROKEN: list[tuple[type[Event], dict[str, Any], str, str]] = [
    # dossier timeline
    (
        DossierSynced,
        {"finished_at": RECEIVED - timedelta(seconds=1)},
        "finished_at",
        "dossier.finished_after_received",
    ),
    (DossierSynced, {"due_at": RECEIVED - timedelta(days=1)}, "due_at", "dossier.due_after_received"),
    (
        DossierSynced,
        {
            "status": "RETURNED",
            "finished_at": RECEIVED + timedelta(days=2),
            "returned_at": RECEIVED + timedelta(days=1),
        },
        "returned_at",
        "dossier.returned_after_finished",
    ),
    (
        DossierSynced,
        {"status": "RESOLVED", "finished_at": None},
        "finished_at",
        "dossier.finished_requires_time",
    ),
    (
        DossierSynced,
        {"status": "RETURNED", "returned_at": None},
        "returned_at",
        "dossier.returned_requires_time",
    ),
    (
        DossierSynced,
        {"status": "PROCESSING", "finished_at": None, "returned_at": RECEIVED},
        "finished_at",
        "dossier.returned_requires_finished",
    ),
    (DossierSynced, {"province_code": "01"}, "province_code", "province_code.matches_agency"),
    (DossierSynced, {"province_code": "99"}, "province_code", "province_code.known"),
    (DossierSynced, {"procedure_code": "TTHC-1"}, "procedure_code", "string_pattern_mismatch"),
    (DossierSynced, {"version": -1}, "version", "greater_than_equal"),
    (DossierSynced, {"version": 2**63}, "version", "less_than_equal"),
    (DossierSynced, {"received_at": datetime(2025, 7, 1, 8, 30)}, "received_at", "timezone_aware"),
    (DossierSynced, {"received_at": datetime(1969, 12, 31, tzinfo=UTC)}, "received_at", "timestamp.range"),
    (DossierSynced, {"dossier_code": "H29 0001"}, "dossier_code", "string_pattern_mismatch"),
    # strict input: no guessing at a sender's mistake
    (DossierSynced, {"received_at": "1751364000"}, "received_at", "timestamp.format"),
    (DossierSynced, {"received_at": 1751364000}, "received_at", "timestamp.type"),
    (DossierSynced, {"received_at": "2025-07-01 10:00:00Z"}, "received_at", "timestamp.format"),
    (DossierSynced, {"received_at": "0001-01-01T00:00:00+10:00"}, "received_at", "timestamp.range"),
    (DossierSynced, {"received_at": "9999-12-31T23:59:59-10:00"}, "received_at", "timestamp.range"),
    (DossierSynced, {"version": "7"}, "version", "int_type"),
    (DossierSynced, {"version": True}, "version", "int_type"),
    (DossierSynced, {"version": 7.0}, "version", "int_type"),
    (DossierSynced, {"digitised": "true"}, "digitised", "bool_type"),
    (DossierSynced, {"digitised": 1}, "digitised", "bool_type"),
    (DocumentSent, {"promulgation_date": 20250701}, "promulgation_date", "date.type"),
    (DocumentSent, {"promulgation_date": "01/07/2025"}, "promulgation_date", "date.format"),
    (DossierSynced, {"status": "FINISHED"}, "status", "enum"),
    # agency codes
    (
        DossierSynced,
        {"processing_agency": {"code": "H29", "name": "x"}},
        "processing_agency.code",
        "agency_code.shape",
    ),
    (
        DossierSynced,
        {"processing_agency": {"code": "000.00.00.h29", "name": "x"}},
        "processing_agency.code",
        "agency_code.shape",
    ),
    (
        DossierSynced,
        {"processing_agency": {"code": "0" * 33 + ".H29", "name": "x"}},
        "processing_agency.code",
        "agency_code.shape",
    ),
    (
        DossierSynced,
        {"processing_agency": {"code": "000.00.99.H99", "name": "x"}},
        "processing_agency.code",
        "agency_code.known",
    ),
    (DossierSynced, {"meta": sample_meta("000.00.00.G99")}, "meta.source", "agency_code.known"),
    (DossierSynced, {"meta": sample_meta(event_id="not-a-uuid")}, "meta.event_id", "uuid.format"),
    # edXML header
    (DocumentSent, {"document_id": "7816/VPCP-TTĐT"}, "document_id", "document_id.format"),
    (
        DocumentSent,
        {"document_id": "000.00.00.H41,2015/09/30,7816/VPCP-TTĐT"},
        "document_id",
        "document_id.sender",
    ),
    (
        DocumentSent,
        {"document_id": "000.00.00.G22,2015/10/01,7816/VPCP-TTĐT"},
        "document_id",
        "document_id.date",
    ),
    (
        DocumentSent,
        {"document_id": "000.00.00.G22,2015/09/30,7817/VPCP-TTĐT"},
        "document_id",
        "document_id.number",
    ),
    (
        DocumentSent,
        {"document_id": "000.00.00.G99,2015/09/30,7816/VPCP-TTĐT"},
        "document_id",
        "agency_code.known",
    ),
    (DocumentSent, {"recipients": []}, "recipients", "too_short"),
    (
        DocumentSent,
        {
            "recipients": [
                {"code": "000.00.00.H41", "name": NGHE_AN_NAME},
                {"code": "000.00.00.H41", "name": NGHE_AN_NAME},
            ]
        },
        "recipients",
        "recipients.unique",
    ),
    (
        DocumentSent,
        {
            "recipients": [
                {"code": "000.00.00.H41", "name": NGHE_AN_NAME},
                {"code": "000.00.00.X41", "name": "B"},
            ]
        },
        "recipients[1].code",
        "agency_code.known",
    ),
    (DocumentSent, {"due_date": date(2015, 9, 29)}, "due_date", "document.due_after_promulgation"),
    (DocumentSent, {"attachment_count": 0}, "attachment_bytes", "document.attachments"),
    (DocumentSent, {"attachment_count": -1}, "attachment_count", "greater_than_equal"),
    (DocumentSent, {"subject": ""}, "subject", "string_too_short"),
    # DocumentSent v2: reply chain, signing authority, what a revocation or update says
    (DocumentSent, {"response_for": "7816/VPCP-TTĐT"}, "response_for", "document_id.format"),
    (DocumentSent, {"response_for": SAMPLE_ID}, "response_for", "document.response_for_itself"),
    (DocumentSent, {"signing_authority": "KT"}, "signing_authority", "enum"),
    (
        DocumentSent,
        {"referenced_document_id": EARLIER_ID},
        "referenced_document_id",
        "document.referenced_document_id",
    ),
    (DocumentSent, {"business_reason": "Sai sót"}, "business_reason", "document.business_reason"),
    (
        DocumentSent,
        {"business_type": "REVOKE", "referenced_document_id": "000.00.00.G99,2015/09/01,7000/VPCP-TTĐT"},
        "referenced_document_id",
        "agency_code.known",
    ),
    (
        DocumentStatusChanged,
        {"document_id": "000.00.00.G22,30/09/2015,7816"},
        "document_id",
        "document_id.format",
    ),
    (DocumentStatusChanged, {"status": "07"}, "status", "enum"),
    # reports
    (ReportFiled, {"period_number": 5}, "period_number", "report.period_number"),
    (ReportFiled, {"period_type": "MONTH", "period_number": 13}, "period_number", "report.period_number"),
    (ReportFiled, {"period_number": 0}, "period_number", "greater_than_equal"),
    (ReportFiled, {"revision": -1}, "revision", "greater_than_equal"),
    (ReportFiled, {"period_year": 1999}, "period_year", "greater_than_equal"),
    (
        ReportFiled,
        {"indicators": [{"code": "A", "value": math.nan, "unit": "%"}]},
        "indicators[0].value",
        "number.finite",
    ),
    (
        ReportFiled,
        {"indicators": [{"code": "A", "value": math.inf, "unit": "%"}]},
        "indicators[0].value",
        "number.finite",
    ),
    (
        ReportFiled,
        {"indicators": [{"code": "A", "value": 1.0, "unit": "%"}, {"code": "A", "value": 2.0, "unit": "%"}]},
        "indicators[1].code",
        "report.indicator_unique",
    ),
    (ReportFiled, {"surprise": 1}, "surprise", "extra_forbidden"),
]

SAMPLE_BUILDERS = {
    DocumentSent: sample_document_sent,
    DocumentStatusChanged: sample_status_changed,
    DossierSynced: sample_dossier_synced,
    ReportFiled: sample_report_filed,
}


@pytest.mark.parametrize("model", list(SAMPLE_BUILDERS), ids=lambda m: m.__name__)
def test_samples_are_valid(model: type[Event]) -> None:
    event = validate(model, SAMPLE_BUILDERS[model]())
    assert event.entity_key()


@pytest.mark.parametrize(
    ("model", "overrides", "field", "rule"), BROKEN, ids=[f"{m.__name__}-{r}-{f}" for m, _, f, r in BROKEN]
)
def test_broken_rule_names_field_and_rule(
    model: type[Event], overrides: dict[str, Any], field: str, rule: str
) -> None:
    data = SAMPLE_BUILDERS[model](**overrides)
    with pytest.raises(ValidationError) as caught:
        validate(model, data)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert field in str(caught.value)
    with pytest.raises(pydantic.ValidationError):
        model.model_validate(data)  # direct construction raises pydantic's error


def test_document_v2_fields_take_the_edxml_codes_and_a_revocation_says_what_and_why() -> None:
    reply = validate(DocumentSent, sample_document_sent(response_for=EARLIER_ID, signing_authority="KT."))
    assert (reply.response_for, reply.signing_authority) == (EARLIER_ID, SigningAuthority.DEPUTY)
    assert [SigningAuthority(code) for code in ("TM.", "TL.", "TUQ.", "Q.")] == [
        SigningAuthority.ON_BEHALF,
        SigningAuthority.BY_ORDER,
        SigningAuthority.BY_AUTHORISATION,
        SigningAuthority.ACTING,
    ]
    for kind in ("REVOKE", "UPDATE"):
        revision = validate(
            DocumentSent,
            sample_document_sent(
                business_type=kind,
                referenced_document_id=SAMPLE_ID,
                business_reason="Ban hành sai thẩm quyền",
            ),
        )
        assert (revision.referenced_document_id, revision.business_reason) == (
            SAMPLE_ID,
            "Ban hành sai thẩm quyền",
        )
    plain = validate(DocumentSent, sample_document_sent())  # a v1-shaped input: every v2 field defaults
    assert (plain.response_for, plain.signing_authority) == (None, None)
    assert (plain.referenced_document_id, plain.business_reason) == (None, None)


def test_unknown_agency_is_its_own_error_type() -> None:
    data = sample_dossier_synced(processing_agency={"code": "000.00.99.H99", "name": "x"})
    with pytest.raises(UnknownAgencyError, match="'H99' is not a known H, K or G code"):
        DossierSynced.from_avro(data)


@pytest.mark.parametrize(
    ("code", "province"),
    [
        ("000.00.99.H29", "79"),  # a department outside the catalog's template, Hồ Chí Minh City
        ("000.12.34.H29", "79"),  # a commune-level unit under Hồ Chí Minh City
        ("000.00.00.H33", "91"),  # Kiên Giang's People's Committee: in An Giang since 2025-07-01
        ("000.00.00.K29", "79"),  # Hồ Chí Minh City's People's Council
        ("000.00.05.G12", None),  # a department of the Ministry of Finance
    ],
)
def test_well_formed_units_under_a_known_level1_unit_are_accepted(code: str, province: str | None) -> None:
    listed = load_catalog().find(code)  # a listed unit needs its catalog name (agency_name.matches_catalog)
    name = listed.name if listed is not None else "Đơn vị"
    data = sample_dossier_synced(processing_agency={"code": code, "name": name}, province_code=province)
    assert DossierSynced.from_avro(data).processing_agency.code == code


def test_times_are_converted_to_utc_and_truncated_to_milliseconds() -> None:
    local = datetime(2025, 7, 1, 8, 30, 0, 123_987, tzinfo=timezone(timedelta(hours=7)))
    event = validate(DossierSynced, sample_dossier_synced(received_at=local))
    assert event.received_at == datetime(2025, 7, 1, 1, 30, 0, 123_000, tzinfo=UTC)
    assert event.received_at.tzinfo is UTC


def test_length_limits_count_nfc_characters_whatever_form_was_sent() -> None:
    nfc = "Hồ sơ đăng ký khai sinh " * 41  # 984 characters, about 1,300 code points in NFD
    nfd = unicodedata.normalize("NFD", nfc)
    assert len(nfc) <= 1000 < len(nfd)
    event = validate(DossierSynced, sample_dossier_synced(sector_name=nfd))
    assert event.sector_name == nfc
    with pytest.raises(ValidationError) as caught:
        validate(DossierSynced, sample_dossier_synced(sector_name=nfc + "x" * 17))
    assert (caught.value.field, caught.value.rule) == ("sector_name", "string_too_long")


def test_iso_strings_with_offsets_are_accepted() -> None:
    event = validate(DossierSynced, sample_dossier_synced(received_at="2025-07-01T08:30:00+07:00"))
    assert event.received_at == RECEIVED


def test_source_codes_are_accepted_in_place_of_symbols() -> None:
    status = validate(DocumentStatusChanged, sample_status_changed(status="01"))
    assert status.status is DocumentStatus.ARRIVED
    assert status.status.code == "01"
    dossier = validate(DossierSynced, sample_dossier_synced(status=9, applicant_type="2", channel="3"))
    assert dossier.status is DossierStatus.RESOLVED
    assert (dossier.applicant_type.code, dossier.channel.code) == ("2", "3")
    assert DocumentStatus.from_code(16) is DocumentStatus.RECALL_REFUSED


def test_unknown_symbol_is_readable() -> None:
    """What an old reader gets for a symbol added later must still be a valid model."""
    event = validate(DossierSynced, sample_dossier_synced(status="UNKNOWN", finished_at=None))
    assert event.status is DossierStatus.UNKNOWN


def test_event_id_is_canonicalised() -> None:
    meta = EventMeta.model_validate(sample_meta(event_id="6F1C1A8E-9A53-4C3E-9A77-2F1F5F3B8D10"))
    assert meta.event_id == "6f1c1a8e-9a53-4c3e-9a77-2f1f5f3b8d10"


def test_models_are_frozen() -> None:
    event = validate(DossierSynced, sample_dossier_synced())
    with pytest.raises(pydantic.ValidationError):
        event.version = 5  # type: ignore[misc]


def test_with_published_at_sets_utc_milliseconds() -> None:
    event = validate(DossierSynced, sample_dossier_synced())
    stamped = event.with_published_at(
        datetime(2025, 7, 3, 9, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=7)))
    )
    assert stamped.meta.published_at == datetime(2025, 7, 3, 2, 0, 0, 999_000, tzinfo=UTC)
    assert event.meta.published_at is None


def test_entity_keys() -> None:
    assert (
        validate(DocumentSent, sample_document_sent()).entity_key()
        == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    )
    assert validate(DossierSynced, sample_dossier_synced()).entity_key() == "000.00.04.H29-250701-0001"
    assert validate(ReportFiled, sample_report_filed()).entity_key() == "000.00.00.H29/BC-KSTT-01/2025-Q3"


def test_document_id_helpers_round_trip() -> None:
    document_id = make_document_id("000.00.00.G22", date(2015, 9, 30), "7816", "VPCP-TTĐT")
    parts = parse_document_id(document_id)
    assert (parts.sender, parts.promulgation_date, parts.number, parts.notation) == (
        "000.00.00.G22",
        date(2015, 9, 30),
        "7816",
        "VPCP-TTĐT",
    )
    assert parse_document_id("000.00.00.G22,2019/01/30,09/2019/NĐ-CP").notation == "2019/NĐ-CP"


def test_report_period_and_timeliness() -> None:
    report = validate(ReportFiled, sample_report_filed())
    assert report.period == Period(PeriodType.QUARTER, 2025, 3)
    assert report.on_time
    assert report.period.label == "2025-Q3"
    assert (report.period.start, report.period.end) == (date(2025, 7, 1), date(2025, 9, 30))


def test_event_type_lookup() -> None:
    assert event_type("vn.gov.lgsp.dossier.DossierSynced") is DossierSynced
    with pytest.raises(UnknownEventTypeError, match=r"vn\.gov\.lgsp\.dossier\.DossierCreated"):
        event_type("vn.gov.lgsp.dossier.DossierCreated")
