"""What a client can do on the secure stack, each operation tried for real and classified.

``OK``: it worked. ``DENIED``: the broker authenticated the client and refused by ACL. ``REFUSED``: the client
never got in (no or wrong credentials, no TLS). Both libraries the acceptance names are used: aiokafka (the
bus's own clients, built by ``bus.kafka_client.connection_kwargs``) and confluent-kafka (librdkafka, built by
``librdkafka_config``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic as RdNewTopic

from bus.kafka_client import connection_kwargs, librdkafka_config
from bus.settings import KafkaSettings

_TIMEOUT_MS = 5000
_QUIET = logging.getLogger("tests.librdkafka")
_QUIET.setLevel(logging.CRITICAL)
_AUTHZ_CODES = {29, 30, 31}  # topic, group, cluster authorization failed


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    REFUSED = "refused"


def _fast(kafka: KafkaSettings) -> KafkaSettings:
    return kafka.model_copy(update={"request_timeout_ms": _TIMEOUT_MS})


def _classify(exc: BaseException) -> Outcome:
    if isinstance(exc, TopicAuthorizationFailedError | GroupAuthorizationFailedError):
        return Outcome.DENIED
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | OSError):
        return Outcome.REFUSED
    if isinstance(exc, KafkaError) and getattr(exc, "errno", None) in _AUTHZ_CODES:
        return Outcome.DENIED
    raise exc


async def aio_produce(kafka: KafkaSettings, topic: str) -> Outcome:
    producer = AIOKafkaProducer(**connection_kwargs(_fast(kafka)), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        await producer.send_and_wait(topic, b"probe", key=b"k")
    except Exception as exc:
        return _classify(exc)
    finally:
        await producer.stop()
    return Outcome.OK


async def aio_read(kafka: KafkaSettings, topic: str) -> Outcome:
    """Fetch from partition 0 without a group (what the views' rebuild does); the topic must hold a record.

    aiokafka only logs a topic it may not describe and returns nothing, so "no record within the wait" is
    a denial too (the fixture wrote one into every topic).
    """
    consumer = AIOKafkaConsumer(**connection_kwargs(_fast(kafka)), group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batches = await consumer.getmany(partition, timeout_ms=4000)
    except Exception as exc:
        return _classify(exc)
    finally:
        await consumer.stop()
    return Outcome.OK if batches.get(partition) else Outcome.DENIED


async def aio_commit(kafka: KafkaSettings, topic: str, group: str) -> Outcome:
    """Commit an offset for ``group`` (needs Read on the group and on the topic)."""
    consumer = AIOKafkaConsumer(**connection_kwargs(_fast(kafka)), group_id=group, enable_auto_commit=False)
    try:
        await consumer.start()
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.commit({partition: 0})
    except Exception as exc:
        return _classify(exc)
    finally:
        await consumer.stop()
    return Outcome.OK


async def aio_create_topic(kafka: KafkaSettings, topic: str) -> Outcome:
    admin = AIOKafkaAdminClient(**connection_kwargs(_fast(kafka)))
    try:
        await admin.start()
        response = await admin.create_topics([NewTopic(topic, 1, 1)])
        codes = {error[1] for error in response.topic_errors}
    except Exception as exc:
        return _classify(exc)
    finally:
        await admin.close()
    if codes & _AUTHZ_CODES:
        return Outcome.DENIED
    if codes - {0, 36}:  # 36: exists
        raise AssertionError(f"create_topics answered {codes}")
    return Outcome.OK


async def aio_delete_topic(kafka: KafkaSettings, topic: str) -> Outcome:
    admin = AIOKafkaAdminClient(**connection_kwargs(_fast(kafka)))
    try:
        await admin.start()
        response = await admin.delete_topics([topic])
        codes = {error[1] for error in response.topic_error_codes}
    except Exception as exc:
        return _classify(exc)
    finally:
        await admin.close()
    if codes & _AUTHZ_CODES:
        return Outcome.DENIED
    return Outcome.OK


def _rd(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    return {**librdkafka_config(kafka), "logger": _QUIET, **extra}


def rd_produce(kafka: KafkaSettings, topic: str) -> Outcome:
    errors: list[RdKafkaError | None] = []
    producer = Producer(_rd(kafka, acks="all", **{"message.timeout.ms": _TIMEOUT_MS}))
    producer.produce(topic, b"probe", key=b"k", on_delivery=lambda err, _msg: errors.append(err))
    left = producer.flush(_TIMEOUT_MS / 1000 + 2)
    if left or not errors:
        return Outcome.REFUSED
    err = errors[0]
    if err is None:
        return Outcome.OK
    if err.code() in (-185, -192, -195):  # timed out, message timed out, transport
        return Outcome.REFUSED
    if "AUTHORIZATION" in err.name():
        return Outcome.DENIED
    raise AssertionError(f"produce failed: {err}")


def rd_read(kafka: KafkaSettings, topic: str, group: str) -> Outcome:
    consumer = Consumer(
        _rd(kafka, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    )
    try:
        consumer.subscribe([topic])
        for _ in range(8):
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return Outcome.OK
            if "AUTHORIZATION" in error.name():
                return Outcome.DENIED
            if error.name() in ("_TRANSPORT", "_ALL_BROKERS_DOWN", "_AUTHENTICATION", "_SSL"):
                return Outcome.REFUSED
        return Outcome.REFUSED if not consumer.assignment() else Outcome.OK
    finally:
        consumer.close()


def rd_create_topic(kafka: KafkaSettings, topic: str) -> Outcome:
    admin = AdminClient(_rd(kafka))
    future = admin.create_topics([RdNewTopic(topic, 1, 1)], request_timeout=_TIMEOUT_MS / 1000)[topic]
    try:
        future.result(timeout=_TIMEOUT_MS / 1000 + 2)
    except KafkaException as exc:
        name = exc.args[0].name()
        if "AUTHORIZATION" in name:
            return Outcome.DENIED
        if name == "TOPIC_ALREADY_EXISTS":
            return Outcome.OK
        return Outcome.REFUSED
    except TimeoutError:
        return Outcome.REFUSED
    return Outcome.OK


async def read_records(
    kafka: KafkaSettings, topics: Sequence[str], count: int, timeout_s: float = 30.0
) -> list[Any]:
    """At least ``count`` records of ``topics`` from the beginning (aiokafka ConsumerRecords), read as
    ``kafka`` without a group; fails when they do not arrive within ``timeout_s``."""
    consumer = AIOKafkaConsumer(
        *topics,
        **connection_kwargs(kafka),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=1000)
                records += [record for batch in batches.values() for record in batch]
    finally:
        await consumer.stop()
    return records
