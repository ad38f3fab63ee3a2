"""`lgsp schemas check`: evolution under each record's level, extra rules, and released files never edited."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.compat import (
    FINGERPRINTS_FILE,
    Issue,
    Level,
    check_all,
    check_fingerprints,
    check_record,
    read_fingerprints,
    release_new_versions,
)
from bus.schemas import schema_dir
from lgsp.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    """A copy of the real schemas/ to evolve."""
    target = tmp_path / "schemas"
    shutil.copytree(schema_dir(), target)
    return target


def _dossier_v3(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Write DossierSynced.v3.avsc: v2 with ``change`` applied to the file's JSON."""
    schema = json.loads((directory / "DossierSynced.v2.avsc").read_text(encoding="utf-8"))
    change(schema)
    (directory / "DossierSynced.v3.avsc").write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def _issues(directory: Path) -> list[Issue]:
    return list(check_record("DossierSynced", directory).issues)


def _only(issues: list[Issue], rule: str) -> Issue:
    matching = [i for i in issues if rule in i.rule]
    assert matching, f"no {rule} among {[str(i) for i in issues]}"
    return matching[0]


def test_the_real_schemas_pass() -> None:
    reports = check_all()
    assert [str(i) for r in reports for i in r.issues] == []
    assert check_fingerprints() == []
    assert {r.record: r.level for r in reports}["vn.gov.lgsp.dossier.DossierSynced"] is Level.FULL_TRANSITIVE


def test_cli_passes_on_the_real_schemas() -> None:
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "ok   vn.gov.lgsp.dossier.DossierSynced [FULL_TRANSITIVE] v1, v2" in result.output


def test_field_removed_without_default(schemas: Path) -> None:
    _dossier_v3(schemas, lambda s: s["fields"].remove(_field(s, "digitised")))
    issues = _issues(schemas)
    issue = _only(issues, "reader_field_missing_default_value")
    assert (issue.field, issue.direction) == ("digitised", "FORWARD")
    assert (issue.reader_version, issue.writer_version) in {(1, 3), (2, 3)}
    assert {(i.reader_version, i.writer_version) for i in issues if i.direction == "FORWARD"} == {
        (1, 3),
        (2, 3),
    }


def test_field_removed_is_allowed_under_backward(schemas: Path) -> None:
    """BACKWARD only promises that new readers read old data, and a new reader ignores a removed field."""
    levels = json.loads((schemas / "compatibility.json").read_text(encoding="utf-8"))
    levels["records"]["vn.gov.lgsp.dossier.DossierSynced"] = "BACKWARD_TRANSITIVE"
    (schemas / "compatibility.json").write_text(json.dumps(levels), encoding="utf-8")
    _dossier_v3(schemas, lambda s: s["fields"].remove(_field(s, "digitised")))
    assert _issues(schemas) == []


def test_enum_symbol_renamed(schemas: Path) -> None:
    def rename(schema: dict[str, Any]) -> None:
        symbols = _field(schema, "status")["type"]["symbols"]
        symbols[symbols.index("RETURNED")] = "RESULT_RETURNED"

    _dossier_v3(schemas, rename)
    issue = _only(_issues(schemas), "enum_symbol_removed")
    assert issue.field == "status"
    assert "RETURNED" in issue.message
    assert issue.reader_version == 3


def test_enum_symbol_renamed_without_default_is_caught_by_the_avro_checker(schemas: Path) -> None:
    def rename(schema: dict[str, Any]) -> None:
        enum = _field(schema, "channel")["type"]
        del enum["default"]
        enum["symbols"][enum["symbols"].index("POSTAL")] = "POST"

    _dossier_v3(schemas, rename)
    issue = _only(_issues(schemas), "missing_enum_symbols")
    assert issue.field == "channel.<symbols>"
    assert issue.direction == "BACKWARD"


def test_type_narrowed(schemas: Path) -> None:
    _dossier_v3(schemas, lambda s: _field(s, "version").update(type="int"))
    issue = _only(_issues(schemas), "type_mismatch")
    assert (issue.field, issue.direction, issue.reader_version) == ("version", "BACKWARD", 3)
    assert "reader type: int not compatible with writer type: long" in issue.message


def test_logical_type_changed(schemas: Path) -> None:
    _dossier_v3(
        schemas,
        lambda s: _field(s, "received_at").update(type={"type": "long", "logicalType": "timestamp-micros"}),
    )
    issue = _only(_issues(schemas), "logical_type_changed")
    assert issue.field == "received_at"
    assert "timestamp-millis became timestamp-micros" in issue.message


def test_logical_type_changed_inside_a_union_and_a_nested_record(schemas: Path) -> None:
    def change(schema: dict[str, Any]) -> None:
        _field(schema, "due_at")["type"][1]["logicalType"] = "local-timestamp-millis"

    _dossier_v3(schemas, change)
    assert _only(_issues(schemas), "logical_type_changed").field == "due_at"


def test_compatible_v3_passes(schemas: Path) -> None:
    def add(schema: dict[str, Any]) -> None:
        schema["fields"].append(
            {"name": "applicant_locality", "type": ["null", "string"], "default": None, "doc": "Xã/phường"}
        )

    _dossier_v3(schemas, add)
    assert _issues(schemas) == []


