"""``lgsp ingress --workers 2``: two processes on one port, each publishing, one ``/metrics`` for both."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bus.settings import Settings
from bus.topics import ensure_topics
from producers.ingress.auth import ApiKeyStore
from tests import publishing_samples as samples
from tests.integration.kafka_read import end_offsets

pytestmark = pytest.mark.integration

LGSP = Path(sys.executable).with_name("lgsp")
_PORT = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
_WORKERS = 2
_EVENTS = 12
_ACCEPTED = r'^lgsp_ingress_requests_total\{route="/v1/events",status="202"\} (\S+)$'


@pytest.fixture
def workers_settings(settings: Settings, topic_prefix: str, tmp_path: Path) -> Settings:
    settings.topics.prefix = topic_prefix
    settings.topics.partitions = 3
    settings.registry.auto_register = True
    settings.ingress.api_keys_file = tmp_path / "keys.json"
    return settings


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LGSP_REGISTRY__URL": settings.registry.url,
        "LGSP_REGISTRY__AUTO_REGISTER": "true",
        "LGSP_TOPICS__PREFIX": settings.topics.prefix,
        "LGSP_INGRESS__API_KEYS_FILE": str(settings.ingress.api_keys_file),
    }


def _started(process: subprocess.Popen[str], log: list[str]) -> str:
    """The base URL once the supervisor says where it listens (read from its output)."""
    assert process.stdout is not None
    for line in process.stdout:
        log.append(line)
        if match := _PORT.search(line):
            return f"http://127.0.0.1:{match.group(1)}"
    raise AssertionError("the ingress exited before listening:\n" + "".join(log))


@pytest.fixture
def token(workers_settings: Settings) -> str:
    store = ApiKeyStore()
    key = store.add_key(samples.HCMC)
    store.save(workers_settings.ingress.api_keys_file)
    return key


@pytest.fixture
def two_workers(workers_settings: Settings, token: str) -> Iterator[str]:
    command = [str(LGSP), "ingress", "--host", "127.0.0.1", "--port", "0", "--workers", str(_WORKERS)]
    process = subprocess.Popen(
        command, env=_env(workers_settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log: list[str] = []
    try:
        yield _started(process, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            log += process.stdout.readlines()
            process.stdout.close()
    assert process.returncode == 0, "".join(log)


async def test_two_workers_publish_and_one_scrape_counts_both(
    workers_settings: Settings, token: str, two_workers: str
) -> None:
    await ensure_topics(workers_settings)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/cloudevents+json"}
    topics = [workers_settings.topics.prefix + "lgsp.dossiers"]
    before = await end_offsets(workers_settings.kafka.bootstrap_servers, topics)
    async with httpx.AsyncClient(base_url=two_workers, timeout=30) as client:
        await _until_ready(client)
        statuses = []
        for n in range(_EVENTS):  # a new connection each: the kernel spreads them over the workers
            async with httpx.AsyncClient(base_url=two_workers, timeout=30) as fresh:
                statuses.append(
                    (await fresh.post("/v1/events", json=samples.dossier(n), headers=headers)).status_code
                )
        text = (await client.get("/metrics")).text
    after = await end_offsets(workers_settings.kafka.bootstrap_servers, topics)
    assert statuses == [202] * _EVENTS
    assert sum(after.values()) - sum(before.values()) == _EVENTS
    accepted = re.search(
        r'^lgsp_ingress_requests_total\{route="/v1/events",status="202"\} (\S+)$', text, re.M
    )
    assert accepted is not None
    assert float(accepted.group(1)) == _EVENTS
    in_flight = re.findall(r'^lgsp_ingress_in_flight_requests\{pid="(\d+)"\} 0\.0$', text, re.M)
    assert len(set(in_flight)) == _WORKERS  # one gauge per worker, each idle


async def _until_ready(client: httpx.AsyncClient) -> None:
    """Kafka with the topics (created after the start) seen by the ingress."""
    for _ in range(600):
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.05)  # polls readiness
    raise AssertionError("the ingress never became ready")
