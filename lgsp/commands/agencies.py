"""``lgsp agencies``: the agency catalog from the command line (show, search), and agency onboarding.

This module is the ``agencies`` command group; other commands of the group (``onboard``, ``offboard``,
``keys ...``) add themselves to :data:`agencies_app` from their own modules.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bus.agencies import load_catalog
from bus.agency_lookup import SEARCH_LIMIT, AgencyInfo, describe, search
from bus.errors import ValidationError

agencies_app = typer.Typer(
    help="Look agency codes up in the catalog (QĐ 20/2020 codes: name, level, province, parent).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def register(app: typer.Typer) -> None:
    agencies_app.command("show")(show)
    agencies_app.command("search")(search_command)
    app.add_typer(agencies_app, name="agencies")


def show(
    code: Annotated[str, typer.Argument(help="an agency code, e.g. 000.00.00.H41")],
    as_json: JsonOption = False,
) -> None:
    """What the catalog knows about CODE: name, level, province, parent, and whom it may publish for."""
    try:
        info = describe(code, load_catalog())
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(info.to_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(_text(info))
    if not info.known:
        raise typer.Exit(1)


def search_command(
    text: Annotated[str, typer.Argument(help="words of a name or code; case and diacritics are ignored")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most this many matches")] = SEARCH_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """Agencies whose name, English name, province or code holds every word of TEXT ("tu phap nghe an")."""
    found = search(text, load_catalog(), limit=limit)
    if as_json:
        typer.echo(json.dumps([info.to_json() for info in found], ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo(f"no agency matches {text!r}", err=True)
        raise typer.Exit(1)
    for info in found:
        province = f"  province {info.province.code}" if info.province else ""
        typer.echo(f"{info.code:<16} {info.name}{province}")


def _text(info: AgencyInfo) -> str:
    lines = [f"{info.code}  {info.name or '(not in the catalog)'}"]
    if info.name_en:
        lines.append(f"  English:  {info.name_en}")
    lines.append(
        f"  kind:     {info.kind or 'unknown'}   level: {info.level}   code: {info.code_status or '-'}"
    )
    if info.province:
        lines.append(f"  province: {info.province.code} {info.province.name}")
    if info.parent:
        lines.append(f"  parent:   {info.parent.code} {info.parent.name or '(not in the catalog)'}")
    lines.append("  may publish for:")
    lines.extend(f"    - {rule}" for rule in info.may_publish_for)
    return "\n".join(lines)
