"""``lgsp views explain VIEW KEY [--verify]``: the records behind a view row, re-verified on demand."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bus.errors import LgspError
from bus.settings import Settings
from consumers.evidence import DEFAULT_LIMIT, EVIDENCE_VIEWS, MAX_LIMIT, EvidencePage
from consumers.explain import Check, verify_evidence
from consumers.viewset import ViewSet
from lgsp.commands.storecheck import require_store


def explain(
    view: Annotated[str, typer.Argument(help=f"one of: {', '.join(EVIDENCE_VIEWS)}")],
    key: Annotated[
        str,
        typer.Argument(
            help="document id, dossier code, report key; scoreboard: province (00: nation); agencies: code"
        ),
    ],
    verify: Annotated[
        bool,
        typer.Option("--verify", help="re-read each record from Kafka and check its signature again"),
    ] = False,
    after: Annotated[
        str | None, typer.Option("--after", help="continue after topic/partition/offset")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="records per page")
    ] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List the signed records behind one view row (exit 1 when --verify finds one that does not verify)."""
    settings = Settings()
    require_store(settings)
    try:
        with ViewSet.from_settings(settings) as viewset:
            page = viewset.evidence(view, key, after=after, limit=limit)
            topic_types = viewset.topic_types()
        checks = asyncio.run(verify_evidence(settings, page.records, topic_types)) if verify else None
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(_json(page, checks), ensure_ascii=False, indent=2))
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)
        console.print(_table(page, checks))
        if page.after is not None:
            console.print(f"more: --after {page.after}")
    if checks is not None and not all(check.ok for check in checks):
        raise typer.Exit(1)


def _json(page: EvidencePage, checks: list[Check] | None) -> dict[str, Any]:
    body = page.as_json()
    if checks is not None:
        for record, check in zip(body["records"], checks, strict=True):
            record["verified"] = check.outcome
            record["detail"] = check.detail
    return body


def _table(page: EvidencePage, checks: list[Check] | None) -> Table:
    table = Table(title=f"evidence of {page.view} {page.key} ({len(page.records)} records)")
    for column in ("event id", "type", "topic/partition/offset", "signer", "agency", "occurred at"):
        table.add_column(column)
    if checks is not None:
        table.add_column("verified")
    for index, record in enumerate(page.records):
        cells = [
            record.event_id,
            record.event_type,
            f"{record.topic}/{record.partition}/{record.offset}",
            record.signer or "(unsigned)",
            record.agency,
            record.as_json()["occurred_at"][:19],
        ]
        if checks is not None:
            check = checks[index]
            cells.append(check.outcome if check.ok else f"{check.outcome}: {check.detail}")
        table.add_row(*cells)
    return table
