"""The Avro serde against an in-memory registry: wire format, caching, schema resolution, every error path."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from io import BytesIO
from typing import Any

import httpx
import pytest
from fastavro import schemaless_reader, schemaless_writer

from bus.errors import (
    RegistryUnavailableError,
    SerializationError,
    UnknownEventTypeError,
    UnknownRecordError,
    UnknownSchemaError,
    ValidationError,
)
from bus.events import DossierSynced
from bus.registry import SchemaRegistryClient
from bus.serde import HEADER, AvroDeserializer, AvroSerializer, SerializationContext, subject_for
from bus.settings import RegistrySettings
from bus.types import SchemaId
from tests.serde_samples import DossierSyncedV1, dossier
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.unit

CTX = SerializationContext("lgsp.dossiers")
SUBJECT = "vn.gov.lgsp.dossier.DossierSynced"


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


async def _no_sleep(delay: float) -> None:
    return None


@pytest.fixture
async def registry(fake: FakeRegistry) -> AsyncIterator[SchemaRegistryClient]:
    settings = RegistrySettings(url="http://registry.test/apis/ccompat/v7")
    async with SchemaRegistryClient(settings, transport=fake.transport(), sleep=_no_sleep) as client:
        yield client


@pytest.fixture
async def serializer(registry: SchemaRegistryClient) -> AvroSerializer:
    serializer = AvroSerializer(registry, auto_register=True)
    await serializer.prepare([DossierSynced])
    return serializer


async def decode(deserializer: AvroDeserializer, data: bytes) -> Any:
    assert await deserializer.prepare_ids([deserializer.schema_id_of(data)]) == {}
    return deserializer.deserialize(data, CTX)


def test_subject_is_the_record_full_name() -> None:
    assert subject_for(DossierSynced) == SUBJECT == subject_for(SUBJECT)


async def test_wire_format_is_magic_id_then_avro_binary(
    serializer: AvroSerializer, fake: FakeRegistry
) -> None:
    event = dossier(1)
    data = serializer.serialize(event, CTX)
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert (magic, schema_id) == (0, fake.ids[next(iter(fake.ids))])
    expected = BytesIO()
    schemaless_writer(expected, DossierSynced.avro_schema(), event.to_avro())
    assert data[5:] == expected.getvalue()


async def test_round_trip_is_the_identity(serializer: AvroSerializer, registry: SchemaRegistryClient) -> None:
    event = dossier(7, procedure_name="Cấp đổi giấy phép lái xe — “toàn trình” ở Thừa Thiên Huế")
    assert await decode(AvroDeserializer(registry), serializer.serialize(event, CTX)) == event


async def test_one_client_one_cache(
    serializer: AvroSerializer, registry: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    await serializer.prepare([DossierSynced])
    data = serializer.serialize(dossier(), CTX)
    await decode(AvroDeserializer(registry), data)
    assert [r.method for r in fake.requests] == ["POST"]  # the id registered is known for reading, too


async def test_without_auto_register_an_unregistered_schema_says_what_to_run(
    registry: SchemaRegistryClient,
) -> None:
    with pytest.raises(SerializationError, match="lgsp schemas register"):
        await AvroSerializer(registry).prepare([DossierSynced])


async def test_without_auto_register_a_registered_schema_is_looked_up(
    registry: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    schema_id = fake.add(SUBJECT, DossierSynced.avro_schema_source())
    serializer = AvroSerializer(registry)
    await serializer.prepare([DossierSynced])
    assert AvroDeserializer.schema_id_of(serializer.serialize(dossier(), CTX)) == schema_id
    assert fake.requests[0].url.path.endswith(f"/subjects/{SUBJECT}")


async def test_an_unprepared_type_is_refused(registry: SchemaRegistryClient) -> None:
    with pytest.raises(SerializationError, match="prepare"):
        AvroSerializer(registry).serialize(dossier(), CTX)


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"", "too short"), (b"\x00\x00\x00\x01", "too short"), (b"\x01\x00\x00\x00\x01\x02", "magic byte 1")],
)
def test_schema_id_of_rejects_bad_framing(data: bytes, problem: str) -> None:
    with pytest.raises(SerializationError, match=problem):
        AvroDeserializer.schema_id_of(data)


async def test_unknown_id_is_an_unknown_schema(registry: SchemaRegistryClient) -> None:
    failed = await AvroDeserializer(registry).prepare_ids([SchemaId(42)])
    assert isinstance(failed[SchemaId(42)], UnknownSchemaError)


async def test_registry_outage_is_a_retriable_failure(
    registry: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    fake.fail_next = [httpx.ConnectError("refused")] * 4
    failed = await AvroDeserializer(registry).prepare_ids([SchemaId(1)])
    assert isinstance(failed[SchemaId(1)], RegistryUnavailableError)
    assert failed[SchemaId(1)].retriable


async def test_many_unknown_ids_are_fetched_with_bounded_concurrency() -> None:
    in_flight, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(404, json={"error_code": 40403, "message": "No content"})

    settings = RegistrySettings(url="http://registry.test/apis/ccompat/v7")
    async with SchemaRegistryClient(settings, transport=httpx.MockTransport(handler)) as registry:
        failed = await AvroDeserializer(registry).prepare_ids(SchemaId(i) for i in range(1, 201))
    assert len(failed) == 200
    assert all(isinstance(e, UnknownSchemaError) for e in failed.values())
    assert 1 < peak <= 8


async def test_failures_are_asked_again_on_the_next_prepare(
    registry: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    deserializer = AvroDeserializer(registry)
    assert SchemaId(1) in await deserializer.prepare_ids([SchemaId(1)])
    fake.add(SUBJECT, DossierSynced.avro_schema_source())
    assert await deserializer.prepare_ids([SchemaId(1)]) == {}


async def test_a_record_without_a_model_is_an_unknown_record(
    registry: SchemaRegistryClient, fake: FakeRegistry
) -> None:
    schema_id = fake.add("test.Other", {"type": "record", "name": "Other", "namespace": "test", "fields": []})
    failed = await AvroDeserializer(registry).prepare_ids([SchemaId(schema_id)])
    error = failed[SchemaId(schema_id)]
    assert isinstance(error, UnknownRecordError)
    assert isinstance(error, UnknownEventTypeError)
    assert isinstance(error, SerializationError)


async def test_reader_types_limit_what_is_read(
    serializer: AvroSerializer, registry: SchemaRegistryClient
) -> None:
    data = serializer.serialize(dossier(), CTX)
    deserializer = AvroDeserializer(registry, reader_types={})
    failed = await deserializer.prepare_ids([deserializer.schema_id_of(data)])
    assert all(isinstance(e, UnknownRecordError) for e in failed.values())


async def test_an_unprepared_id_is_refused(
    serializer: AvroSerializer, registry: SchemaRegistryClient
) -> None:
    with pytest.raises(SerializationError, match="prepare_ids"):
        AvroDeserializer(registry).deserialize(serializer.serialize(dossier(), CTX), CTX)


@pytest.mark.parametrize(
    "mangle",
    [lambda b: b[:-3], lambda b: b[:6], lambda b: b + b"\x00", lambda b: b[:5] + b"\xff" * 40],
    ids=["truncated", "header-only-ish", "trailing-byte", "garbage"],
)
async def test_bytes_that_do_not_decode_are_serialization_errors(
    serializer: AvroSerializer, registry: SchemaRegistryClient, mangle: Any
) -> None:
    data = mangle(serializer.serialize(dossier(), CTX))
    deserializer = AvroDeserializer(registry)
    await deserializer.prepare_ids([deserializer.schema_id_of(data)])
    with pytest.raises(SerializationError):
        deserializer.deserialize(data, CTX)


async def test_decoded_but_invalid_is_a_validation_error_naming_the_field(
    serializer: AvroSerializer, registry: SchemaRegistryClient
) -> None:
    record = dossier().to_avro() | {"province_code": "01"}  # HCMC's agency is in 79
    payload = BytesIO()
    schemaless_writer(payload, DossierSynced.avro_schema(), record)
    header = serializer.serialize(dossier(), CTX)[: HEADER.size]
    deserializer = AvroDeserializer(registry)
    with pytest.raises(ValidationError) as caught:
        await decode(deserializer, header + payload.getvalue())
    assert caught.value.field == "province_code"


async def test_v1_writer_read_by_v2_reader_gets_the_default(registry: SchemaRegistryClient) -> None:
    old = AvroSerializer(registry, auto_register=True)
    await old.prepare([DossierSyncedV1])
    written = dossier(2, model=DossierSyncedV1)
    read = await decode(AvroDeserializer(registry), old.serialize(written, CTX))
    assert type(read) is DossierSynced
    assert read.result_digitised is None
    assert read.model_dump(exclude={"result_digitised"}) == written.model_dump(exclude={"result_digitised"})


async def test_v2_writer_read_by_v1_reader_drops_the_new_field(
    serializer: AvroSerializer, registry: SchemaRegistryClient
) -> None:
    data = serializer.serialize(dossier(3), CTX)
    v1_reader = AvroDeserializer(registry, reader_types={SUBJECT: DossierSyncedV1})
    read = await decode(v1_reader, data)
    assert type(read) is DossierSyncedV1
    assert read.result_digitised is None
    raw = schemaless_reader(BytesIO(data[5:]), DossierSynced.avro_schema(), DossierSyncedV1.avro_schema())
    assert isinstance(raw, dict)
    assert "result_digitised" not in raw
