"""Dossier codes are validated: ``{agency}-{yyMMdd}-{sequence}``, the simulator's and the docs' form (#19).

One rule of the rule table (``dossier_code.format``): the model refuses a code out of form with a hint giving
the form and an example, and the views' compiled decode check (generated from the same table) refuses it too.
"""

from __future__ import annotations

from datetime import date

import pytest

from bus.cloudevents import from_structured, to_structured
from bus.errors import ValidationError
from bus.events import DossierSynced, make_dossier_code, validate
from bus.events.contract import compile_check
from bus.events.record import record_of
from bus.events.rules import DOSSIER_CODE_FORM
from tests.strategies import sample_dossier_synced

pytestmark = pytest.mark.unit

BROKEN = [
    ("D-1", "is not {processing agency code}-{yyMMdd received}"),
    ("000.00.04.H29-250701-12", "is not {processing agency code}"),  # sequence too short
    ("000.00.04.H29-250701-1234567", "is not {processing agency code}"),  # too long
    ("000.00.04.h29-250701-0001", "is not {processing agency code}"),  # lower case
    ("H29.99-250701-000123", "'H29.99' in dossier code"),  # the form the old docs showed
    ("000.00.04.H29-251301-0001", "'251301' in dossier code"),  # month 13
    ("000.00.04.H29-250231-0001", "'250231' in dossier code"),  # 31 February
]


def test_the_sdk_makes_the_documented_form_and_the_model_accepts_it() -> None:
    code = make_dossier_code("000.00.00.H41", date(2025, 7, 1), 65)
    assert code == "000.00.00.H41-250701-0065"
    assert make_dossier_code("000.00.00.H41", date(2025, 7, 1), 123456).endswith("-123456")
    assert validate(DossierSynced, sample_dossier_synced(dossier_code=code)).dossier_code == code


@pytest.mark.parametrize(("code", "message"), BROKEN)
def test_a_code_out_of_form_is_one_entry_with_the_form_and_an_example(code: str, message: str) -> None:
    envelope = to_structured(validate(DossierSynced, sample_dossier_synced()))
    envelope.pop("subject")
    envelope["data"]["dossier_code"] = code
    with pytest.raises(ValidationError) as caught:
        from_structured(envelope)
    (problem,) = caught.value.problems
    assert (problem.field, problem.rule) == ("data.dossier_code", "dossier_code.format")
    assert message in problem.message
    assert problem.hint == f"{DOSSIER_CODE_FORM}, e.g. 000.00.00.H41-250701-0065"
    assert "{sequence of 4 to 6 digits}" in DOSSIER_CODE_FORM


@pytest.mark.parametrize(("code", "message"), BROKEN)
def test_the_views_decode_check_refuses_what_the_model_refuses(code: str, message: str) -> None:
    check = compile_check(DossierSynced)
    record = record_of(validate(DossierSynced, sample_dossier_synced())).avro
    assert check(dict(record))
    assert not check(dict(record) | {"dossier_code": code})
