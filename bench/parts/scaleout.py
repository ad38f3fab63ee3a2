"""Part scaleout: rebuild throughput of the views on PostgreSQL with 1, 2 and 4 builders, beside SQLite
with 1, on the same corpus in the same run.

Each round, one after the other on the corpus topics (:func:`bench.corpus.corpus_topics`, as the rebuild
part's; signatures verified as in production), each a fresh ``python -m bench.workers rebuild-n`` process:

* **SQLite, 1 process**: ``lgsp views rebuild --processes 1`` into a new SQLite file (one shard, merged);
* **PostgreSQL, N members** (N = 1, 2, 4): ``lgsp views rebuild --processes N`` into a new, empty database:
  N members of one consumer group, each on the partitions the group gives it, writing one view set.

The PostgreSQL server is this part's own (``lgsp dev up --postgres``'s launcher, a free port, in the run's
work directory, default server settings: durable commits); its CPU is not in the workers' CPU seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.corpus import corpus_topics
from bench.model import BenchContext, PartResult
from bench.parts.rebuild import worker_round
from bench.stats import Figure, Ratio
from bus.settings import DevSettings, Settings
from lgsp.devstack.postgres import PostgresServer

TITLE = "Scale-out: views rebuild on PostgreSQL with 1, 2, 4 builders vs SQLite with 1 (same events)"
MEMBERS = (1, 2, 4)


def run(ctx: BenchContext) -> PartResult:
    result = PartResult("scaleout", TITLE, rounds=ctx.sizes.rounds_for("scaleout"))
    with corpus_topics(ctx, ctx.sizes.scaleout_events) as (settings, records):
        result.sizes = {"events": sum(records.values()), "partitions": settings.topics.partitions}
        with _postgres(ctx) as server:
            _measure(ctx, settings, server, sum(records.values()), result)
    return result


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
        _add(sqlite, _round(ctx, settings, f"scaleout-sqlite-{index}", total, 1, store=None))
        for n, figure in members.items():
            database = f"bench_{uuid.uuid4().hex[:10]}"
            server.create_database(database)
            try:
                url = server.url_for(database)
                _add(figure, _round(ctx, settings, f"scaleout-pg{n}-{index}", total, n, store=url))
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
    ctx: BenchContext, settings: Settings, name: str, total: int, processes: int, *, store: str | None
) -> dict[str, Any]:
    extra = {} if store is None else {"STORE__URL": store}
    return worker_round(ctx, settings, name, total, "rebuild-n", "--processes", str(processes), **extra)


def _add(figure: Figure, outcome: dict[str, Any]) -> None:
    figure.add(outcome["records"] / outcome["seconds"])
    figure.detail.setdefault("rounds", []).append(outcome)
