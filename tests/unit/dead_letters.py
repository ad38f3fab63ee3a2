"""What the views' decode step dead-letters for one DossierSynced record written to Kafka as-is (as a producer
without the models could): the record goes through the real serializer and decoder, the registry is a fake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bus.consumer.decode import BatchDecoder
from bus.events import DossierSynced
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import RegistrySettings
from tests.unit.registry_fake import FakeRegistry
from tests.unit.runner_fakes import Record


async def _no_sleep(delay: float) -> None:
    return None


async def dead_letter_headers(record: dict[str, Any]) -> dict[str, bytes]:
    """The headers of the dead letter that ``record`` (a DossierSynced, Avro form) becomes."""
    config = RegistrySettings(url="http://registry.test/apis/ccompat/v7")
    async with SchemaRegistryClient(
        config, transport=FakeRegistry().transport(), sleep=_no_sleep
    ) as registry:
        serializer = AvroSerializer(registry, auto_register=True)
        await serializer.prepare([DossierSynced])
        ctx = SerializationContext("lgsp.dossiers")
        value = serializer.serialize_record(DossierSynced, record, ctx)
        decoder = BatchDecoder(AvroDeserializer(registry), lambda topic: SerializationContext(topic))
        batch = await decoder.decode({0: [Record("lgsp.dossiers", 0, 5, b"k", value)]})
    assert not batch.events.get("lgsp.dossiers")
    (dead,) = batch.dead_letters
    return dict(dead.dlq_headers("views", datetime.now(UTC)))
