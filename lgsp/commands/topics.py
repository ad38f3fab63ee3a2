"""``lgsp topics create | list``: the catalog topics and their dead-letter topics on Kafka."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.errors import LgspError
from bus.topics import TOPICS, TopicStatus, dlq_topic, ensure_topics_report, list_topics
from bus.types import TopicName
from lgsp.options import settings_with

PartitionsOption = Annotated[
    int | None, typer.Option("--partitions", min=1, help="partitions of each event topic (default: settings)")
]
ReplicationOption = Annotated[
    int | None, typer.Option("--replication-factor", min=1, help="replicas per partition (default: settings)")
]
PrefixOption = Annotated[
    str | None, typer.Option("--prefix", help="prepended to every topic name (default: LGSP_TOPICS__PREFIX)")
]
BootstrapOption = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", help="Kafka to talk to (default: LGSP_KAFKA__BOOTSTRAP_SERVERS)"),
]


def register(app: typer.Typer) -> None:
    topics = typer.Typer(help="Create and list the event topics (lgsp.documents, ...) and their DLQs.")
    topics.command("create")(create)
    topics.command("list")(list_command)
    app.add_typer(topics, name="topics", no_args_is_help=True)


def create(
    partitions: PartitionsOption = None,
    replication_factor: ReplicationOption = None,
    prefix: PrefixOption = None,
    bootstrap_servers: BootstrapOption = None,
) -> None:
    """Create every missing topic (idempotent); existing topics are reported and left as they are."""
    settings = settings_with(bootstrap_servers=bootstrap_servers, prefix=prefix)
    try:
        outcomes = asyncio.run(
            ensure_topics_report(settings, partitions=partitions, replication_factor=replication_factor)
        )
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for outcome in outcomes:
        plan = outcome.plan
        verb = "created" if outcome.status is TopicStatus.CREATED else "exists "
        typer.echo(
            f"{verb} {plan.name}  partitions={outcome.partitions} replication={plan.replication_factor} "
            f"retention.ms={plan.configs['retention.ms']} cleanup.policy={plan.configs['cleanup.policy']}"
        )
        for warning in outcome.warnings:
            typer.echo(f"warning: {warning}", err=True)


def list_command(prefix: PrefixOption = None, bootstrap_servers: BootstrapOption = None) -> None:
    """Show each catalog topic, its key and event types, and whether it exists (with its partitions)."""
    settings = settings_with(bootstrap_servers=bootstrap_servers, prefix=prefix)
    try:
        existing = asyncio.run(list_topics(settings))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for spec in TOPICS.values():
        name = TopicName(settings.topics.prefix + spec.name)
        for topic in (name, dlq_topic(name)):
            state = f"{existing[topic]} partitions" if topic in existing else "missing"
            what = f"key: {spec.key}; {', '.join(spec.event_types)}" if topic == name else "dead letters"
            typer.echo(f"{topic:<32} {state:<14} {what}")
