"""The decode path's shortcuts change nothing: same events, same errors (field, rule, message).

``from_avro`` takes shortcuts that plain validation does not: agency references validated before are handed
out again, agency codes are checked with one set lookup, a code's province and a document id's parts are
remembered. Each test compares it with validation that takes none of them (a validation context with a
freshly built catalog), on decoded records of generated events, and on records broken on purpose, one rule
at a time, after the caches have seen the unbroken event.
"""

from __future__ import annotations

import io
import json
import math
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.agencies import AGENCY_CODE_RE, AgencyCatalog, catalog_from_json, is_agency_code, load_catalog
from bus.errors import UnknownAgencyError, ValidationError
from bus.events import (
    AgencyRef,
    DocumentSent,
    DocumentStatusChanged,
    DossierStatus,
    DossierSynced,
    Event,
    ReportFiled,
    make_document_id,
    parse_document_id,
    validate,
)
from bus.events._base import _REUSE_LIMIT, _REUSED, _uuid_text
from bus.events.periods import PERIODS_PER_YEAR
from tests.strategies import (
    AGENCY_CODES,
    ISSUER_CODES,
    document_sent,
    document_status_changed,
    dossier_synced,
    events,
    report_filed,
    sample_dossier_synced,
)

pytestmark = pytest.mark.unit

_VIETNAM = timezone(timedelta(hours=7))

UNKNOWN_CODE = "999.99.99.G99"
"""Well formed (QĐ 20/2020 shape) but in no catalog."""
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fresh_catalog() -> AgencyCatalog:
    """The packaged catalog, built anew: nothing remembered yet."""
    text = resources.files("bus").joinpath("data/agencies.json").read_text(encoding="utf-8")
    return catalog_from_json(json.loads(text))


def decoded(event: Event) -> dict[str, Any]:
    """The record the consumer's decoder hands to ``from_avro``: the event through fastavro and back."""
    schema = type(event).avro_schema()
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, event.to_avro())
    buffer.seek(0)
    record = fastavro.schemaless_reader(buffer, schema, None)
    assert isinstance(record, dict)
    return record


def reference(model: type[Event], record: dict[str, Any]) -> Event:
    """Validation without the decode path's shortcuts: a context turns off reuse and the catalog fast path."""
    return validate(model, record, context={"catalog": fresh_catalog()})


def outcome(convert: Callable[[], Event]) -> tuple[type[Exception], str | None, str | None, str]:
    with pytest.raises(ValidationError) as raised:
        convert()
    error = raised.value
    return type(error), error.field, error.rule, str(error)


@SETTINGS
@given(event=events())
def test_decoding_equals_validation_without_shortcuts(event: Event) -> None:
    model = type(event)
    record = decoded(event)
    first = model.from_avro(record)
    again = model.from_avro(decoded(event))  # the caches have seen it now
    plain = reference(model, record)
    assert first == again == plain == event
    assert first.model_dump() == plain.model_dump()
    assert first.__pydantic_fields_set__ == plain.__pydantic_fields_set__
    assert first.meta.occurred_at.tzinfo is UTC


@SETTINGS
@given(event=events(), data=st.data())
def test_unusual_but_valid_input_reads_the_same(event: Event, data: st.DataObject) -> None:
    """Decomposed text, local times, ids as text: normalised alike on both paths."""
    model = type(event)
    record = decoded(event)
    meta = dict(record["meta"])
    meta["occurred_at"] = meta["occurred_at"].astimezone(data.draw(st.sampled_from([UTC, _VIETNAM])))
    as_text = data.draw(st.sampled_from(["canonical", "upper", "hex"]))
    event_id: uuid.UUID = meta["event_id"]
    meta["event_id"] = {"canonical": str(event_id), "upper": str(event_id).upper(), "hex": event_id.hex}[
        as_text
    ]
    record = {**record, "meta": meta}
    for name in _text_fields(record):
        record[name] = unicodedata.normalize("NFD", record[name])
    assert model.from_avro(record) == reference(model, record) == event


def _text_fields(record: dict[str, Any]) -> list[str]:
    return [name for name, value in record.items() if isinstance(value, str) and not value.isascii()]


# --- one rule broken at a time ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """A decoded record that breaks exactly one rule, the event it was made from, and what must be said."""

    event: Event
    record: dict[str, Any]
    field: str
    rule: str


Breaker = Callable[[st.DrawFn], Broken]
BREAKERS: dict[str, Breaker] = {}


def breaker(name: str) -> Callable[[Breaker], Breaker]:
    def register(function: Breaker) -> Breaker:
        BREAKERS[name] = function
        return function

    return register


