"""bus.schema_cache through SchemaRegistryClient: ids fetched once are decoded later without the registry."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.errors import RegistryError, RegistryUnavailableError
from bus.registry import SchemaRegistryClient
from bus.schema_cache import fingerprint
from bus.settings import RegistrySettings
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.unit

URL = "http://registry.test/apis/ccompat/v7"
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Cached",
    "namespace": "test.lgsp",
    "doc": "Lược đồ giữ trên đĩa",
    "fields": [{"name": "a", "type": "int"}],
}


async def _nothing(_: float) -> None:
    return None


def _client(transport: httpx.AsyncBaseTransport, cache: Path | None, url: str = URL) -> SchemaRegistryClient:
    settings = RegistrySettings(url=url, schema_cache_dir=cache, max_retries=0)
    return SchemaRegistryClient(settings, transport=transport, sleep=_nothing)


def _down() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(refuse)


def _gone() -> httpx.MockTransport:
    """A registry whose subject was deleted: every id is unknown."""
    body = {"error_code": 40403, "message": "Schema not found"}
    return httpx.MockTransport(lambda request: httpx.Response(404, json=body))


def _files(directory: Path) -> list[Path]:
    return list(directory.rglob("*.json"))


async def _fill(tmp_path: Path) -> tuple[int, Path]:
    fake = FakeRegistry()
    schema_id = fake.add("test.lgsp.Cached", SCHEMA)
    async with _client(fake.transport(), tmp_path) as client:
        assert await client.get_by_id(schema_id) == SCHEMA
    files = _files(tmp_path)
    assert [f.name for f in files] == [f"{schema_id}.json"]
    return schema_id, files[0]


async def test_a_schema_fetched_once_decodes_with_the_registry_down_or_the_subject_deleted(
    tmp_path: Path,
) -> None:
    schema_id, _ = await _fill(tmp_path)
    for registry in (_down(), _gone()):
        async with _client(registry, tmp_path) as client:
            assert await client.get_by_id(schema_id) == SCHEMA
        async with _client(registry, None) as uncached:  # the same outage without the cache: red
            with pytest.raises(RegistryError):
                await uncached.get_by_id(schema_id)


async def test_another_registry_never_sees_these_ids(tmp_path: Path) -> None:
    schema_id, _ = await _fill(tmp_path)
    async with _client(_down(), tmp_path, url="http://other.test/apis/ccompat/v7") as client:
        with pytest.raises(RegistryUnavailableError):
            await client.get_by_id(schema_id)


@pytest.mark.parametrize(
    "damage",
    [
        "edited schema",
        "wrong id",
        "truncated",
        "self-consistent junk",
    ],
)
async def test_a_file_that_does_not_verify_is_ignored_and_the_registry_asked_again(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    schema_id, path = await _fill(tmp_path)
    entry = json.loads(path.read_text())
    if damage == "edited schema":  # a field type changed, the fingerprint left as it was
        entry["schema"] = entry["schema"].replace('"int"', '"long"')
    elif damage == "wrong id":
        entry["id"] = schema_id + 1
    elif damage == "self-consistent junk":
        entry["schema"] = "not json"
        entry["sha256"] = fingerprint("not json")
    text = json.dumps(entry)[:-20] if damage == "truncated" else json.dumps(entry)
    path.write_text(text)

    with caplog.at_level(logging.WARNING, logger="bus.schema_cache"):
        async with _client(_down(), tmp_path) as client:
            with pytest.raises(RegistryUnavailableError):
                await client.get_by_id(schema_id)
    assert "schema cache: ignoring" in caplog.text

    fake = FakeRegistry()
    assert fake.add("test.lgsp.Cached", SCHEMA) == schema_id
    async with _client(fake.transport(), tmp_path) as client:  # the registry's answer repairs the file
        assert await client.get_by_id(schema_id) == SCHEMA
    async with _client(_down(), tmp_path) as client:
        assert await client.get_by_id(schema_id) == SCHEMA


async def test_an_unwritable_cache_does_not_stop_decoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    fake = FakeRegistry()
    schema_id = fake.add("test.lgsp.Cached", SCHEMA)
    with caplog.at_level(logging.WARNING, logger="bus.schema_cache"):
        async with _client(fake.transport(), blocked) as client:
            assert await client.get_by_id(schema_id) == SCHEMA
    assert "cannot write" in caplog.text
