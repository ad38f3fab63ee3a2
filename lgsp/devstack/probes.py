"""Readiness probes: is a Kafka node serving, is the registry's Confluent-compatible API up.

The Kafka probe sends one Metadata request (v12) over a plain socket. It is synchronous on purpose: the
launcher is called from CLI commands and from async tests alike, and a blocking probe with a short timeout
works in both without an event loop. A broker is ready when its own node id is in the broker list it
returns: KRaft lists only brokers that have registered and been unfenced.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import httpx

_METADATA_KEY = 3
_METADATA_VERSION = 12  # flexible (compact) encoding; Kafka 2.8+ and every 4.x
_CLIENT_ID = b"lgsp-dev-probe"
_MAX_RESPONSE = 16 * 1024 * 1024


@dataclass(frozen=True)
class ClusterMetadata:
    """The part of a Metadata response the launcher needs."""

    brokers: dict[int, tuple[str, int]]
    cluster_id: str | None
    controller_id: int


class ProtocolError(Exception):
    """A Kafka response we could not parse (internal to the probe: it means 'not ready')."""


def metadata_request(correlation_id: int) -> bytes:
    """A size-prefixed Metadata v12 request for no topics."""
    header = struct.pack(">hhih", _METADATA_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID))
    header += _CLIENT_ID + b"\x00"  # client id (classic string), then no tagged fields
    body = b"\x01" + b"\x00" + b"\x00" + b"\x00"  # topics: empty compact array; two false flags; no tags
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int) -> bytes:
        if self._pos + size > len(self._data):
            raise ProtocolError("truncated Metadata response")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def int32(self) -> int:
        value: int = struct.unpack(">i", self.take(4))[0]
        return value

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ProtocolError("varint too long")

    def compact_string(self) -> str | None:
        length = self.uvarint() - 1
        return None if length < 0 else self.take(length).decode("utf-8")

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def parse_metadata_response(data: bytes, correlation_id: int) -> ClusterMetadata:
    """Brokers, cluster id and controller id from a Metadata v12 response (without its size prefix)."""
    reader = _Reader(data)
    if reader.int32() != correlation_id:
        raise ProtocolError("correlation id mismatch")
    reader.skip_tags()
    reader.int32()  # throttle time
    brokers: dict[int, tuple[str, int]] = {}
    for _ in range(max(reader.uvarint() - 1, 0)):
        node_id = reader.int32()
        host = reader.compact_string() or ""
        port = reader.int32()
        reader.compact_string()  # rack
        reader.skip_tags()
        brokers[node_id] = (host, port)
    cluster_id = reader.compact_string()
    return ClusterMetadata(brokers, cluster_id, reader.int32())


def kafka_metadata(host: str, port: int, timeout_s: float = 2.0) -> ClusterMetadata | None:
    """The cluster as ``host:port`` sees it, or None while it does not answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(metadata_request(1))
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if not 0 < size <= _MAX_RESPONSE:
                return None
            return parse_metadata_response(_recv_exactly(sock, size), 1)
    except (OSError, ProtocolError, struct.error):
        return None


def kafka_node_ready(host: str, port: int, node_id: int, timeout_s: float = 2.0) -> bool:
    """Whether the node answers Metadata and lists itself among the live brokers."""
    metadata = kafka_metadata(host, port, timeout_s)
    return metadata is not None and node_id in metadata.brokers


def registry_ready(base_url: str, timeout_s: float = 2.0) -> bool:
    """Apicurio's health check says UP and the Confluent-compatible API answers."""
    try:
        with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
            health = client.get("/health/ready")
            if health.status_code != 200 or health.json().get("status") != "UP":
                return False
            return client.get("/apis/ccompat/v7/subjects").status_code == 200
    except (httpx.HTTPError, ValueError):
        return False


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
