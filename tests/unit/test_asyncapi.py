"""docs/asyncapi.yaml: generated from the catalog and schemas/, valid for the official parser, served as HTML.

The parser is ``@asyncapi/parser`` with ``@asyncapi/avro-schema-parser`` (package.json, installed by
``make node-deps``, which ``make test`` runs) driven by ``scripts/validate_asyncapi.mjs``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bus.asyncapi import AVRO_SCHEMA_FORMAT, SIGNATURE_HEADER, build_document
from bus.cloudevents import from_structured, kafka_headers
from bus.consumer.outcome import DeadLetterReason
from bus.events import EVENT_TYPES
from bus.schemas import load_schema
from bus.topics import TOPICS, dlq_topic
from lgsp.commands.asyncapi import render_yaml
from producers.ingress.events_docs import avro_type_text
from tests import publishing_samples as samples
from tests.unit.test_ingress_app import fake_ingress

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.yaml"
VALIDATOR = ROOT / "scripts" / "validate_asyncapi.mjs"


def _validate(path: Path) -> dict[str, Any]:
    if not (ROOT / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: run `make node-deps`")
    done = subprocess.run(
        ["node", str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_committed_document_is_what_the_generator_writes() -> None:
    """Editing a schema, a topic or a header without `lgsp schemas asyncapi` fails here."""
    assert DOC.read_text(encoding="utf-8") == render_yaml(build_document()), "run `lgsp schemas asyncapi`"


def test_the_official_parser_accepts_the_document() -> None:
    report = _validate(DOC)
    errors = [d for d in report["diagnostics"] if d["severity"] == 0]
    assert report["valid"], errors
    assert errors == []


def test_the_official_parser_rejects_a_broken_avro_payload(tmp_path: Path) -> None:
    """The check can fail: an Avro field type that does not exist is an error of the Avro schema parser."""
    doc = build_document()
    payload = doc["components"]["messages"]["DossierSynced"]["payload"]["schema"]
    payload["fields"][0]["type"] = "not-an-avro-type"
    broken = tmp_path / "broken.yaml"
    broken.write_text(render_yaml(doc), encoding="utf-8")
    report = _validate(broken)
    assert not report["valid"]
    assert any("DossierSynced" in d["path"] for d in report["diagnostics"] if d["severity"] == 0)


def test_every_topic_and_its_dead_letters_is_a_channel_with_its_events() -> None:
    doc = build_document()
    addresses = {ch["address"]: ch for ch in doc["channels"].values()}
    for name, spec in TOPICS.items():
        assert sorted(addresses[name]["messages"]) == sorted(spec.event_types)
        assert addresses[name]["bindings"]["kafka"]["topic"] == name
        assert list(addresses[dlq_topic(name)]["messages"]) == ["DeadLetter"]
    dead_letter = doc["components"]["messages"]["DeadLetter"]
    reasons = dead_letter["headers"]["properties"]["lgsp_dlq_reason"]["enum"]
    assert reasons == [r.value for r in DeadLetterReason]


def test_each_event_message_carries_its_latest_avro_schema_and_the_kafka_binding() -> None:
    doc = build_document()
    for model in EVENT_TYPES.values():
        message = doc["components"]["messages"][model.__name__]
        assert message["payload"] == {
            "schemaFormat": AVRO_SCHEMA_FORMAT,
            "schema": load_schema(model.AVRO_NAME),
        }
        binding = message["bindings"]["kafka"]
        assert binding["schemaIdLocation"] == "payload"
        assert binding["key"]["type"] == "string"
    server = doc["servers"]["local"]["bindings"]["kafka"]
    assert server["schemaRegistryUrl"].endswith("/apis/ccompat/v7")
    assert server["schemaRegistryVendor"] == "apicurio"


def test_the_cloudevents_trait_declares_every_header_the_publisher_writes_and_the_signature() -> None:
    trait = build_document()["components"]["messageTraits"]["CloudEvents"]["headers"]
    event = from_structured({**samples.dossier(1), "correlationid": "c-1"})
    written = {name for name, _ in kafka_headers(event)}
    assert written <= set(trait["properties"])
    assert set(trait["required"]) <= written
    assert SIGNATURE_HEADER in trait["properties"]


def test_avro_types_read_as_text() -> None:
    assert avro_type_text(["null", "string"]) == "null | string"
    assert avro_type_text({"type": "long", "logicalType": "timestamp-millis"}) == "long (timestamp-millis)"
    assert avro_type_text({"type": "array", "items": "string"}) == "array of string"


async def test_the_ingress_serves_the_document_as_html_and_json_without_a_cdn() -> None:
    app = fake_ingress()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        page = await client.get("/docs/events")
        document = await client.get("/docs/asyncapi.json")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for topic in TOPICS:
        assert f"<code>{topic}</code>" in page.text
    assert "received_at" in page.text  # a field of DossierSynced's Avro schema
    assert SIGNATURE_HEADER in page.text
    assert "http" not in page.text.split("<body>")[0].replace(
        "https://www.apache.org", ""
    )  # no remote assets
    assert document.json() == yaml.safe_load(DOC.read_text(encoding="utf-8"))
