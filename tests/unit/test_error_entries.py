"""One error entry per broken rule, envelope and data together, each with a hint where a fix is known (#19).

The integrator's complaints, each held here: several mistakes came back as one entry; an envelope error hid
the errors in ``data``; "Input should have timezone info" with no example; a portal timestamp
(``yyyyMMddHHmmss``) without the expected form; a malformed agency code called "not in the catalog"; an
unknown type without the nearest one. The same entries reach the ingress's 422 and the DLQ's headers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bus.cloudevents import from_structured, to_structured
from bus.errors import Problem, UnknownEventTypeError, ValidationError
from bus.events import DocumentSent, DossierSynced, validate
from producers.ingress.problems import ProblemError
from producers.ingress.requests import to_records
from tests.strategies import sample_document_sent, sample_dossier_synced
from tests.unit.dead_letters import dead_letter_headers

pytestmark = pytest.mark.unit


def _envelope(**data_changes: Any) -> dict[str, Any]:
    envelope = to_structured(validate(DossierSynced, sample_dossier_synced()))
    envelope.pop("subject")
    data = envelope["data"]
    for name, value in data_changes.items():
        if value is _DROP:
            del data[name]
        else:
            data[name] = value
    return envelope


_DROP = object()


def _problems(envelope: dict[str, Any]) -> dict[str, Problem]:
    with pytest.raises(ValidationError) as caught:
        from_structured(envelope)
    found = {problem.field or "": problem for problem in caught.value.problems}
    assert len(found) == len(caught.value.problems), "one entry per field here"
    return found


FIVE_MISTAKES = {
    "time": ("timezone_aware", "+07:00"),
    "source": ("agency_code.shape", "malformed"),
    "data.status": ("missing", "add data.status"),
    "data.channel": ("enum", "'ONLINE'"),
    "data.sectr_name": ("extra_forbidden", "'sector_name'"),
}


def _five_mistakes() -> dict[str, Any]:
    envelope = _envelope(status=_DROP, channel="online", sectr_name="Hộ tịch")
    envelope["time"] = "2025-07-01T09:30:00"  # no offset
    envelope["source"] = "000.00.00.h41"  # malformed: lower case
    return envelope


def test_five_independent_mistakes_get_five_entries_each_with_its_fix() -> None:
    found = _problems(_five_mistakes())
    assert set(found) == set(FIVE_MISTAKES)
    for field, (rule, hint) in FIVE_MISTAKES.items():
        problem = found[field]
        assert problem.rule == rule, field
        assert problem.hint is not None, field
        assert hint in problem.hint, (field, problem.hint)
        assert problem.message


def test_the_ingress_answers_the_five_entries_with_hints() -> None:
    with pytest.raises(ProblemError) as caught:
        to_records([_five_mistakes()], batch=False)
    entries = caught.value.body("/v1/events")["errors"]
    assert {entry["field"] for entry in entries} == set(FIVE_MISTAKES)
    assert all({"field", "rule", "message", "hint"} <= entry.keys() for entry in entries)
    with pytest.raises(ProblemError) as batch:
        to_records([_envelope(), _five_mistakes()], batch=True)
    fields = {entry["field"] for entry in batch.value.body("/v1/events:batch")["errors"]}
    assert fields == {f"[1].{field}" for field in FIVE_MISTAKES}


def test_an_envelope_error_does_not_hide_the_data_errors() -> None:
    envelope = _envelope(version=-1)
    envelope["specversion"] = "0.3"
    envelope["id"] = "not-a-uuid"
    found = _problems(envelope)
    assert found.keys() == {"specversion", "id", "data.version"}
    assert found["specversion"].hint == 'write "specversion": "1.0"'
    assert found["id"].rule == "uuid.format"


def test_missing_status_and_version_and_a_lower_case_channel_are_three_entries() -> None:
    found = _problems(_envelope(status=_DROP, version=_DROP, channel="online"))
    assert {field: problem.rule for field, problem in found.items()} == {
        "data.status": "missing",
        "data.version": "missing",
        "data.channel": "enum",
    }
    assert found["data.channel"].hint == "did you mean 'ONLINE'?"


@pytest.mark.parametrize(
    ("value", "rule", "hint"),
    [
        (
            "2025-07-01T09:30:00",
            "timezone_aware",
            "add a UTC offset such as +07:00: 2025-07-01T09:30:00+07:00",
        ),
        ("20250701093000", "timestamp.format", "is 2025-07-01T09:30:00+07:00"),
        ("01/07/2025 09:30", "timestamp.format", "such as 2025-07-01T09:30:00+07:00"),
        (1751336000, "timestamp.type", "not a number of (milli)seconds"),
    ],
)
def test_a_time_gets_the_expected_form_with_an_example(value: Any, rule: str, hint: str) -> None:
    found = _problems(_envelope(received_at=value))["data.received_at"]
    assert found.rule == rule
    assert found.hint is not None
    assert hint in found.hint


def test_a_date_gets_the_expected_form() -> None:
    with pytest.raises(ValidationError) as caught:
        validate(DocumentSent, sample_document_sent(due_date="01/07/2025"))
    problem = caught.value.problems[0]
    assert (problem.field, problem.rule) == ("due_date", "date.format")
    assert problem.hint == "write a date as YYYY-MM-DD, such as 2025-07-01"


@pytest.mark.parametrize(
    ("code", "rule", "hint"),
    [
        ("000.00.00.h41", "agency_code.shape", "malformed: an agency code is groups of 3, 2, 2 and 3"),
        ("000.00.3.H41", "agency_code.shape", "malformed: an agency code is groups of 3, 2, 2 and 3"),
        ("000.00.01.H99", "agency_code.known", "unknown: well-formed, but H99 is no province's"),
    ],
)
def test_malformed_and_unknown_agency_codes_are_told_apart(code: str, rule: str, hint: str) -> None:
    found = _problems(_envelope(processing_agency={"code": code, "name": "Sở Tư pháp"}))
    problem = found["data.processing_agency.code"]
    assert problem.rule == rule
    assert problem.hint is not None
    assert problem.hint.startswith(hint), problem.hint


def test_an_unknown_code_names_the_nearest_known_ones() -> None:
    found = _problems(_envelope(processing_agency={"code": "000.00.01.H98", "name": "Sở Tư pháp"}))
    hint = found["data.processing_agency.code"].hint
    assert hint is not None
    assert "nearest listed: 000.00.01.H" in hint


def test_an_unknown_type_names_the_nearest_known_type() -> None:
    envelope = _envelope()
    envelope["type"] = "vn.gov.lgsp.dossier.DossierSync"
    with pytest.raises(UnknownEventTypeError) as caught:
        from_structured(envelope)
    assert caught.value.hint == "did you mean 'vn.gov.lgsp.dossier.DossierSynced'?"
    envelope["type"] = "DossierSynced"
    with pytest.raises(UnknownEventTypeError) as short:
        from_structured(envelope)
    assert short.value.hint == "did you mean 'vn.gov.lgsp.dossier.DossierSynced'?"


def test_an_unknown_type_beside_other_envelope_errors_is_one_entry_among_them() -> None:
    envelope = _envelope()
    envelope["type"] = "vn.gov.lgsp.dossier.DossierSync"
    del envelope["id"]
    found = _problems(envelope)
    assert {field: problem.rule for field, problem in found.items()} == {
        "id": "cloudevents.required",
        "type": "known-type",
    }


def test_rules_across_fields_still_report_precisely() -> None:
    found = _problems(_envelope(due_at="2025-06-01T00:00:00Z"))
    assert found["data.due_at"].rule == "dossier.due_after_received"


# --- the same entries in the dead-letter headers --------------------------------------------------------


async def test_a_dead_letter_carries_one_entry_per_broken_rule() -> None:
    record = validate(DossierSynced, sample_dossier_synced()).to_avro()
    record["processing_agency"] = {"code": "000.00.00.h29", "name": "Sở\u202eTư pháp"}  # two rules broken
    headers = await dead_letter_headers(record)
    entries = json.loads(headers["lgsp_dlq_errors"])
    assert {(entry["field"], entry["rule"]) for entry in entries} == {
        ("processing_agency.code", "agency_code.shape"),
        ("processing_agency.name", "text.control_chars"),
    }
    assert all(entry.get("hint") for entry in entries)
    assert "processing_agency.code" in headers["lgsp_dlq_message"].decode()
