"""The whole flow on the real broker and registry: simulated traffic → Kafka → ``lgsp views run`` → views.

≥ 50k simulated events with duplicates and late events (the simulator's late dossier snapshots, plus events
held back here so that statuses overtake their document, revisions overtake each other...) are published
once per module. Then:

- an uninterrupted ``lgsp views run --until-caught-up`` builds views equal to the independent recomputation
  of ``tests/views_oracle.py``, exactly; so does ``lgsp views rebuild`` (partition-parallel, merged shards);
- a builder stopped with SIGTERM once and killed with SIGKILL three times, at random points, and restarted
  each time ends with the same views: nothing lost, nothing counted twice.

Signatures are on, as in production: the traffic is signed with a key per People's Committee and ministry
(on the keyring of the module's topic prefix), and every builder requires signatures
(``LGSP_VIEWS__REQUIRE_SIGNATURES=true``), so a record the views refused would show as a mismatch.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.agencies import load_catalog
from bus.events import Event
from bus.publisher import Publisher
from bus.settings import Settings
from bus.signing.keyring import create_keys, publish_entries
from bus.topics import ensure_topics
from consumers.store import SqliteStore
from consumers.viewset import ViewSet, build_views
from producers.simulate import EmissionKind, Simulation, SimulationConfig
from tests.conftest import StackEndpoints
from tests.views_compare import mismatches

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = 52_000
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
LGSP = Path(sys.executable).parent / "lgsp"


@dataclass(frozen=True)
class Published:
    prefix: str
    events: list[Event]
    records: int


def traffic(count: int, seed: int) -> list[Event]:
    """Valid simulated events with duplicates and late snapshots, then ~2% of them held back further."""
    config = SimulationConfig(seed=seed, duplicates=0.03, late_ratio=0.03, scale=0.002)
    events = [
        e.event for e in itertools.islice(Simulation(config), count) if e.kind is not EmissionKind.INVALID
    ]
    rng = random.Random(seed)
    for index in sorted(rng.sample(range(len(events)), len(events) // 50), reverse=True):
        event = events.pop(index)
        events.insert(min(len(events), index + rng.randint(1, 3000)), event)
    return events


@pytest.fixture(scope="module")
async def published(stack: StackEndpoints, tmp_path_factory: pytest.TempPathFactory) -> Published:
    prefix = f"e2e{os.getpid()}{random.randrange(10**6)}."
    key_dir = tmp_path_factory.mktemp("signing-keys")
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": stack.bootstrap_servers},
            "registry": {"url": stack.registry_url, "auto_register": True},
            "topics": {"prefix": prefix, "partitions": 4},
            "signing": {"key_dir": str(key_dir)},
        }
    )
    await ensure_topics(settings, prefix=prefix)
    catalog = load_catalog()
    agencies = [a.code for a in [*catalog.province_committees(), *catalog.ministries()]]
    await publish_entries(settings, create_keys(key_dir, agencies))
    events = traffic(EVENTS, seed=20250701)
    async with Publisher(settings) as publisher:
        for start in range(0, len(events), 5000):
            await publisher.publish_many(events[start : start + 5000])
    return Published(prefix, events, len(events))


def builder_env(stack: StackEndpoints, prefix: str, store: Path, group: str) -> dict[str, str]:
    return {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "LGSP_REGISTRY__URL": stack.registry_url,
        "LGSP_TOPICS__PREFIX": prefix,
        "LGSP_STORE__URL": f"sqlite:///{store}",
        "LGSP_VIEWS__GROUP_ID": group,
        "LGSP_VIEWS__MAX_BATCH_RECORDS": "2000",
        "LGSP_VIEWS__REQUIRE_SIGNATURES": "true",
    }


def start_builder(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(LGSP), "views", "run", "--until-caught-up", "--metrics-port", "0"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def applied_records(store: Path) -> int:
    """Records the store says it has applied (sum of its next offsets); 0 before it exists."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
            return int(
                conn.execute("SELECT COALESCE(SUM(next_offset), 0) FROM consumer_offsets").fetchone()[0]
            )
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def wait_until_applied(store: Path, records: float, builder: subprocess.Popen[bytes]) -> bool:
    """Poll the store until it has applied ``records``; False if the builder exits first."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and builder.poll() is None:
        if applied_records(store) >= records:
            return True
        time.sleep(0.005)
    return False


def assert_views_equal_recomputation(store: Path, events: list[Event]) -> None:
    views = ViewSet(SqliteStore(store), build_views(Settings()))
    try:
        assert mismatches(views, events, as_of=AS_OF, sla_hours=Settings().views.document_sla_hours) == []
    finally:
        views.close()


async def test_views_equal_the_recomputation(
    published: Published, stack: StackEndpoints, tmp_path: Path
) -> None:
    store = tmp_path / "views.db"
    env = builder_env(stack, published.prefix, store, f"{published.prefix}straight")
    builder = start_builder(env, tmp_path / "builder.log")
    code = await asyncio.to_thread(builder.wait, 600)
    assert code == 0, (tmp_path / "builder.log").read_text()[-3000:]
    assert applied_records(store) == published.records
    assert len(published.events) >= 50_000
    assert_views_equal_recomputation(store, published.events)


async def test_a_partition_parallel_rebuild_equals_the_recomputation_and_carries_on(
    published: Published, stack: StackEndpoints, tmp_path: Path
) -> None:
    """``lgsp views rebuild --processes 3``: shards merged into views equal to the recomputation, with the
    offsets of every partition, from which ``views run`` finds nothing left to do."""
    store = tmp_path / "views.db"
    env = builder_env(stack, published.prefix, store, f"{published.prefix}parallel")
    rebuild = await asyncio.to_thread(
        subprocess.run,
        [str(LGSP), "views", "rebuild", "--processes", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rebuild.returncode == 0, rebuild.stdout[-3000:] + rebuild.stderr[-3000:]
    assert applied_records(store) == published.records
    assert not [name for name in os.listdir(tmp_path) if ".shard" in name], "shards are removed once merged"
    assert_views_equal_recomputation(store, published.events)
    builder = start_builder(env, tmp_path / "builder.log")
    assert await asyncio.to_thread(builder.wait, 600) == 0
    assert applied_records(store) == published.records
    assert_views_equal_recomputation(store, published.events)


async def test_a_builder_killed_at_random_points_ends_exact(
    published: Published, stack: StackEndpoints, tmp_path: Path
) -> None:
    store = tmp_path / "views.db"
    log = tmp_path / "builder.log"
    env = builder_env(stack, published.prefix, store, f"{published.prefix}killed")
    rng = random.Random()
    points = sorted(rng.uniform(0.1, 0.9) * published.records for _ in range(4))
    signals = [signal.SIGTERM, signal.SIGKILL, signal.SIGKILL, signal.SIGKILL]  # a clean stop, then kills
    stopped_at: list[int] = []
    for point, sig in zip(points, signals, strict=True):
        builder = start_builder(env, log)
        reached = await asyncio.to_thread(wait_until_applied, store, point, builder)
        assert reached, f"the builder ended before the stop point {point:.0f}: {log.read_text()[-2000:]}"
        builder.send_signal(sig)
        code = await asyncio.to_thread(builder.wait, 60)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), log.read_text()[-2000:]
        stopped_at.append(applied_records(store))
    assert "views: " in log.read_text()  # the SIGTERM run finished its batch and said what it did
    assert all(0 < applied < published.records for applied in stopped_at), stopped_at
    final = start_builder(env, log)
    assert await asyncio.to_thread(final.wait, 600) == 0, log.read_text()[-3000:]
    assert applied_records(store) == published.records
    assert_views_equal_recomputation(store, published.events)
