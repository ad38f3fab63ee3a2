"""A Kafka-aware TCP relay on loopback that a test can cut, to take "the broker" away from one client only.

A plain TCP relay is not enough: a Kafka client bootstraps through it, learns the broker's advertised address
from the Metadata response and then connects there directly. So this relay parses the Kafka framing (4-byte
size + request header), remembers which correlation ids belong to Metadata requests (api key 3, versions 0-8:
non-flexible, which is what aiokafka sends), and rewrites every broker's host and port in those responses to
its own. Everything else passes through byte for byte. :meth:`KafkaRelay.cut` closes the listener and every
connection, so the client sees the broker die and cannot reconnect; :meth:`KafkaRelay.pause` holds the bytes,
so the broker looks hung. The shared broker is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

_METADATA = 3
_SIZE = struct.Struct(">i")


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    metadata_versions: dict[int, int] = field(default_factory=dict)


class KafkaRelay:
    """Relay ``127.0.0.1:<port>`` to one upstream broker; ``bootstrap`` is what the client should use."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.cut_done = False
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def pause(self) -> None:
        """Hold every byte in both directions (the broker looks hung) until :meth:`resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        self.cut_done = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            for writer in (conn.client, conn.upstream):
                writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_done:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        conn = _Conn(writer, up_writer)
        self._conns.add(conn)
        pumps = [
            asyncio.create_task(self._requests(reader, conn)),
            asyncio.create_task(self._responses(up_reader, conn)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            self._conns.discard(conn)
            for w in (writer, up_writer):
                w.transport.abort()

    async def _requests(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = await _read_frame(reader)
                api_key, api_version, correlation = struct.unpack_from(">hhi", frame, 4)
                if api_key == _METADATA:
                    conn.metadata_versions[correlation] = api_version
                await self._flowing.wait()
                conn.upstream.write(frame)
                await conn.upstream.drain()

    async def _responses(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = await _read_frame(reader)
                (correlation,) = struct.unpack_from(">i", frame, 4)
                version = conn.metadata_versions.pop(correlation, None)
                if version is not None:
                    frame = _rewrite_metadata(frame, version, "127.0.0.1", self.port)
                await self._flowing.wait()
                conn.client.write(frame)
                await conn.client.drain()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    size_bytes = await reader.readexactly(4)
    (size,) = _SIZE.unpack(size_bytes)
    return size_bytes + await reader.readexactly(size)


def _rewrite_metadata(frame: bytes, version: int, host: str, port: int) -> bytes:
    """Point every broker of a (non-flexible) Metadata response at ``host:port``."""
    if version > 8:
        raise ValueError(f"flexible Metadata v{version} is not supported by this relay")
    pos = 8  # size + correlation id
    head = bytearray(frame[4:pos])
    if version >= 3:
        head += frame[pos : pos + 4]  # throttle_time_ms
        pos += 4
    (count,) = struct.unpack_from(">i", frame, pos)
    head += frame[pos : pos + 4]
    pos += 4
    encoded_host = host.encode()
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", frame, pos)
        (host_len,) = struct.unpack_from(">h", frame, pos + 4)
        pos += 6 + host_len + 4  # node id, host, port
        head += struct.pack(">ih", node_id, len(encoded_host)) + encoded_host + struct.pack(">i", port)
        if version >= 1:
            (rack_len,) = struct.unpack_from(">h", frame, pos)
            rack_end = pos + 2 + max(rack_len, 0)
            head += frame[pos:rack_end]
            pos = rack_end
    body = bytes(head) + frame[pos:]
    return _SIZE.pack(len(body)) + body
