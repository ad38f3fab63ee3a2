"""The .avsc files: self-contained when loaded, documented, enums with defaults, logical types in place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.schema
import fastavro
import pytest

from bus.errors import ConfigError
from bus.events import EVENT_TYPES
from bus.schemas import IMPORTS_KEY, full_name, load_schema, record_names, schema_dir, schema_versions

pytestmark = pytest.mark.unit

ALL_VERSIONS = [(name, v) for name in record_names() for v in schema_versions(name)]
EVENTS = [name.rsplit(".", 1)[1] for name in EVENT_TYPES]


def _named(schema: Any) -> Iterator[dict[str, Any]]:
    """Every record and enum defined in a schema."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _named(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum"):
            yield schema
        for field in schema.get("fields", []):
            yield from _named(field["type"])
        for key in ("items", "values"):
            if key in schema:
                yield from _named(schema[key])


def _fields(schema: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f for f in schema["fields"]}


def test_the_expected_records_and_versions() -> None:
    assert {(n, v) for n, v in ALL_VERSIONS} == {
        ("AgencyRef", 1),
        ("DocumentSent", 1),
        ("DocumentSent", 2),
        ("DocumentStatusChanged", 1),
        ("DossierSynced", 1),
        ("DossierSynced", 2),
        ("EventMeta", 1),
        ("ReportFiled", 1),
    }


@pytest.mark.parametrize(("name", "version"), ALL_VERSIONS)
def test_loads_self_contained_for_fastavro_and_apache_avro(name: str, version: int) -> None:
    schema = load_schema(name, version)
    assert IMPORTS_KEY not in json.dumps(schema)
    fastavro.parse_schema(schema)
    parsed = avro.schema.parse(json.dumps(schema))
    assert getattr(parsed, "fullname", None) == full_name(schema)
    defined = [full_name(s) for s in _named(schema)]
    assert len(defined) == len(set(defined)), "each named type is defined once"


@pytest.mark.parametrize(("name", "version"), ALL_VERSIONS)
def test_everything_is_documented_in_the_lgsp_namespace(name: str, version: int) -> None:
    for named in _named(load_schema(name, version)):
        assert named.get("doc"), named["name"]
        assert named.get("namespace", "vn.gov.lgsp.inherited").startswith("vn.gov.lgsp.")
        for field in named.get("fields", []):
            assert field.get("doc"), f"{named['name']}.{field['name']} has no doc"


@pytest.mark.parametrize(("name", "version"), ALL_VERSIONS)
def test_enums_have_unknown_as_their_default(name: str, version: int) -> None:
    for named in _named(load_schema(name, version)):
        if named["type"] == "enum":
            assert named["default"] == "UNKNOWN"
            assert named["symbols"][0] == "UNKNOWN"


