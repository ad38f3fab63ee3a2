"""Hypothesis strategies for valid bus events (reuse them: ``from tests.strategies import events``).

Every strategy draws events that pass the models' semantic rules: agency codes from the catalog, ordered
dossier timelines, edXML document ids built from their header, periods in range, finite indicator values.
Text mixes ASCII with Vietnamese letters carrying diacritics, sometimes in decomposed form (NFD), so the
models' NFC normalisation is exercised too. Times are timezone-aware in UTC or Vietnam time (UTC+7).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from bus.agencies import load_catalog
from bus.events import (
    AgencyRef,
    ApplicantType,
    BusinessType,
    DocumentForm,
    DocumentSent,
    DocumentStatus,
    DocumentStatusChanged,
    DossierStatus,
    DossierSynced,
    Event,
    EventMeta,
    IndicatorValue,
    OnlineLevel,
    Period,
    Priority,
    ReportFiled,
    SigningAuthority,
    SubmissionChannel,
    make_document_id,
    make_report_id,
)
from bus.events.periods import PERIODS_PER_YEAR
from bus.reporting import load_report_catalog

VIETNAMESE_LETTERS = (
    "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
)
ALPHABET = VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper() + "0123456789 ,.-/()%"
VIETNAM = timezone(timedelta(hours=7))

CATALOG = load_catalog()
AGENCY_CODES = sorted(a.code for a in CATALOG)
ISSUER_CODES = [a.code for a in CATALOG.ministries() + CATALOG.province_committees()]


def vietnamese_text(*, min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    """Non-blank Vietnamese text, NFC or NFD (the models store NFC)."""
    text = st.text(alphabet=ALPHABET, min_size=min_size, max_size=max_size).filter(lambda s: s.strip() != "")
    form = st.sampled_from(["NFC", "NFD"])
    return st.builds(lambda t, f: unicodedata.normalize(f, t), text, form)


def identifiers(*, max_size: int = 30) -> st.SearchStrategy[str]:
    """Ids without whitespace, Vietnamese letters allowed (e.g. a notation like ``VPCP-TTĐT``)."""
    return st.text(alphabet=ALPHABET.replace(" ", "").replace("/", ""), min_size=1, max_size=max_size)


def utc_datetimes(
    *, min_value: datetime = datetime(2015, 1, 1), max_value: datetime = datetime(2035, 12, 31)
) -> st.SearchStrategy[datetime]:
    """Aware datetimes with millisecond precision, in UTC or Vietnam time."""
    raw = st.datetimes(min_value=min_value, max_value=max_value, timezones=st.sampled_from([UTC, VIETNAM]))
    return raw.map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def agency_codes() -> st.SearchStrategy[str]:
    """Any agency code of the catalog."""
    return st.sampled_from(AGENCY_CODES)


def catalog_name(code: str) -> st.SearchStrategy[str]:
    """The catalog's name of ``code`` (rule agency_name.matches_catalog), in NFC or NFD, maybe in capitals."""
    agency = CATALOG.get(code)
    case = st.sampled_from([agency.name, agency.name.upper()])
    return st.builds(unicodedata.normalize, st.sampled_from(["NFC", "NFD"]), case)


