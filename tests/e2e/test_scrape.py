"""A real Prometheus scrapes the running bus, and its HTTP API answers with what this test published.

Processes, all real and on OS-chosen loopback ports: ``lgsp ingress`` (with an API key issued by
``lgsp ingress keys add``), ``lgsp views run`` and ``lgsp views serve`` on one view store, and an SDK
:class:`bus.Publisher` in this process serving its metrics with ``serve_metrics``. Debian's ``prometheus``
(``tests/prometheus_harness.py``) scrapes all four every second with the bus's alert rules loaded.

Published: 10 ``DossierSynced`` through the ingress (one single request, one batch of nine) plus one request
without a key (401) and one invalid event (422); 6 ``DocumentSent`` and 3 ``ReportFiled`` through the
Publisher. The test then asks Prometheus for the key series and compares them with those numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.metrics import NATIONAL, Kpi, PublisherMetrics, new_process_registry, serve_metrics
from bus.publisher import Publisher
from bus.settings import Settings
from bus.topics import ensure_topics
from tests.conftest import StackEndpoints
from tests.prometheus_harness import PROMETHEUS_DIR, PrometheusServer, free_port, running_prometheus
from tests.publishing_samples import HCMC, document_sent, dossier, event, report

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus, pytest.mark.slow]

LGSP = Path(sys.executable).parent / "lgsp"
START_TIMEOUT_S = 180.0
SERIES_TIMEOUT_S = 120.0
DOSSIER = "vn.gov.lgsp.dossier.DossierSynced"
DOCUMENT = "vn.gov.lgsp.document.DocumentSent"
REPORT = "vn.gov.lgsp.report.ReportFiled"
DOSSIERS, DOCUMENTS, REPORTS = 10, 6, 3
PARTITIONS = 2


@dataclass(frozen=True)
class Bus:
    """The running bus: names, ports, and when publishing started."""

    prefix: str
    group: str
    ingress: int
    views: int
    builder: int
    publisher: int
    published_after: float
    published_before: float

    def topic(self, name: str) -> str:
        return f"{self.prefix}lgsp.{name}"


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _start(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Proc:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(LGSP), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, process, log)


def _stop(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.process.poll() is None:
            proc.process.terminate()
    for proc in procs:
        try:
            proc.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait(timeout=10)


def _wait_http(procs: list[tuple[Proc, str]]) -> None:
    """Poll each process's URL until it answers 200; fail with its log if it exits first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = list(procs)
    while pending:
        for proc, _ in pending:
            if proc.process.poll() is not None:
                pytest.fail(f"{proc.name} exited with {proc.process.returncode}:\n{proc.tail()}")
        pending = [(proc, url) for proc, url in pending if not _answers(url)]
        if pending and time.monotonic() > deadline:
            pytest.fail("not ready: " + "; ".join(f"{p.name}:\n{p.tail()}" for p, _ in pending))
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _issue_key(keys_file: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(LGSP), "ingress", "keys", "add", HCMC, "--keys-file", str(keys_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scrape")


@pytest.fixture(scope="module")
async def bus_settings(stack: StackEndpoints) -> Settings:
    """Settings for this module's topics (created here: the ingress is ready only once they exist)."""
    prefix = f"scrape{uuid.uuid4().hex[:8]}."
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": stack.bootstrap_servers},
            "registry": {"url": stack.registry_url, "auto_register": True},
            "topics": {"prefix": prefix, "partitions": PARTITIONS},
            "views": {"group_id": f"{prefix}views"},
        }
    )
    await ensure_topics(settings)
    return settings


@pytest.fixture(scope="module")
def processes(bus_settings: Settings, workdir: Path) -> Iterator[tuple[Settings, dict[str, int], str]]:
    """``lgsp ingress``, ``lgsp views run`` and ``lgsp views serve``, ready; stopped at the end."""
    ports = {"ingress": free_port(), "views": free_port(), "builder": free_port()}
    env = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": bus_settings.kafka.bootstrap_servers,
        "LGSP_REGISTRY__URL": bus_settings.registry.url,
        "LGSP_REGISTRY__AUTO_REGISTER": "true",
        "LGSP_TOPICS__PREFIX": bus_settings.topics.prefix,
        "LGSP_STORE__URL": f"sqlite:///{workdir / 'views.db'}",
        "LGSP_VIEWS__GROUP_ID": bus_settings.views.group_id,
    }
    keys = workdir / "ingress-keys.json"
    key = _issue_key(keys, env)
    procs = [
        _start(
            "ingress", ["ingress", "--port", str(ports["ingress"]), "--keys-file", str(keys)], env, workdir
        ),
        _start("views-run", ["views", "run", "--metrics-port", str(ports["builder"])], env, workdir),
        _start("views-serve", ["views", "serve", "--port", str(ports["views"])], env, workdir),
    ]
    try:
        _wait_http(
            [
                (procs[0], f"http://127.0.0.1:{ports['ingress']}/readyz"),
                (procs[1], f"http://127.0.0.1:{ports['builder']}/metrics"),
                (procs[2], f"http://127.0.0.1:{ports['views']}/healthz"),
            ]
        )
        yield bus_settings, ports, key
    finally:
        _stop(procs)


