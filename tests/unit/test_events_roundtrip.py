"""Model -> Avro bytes -> model is the identity, for every event, Vietnamese text included."""

from __future__ import annotations

import io
import unicodedata
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.events import EVENT_TYPES, DossierSynced, Event
from bus.schemas import load_schema
from tests.strategies import EVENT_STRATEGIES, dossier_synced, sample_dossier

pytestmark = pytest.mark.unit


def avro_round_trip(event: Event, writer: Any = None, reader: Any = None) -> dict[str, Any]:
    writer = writer or event.avro_schema()
    reader = reader or type(event).avro_schema()
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer, event.to_avro())
    buffer.seek(0)
    record = fastavro.schemaless_reader(buffer, writer, reader)
    assert buffer.read() == b"", "the reader must consume exactly the bytes written"
    assert isinstance(record, dict)
    return record


def _all_text(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _all_text(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _all_text(v)]
    return []


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_avro_round_trip_is_identity(model: type[Event], data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[model])
    decoded = model.from_avro(avro_round_trip(event))
    assert decoded == event
    assert decoded.to_avro() == event.to_avro()


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_text_is_stored_in_nfc(model: type[Event], data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[model])
    texts = _all_text(event.model_dump(mode="json"))
    assert all(unicodedata.is_normalized("NFC", t) for t in texts)


def test_decomposed_vietnamese_is_normalised_and_survives_the_round_trip() -> None:
    base = sample_dossier()
    nfd = unicodedata.normalize("NFD", "Đăng ký khai sinh cho trẻ em người dân tộc thiểu số")
    event = DossierSynced.model_validate({**base.model_dump(), "procedure_name": nfd})
    assert event.procedure_name == unicodedata.normalize("NFC", nfd)
    assert event.procedure_name != nfd
    assert DossierSynced.from_avro(avro_round_trip(event)) == event


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=dossier_synced())
def test_v1_reader_reads_v2_bytes_and_v2_reader_reads_v1_bytes(event: DossierSynced) -> None:
    v1 = fastavro.parse_schema(load_schema("DossierSynced", 1))
    read_by_v1 = avro_round_trip(event, reader=v1)
    assert "result_digitised" not in read_by_v1

    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, v1, read_by_v1)
    buffer.seek(0)
    record = fastavro.schemaless_reader(buffer, v1, DossierSynced.avro_schema())
    assert isinstance(record, dict)
    old = DossierSynced.from_avro(record)
    assert old.result_digitised is None
    assert old == event.model_copy(update={"result_digitised": None})
