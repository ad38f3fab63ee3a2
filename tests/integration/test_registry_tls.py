"""The registry client over https, to the real registry behind a TLS-terminating relay (as a ministry's
reverse proxy or gateway puts it), with the relay's certificate signed by a private CA."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.errors import RegistryError
from bus.registry import SchemaRegistryClient
from bus.settings import RegistrySettings, Settings
from lgsp.devstack.certs import TlsFiles, ensure_certificates

pytestmark = pytest.mark.integration


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


@contextlib.asynccontextmanager
async def tls_relay(upstream: httpx.URL, files: TlsFiles) -> AsyncIterator[int]:
    """A port on 127.0.0.1 serving TLS with ``files``' certificate and relaying the bytes to ``upstream``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.broker_cert, files.broker_key)
    connections: set[asyncio.Task[Any]] = set()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection's handler runs in a task of its own
        connections.add(task)
        ends = [writer]
        try:
            up_reader, up_writer = await asyncio.open_connection(upstream.host, upstream.port)
            ends.append(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            for end in ends:
                end.transport.abort()

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in connections:
            connection.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()


def _over(settings: Settings, port: int, **changes: object) -> RegistrySettings:
    path = httpx.URL(settings.registry.url).path
    return settings.registry.model_copy(update={"url": f"https://127.0.0.1:{port}{path}", **changes})


async def test_an_https_registry_signed_by_a_private_ca_is_trusted_with_its_ca_file(
    settings: Settings, tmp_path: Path
) -> None:
    files = ensure_certificates(tmp_path / "tls", host="127.0.0.1")
    subject = f"test.lgsp.tls{uuid.uuid4().hex[:10]}.Probe"
    schema = {"type": "record", "name": "Probe", "namespace": subject.rsplit(".", 1)[0], "fields": []}
    async with (
        tls_relay(httpx.URL(settings.registry.url), files) as port,
        SchemaRegistryClient(_over(settings, port, ssl_cafile=files.ca_cert)) as registry,
    ):
        schema_id = await registry.register(subject, schema)
        assert await registry.get_by_id(schema_id) == schema
        await registry.delete_subject(subject, permanent=True)


async def test_without_the_ca_file_the_certificate_fails_at_once_and_the_error_names_the_setting(
    settings: Settings, tmp_path: Path
) -> None:
    """Not retried as an outage (backing off would only delay the answer), and it says what to set."""
    files = ensure_certificates(tmp_path / "tls", host="127.0.0.1")
    backoffs: list[float] = []

    async def backoff(delay: float) -> None:
        backoffs.append(delay)

    async with (
        tls_relay(httpx.URL(settings.registry.url), files) as port,
        SchemaRegistryClient(_over(settings, port), sleep=backoff) as registry,
    ):
        with pytest.raises(RegistryError) as raised:
            await registry.list_subjects()
    assert backoffs == []
    message = str(raised.value)
    assert "the schema registry's certificate did not verify" in message
    assert "set LGSP_REGISTRY__SSL_CAFILE to the CA certificate (PEM) that signed it" in message
    assert not raised.value.retriable
