"""Content authorization (bus.authz): the asserted agencies of each event type, and the two rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bus.agencies import load_catalog
from bus.authz import (
    ASSERTED_FIELDS,
    Principal,
    Rule,
    asserted_agencies,
    asserted_by_event,
    assertion_key,
    event_refusals,
    rolls_up_to,
)
from bus.events.record import record_of
from bus.types import AgencyCode
from tests import publishing_samples as samples
from tests.attacks import ATTACKS

pytestmark = pytest.mark.unit

HCMC = Principal(AgencyCode(samples.HCMC))


def test_each_event_type_asserts_the_agencies_the_views_credit() -> None:
    assert asserted_by_event(samples.event(samples.document_sent(1))) == [
        ("sender", samples.GOV_OFFICE),
        ("document_id", samples.GOV_OFFICE),
    ]
    assert asserted_by_event(samples.event(samples.document_status(1))) == [
        ("reporting_agency", samples.HCMC)
    ]
    assert asserted_by_event(samples.event(samples.dossier(1))) == [
        ("processing_agency", samples.HCMC),
        ("province_code", samples.HCMC),  # province 79 asserts its People's Committee
    ]
    assert asserted_by_event(samples.event(samples.report(1))) == [("reporting_agency", samples.FINANCE)]


@pytest.mark.parametrize("build", samples.BUILDERS)
def test_the_model_and_the_raw_record_assert_the_same(build: Callable[..., dict[str, Any]]) -> None:
    event = samples.event(build(3))
    raw = record_of(event)
    assert asserted_agencies(raw.name, raw.avro) == asserted_by_event(event)


@pytest.mark.parametrize("build", samples.BUILDERS)
def test_records_with_the_same_assertion_key_assert_the_same_agencies(
    build: Callable[..., dict[str, Any]],
) -> None:
    """What the views' verifier remembers entitlements by: one key never stands for two lists of agencies
    (the attacks change the sender, agency or province), and records of one agency share it (two documents
    of one sender do, whatever their ids)."""
    records = [record_of(samples.event(build(n))) for n in range(1, 6)]
    attacks = [record_of(samples.event(attack())) for attack, _ in ATTACKS.values()]
    by_key: dict[tuple[str, tuple[str | None, ...]], list[tuple[str, str]]] = {}
    for record in [*records, *attacks]:
        key = (record.name, assertion_key(record.name, record.avro))
        asserted = asserted_agencies(record.name, record.avro)
        assert by_key.setdefault(key, asserted) == asserted
    assert len({(r.name, assertion_key(r.name, r.avro)) for r in records}) == 1


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_of_the_issue_is_refused_naming_its_fields(name: str) -> None:
    build, fields = ATTACKS[name]
    refused = event_refusals(HCMC, samples.event(build()))
    assert {f"data.{r.field}" for r in refused} == fields
    assert {r.rule for r in refused} == {Rule.AGENCY_ALLOWED}


def test_a_province_may_assert_its_departments_and_a_grant_extends_it() -> None:
    assert event_refusals(HCMC, samples.event(samples.dossier(1, source=samples.HCMC_JUSTICE))) == []
    granted = Principal(AgencyCode(samples.HCMC), frozenset({samples.FINANCE}))
    assert event_refusals(granted, samples.event(samples.report(1))) == []
    assert [r.rule for r in event_refusals(HCMC, samples.event(samples.report(1)))] == [
        Rule.SOURCE_ALLOWED,
        Rule.AGENCY_ALLOWED,
    ]


def test_source_must_roll_up_to_the_asserted_agency() -> None:
    catalog = load_catalog()
    assert rolls_up_to(samples.HCMC_JUSTICE, samples.HCMC, catalog)
    assert rolls_up_to("000.00.01.G22", samples.GOV_OFFICE, catalog)
    assert not rolls_up_to(samples.HANOI, samples.HCMC, catalog)
    assert not rolls_up_to(samples.HCMC, samples.HCMC_JUSTICE, catalog)  # a head is not its department
    # A key granted both units, publishing Finance's report under the Government Office's source.
    both = Principal(AgencyCode(samples.GOV_OFFICE), frozenset({samples.FINANCE}))
    refused = event_refusals(both, samples.event(samples.report(1, source=samples.GOV_OFFICE)))
    assert [(r.field, r.rule) for r in refused] == [("reporting_agency", Rule.SOURCE_ROLLUP)]


@pytest.mark.parametrize("build", samples.BUILDERS)
def test_the_compiled_assertion_key_reads_as_the_model_does_whatever_the_shape(
    build: Callable[..., dict[str, Any]],
) -> None:
    """The views' records take the compiled reading, a model the generic one; both agree, and a record of
    another shape (a field missing, a string or None where an agency is) is read as the generic reading
    reads it, never raised on."""
    event = samples.event(build(2))
    record = record_of(event)
    assert assertion_key(record.name, record.avro) == assertion_key(record.name, event)
    for name in record.avro:
        if name == "meta":
            continue
        for odd in (None, "H29", {"code": 7}, {}):
            shaped = {**record.avro, name: odd}
            expected = tuple(
                None if not isinstance(v, str) else (v.split(",", 1)[0] if field == "document_id" else v)
                for field, v in _asserted_values(record.name, shaped)
            )
            assert assertion_key(record.name, shaped) == expected
        missing = {k: v for k, v in record.avro.items() if k != name}
        assert len(assertion_key(record.name, missing)) == len(assertion_key(record.name, record.avro))


def _asserted_values(type_name: str, record: dict[str, Any]) -> list[tuple[str, Any]]:
    values = []
    for asserted in ASSERTED_FIELDS[type_name]:
        value: Any = record
        for part in asserted.path:
            value = value.get(part) if isinstance(value, dict) else None
        values.append((asserted.kind if asserted.kind == "document_id" else asserted.name, value))
    return values