def agency_refs(codes: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[AgencyRef]:
    """An agency reference whose code is in the catalog, with the catalog's name in some form."""
    codes = agency_codes() if codes is None else codes
    return codes.flatmap(lambda code: catalog_name(code).map(lambda name: AgencyRef(code=code, name=name)))


@st.composite
def event_meta(draw: st.DrawFn, source: str | None = None) -> EventMeta:
    """Metadata; ``published_at`` and ``correlation_id`` present or not."""
    occurred = draw(utc_datetimes())
    published = draw(st.none() | st.just(occurred + timedelta(milliseconds=draw(st.integers(0, 10**7)))))
    return EventMeta(
        event_id=str(draw(st.uuids())),
        source=source or draw(agency_codes()),
        occurred_at=occurred,
        published_at=published,
        correlation_id=draw(st.none() | st.uuids().map(str) | identifiers()),
    )


@st.composite
def document_sent(draw: st.DrawFn) -> DocumentSent:
    """A DocumentSent whose document id is built from its own header."""
    sender = draw(agency_refs(st.sampled_from(ISSUER_CODES)))
    promulgated = draw(st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)))
    number = draw(st.integers(1, 99_999).map(str))
    notation = draw(identifiers(max_size=20))
    recipient_codes = draw(st.lists(agency_codes(), min_size=1, max_size=5, unique=True))
    attachments = draw(st.integers(0, 20))
    business_type = draw(_known(BusinessType))
    document_id = make_document_id(sender.code, promulgated, number, notation)
    other_id = make_document_id(sender.code, promulgated, f"{number}0", notation)  # not this document
    revises = business_type in (BusinessType.REVOKE, BusinessType.UPDATE)
    return DocumentSent(
        meta=draw(event_meta(sender.code)),
        document_id=document_id,
        sender=sender,
        recipients=tuple(AgencyRef(code=c, name=draw(catalog_name(c))) for c in recipient_codes),
        code_number=number,
        code_notation=notation,
        promulgation_place=draw(vietnamese_text(max_size=20)),
        promulgation_date=promulgated,
        document_type_code=draw(st.sampled_from(["18", "19", "01", "07"])),
        document_type_name=draw(st.sampled_from(["Công văn", "Công điện", "Quyết định", "Báo cáo"])),
        subject=draw(vietnamese_text(max_size=200)),
        signer_position=draw(vietnamese_text(max_size=30)),
        signer_name=draw(vietnamese_text(max_size=30)),
        due_date=draw(st.none() | st.integers(0, 90).map(lambda d: promulgated + timedelta(days=d))),
        priority=draw(_known(Priority)),
        steering=draw(st.booleans()),
        business_type=business_type,
        attachment_count=attachments,
        attachment_bytes=0 if attachments == 0 else draw(st.integers(0, 2**40)),
        digitally_signed=draw(st.booleans()),
        form=draw(_known(DocumentForm)),
        response_for=draw(st.none() | st.just(other_id)),
        signing_authority=draw(st.none() | _known(SigningAuthority)),
        referenced_document_id=draw(st.sampled_from([None, document_id, other_id])) if revises else None,
        business_reason=draw(st.none() | vietnamese_text(max_size=100)) if revises else None,
    )


@st.composite
def document_status_changed(draw: st.DrawFn) -> DocumentStatusChanged:
    """Status feedback from a recipient about some document."""
    reporter = draw(agency_refs())
    document_id = make_document_id(
        draw(st.sampled_from(ISSUER_CODES)),
        draw(st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))),
        str(draw(st.integers(1, 99_999))),
        draw(identifiers(max_size=20)),
    )
    return DocumentStatusChanged(
        meta=draw(event_meta(reporter.code)),
        document_id=document_id,
        reporting_agency=reporter,
        status=draw(_known(DocumentStatus)),
        description=draw(st.none() | vietnamese_text(max_size=100)),
        status_at=draw(utc_datetimes()),
    )


@st.composite
def dossier_synced(draw: st.DrawFn, status: DossierStatus | None = None) -> DossierSynced:
    """A dossier snapshot with an ordered timeline (received ≤ due, received ≤ finished ≤ returned)."""
    agency = draw(agency_refs())
    status = status or draw(_known(DossierStatus))
    received = draw(utc_datetimes())
    later = st.integers(0, 60 * 24 * 3600 * 1000).map(lambda ms: timedelta(milliseconds=ms))
    finished = received + draw(later) if status.is_finished or draw(st.booleans()) else None
    returned_required = status is DossierStatus.RETURNED
    returned = finished + draw(later) if finished and (returned_required or draw(st.booleans())) else None
    return DossierSynced(
        meta=draw(event_meta(agency.code)),
        dossier_code=f"{agency.code}-{received:%y%m%d}-{draw(st.integers(0, 999_999)):06d}",
        procedure_code=f"{draw(st.integers(1, 3))}.{draw(st.integers(0, 999_999)):06d}"
        + draw(st.sampled_from(["", f".{agency.code}"])),
        procedure_name=draw(vietnamese_text(max_size=120)),
        sector_code=draw(identifiers(max_size=10)),
        sector_name=draw(vietnamese_text(max_size=30)),
        processing_agency=agency,
        province_code=CATALOG.province_of(agency.code),
        applicant_type=draw(_known(ApplicantType)),
        channel=draw(_known(SubmissionChannel)),
        online_level=draw(_known(OnlineLevel)),
        status=status,
        received_at=received,
        due_at=draw(st.none() | later.map(lambda d: received + d)),
        finished_at=finished,
        returned_at=returned,
        fees_paid_online=draw(st.booleans()),
        digitised=draw(st.booleans()),
        version=draw(st.integers(0, 2**63 - 1)),
        result_digitised=draw(st.none() | st.booleans()),
    )


