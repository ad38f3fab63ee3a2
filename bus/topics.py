"""The topic catalog and its provisioning: which event goes to which topic, keyed by what.

    lgsp.documents   key: document id   DocumentSent, DocumentStatusChanged
    lgsp.dossiers    key: dossier code  DossierSynced
    lgsp.reports     key: report id     ReportFiled
    <topic>.dlq      dead letters of <topic>, with reason headers

Names here are catalog names; the real topic is ``settings.topics.prefix`` + name, so tests and tenants can
share a cluster. Event types are matched by their record's short name (``DossierSynced``), so the catalog
does not depend on the sub-namespaces the schemas choose; :func:`topic_for` takes the model, its full name
or its short name.

:func:`ensure_topics` is idempotent: it creates what is missing with the partitions, replication and configs
from settings, and leaves existing topics alone, reporting them (and any partition count that differs from
the settings, which Kafka cannot shrink and which changes key-to-partition mapping if grown).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from bus.cluster_defaults import ClusterDefaults, cluster_defaults, defaults_for_brokers
from bus.errors import BrokerError, BrokerUnavailableError, UnknownEventTypeError
from bus.kafka_client import connection_kwargs
from bus.settings import KafkaSettings, Settings, TopicSettings
from bus.types import TopicName

log = logging.getLogger(__name__)

DLQ_SUFFIX: Final = ".dlq"
_TOPIC_ALREADY_EXISTS: Final = 36
_METADATA_POLL_S: Final = 0.05
_SINGLE_BROKER: Final = defaults_for_brokers(1)


class _Named(Protocol):
    AVRO_NAME: ClassVar[str]


@dataclass(frozen=True)
class TopicSpec:
    """One event topic of the catalog."""

    name: TopicName
    key: str
    event_types: tuple[str, ...]
    doc: str
    cleanup_policy: str = "delete"


TOPICS: Final[Mapping[TopicName, TopicSpec]] = {
    spec.name: spec
    for spec in (
        TopicSpec(
            TopicName("lgsp.documents"),
            key="document id (edXML DocumentId)",
            event_types=("DocumentSent", "DocumentStatusChanged"),
            doc="Official documents sent over the document exchange axis, and recipients' status feedback.",
        ),
        TopicSpec(
            TopicName("lgsp.dossiers"),
            key="dossier code (MaHoSo)",
            event_types=("DossierSynced",),
            doc="Full snapshots of administrative-procedure dossiers synchronised to the national portal.",
        ),
        TopicSpec(
            TopicName("lgsp.reports"),
            key="report id",
            event_types=("ReportFiled",),
            doc="Periodic reports filed to the national reporting system, with indicator values.",
        ),
    )
}

_TOPIC_BY_TYPE: Final[Mapping[str, TopicName]] = {
    event_type: spec.name for spec in TOPICS.values() for event_type in spec.event_types
}


def topic_for(event_type: type[_Named] | _Named | str, *, prefix: str = "") -> TopicName:
    """The topic an event type is published to (model class, instance, full or short Avro name)."""
    name = event_type if isinstance(event_type, str) else event_type.AVRO_NAME
    topic = _TOPIC_BY_TYPE.get(name.rsplit(".", 1)[-1])
    if topic is None:
        raise UnknownEventTypeError(f"no topic carries events of type {name}")
    return TopicName(prefix + topic)


def dlq_topic(topic: str) -> TopicName:
    """The dead-letter topic of ``topic`` (prefix included, if ``topic`` has one)."""
    if topic.endswith(DLQ_SUFFIX):
        raise ValueError(f"{topic} is already a dead-letter topic")
    return TopicName(topic + DLQ_SUFFIX)


def all_topics(prefix: str = "") -> list[TopicName]:
    """Every topic of the catalog with its dead-letter topic, prefixed."""
    names: list[TopicName] = []
    for name in TOPICS:
        names += [TopicName(prefix + name), dlq_topic(prefix + name)]
    return names


@dataclass(frozen=True)
class TopicPlan:
    """What a topic should look like."""

    name: TopicName
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


def replication(
    settings: TopicSettings, cluster: ClusterDefaults, replication_factor: int | None = None
) -> tuple[int, str]:
    """``(replicas, min.insync.replicas)`` of a topic this bus creates: the argument, else the settings, else
    the ``cluster``'s defaults; the in-sync minimum likewise, never above the replicas."""
    replicas = replication_factor or settings.replication_factor or cluster.replication_factor
    return replicas, str(min(settings.min_insync_replicas or cluster.min_insync_replicas, replicas))


