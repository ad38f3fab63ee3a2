"""The in-process schema registry of the benchmarks that need no stack (serde, decode, signing).

The serde talks to a registry only while preparing (lookup of a subject, schema by id), never per record, so
those parts measure the same code with this stub as with Apicurio. Every event type has a fixed id: its
position in the sorted type names, from 1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote

import httpx

from bus.events import EVENT_TYPES
from bus.registry import SchemaRegistryClient, schema_text
from bus.settings import RegistrySettings
from bus.types import SchemaId

NAMES = sorted(EVENT_TYPES)
SCHEMA_IDS = {name: SchemaId(index) for index, name in enumerate(NAMES, start=1)}
"""The stub's schema id of each event type (by Avro full name)."""
_URL = "http://stub.invalid/apis/ccompat/v7"


class StubRegistry:
    """Answers the two calls the serde makes while preparing: lookup by subject, schema by id."""

    def __init__(self) -> None:
        self.texts = {SCHEMA_IDS[n]: schema_text(EVENT_TYPES[n].avro_schema_source()) for n in NAMES}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        if "/schemas/ids/" in path:
            schema_id = int(path.rsplit("/", 1)[1])
            return httpx.Response(200, json={"schema": self.texts[SchemaId(schema_id)], "schemaType": "AVRO"})
        subject = path.rsplit("/", 1)[1]
        if subject not in SCHEMA_IDS:
            return httpx.Response(404, json={"error_code": 40401, "message": f"no subject {subject}"})
        return httpx.Response(200, json={"subject": subject, "version": 1, "id": SCHEMA_IDS[subject]})


@asynccontextmanager
async def stub_registry() -> AsyncIterator[SchemaRegistryClient]:
    """A registry client answered by :class:`StubRegistry` (no network)."""
    transport = httpx.MockTransport(StubRegistry())
    async with SchemaRegistryClient(RegistrySettings(url=_URL), transport=transport) as client:
        yield client