@pytest.fixture(scope="module")
async def bus(processes: tuple[Settings, dict[str, int], str]) -> AsyncIterator[Bus]:
    """The known traffic: through the ingress (with the key) and through an SDK Publisher serving /metrics."""
    settings, ports, key = processes
    registry = new_process_registry()
    metrics = PublisherMetrics(registry)
    with serve_metrics(registry, "127.0.0.1", 0) as server:
        before = time.time()
        async with Publisher(settings, metrics=metrics) as publisher:
            await publisher.publish_many([event(document_sent(n)) for n in range(DOCUMENTS)])
            await publisher.publish_many([event(report(n)) for n in range(REPORTS)])
        await _post_to_ingress(f"http://127.0.0.1:{ports['ingress']}", key)
        yield Bus(
            settings.topics.prefix,
            settings.views.group_id,
            ports["ingress"],
            ports["views"],
            ports["builder"],
            server.port,
            before,
            time.time(),
        )


async def _post_to_ingress(base: str, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        single = await client.post("/v1/events", json=dossier(0), headers=auth)
        assert single.status_code == 202, single.text
        batch = await client.post(
            "/v1/events:batch", json=[dossier(n) for n in range(1, DOSSIERS)], headers=auth
        )
        assert batch.status_code == 202, batch.text
        assert batch.json()["count"] == DOSSIERS - 1
        anonymous = await client.post("/v1/events", json=dossier(99))
        assert anonymous.status_code == 401
        invalid = dossier(98)
        invalid["data"]["channel"] = "CARRIER_PIGEON"
        refused = await client.post("/v1/events", json=invalid, headers=auth)
        assert refused.status_code == 422, refused.text


@pytest.fixture(scope="module")
def prometheus(bus: Bus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    rules = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
    targets = {
        "lgsp-ingress": [f"127.0.0.1:{bus.ingress}"],
        "lgsp-views-builder": [f"127.0.0.1:{bus.builder}"],
        "lgsp-views-api": [f"127.0.0.1:{bus.views}"],
        "lgsp-publisher": [f"127.0.0.1:{bus.publisher}"],
    }
    workdir = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(targets, workdir, rule_files=rules) as server:
        server.wait_for_targets_up(timeout_s=SERIES_TIMEOUT_S)
        yield server


Series = dict[tuple[str, ...], float]


def eventually(
    prom: PrometheusServer, promql: str, labels: tuple[str, ...], expected: Series | Callable[[Series], bool]
) -> Series:
    """Poll ``promql`` until its series (keyed by their ``labels`` values) equal or satisfy ``expected``.

    Counters reach their final value a scrape or two after the last event, so the final answer is awaited,
    and a mismatch at the deadline is reported with what Prometheus last said.
    """
    deadline = time.monotonic() + SERIES_TIMEOUT_S
    while True:
        found = _series(prom.query(promql), labels)
        if expected(found) if callable(expected) else found == expected:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{promql}: Prometheus says {found}, expected {expected}")
        time.sleep(0.25)


def _series(result: list[dict[str, Any]], labels: tuple[str, ...]) -> Series:
    return {
        tuple(item["metric"].get(name, "") for name in labels): float(item["value"][1]) for item in result
    }


def test_every_bus_process_is_scraped(prometheus: PrometheusServer) -> None:
    up = eventually(
        prometheus,
        'up{job=~"lgsp-.*"}',
        ("job",),
        {("lgsp-ingress",): 1, ("lgsp-views-builder",): 1, ("lgsp-views-api",): 1, ("lgsp-publisher",): 1},
    )
    assert set(up.values()) == {1.0}
    versions = _series(prometheus.query("lgsp_build_info"), ("job",))
    assert set(versions) == {(job,) for (job,) in up}


def test_published_events_per_topic_and_type(prometheus: PrometheusServer, bus: Bus) -> None:
    eventually(
        prometheus,
        f'lgsp_events_published_total{{topic=~"{bus.prefix}.*"}}',
        ("job", "topic", "type"),
        {
            ("lgsp-ingress", bus.topic("dossiers"), DOSSIER): DOSSIERS,
            ("lgsp-publisher", bus.topic("documents"), DOCUMENT): DOCUMENTS,
            ("lgsp-publisher", bus.topic("reports"), REPORT): REPORTS,
        },
    )
    errors = prometheus.query(f'lgsp_publish_errors_total{{topic=~"{bus.prefix}.*"}} > 0')
    assert errors == []


def test_ingress_requests_by_route_and_status(prometheus: PrometheusServer) -> None:
    requests = eventually(
        prometheus,
        'lgsp_ingress_requests_total{route=~"/v1/events.*"}',
        ("route", "status"),
        {
            ("/v1/events", "202"): 1,
            ("/v1/events:batch", "202"): 1,
            ("/v1/events", "401"): 1,
            ("/v1/events", "422"): 1,
            # the 5xx series exist at 0 from start-up, so an alert's increase() sees the first failure
            ("/v1/events", "500"): 0,
            ("/v1/events", "503"): 0,
            ("/v1/events:batch", "500"): 0,
            ("/v1/events:batch", "503"): 0,
        },
    )
    assert sum(requests.values()) == 4
    latency = prometheus.query('lgsp_ingress_request_duration_seconds_count{route="/v1/events:batch"}')
    assert [float(item["value"][1]) for item in latency] == [1.0]


def test_consumed_events_per_topic_and_type(prometheus: PrometheusServer, bus: Bus) -> None:
    eventually(
        prometheus,
        f'sum by (topic, type) (lgsp_events_consumed_total{{group="{bus.group}"}})',
        ("topic", "type"),
        {
            (bus.topic("dossiers"), DOSSIER): DOSSIERS,
            (bus.topic("documents"), DOCUMENT): DOCUMENTS,
            (bus.topic("reports"), REPORT): REPORTS,
        },
    )
    dead = prometheus.query(f'lgsp_events_dead_lettered_total{{group="{bus.group}"}} > 0')
    assert dead == []


def test_consumer_lag_drains_to_zero_on_every_partition(prometheus: PrometheusServer, bus: Bus) -> None:
    lag = eventually(
        prometheus,
        f'lgsp_consumer_lag_messages{{group="{bus.group}"}}',
        ("topic", "partition"),
        lambda found: len(found) == 3 * PARTITIONS and set(found.values()) == {0.0},
    )
    assert {topic for topic, _ in lag} == {bus.topic(name) for name in ("documents", "dossiers", "reports")}
    eventually(
        prometheus,
        f'lgsp:consumer_lag_messages:sum{{group="{bus.group}"}}',
        ("topic",),
        lambda found: len(found) == 3 and set(found.values()) == {0.0},
    )


def test_views_report_when_they_last_applied_an_event(prometheus: PrometheusServer, bus: Bus) -> None:
    stamps = eventually(
        prometheus,
        'lgsp_view_last_event_timestamp_seconds{job="lgsp-views-builder"}',
        ("view",),
        lambda found: {("documents",), ("dossiers",), ("reports",)} <= set(found),
    )
    for view in ("documents", "dossiers", "reports"):
        assert bus.published_after <= stamps[(view,)] <= time.time(), (view, stamps)


def test_kpi_gauges_match_the_published_traffic(prometheus: PrometheusServer) -> None:
    # dossier(n): all in province 79, received online, resolved on time; digitised when n is even.
    eventually(
        prometheus,
        '{__name__=~"lgsp_kpi_dossier_.*",province="79"}',
        ("__name__",),
        {
            (Kpi.DOSSIER_ONLINE_RATIO.value,): 1.0,
            (Kpi.DOSSIER_FULL_ONLINE_RATIO.value,): 1.0,
            (Kpi.DOSSIER_ON_TIME_RATIO.value,): 1.0,
            (Kpi.DOSSIER_DIGITISED_RATIO.value,): 0.5,
        },
    )
    # document_sent(n): all electronic only, from the Government Office (a central body: the nation's row).
    eventually(
        prometheus,
        f'{Kpi.ELECTRONIC_DOCUMENT_RATIO.value}{{province="{NATIONAL}"}}',
        ("province",),
        {(NATIONAL,): 1.0},
    )
