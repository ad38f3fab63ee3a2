"""``lgsp bench``: the benchmarks, side by side with their baselines, recorded in ``bench/results/``.

The harness lives in the source tree's ``bench/`` package (not in the wheel): run it from a checkout.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from bus.errors import LgspError


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    part: Annotated[
        list[str] | None,
        typer.Option(
            "--part",
            metavar="PART",
            help="part to run, repeatable (default: all; an unknown name lists the parts)",
        ),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds", min=1, help="rounds per figure (default: each part's own, see bench/README.md)"
        ),
    ] = None,
    events: Annotated[
        int | None,
        typer.Option(
            "--events",
            min=1,
            help="events per round (serde, signing, publish, publish-file) and in the rebuild and scale-out "
            "corpus",
        ),
    ] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", min=0.5, help="seconds per load step (ingress, e2e)")
    ] = None,
    smoke: Annotated[bool, typer.Option("--smoke", help="every part tiny (seconds), for CI")] = False,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", help="where to write the results (default: bench/results)")
    ] = None,
    keep_corpus: Annotated[
        bool, typer.Option("--keep-corpus", help="keep the rebuild corpus topics for the next run")
    ] = False,
    keep_work: Annotated[bool, typer.Option("--keep-work", help="keep logs and stores of this run")] = False,
    profile: Annotated[
        bool, typer.Option("--profile", help="also profile the measured processes (py-spy), slower")
    ] = False,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure/--no-secure",
            help="also run the publish and rebuild parts on a private `lgsp dev up --secure` stack",
        ),
    ] = True,
) -> None:
    """Run the benchmarks on the local stack (or the one LGSP_KAFKA__BOOTSTRAP_SERVERS names)."""
    try:
        from bench.model import PARTS, Sizes
        from bench.runner import BenchOptions, run_bench
    except ImportError as exc:
        typer.echo(
            f"error: the bench harness is not importable ({exc}); run from a source checkout", err=True
        )
        raise typer.Exit(2) from exc
    chosen = part or ["all"]
    unknown = sorted(set(chosen) - {*PARTS, "all"})
    if unknown:
        typer.echo(f"error: no benchmark part {', '.join(unknown)}; parts: {', '.join(PARTS)}", err=True)
        raise typer.Exit(2)
    parts = PARTS if "all" in chosen else tuple(p for p in PARTS if p in chosen)
    options = BenchOptions(
        parts=parts,
        sizes=Sizes.build(smoke=smoke, rounds=rounds, events=events, seconds=seconds),
        output_dir=output_dir,
        keep_corpus=keep_corpus,
        keep_work=keep_work,
        profile=profile,
        secure=secure,
        command="lgsp " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "lgsp bench",
    )
    try:
        json_path, md_path, results = run_bench(options)
    except LgspError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"written: {json_path}\n         {md_path}")
    if any(result.status != "ok" for result in results):
        raise typer.Exit(1)
