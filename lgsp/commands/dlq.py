"""``lgsp dlq show | replay``: look at dead letters and send them back once their cause is fixed."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bus.consumer.dlq import StoredDeadLetter
from bus.consumer.dlq_tools import REPLAY_GROUP, read_dead_letters, replay_dead_letters
from bus.errors import LgspError
from bus.settings import Settings
from bus.topics import TOPICS, dlq_topic

TopicOption = Annotated[
    list[str] | None,
    typer.Option(
        "--topic", help="event topic whose DLQ to read, e.g. lgsp.dossiers (repeatable; default: all three)"
    ),
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="at most this many dead letters")]


def register(app: typer.Typer) -> None:
    dlq = typer.Typer(help="Dead letters: records the views could never apply, with why.")
    dlq.command("show")(show)
    dlq.command("replay")(replay)
    app.add_typer(dlq, name="dlq", no_args_is_help=True)


def _dlq_topics(settings: Settings, topics: list[str] | None) -> list[str]:
    prefix = settings.topics.prefix
    names = topics or list(TOPICS)
    return [dlq_topic(name if name.startswith(prefix) else prefix + name) for name in names]


def show(
    topic: TopicOption = None,
    limit: LimitOption = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Print the dead letters with their reason headers (oldest first)."""
    settings = Settings()
    try:
        letters = asyncio.run(read_dead_letters(settings, _dlq_topics(settings, topic), limit=limit))
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        for letter in letters:
            typer.echo(json.dumps(_as_dict(letter), ensure_ascii=False))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("dlq offset", "from", "reason", "error", "message", "group", "time"):
        table.add_column(column)
    for letter in letters:
        info = letter.info
        table.add_row(
            f"{letter.dlq_topic}[{letter.dlq_partition}]@{letter.dlq_offset}",
            f"{info.get('topic', '?')}[{info.get('partition', '?')}]@{info.get('offset', '?')}",
            letter.reason,
            info.get("error_class", ""),
            info.get("message", "")[:200],
            info.get("group", ""),
            info.get("time", ""),
        )
    Console().print(table)


def replay(
    topic: TopicOption = None,
    limit: LimitOption = None,
    reason: Annotated[
        list[str] | None, typer.Option("--reason", help="only letters with this lgsp_dlq_reason (repeatable)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would be replayed; send nothing")
    ] = False,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="also letters an earlier replay already sent back")
    ] = False,
    group: Annotated[str, typer.Option("--group", help="consumer group remembering what was replayed")] = (
        REPLAY_GROUP
    ),
) -> None:
    """Re-publish dead letters to their original topic (same key, value and headers), e.g. after a fix."""
    settings = Settings()
    reasons = set(reason or ())

    def accept(letter: StoredDeadLetter) -> bool:
        return not reasons or letter.reason in reasons

    try:
        report = asyncio.run(
            replay_dead_letters(
                settings,
                _dlq_topics(settings, topic),
                dry_run=dry_run,
                limit=limit,
                accept=accept,
                group_id=group,
                from_beginning=from_beginning,
            )
        )
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    verb = "would replay" if dry_run else "replayed"
    count = sum(report.by_topic.values()) if dry_run else report.replayed
    per_topic = ", ".join(f"{t}: {n}" for t, n in sorted(report.by_topic.items())) or "nothing"
    typer.echo(
        f"{verb} {count} of {report.read} dead letters ({per_topic}); {report.skipped} left out by --reason"
    )


def _as_dict(letter: StoredDeadLetter) -> dict[str, object]:
    return {
        "dlq_topic": letter.dlq_topic,
        "dlq_partition": letter.dlq_partition,
        "dlq_offset": letter.dlq_offset,
        "key": letter.key.decode("utf-8", errors="replace") if letter.key is not None else None,
        "value_bytes": len(letter.value) if letter.value is not None else 0,
        **dict(letter.info),
    }
