"""The topic catalog: which event goes where, DLQ names, and the desired topic configs from settings."""

from __future__ import annotations

import pytest

from bus.cluster_defaults import defaults_for_brokers
from bus.errors import UnknownEventTypeError
from bus.events import EVENT_TYPES, DocumentSent, DocumentStatusChanged, DossierSynced, ReportFiled
from bus.settings import KafkaSettings, TopicSettings
from bus.topics import TOPICS, TopicPlan, admin_kwargs, all_topics, dlq_topic, topic_for, topic_plans

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        (DocumentSent, "lgsp.documents"),
        (DocumentStatusChanged, "lgsp.documents"),
        (DossierSynced, "lgsp.dossiers"),
        (ReportFiled, "lgsp.reports"),
    ],
)
def test_each_event_has_its_topic(event_type: type[DossierSynced], topic: str) -> None:
    assert topic_for(event_type) == topic
    assert topic_for(event_type.AVRO_NAME) == topic
    assert topic_for(event_type.AVRO_NAME.rsplit(".", 1)[-1]) == topic
    assert topic_for(event_type, prefix="t1.") == f"t1.{topic}"


def test_every_event_model_is_carried_by_exactly_one_topic() -> None:
    carried = [name for spec in TOPICS.values() for name in spec.event_types]
    assert sorted(carried) == sorted(name.rsplit(".", 1)[-1] for name in EVENT_TYPES)


def test_an_unknown_type_has_no_topic() -> None:
    with pytest.raises(UnknownEventTypeError, match=r"vn\.gov\.lgsp\.Nothing"):
        topic_for("vn.gov.lgsp.Nothing")


def test_dead_letter_topics() -> None:
    assert dlq_topic("t1.lgsp.dossiers") == "t1.lgsp.dossiers.dlq"
    with pytest.raises(ValueError, match="already"):
        dlq_topic("lgsp.dossiers.dlq")
    assert all_topics("p.") == [
        "p.lgsp.documents",
        "p.lgsp.documents.dlq",
        "p.lgsp.dossiers",
        "p.lgsp.dossiers.dlq",
        "p.lgsp.reports",
        "p.lgsp.reports.dlq",
    ]


def test_plans_take_sizes_and_configs_from_settings_and_overrides() -> None:
    settings = TopicSettings(partitions=6, replication_factor=3, min_insync_replicas=2, retention_ms=-1)
    plans: dict[str, TopicPlan] = {p.name: p for p in topic_plans(settings, prefix="x.", partitions=12)}
    main, dlq = plans["x.lgsp.reports"], plans["x.lgsp.reports.dlq"]
    assert (main.partitions, main.replication_factor) == (12, 3)
    assert main.configs == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "min.insync.replicas": "2",
        "message.timestamp.type": "LogAppendTime",
    }
    assert (dlq.partitions, dlq.configs["retention.ms"]) == (
        settings.dlq_partitions,
        str(settings.dlq_retention_ms),
    )


def test_min_insync_replicas_never_exceeds_the_replication_factor() -> None:
    settings = TopicSettings(replication_factor=3, min_insync_replicas=2)
    plans = topic_plans(settings, replication_factor=1)
    assert {p.configs["min.insync.replicas"] for p in plans} == {"1"}


def test_admin_kwargs_unwrap_the_sasl_secret_only_there() -> None:
    kafka = KafkaSettings.model_validate(
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "lgsp",
            "sasl_password": "bí-mật",
        }
    )
    kwargs = admin_kwargs(kafka)
    assert kwargs["sasl_plain_password"] == "bí-mật"
    assert "bí-mật" not in repr(kafka)


def test_replication_follows_the_cluster_unless_settings_say_otherwise() -> None:
    """Red team: `lgsp dev up --brokers 3` then `lgsp topics create` made topics with replication factor 1."""
    three = defaults_for_brokers(3)
    plans = topic_plans(TopicSettings(), cluster=three)
    assert {(p.replication_factor, p.configs["min.insync.replicas"]) for p in plans} == {(3, "2")}
    pinned = topic_plans(TopicSettings(replication_factor=2), cluster=three)
    assert {(p.replication_factor, p.configs["min.insync.replicas"]) for p in pinned} == {(2, "2")}
    assert {p.replication_factor for p in topic_plans(TopicSettings())} == {1}


@pytest.mark.parametrize(("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))])
def test_the_one_replication_rule(brokers: int, expected: tuple[int, int]) -> None:
    defaults = defaults_for_brokers(brokers)
    assert (defaults.replication_factor, defaults.min_insync_replicas) == expected
