"""The benchmark harness's own logic: summaries, ratios, targets, tool output parsing, the e2e visibility
computation and the report. No broker, nothing timed."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from bench.cpu_cases import Case, as_figure, run_rounds
from bench.kafka_tools import _PRODUCER_FINAL, _consumer_row, producer_props, write_client_config
from bench.keys import RawRecord, make_keys, sign_records
from bench.loadgen import Outcome, build_requests, summary
from bench.model import PARTS, PartResult, Sizes
from bench.parts.e2e import Sent, visible_times
from bench.parts.signing import Consumed
from bench.profiling import hot_paths
from bench.report import render_markdown, write_results
from bench.runner import BenchOptions, _destination
from bench.secure import as_secure
from bench.stack import StackInfo
from bench.stats import Better, Figure, FigureSet, Ratio, Target, percentile
from bench.stub_registry import SCHEMA_IDS, stub_registry
from bench.workload import AGENCIES, make_dossiers
from bus.cloudevents import kafka_headers
from bus.consumer.types import Partition
from bus.events import EVENT_TYPES, DossierSynced
from bus.events.record import record_of
from bus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from bus.settings import KafkaSettings
from bus.signing.keyring import Keyring
from bus.signing.verify import Verifier
from lgsp.cli import app

pytestmark = pytest.mark.unit


def _figures() -> FigureSet:
    fast = Figure("fast", "fast", "events/s", samples=[100.0, 120.0, 110.0])
    slow = Figure("slow", "slow", "events/s", samples=[50.0, 40.0, 60.0])
    latency = Figure("p99", "p99", "ms", Better.LOWER, samples=[30.0, 70.0, 40.0])
    return FigureSet([fast, slow, latency])


def test_figure_summarises_rounds_by_median_and_range() -> None:
    figure = _figures()["fast"]
    assert (figure.median, figure.low, figure.high) == (110.0, 100.0, 120.0)
    assert Figure("none", "none", "x").to_json()["median"] is None


def test_ratio_divides_medians_and_pairs_rounds() -> None:
    figures = _figures()
    ratio = Ratio("slow", "fast", "fast")
    assert ratio.value(figures) == pytest.approx(50 / 110)
    assert ratio.paired(figures) == pytest.approx([0.5, 40 / 120, 60 / 110])
    assert math.isnan(Ratio("slow", "missing", "x").value(figures))


def test_targets_compare_figures_and_ratios_in_their_direction() -> None:
    figures = _figures()
    assert Target("ratio", "slow/fast", ">=", 0.4).met(figures) is True
    assert Target("ratio", "slow/fast", ">=", 0.6).met(figures) is False
    assert Target("p99", "p99", "<", 50.0).met(figures) is True
    assert Target("p99", "p99", "<", 35.0).met(figures) is False
    assert Target("absent", "nothing", "<", 1.0).met(figures) is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_producer_performance_summary_line_is_parsed() -> None:
    line = (
        "200000 records sent, 93370.681606 records/sec (25.12 MB/sec), 264.19 ms avg latency, "
        "524.00 ms max latency, 262 ms 50th, 452 ms 95th, 507 ms 99th, 520 ms 99.9th."
    )
    match = _PRODUCER_FINAL.search(line)
    assert match is not None
    assert float(match["rate"]) == pytest.approx(93370.681606)
    assert int(match["p99"]) == 507


def test_consumer_performance_row_is_read_by_column_name() -> None:
    output = (
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
        "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n"
        "2026-11-23 15:00:00:000, 2026-11-23 15:00:05:000, 95.1, 19.0, 300000, 60000.0, 3000, 2000, "
        "47.5, 150000.0\n"
    )
    row = _consumer_row(output)
    assert row["data.consumed.in.nMsg"] == "300000"
    assert row["fetch.time.ms"] == "2000"


def test_loadgen_requests_carry_their_length_and_latency_counts_from_due_time() -> None:
    (request,) = build_requests("http://127.0.0.1:8080/v1/events", [b'{"a":1}'], ["X-Test: 1"])
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Test: 1")
    assert b"Content-Length: 7" in head
    assert body == b'{"a":1}'
    outcome = Outcome(latencies_ms=[1.0, 2.0, 100.0], lags_ms=[0.0, 0.0, 0.0], first_due=0.0, last_done=1.0)
    outcome.statuses.update({"202": 3})
    result = summary(outcome, rate=3.0, duration=1.0)
    assert result["ok"] == 3
    assert result["latency_ms"]["p99"] == 100.0


def test_an_event_is_visible_from_the_first_snapshot_past_its_offset() -> None:
    a, b = Partition("t", 0), Partition("t", 1)
    sent = [Sent(0.0, 0.1, a, 0), Sent(0.0, 0.1, a, 5), Sent(0.0, 0.1, b, 2), Sent(0.0, 0.1, b, 9)]
    snapshots = [(1.0, {a: 1}), (2.0, {a: 6, b: 3}), (3.0, {a: 6, b: 10})]
    assert visible_times(sent, snapshots) == [1.0, 2.0, 2.0, 3.0]
    assert math.isnan(visible_times([Sent(0.0, 0.1, a, 6)], snapshots)[0])


def test_hot_paths_shares_self_and_inclusive_time(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (bench/x.py:1);apply (consumers/views.py:10);execute (sqlite3.py:5) 6\n"
        "main (bench/x.py:1);decode (bus/serde.py:3) 4\n",
        encoding="utf-8",
    )
    lines = hot_paths(raw)
    assert lines[0] == "10 samples; self time:"
    assert "60.0% execute (sqlite3.py)" in lines
    assert "60.0% apply (consumers/views.py)" in lines
    assert "40.0% decode (bus/serde.py)" in lines


def test_smoke_sizes_are_tiny_and_overrides_apply() -> None:
    smoke = Sizes.build(smoke=True, rounds=None, events=None, seconds=None)
    assert smoke.rounds_for("rebuild") == 1
    assert smoke.rebuild_events < 10_000
    full = Sizes.build(smoke=False, rounds=None, events=50_000, seconds=5.0)
    assert (full.rebuild_events, full.publish_events, full.e2e_seconds) == (50_000, 50_000, 5.0)
    assert full.rounds_for("serde") == 5


def test_results_are_written_as_json_and_a_markdown_table(tmp_path: Path) -> None:
    part = PartResult("publish", "Publish", figures=_figures(), rounds=3)
    part.ratios = [Ratio("slow", "fast", "fast thing")]
    part.targets = [Target("slow ≥ 0.4× fast", "slow/fast", ">=", 0.4, "×")]
    header = {
        "date": "2026-01-02",
        "started_at": "2026-01-02T03:04:05+00:00",
        "seconds": 60.0,
        "command": "lgsp bench",
        "smoke": False,
        "machine": {"host": "box", "cores": 2, "cpu_model": "cpu", "os": "Linux", "python": "CPython 3.11"},
        "stack": {"source": "configured", "bootstrap_servers": "127.0.0.1:9092"},
    }
    json_path, md_path = write_results(tmp_path, "2026-01-02-box", header, [part])
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["parts"][0]["targets"][0]["met"] is True
    text = md_path.read_text(encoding="utf-8")
    assert text == render_markdown(document, json_path.name)
    assert document["parts"][0]["targets"][0]["per_round"] == pytest.approx([0.5, 40 / 120, 60 / 110])
    assert "| slow ≥ 0.4× fast | 0.45× (rounds 0.33–0.55) | ✅ met |" in text
    assert "| slow | 50.0 | 40.0 – 60.0 | events/s | **0.45×** fast thing |" in text
    assert (tmp_path / "LATEST.md").read_text(encoding="utf-8") == text


def test_a_run_never_replaces_an_earlier_result(tmp_path: Path) -> None:
    started = datetime(2026, 12, 5, 21, 27, 8, tzinfo=UTC)
    options = BenchOptions(parts=("rebuild",), output_dir=tmp_path)
    assert _destination(options, "vm", started) == (tmp_path, "2026-12-05-vm-rebuild", False)
    (tmp_path / "2026-12-05-vm-rebuild.md").write_text("an earlier run", encoding="utf-8")
    assert _destination(options, "vm", started) == (tmp_path, "2026-12-05-vm-rebuild-212708", False)
    assert _destination(BenchOptions(output_dir=tmp_path), "vm", started) == (tmp_path, "2026-12-05-vm", True)


def test_the_stub_registry_answers_the_serde_for_every_event_type() -> None:
    async def roundtrip() -> list[str]:
        async with stub_registry() as registry:
            serializer, deserializer = AvroSerializer(registry), AvroDeserializer(registry)
            await serializer.prepare(EVENT_TYPES.values())
            assert not await deserializer.prepare_ids(SCHEMA_IDS.values())
        context = SerializationContext("lgsp.dossiers")
        wire = [serializer.serialize(event, context) for event in make_dossiers(3)]
        assert {int.from_bytes(data[1:5], "big") for data in wire} == {SCHEMA_IDS[DossierSynced.AVRO_NAME]}
        return [deserializer.deserialize(data, context).entity_key() for data in wire]

    assert asyncio.run(roundtrip()) == [event.entity_key() for event in make_dossiers(3)]
    assert sorted(SCHEMA_IDS.values()) == list(range(1, len(EVENT_TYPES) + 1))


def test_cpu_cases_alternate_their_order_and_count_every_round() -> None:
    order: list[str] = []

    def case(name: str) -> Case:
        def run() -> int:
            order.append(name)
            return 1

        return Case(run)

    rates = run_rounds({"pair": [("a", case("a")), ("b", case("b"))]}, rounds=3)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then alternating rounds
    assert [len(rates[name].cpu) for name in "ab"] == [3, 3]
    assert as_figure("a", "a", rates["a"]).detail["wall_per_s"] == rates["a"].wall


def test_records_the_bench_signs_verify_as_the_views_verify_them(tmp_path: Path) -> None:
    agencies = [code for code, _, _ in AGENCIES]
    chain, entries = make_keys(tmp_path, agencies)
    models = make_dossiers(30)
    events = [record_of(e) for e in models]
    records = [
        RawRecord(e.entity_key().encode(), b"\0value" + bytes([i]), kafka_headers(e))
        for i, e in enumerate(models)
    ]
    sign_records(chain, records)
    verifier = Verifier(Keyring(entries))
    consumed = [
        Consumed("lgsp.dossiers", 0, i, r.key, r.value, tuple(r.headers)) for i, r in enumerate(records)
    ]
    assert [verifier(record, event) for record, event in zip(consumed, events, strict=True)] == [None] * 30
    tampered = Consumed("lgsp.dossiers", 0, 0, records[0].key, b"\0changed", tuple(records[0].headers))
    refused = verifier(tampered, events[0])
    assert refused is not None
    assert refused.reason.value == "signature.invalid"
    only_hcmc = Verifier(Keyring(e for e in entries if e.agency == agencies[0]))
    refusals = [only_hcmc(r, e) for r, e in zip(consumed, events, strict=True)]
    assert {r.reason.value for r in refusals if r is not None} == {"signer.unknown"}


def test_an_unknown_part_is_refused_with_the_list_of_parts() -> None:
    done = CliRunner().invoke(app, ["bench", "--part", "nope"])
    assert done.exit_code == 2
    assert "no benchmark part nope" in done.output
    assert ", ".join(PARTS) in done.output


def test_producer_props_keep_the_connection_secrets_off_the_recorded_command_line(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="127.0.0.1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="admin",
        sasl_password=SecretStr("pw=with=equals"),
    )
    props = producer_props(kafka, linger_ms=10, batch_size=1024, compression="lz4", max_request_size=4096)
    assert all(prop.count("=") == 1 for prop in props)  # ProducerPerformance splits each on "="
    assert not any("pw=with=equals" in prop or "sasl" in prop for prop in props)
    config = write_client_config(kafka, tmp_path / "client.properties")
    assert "pw=with=equals" in config.read_text()  # the secret lives in the 0600 file instead
    assert config.stat().st_mode & 0o077 == 0


def test_a_part_run_on_the_secure_stack_is_named_and_compared_with_its_plain_run() -> None:
    def part(rates: tuple[float, float]) -> PartResult:
        result = PartResult("publish", "Publish")
        for key, rate in zip(("publisher", "raw"), rates, strict=True):
            result.figures.add(Figure(key, key, "events/s")).add(rate)
        result.targets = [Target("Publisher ≥ 0.7× raw", "publisher/raw", ">=", 0.7, "×")]
        return result

    stack = StackInfo("127.0.0.1:9093", "http://127.0.0.1:8081/apis/ccompat/v7", "secure", True)
    secure = as_secure(part((800.0, 1000.0)), part((1000.0, 2000.0)), stack)
    assert secure.name == "publish-secure"
    assert secure.title == "Publish — secure stack"
    # its target rows are told apart from the plain part's in the results' target table
    assert [t.label for t in secure.targets] == ["Publisher ≥ 0.7× raw (secure stack)"]
    assert secure.figures["publisher"].detail["vs_plain"] == pytest.approx(0.8)
    assert secure.figures["raw"].detail["vs_plain"] == pytest.approx(0.5)
    assert "publisher 0.80×; raw 0.50×" in secure.notes[1]
    failed = as_secure(part((1.0, 1.0)), PartResult("publish", "Publish", status="failed"), stack)
    assert "vs_plain" not in failed.figures["publisher"].detail