@st.composite
def report_filed(draw: st.DrawFn) -> ReportFiled:
    """A report for a catalog regime and a period in range, with unique, finite indicator values."""
    definition = draw(st.sampled_from(load_report_catalog().reports()))
    period_type = draw(st.sampled_from(definition.period_types))
    period = Period(
        period_type, draw(st.integers(2000, 2099)), draw(st.integers(1, PERIODS_PER_YEAR[period_type]))
    )
    agency = draw(agency_refs(st.sampled_from(ISSUER_CODES)))
    values = st.floats(allow_nan=False, allow_infinity=False)
    codes = draw(st.lists(identifiers(max_size=20), max_size=6, unique=True))
    return ReportFiled(
        meta=draw(event_meta(agency.code)),
        report_id=make_report_id(agency.code, definition.code, period),
        report_code=definition.code,
        reporting_agency=agency,
        period_type=period_type,
        period_year=period.year,
        period_number=period.number,
        deadline_at=definition.deadline(period),
        filed_at=draw(utc_datetimes()),
        revision=draw(st.integers(0, 20)),
        indicators=tuple(
            IndicatorValue(code=c, value=draw(values), unit=draw(st.sampled_from(["%", "hồ sơ", "văn bản"])))
            for c in codes
        ),
    )


def events() -> st.SearchStrategy[Event]:
    """Any of the four events."""
    return st.one_of(document_sent(), document_status_changed(), dossier_synced(), report_filed())


EVENT_STRATEGIES: dict[type[Event], st.SearchStrategy[Any]] = {
    DocumentSent: document_sent(),
    DocumentStatusChanged: document_status_changed(),
    DossierSynced: dossier_synced(),
    ReportFiled: report_filed(),
}


def _known(enum: type[Any]) -> st.SearchStrategy[Any]:
    """A member other than UNKNOWN (which producers never send)."""
    return st.sampled_from([m for m in enum if m.value != "UNKNOWN"])


# Fixed valid samples, for tests that change one field and expect one rule to fire.

HCMC = "000.00.00.H29"
GOVERNMENT_OFFICE = "000.00.00.G22"
NGHE_AN = "000.00.00.H41"


def sample_meta(source: str = HCMC, **overrides: Any) -> dict[str, Any]:
    """Metadata fields as a dict."""
    fields: dict[str, Any] = {
        "event_id": "6f1c1a8e-9a53-4c3e-9a77-2f1f5f3b8d10",
        "source": source,
        "occurred_at": datetime(2025, 7, 3, 2, 0, tzinfo=UTC),
        "published_at": None,
        "correlation_id": None,
    }
    return fields | overrides


