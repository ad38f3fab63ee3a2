"""The ingress's checks before publishing: content types, sizes, JSON, events; and the problem documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from producers.ingress.problems import FieldError, ProblemError, ProblemKind, kind_for_status
from producers.ingress.requests import (
    BATCH_MEDIA_TYPES,
    SINGLE_MEDIA_TYPES,
    check_content_type,
    check_declared_length,
    expect_batch,
    expect_object,
    parse_json,
    read_limited,
    to_records,
)
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit


def _kind(exc: pytest.ExceptionInfo[ProblemError]) -> ProblemKind:
    return exc.value.kind


@pytest.mark.parametrize(
    "header",
    [
        "application/cloudevents+json",
        "application/json",
        "Application/JSON; charset=utf-8",
        'application/json;charset="UTF-8"',
    ],
)
def test_single_event_media_types_are_accepted(header: str) -> None:
    check_content_type(header, SINGLE_MEDIA_TYPES)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (None, SINGLE_MEDIA_TYPES),
        ("text/plain", SINGLE_MEDIA_TYPES),
        ("application/cloudevents-batch+json", SINGLE_MEDIA_TYPES),
        ("application/cloudevents+json", BATCH_MEDIA_TYPES),
        ("application/json; charset=latin-1", SINGLE_MEDIA_TYPES),
        ("multipart/form-data", BATCH_MEDIA_TYPES),
    ],
)
def test_other_media_types_are_415(header: str | None, allowed: frozenset[str]) -> None:
    with pytest.raises(ProblemError) as caught:
        check_content_type(header, allowed)
    assert _kind(caught) is ProblemKind.UNSUPPORTED_MEDIA_TYPE


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    check_declared_length("100", 100)
    check_declared_length(None, 100)
    with pytest.raises(ProblemError) as caught:
        check_declared_length("101", 100)
    assert _kind(caught) is ProblemKind.TOO_LARGE
    with pytest.raises(ProblemError) as caught:
        check_declared_length("ten", 100)
    assert _kind(caught) is ProblemKind.MALFORMED


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_streamed_body_is_cut_at_the_limit() -> None:
    assert await read_limited(_chunks(b"ab", b"cd"), 4) == b"abcd"
    with pytest.raises(ProblemError) as caught:
        await read_limited(_chunks(b"ab", b"cd", b"e"), 4)
    assert _kind(caught) is ProblemKind.TOO_LARGE


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"\xff\xfe{}", "utf-8"),
        (b'{"a": 1', "json"),
        (b"", "json"),
        ('{"a":"\u00e9"}'.encode("latin-1"), "utf-8"),
    ],
)
def test_bodies_that_are_not_utf8_json_are_400_naming_the_rule(body: bytes, rule: str) -> None:
    with pytest.raises(ProblemError) as caught:
        parse_json(body)
    assert _kind(caught) is ProblemKind.MALFORMED
    assert caught.value.errors[0].rule == rule


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b'{"source": "000.00.00.H29", "source": "000.00.00.G12"}', "json.unique-names"),
        (b'{"data": {"a": 1, "a": 2}}', "json.unique-names"),
        (b"[" * 100_000 + b"]" * 100_000, "json.depth"),
        (b'{"version": ' + b"9" * 5000 + b"}", "json.number"),
    ],
)
def test_duplicate_names_absurd_nesting_and_huge_numbers_are_400_not_500(body: bytes, rule: str) -> None:
    with pytest.raises(ProblemError) as caught:
        parse_json(body)
    assert _kind(caught) is ProblemKind.MALFORMED
    assert caught.value.errors[0].rule == rule


def test_a_date_at_the_edge_of_the_calendar_is_422_not_500() -> None:
    edge = samples.dossier(1) | {"time": "9999-12-31T23:59:59-10:00"}
    (error,) = _errors([edge], batch=False)
    assert error.rule in {"value.range", "timestamp.range"}


def test_nan_is_not_json() -> None:
    with pytest.raises(ProblemError) as caught:
        parse_json(b'{"value": NaN}')
    assert _kind(caught) is ProblemKind.MALFORMED


def test_vietnamese_text_survives_parsing() -> None:
    assert parse_json('{"s": "Đăng ký khai sinh"}'.encode()) == {"s": "Đăng ký khai sinh"}


def test_a_single_event_must_be_an_object_and_a_batch_an_array() -> None:
    with pytest.raises(ProblemError) as caught:
        expect_object([])
    assert _kind(caught) is ProblemKind.MALFORMED
    with pytest.raises(ProblemError) as caught:
        expect_batch({}, 10)
    assert _kind(caught) is ProblemKind.MALFORMED


def test_a_batch_over_the_count_is_413_and_an_empty_one_422() -> None:
    with pytest.raises(ProblemError) as caught:
        expect_batch([{}] * 11, 10)
    assert _kind(caught) is ProblemKind.TOO_LARGE
    with pytest.raises(ProblemError) as caught:
        expect_batch([], 10)
    assert _kind(caught) is ProblemKind.INVALID_EVENT


def _errors(items: list[Any], *, batch: bool = True) -> list[FieldError]:
    with pytest.raises(ProblemError) as caught:
        to_records(items, batch=batch)
    assert _kind(caught) is ProblemKind.INVALID_EVENT
    return list(caught.value.errors)


def test_valid_events_of_every_type_are_accepted() -> None:
    events = to_records(samples.mixed(8), batch=True)
    assert [e.name for e in events[:4]] == [
        "vn.gov.lgsp.dossier.DossierSynced",
        "vn.gov.lgsp.document.DocumentSent",
        "vn.gov.lgsp.document.DocumentStatusChanged",
        "vn.gov.lgsp.report.ReportFiled",
    ]


def test_each_bad_event_of_a_batch_is_named_with_its_field_and_rule() -> None:
    unknown_type = samples.dossier(1) | {"type": "vn.gov.lgsp.Nope"}
    missing = samples.dossier(2)
    del missing["data"]["procedure_code"]
    impossible_date = samples.document_sent(3)
    impossible_date["data"]["promulgation_date"] = "2025-02-30"
    unknown_agency = samples.report(4) | {"source": "000.00.00.G99"}
    bad_time = samples.dossier(5) | {"time": "yesterday"}
    errors = _errors(
        [samples.dossier(0), unknown_type, missing, impossible_date, unknown_agency, bad_time, 7]
    )
    found = {(e.field, e.rule) for e in errors}
    assert ("[1].type", "known-type") in found
    assert ("[2].data.procedure_code", "missing") in found
    assert any(f == "[3].data.promulgation_date" for f, _ in found)
    assert ("[4].source", "agency_code.known") in found
    assert any(f == "[5].time" for f, _ in found)
    assert ("[6]", "json.object") in found
    assert not any(f and f.startswith("[0]") for f, _ in found)


def test_a_timeline_that_cannot_be_is_named() -> None:
    backwards = samples.dossier(1)
    backwards["data"]["finished_at"] = "2020-01-01T00:00:00.000Z"
    (error,) = _errors([backwards], batch=False)
    assert error.field == "data.finished_at"
    assert error.rule == "dossier.finished_after_received"


def test_duplicate_ids_in_a_batch_are_422() -> None:
    first = samples.dossier(1)
    again = samples.dossier(2) | {"id": first["id"]}
    (error,) = _errors([first, again])
    assert (error.field, error.rule) == ("[1].id", "unique")


def test_a_problem_document_has_every_rfc9457_member_and_the_errors() -> None:
    problem = ProblemError(
        ProblemKind.INVALID_EVENT,
        "1 of 2 events breaks the contract",
        errors=[FieldError("[1].data.due_at", "dossier.due_after_received", "before received_at")],
        headers={"X-Test": "1"},
    )
    response = problem.response("/v1/events:batch")
    body = json.loads(bytes(response.body))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-test"] == "1"
    assert body == {
        "type": "/problems/invalid-event",
        "title": ProblemKind.INVALID_EVENT.title,
        "status": 422,
        "detail": "1 of 2 events breaks the contract",
        "instance": "/v1/events:batch",
        "errors": [
            {
                "field": "[1].data.due_at",
                "rule": "dossier.due_after_received",
                "message": "before received_at",
            }
        ],
    }


def test_framework_statuses_map_to_problem_kinds() -> None:
    assert kind_for_status(404) is ProblemKind.NOT_FOUND
    assert kind_for_status(405) is ProblemKind.METHOD_NOT_ALLOWED
    assert kind_for_status(502) is ProblemKind.INTERNAL
