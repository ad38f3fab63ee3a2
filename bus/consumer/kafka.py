"""Kafka client settings and error conversion for the consumer side (runner, DLQ writer, DLQ tools)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, KafkaTimeoutError

from bus.errors import BrokerError, BrokerUnavailableError
from bus.kafka_client import connection_kwargs
from bus.settings import Settings
from bus.topics import admin_kwargs


def client_config(settings: Settings, *, client_suffix: str) -> dict[str, Any]:
    """Connection keyword arguments shared by aiokafka consumers, producers and admin clients."""
    return connection_kwargs(settings.kafka, client_suffix=client_suffix)


def consumer_config(settings: Settings, *, group_id: str | None) -> dict[str, Any]:
    """A consumer that never commits by itself: the view store's offsets are the truth."""
    return {
        **client_config(settings, client_suffix="views"),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "fetch_max_wait_ms": 200,
    }


def dlq_producer_config(settings: Settings) -> dict[str, Any]:
    """Dead letters are few and must not be lost: acks=all, idempotent, no lingering."""
    return {
        **client_config(settings, client_suffix="dlq"),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,
        "max_request_size": settings.producer.max_request_size,
    }


def broker_error(exc: BaseException, action: str) -> BrokerError:
    """Our error for an aiokafka failure; timeouts and retriable broker errors are worth retrying."""
    message = f"Kafka: {action} failed: {type(exc).__name__}: {exc}"
    retriable = isinstance(exc, KafkaTimeoutError | OSError) or (
        isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))
    )
    return BrokerUnavailableError(message) if retriable else BrokerError(message)


async def topic_partitions(settings: Settings, topics: Sequence[str]) -> list[Any]:
    """The partitions of those ``topics`` that exist, asked of the cluster (a consumer only knows the
    metadata of what it already reads)."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    try:
        await admin.start()
        described = await admin.describe_topics(list(topics))
    except Exception as exc:
        raise broker_error(exc, "describing topics") from exc
    finally:
        await admin.close()
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    )
