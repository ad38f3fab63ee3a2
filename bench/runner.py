"""What ``lgsp bench`` runs: find the stack, run the chosen parts in order, write the results."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import machine
from bench.model import PARTS, BenchContext, PartResult, Sizes
from bench.procs import compile_bytecode
from bench.report import figure_line, target_line, write_results
from bench.secure import SECURE_PARTS, SUFFIX, as_secure, secure_stack
from bench.stack import (
    bench_settings,
    delete_prefixed_topics,
    kafka_facts,
    kafka_tools_classpath,
    resolve_stack,
)
from bus.settings import Settings
from lgsp.devstack.tools import find_java

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_TITLES = {
    "serde": "Serde: encode / decode DossierSynced",
    "decode": "Decode: wire bytes → event / views' record, per type and mixed, vs raw fastavro",
    "signing": "Signing: sign and verify CPU per event (batch signature + per-record proof)",
    "publish": "Publish: bus.Publisher vs raw aiokafka vs ProducerPerformance",
    "publish-file": "Publish a file: `lgsp publish FILE` (whole process) vs a raw aiokafka script",
    "rebuild": "Rebuild: views from the start of the topics vs raw aiokafka vs ConsumerPerformance",
    "ingress": "Ingress: HTTP single-event and batch",
    "e2e": "End to end: publish → visible in the views",
    "scaleout": "Scale-out: views rebuild on PostgreSQL with 1, 2, 4 builders vs SQLite with 1 (same events)",
}


@dataclass(frozen=True)
class BenchOptions:
    parts: Sequence[str] = PARTS
    sizes: Sizes = field(default_factory=Sizes)
    output_dir: Path | None = None
    keep_corpus: bool = False
    keep_work: bool = False
    profile: bool = False
    secure: bool = True
    """Also run the parts of :data:`bench.secure.SECURE_PARTS` on a private secure stack (#13)."""
    command: str = "lgsp bench"


def part_runner(name: str) -> Callable[[BenchContext], PartResult]:
    """The ``run`` function of one part (imported late: each part pulls in what it measures)."""
    if name == "serde":
        from bench.parts import serde

        return serde.run
    if name == "decode":
        from bench.parts import decode

        return decode.run
    if name == "signing":
        from bench.parts import signing

        return signing.run
    if name == "publish":
        from bench.parts import publish

        return publish.run
    if name == "publish-file":
        from bench.parts import publish_file

        return publish_file.run
    if name == "rebuild":
        from bench.parts import rebuild

        return rebuild.run
    if name == "ingress":
        from bench.parts import ingress

        return ingress.run
    if name == "e2e":
        from bench.parts import e2e

        return e2e.run
    if name == "scaleout":
        from bench.parts import scaleout

        return scaleout.run
    raise ValueError(f"no benchmark part {name!r}; parts: {', '.join(PARTS)}")


def run_bench(options: BenchOptions, base: Settings | None = None) -> tuple[Path, Path, list[PartResult]]:
    """Run ``options.parts`` on the stack; the JSON and markdown paths and the parts' results."""
    started = time.time()
    started_at = datetime.now(UTC)
    base = base or Settings()
    stack = resolve_stack(base)
    settings = bench_settings(base, stack)
    java = find_java(settings.dev.java).path
    run_id = f"{started_at:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:4]}"
    work_dir = Path(tempfile.mkdtemp(prefix=f"lgsp-bench-{run_id}-"))
    ctx = BenchContext(
        settings=settings,
        stack=stack,
        run_id=run_id,
        sizes=options.sizes,
        work_dir=work_dir,
        java=java,
        classpath=kafka_tools_classpath(settings),
        profile=options.profile,
        keep_corpus=options.keep_corpus,
    )
    ctx.say(f"stack: {stack.source} at {stack.bootstrap_servers}; work dir {work_dir}")
    facts = machine.machine_facts(java=java, kafka=kafka_facts(settings, java))
    # children then start as an installed lgsp does, whatever PYTHONDONTWRITEBYTECODE says
    facts["bytecode_compiled"] = compile_bytecode()
    results = []
    try:
        for name in options.parts:
            results.append(_run_part(ctx, name))
        secure_parts = [name for name in options.parts if name in SECURE_PARTS] if options.secure else []
        if secure_parts:
            results += _secure_pass(ctx, base, secure_parts, {r.name: r for r in results})
    finally:
        if not options.keep_work:
            shutil.rmtree(work_dir, ignore_errors=True)
    header = {
        "date": f"{started_at:%Y-%m-%d}",
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "command": options.command,
        "source": machine.source_commit(RESULTS_DIR.parent.parent),
        "run_id": run_id,
        "smoke": options.sizes.smoke,
        "sizes": options.sizes.to_json(),
        "machine": facts | {"load_average_at_end": machine.load_average()},
        "stack": stack.to_json(),
    }
    out_dir, stem, latest = _destination(options, facts["host"], started_at)
    json_path, md_path = write_results(out_dir, stem, header, results, latest=latest)
    if stack.started_by_bench:
        ctx.say("the dev stack started for this run is still running; `lgsp dev down` stops it")
    return json_path, md_path, results


def _destination(options: BenchOptions, host: str, started_at: datetime) -> tuple[Path, str, bool]:
    """Where to write: ``<date>-<host>`` for a full run (and LATEST.md); partial and smoke runs get a suffix
    and never replace LATEST.md. A run never replaces an earlier result: a stem already taken gets the run's
    start time (results are committed and cited by name)."""
    stem = f"{started_at:%Y-%m-%d}-{host}"
    full = tuple(options.parts) == PARTS
    if not full:
        stem += "-" + "-".join(options.parts)
    if options.sizes.smoke:
        stem += "-smoke"
    out_dir = options.output_dir or RESULTS_DIR
    if any((out_dir / f"{stem}{suffix}").exists() for suffix in (".json", ".md")):
        stem += f"-{started_at:%H%M%S}"
    return out_dir, stem, full and not options.sizes.smoke


def _run_part(ctx: BenchContext, name: str) -> PartResult:
    ctx.say(f"--- {name} ---")
    load_before = machine.load_average()
    started = time.perf_counter()
    try:
        result = part_runner(name)(ctx)
    except Exception as exc:  # one broken part must not lose the others' results
        traceback.print_exc(file=sys.stderr)
        result = PartResult(name, _TITLES[name], status="failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        _drop_topics(ctx, name)
    result.seconds = time.perf_counter() - started
    result.load_before, result.load_after = load_before, machine.load_average()
    for figure in result.figures:
        if figure.ok:
            ctx.say(f"{name}: {figure_line(figure)}")
    for target in result.targets:
        ctx.say(f"{name}: {target_line(target, target.measured(result.figures), target.met(result.figures))}")
    return result


def _secure_pass(
    ctx: BenchContext, base: Settings, names: list[str], plain: dict[str, PartResult]
) -> list[PartResult]:
    """``names`` again on a private ``lgsp dev up --secure`` (:mod:`bench.secure`), compared with
    ``plain``."""
    ctx.say(f"--- secure stack for {', '.join(names)}: lgsp dev up --secure (private, free ports) ---")
    try:
        with secure_stack(base) as (settings, stack):
            secure_ctx = dataclasses.replace(ctx, settings=settings, stack=stack)
            ctx.say(f"secure stack at {stack.bootstrap_servers}")
            return [as_secure(_run_part(secure_ctx, name), plain.get(name), stack) for name in names]
    except Exception as exc:  # the stack did not start (or stop): the plain results must still be written
        traceback.print_exc(file=sys.stderr)
        error = f"{type(exc).__name__}: {exc}"
        return [
            PartResult(name + SUFFIX, _TITLES[name] + " — secure stack", status="failed", error=error)
            for name in names
        ]


def _drop_topics(ctx: BenchContext, name: str) -> None:
    try:
        asyncio.run(delete_prefixed_topics(ctx.settings, ctx.prefix(name)))
    except Exception as exc:  # cleanup only; the topics are uniquely named and expire with retention
        ctx.say(f"could not delete the topics of {name}: {exc}")
