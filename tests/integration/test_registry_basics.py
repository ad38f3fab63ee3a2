"""The registry's Confluent-compatible REST API with plain httpx: register, read back by id, evolve."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bus.settings import Settings

pytestmark = pytest.mark.integration

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _ping(*extra_fields: dict[str, Any]) -> dict[str, Any]:
    fields = [
        {"name": "id", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ]
    return {
        "type": "record",
        "name": "Ping",
        "namespace": "vn.gov.lgsp.test",
        "fields": fields + list(extra_fields),
    }


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=settings.registry.url.rstrip("/") + "/", headers={"Content-Type": CONTENT_TYPE}, timeout=10.0
    ) as client:
        yield client


async def _register(client: httpx.AsyncClient, subject: str, schema: dict[str, Any]) -> int:
    response = await client.post(f"subjects/{subject}/versions", json={"schema": json.dumps(schema)})
    assert response.status_code == 200, response.text
    schema_id = response.json()["id"]
    assert isinstance(schema_id, int)
    return schema_id


async def test_schema_registered_is_read_back_by_id(registry: httpx.AsyncClient, topic_prefix: str) -> None:
    subject = f"{topic_prefix}vn.gov.lgsp.test.Ping"
    schema_id = await _register(registry, subject, _ping())

    by_id = await registry.get(f"schemas/ids/{schema_id}")
    assert by_id.status_code == 200, by_id.text
    assert json.loads(by_id.json()["schema"]) == _ping()
    assert await _register(registry, subject, _ping()) == schema_id  # the same schema again: same id

    versions = await registry.get(f"subjects/{subject}/versions")
    assert versions.json() == [1]
    lookup = await registry.post(f"subjects/{subject}", json={"schema": json.dumps(_ping())})
    assert lookup.status_code == 200, lookup.text
    assert lookup.json()["id"] == schema_id
    assert lookup.json()["version"] == 1


async def test_evolved_schema_gets_a_new_id_and_version(
    registry: httpx.AsyncClient, topic_prefix: str
) -> None:
    subject = f"{topic_prefix}vn.gov.lgsp.test.Ping"
    first = await _register(registry, subject, _ping())
    second = await _register(
        registry, subject, _ping({"name": "note", "type": ["null", "string"], "default": None})
    )

    assert second != first
    assert (await registry.get(f"subjects/{subject}/versions")).json() == [1, 2]
    latest = (await registry.get(f"subjects/{subject}/versions/latest")).json()
    assert latest["id"] == second
    assert latest["version"] == 2
    assert json.loads((await registry.get(f"schemas/ids/{first}")).json()["schema"]) == _ping()


async def test_unknown_id_is_a_404(registry: httpx.AsyncClient) -> None:
    response = await registry.get("schemas/ids/2147483000")
    assert response.status_code == 404
