"""The views' decode path (``bus.events.record``, ``AvroDeserializer.deserialize_record``) changes nothing.

A compiled check may refuse more than the model does, never less, and what it accepts must read exactly as the
model reads it. Held on generated events, on records broken one rule at a time (the breakers of
``test_events_decode``), and through the serde: unusual but valid input (upper-case ids, decomposed text),
an older writer's schema, and poison records, which must fail with the model's own error.
"""

from __future__ import annotations

import io
import pickle
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.avro_plain import plain_schema
from bus.errors import ValidationError
from bus.events import EVENT_TYPES, DossierSynced, Event
from bus.events.contract import check_for
from bus.events.record import EventRecord, plain_value, record_of
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import RegistrySettings
from tests.serde_samples import DossierSyncedV1, dossier
from tests.strategies import events
from tests.unit.registry_fake import FakeRegistry
from tests.unit.test_events_decode import BREAKERS

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CTX = SerializationContext("lgsp.test")
BASE = datetime(2025, 7, 1, 3, 4, 5, 678000, tzinfo=UTC)


def plain_read(event: Event) -> dict[str, Any]:
    """The event's bytes read back without logical types, as ``deserialize_record`` reads them."""
    model = type(event)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, model.avro_schema(), event.to_avro())
    buffer.seek(0)
    bare = fastavro.parse_schema(plain_schema(model.avro_schema_source()))
    record = fastavro.schemaless_reader(buffer, bare, None)
    assert isinstance(record, dict)
    return record


@SETTINGS
@given(event=events())
def test_every_valid_event_passes_its_check_and_reads_as_the_model(event: Event) -> None:
    check = check_for(event.AVRO_NAME)
    assert check is not None
    record = plain_read(event)
    assert check(record)
    assert EventRecord(event.AVRO_NAME, record) == record_of(event)


def test_every_event_type_has_a_check() -> None:
    assert all(check_for(name) is not None for name in EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(BREAKERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_broken_rule_is_never_let_through(name: str, data: st.DataObject) -> None:
    broken = BREAKERS[name](data.draw)  # type: ignore[arg-type]  # DataObject.draw draws like a DrawFn
    check = check_for(broken.event.AVRO_NAME)
    assert check is not None
    with pytest.raises(ValidationError):
        type(broken.event).from_avro(broken.record)
    assert not check(plain_value(broken.record))


# --- through the serde ------------------------------------------------------------------------------------


async def _no_sleep(delay: float) -> None:
    return None


@pytest.fixture
async def registry() -> AsyncIterator[SchemaRegistryClient]:
    fake = FakeRegistry()
    config = RegistrySettings(url="http://registry.test/apis/ccompat/v7")
    async with SchemaRegistryClient(config, transport=fake.transport(), sleep=_no_sleep) as client:
        yield client


async def _prepared(registry: SchemaRegistryClient, data: bytes) -> AvroDeserializer:
    deserializer = AvroDeserializer(registry)
    assert await deserializer.prepare_ids([deserializer.schema_id_of(data)]) == {}
    return deserializer


async def _framed(registry: SchemaRegistryClient, model: type[Event], record: dict[str, Any]) -> bytes:
    """``record`` written with ``model``'s schema, framed with its registered id."""
    serializer = AvroSerializer(registry, auto_register=True)
    await serializer.prepare([model])
    return serializer.serialize_record(model, record, CTX)


async def test_unusual_but_valid_input_reads_as_the_model_reads_it(registry: SchemaRegistryClient) -> None:
    event = dossier(3, sector_name="Tư pháp")
    record = event.to_avro()
    record["meta"] = {**record["meta"], "event_id": record["meta"]["event_id"].upper()}
    record["sector_name"] = unicodedata.normalize("NFD", record["sector_name"])
    data = await _framed(registry, DossierSynced, record)
    deserializer = await _prepared(registry, data)
    read = deserializer.deserialize_record(data, CTX)
    assert type(read) is EventRecord
    assert read == record_of(deserializer.deserialize(data, CTX)) == record_of(event)


def test_a_record_names_its_meta_and_survives_the_trip_from_a_decode_worker() -> None:
    event = dossier(5)
    stamped = event.model_copy(update={"meta": event.meta.model_copy(update={"published_at": BASE})})
    record, published = record_of(event), record_of(stamped)
    occurred = int(event.meta.occurred_at.timestamp() * 1000)
    assert (record.name, record.short_name) == ("vn.gov.lgsp.dossier.DossierSynced", "DossierSynced")
    assert (record.event_id, record.source) == (str(event.meta.event_id), event.meta.source)
    assert (record.occurred_ms, record.published_ms) == (occurred, None)
    assert published.published_ms == int(BASE.timestamp() * 1000)
    assert pickle.loads(pickle.dumps(record)) == record  # noqa: S301 - our own bytes, as the decode workers send them


async def test_a_poison_record_fails_with_the_models_error(registry: SchemaRegistryClient) -> None:
    event = dossier(4)
    record = event.to_avro()
    record["due_at"] = record["received_at"].replace(year=record["received_at"].year - 1)
    data = await _framed(registry, DossierSynced, record)
    deserializer = await _prepared(registry, data)
    with pytest.raises(ValidationError) as record_error:
        deserializer.deserialize_record(data, CTX)
    with pytest.raises(ValidationError) as model_error:
        deserializer.deserialize(data, CTX)
    assert (record_error.value.field, record_error.value.rule, str(record_error.value)) == (
        model_error.value.field,
        model_error.value.rule,
        str(model_error.value),
    )


async def test_an_older_writer_reads_through_schema_resolution(registry: SchemaRegistryClient) -> None:
    written = dossier(2, model=DossierSyncedV1)
    data = await _framed(registry, DossierSyncedV1, written.to_avro())
    deserializer = await _prepared(registry, data)
    assert deserializer.deserialize_record(data, CTX) == record_of(deserializer.deserialize(data, CTX))
