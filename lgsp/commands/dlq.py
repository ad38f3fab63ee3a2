"""``lgsp dlq show | replay``: look at dead letters and send them back once their cause is fixed."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bus.consumer.dlq import StoredDeadLetter
from bus.consumer.dlq_tools import REPLAY_GROUP, read_dead_letters, replay_dead_letters, summary
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
    wide: Annotated[
        bool, typer.Option("--wide", help="also the DLQ position, origin, error class, message and time")
    ] = False,
) -> None:
    """Print the dead letters (oldest first): source agency, event type, event id and reason."""
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
    console = Console(width=SHOW_WIDTH if not wide else max(SHOW_WIDTH, Console().width))
    console.print(letters_table(letters, wide=wide))


SHOW_WIDTH = 100
"""``dlq show`` fits this many columns (the runbook's terminal); ``--wide`` takes the whole terminal."""


def letters_table(letters: list[StoredDeadLetter], *, wide: bool = False) -> Table:
    """The letters as a table: who sent what and why, the event id whole (it is what the publisher greps)."""
    table = Table(title=f"{len(letters)} dead letters", title_justify="left", pad_edge=False)
    table.add_column("source agency", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("event id", no_wrap=True, min_width=36)
    table.add_column("reason", no_wrap=True)
    if wide:
        for column in ("dlq offset", "from", "error", "message", "time"):
            table.add_column(column, overflow="fold")
    for letter in letters:
        about = summary(letter)
        row = [about.source, about.type, about.event_id, letter.reason]
        if wide:
            info = letter.info
            row += [
                f"{letter.dlq_topic}[{letter.dlq_partition}]@{letter.dlq_offset}",
                f"{info.get('topic', '?')}[{info.get('partition', '?')}]@{info.get('offset', '?')}",
                info.get("error_class", ""),
                info.get("message", "")[:300],
                info.get("time", ""),
            ]
        table.add_row(*row)
    return table


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
    force: Annotated[
        bool, typer.Option("--force", help="also letters that would still be dead-lettered (they come back)")
    ] = False,
) -> None:
    """Re-publish dead letters to their original topic (same key, value and headers) once their cause is
    fixed: each is judged again first, and only those that would now be applied are sent (all with --force).
    A letter is never replayed twice by the same group."""
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
                force=force,
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
    if report.still_failing:
        failing = ", ".join(f"{r}: {n}" for r, n in sorted(report.failing_reasons.items()))
        typer.echo(
            f"{report.still_failing} would still be dead-lettered ({failing}): kept for a later replay "
            "(fix the cause first, or --force)"
        )
    if report.already_replayed:
        typer.echo(f"{report.already_replayed} were replayed before by group {group}: not sent again")


def _as_dict(letter: StoredDeadLetter) -> dict[str, object]:
    about = summary(letter)
    return {
        "source": about.source,
        "type": about.type,
        "event_id": about.event_id,
        "dlq_topic": letter.dlq_topic,
        "dlq_partition": letter.dlq_partition,
        "dlq_offset": letter.dlq_offset,
        "key": letter.key.decode("utf-8", errors="replace") if letter.key is not None else None,
        "value_bytes": len(letter.value) if letter.value is not None else 0,
        **dict(letter.info),
    }
