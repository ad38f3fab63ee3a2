"""``Publisher.publish_records``: a record is published exactly as its model is (bytes, key, headers,
signature), checked by the compiled contract, and refused with the model's own error when it breaks a rule."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import bus.publish_encoding
import bus.publisher
import bus.signing.signer
from bus.authz import Principal
from bus.cloudevents import to_json
from bus.cloudevents_record import structured_record
from bus.errors import ForbiddenError, ValidationError
from bus.events import EVENT_TYPES, DossierSynced, Event
from bus.events.contract import check_for
from bus.events.record import CheckedRecord, EventRecord, event_of, plain_value, record_of
from bus.publisher import EventEncodingError, Publisher
from bus.registry import SchemaRegistryClient
from bus.settings import Settings
from bus.signing import create_agency_key, load_private_key
from bus.signing.signer import BatchSigner, KeyChain
from bus.types import AgencyCode
from tests import publishing_samples as samples
from tests.attacks import ATTACKS
from tests.unit.registry_fake import FakeRegistry
from tests.unit.test_events_decode import BREAKERS
from tests.unit.test_publisher import FakeProducer

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 1, 2, 3, 456000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus.publisher, "_now_millis", lambda: NOW)
    monkeypatch.setattr(bus.signing.signer, "now_ms", lambda: 1_796_000_000_000)  # the claims' signed-at


@pytest.fixture
def settings() -> Settings:
    settings = Settings()
    settings.topics.prefix = "t."
    settings.registry.auto_register = True
    return settings


@pytest.fixture
async def registry_client() -> AsyncIterator[SchemaRegistryClient]:
    config = Settings().registry.model_copy(update={"url": "http://registry.test/apis/ccompat/v7"})
    async with SchemaRegistryClient(config, transport=FakeRegistry().transport()) as client:
        yield client


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
async def publisher(
    settings: Settings, registry_client: SchemaRegistryClient, producer: FakeProducer
) -> AsyncIterator[Publisher]:
    async with Publisher(
        settings, registry=registry_client, producer_factory=lambda _s: producer
    ) as publisher:
        yield publisher


def _events(count: int) -> list[Event]:
    events = [samples.event(obj) for obj in samples.mixed(count)]
    events[1] = events[1].model_copy(
        update={"meta": events[1].meta.model_copy(update={"correlation_id": "corr-1"})}
    )
    return events


def _sent(producer: FakeProducer) -> list[tuple[Any, ...]]:
    return [(s.topic, s.key, s.value, s.headers, s.partition) for s in producer.sent]


async def _publish(
    settings: Settings,
    registry_client: SchemaRegistryClient,
    items: list[Any],
    *,
    records: bool,
    keychain: KeyChain | None = None,
    principal: Principal | None = None,
) -> FakeProducer:
    producer = FakeProducer()
    async with Publisher(
        settings,
        registry=registry_client,
        producer_factory=lambda _s: producer,
        keychain=keychain,
        principal=principal,
    ) as publisher:
        await (publisher.publish_records(items) if records else publisher.publish_many(items))
    return producer


async def test_a_record_is_published_as_its_model_byte_for_byte(
    settings: Settings, registry_client: SchemaRegistryClient
) -> None:
    events = _events(24)
    as_models = await _publish(settings, registry_client, events, records=False)
    as_records = await _publish(settings, registry_client, [record_of(e) for e in events], records=True)
    assert len(as_records.sent) == len(events)
    assert _sent(as_records) == _sent(as_models)


async def test_a_signed_record_carries_the_signature_its_model_gets(
    settings: Settings, registry_client: SchemaRegistryClient, tmp_path: Path
) -> None:
    """Ed25519 is deterministic: the same leaves give the same signature headers, so this compares the
    signing leaves (key, identity headers and value) of both paths too."""
    events = _events(12)
    made = [create_agency_key(source, tmp_path) for source in sorted({e.meta.source for e in events})]
    chain = KeyChain(
        [BatchSigner(load_private_key(k.private_key_file), k.entry.key_id, k.entry.agency) for k in made]
    )
    as_models = await _publish(settings, registry_client, events, records=False, keychain=chain)
    as_records = await _publish(
        settings, registry_client, [record_of(e) for e in events], records=True, keychain=chain
    )
    assert all(any(name == "lgsp_sig" for name, _ in s.headers) for s in as_records.sent)
    assert _sent(as_records) == _sent(as_models)


@pytest.mark.parametrize("name", sorted(BREAKERS))
@hypothesis_settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_a_record_that_breaks_a_rule_is_refused_with_the_models_error(
    name: str, data: st.DataObject, publisher: Publisher, producer: FakeProducer
) -> None:
    broken = BREAKERS[name](data.draw)  # type: ignore[arg-type]  # DataObject.draw draws like a DrawFn
    model = type(broken.event)
    with pytest.raises(ValidationError) as expected:
        model.from_avro(broken.record)
    good = record_of(samples.event(samples.dossier(1)))
    with pytest.raises(ValidationError) as raised:
        await publisher.publish_records([good, EventRecord(model.AVRO_NAME, plain_value(broken.record))])
    assert (raised.value.field, raised.value.rule) == (expected.value.field, expected.value.rule)
    assert str(raised.value) == f"item 1: {expected.value}"
    assert producer.sent == []


@pytest.mark.parametrize(
    ("path", "value", "field", "rule"),
    [
        (("meta", "occurred_at"), "yesterday", "meta.occurred_at", "timestamp.format"),
        (("meta", "occurred_at"), 1.5, "meta.occurred_at", "timestamp.type"),
        (("received_at",), 10**30, "received_at", "timestamp.type"),
        (("processing_agency",), "000.00.00.H29", "processing_agency", "model_type"),
        (("version",), "1", "version", "int_type"),
        (("channel",), ["ONLINE"], "channel", "enum"),
        (("channel",), {"ONLINE": 1}, "channel", "enum"),
    ],
)
async def test_a_value_of_the_wrong_type_is_named_by_its_field(
    path: tuple[str, ...], value: Any, field: str, rule: str, publisher: Publisher, producer: FakeProducer
) -> None:
    avro = plain_value(samples.event(samples.dossier(2)).to_avro())
    target = avro
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as raised:
        await publisher.publish_records([EventRecord("vn.gov.lgsp.dossier.DossierSynced", avro)])
    assert (raised.value.field, raised.value.rule) == (field, rule)
    assert str(raised.value).startswith("item 0: ")
    assert producer.sent == []


async def test_a_record_only_the_model_accepts_is_published_as_the_model_normalises_it(
    settings: Settings, registry_client: SchemaRegistryClient
) -> None:
    event = samples.event(samples.dossier(3))
    avro = plain_value(event.to_avro())
    avro["meta"]["event_id"] = avro["meta"]["event_id"].upper()
    avro["sector_name"] = unicodedata.normalize("NFD", "Tư pháp")
    normalised = event_of(type(event), avro)
    assert isinstance(normalised, DossierSynced)
    assert normalised.sector_name == "Tư pháp"
    as_model = await _publish(settings, registry_client, [normalised], records=False)
    as_record = await _publish(settings, registry_client, [EventRecord(event.AVRO_NAME, avro)], records=True)
    assert _sent(as_record) == _sent(as_model)


@pytest.mark.parametrize(
    "item",
    [
        {"type": "dict"},
        EventRecord("vn.gov.lgsp.Unknown", {}),
    ],
)
async def test_an_item_that_is_not_a_bus_record_raises_before_anything_is_sent(
    item: Any, publisher: Publisher, producer: FakeProducer
) -> None:
    good = record_of(samples.event(samples.dossier(1)))
    with pytest.raises(ValidationError) as raised:
        await publisher.publish_records([good, item])
    assert (raised.value.field, raised.value.rule) == ("[1]", "known-type")
    assert producer.sent == []


async def test_a_spoofed_record_is_forbidden_as_its_model_is(
    settings: Settings, registry_client: SchemaRegistryClient
) -> None:
    principal = Principal(AgencyCode(samples.HCMC))
    for name, (build, _fields) in ATTACKS.items():
        items = [samples.event(samples.dossier(1)), samples.event(build())]
        refusals = []
        for records in (False, True):
            with pytest.raises(ForbiddenError) as raised:
                await _publish(
                    settings,
                    registry_client,
                    [record_of(e) for e in items] if records else items,
                    records=records,
                    principal=principal,
                )
            refusals.append(([(i, astuple(r)) for i, r in raised.value.refusals], str(raised.value)))
        assert refusals[0] == refusals[1], name
        assert refusals[0][0], name


def test_every_event_type_reads_back_from_its_record() -> None:
    for obj in samples.mixed(len(EVENT_TYPES) * 3):
        event = samples.event(obj)
        assert event_of(type(event), record_of(event).avro) == event


async def test_a_record_is_checked_once_on_its_way_from_a_json_line(
    publisher: Publisher, producer: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``structured_record`` has checked its records (CheckedRecord): the Publisher does not check them again;
    any other record it checks itself."""
    calls: list[str] = []

    def counting(name: str) -> Any:
        check = check_for(name)
        assert check is not None

        def counted(avro: Any) -> bool:
            calls.append(name)
            return check(avro)

        return counted

    monkeypatch.setattr(bus.publish_encoding, "check_for", counting)
    events = _events(4)
    from_lines = [structured_record(json.loads(to_json(event))) for event in events]
    assert all(type(record) is CheckedRecord for record in from_lines)
    await publisher.publish_records([r for r in from_lines if r is not None])
    assert calls == []
    await publisher.publish_records([record_of(event) for event in events])
    assert calls == [event.AVRO_NAME for event in events]
    assert len(producer.sent) == 2 * len(events)


async def test_a_record_with_a_lone_surrogate_is_refused_before_anything_is_sent(
    publisher: Publisher, producer: FakeProducer
) -> None:
    """JSON can carry "\\ud800" and a hand-made record can too; the compiled check (written for what a strict
    UTF-8 reader hands out) does not look for it, and the encoder refuses it naming the event."""
    event = samples.event(samples.dossier(2))
    avro = plain_value(event.to_avro())
    avro["sector_name"] = "Hộ\ud800tịch"
    with pytest.raises(EventEncodingError) as raised:
        await publisher.publish_records([record_of(event), EventRecord(event.AVRO_NAME, avro)])
    assert (raised.value.index, raised.value.event_id) == (1, event.meta.event_id)
    assert "surrogate" in str(raised.value)
    assert producer.sent == []
