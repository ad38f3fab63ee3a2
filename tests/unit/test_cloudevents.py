"""CloudEvents: structured-mode JSON and Kafka binary-mode headers, both ways, and their errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.cloudevents import (
    format_epoch_millis,
    format_time,
    from_json,
    from_structured,
    kafka_headers,
    parse_kafka_headers,
    to_json,
    to_structured,
    verify_headers,
)
from bus.errors import UnknownAgencyError, UnknownEventTypeError, ValidationError
from bus.events import DossierSynced, Event, validate
from bus.events.rules.limits import datetime_of_millis
from tests.strategies import events, sample_dossier_synced, sample_meta

pytestmark = pytest.mark.unit


def _dossier(**meta: Any) -> DossierSynced:
    return validate(DossierSynced, sample_dossier_synced(meta=sample_meta(**meta)))


def _envelope(**changes: Any) -> dict[str, Any]:
    envelope = to_structured(_dossier())
    for key, value in changes.items():
        if value is None:
            envelope.pop(key, None)
        else:
            envelope[key] = value
    return envelope


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_structured_json_round_trip(event: Event) -> None:
    text = to_json(event)
    assert from_json(text) == event
    assert from_structured(json.loads(text)) == event


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_kafka_headers_round_trip(event: Event) -> None:
    headers = kafka_headers(event)
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
    attributes = parse_kafka_headers(headers)
    verify_headers(event, attributes)
    assert attributes["specversion"] == "1.0"
    assert attributes["id"] == event.meta.event_id
    assert attributes["source"] == event.meta.source
    assert attributes["type"] == event.AVRO_NAME
    assert attributes["datacontenttype"] == "application/avro"
    assert ("lgsppublishedat" in attributes) == (event.meta.published_at is not None)
    assert attributes.get("correlationid") == event.meta.correlation_id


def test_structured_form_of_a_dossier() -> None:
    published = datetime(2025, 7, 3, 2, 0, 0, 250_000, tzinfo=UTC)
    event = _dossier(correlation_id="req-42").with_published_at(published)
    envelope = to_structured(event)
    assert {k: v for k, v in envelope.items() if k != "data"} == {
        "specversion": "1.0",
        "id": "6f1c1a8e-9a53-4c3e-9a77-2f1f5f3b8d10",
        "source": "000.00.00.H29",
        "type": "vn.gov.lgsp.dossier.DossierSynced",
        "time": "2025-07-03T02:00:00.000Z",
        "subject": "000.00.04.H29-250701-0001",
        "datacontenttype": "application/json",
        "lgsppublishedat": "2025-07-03T02:00:00.250Z",
        "correlationid": "req-42",
    }
    assert "meta" not in envelope["data"]
    assert envelope["data"]["status"] == "RESOLVED"
    assert envelope["data"]["procedure_name"] == "Đăng ký khai sinh"
    assert from_structured(envelope) == event


def test_optional_attributes_may_be_left_out() -> None:
    envelope = _envelope(subject=None, datacontenttype=None)
    assert from_structured(envelope) == _dossier()


def test_unknown_extension_attributes_are_ignored() -> None:
    assert from_structured(_envelope(traceparent="00-abc-def-01")) == _dossier()


def test_content_type_parameters_are_accepted() -> None:
    assert from_structured(_envelope(datacontenttype="application/json; charset=utf-8")) == _dossier()


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type", "time"])
def test_missing_required_attribute(attribute: str) -> None:
    envelope = _envelope()
    del envelope[attribute]
    with pytest.raises(ValidationError) as caught:
        from_structured(envelope)
    assert (caught.value.field, caught.value.rule) == (attribute, "cloudevents.required")


BAD_ENVELOPES: list[tuple[dict[str, Any], str, str]] = [
    ({"specversion": "0.3"}, "specversion", "cloudevents.specversion"),
    ({"id": 42}, "id", "cloudevents.string"),
    ({"id": "not-a-uuid"}, "id", "uuid.format"),
    ({"time": "2025-07-03T09:00:00"}, "time", "timezone_aware"),
    ({"time": "yesterday"}, "time", "timestamp.format"),
    ({"source": "000.00.00.H99"}, "source", "agency_code.known"),
    ({"source": "ubnd-hcm"}, "source", "agency_code.shape"),
    ({"datacontenttype": "application/xml"}, "datacontenttype", "cloudevents.datacontenttype"),
    ({"data": "<xml/>"}, "data", "cloudevents.data"),
    ({"data_base64": "AAAA"}, "data", "cloudevents.data"),
    ({"subject": "another-dossier"}, "subject", "cloudevents.subject"),
    ({"lgsppublishedat": "2025-07-03"}, "lgsppublishedat", "timestamp.format"),
]


@pytest.mark.parametrize(("changes", "field", "rule"), BAD_ENVELOPES, ids=[r for _, _, r in BAD_ENVELOPES])
def test_bad_envelope(changes: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_structured(_envelope(**changes))
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert field in str(caught.value)


def test_unknown_source_agency_is_an_unknown_agency_error() -> None:
    with pytest.raises(UnknownAgencyError):
        from_structured(_envelope(source="000.00.00.H99"))


@pytest.mark.parametrize(
    ("data_changes", "field", "rule"),
    [
        ({"received_at": "2025-07-02T12:00:00Z"}, "data.finished_at", "dossier.finished_after_received"),
        ({"due_at": "2025-07-01T08:30:00"}, "data.due_at", "timezone_aware"),
        (
            {"processing_agency": {"code": "000.00.99.H99", "name": "x"}},
            "data.processing_agency.code",
            "agency_code.known",
        ),
        ({"status": "UNKNOWN", "finished_at": None}, "data.status", "enum.unknown_symbol"),
        ({"meta": {}}, "data.meta", "cloudevents.data"),
        ({"version": "four"}, "data.version", "int_type"),
    ],
)
def test_bad_data_names_the_data_path(data_changes: dict[str, Any], field: str, rule: str) -> None:
    envelope = _envelope()
    envelope["data"] = {**envelope["data"], **data_changes}
    with pytest.raises(ValidationError) as caught:
        from_structured(envelope)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_missing_data_field() -> None:
    envelope = _envelope()
    del envelope["data"]["received_at"]
    with pytest.raises(ValidationError) as caught:
        from_structured(envelope)
    assert (caught.value.field, caught.value.rule) == ("data.received_at", "missing")


def test_unknown_type() -> None:
    with pytest.raises(UnknownEventTypeError):
        from_structured(_envelope(type="vn.gov.lgsp.dossier.DossierDeleted"))


@pytest.mark.parametrize("text", ["{", "[1, 2]", "null", b"\xff\xfe"])
def test_not_an_object(text: str | bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        from_json(text)
    assert caught.value.field == "<root>"


def test_headers_are_case_insensitive_and_ignore_others() -> None:
    event = _dossier()
    headers = [(k.upper(), v) for k, v in kafka_headers(event)] + [("traceparent", b"00-1-2-01")]
    attributes = parse_kafka_headers(headers)
    verify_headers(event, attributes)
    assert "traceparent" not in attributes


@pytest.mark.parametrize("missing", ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"])
def test_headers_missing_required(missing: str) -> None:
    headers = [(k, v) for k, v in kafka_headers(_dossier()) if k != missing]
    with pytest.raises(ValidationError) as caught:
        parse_kafka_headers(headers)
    assert (caught.value.field, caught.value.rule) == (missing, "cloudevents.required")


@pytest.mark.parametrize(
    ("replace", "value", "rule"),
    [
        ("ce_specversion", b"0.3", "cloudevents.specversion"),
        ("ce_id", b"\xff", "cloudevents.encoding"),
    ],
)
def test_bad_headers(replace: str, value: bytes, rule: str) -> None:
    headers = [(k, value if k == replace else v) for k, v in kafka_headers(_dossier())]
    with pytest.raises(ValidationError) as caught:
        parse_kafka_headers(headers)
    assert (caught.value.field, caught.value.rule) == (replace, rule)


def test_duplicate_header() -> None:
    headers = [*kafka_headers(_dossier()), ("ce_id", b"6f1c1a8e-0000-4c3e-9a77-2f1f5f3b8d10")]
    with pytest.raises(ValidationError, match="given twice"):
        parse_kafka_headers(headers)


def test_headers_that_do_not_describe_the_event() -> None:
    event = _dossier()
    attributes = parse_kafka_headers(kafka_headers(event))
    verify_headers(event, {**attributes, "time": "2025-07-03T09:00:00+07:00"})  # same instant, other notation
    with pytest.raises(ValidationError) as caught:
        verify_headers(event, {**attributes, "type": "vn.gov.lgsp.report.ReportFiled"})
    assert (caught.value.field, caught.value.rule) == ("ce_type", "cloudevents.header_mismatch")


@settings(max_examples=500, deadline=None)
@given(millis=st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_a_time_in_epoch_millis_is_written_as_format_time_writes_its_datetime(millis: int) -> None:
    """From year 1 to 9999: the arithmetic clock and the cached date equal the datetime's own isoformat."""
    assert format_epoch_millis(millis) == format_time(datetime_of_millis(millis))