def _write_record(
    directory: Path, version: int, fields: list[dict[str, Any]], level: str | None = None
) -> None:
    schema = {"type": "record", "name": "Thing", "namespace": "vn.gov.lgsp.test", "fields": fields}
    (directory / f"Thing.v{version}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    if level:
        (directory / "compatibility.json").write_text(
            json.dumps({"records": {"vn.gov.lgsp.test.Thing": level}})
        )


@pytest.mark.parametrize(
    ("level", "failing_pairs"),
    [
        (Level.BACKWARD, set()),
        (Level.BACKWARD_TRANSITIVE, {(3, 1)}),
        (Level.FORWARD, {(1, 2)}),
        (Level.FULL_TRANSITIVE, {(3, 1), (1, 2), (1, 3)}),
        (Level.NONE, set()),
    ],
)
def test_levels_and_transitivity(tmp_path: Path, level: Level, failing_pairs: set[tuple[int, int]]) -> None:
    # v2 drops `a`; v3 brings it back as an int: fine next to v2, but v3 cannot read v1's strings
    _write_record(tmp_path, 1, [{"name": "a", "type": "string"}], level.value)
    _write_record(tmp_path, 2, [{"name": "b", "type": "int", "default": 0}])
    _write_record(
        tmp_path, 3, [{"name": "b", "type": "int", "default": 0}, {"name": "a", "type": "int", "default": 0}]
    )
    report = check_record("Thing", tmp_path)
    assert report.level is level
    assert {(i.reader_version, i.writer_version) for i in report.issues} == failing_pairs


def test_default_level_is_backward_transitive(tmp_path: Path) -> None:
    _write_record(tmp_path, 1, [{"name": "a", "type": "string"}])
    _write_record(tmp_path, 2, [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])
    report = check_record("Thing", tmp_path)
    assert report.level is Level.BACKWARD_TRANSITIVE
    issue = _only(list(report.issues), "reader_field_missing_default_value")
    assert (issue.field, issue.reader_version, issue.writer_version) == ("b", 2, 1)


def test_cli_fails_naming_record_versions_field_and_rule(schemas: Path) -> None:
    _dossier_v3(schemas, lambda s: _field(s, "version").update(type="int"))
    result = runner.invoke(app, ["schemas", "check", "--dir", str(schemas)])
    assert result.exit_code == 1
    assert "FAIL vn.gov.lgsp.dossier.DossierSynced [FULL_TRANSITIVE] v1, v2, v3" in result.output
    assert "v3 reading v1 (BACKWARD): field version: rule type_mismatch" in result.output
    assert "version_not_released" in result.output


def test_released_file_edited(schemas: Path) -> None:
    path = schemas / "ReportFiled.v1.avsc"
    path.write_text(path.read_text(encoding="utf-8").replace("Revision number", "Revision"), encoding="utf-8")
    issues = check_fingerprints(schemas)
    assert [(i.record, i.reader_version, i.rule) for i in issues] == [
        ("ReportFiled", 1, "released_version_edited")
    ]
    assert "docs" in issues[0].message
    result = runner.invoke(app, ["schemas", "check", "--dir", str(schemas)])
    assert result.exit_code == 1
    assert "ReportFiled v1: rule released_version_edited" in result.output


def test_released_shared_type_edited_changes_every_user(schemas: Path) -> None:
    path = schemas / "EventMeta.v1.avsc"
    schema = json.loads(path.read_text(encoding="utf-8"))
    _field(schema, "correlation_id")["type"] = ["null", "string", "long"]
    path.write_text(json.dumps(schema), encoding="utf-8")
    edited = {(i.record, i.rule) for i in check_fingerprints(schemas)}
    assert ("EventMeta", "released_version_edited") in edited
    assert ("DossierSynced", "released_version_edited") in edited


def test_reformatting_a_released_file_is_not_an_edit(schemas: Path) -> None:
    path = schemas / "AgencyRef.v1.avsc"
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=4), encoding="utf-8")
    assert check_fingerprints(schemas) == []


def test_released_file_deleted(schemas: Path) -> None:
    (schemas / "DossierSynced.v1.avsc").unlink()
    issues = check_fingerprints(schemas)
    assert [(i.record, i.reader_version, i.rule) for i in issues] == [
        ("DossierSynced", 1, "released_version_missing")
    ]


def test_release_appends_only_new_versions(schemas: Path) -> None:
    before = (schemas / FINGERPRINTS_FILE).read_text(encoding="utf-8")
    _dossier_v3(
        schemas, lambda s: s["fields"].append({"name": "x", "type": ["null", "int"], "default": None})
    )
    assert [i.rule for i in check_fingerprints(schemas)] == ["version_not_released"]
    released = release_new_versions(schemas)
    assert [(f.record, f.version) for f in released] == [("DossierSynced", 3)]
    after = (schemas / FINGERPRINTS_FILE).read_text(encoding="utf-8")
    assert after.startswith(before)
    assert check_fingerprints(schemas) == []
    assert release_new_versions(schemas) == []
    assert ("DossierSynced", 3) in read_fingerprints(schemas)


def test_cli_release_refuses_incompatible_versions(schemas: Path) -> None:
    _dossier_v3(schemas, lambda s: _field(s, "version").update(type="int"))
    result = runner.invoke(app, ["schemas", "check", "--dir", str(schemas), "--release"])
    assert result.exit_code == 1
    assert ("DossierSynced", 3) not in read_fingerprints(schemas)