@pytest.mark.parametrize("name", EVENTS)
def test_events_carry_event_meta_first(name: str) -> None:
    schema = load_schema(name)
    meta = schema["fields"][0]
    assert meta["name"] == "meta"
    assert full_name(meta["type"]) == "vn.gov.lgsp.common.EventMeta"
    fields = _fields(meta["type"])
    assert fields["event_id"]["type"] == {"type": "string", "logicalType": "uuid"}
    assert fields["occurred_at"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["published_at"]["default"] is None
    assert fields["correlation_id"]["type"] == ["null", "string"]


def test_logical_types_of_the_dossier_and_document() -> None:
    dossier = _fields(load_schema("DossierSynced"))
    for name in ("received_at", "due_at", "finished_at", "returned_at"):
        assert "timestamp-millis" in json.dumps(dossier[name]["type"])
    assert dossier["version"]["type"] == "long"
    assert "mã hồ sơ, mahoso" in dossier["dossier_code"]["doc"].lower()
    document = _fields(load_schema("DocumentSent"))
    assert document["promulgation_date"]["type"] == {"type": "int", "logicalType": "date"}
    assert "trích yếu" in document["subject"]["doc"].lower()


def test_dossier_v2_adds_an_optional_field_with_a_default() -> None:
    v1, v2 = _fields(load_schema("DossierSynced", 1)), _fields(load_schema("DossierSynced", 2))
    assert set(v2) - set(v1) == {"result_digitised"}
    assert v2["result_digitised"]["type"] == ["null", "boolean"]
    assert v2["result_digitised"]["default"] is None


def test_document_v2_adds_the_edxml_reply_signing_and_business_fields_all_optional() -> None:
    v1, v2 = _fields(load_schema("DocumentSent", 1)), _fields(load_schema("DocumentSent", 2))
    added = {"response_for", "signing_authority", "referenced_document_id", "business_reason"}
    assert set(v2) - set(v1) == added
    assert set(v1) <= set(v2)
    for name in added:
        assert v2[name]["default"] is None
        assert v2[name]["type"][0] == "null"
    authority = v2["signing_authority"]["type"][1]
    assert authority["symbols"][0] == authority["default"] == "UNKNOWN"
    assert "ELECTRONIC_AND_PAPER" in v2["form"]["doc"]  # v1's doc said the rate counts ELECTRONIC_ONLY


def test_load_by_full_name_and_latest_by_default() -> None:
    assert load_schema("vn.gov.lgsp.dossier.DossierSynced") == load_schema("DossierSynced", 2)
    with pytest.raises(ConfigError, match=r"defines vn\.gov\.lgsp\.dossier\.DossierSynced"):
        load_schema("vn.gov.lgsp.other.DossierSynced")


def test_load_returns_a_fresh_copy() -> None:
    load_schema("ReportFiled")["fields"].clear()
    assert load_schema("ReportFiled")["fields"]


def test_schema_dir_is_the_project_schemas() -> None:
    assert (schema_dir() / "EventMeta.v1.avsc").is_file()


def _write(directory: Path, name: str, schema: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(schema), encoding="utf-8")


def _record(name: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "vn.gov.lgsp.test", "fields": fields, **extra}


def test_imports_are_pinned_per_version(tmp_path: Path) -> None:
    _write(tmp_path, "Meta.v1.avsc", _record("Meta", [{"name": "a", "type": "string"}]))
    _write(
        tmp_path,
        "Meta.v2.avsc",
        _record("Meta", [{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}]),
    )
    uses = [{"name": "m", "type": "vn.gov.lgsp.test.Meta"}, {"name": "n", "type": "Meta"}]
    _write(tmp_path, "Thing.v1.avsc", _record("Thing", uses, **{IMPORTS_KEY: ["Meta.v1"]}))
    thing = load_schema("Thing", directory=tmp_path)
    assert [f["name"] for f in thing["fields"][0]["type"]["fields"]] == ["a"]
    assert thing["fields"][1]["type"] == "vn.gov.lgsp.test.Meta"
    assert schema_versions("Meta", tmp_path) == [1, 2]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"Thing.v1.avsc": _record("Thing", [{"name": "m", "type": "Meta"}])},
            "neither defined before use nor imported",
        ),
        ({"Thing.v1.avsc": _record("Thing", [], **{IMPORTS_KEY: ["Meta"]})}, "bad import"),
        ({"Thing.v1.avsc": _record("Thing", [], **{IMPORTS_KEY: ["Meta.v3"]})}, "does not exist"),
        ({"Thing.v1.avsc": _record("Other", [])}, "named for Thing"),
        ({"Thing.v1.avsc": ["null", "string"]}, "one named type"),
        ({"thing.avsc": _record("Thing", [])}, "must be named"),
    ],
)
def test_malformed_schema_dirs(tmp_path: Path, files: dict[str, Any], message: str) -> None:
    for name, schema in files.items():
        _write(tmp_path, name, schema)
    with pytest.raises(ConfigError, match=message):
        _load_every_version(tmp_path)


def _load_every_version(directory: Path) -> None:
    for name in record_names(directory):
        for version in schema_versions(name, directory):
            load_schema(name, version, directory)
