"""``lgsp topics create | list | tail``: the catalog topics and their dead-letter topics on Kafka."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from bus.errors import LgspError
from bus.topics import (
    TOPICS,
    TopicStatus,
    audit_topic_plan,
    dlq_topic,
    ensure_audit_topic,
    ensure_topics_report,
    list_topics,
)
from bus.types import TopicName
from bus.wording import counted
from lgsp.options import settings_with
from lgsp.tail import DEFAULT_COUNT, TailedRecord, resolve_topic, tail

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
    topics.command("tail")(tail_command)
    app.add_typer(topics, name="topics", no_args_is_help=True)


def create(
    partitions: PartitionsOption = None,
    replication_factor: ReplicationOption = None,
    prefix: PrefixOption = None,
    bootstrap_servers: BootstrapOption = None,
) -> None:
    """Create every missing topic (idempotent), and the ingress's audit topic; existing topics are reported
    and left as they are."""
    settings = settings_with(bootstrap_servers=bootstrap_servers, prefix=prefix)
    try:
        outcomes = asyncio.run(
            ensure_topics_report(settings, partitions=partitions, replication_factor=replication_factor)
        )
        audit = audit_topic_plan(settings)
        verb = "created" if asyncio.run(ensure_audit_topic(settings)) else "exists "
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
    typer.echo(
        f"{verb} {audit.name}  retention.ms={audit.configs['retention.ms']} (the ingress's audit trail)"
    )


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


def tail_command(
    topic: Annotated[
        str, typer.Argument(help="lgsp.dossiers, dossiers, lgsp.dossiers.dlq, ... (prefix added)")
    ],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="the first events instead of the last")
    ] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="only the events of this key (document id, dossier code, ...)")
    ] = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, help="at most this many events")
    ] = DEFAULT_COUNT,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    prefix: PrefixOption = None,
    bootstrap_servers: BootstrapOption = None,
) -> None:
    """Print the last COUNT events of TOPIC decoded (CloudEvents JSON), oldest first; reads, never commits."""
    settings = settings_with(bootstrap_servers=bootstrap_servers, prefix=prefix)
    real = resolve_topic(topic, settings.topics.prefix)
    try:
        records = asyncio.run(tail(settings, real, count=count, from_beginning=from_beginning, key=key))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for record in records:
        if as_json:
            typer.echo(json.dumps(record.to_json(), ensure_ascii=False))
        else:
            typer.echo(_tail_text(record))
    if not as_json:
        typer.echo(f"{counted(len(records), 'event')} from {real}", err=True)


def _tail_text(record: TailedRecord) -> str:
    where = f"{record.topic}[{record.partition}]@{record.offset} {record.timestamp} key={record.key}"
    lines = [f"{where} signature={record.signature}"]
    if record.dead_letter:
        lines.append(
            f"  dead letter: {record.dead_letter.get('reason', '?')}: {record.dead_letter.get('message', '')}"
        )
    if record.error is not None:
        lines.append(f"  not decoded: {record.error}")
    else:
        lines.append(json.dumps(record.event, ensure_ascii=False, indent=2))
    return "\n".join(lines)
