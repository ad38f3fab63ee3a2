"""Property: any event, through the Confluent wire format and back, is itself (Vietnamese NFC text too)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings

from bus.events import EVENT_TYPES, Event
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import RegistrySettings
from bus.topics import topic_for
from bus.types import SchemaId
from tests import strategies
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def serde() -> tuple[AvroSerializer, AvroDeserializer]:
    """A serializer and deserializer with every event type and id prepared (no registry needed afterwards)."""

    async def prepare() -> tuple[AvroSerializer, AvroDeserializer]:
        fake = FakeRegistry()
        settings = RegistrySettings(url="http://registry.test/apis/ccompat/v7")
        async with SchemaRegistryClient(settings, transport=fake.transport()) as registry:
            serializer = AvroSerializer(registry, auto_register=True)
            await serializer.prepare(EVENT_TYPES.values())
            deserializer = AvroDeserializer(registry)
            assert await deserializer.prepare_ids(SchemaId(i) for i in fake.ids.values()) == {}
        return serializer, deserializer

    return asyncio.run(prepare())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.events())
def test_every_event_round_trips_through_the_wire_format(
    serde: tuple[AvroSerializer, AvroDeserializer], event: Event
) -> None:
    serializer, deserializer = serde
    ctx = SerializationContext(topic_for(type(event)))
    data = serializer.serialize(event, ctx)
    assert data[0] == 0
    assert deserializer.deserialize(data, ctx) == event
