"""Each event model matches the latest version of its .avsc: names, types, optionality, symbols, defaults."""

from __future__ import annotations

from typing import Annotated, ClassVar

import pytest
from pydantic import Field

from bus.events import EVENT_TYPES, DossierSynced, Event, PeriodType, ReportFiled
from bus.events._base import Int, Long
from bus.events._shape import model_shape, schema_drift, schema_shape
from bus.schemas import load_schema, schema_versions

pytestmark = pytest.mark.unit

MODELS = list(EVENT_TYPES.values())


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_matches_its_latest_schema(model: type[Event]) -> None:
    assert schema_drift(model) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_uses_the_latest_schema_version(model: type[Event]) -> None:
    assert schema_versions(model.AVRO_NAME)[-1] == model.SCHEMA_VERSION


def test_drift_names_an_added_field() -> None:
    class Wider(DossierSynced):
        payment_method: str | None = None

    problems = schema_drift(Wider)
    assert len(problems) == 1
    assert "payment_method" in problems[0]


def test_drift_names_an_older_schema_version() -> None:
    problems = schema_drift(DossierSynced, 1)
    assert any("result_digitised" in p for p in problems)


def test_drift_sees_a_type_change() -> None:
    class Narrower(ReportFiled):
        SCHEMA_VERSION: ClassVar[int] = 1
        revision: Annotated[Long, Field(ge=0)]  # the schema says int

    assert schema_drift(Narrower) == [
        "vn.gov.lgsp.report.ReportFiled.revision.type: the schema says 'int', the model says 'long'"
    ]


def test_drift_sees_an_optionality_change() -> None:
    class Required(ReportFiled):
        period_number: Annotated[Int, Field(ge=1)] | None = None  # type: ignore[assignment]

    problems = schema_drift(Required)
    assert any("period_number" in p and "default" in p for p in problems)
    assert any("period_number.type" in p for p in problems)


def test_drift_sees_enum_symbols_and_defaults() -> None:
    schema = load_schema("ReportFiled")
    period = next(f for f in schema["fields"] if f["name"] == "period_type")
    period["type"]["symbols"].append("WEEK")
    period["type"]["default"] = "MONTH"
    expected = schema_shape(schema)
    actual = model_shape(ReportFiled)
    assert expected != actual
    assert [s.value for s in PeriodType] == ["UNKNOWN", "MONTH", "QUARTER", "HALF_YEAR", "YEAR"]


def test_drift_sees_a_changed_field_default() -> None:
    schema = load_schema("DossierSynced")
    field = next(f for f in schema["fields"] if f["name"] == "result_digitised")
    field["type"] = ["boolean", "null"]
    field["default"] = False
    assert schema_shape(schema) != model_shape(DossierSynced)
