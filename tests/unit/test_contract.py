"""The compiled contract reads its limits from the rule table, not from numbers of its own.

The equivalence with the models (never less strict, same reading) is held by test_event_record.py on generated
events and every broken rule; here: that a row of the table, changed, changes both the model and the compiled
check, and that the compiler refuses what it cannot compile faithfully.
"""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import ValidationError as PydanticValidationError

from bus.events import EVENT_TYPES, DocumentSent, rules
from bus.events._base import Text
from bus.events.contract import _Compiler, _fullmatch, check_for, check_source, compile_check
from bus.events.record import record_of
from bus.events.rules import RECORD_RULES, Limits
from tests.serde_samples import dossier as sample_dossier

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_type_compiles_with_every_field_checked(name: str) -> None:
    model = EVENT_TYPES[name]
    source, _ = check_source(model)
    for field in model.model_fields:
        assert f"r.get({field!r})" in source
    assert (f"_first_violation({name!r}" in source) == (name in RECORD_RULES)


def test_the_limits_in_the_compiled_check_are_the_tables() -> None:
    source, _ = check_source(DocumentSent)
    assert f"1 <= len(v10) <= {rules.LONG_TEXT.max_length}" in source  # subject
    assert f"1 <= len(v4) <= {rules.CODE_NUMBER.max_length}" in source  # code_number: TEXT then its own row
    assert f"{rules.RECIPIENTS.min_length} <= len(v3) <= {rules.RECIPIENTS.max_length}" in source


def test_a_changed_row_changes_the_model_and_the_check_alike() -> None:
    dossier = sample_dossier(1)
    record = record_of(dossier).avro
    check = compile_check(type(dossier))
    assert check(record)
    narrow = Limits(max_length=len(dossier.sector_code) - 1)
    compiler = _Compiler()
    out: list[str] = []
    compiler.value("string", Annotated[Text, narrow], "v", out, None)
    assert f"1 <= len(v) <= {len(dossier.sector_code) - 1}" in out[0]

    class Narrowed(type(dossier)):  # type: ignore[misc]  # a subclass of a dynamically known model
        sector_code: Annotated[Text, narrow]

    with pytest.raises(PydanticValidationError, match="at most"):
        Narrowed.model_validate(dossier.model_dump())


def test_an_unanchored_pattern_is_refused() -> None:
    assert _fullmatch(r"^\S+$")("a") is not None
    assert _fullmatch(r"^\S+$")("a\n") is None  # Python's $ would match before the newline
    with pytest.raises(TypeError, match="anchored"):
        _fullmatch(r"\S+")


def test_check_for_is_compiled_once_per_type() -> None:
    name = "vn.gov.lgsp.dossier.DossierSynced"
    assert check_for(name) is check_for(name)
    assert check_for("vn.gov.lgsp.Nope") is None
