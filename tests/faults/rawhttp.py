"""A minimal HTTP/1.1 client for the requests httpx cannot make: a body that is declared but never sent, and
a chunked body that is cut off once the server has answered.

A server may refuse an oversized body from its ``Content-Length`` alone and close the connection while the
client is still sending; a client that insists on sending everything then sees a reset instead of the answer.
These requests stop sending as soon as they can and always read what the server said.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 16 * 1024


@dataclass(frozen=True)
class Answer:
    """Status, headers (lower-case names) and body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


async def send(
    url: str, method: str, path: str, headers: dict[str, str | bytes], body: bytes, *, mode: str
) -> Answer:
    """``mode``: ``headers-only`` (declare the length, send no body) or ``chunked`` (stream until refused)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"{method} {path} HTTP/1.1".encode(), f"host: {host}:{port}".encode(), b"connection: close"]
        head += [
            name.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) for name, v in headers.items()
        ]
        head.append(
            f"content-length: {len(body)}".encode()
            if mode == "headers-only"
            else b"transfer-encoding: chunked"
        )
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            if mode == "chunked":
                await _stream(writer, body)
        raw = await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return _parse(raw)


async def _stream(writer: asyncio.StreamWriter, body: bytes) -> None:
    for start in range(0, len(body), _CHUNK):
        piece = body[start : start + _CHUNK]
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1."):
        raise AssertionError(f"no HTTP response: {raw[:200]!r}")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body)
