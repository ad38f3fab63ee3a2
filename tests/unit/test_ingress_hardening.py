"""The red-team list of the ingress in process (ASGI transport, a fake publisher): each failed before its fix.

Slow bodies with one key starving everyone, no body timeout, trailing-slash redirects, a deleted key file
ignored, event times far in the future.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bus.settings import Settings
from producers.ingress.app import create_app
from producers.ingress.auth import ApiKeyStore
from tests import publishing_samples as samples
from tests.unit.test_ingress_app import JSON, FakePublisher, Probe, fake_ingress

pytestmark = pytest.mark.unit


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ingress.test", timeout=30
    )


def _keys() -> tuple[ApiKeyStore, str, str]:
    """Keys of two agencies that may both publish the samples' events (the second by a grant)."""
    store = ApiKeyStore()
    return store, store.add_key(samples.HCMC), store.add_key(samples.GOV_OFFICE, grants=[samples.HCMC])


async def _slow_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    yield b'{"specversion": "1.0", '
    await release.wait()
    yield b"}"


async def test_64_slow_bodies_with_one_key_do_not_starve_another_agency() -> None:
    """Red team: 64 slow-body connections holding one key made every other agency get 429."""
    settings = Settings()  # the defaults: 64 in flight per process
    store, hcmc, other_key = _keys()
    app = fake_ingress(settings, store)
    release = asyncio.Event()
    async with _client(app) as client:
        slow = [
            asyncio.create_task(
                client.post(
                    "/v1/events",
                    content=_slow_body(release),
                    headers={"authorization": f"Bearer {hcmc}", **JSON},
                )
            )
            for _ in range(64)
        ]
        await asyncio.sleep(0.2)  # let every slow request reach admission (no event marks that point)
        other = await client.post(
            "/v1/events",
            content=json.dumps(samples.dossier(1)).encode(),
            headers={"authorization": f"Bearer {other_key}", **JSON},
        )
        release.set()
        answers = await asyncio.gather(*slow)
    assert other.status_code == 202, other.text
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 64 - settings.ingress.max_in_flight_per_key
    assert "this agency" in refused[0].json()["detail"]


async def test_a_body_that_does_not_arrive_in_time_is_408_and_frees_its_place() -> None:
    settings = Settings()
    settings.ingress.body_timeout_s = 0.2
    settings.ingress.max_in_flight_per_key = 1
    store, hcmc, _ = _keys()
    app = fake_ingress(settings, store)
    headers = {"authorization": f"Bearer {hcmc}", **JSON}
    async with _client(app) as client:
        late = await client.post("/v1/events", content=_slow_body(asyncio.Event()), headers=headers)
        assert late.status_code == 408
        assert late.json()["type"] == "/problems/request-timeout"
        again = await client.post(
            "/v1/events", content=json.dumps(samples.dossier(2)).encode(), headers=headers
        )
    assert again.status_code == 202, again.text


async def test_one_agency_over_its_rate_is_429_and_the_others_are_not() -> None:
    settings = Settings()
    settings.ingress.rate_per_key = 0.001
    settings.ingress.burst_per_key = 2
    store, hcmc, other_key = _keys()
    app = fake_ingress(settings, store)
    async with _client(app) as client:
        codes = []
        for n in range(3):
            answer = await client.post(
                "/v1/events",
                content=json.dumps(samples.dossier(n)).encode(),
                headers={"authorization": f"Bearer {hcmc}", **JSON},
            )
            codes.append(answer.status_code)
        other = await client.post(
            "/v1/events",
            content=json.dumps(samples.dossier(9)).encode(),
            headers={"authorization": f"Bearer {other_key}", **JSON},
        )
    assert codes == [202, 202, 429]
    assert other.status_code == 202


@pytest.mark.parametrize("path", ["/v1/events:batch/", "/v1/events/", "/healthz/"])
async def test_no_trailing_slash_redirects(path: str) -> None:
    """Red team: `POST /v1/events:batch/` answered 307 to `http://<Host header>/...`."""
    store, hcmc, _ = _keys()
    app = fake_ingress(Settings(), store)
    async with _client(app) as client:
        post = await client.post(
            path, content=b"[]", headers={"authorization": f"Bearer {hcmc}", "host": "evil.example"}
        )
        get = await client.get(path, headers={"host": "evil.example"})
    for answer in (post, get):
        assert answer.status_code == 404, answer.status_code
        assert "location" not in answer.headers


async def test_event_times_far_in_the_future_are_422_and_the_window_is_a_setting() -> None:
    store, hcmc, _ = _keys()
    ahead = samples.dossier(1)
    ahead["time"] = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    body = json.dumps(ahead).encode()
    headers = {"authorization": f"Bearer {hcmc}", **JSON}
    strict = Settings()
    app = fake_ingress(strict, store)
    async with _client(app) as client:
        refused = await client.post("/v1/events", content=body, headers=headers)
        history = await client.post(
            "/v1/events", content=json.dumps(samples.dossier(2)).encode(), headers=headers
        )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "time"
    assert refused.json()["errors"][0]["rule"] == "time.window"
    assert history.status_code == 202  # the past is open by default (backfills)
    replay = Settings()
    replay.ingress.event_time_window = False  # replays of simulated traffic, explicitly
    app = fake_ingress(replay, store)
    async with _client(app) as client:
        assert (await client.post("/v1/events", content=body, headers=headers)).status_code == 202


async def test_a_deleted_or_corrupt_key_file_fails_closed_and_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Red team: a deleted or corrupted key file was ignored silently and the old keys kept working."""
    keys_file = tmp_path / "keys.json"
    store, hcmc, _ = _keys()
    store.save(keys_file)
    settings = Settings()
    settings.ingress.api_keys_file = keys_file
    metrics = CollectorRegistry()
    app = create_app(settings, publisher=FakePublisher(), registry=metrics, registry_probe=Probe())
    state = app.state.ingress
    state.keys._interval = 0.0  # re-read on every request (the default checks every 2 s)
    headers = {"authorization": f"Bearer {hcmc}", **JSON}
    gauge = "lgsp_ingress_key_file_ok"
    async with _client(app) as client:
        assert (
            await client.post("/v1/events", content=json.dumps(samples.dossier(1)).encode(), headers=headers)
        ).status_code == 202
        assert metrics.get_sample_value(gauge) == 1
        for damage in ("delete", "corrupt"):
            if damage == "delete":
                keys_file.unlink()
            else:
                keys_file.write_text("{not json", encoding="utf-8")
            answer = await client.post(
                "/v1/events", content=json.dumps(samples.dossier(2)).encode(), headers=headers
            )
            assert answer.status_code == 401, damage
            ready = await client.get("/readyz")
            assert ready.status_code == 503, damage
            assert ready.json()["checks"]["api_keys"]["ok"] is False
            assert metrics.get_sample_value(gauge) == 0
        store.save(keys_file)
        assert (
            await client.post("/v1/events", content=json.dumps(samples.dossier(3)).encode(), headers=headers)
        ).status_code == 202
        assert metrics.get_sample_value(gauge) == 1
    assert "API key file unusable" in caplog.text
