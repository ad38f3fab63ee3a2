"""The registry client against the real Apicurio Registry (ccompat v7), on subjects unique to this run.

These tests pin the Apicurio behaviour that ``bus.registry`` documents: content ids shared across subjects,
idempotent registration of the same text, the error codes, the compatibility levels.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bus.errors import RegistryError
from bus.registry import (
    COMPATIBILITY_LEVELS,
    SCHEMA_NOT_FOUND,
    SUBJECT_NOT_FOUND,
    VERSION_NOT_FOUND,
    SchemaRegistryClient,
    is_not_found,
    register_schemas,
)
from bus.settings import Settings

pytestmark = pytest.mark.integration


def record(namespace: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Probe",
        "namespace": namespace,
        "doc": "Bản ghi thử của bộ kiểm thử",
        "fields": [{"name": "id", "type": "string"}, *fields],
    }


@pytest.fixture
def namespace() -> str:
    return f"test.lgsp.r{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(settings: Settings, namespace: str) -> AsyncIterator[SchemaRegistryClient]:
    async with SchemaRegistryClient(settings.registry) as registry:
        yield registry
        for subject in await registry.list_subjects():
            if subject.startswith(namespace):
                await registry.delete_subject(subject, permanent=True)


def fresh(settings: Settings) -> SchemaRegistryClient:
    """A second client with an empty cache, so answers come from the registry, not from memory."""
    return SchemaRegistryClient(settings.registry)


async def test_register_lookup_and_get_by_id(
    client: SchemaRegistryClient, settings: Settings, namespace: str
) -> None:
    schema = record(namespace)
    subject = f"{namespace}.Probe"
    schema_id = await client.register(subject, schema)
    async with fresh(settings) as other:
        assert await other.register(subject, schema) == schema_id  # same text, same id: idempotent
        assert await other.lookup(subject, schema) == schema_id
        assert await other.get_by_id(schema_id) == schema
        assert await other.list_versions(subject) == [1]
        version = await other.get_version(subject, 1)
    assert (version["id"], version["schema"]) == (schema_id, schema)
    assert subject in await client.list_subjects()


async def test_ids_are_shared_across_subjects(client: SchemaRegistryClient, namespace: str) -> None:
    schema = record(namespace)
    first = await client.register(f"{namespace}.Probe", schema)
    assert await client.register(f"{namespace}.Elsewhere", schema) == first


async def test_a_new_version_gets_a_new_id(client: SchemaRegistryClient, namespace: str) -> None:
    subject = f"{namespace}.Probe"
    v1 = await client.register(subject, record(namespace))
    v2 = await client.register(subject, record(namespace, {"name": "note", "type": "string", "default": ""}))
    assert v1 != v2
    assert await client.list_versions(subject) == [1, 2]
    assert (await client.get_version(subject))["id"] == v2


async def test_not_found_error_codes(
    client: SchemaRegistryClient, settings: Settings, namespace: str
) -> None:
    subject = f"{namespace}.Probe"
    with pytest.raises(RegistryError) as unknown_subject:
        await client.lookup(subject, record(namespace))
    assert is_not_found(unknown_subject.value, SUBJECT_NOT_FOUND)

    await client.register(subject, record(namespace))
    with pytest.raises(RegistryError) as unknown_schema:
        await client.lookup(subject, record(namespace, {"name": "x", "type": "int", "default": 0}))
    assert is_not_found(unknown_schema.value, SCHEMA_NOT_FOUND)

    with pytest.raises(RegistryError) as unknown_version:
        await client.get_version(subject, 9)
    assert is_not_found(unknown_version.value, VERSION_NOT_FOUND)

    with pytest.raises(RegistryError) as unknown_id:
        await client.get_by_id(2_000_000_000)
    assert is_not_found(unknown_id.value, SCHEMA_NOT_FOUND)
    assert not unknown_id.value.retriable


async def test_an_invalid_schema_is_a_422(client: SchemaRegistryClient, namespace: str) -> None:
    with pytest.raises(RegistryError) as caught:
        await client.register(f"{namespace}.Probe", {"type": "recrd", "name": "Probe"})
    assert (caught.value.status, caught.value.error_code) == (422, 42201)


@pytest.mark.parametrize("level", sorted(COMPATIBILITY_LEVELS))
async def test_every_level_is_accepted(client: SchemaRegistryClient, namespace: str, level: str) -> None:
    subject = f"{namespace}.Probe"
    await client.register(subject, record(namespace))
    assert await client.set_compatibility(subject, level) == level
    assert await client.get_compatibility(subject) == level


async def test_compatibility_of_an_unknown_subject_is_none(
    client: SchemaRegistryClient, namespace: str
) -> None:
    assert await client.get_compatibility(f"{namespace}.Nothing") is None


async def test_compatibility_check_under_backward_transitive(
    client: SchemaRegistryClient, namespace: str
) -> None:
    subject = f"{namespace}.Probe"
    await client.register(subject, record(namespace))
    await client.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    with_default = record(namespace, {"name": "note", "type": ["null", "string"], "default": None})
    without_default = record(namespace, {"name": "note", "type": "string"})
    assert await client.check_compatibility(subject, with_default) is True
    assert await client.check_compatibility(subject, without_default) is False
    with pytest.raises(RegistryError) as caught:
        await client.register(subject, without_default)
    assert (caught.value.status, caught.value.error_code) == (409, 409)


def write_versions(directory: Path, namespace: str) -> None:
    v1 = record(namespace)
    v2 = record(namespace, {"name": "note", "type": ["null", "string"], "default": None})
    (directory / "Probe.v1.avsc").write_text(json.dumps(v1), encoding="utf-8")
    (directory / "Probe.v2.avsc").write_text(json.dumps(v2), encoding="utf-8")
    levels = {"default": "BACKWARD", "records": {f"{namespace}.Probe": "FULL_TRANSITIVE"}}
    (directory / "compatibility.json").write_text(json.dumps(levels), encoding="utf-8")


async def test_register_schemas_in_order_with_the_level_and_idempotently(
    client: SchemaRegistryClient, namespace: str, tmp_path: Path
) -> None:
    write_versions(tmp_path, namespace)
    (first,) = await register_schemas(client, ["Probe"], directory=tmp_path)
    assert (first.subject, first.level, first.in_order) == (f"{namespace}.Probe", "FULL_TRANSITIVE", True)
    assert [(r.file_version, r.registered.version, r.created) for r in first.versions] == [
        (1, 1, True),
        (2, 2, True),
    ]
    (again,) = await register_schemas(client, ["Probe"], directory=tmp_path)
    assert [r.registered for r in again.versions] == [r.registered for r in first.versions]
    assert not any(r.created for r in again.versions)
    assert await client.get_compatibility(first.subject) == "FULL_TRANSITIVE"


async def test_delete_subject_permanently(client: SchemaRegistryClient, namespace: str) -> None:
    subject = f"{namespace}.Probe"
    await client.register(subject, record(namespace))
    assert await client.delete_subject(subject, permanent=True) == [1]
    assert subject not in await client.list_subjects()
    assert await client.find(subject, record(namespace)) is None
