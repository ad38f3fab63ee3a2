"""The serde end to end on the real registry and broker; our bytes read by Confluent's own deserializer."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid
import warnings
from typing import Any

import pytest

from bus.events import DossierSynced, Event
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import Settings
from tests.conftest import StackEndpoints
from tests.integration.serde_io import consume, private_topic, produce, register_real_subjects
from tests.serde_samples import dossier

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def real_subjects(stack: StackEndpoints) -> None:
    settings = Settings.model_validate({"registry": {"url": stack.registry_url}})
    await register_real_subjects(settings)


async def publish(settings: Settings, topic: str, events: list[DossierSynced]) -> None:
    async with SchemaRegistryClient(settings.registry) as registry:
        serializer = AvroSerializer(registry)
        await serializer.prepare([DossierSynced])
        ctx = SerializationContext(topic)
        await produce(settings, topic, [(e.entity_key(), serializer.serialize(e, ctx)) for e in events])


@pytest.mark.usefixtures("real_subjects")
async def test_events_survive_the_trip_through_kafka(settings: Settings, topic_prefix: str) -> None:
    events = [dossier(n, sector_name="Hộ tịch – Đăng ký khai sinh") for n in range(20)]
    async with private_topic(settings, f"{topic_prefix}lgsp.dossiers", partitions=3) as topic:
        await publish(settings, topic, events)
        records = await consume(settings, topic, len(events))
        async with SchemaRegistryClient(settings.registry) as registry:  # a consumer process: cold cache
            deserializer = AvroDeserializer(registry)
            assert await deserializer.prepare_ids({deserializer.schema_id_of(r.value) for r in records}) == {}
            ctx = SerializationContext(topic)
            read: list[Event] = [deserializer.deserialize(r.value, ctx) for r in records]
    assert sorted(read, key=lambda e: e.entity_key()) == events
    assert [r.key.decode() for r in records] == [e.entity_key() for e in read]


def import_confluent_quietly() -> None:
    """Import confluent's registry modules without Authlib's "use httpx2" deprecation warning.

    Authlib installs an "always" filter for its warning when first imported, so ours must go in front of it.
    """
    importlib.import_module("authlib.deprecate")
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The httpx module is deprecated", category=DeprecationWarning
        )
        importlib.import_module("confluent_kafka.schema_registry.avro")


def read_with_confluent(bootstrap: str, registry_url: str, topic: str, count: int) -> list[dict[str, Any]]:
    """Consume and decode with confluent-kafka only: its consumer, its registry client, its deserializer."""
    from confluent_kafka import Consumer
    from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistry
    from confluent_kafka.schema_registry.avro import AvroDeserializer as ConfluentDeserializer
    from confluent_kafka.serialization import MessageField
    from confluent_kafka.serialization import SerializationContext as ConfluentContext

    registry = ConfluentRegistry({"url": registry_url})
    deserializer = ConfluentDeserializer(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"interop-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    decoded: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(decoded) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            value = deserializer(message.value(), ConfluentContext(topic, MessageField.VALUE))
            assert isinstance(value, dict)
            decoded.append(value)
    finally:
        consumer.close()
        registry.close()
    return decoded


def comparable(record: dict[str, Any]) -> str:
    """One text for a record whatever the reader returned: enums as symbols, uuid/datetime as text."""
    return json.dumps(record, default=str, sort_keys=True, ensure_ascii=False)


@pytest.mark.usefixtures("real_subjects")
async def test_confluent_deserializer_reads_our_bytes_with_only_the_registry_url(
    settings: Settings, topic_prefix: str
) -> None:
    import_confluent_quietly()
    events = [dossier(n, procedure_name="Cấp phiếu lý lịch tư pháp") for n in range(5)]
    async with private_topic(settings, f"{topic_prefix}lgsp.dossiers") as topic:
        await publish(settings, topic, events)
        decoded = await asyncio.to_thread(
            read_with_confluent, settings.kafka.bootstrap_servers, settings.registry.url, topic, len(events)
        )
    assert [comparable(d) for d in decoded] == [comparable(e.to_avro()) for e in events]
    assert decoded[0]["procedure_name"] == "Cấp phiếu lý lịch tư pháp"
    assert decoded[0]["result_digitised"] is True