def topic_plans(
    settings: TopicSettings,
    *,
    prefix: str = "",
    partitions: int | None = None,
    replication_factor: int | None = None,
    cluster: ClusterDefaults = _SINGLE_BROKER,
) -> list[TopicPlan]:
    """The desired state of every topic: catalog topics from ``settings``, DLQs with their own sizing.

    Replication: :func:`replication`.
    """
    replicas, min_isr = replication(settings, cluster, replication_factor)
    plans = []
    for spec in TOPICS.values():
        name = TopicName(prefix + spec.name)
        configs = {
            "cleanup.policy": spec.cleanup_policy,
            "retention.ms": str(settings.retention_ms),
            "min.insync.replicas": min_isr,
            # The broker stamps each record as it appends it: the views compare event times and key
            # revocations with a time no producer can set (consumers/admission.py, bus/signing/verify.py).
            "message.timestamp.type": "LogAppendTime",
        }
        plans.append(TopicPlan(name, partitions or settings.partitions, replicas, configs))
        dlq_configs = {**configs, "cleanup.policy": "delete", "retention.ms": str(settings.dlq_retention_ms)}
        plans.append(TopicPlan(dlq_topic(name), settings.dlq_partitions, replicas, dlq_configs))
    return plans


AUDIT_TOPIC: Final = TopicName("lgsp.audit")
"""The ingress's audit trail: one JSON record per event request, published or refused
(``producers/ingress/audit.py``). Not an event topic: no schema, no dead-letter topic, no view reads it."""
_DAY_MS: Final = 86_400_000


def audit_topic_plan(
    settings: Settings, *, prefix: str | None = None, cluster: ClusterDefaults = _SINGLE_BROKER
) -> TopicPlan:
    """What ``lgsp.audit`` should look like: deleted after ``LGSP_AUDIT__RETENTION_DAYS``, stamped with the
    broker's append time (the time an auditor can trust), replicated like the event topics."""
    topics = settings.topics
    replicas, min_isr = replication(topics, cluster)
    configs = {
        "cleanup.policy": "delete",
        "retention.ms": str(settings.audit.retention_days * _DAY_MS),
        "min.insync.replicas": min_isr,
        "message.timestamp.type": "LogAppendTime",
    }
    name = TopicName((topics.prefix if prefix is None else prefix) + AUDIT_TOPIC)
    return TopicPlan(name, topics.partitions, replicas, configs)


