"""Part rebuild: the national views built from the start of the topics, vs a raw aiokafka consume of the
same topics, vs Kafka's own ``ConsumerPerformance``.

The corpus (1M simulated events by default, signed by their agencies) is produced once (:mod:`bench.corpus`:
simulated, encoded, cached on disk, sent raw) and read by every round; ``--keep-corpus`` leaves its topics
for the next run. Each round runs, each in a fresh process (:mod:`bench.workers`):

* **views**: the view builder (consumer group, decode, validate, verify every signature against the
  keyring, four views, one SQLite transaction per batch with the offsets) on a new, empty store under a new
  group, from the start until caught up; timed from consumer start (group join included);
* **views, not verifying**: the same with the signature check left out (#12: the ratio of the two is what
  verification costs the rebuild);
* **views with decode workers**, verifying and not: the same builder with ``views.decode_workers`` =
  :data:`DECODE_WORKERS` (decoding and every check, the signature check included, in worker processes; the
  builder fetches, applies and commits);
* **views, partition-parallel**: ``lgsp views rebuild`` in 2 processes (:mod:`consumers.rebuild`: shards of
  the partitions built side by side, then merged into one new store), timed from its start (processes
  spawned, shards built and merged), and the same command with 1 process (the 2-process target's "one");
* **raw aiokafka**: the runner's consumer settings, partitions assigned, beginning → end offsets, records
  counted, not decoded;
* **raw aiokafka + decode**: the same, every record decoded by our serde (the share of the work that comes
  before any view sees an event);
* **ConsumerPerformance** (Java): one run per topic (it reads one topic at a time), records over the summed
  fetch time.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.corpus import corpus_topics
from bench.kafka_tools import consumer_performance
from bench.model import BenchContext, PartResult
from bench.procs import BenchError, module_command, run_worker, settings_env, spawn
from bench.profiling import hot_paths, sampling
from bench.stats import Figure, Ratio, Target
from bench.workers import PARALLEL_PROCESSES
from bus.consumer.kafka import consumer_config
from bus.settings import Settings

_WORKER_TIMEOUT_S = 3_600.0
DECODE_WORKERS = 2
"""``views.decode_workers`` of the decode-worker figures: one per core of the 2-core machine."""
_PROFILE_WARMUP_S = 8.0
_PROFILE_S = 60.0
TITLE = "Rebuild: views from the start of the topics vs raw aiokafka vs ConsumerPerformance"


def run(ctx: BenchContext) -> PartResult:
    result = PartResult("rebuild", TITLE, rounds=ctx.sizes.rounds_for("rebuild"))
    with corpus_topics(ctx, ctx.sizes.rebuild_events) as (settings, topic_records):
        prefix = settings.topics.prefix
        result.sizes = {
            "events": sum(topic_records.values()),
            **{topic.removeprefix(prefix): n for topic, n in topic_records.items()},
        }
        _measure(ctx, settings, topic_records, result)
    return result


def _measure(
    ctx: BenchContext, settings: Settings, topic_records: dict[str, int], result: PartResult
) -> None:
    total = sum(topic_records.values())
    figures = result.figures
    views = figures.add(Figure("views", "views rebuild, 1 process (group join → caught up)", "events/s"))
    unverified = figures.add(
        Figure("views_unverified", "views rebuild, 1 process, signatures not verified", "events/s")
    )
    rebuild_1 = figures.add(
        Figure("views_rebuild_1", "views rebuild, `lgsp views rebuild --processes 1`", "events/s")
    )
    parallel = figures.add(
        Figure("views_parallel", "views rebuild, 2 processes (`lgsp views rebuild`)", "events/s")
    )
    in_workers = figures.add(
        Figure("views_workers", f"views rebuild, {DECODE_WORKERS} decode workers", "events/s")
    )
    in_workers_unverified = figures.add(
        Figure(
            "views_workers_unverified",
            f"views rebuild, {DECODE_WORKERS} decode workers, signatures not verified",
            "events/s",
        )
    )
    raw = figures.add(
        Figure("raw_aiokafka", "raw aiokafka consume, same topics and fetch settings", "events/s")
    )
    decode = figures.add(Figure("raw_decode", "raw aiokafka consume + serde decode", "events/s"))
    java = figures.add(Figure("consumer_perf", "Kafka ConsumerPerformance (Java), same topics", "events/s"))
    fetch = consumer_config(settings, group_id=None)
    for index in range(result.rounds):
        # verifying and not verifying back to back, in alternating order: the ratio is what verifying costs
        for workers, verifying, unverifying in (
            (0, views, unverified),
            (DECODE_WORKERS, in_workers, in_workers_unverified),
        ):
            pair = [(verifying, "--verify"), (unverifying, "--no-verify")]
            for figure, flag in pair if index % 2 == 0 else reversed(pair):
                name = f"{figure.key}-{index}"
                outcome = worker_round(
                    ctx, settings, name, total, "views-rebuild", flag, VIEWS__DECODE_WORKERS=str(workers)
                )
                _add(figure, outcome)
        sharded = [(rebuild_1, 1), (parallel, PARALLEL_PROCESSES)]
        for figure, processes in sharded if index % 2 == 0 else reversed(sharded):
            name = f"{figure.key}-{index}"
            _add(figure, worker_round(ctx, settings, name, total, "rebuild-n", "--processes", str(processes)))
        _add(raw, worker_round(ctx, settings, f"raw-consume-{index}", total, "raw-consume"))
        if index == 0:  # a decomposition aid (decode alone), not a contender: one round is enough
            _add(decode, worker_round(ctx, settings, f"raw-decode-{index}", total, "raw-decode"))
        perf = consumer_performance(
            ctx.java,
            ctx.classpath,
            kafka=settings.kafka,
            command_config=ctx.work_dir / "kafka-client.properties",
            topic_records=topic_records,
            fetch_size=int(fetch["max_partition_fetch_bytes"]),
            timeout_s=_WORKER_TIMEOUT_S,
        )
        java.add(perf.records_per_s)
        java.detail.setdefault("rounds", []).append(perf.to_json())
        ctx.say(
            f"rebuild round {index + 1}: views {views.samples[-1]:,.0f}/s, "
            f"not verifying {unverified.samples[-1]:,.0f}/s, "
            f"with decode workers {in_workers.samples[-1]:,.0f}/{in_workers_unverified.samples[-1]:,.0f}/s, "
            f"views rebuild 1/2 processes {rebuild_1.samples[-1]:,.0f}/{parallel.samples[-1]:,.0f}/s, "
            f"raw {raw.samples[-1]:,.0f}/s, "
            f"raw+decode {decode.samples[-1]:,.0f}/s, ConsumerPerformance {perf.records_per_s:,.0f}/s"
        )
    if ctx.profile:
        _profile_views(ctx, settings, result)
    result.ratios = [
        Ratio("views", "views_unverified", "not verifying signatures"),
        Ratio("views_workers", "views_workers_unverified", "not verifying signatures, decode workers"),
        Ratio("views_workers", "views", "in-process builder, verifying"),
        Ratio("views_unverified", "raw_aiokafka", "raw aiokafka"),
        Ratio("views_parallel", "raw_aiokafka", "raw aiokafka"),
        Ratio("views_parallel", "views_rebuild_1", "`views rebuild`, 1 process"),
        Ratio("views_parallel", "views", "1-process builder"),
        Ratio("views", "raw_aiokafka", "raw aiokafka"),
        Ratio("views", "raw_decode", "raw aiokafka + decode"),
        Ratio("views", "consumer_perf", "ConsumerPerformance"),
        Ratio("raw_decode", "raw_aiokafka", "raw aiokafka"),
        Ratio("raw_aiokafka", "consumer_perf", "ConsumerPerformance"),
    ]
    result.targets = [
        Target("rebuild, 1 process ≥ 50k events/s", "views", ">=", 50_000, "events/s"),
        Target("rebuild, 1 process ≥ 0.3× raw aiokafka consume", "views/raw_aiokafka", ">=", 0.3, "×"),
        Target(
            "views rebuild, 2 processes ≥ 1.7× 1 process", "views_parallel/views_rebuild_1", ">=", 1.7, "×"
        ),
        Target("rebuild verifying signatures ≥ 0.8× not verifying", "views/views_unverified", ">=", 0.8, "×"),
        Target(
            f"the same with {DECODE_WORKERS} decode workers",
            "views_workers/views_workers_unverified",
            ">=",
            0.8,
            "×",
        ),
    ]
    result.notes += [
        "views: timed from consumer start (group join included) to caught up, on a fresh SQLite store and a "
        "new group, every signature verified against the keyring (as `lgsp views run` does); its rate after "
        "the first batch (join excluded) is in the JSON. Not verifying: the same with only the signature "
        "check left out, run right before or after it. views rebuild, 1 and 2 processes: "
        "`lgsp views rebuild --processes N` from its start (shard processes spawned, built, merged) to the "
        "merged store, back to back; their CPU seconds (shards included) are in the JSON. raw: from consumer "
        "start to the end offsets; raw + decode (first round only: it splits the views' cost, it is not a "
        "contender). ConsumerPerformance: records over its fetch time (join excluded), topic by topic.",
        f"Consumer settings (views and raw): max_partition_fetch_bytes {fetch['max_partition_fetch_bytes']}, "
        f"fetch_max_bytes {fetch['fetch_max_bytes']}, fetch_max_wait_ms {fetch['fetch_max_wait_ms']}, "
        f"batches of ≤ {settings.views.max_batch_records} records. Each measurement in a fresh process.",
    ]


def _add(figure: Figure, outcome: dict[str, Any]) -> None:
    figure.add(outcome["records"] / outcome["seconds"])
    figure.detail.setdefault("rounds", []).append(outcome)


def worker_round(
    ctx: BenchContext, settings: Settings, name: str, total: int, *args: str, **extra_env: str
) -> dict[str, Any]:
    """One :mod:`bench.workers` measurement in a fresh process, under a new consumer group and with
    signatures required; a BenchError unless every record of the corpus was applied, none dead-lettered."""
    env = settings_env(
        settings,
        VIEWS__GROUP_ID=f"bench-views-{uuid.uuid4().hex[:10]}",
        VIEWS__REQUIRE_SIGNATURES="true",
        **extra_env,
    )
    outcome = run_worker(name, module_command("bench.workers", *args), env, ctx.work_dir, _WORKER_TIMEOUT_S)
    if outcome["records"] != total:
        raise BenchError(f"{name}: {outcome['records']} records consumed, the corpus has {total}")
    if outcome.get("dead_letters"):
        raise BenchError(f"{name}: {outcome['dead_letters']} records went to the dead-letter topics")
    return outcome


def _profile_views(ctx: BenchContext, settings: Settings, result: PartResult) -> None:
    """py-spy on one more views rebuild, for its first ``_PROFILE_S`` seconds of steady work (not counted)."""
    raw = ctx.work_dir / "rebuild-views.pyspy.txt"
    env = settings_env(
        settings, VIEWS__GROUP_ID=f"bench-views-{uuid.uuid4().hex[:10]}", VIEWS__REQUIRE_SIGNATURES="true"
    )
    child = spawn(
        "views-rebuild-profiled", module_command("bench.workers", "views-rebuild"), env, ctx.work_dir
    )
    try:
        time.sleep(_PROFILE_WARMUP_S)  # let it import, join and start applying: the profile is of steady work
        if not child.alive():
            result.profile.append(
                "the views rebuild finished before its profile could start: corpus too small"
            )
            return
        with sampling(child.pid, _PROFILE_S, raw) as available:
            if not available:
                result.profile.append("py-spy is not installed (pip install py-spy); no profile")
                return
    finally:
        child.stop()
    result.profile += [f"views rebuild, {_PROFILE_S:.0f} s of it under py-spy (all threads, wall clock):"]
    result.profile += hot_paths(raw)
