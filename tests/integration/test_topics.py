"""Topic provisioning on the real broker, under a prefix unique to each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.settings import Settings
from bus.topics import (
    TopicStatus,
    admin_kwargs,
    all_topics,
    ensure_topics,
    ensure_topics_report,
    list_topics,
)
from bus.types import TopicName

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def cleanup(admin: AIOKafkaAdminClient, topic_prefix: str) -> AsyncIterator[None]:
    yield
    await admin.delete_topics(list(all_topics(topic_prefix)))


async def topic_configs(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    (resource,) = response.resources
    return {entry[0]: entry[1] for entry in resource[4]}


@pytest.mark.usefixtures("cleanup")
async def test_ensure_topics_creates_the_catalog_once(settings: Settings, topic_prefix: str) -> None:
    settings.topics.partitions = 2
    created = await ensure_topics(settings, prefix=topic_prefix)
    assert sorted(created) == sorted(all_topics(topic_prefix))
    assert await ensure_topics(settings, prefix=topic_prefix) == []
    existing = await list_topics(settings, prefix=topic_prefix)
    assert existing[TopicName(f"{topic_prefix}lgsp.dossiers")] == 2
    assert existing[TopicName(f"{topic_prefix}lgsp.dossiers.dlq")] == settings.topics.dlq_partitions


@pytest.mark.usefixtures("cleanup")
async def test_topics_get_retention_isr_and_cleanup_from_settings(
    settings: Settings, topic_prefix: str, admin: AIOKafkaAdminClient
) -> None:
    settings.topics.retention_ms = 3_600_000
    settings.topics.dlq_retention_ms = 7_200_000
    await ensure_topics(settings, prefix=topic_prefix)
    configs = await topic_configs(admin, f"{topic_prefix}lgsp.documents")
    assert configs["retention.ms"] == "3600000"
    assert configs["min.insync.replicas"] == "1"
    assert configs["cleanup.policy"] == "delete"
    assert configs["message.timestamp.type"] == "LogAppendTime"
    assert (await topic_configs(admin, f"{topic_prefix}lgsp.documents.dlq"))["retention.ms"] == "7200000"


@pytest.mark.usefixtures("cleanup")
async def test_existing_topics_are_left_alone_and_a_partition_mismatch_is_reported(
    settings: Settings, topic_prefix: str
) -> None:
    await ensure_topics_report(settings, prefix=topic_prefix, partitions=2)
    outcomes = await ensure_topics_report(settings, prefix=topic_prefix, partitions=3)
    assert {o.status for o in outcomes} == {TopicStatus.EXISTS}
    warned = {o.plan.name for o in outcomes if o.warnings}
    assert warned == {
        f"{topic_prefix}lgsp.documents",
        f"{topic_prefix}lgsp.dossiers",
        f"{topic_prefix}lgsp.reports",
    }
    assert all(o.partitions == 2 for o in outcomes if o.plan.name in warned)


async def test_prefix_defaults_to_the_setting(settings: Settings, topic_prefix: str) -> None:
    settings.topics.prefix = topic_prefix
    assert await list_topics(settings) == {}
