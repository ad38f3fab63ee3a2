"""Agency names are checked against the catalog where it lists the unit (#19): one rule, both paths.

Rule ``agency_name.matches_catalog`` of the rule table runs on every agency reference (sender, recipients,
reporting and processing agency): in the models (the ingress, the SDK) and in the views' compiled decode
check, so an event written to Kafka with a wrong name is dead-lettered with the same entry.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest

from bus.cloudevents import from_structured, to_structured
from bus.errors import ValidationError
from bus.events import DocumentSent, DossierSynced, validate
from bus.events.contract import compile_check
from bus.events.record import record_of
from bus.events.rules import comparable_name
from tests.strategies import sample_document_sent, sample_dossier_synced
from tests.unit.dead_letters import dead_letter_headers

pytestmark = pytest.mark.unit

JUSTICE = "000.00.03.H29"
JUSTICE_NAME = "Sở Tư pháp thành phố Hồ Chí Minh"
HINT = f"write the catalog's name of {JUSTICE}: {JUSTICE_NAME!r}"


def _envelope(name: str, code: str = JUSTICE) -> dict[str, Any]:
    envelope = to_structured(validate(DossierSynced, sample_dossier_synced()))
    envelope.pop("subject")
    envelope["data"]["processing_agency"] = {"code": code, "name": name}
    return envelope


@pytest.mark.parametrize(
    "name",
    [
        JUSTICE_NAME,
        "SỞ TƯ PHÁP THÀNH PHỐ HỒ CHÍ MINH",  # case
        "  Sở Tư pháp  thành phố\u00a0Hồ Chí Minh ",  # runs of spaces, a no-break space
        unicodedata.normalize("NFD", JUSTICE_NAME),  # decomposed
    ],
)
def test_the_catalogs_name_in_any_case_spacing_or_normal_form_is_accepted(name: str) -> None:
    assert from_structured(_envelope(name)).processing_agency.code == JUSTICE  # type: ignore[attr-defined]


def test_old_and_new_tone_placement_are_the_same_name() -> None:
    assert comparable_name("Uỷ ban nhân dân tỉnh Khánh Hoà") == comparable_name(
        "Ủy ban nhân dân tỉnh Khánh Hòa"
    )
    assert comparable_name("Uỷ ban") != comparable_name("Uy ban")  # a missing tone is a different name
    envelope = _envelope("Uỷ ban nhân dân thành phố Hồ Chí Minh", "000.00.00.H29")
    assert from_structured(envelope).processing_agency.code == "000.00.00.H29"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name",
    [
        "So Tu phap thanh pho Ho Chi Minh",  # no diacritics
        "Sở Tư pháp",  # shortened
        "Sở Tư pháp TP Hồ Chí Minh",  # abbreviated
        "Sở Tài chính thành phố Hồ Chí Minh",  # another unit's name
    ],
)
def test_another_name_is_one_entry_naming_the_expected_name(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_structured(_envelope(name))
    (problem,) = caught.value.problems
    assert (problem.field, problem.rule) == ("data.processing_agency.name", "agency_name.matches_catalog")
    assert JUSTICE_NAME in problem.message
    assert problem.hint is not None
    assert problem.hint.startswith(HINT), problem.hint


def test_a_unit_the_catalog_does_not_list_may_have_any_name() -> None:
    event = from_structured(_envelope("Phòng Tư pháp phường Bến Nghé", "000.12.34.H29"))
    assert event.processing_agency.name == "Phòng Tư pháp phường Bến Nghé"  # type: ignore[attr-defined]


def test_every_agency_reference_is_checked() -> None:
    recipients = [{"code": "000.00.00.H41", "name": "UBND tỉnh Nghệ An"}]
    with pytest.raises(ValidationError) as caught:
        validate(DocumentSent, sample_document_sent(recipients=recipients))
    # one entry: not also "recipients: too_short", which pydantic counts without the failed item
    (problem,) = caught.value.problems
    assert (problem.field, problem.rule) == ("recipients[0].name", "agency_name.matches_catalog")
    assert problem.hint is not None
    assert "'Ủy ban nhân dân tỉnh Nghệ An'" in problem.hint


def test_the_views_decode_check_refuses_what_the_model_refuses() -> None:
    check = compile_check(DossierSynced)
    record = record_of(validate(DossierSynced, sample_dossier_synced())).avro
    assert check(dict(record))
    renamed = dict(record) | {"processing_agency": {"code": JUSTICE, "name": "Sở Tư pháp"}}
    assert not check(renamed)
    recased = dict(record) | {"processing_agency": {"code": JUSTICE, "name": JUSTICE_NAME.upper()}}
    assert check(recased)


async def test_an_event_written_to_kafka_with_a_wrong_name_is_dead_lettered_with_the_hint() -> None:
    record = validate(DossierSynced, sample_dossier_synced()).to_avro()
    record["processing_agency"] = {
        "code": JUSTICE,
        "name": "So Tu phap (wrong name)",
    }  # as a raw producer could
    headers = await dead_letter_headers(record)
    (entry,) = json.loads(headers["lgsp_dlq_errors"])
    assert (entry["field"], entry["rule"]) == ("processing_agency.name", "agency_name.matches_catalog")
    assert entry["hint"].startswith(HINT)
