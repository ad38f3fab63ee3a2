"""Injected events: duplicates are exact repeats; invalid events break one named rule and still fit Avro."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer

from bus.errors import ConfigError, ValidationError
from bus.settings import Settings
from producers.simulate import (
    AVRO_ENCODABLE_DEFECTS,
    Defect,
    Emission,
    EmissionKind,
    Simulation,
    SimulationConfig,
)
from producers.simulate.config import ALL_DEFECTS
from producers.simulate.run import Limits, publish

pytestmark = pytest.mark.unit

RULES = {
    Defect.UNKNOWN_AGENCY: "agency_code.known",
    Defect.FINISHED_BEFORE_RECEIVED: "dossier.finished_after_received",
    Defect.DUE_BEFORE_PROMULGATION: "document.due_after_promulgation",
}


@pytest.fixture(scope="module")
def emissions() -> list[Emission]:
    config = SimulationConfig(seed=3, duplicates=0.05, bad_ratio=0.05, defects=AVRO_ENCODABLE_DEFECTS)
    return list(itertools.islice(Simulation(config), 8000))


def test_duplicates_are_earlier_events_unchanged(emissions: list[Emission]) -> None:
    earlier: dict[str, object] = {}
    duplicates = 0
    for emission in emissions:
        event = emission.event
        if emission.kind is EmissionKind.DUPLICATE:
            assert earlier[event.meta.event_id] == event
            duplicates += 1
        elif emission.kind is not EmissionKind.INVALID:
            earlier[event.meta.event_id] = event
    assert duplicates == pytest.approx(0.05 * len(emissions), rel=0.25)


def test_invalid_events_encode_as_avro_and_fail_validation_when_read(emissions: list[Emission]) -> None:
    defects: Counter[Defect] = Counter()
    for emission in emissions:
        if emission.kind is not EmissionKind.INVALID:
            continue
        assert emission.defect is not None
        event = emission.event
        schema = type(event).avro_schema()
        buffer = io.BytesIO()
        schemaless_writer(buffer, schema, event.to_avro())
        buffer.seek(0)
        record = schemaless_reader(buffer, schema, schema)
        assert isinstance(record, dict)
        with pytest.raises(ValidationError) as raised:
            type(event).from_avro(record)
        assert raised.value.rule == RULES[emission.defect]
        defects[emission.defect] += 1
    assert set(defects) == set(AVRO_ENCODABLE_DEFECTS)


def test_invalid_events_have_fresh_ids(emissions: list[Emission]) -> None:
    ids = Counter(e.event.meta.event_id for e in emissions if e.kind is not EmissionKind.DUPLICATE)
    assert max(ids.values()) == 1


def test_missing_fields_are_left_out_of_the_json_only() -> None:
    config = SimulationConfig(seed=4, bad_ratio=0.2, defects=(Defect.MISSING_FIELD,))
    invalid = [e for e in itertools.islice(Simulation(config), 2000) if e.kind is EmissionKind.INVALID]
    assert invalid
    for emission in invalid:
        assert emission.drop_field is not None
        assert emission.drop_field not in emission.to_structured()["data"]
        assert emission.drop_field in type(emission.event).model_fields


@pytest.mark.parametrize(
    "changes",
    [{"duplicates": 1.0}, {"bad_ratio": -0.1}, {"duplicates": 0.6, "bad_ratio": 0.5}, {"scale": 0.0},
     {"bad_ratio": 0.1, "defects": ()}],
)  # fmt: skip
def test_impossible_configs_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SimulationConfig(**changes)


def test_all_defects_include_the_json_only_one() -> None:
    assert set(ALL_DEFECTS) - set(AVRO_ENCODABLE_DEFECTS) == {Defect.MISSING_FIELD}


async def test_kafka_runs_refuse_defects_that_cannot_be_encoded() -> None:
    simulation = Simulation(SimulationConfig(bad_ratio=0.1))  # every defect, missing fields included
    with pytest.raises(ConfigError, match="Avro-encodable"):
        await publish(simulation, Settings(), Limits(events=10))
