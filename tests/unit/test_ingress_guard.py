"""The ingress's HTTP server limits on a real loopback socket (uvicorn with the guard, a fake publisher).

Red team: 300 MB of unterminated headers were buffered, an 8 MB header answered 200, a slow head was waited
for forever; the ingress had no TLS of its own.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bus.settings import Settings
from lgsp.devstack.certs import ensure_certificates
from producers.ingress.app import front, server_limits
from tests.unit.test_ingress_app import fake_ingress

pytestmark = pytest.mark.unit


async def _served(settings: Settings) -> AsyncIterator[int]:
    app = fake_ingress(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(front(app), log_level="warning", lifespan="on", **server_limits(settings.ingress))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag after binding, no event
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    settings = Settings()
    settings.ingress.header_timeout_s = 0.5
    async for found in _served(settings):
        yield found


async def _exchange(port: int, chunks: list[bytes], *, pause_s: float = 0.0) -> bytes:
    """Send ``chunks``, then read until the server closes (or 5 s pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break  # the server closed while we were still sending: read its answer
            if pause_s:
                await asyncio.sleep(pause_s)
        return await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


async def test_an_8_mb_header_is_431_and_closed(port: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    answer = await _exchange(port, [head[i : i + 65536] for i in range(0, len(head), 65536)])
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b"/problems/headers-too-large" in answer


async def test_unterminated_headers_are_refused_after_the_limit_not_buffered(port: int) -> None:
    chunks = [b"POST /v1/events HTTP/1.1\r\n"] + [b"x-pad: " + b"b" * 1000 + b"\r\n"] * 40  # never ends
    answer = await _exchange(port, chunks)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


async def test_too_many_header_fields_are_431(port: int) -> None:
    fields = b"".join(b"x-%d: 1\r\n" % n for n in range(100))
    answer = await _exchange(port, [b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + fields + b"\r\n"])
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


async def test_a_slow_head_is_408_and_closed(port: int) -> None:
    answer = await _exchange(port, [b"GET /healthz HTTP/1.1\r\n", b"host: x\r\n"], pause_s=0.8)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]


async def test_an_ordinary_request_still_passes(port: int) -> None:
    answer = await _exchange(port, [b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]


async def test_the_ingress_serves_tls_with_its_certificate(tmp_path: Path) -> None:
    tls = ensure_certificates(tmp_path, host="127.0.0.1")
    settings = Settings()
    settings.ingress.ssl_certfile, settings.ingress.ssl_keyfile = tls.broker_cert, tls.broker_key
    async for found in _served(settings):
        context = ssl.create_default_context(cafile=str(tls.ca_cert))
        async with httpx.AsyncClient(verify=context) as client:
            answer = await client.get(f"https://127.0.0.1:{found}/healthz")
        assert answer.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            async with httpx.AsyncClient() as plain:
                await plain.get(f"http://127.0.0.1:{found}/healthz")
