"""`lgsp simulate` on the real broker and registry: every emission lands on its topic, invalid ones too."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus.cloudevents import parse_kafka_headers
from bus.errors import ValidationError
from bus.events import EVENT_TYPES
from bus.metrics import PublisherMetrics, SimulatorMetrics
from bus.registry import SchemaRegistryClient
from bus.serde import AvroDeserializer, SerializationContext
from bus.settings import Settings
from bus.topics import ensure_topics, topic_for
from producers.simulate import AVRO_ENCODABLE_DEFECTS, Simulation, SimulationConfig
from producers.simulate.run import DEFECT_HEADER, Limits, publish
from producers.simulate.truth import GroundTruth
from tests.integration.kafka_read import end_offsets, read_all

pytestmark = pytest.mark.integration

EVENTS = 3000
LGSP = str(Path(sys.executable).with_name("lgsp"))


@pytest.fixture
async def sim_settings(settings: Settings, topic_prefix: str) -> Settings:
    settings.topics.prefix = topic_prefix
    settings.topics.partitions = 3
    settings.registry.auto_register = True
    await ensure_topics(settings)
    return settings


def topics(settings: Settings) -> list[str]:
    return sorted({topic_for(t, prefix=settings.topics.prefix) for t in EVENT_TYPES.values()})


def expected_per_topic(truth: GroundTruth, prefix: str) -> Counter[str]:
    expected: Counter[str] = Counter()
    for counts in (truth.by_type, truth.duplicates_by_type, truth.invalid_by_type):
        for type_name, count in counts.items():
            expected[topic_for(type_name, prefix=prefix)] += count
    return expected


async def offsets_per_topic(settings: Settings) -> Counter[str]:
    ends = await end_offsets(settings.kafka.bootstrap_servers, topics(settings))
    totals: Counter[str] = Counter()
    for partition, end in ends.items():
        totals[partition.topic] += end
    return totals


async def test_simulated_traffic_lands_complete_and_invalid_events_fail_validation(
    sim_settings: Settings,
) -> None:
    config = SimulationConfig(
        seed=99, scale=0.003, duplicates=0.02, bad_ratio=0.01, defects=AVRO_ENCODABLE_DEFECTS
    )
    simulation = Simulation(config)
    registry = CollectorRegistry()
    report = await publish(
        simulation, sim_settings, Limits(events=EVENTS), batch_size=400,
        metrics=SimulatorMetrics(registry), publisher_metrics=PublisherMetrics(registry),
    )  # fmt: skip
    truth = simulation.truth
    assert report.emitted == EVENTS
    assert report.published + report.invalid_sent == EVENTS
    assert report.invalid_sent == sum(truth.invalid_by_type.values()) > 0
    expected = expected_per_topic(truth, sim_settings.topics.prefix)
    assert await offsets_per_topic(sim_settings) == expected
    assert report.topics == dict(expected)
    generated = sum(
        registry.get_sample_value("lgsp_simulator_events_generated_total", {"type": t}) or 0.0
        for t in EVENT_TYPES
    )
    assert generated == EVENTS

    records = await read_all(sim_settings.kafka.bootstrap_servers, topics(sim_settings))
    assert len(records) == EVENTS
    async with SchemaRegistryClient(sim_settings.registry) as client:
        deserializer = AvroDeserializer(client)
        failed = await deserializer.prepare_ids(AvroDeserializer.schema_id_of(r.value) for r in records)
        assert failed == {}
        invalid = 0
        for record in records:
            headers = list(record.headers)
            attributes = parse_kafka_headers(headers)
            defect = dict(headers).get(DEFECT_HEADER)
            try:
                event = deserializer.deserialize(
                    record.value, SerializationContext(record.topic, "value", headers)
                )
            except ValidationError:
                assert defect, f"{attributes['id']} failed validation but was not injected"
                invalid += 1
                continue
            assert defect is None
            assert event.meta.event_id == attributes["id"]
            assert record.key == event.entity_key().encode()
    assert invalid == report.invalid_sent


async def test_the_cli_publishes_paced_traffic(sim_settings: Settings) -> None:
    environment = {
        **os.environ,
        "LGSP_KAFKA__BOOTSTRAP_SERVERS": sim_settings.kafka.bootstrap_servers,
        "LGSP_REGISTRY__URL": sim_settings.registry.url,
        "LGSP_REGISTRY__AUTO_REGISTER": "true",
    }
    process = await asyncio.create_subprocess_exec(
        LGSP, "simulate", "--events", "600", "--rate", "3000", "--seed", "5",
        "--prefix", sim_settings.topics.prefix, "--metrics-port", "0", "--no-progress", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environment,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["published"] == summary["emitted"] == 600
    assert "metrics: http://127.0.0.1:" in err.decode()
    assert sum((await offsets_per_topic(sim_settings)).values()) == 600
