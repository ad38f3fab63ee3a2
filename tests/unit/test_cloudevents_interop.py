"""Our CloudEvents forms against the official CloudEvents Python SDK (``cloudevents`` on PyPI), both ways.

``bus.cloudevents`` maps events to structured JSON and to Kafka binary-mode headers by hand (the publish
path cannot afford a generic SDK per event). These tests hold the hand mapping to the spec's reference code:
what we write, the SDK reads with the same attributes and data; what the SDK writes, we read into the same
event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from bus.cloudevents import (
    AVRO_CONTENT_TYPE,
    format_time,
    from_json,
    kafka_headers,
    parse_kafka_headers,
    to_json,
    to_structured,
    verify_headers,
)
from bus.events import Event
from tests import publishing_samples as samples

pytestmark = pytest.mark.unit

BUILDERS: list[Callable[[int], dict[str, Any]]] = [
    samples.document_sent,
    samples.document_status,
    samples.dossier,
    samples.report,
]
AVRO_VALUE = b"\x00\x00\x00\x00\x07avro-bytes"
"""Stands for a Confluent-framed Avro value: the Kafka binding carries it untouched."""


class AvroValueFormat(JSONFormat):
    """The SDK's format for the data part, told that our Kafka values are opaque bytes (Avro), not text."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body

    def write_data(self, data: Any, datacontenttype: str | None) -> bytes:
        return bytes(data)


def _event(builder: Callable[[int], dict[str, Any]]) -> Event:
    event = samples.event({**builder(3), "correlationid": "exchange-42"})
    published = event.meta.model_copy(update={"published_at": datetime(2025, 7, 4, tzinfo=UTC)})
    return event.model_copy(update={"meta": published})


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_the_sdk_reads_our_structured_json(builder: Callable[[int], dict[str, Any]]) -> None:
    event = _event(builder)
    ours = to_structured(event)
    read = JSONFormat().read(None, to_json(event).encode())
    assert isinstance(read, CloudEvent)
    assert read.get_specversion() == "1.0"
    assert (read.get_id(), read.get_source(), read.get_type()) == (ours["id"], ours["source"], ours["type"])
    assert read.get_time() == event.meta.occurred_at
    assert read.get_subject() == event.entity_key()
    assert read.get_datacontenttype() == "application/json"
    assert read.get_data() == ours["data"]
    assert read.get_extension("correlationid") == "exchange-42"
    assert read.get_extension("lgsppublishedat") == format_time(datetime(2025, 7, 4, tzinfo=UTC))


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_we_read_structured_json_the_sdk_writes(builder: Callable[[int], dict[str, Any]]) -> None:
    event = _event(builder)
    ours = to_structured(event)
    attributes = {k: v for k, v in ours.items() if k != "data"}
    attributes["time"] = event.meta.occurred_at  # the SDK holds a datetime and writes its own ISO form
    written = JSONFormat().write(CloudEvent(attributes, ours["data"]))
    assert json.loads(written)["time"].endswith("Z")  # the SDK's own form (no milliseconds when they are 0)
    assert from_json(written) == event


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_the_sdk_reads_our_kafka_binary_headers(builder: Callable[[int], dict[str, Any]]) -> None:
    event = _event(builder)
    message = KafkaMessage(
        headers=dict(kafka_headers(event)), key=event.entity_key().encode(), value=AVRO_VALUE
    )
    read = from_binary(message, AvroValueFormat(), CloudEvent)
    assert (read.get_id(), read.get_source(), read.get_type()) == (
        event.meta.event_id,
        event.meta.source,
        event.AVRO_NAME,
    )
    assert read.get_time() == event.meta.occurred_at
    assert read.get_datacontenttype() == AVRO_CONTENT_TYPE
    assert read.get_data() == AVRO_VALUE
    assert read.get_extension("partitionkey") == event.entity_key()
    assert read.get_extension("correlationid") == "exchange-42"


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_we_read_kafka_binary_headers_the_sdk_writes(builder: Callable[[int], dict[str, Any]]) -> None:
    event = _event(builder)
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.meta.event_id,
        "source": event.meta.source,
        "type": event.AVRO_NAME,
        "time": event.meta.occurred_at,
        "datacontenttype": AVRO_CONTENT_TYPE,
        "correlationid": "exchange-42",
    }
    message = to_binary(CloudEvent(attributes, AVRO_VALUE), AvroValueFormat())
    assert message.value == AVRO_VALUE
    parsed = parse_kafka_headers(list(message.headers.items()))
    verify_headers(event, parsed)  # raises if id, source, type or time differ
    assert parsed["datacontenttype"] == AVRO_CONTENT_TYPE
    assert parsed["correlationid"] == "exchange-42"