@asynccontextmanager
async def _creating(settings: Settings, failing: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; Kafka's errors become the bus's (``failing`` says what did not happen)."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    try:
        await admin.start()
        yield admin
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        raise BrokerUnavailableError(
            f"Kafka at {settings.kafka.bootstrap_servers} is unavailable: {exc}"
        ) from exc
    except KafkaError as exc:
        raise BrokerError(f"{failing}: {exc!r}") from exc
    finally:
        await admin.close()


async def ensure_audit_topic(settings: Settings) -> bool:
    """Create ``lgsp.audit`` if it is missing (idempotent); whether it was created."""
    async with _creating(settings, "cannot create the audit topic") as admin:
        plan = audit_topic_plan(settings, cluster=await cluster_defaults(admin))
        return bool(await _create_missing(admin, [plan], settings.kafka.request_timeout_ms))


class TopicStatus(StrEnum):
    CREATED = "created"
    EXISTS = "exists"


@dataclass(frozen=True)
class TopicOutcome:
    """What :func:`ensure_topics_report` did for one topic."""

    plan: TopicPlan
    status: TopicStatus
    partitions: int
    warnings: tuple[str, ...] = field(default=())


async def ensure_topics(settings: Settings, *, prefix: str = "") -> list[TopicName]:
    """Create every missing catalog topic and DLQ; returns the topics that were created (idempotent).

    ``prefix`` defaults to ``settings.topics.prefix``.
    """
    outcomes = await ensure_topics_report(settings, prefix=prefix)
    for outcome in outcomes:
        for warning in outcome.warnings:
            log.warning(warning)
    return [o.plan.name for o in outcomes if o.status is TopicStatus.CREATED]


async def ensure_topics_report(
    settings: Settings,
    *,
    prefix: str = "",
    partitions: int | None = None,
    replication_factor: int | None = None,
) -> list[TopicOutcome]:
    """Like :func:`ensure_topics`, with what happened to each topic and warnings about existing ones."""
    async with _creating(settings, "creating topics failed") as admin:
        plans = topic_plans(
            settings.topics,
            prefix=prefix or settings.topics.prefix,
            partitions=partitions,
            replication_factor=replication_factor,
            cluster=await cluster_defaults(admin),
        )
        created = await _create_missing(admin, plans, settings.kafka.request_timeout_ms)
        actual = await _partition_counts(
            admin, [p.name for p in plans], wait_s=settings.kafka.request_timeout_ms / 1000
        )
    return [_outcome(plan, plan.name in created, actual.get(plan.name, 0)) for plan in plans]


async def list_topics(settings: Settings, *, prefix: str = "") -> dict[TopicName, int]:
    """The catalog topics (and DLQs) that exist, with their partition counts."""
    names = all_topics(prefix or settings.topics.prefix)
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    try:
        await admin.start()
        counts = await _partition_counts(admin, names)
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        raise BrokerUnavailableError(
            f"Kafka at {settings.kafka.bootstrap_servers} is unavailable: {exc}"
        ) from exc
    except KafkaError as exc:
        raise BrokerError(f"describing topics failed: {exc}") from exc
    finally:
        await admin.close()
    return {name: counts[name] for name in names if name in counts}


def admin_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection arguments for aiokafka's admin client from settings."""
    return connection_kwargs(kafka, client_suffix="admin")


async def _create_missing(
    admin: AIOKafkaAdminClient, plans: Sequence[TopicPlan], timeout_ms: int
) -> set[str]:
    new_topics = [
        NewTopic(p.name, p.partitions, p.replication_factor, topic_configs=dict(p.configs)) for p in plans
    ]
    response = await admin.create_topics(new_topics, timeout_ms=timeout_ms)
    created: set[str] = set()
    for topic, error_code, *rest in response.topic_errors:
        if error_code == 0:
            created.add(topic)
        elif error_code != _TOPIC_ALREADY_EXISTS:
            message = rest[0] if rest else ""
            raise BrokerError(f"could not create topic {topic}: error {error_code} {message}")
    return created


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: Sequence[str], *, wait_s: float = 0.0
) -> dict[TopicName, int]:
    """Partition counts of the ``names`` that exist; polls up to ``wait_s`` until all of them are visible.

    A topic created a moment ago (by us or by a concurrent caller) can be missing from metadata, or answer
    LEADER_NOT_AVAILABLE, for a few milliseconds.
    """
    deadline = time.monotonic() + wait_s
    while True:
        described = await admin.describe_topics(list(names))
        counts = {
            TopicName(t["topic"]): len(t["partitions"])
            for t in described
            if t["error_code"] == 0 and t["partitions"]
        }
        if len(counts) == len(set(names)) or time.monotonic() >= deadline:
            return counts
        await asyncio.sleep(_METADATA_POLL_S)


def _outcome(plan: TopicPlan, created: bool, partitions: int) -> TopicOutcome:
    if created:
        return TopicOutcome(plan, TopicStatus.CREATED, partitions or plan.partitions)
    warnings: tuple[str, ...] = ()
    if partitions != plan.partitions:
        warnings = (
            f"{plan.name} has {partitions} partitions, not the {plan.partitions} asked for; left as is",
        )
    return TopicOutcome(plan, TopicStatus.EXISTS, partitions, warnings)
