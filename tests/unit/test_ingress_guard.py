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
from fastapi import FastAPI
from starlette.types import Message

from bus.settings import Settings
from lgsp.devstack.certs import ensure_certificates
from producers.ingress.app import front, server_limits
from producers.ingress.auth import ApiKeyStore
from producers.ingress.linger import LINGER_S, BodyTracker, read_rest
from tests import publishing_samples as samples
from tests.unit.test_ingress_app import fake_ingress

pytestmark = pytest.mark.unit


async def _served(settings: Settings) -> AsyncIterator[int]:
    async for port in _served_app(fake_ingress(settings), settings):
        yield port


async def _served_app(app: FastAPI, settings: Settings) -> AsyncIterator[int]:
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


# --- a refusal while the client still sends its body (producers.ingress.linger) -----------------------------


async def _refused_then_rest(port: int, head: bytes, rest: list[bytes]) -> tuple[bytes, bytes]:
    """Send ``head``, read the whole answer, then send ``rest`` a piece at a time and read to the end: the
    answer, and what came after it. A connection the server closed right after answering resets on the
    pieces sent after it (ConnectionResetError / BrokenPipeError here)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        answer_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        length = next(
            int(line.split(b":", 1)[1])
            for line in answer_head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        answer = answer_head + await reader.readexactly(length)
        for piece in rest:
            await asyncio.sleep(0.02)  # the client keeps sending after it has the answer, as a slow one does
            writer.write(piece)
            await writer.drain()
        return answer, await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


async def test_a_refusal_before_the_body_is_read_by_a_closing_request_reads_the_rest_first() -> None:
    # 401 is decided from the headers; the client (Connection: close) sends its 200 kB body all the same
    body = b"x" * 200_000
    head = (
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        b"content-type: application/cloudevents+json\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    async for port in _served(Settings()):
        answer, after = await _refused_then_rest(
            port, head, [body[i : i + 16384] for i in range(0, len(body), 16384)]
        )
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:80]
        assert b"connection: close" in answer.lower()
        assert after == b""


async def test_a_chunked_body_refused_past_the_limit_by_a_closing_request_reads_the_rest_first() -> None:
    settings = Settings()
    settings.ingress.max_body_bytes = 64 * 1024
    store = ApiKeyStore()
    token = store.add_key(samples.HCMC, grants=[samples.GOV_OFFICE])
    piece = b"x" * 16384
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    head = (
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer %s\r\n"
        b"content-type: application/cloudevents+json\r\ntransfer-encoding: chunked\r\n\r\n" % token.encode()
    ) + chunk * 5  # 80 kB: past the limit, so the answer comes before the body ends
    async for port in _served_app(fake_ingress(settings, store), settings):
        # the rest, within one more body's worth (64 kB): read, then the connection closes cleanly
        answer, after = await _refused_then_rest(port, head, [chunk] * 3 + [b"0\r\n\r\n"])
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
        assert b"/problems/too-large" in answer
        assert after == b""
        # a client that goes on sending is not read for ever: past one more body's worth it is cut off
        with pytest.raises(ConnectionError):
            await _refused_then_rest(port, head, [chunk] * 40)


async def test_a_client_waiting_for_100_continue_gets_the_refusal_alone_and_the_connection_closes() -> None:
    head = (
        b"POST /v1/events HTTP/1.1\r\nhost: x\r\nconnection: close\r\nexpect: 100-continue\r\n"
        b"content-type: application/cloudevents+json\r\ncontent-length: 200000\r\n\r\n"
    )
    async for port in _served(Settings()):
        started = asyncio.get_running_loop().time()
        answer = await _exchange(port, [head])
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:80]
        assert b"100 Continue" not in answer  # the refusal is the final answer: no body is asked for
        assert asyncio.get_running_loop().time() - started < LINGER_S  # closed at once, no body to wait for


async def test_the_rest_of_a_refused_body_is_waited_for_no_longer_than_the_linger_time() -> None:
    async def trickle() -> Message:
        await asyncio.sleep(0.01)
        return {"type": "http.request", "body": b"x", "more_body": True}

    body = BodyTracker(trickle)
    started = asyncio.get_running_loop().time()
    await read_rest(body, limit_bytes=10**9, timeout_s=0.2)
    assert 0.2 <= asyncio.get_running_loop().time() - started < 1.0
    assert not body.done