def _with(record: Any, path: str, value: Any) -> Any:
    """A copy of ``record`` (a dict or list) with ``value`` at dotted ``path`` (``recipients.0.code``)."""
    head, _, rest = path.partition(".")
    key: Any = int(head) if head.isdigit() else head
    copy: Any = list(record) if isinstance(record, list) else dict(record)
    copy[key] = _with(copy[key], rest, value) if rest else value
    return copy


def _agency_path(event: Event) -> str:
    return {
        DocumentSent: "sender",
        DocumentStatusChanged: "reporting_agency",
        DossierSynced: "processing_agency",
        ReportFiled: "reporting_agency",
    }[type(event)]


@breaker("unknown source")
def _unknown_source(draw: st.DrawFn) -> Broken:
    event = draw(events())
    return Broken(
        event, _with(decoded(event), "meta.source", UNKNOWN_CODE), "meta.source", "agency_code.known"
    )


@breaker("unknown agency")
def _unknown_agency(draw: st.DrawFn) -> Broken:
    event = draw(events())
    path = _agency_path(event)
    record = _with(decoded(event), f"{path}.code", UNKNOWN_CODE)
    return Broken(event, record, f"{path}.code", "agency_code.known")


@breaker("unknown recipient")
def _unknown_recipient(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    index = draw(st.integers(0, len(event.recipients) - 1))
    record = _with(decoded(event), f"recipients.{index}.code", UNKNOWN_CODE)
    return Broken(event, record, f"recipients[{index}].code", "agency_code.known")


@breaker("bad code shape")
def _bad_shape(draw: st.DrawFn) -> Broken:
    event = draw(events())
    path = _agency_path(event)
    code = decoded(event)[path]["code"]
    bad = draw(
        st.sampled_from([code.lower(), "0" * 33 + "." + code[-3:], code.rsplit(".", 1)[0], code + "."])
    )
    return Broken(event, _with(decoded(event), f"{path}.code", bad), f"{path}.code", "agency_code.shape")


@breaker("finished before received")
def _finished_before_received(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced(status=DossierStatus.RESOLVED))
    record = _with(decoded(event), "finished_at", event.received_at - timedelta(milliseconds=1))
    return Broken(event, record, "finished_at", "dossier.finished_after_received")


@breaker("due before received")
def _due_before_received(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced())
    record = _with(decoded(event), "due_at", event.received_at - timedelta(days=draw(st.integers(1, 30))))
    return Broken(event, record, "due_at", "dossier.due_after_received")


@breaker("returned before finished")
def _returned_before_finished(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced(status=DossierStatus.RETURNED))
    assert event.finished_at is not None
    record = _with(decoded(event), "returned_at", event.finished_at - timedelta(milliseconds=1))
    return Broken(event, record, "returned_at", "dossier.returned_after_finished")


@breaker("status needs finished_at")
def _status_needs_finished(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced(status=DossierStatus.RESOLVED))
    record = {**decoded(event), "finished_at": None, "returned_at": None}
    return Broken(event, record, "finished_at", "dossier.finished_requires_time")


@breaker("returned without finished")
def _returned_without_finished(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced(status=DossierStatus.PROCESSING))
    record = {**decoded(event), "finished_at": None, "returned_at": event.received_at}
    return Broken(event, record, "finished_at", "dossier.returned_requires_finished")


@breaker("returned status needs returned_at")
def _returned_needs_time(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced(status=DossierStatus.RESOLVED))
    record = {**decoded(event), "status": "RETURNED", "returned_at": None}
    return Broken(event, record, "returned_at", "dossier.returned_requires_time")


@breaker("province of another agency")
def _province_mismatch(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced())
    other = draw(st.sampled_from(["01", "79", "48", None]).filter(lambda p: p != event.province_code))
    record = _with(decoded(event), "province_code", other)
    return Broken(event, record, "province_code", "province_code.matches_agency")


@breaker("unknown province")
def _unknown_province(draw: st.DrawFn) -> Broken:
    event = draw(dossier_synced())
    record = _with(decoded(event), "province_code", draw(st.sampled_from(["99", "00", "03"])))
    return Broken(event, record, "province_code", "province_code.known")


@breaker("document id of another header")
def _document_id_mismatch(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    parts = parse_document_id(event.document_id)
    part = draw(st.sampled_from(["sender", "date", "number"]))
    sender, day, number = parts.sender, parts.promulgation_date, parts.number
    if part == "sender":
        sender = draw(st.sampled_from(ISSUER_CODES).filter(lambda c: c != parts.sender))
    elif part == "date":
        day = day + timedelta(days=draw(st.sampled_from([-1, 1])))
    else:
        number = str(int(number) + 1)
    document_id = make_document_id(sender, day, number, parts.notation)
    return Broken(
        event, _with(decoded(event), "document_id", document_id), "document_id", f"document_id.{part}"
    )


@breaker("document id shape or sender")
def _document_id_bad(draw: st.DrawFn) -> Broken:
    event = draw(st.one_of(document_sent(), document_status_changed()))
    parts = parse_document_id(event.document_id)
    if draw(st.booleans()):
        document_id = draw(st.sampled_from(["7816/VPCP", f"{parts.sender},30/09/2015,7816/X", "x,y"]))
        rule = "document_id.format"
    else:
        document_id = make_document_id(UNKNOWN_CODE, parts.promulgation_date, parts.number, parts.notation)
        rule = "agency_code.known"
    return Broken(event, _with(decoded(event), "document_id", document_id), "document_id", rule)


@breaker("duplicate recipients")
def _duplicate_recipients(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    record = decoded(event)
    twin = {
        **record["recipients"][0],
        "name": draw(
            st.sampled_from([record["recipients"][0]["name"].upper(), record["recipients"][0]["name"]])
        ),
    }
    recipients = list(record["recipients"])
    recipients.insert(draw(st.integers(0, len(recipients))), twin)
    return Broken(event, {**record, "recipients": recipients}, "recipients", "recipients.unique")


@breaker("due before promulgation")
def _due_before_promulgation(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    record = _with(
        decoded(event), "due_date", event.promulgation_date - timedelta(days=draw(st.integers(1, 9)))
    )
    return Broken(event, record, "due_date", "document.due_after_promulgation")


@breaker("attachment bytes without attachments")
def _attachments(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    record = {**decoded(event), "attachment_count": 0, "attachment_bytes": draw(st.integers(1, 2**40))}
    return Broken(event, record, "attachment_bytes", "document.attachments")


@breaker("non-finite indicator")
def _non_finite(draw: st.DrawFn) -> Broken:
    event = draw(report_filed().filter(lambda r: len(r.indicators) > 0))
    index = draw(st.integers(0, len(event.indicators) - 1))
    value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    record = _with(decoded(event), f"indicators.{index}.value", value)
    return Broken(event, record, f"indicators[{index}].value", "number.finite")


@breaker("duplicate indicator")
def _duplicate_indicator(draw: st.DrawFn) -> Broken:
    event = draw(report_filed().filter(lambda r: len(r.indicators) > 0))
    record = decoded(event)
    indicators = [*record["indicators"], {**record["indicators"][0], "value": 1.0}]
    return Broken(
        event,
        {**record, "indicators": indicators},
        f"indicators[{len(indicators) - 1}].code",
        "report.indicator_unique",
    )


@breaker("period number out of range")
def _period_number(draw: st.DrawFn) -> Broken:
    event = draw(report_filed())
    record = {
        **decoded(event),
        "period_number": PERIODS_PER_YEAR[event.period_type] + draw(st.integers(1, 5)),
    }
    return Broken(event, record, "period_number", "report.period_number")


@breaker("time out of range")
def _time_range(draw: st.DrawFn) -> Broken:
    event = draw(events())
    late = draw(st.datetimes(min_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
    return Broken(
        event, _with(decoded(event), "meta.occurred_at", late), "meta.occurred_at", "timestamp.range"
    )


@breaker("event id not a UUID")
def _event_id(draw: st.DrawFn) -> Broken:
    event = draw(events())
    bad = draw(st.sampled_from(["not-a-uuid", "", "6f1c1a8e-9a53-4c3e-9a77"]))
    return Broken(event, _with(decoded(event), "meta.event_id", bad), "meta.event_id", "uuid.format")


@breaker("empty text")
def _empty_text(draw: st.DrawFn) -> Broken:
    event = draw(events())
    path = f"{_agency_path(event)}.name"
    return Broken(event, _with(decoded(event), path, ""), path, "string_too_short")


@breaker("document replies to itself")
def _replies_to_itself(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    record = _with(decoded(event), "response_for", event.document_id)
    return Broken(event, record, "response_for", "document.response_for_itself")


@breaker("a NEW document names a revised one or a reason")
def _new_with_revision_fields(draw: st.DrawFn) -> Broken:
    event = draw(document_sent())
    field = draw(st.sampled_from(["referenced_document_id", "business_reason"]))
    cleared = {"referenced_document_id": None, "business_reason": None}  # a drawn revision may set both
    record = {**decoded(event), **cleared, "business_type": "NEW", field: event.document_id}
    return Broken(event, record, field, f"document.{field}")


@breaker("extra field")
def _extra(draw: st.DrawFn) -> Broken:
    event = draw(events())
    return Broken(event, {**decoded(event), "surprise": 1}, "surprise", "extra_forbidden")


@st.composite
def broken_records(draw: st.DrawFn) -> Broken:
    """A decoded record breaking one rule, of any of :data:`BREAKERS`."""
    make: Breaker = draw(st.sampled_from(sorted(BREAKERS)).map(BREAKERS.__getitem__))
    return make(draw)


@pytest.mark.parametrize("name", sorted(BREAKERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_broken_rule_is_reported_alike(name: str, data: st.DataObject) -> None:
    broken = BREAKERS[name](data.draw)  # type: ignore[arg-type]  # DataObject.draw draws like a DrawFn
    model = type(broken.event)
    model.from_avro(decoded(broken.event))  # the caches have seen the unbroken event
    fast = outcome(lambda: model.from_avro(broken.record))
    plain = outcome(lambda: reference(model, broken.record))
    assert fast == plain
    assert fast[1:3] == (broken.field, broken.rule)
    assert (fast[0] is UnknownAgencyError) == (broken.rule == "agency_code.known")


@SETTINGS
@given(broken=broken_records())
def test_broken_records_fail_again_and_leave_nothing_behind(broken: Broken) -> None:
    """A failure is not remembered as a success, and a good event still reads after it."""
    model = type(broken.event)
    first = outcome(lambda: model.from_avro(broken.record))
    assert outcome(lambda: model.from_avro(broken.record)) == first
    assert model.from_avro(decoded(broken.event)) == broken.event


# --- the shortcuts themselves -----------------------------------------------------------------------------


def test_agency_references_are_reused_and_the_cache_stays_bounded() -> None:
    record = decoded(DossierSynced.model_validate(_sample_dossier()))
    first, second = DossierSynced.from_avro(record), DossierSynced.from_avro(record)
    assert first.processing_agency is second.processing_agency
    renamed = _with(
        record, "processing_agency.name", "SỞ TƯ PHÁP thành phố Hồ Chí Minh"
    )  # the catalog's, in caps
    assert DossierSynced.from_avro(renamed).processing_agency.name == "SỞ TƯ PHÁP thành phố Hồ Chí Minh"
    with_context = validate(DossierSynced, record, context={"catalog": load_catalog()})
    assert with_context.processing_agency is not first.processing_agency
    assert with_context.processing_agency == first.processing_agency
    for n in range(_REUSE_LIMIT + 10):
        unlisted = _with(record, "processing_agency.code", "000.00.99.H29")  # no catalog name to match
        DossierSynced.from_avro(_with(unlisted, "processing_agency.name", f"Sở {n}"))
    assert 0 < len(_REUSED) <= _REUSE_LIMIT


HCMC_NAME = "Ủy ban nhân dân thành phố Hồ Chí Minh"


def test_direct_construction_of_a_reference_is_unaffected() -> None:
    ref = AgencyRef(code="000.00.00.H29", name=HCMC_NAME)
    assert ref == AgencyRef(code="000.00.00.H29", name=HCMC_NAME)
    assert ref is not AgencyRef(code="000.00.00.H29", name=HCMC_NAME)


CODES = st.one_of(
    st.sampled_from(AGENCY_CODES),
    st.sampled_from(AGENCY_CODES).map(str.lower),
    st.sampled_from(AGENCY_CODES).map(lambda c: c[:-1] + "9"),
    st.sampled_from(AGENCY_CODES).map(lambda c: "K" + c[1:] if c.startswith("H") else c.replace(".H", ".K")),
    st.text(alphabet="0123456789.ABGHK", max_size=40),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(code=CODES)
def test_catalog_shortcuts_agree_with_the_rules_they_shortcut(code: str) -> None:
    catalog, fresh = load_catalog(), fresh_catalog()
    well_formed = len(code) <= 35 and AGENCY_CODE_RE.match(code) is not None
    assert is_agency_code(code) is well_formed
    level1_known = code.rpartition(".")[2] in catalog.level1_groups
    assert (code in catalog.known_codes) is (well_formed and (code in catalog or level1_known))
    assert catalog.province_of(code) == catalog.province_of(code) == fresh.province_of(code)
    assert (code in catalog.province_codes) is catalog.is_province(code)


@settings(max_examples=300, deadline=None)
@given(value=st.uuids())
def test_event_ids_are_canonical_text(value: uuid.UUID) -> None:
    assert _uuid_text(value) == str(value)
    for text in (str(value), str(value).upper(), value.hex, f"{{{value}}}", f"urn:uuid:{value}"):
        assert _uuid_text(text) == str(value)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789abcdefABCDEF-{}:urn \n", max_size=45))
def test_event_id_text_reads_as_uuid_does(text: str) -> None:
    try:
        expected: str | None = str(uuid.UUID(text))
    except ValueError:
        expected = None
    try:
        actual: str | None = _uuid_text(text)
    except Exception:
        actual = None
    assert actual == expected


def _sample_dossier() -> dict[str, Any]:
    return sample_dossier_synced()
