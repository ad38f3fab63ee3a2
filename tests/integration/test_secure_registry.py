"""The secure stack's registry: anyone reads, only the registry admin writes (red team of issue #13, item 4).

The issue's attack, with no credentials: compatibility set to NONE, a junk schema registered, a subject
permanently deleted. Each is tried here anonymously and with a wrong password against the real Apicurio of
``lgsp dev up --secure``, and the registry is checked unchanged afterwards; then the bus works end to end:
``lgsp schemas register`` with the admin's settings, a publisher and a consumer with none.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from bus.errors import RegistryError, RegistryUnavailableError
from bus.events import EVENT_TYPES, Event
from bus.publisher import Publisher
from bus.registry import SchemaRegistryClient, register_schemas, registry_environment
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import RegistrySettings, Settings
from bus.topics import ensure_topics, topic_for
from lgsp.cli import app
from tests import publishing_samples as samples
from tests.integration.secure_ops import read_records
from tests.integration.test_serde import import_confluent_quietly
from tests.stack import SecureStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _record(name: str, *fields: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": "test.secure",
        "fields": [{"name": f, "type": "string", "default": ""} for f in fields],
    }


@pytest.fixture
def admin_registry(secure_stack: SecureStack) -> RegistrySettings:
    return secure_stack.launcher.registry_admin_settings()


def _anonymous(admin: RegistrySettings) -> RegistrySettings:
    return RegistrySettings(url=admin.url, max_retries=0)


def _wrong_password(admin: RegistrySettings) -> RegistrySettings:
    return admin.model_copy(update={"password": SecretStr("not-the-password"), "max_retries": 0})


def _secret(settings: RegistrySettings) -> str:
    return "" if settings.password is None else settings.password.get_secret_value()


async def _refused(call: Any) -> int:
    with pytest.raises(RegistryError) as caught:
        await call
    assert "LGSP_REGISTRY__USERNAME" in str(caught.value)  # the message says what is missing
    status = caught.value.status
    assert status is not None
    return status


async def test_strangers_cannot_register_relax_or_delete_and_nothing_changes(
    admin_registry: RegistrySettings,
) -> None:
    subject = f"test.secure.Probe{uuid.uuid4().hex[:8]}"
    original = _record(subject.rsplit(".", 1)[1], "a")
    junk = _record(subject.rsplit(".", 1)[1], "a", "junk")
    base = admin_registry.url.removesuffix("/apis/ccompat/v7")
    async with SchemaRegistryClient(admin_registry) as admin:
        await admin.set_compatibility(subject, "BACKWARD_TRANSITIVE")
        schema_id = await admin.register(subject, original)
    admin_auth = httpx.BasicAuth(admin_registry.username or "", _secret(admin_registry))
    async with httpx.AsyncClient(base_url=base, auth=admin_auth) as raw:  # Apicurio's default global is NONE
        assert (
            await raw.put("/apis/ccompat/v7/config", json={"compatibility": "BACKWARD"})
        ).status_code == 200

    for settings in (_anonymous(admin_registry), _wrong_password(admin_registry)):
        async with SchemaRegistryClient(settings) as stranger:
            assert await _refused(stranger.register(subject, junk)) == 401
            assert await _refused(stranger.set_compatibility(subject, "NONE")) == 401
            assert await _refused(stranger.delete_subject(subject, permanent=True)) == 401
    async with httpx.AsyncClient(base_url=base) as raw:  # Apicurio's own APIs refuse as well
        attempts = [
            raw.put("/apis/ccompat/v7/config", json={"compatibility": "NONE"}),  # the global level
            raw.post("/apis/registry/v3/groups/default/artifacts", json={"artifactId": "junk"}),
            raw.delete(f"/apis/registry/v3/groups/default/artifacts/{subject}"),
            raw.post("/apis/registry/v3/admin/rules", json={"ruleType": "VALIDITY", "config": "NONE"}),
            raw.put(  # the switch that would open writes, or close reads
                "/apis/registry/v3/admin/config/properties/apicurio.auth.anonymous-read-access.enabled",
                json={"value": "false"},
            ),
            raw.get("/apis/registry/v3/admin/export"),  # the whole registry in one zip: admin only
        ]
        assert [(await a).status_code for a in attempts] == [401] * len(attempts)

    # Nothing changed, and everything a consumer or a publisher needs still works without credentials.
    async with SchemaRegistryClient(_anonymous(admin_registry)) as reader:
        assert await reader.list_versions(subject) == [1]
        assert await reader.get_compatibility(subject) == "BACKWARD_TRANSITIVE"
        assert await reader.get_by_id(schema_id) == original
        assert await reader.lookup(subject, original) == schema_id
        assert await reader.check_compatibility(subject, junk)
        assert subject in await reader.list_subjects()

    # confluent-kafka's own registry client, as an integrator's deserializer uses it: reads only.
    import_confluent_quietly()
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistry
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    confluent = ConfluentRegistry({"url": admin_registry.url})
    try:
        fetched = await asyncio.to_thread(confluent.get_schema, schema_id)
        assert json.loads(fetched.schema_str or "null") == original
        with pytest.raises(SchemaRegistryError) as caught:
            await asyncio.to_thread(confluent.register_schema, subject, Schema(json.dumps(junk), "AVRO"))
        assert caught.value.http_status_code == 401
    finally:
        confluent.close()

    # The admin may delete (deletions are on; only the admin gets that far).
    async with SchemaRegistryClient(admin_registry) as admin:
        await admin.delete_subject(subject, permanent=True)
        assert subject not in await admin.list_subjects()
    async with httpx.AsyncClient(base_url=base, auth=admin_auth) as raw:  # the global level was never relaxed
        assert (await raw.get("/apis/ccompat/v7/config")).json()["compatibilityLevel"] == "BACKWARD"
        await raw.put("/apis/ccompat/v7/config", json={"compatibility": "NONE"})  # Apicurio's default again


async def _publish_and_read(secure: SecureStack, registry: RegistrySettings) -> tuple[list[Event], list[Any]]:
    """12 sample events published as the Kafka admin with ``registry`` (lookups only), and read back."""
    prefix = f"r{uuid.uuid4().hex[:8]}."
    settings = Settings.model_validate(
        {
            "kafka": secure.admin.model_dump(),
            "registry": registry.model_dump(),  # auto_register off: the publisher only looks ids up
            "topics": {"prefix": prefix, "partitions": 1},
        }
    )
    await ensure_topics(settings)
    events = [samples.event(obj) for obj in samples.mixed(12)]
    async with Publisher(settings) as publisher:
        deliveries = await publisher.publish_many(events)
    assert len(deliveries) == 12

    topics = sorted({topic_for(type(e), prefix=prefix) for e in events})
    records = await read_records(settings.kafka, topics, len(events))
    return events, records


async def test_the_bus_works_end_to_end_with_the_admin_writing_and_clients_reading_anonymously(
    secure_stack: SecureStack, admin_registry: RegistrySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    anonymous = RegistrySettings(url=admin_registry.url)

    async def register(env: dict[str, str]) -> Any:
        for key in ("LGSP_REGISTRY__USERNAME", "LGSP_REGISTRY__PASSWORD"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return await asyncio.to_thread(lambda: runner.invoke(app, ["schemas", "register"]))

    refused = await register(registry_environment(anonymous))
    assert refused.exit_code == 1
    assert "401" in refused.output
    assert "LGSP_REGISTRY__PASSWORD" in refused.output
    # What `lgsp dev up --secure` wrote to admin.env is what the operator sources: use the same variables.
    done = await register(registry_environment(admin_registry))
    assert done.exit_code == 0, done.output

    events, records = await _publish_and_read(secure_stack, anonymous)
    async with SchemaRegistryClient(anonymous) as client:
        deserializer = AvroDeserializer(client)
        assert await deserializer.prepare_ids({AvroDeserializer.schema_id_of(r.value) for r in records}) == {}
        decoded = [deserializer.deserialize(r.value, SerializationContext(r.topic)) for r in records]
    assert sorted(str(e.meta.event_id) for e in decoded) == sorted(str(e.meta.event_id) for e in events)
    assert {type(e).AVRO_NAME for e in decoded} <= set(EVENT_TYPES)


def test_the_registry_password_is_private_and_never_on_the_command_line(secure_stack: SecureStack) -> None:
    state_dir = secure_stack.launcher.settings.state_dir
    admin = secure_stack.launcher.registry_admin_settings()
    assert admin.password is not None
    password = admin.password.get_secret_value()
    registry_dir = state_dir / "registry"
    assert (registry_dir / "admin.password").stat().st_mode & 0o077 == 0
    pid = int((registry_dir / "registry.pid").read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        assert password.encode() not in handle.read()


async def test_consumers_keep_decoding_a_deleted_subject_and_with_the_registry_stopped(
    secure_stack: SecureStack, admin_registry: RegistrySettings, tmp_path: Path
) -> None:
    """Issue #13: consumers keep working when a subject is deleted (ids cached on disk, bus.schema_cache)."""
    async with SchemaRegistryClient(admin_registry) as admin:
        await register_schemas(admin, sorted(EVENT_TYPES))
    anonymous = RegistrySettings(url=admin_registry.url, max_retries=0)
    cached = anonymous.model_copy(update={"schema_cache_dir": tmp_path / "schemas"})
    events, records = await _publish_and_read(secure_stack, anonymous)
    ids = {AvroDeserializer.schema_id_of(r.value) for r in records}

    async def decode(settings: RegistrySettings) -> list[str]:
        async with SchemaRegistryClient(settings) as client:
            deserializer = AvroDeserializer(client)
            failed = await deserializer.prepare_ids(ids)
            assert failed == {}, failed
            return sorted(
                str(deserializer.deserialize(r.value, SerializationContext(r.topic)).meta.event_id)
                for r in records
            )

    expected = sorted(str(e.meta.event_id) for e in events)
    assert await decode(cached) == expected  # a consumer with the cache decodes once: the files are written

    # A subject deleted (by the admin: only the admin can now) after its id was cached.
    subject = f"test.secure.Gone{uuid.uuid4().hex[:8]}"
    schema = _record(subject.rsplit(".", 1)[1], "a")
    async with SchemaRegistryClient(admin_registry) as admin:
        gone_id = await admin.register(subject, schema)
        async with SchemaRegistryClient(cached) as client:
            assert await client.get_by_id(gone_id) == schema
        await admin.delete_subject(subject, permanent=True)
        assert subject not in await admin.list_subjects()
    async with SchemaRegistryClient(cached) as client:
        assert await client.get_by_id(gone_id) == schema

    secure_stack.launcher.stop_registry()
    try:
        async with SchemaRegistryClient(anonymous) as client:  # without the cache: every id fails
            failed = await AvroDeserializer(client).prepare_ids(ids)
        assert set(failed) == ids
        assert all(isinstance(error, RegistryUnavailableError) for error in failed.values())
        assert await decode(cached) == expected
        async with SchemaRegistryClient(cached) as client:
            assert await client.get_by_id(gone_id) == schema
    finally:
        secure_stack.launcher.start_registry()