def sample_document_sent(**overrides: Any) -> dict[str, Any]:
    """The edXML example of QCVN 102 (Government Office to Nghệ An), as model input."""
    fields: dict[str, Any] = {
        "meta": sample_meta(GOVERNMENT_OFFICE),
        "document_id": "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "sender": {"code": GOVERNMENT_OFFICE, "name": "Văn phòng Chính phủ"},
        "recipients": [{"code": NGHE_AN, "name": "Ủy ban nhân dân tỉnh Nghệ An"}],
        "code_number": "7816",
        "code_notation": "VPCP-TTĐT",
        "promulgation_place": "Hà Nội",
        "promulgation_date": date(2015, 9, 30),
        "document_type_code": "18",
        "document_type_name": "Công văn",
        "subject": "Về việc triển khai Trục liên thông văn bản quốc gia",
        "signer_position": "Phó Chủ nhiệm",
        "signer_name": "Nguyễn Văn Tùng",
        "due_date": date(2015, 10, 15),
        "priority": "URGENT",
        "steering": True,
        "business_type": "NEW",
        "attachment_count": 2,
        "attachment_bytes": 524_288,
        "digitally_signed": True,
        "form": "ELECTRONIC_ONLY",
    }
    return fields | overrides


def sample_status_changed(**overrides: Any) -> dict[str, Any]:
    """Nghệ An reports that the document arrived."""
    fields: dict[str, Any] = {
        "meta": sample_meta(NGHE_AN),
        "document_id": "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        "reporting_agency": {"code": NGHE_AN, "name": "Ủy ban nhân dân tỉnh Nghệ An"},
        "status": "ARRIVED",
        "description": "Đã nhận văn bản",
        "status_at": datetime(2015, 9, 30, 3, 15, tzinfo=UTC),
    }
    return fields | overrides


def sample_dossier_synced(**overrides: Any) -> dict[str, Any]:
    """A resolved birth-registration dossier of Hồ Chí Minh City."""
    received = datetime(2025, 7, 1, 1, 30, tzinfo=UTC)
    fields: dict[str, Any] = {
        "meta": sample_meta(HCMC),
        "dossier_code": "000.00.04.H29-250701-0001",
        "procedure_code": "1.000494.000.00.00.H29",
        "procedure_name": "Đăng ký khai sinh",
        "sector_code": "HT",
        "sector_name": "Hộ tịch",
        "processing_agency": {"code": "000.00.03.H29", "name": "Sở Tư pháp thành phố Hồ Chí Minh"},
        "province_code": "79",
        "applicant_type": "CITIZEN",
        "channel": "ONLINE",
        "online_level": "FULL",
        "status": "RESOLVED",
        "received_at": received,
        "due_at": received + timedelta(days=3),
        "finished_at": received + timedelta(days=1),
        "returned_at": None,
        "fees_paid_online": True,
        "digitised": True,
        "version": 4,
        "result_digitised": True,
    }
    return fields | overrides


def sample_report_filed(**overrides: Any) -> dict[str, Any]:
    """Hồ Chí Minh City's Q3 2025 administrative-procedure report."""
    fields: dict[str, Any] = {
        "meta": sample_meta(HCMC),
        "report_id": "000.00.00.H29/BC-KSTT-01/2025-Q3",
        "report_code": "BC-KSTT-01",
        "reporting_agency": {"code": HCMC, "name": "Ủy ban nhân dân thành phố Hồ Chí Minh"},
        "period_type": "QUARTER",
        "period_year": 2025,
        "period_number": 3,
        "deadline_at": datetime(2025, 9, 20, 16, 59, 59, tzinfo=UTC),
        "filed_at": datetime(2025, 9, 18, 9, 0, tzinfo=UTC),
        "revision": 0,
        "indicators": [
            {"code": "DOSSIERS_RECEIVED", "value": 152_340.0, "unit": "hồ sơ"},
            {"code": "DOSSIERS_ONLINE_RATE", "value": 75.8, "unit": "%"},
        ],
    }
    return fields | overrides


def sample_dossier(**overrides: Any) -> DossierSynced:
    """:func:`sample_dossier_synced` as a model."""
    return DossierSynced.model_validate(sample_dossier_synced(**overrides))


SAMPLES: dict[type[Event], Any] = {
    DocumentSent: sample_document_sent,
    DocumentStatusChanged: sample_status_changed,
    DossierSynced: sample_dossier_synced,
    ReportFiled: sample_report_filed,
}
"""Sample builders by model: ``SAMPLES[model](**overrides)`` is valid model input."""
