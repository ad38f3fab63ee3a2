"""Part 6, scale-out: rebuild throughput of the views on PostgreSQL with 1, 2 and 4 builders, beside SQLite
with 1, on the same corpus in the same run.

Each round, one after the other on the rebuild part's corpus topics (:mod:`bench.corpus`; produced here if
the rebuild part has not left them), each a fresh ``python -m bench.workers rebuild-n`` process:

* **SQLite, 1 process**: ``lgsp views rebuild --processes 1`` into a new SQLite file (one shard, merged);
* **PostgreSQL, N members** (N = 1, 2, 4): ``lgsp views rebuild --processes N`` into a new, empty database:
  N members of one consumer group, each on the partitions the group gives it, writing one view set.

The PostgreSQL server is this part's own (``lgsp dev up --postgres``'s launcher, a free port, in the run's
work directory, default server settings: durable commits); its CPU is not in the workers' CPU seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import corpus
from bench.model import BenchContext, PartResult
from bench.parts.rebuild import ensure_corpus
from bench.procs import BenchError, module_command, run_worker, settings_env
from bench.stack import delete_prefixed_topics, with_prefix
from bench.stats import Figure, Ratio
from bus.settings import DevSettings, Settings
from lgsp.devstack.postgres import PostgresServer

TITLE = "Scale-out: views rebuild on PostgreSQL with 1, 2, 4 builders vs SQLite with 1 (same events)"
MEMBERS = (1, 2, 4)
_WORKER_TIMEOUT_S = 3_600.0


def run(ctx: BenchContext) -> PartResult:
    count = ctx.sizes.scaleout_events
    prefix = corpus.corpus_prefix(count)
    settings = with_prefix(ctx.settings, prefix)
    result = PartResult("scaleout", TITLE, rounds=ctx.sizes.rounds_for("scaleout"))
    try:
        records = ensure_corpus(ctx, settings, count)
        result.sizes = {"events": sum(records.values()), "partitions": _partitions(settings)}
        with _postgres(ctx) as server:
            _measure(ctx, settings, server, sum(records.values()), result)
    finally:
        if not ctx.keep_corpus:
            asyncio.run(delete_prefixed_topics(ctx.settings, prefix))
    return result


def _partitions(settings: Settings) -> int:
    return settings.topics.partitions


@contextmanager
def _postgres(ctx: BenchContext) -> Iterator[PostgresServer]:
    state = ctx.work_dir / "postgres-state"
    state.mkdir(mode=0o711, parents=True, exist_ok=True)
    ctx.work_dir.chmod(0o711)  # run as root, the server runs as `nobody`, which must reach its directory
    dev = DevSettings.model_validate(
        {**ctx.settings.dev.model_dump(), "state_dir": state, "postgres_port": 0}
    )
    server = PostgresServer(dev)
    ctx.say(f"scaleout: starting PostgreSQL in {state}")
    server.up()
    try:
        yield server
    finally:
        server.down(purge=True)


def _measure(
    ctx: BenchContext, settings: Settings, server: PostgresServer, total: int, result: PartResult
) -> None:
    figures = result.figures
    sqlite = figures.add(Figure("sqlite_1", "SQLite, 1 process (`views rebuild --processes 1`)", "events/s"))
    members = {
        n: figures.add(Figure(f"postgres_{n}", f"PostgreSQL, {n} member{'s' * (n > 1)}", "events/s"))
        for n in MEMBERS
    }
    for index in range(result.rounds):
        _add(sqlite, _round(ctx, settings, f"scaleout-sqlite-{index}", 1, store=None), total)
        for n, figure in members.items():
            database = f"bench_{uuid.uuid4().hex[:10]}"
            server.create_database(database)
            try:
                _add(
                    figure,
                    _round(ctx, settings, f"scaleout-pg{n}-{index}", n, store=server.url_for(database)),
                    total,
                )
            finally:
                server.drop_database(database)
        ctx.say(
            f"scaleout round {index + 1}: SQLite 1 {sqlite.samples[-1]:,.0f}/s, "
            + ", ".join(f"PostgreSQL {n} {members[n].samples[-1]:,.0f}/s" for n in MEMBERS)
        )
    result.ratios = [Ratio(f"postgres_{n}", "sqlite_1", "SQLite, 1 process") for n in MEMBERS]
    result.ratios += [Ratio(f"postgres_{n}", "postgres_1", "PostgreSQL, 1 member") for n in MEMBERS[1:]]
    result.notes += [
        "Each figure: records over the wall time of `lgsp views rebuild` (builder processes spawned, "
        "group joined, built until caught up; SQLite: its one shard merged). CPU seconds of the builders "
        "are in the JSON; the PostgreSQL server's are not. PostgreSQL members share the aggregate rows "
        "through row locks (consumers/store/postgres.py); with more members than cores they contend for "
        "the same CPUs.",
    ]


def _round(
    ctx: BenchContext, settings: Settings, name: str, processes: int, *, store: str | None
) -> dict[str, Any]:
    extra = {"VIEWS__GROUP_ID": f"bench-scaleout-{uuid.uuid4().hex[:10]}"}
    if store is not None:
        extra["STORE__URL"] = store
    command = module_command("bench.workers", "rebuild-n", "--processes", str(processes))
    return run_worker(name, command, settings_env(settings, **extra), ctx.work_dir, _WORKER_TIMEOUT_S)


def _add(figure: Figure, outcome: dict[str, Any], total: int) -> None:
    if outcome["records"] != total:
        raise BenchError(f"{figure.label}: applied {outcome['records']} records, the corpus has {total}")
    figure.add(outcome["records"] / outcome["seconds"])
    figure.detail.setdefault("rounds", []).append(outcome)
