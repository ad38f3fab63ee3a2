"""A running process notices a later release's schema in the registry and says what to redeploy (#19 item 4).

Models are code, so the ingress cannot validate a new field without the release that has it; what it can do is
tell, in its log, that the registry holds a version it does not know. Against an in-memory registry that
answers like Apicurio; the check compares Avro parsing canonical forms with every installed version.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from bus.events import DocumentSent, DossierSynced
from bus.registry import SchemaRegistryClient
from bus.schema_drift import UnknownVersion, unknown_latest, watch
from bus.schemas import load_schema, schema_versions
from bus.settings import RegistrySettings
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.unit

CONFIG = RegistrySettings(url="http://registry.test/apis/ccompat/v7")


async def _no_sleep(delay: float) -> None:
    return None


def _next_version(name: str) -> dict[str, Any]:
    """What a later release would register: the latest file plus an optional field."""
    schema = copy.deepcopy(load_schema(name))
    schema["fields"].append({"name": "later_field", "type": ["null", "string"], "default": None})
    return schema


def _registered(registry: FakeRegistry, name: str) -> None:
    for version in schema_versions(name):
        registry.add(name, load_schema(name, version))


async def test_nothing_is_reported_while_the_registry_holds_only_known_versions() -> None:
    fake = FakeRegistry()
    _registered(fake, DossierSynced.AVRO_NAME)  # DocumentSent not registered at all: left out
    async with SchemaRegistryClient(CONFIG, transport=fake.transport(), sleep=_no_sleep) as registry:
        assert await unknown_latest(registry, [DossierSynced, DocumentSent]) == []


async def test_a_later_releases_version_is_reported_with_what_to_redeploy() -> None:
    fake = FakeRegistry()
    _registered(fake, DossierSynced.AVRO_NAME)
    fake.add(DossierSynced.AVRO_NAME, _next_version(DossierSynced.AVRO_NAME))
    async with SchemaRegistryClient(CONFIG, transport=fake.transport(), sleep=_no_sleep) as registry:
        (found,) = await unknown_latest(registry, [DossierSynced])
    versions = len(schema_versions(DossierSynced.AVRO_NAME))
    assert found == UnknownVersion(DossierSynced.AVRO_NAME, versions + 1, DossierSynced.SCHEMA_VERSION)
    advice = found.advice()
    assert f"validates version {DossierSynced.SCHEMA_VERSION}" in advice
    assert "restarted on the release that has it" in advice


async def test_the_watch_says_each_unknown_version_once() -> None:
    fake = FakeRegistry()
    _registered(fake, DossierSynced.AVRO_NAME)
    said: list[UnknownVersion] = []
    rounds = 0

    async def one_round(delay: float) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:  # a release is registered while the process runs
            fake.add(DossierSynced.AVRO_NAME, _next_version(DossierSynced.AVRO_NAME))
        if rounds == 4:
            raise asyncio.CancelledError

    async with SchemaRegistryClient(CONFIG, transport=fake.transport(), sleep=_no_sleep) as registry:
        with pytest.raises(asyncio.CancelledError):
            await watch(registry, [DossierSynced], said.append, interval_s=0.0, sleep=one_round)
    assert [unknown.name for unknown in said] == [DossierSynced.AVRO_NAME]
