"""Schema evolution for real: v1 and v2 producers and consumers on the real registry and broker.

DossierSynced v2 adds ``result_digitised``; DocumentSent v2 adds ``response_for``, ``signing_authority``,
``referenced_document_id`` and ``business_reason`` (all optional, default null). A v1 service writes and reads
with ``load_schema(name, 1)``; the current model with v2. Each side has its own registry client (its own
process, in life), so the reader fetches the writer's schema by id from the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import TypeVar

import pytest
from fastavro import parse_schema, schemaless_reader

from bus.events import DocumentSent, DossierSynced, Event, SigningAuthority
from bus.registry import SchemaRegistryClient
from bus.schemas import load_schema
from bus.serde import HEADER, AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import Settings
from tests.conftest import StackEndpoints
from tests.integration.serde_io import consume, private_topic, produce, register_real_subjects
from tests.serde_samples import DOCUMENT_V2_FIELDS, DocumentSentV1, DossierSyncedV1, document, dossier

pytestmark = pytest.mark.integration

NAME = DossierSynced.AVRO_NAME
E = TypeVar("E", bound=Event)


@pytest.fixture(scope="module")
async def real_subjects(stack: StackEndpoints) -> None:
    settings = Settings.model_validate({"registry": {"url": stack.registry_url}})
    await register_real_subjects(settings)


async def write(settings: Settings, topic: str, model: type[Event], events: Sequence[Event]) -> int:
    """Publish with a producer that knows only ``model``'s schema; returns the schema id it wrote with."""
    async with SchemaRegistryClient(settings.registry) as registry:
        serializer = AvroSerializer(registry)  # no auto-registration: the subject has both versions
        await serializer.prepare([model])
        ctx = SerializationContext(topic)
        payloads = [serializer.serialize(e, ctx) for e in events]
    await produce(settings, topic, [(e.entity_key(), p) for e, p in zip(events, payloads, strict=True)])
    return AvroDeserializer.schema_id_of(payloads[0])


async def read_as(settings: Settings, topic: str, model: type[E], count: int) -> list[E]:
    """Consume with a consumer whose only reader model for ``model``'s record is ``model``."""
    records = await consume(settings, topic, count)
    async with SchemaRegistryClient(settings.registry) as registry:
        deserializer = AvroDeserializer(registry, reader_types={model.AVRO_NAME: model})
        assert await deserializer.prepare_ids({deserializer.schema_id_of(r.value) for r in records}) == {}
        events = [deserializer.deserialize(r.value, SerializationContext(topic)) for r in records]
    assert all(isinstance(e, model) for e in events)
    return [e for e in events if isinstance(e, model)]


async def read(settings: Settings, topic: str, model: type[DossierSynced], count: int) -> list[DossierSynced]:
    return await read_as(settings, topic, model, count)


async def schema_file_id(settings: Settings, version: int, record: str = "DossierSynced") -> int:
    """The registry's id of ``schemas/{record}.v{version}.avsc``, found by its content: the subject's
    version numbers depend on which test of the session registered first."""
    async with SchemaRegistryClient(settings.registry) as registry:
        name = DocumentSent.AVRO_NAME if record == "DocumentSent" else NAME
        return int(await registry.lookup(name, load_schema(record, version)))


def test_the_v1_model_reads_and_writes_the_v1_file() -> None:
    assert DossierSyncedV1.avro_schema() == parse_schema(load_schema("DossierSynced", 1))
    assert DossierSynced.avro_schema() == parse_schema(load_schema("DossierSynced", 2))


@pytest.mark.usefixtures("real_subjects")
async def test_a_v2_consumer_reads_a_v1_producer(settings: Settings, topic_prefix: str) -> None:
    written = [dossier(n, model=DossierSyncedV1) for n in range(4)]
    async with private_topic(settings, f"{topic_prefix}lgsp.dossiers") as topic:
        schema_id = await write(settings, topic, DossierSyncedV1, written)
        got = await read(settings, topic, DossierSynced, len(written))
    assert schema_id == await schema_file_id(settings, 1)
    assert [type(e) for e in got] == [DossierSynced] * len(written)
    assert all(e.result_digitised is None for e in got)  # the v2 default for a field v1 never wrote
    assert [e.model_dump(exclude={"result_digitised"}) for e in got] == [
        e.model_dump(exclude={"result_digitised"}) for e in written
    ]


