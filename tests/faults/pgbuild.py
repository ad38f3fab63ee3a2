"""Builders on a PostgreSQL store for the fault tests: ``lgsp views run`` members as real processes, the
traffic they read, and the reference they must equal — one clean rebuild into SQLite, in-process.

A scenario publishes simulated events (duplicates and late snapshots included) to four partitions per topic,
runs members of one group on the PostgreSQL store while the test breaks things, waits until the store's
offsets reach the topics' end offsets, stops the members, and compares every view field for field with the
clean SQLite rebuild and with the independent recomputation (``tests/views_oracle.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bus.consumer.service import ConsumerSpec, run_consumer
from bus.events import Event
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics
from consumers.admission import views_admission
from consumers.store import SqliteStore, open_store
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests.faults.ledger import topic_ends
from tests.faults.procs import LGSP, Child, settings_env
from tests.faults.report import FaultFigures, remember
from tests.faults.verify import data_topics
from tests.faults.workload import AS_OF, view_units
from tests.views_compare import mismatches, view_differences

PARTITIONS = 4


def scenario_settings(settings: Settings, prefix: str, store_url: str) -> Settings:
    """The shared stack's settings for one scenario: its own topics, group and PostgreSQL store; small
    batches, so that a build is many transactions and a fault lands in the middle of one."""
    return settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"prefix": prefix, "partitions": PARTITIONS}),
            "registry": settings.registry.model_copy(update={"auto_register": True}),
            "store": settings.store.model_copy(update={"url": store_url}),
            "views": settings.views.model_copy(
                update={"group_id": f"{prefix}views", "max_batch_records": 150, "poll_timeout_ms": 100}
            ),
        }
    )


def simulated_events(count: int, seed: int) -> list[Event]:
    simulation = Simulation(SimulationConfig(seed=seed, duplicates=0.05, late_ratio=0.05, scale=0.001))
    return [e.event for e in itertools.islice(simulation, count) if e.kind is not EmissionKind.INVALID]


async def publish(settings: Settings, events: Sequence[Event]) -> None:
    async with Publisher(settings) as publisher:
        await publisher.publish_many(list(events))


async def create_topics(settings: Settings) -> None:
    await ensure_topics(settings, prefix=settings.topics.prefix)


READY_LINE: Final = r"serving metrics on "
"""Logged by ``lgsp views run --metrics-port`` after it installed its SIGTERM handler."""


@dataclass
class Members:
    """``lgsp views run`` processes of one group on the scenario's store; killed ones are replaced."""

    settings: Settings
    workdir: Path
    running: list[Child] = field(default_factory=list)
    started: int = 0
    killed: int = 0

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            self.started += 1
            args = [str(LGSP), "views", "run", "--metrics-port", "0"]
            env = settings_env(self.settings, LGSP_VIEWS__POLL_TIMEOUT_MS="100")
            self.running.append(Child(f"member{self.started}", args, env, self.workdir))

    def sigkill(self, index: int) -> None:
        """SIGKILL member ``index`` and start a replacement (as a supervisor would)."""
        victim = self.running.pop(index)
        victim.kill()
        self.killed += 1
        self.start()

    def exited(self) -> list[Child]:
        return [member for member in self.running if not member.alive()]

    async def stop(self) -> list[int]:
        """SIGTERM each member once it is up: a replacement still starting has no handler yet, and the signal
        would kill it (-15) instead of stopping it (seen on a loaded CI machine)."""
        for member in self.running:
            await member.wait_for_line(READY_LINE, timeout_s=120)
        return list(await asyncio.gather(*(member.stop() for member in self.running)))

    def kill_all(self) -> None:
        for member in self.running:
            member.kill()


async def wait_caught_up(
    settings: Settings, members: Members, *, timeout_s: float
) -> dict[tuple[str, int], int]:
    """Poll the store until its offsets reach the topics' end offsets; the ends."""
    ends = await topic_ends(settings.kafka.bootstrap_servers, data_topics(settings))
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    observer = open_store(settings.store.url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                offsets = {(tp.topic, tp.partition): o for tp, o in observer.load_offsets().items()}
            except Exception:  # the store may be down in the middle of a fault: poll again
                offsets = {}
            behind = {tp: (offsets.get(tp, 0), end) for tp, end in wanted.items() if offsets.get(tp, 0) < end}
            if not behind:
                return ends
            dead = members.exited()
            if dead:
                raise AssertionError(f"{dead[0].name} exited ({dead[0].proc.returncode}):\n{dead[0].tail()}")
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {m.name}\n{m.tail(15)}" for m in members.running)
                raise AssertionError(f"still behind after {timeout_s:g} s: {behind}\n{tails}")
            await asyncio.sleep(0.2)
    finally:
        observer.close()


async def clean_sqlite_rebuild(settings: Settings, path: Path) -> ViewSet:
    """The reference: one builder, a new SQLite store, everything from the start of the topics."""
    views = ViewSet(SqliteStore(path), build_views(settings), topic_prefix=settings.topics.prefix)
    spec = ConsumerSpec(
        f"{settings.topics.prefix}clean",
        views.topics(),
        views,
        views.topic_types(),
        admit=views_admission(settings),  # what `lgsp views run` applies
    )
    await run_consumer(settings, spec, stop=asyncio.Event(), until_caught_up=True)
    return views


async def compare_with_clean_rebuild(
    fault: str,
    settings: Settings,
    events: Sequence[Event],
    workdir: Path,
    *,
    started: float,
    **details: object,
) -> list[str]:
    """Problems (empty: equal) between the PostgreSQL views and a clean SQLite rebuild and the recomputation;
    the figures are recorded first."""
    reference = await clean_sqlite_rebuild(settings, workdir / "clean.db")
    built = ViewSet(
        open_store(settings.store.url), build_views(settings), topic_prefix=settings.topics.prefix
    )
    try:
        problems = view_differences(built, reference, as_of=AS_OF)
        problems += mismatches(built, events, as_of=AS_OF, sla_hours=settings.views.document_sla_hours)
        figures = FaultFigures(fault=fault, offered=len(events), confirmed=len(events), details=dict(details))
        # Expected: what the clean rebuild counts (the workload's unit filter does not apply to this traffic).
        expected = view_units(reference)
        figures.settle(expected_in_views=expected, in_views=view_units(built), exact=not problems)
        figures.seconds = round(time.monotonic() - started, 1)
        remember(figures)
    finally:
        built.close()
        reference.close()
    return problems