@pytest.mark.usefixtures("real_subjects")
async def test_a_v1_consumer_reads_a_v2_producer(settings: Settings, topic_prefix: str) -> None:
    written = [dossier(n, result_digitised=n % 2 == 0) for n in range(4)]
    async with private_topic(settings, f"{topic_prefix}lgsp.dossiers") as topic:
        schema_id = await write(settings, topic, DossierSynced, written)
        got = await read(settings, topic, DossierSyncedV1, len(written))
        (first,) = await consume(settings, topic, 1)
    assert schema_id == await schema_file_id(settings, 2)
    assert [e.model_dump(exclude={"result_digitised"}) for e in got] == [
        e.model_dump(exclude={"result_digitised"}) for e in written
    ]
    # What a v1 reader's schema yields from v2 bytes: the new field is skipped, not carried along.
    raw = schemaless_reader(
        BytesIO(first.value[HEADER.size :]), DossierSynced.avro_schema(), DossierSyncedV1.avro_schema()
    )
    assert isinstance(raw, dict)
    assert "result_digitised" not in raw


@pytest.mark.usefixtures("real_subjects")
async def test_a_topic_with_both_versions_reads_with_either_reader(
    settings: Settings, topic_prefix: str
) -> None:
    old = [dossier(n, model=DossierSyncedV1) for n in range(3)]
    new = [dossier(n, result_digitised=True) for n in range(3, 6)]
    async with private_topic(settings, f"{topic_prefix}lgsp.dossiers") as topic:
        await write(settings, topic, DossierSyncedV1, old)
        await write(settings, topic, DossierSynced, new)
        as_v2 = await read(settings, topic, DossierSynced, 6)
        as_v1 = await read(settings, topic, DossierSyncedV1, 6)
    assert [e.result_digitised for e in as_v2] == [None, None, None, True, True, True]
    assert [e.dossier_code for e in as_v1] == [e.dossier_code for e in old + new]


# --- DocumentSent v1 <-> v2 ---------------------------------------------------------------------------------


def test_the_v1_document_model_reads_and_writes_the_v1_file() -> None:
    assert DocumentSentV1.avro_schema() == parse_schema(load_schema("DocumentSent", 1))
    assert DocumentSent.avro_schema() == parse_schema(load_schema("DocumentSent", 2))


def _without_v2(events: Sequence[DocumentSent]) -> list[dict[str, object]]:
    return [e.model_dump(exclude=set(DOCUMENT_V2_FIELDS)) for e in events]


@pytest.mark.usefixtures("real_subjects")
async def test_a_v1_document_consumer_reads_v2_replies_and_revocations(
    settings: Settings, topic_prefix: str
) -> None:
    reply = document(1, signing_authority="KT.")
    revocation = document(
        1,
        business_type="REVOKE",
        referenced_document_id=reply.document_id,
        business_reason="Ban hành chưa đúng thẩm quyền",
    )
    written = [reply, revocation]
    async with private_topic(settings, f"{topic_prefix}lgsp.documents") as topic:
        schema_id = await write(settings, topic, DocumentSent, written)
        got = await read_as(settings, topic, DocumentSentV1, len(written))
        (first, _) = await consume(settings, topic, 2)
    assert schema_id == await schema_file_id(settings, 2, "DocumentSent")
    assert _without_v2(got) == _without_v2(written)
    assert [e.business_type.value for e in got] == ["NEW", "REVOKE"]
    raw = schemaless_reader(
        BytesIO(first.value[HEADER.size :]), DocumentSent.avro_schema(), DocumentSentV1.avro_schema()
    )
    assert isinstance(raw, dict)
    assert not DOCUMENT_V2_FIELDS & set(raw)  # the old reader skips the new fields


@pytest.mark.usefixtures("real_subjects")
async def test_v2_document_code_reads_v1_documents_already_on_the_topic(
    settings: Settings, topic_prefix: str
) -> None:
    old = [document(n, model=DocumentSentV1) for n in range(3)]
    new = [document(n) for n in range(3, 5)]
    async with private_topic(settings, f"{topic_prefix}lgsp.documents") as topic:
        old_id = await write(settings, topic, DocumentSentV1, old)
        await write(settings, topic, DocumentSent, new)
        as_v2 = await read_as(settings, topic, DocumentSent, 5)
    assert old_id == await schema_file_id(settings, 1, "DocumentSent")
    assert [e.signing_authority for e in as_v2] == [None] * 3 + [SigningAuthority.ON_BEHALF] * 2
    assert [e.response_for for e in as_v2[:3]] == [None] * 3
    assert [e.response_for for e in as_v2[3:]] == [e.response_for for e in new]
    assert _without_v2(as_v2) == _without_v2(old + new)
