"""Schema evolution checks: every version of a record against the earlier ones, under the record's level.

Direction comes from the Apache ``avro`` package's ``ReaderWriterCompatibilityChecker``, which answers one
question — can this reader read what that writer wrote? — and the levels are built from it:

    BACKWARD   the new version reads data of the previous one      (_TRANSITIVE: of every earlier one)
    FORWARD    the previous version reads data of the new one      (_TRANSITIVE: every earlier one does)
    FULL       both                                                (_TRANSITIVE: both, with every earlier one)

Two rules are added on top, because the Avro checker lets them through:

* ``logical_type_changed`` — same underlying type, different logical type (``timestamp-millis`` to
  ``timestamp-micros``, ``uuid`` dropped): the bytes still decode, but to a different value.
* ``enum_symbol_removed`` — a symbol of an earlier version is missing later (a rename is a removal plus an
  addition). With an enum default the checker accepts it, silently turning the old symbol into the default.

Levels come from ``schemas/compatibility.json`` (``default`` plus per-record ``records``), default
BACKWARD_TRANSITIVE. Released versions are pinned in ``schemas/FINGERPRINTS``; see :func:`check_fingerprints`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from bus.errors import ConfigError
from bus.schemas import (
    content_fingerprint,
    full_name,
    load_schema,
    parsing_fingerprint,
    record_names,
    schema_dir,
    schema_versions,
)

COMPATIBILITY_FILE = "compatibility.json"
FINGERPRINTS_FILE = "FINGERPRINTS"


class Level(StrEnum):
    """Compatibility levels, named as in the Confluent Schema Registry API."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


DEFAULT_LEVEL = Level.BACKWARD_TRANSITIVE


@dataclass(frozen=True)
class Issue:
    """One incompatibility: ``reader`` cannot read ``writer`` (or a released file was edited)."""

    record: str
    reader_version: int
    writer_version: int
    direction: str
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        if self.direction == "RELEASE":
            return f"{self.record} v{self.reader_version}: rule {self.rule}: {self.message}"
        return (
            f"{self.record}: v{self.reader_version} reading v{self.writer_version} ({self.direction}): "
            f"field {self.field}: rule {self.rule}: {self.message}"
        )


@dataclass(frozen=True)
class RecordReport:
    """The result of checking one record's versions."""

    record: str
    level: Level
    versions: tuple[int, ...]
    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


def compatibility_levels(directory: Path | None = None) -> tuple[Level, dict[str, Level]]:
    """The default level and the per-record levels (by full name) from ``compatibility.json``."""
    path = (directory or schema_dir()) / COMPATIBILITY_FILE
    if not path.exists():
        return DEFAULT_LEVEL, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        default = Level(data.get("default", DEFAULT_LEVEL))
        records = {str(name): Level(level) for name, level in data.get("records", {}).items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{path}: levels must be one of {', '.join(Level)}: {exc}") from exc
    return default, records


def level_of(record_full_name: str, directory: Path | None = None) -> Level:
    """The compatibility level of one record (by full name)."""
    default, records = compatibility_levels(directory)
    return records.get(record_full_name, default)


def check_record(name: str, directory: Path | None = None) -> RecordReport:
    """Check every version of record ``name`` against the earlier ones under its level."""
    versions = schema_versions(name, directory)
    schemas = {v: load_schema(name, v, directory) for v in versions}
    record = full_name(schemas[versions[-1]])
    level = level_of(record, directory)
    issues: list[Issue] = []
    for index, new in enumerate(versions):
        earlier = versions[:index] if level.transitive else versions[max(0, index - 1) : index]
        for old in earlier if level is not Level.NONE else []:
            issues += _check_pair(record, schemas, new, old, level)
    return RecordReport(record, level, tuple(versions), tuple(issues))


def check_all(directory: Path | None = None) -> list[RecordReport]:
    """:func:`check_record` for every record in the schema directory."""
    return [check_record(name, directory) for name in record_names(directory)]


def _check_pair(
    record: str, schemas: dict[int, dict[str, Any]], new: int, old: int, level: Level
) -> list[Issue]:
    issues: list[Issue] = []
    if level.backward:
        issues += reader_writer_issues(record, schemas[new], new, schemas[old], old, "BACKWARD")
    if level.forward:
        issues += reader_writer_issues(record, schemas[old], old, schemas[new], new, "FORWARD")
    issues += [
        Issue(record, new, old, "EVOLUTION", field, rule, message)
        for field, rule, message in _evolution_rules(schemas[new], schemas[old])
    ]
    return issues


def reader_writer_issues(
    record: str,
    reader: dict[str, Any],
    reader_version: int,
    writer: dict[str, Any],
    writer_version: int,
    direction: str,
) -> list[Issue]:
    """What the Avro checker finds when ``reader`` reads data written with ``writer``."""
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
    from avro.errors import AvroException
    from avro.schema import parse

    try:
        with warnings.catch_warnings():
            # avro warns about logical types it does not know and ignores them; _evolution_rules compares them
            warnings.simplefilter("ignore")
            reader_schema, writer_schema = parse(json.dumps(reader)), parse(json.dumps(writer))
        result = ReaderWriterCompatibilityChecker().get_compatibility(  # type: ignore[no-untyped-call]
            reader_schema, writer_schema
        )
    except AvroException as exc:
        raise ConfigError(
            f"{record} v{reader_version}/v{writer_version}: not a valid Avro schema: {exc}"
        ) from exc
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    rules = sorted({i.name for i in result.incompatibilities})
    # the checker's merged results keep the root location "/" beside the real ones
    fields = sorted({_field_at(reader, location) for location in result.locations} - {"<record>"}) or [
        "<record>"
    ]
    message = "; ".join(sorted(result.messages))
    return [
        Issue(record, reader_version, writer_version, direction, ", ".join(fields), ", ".join(rules), message)
    ]


def _field_at(schema: Any, location: str) -> str:
    """Turn the checker's ``/fields/3/type/fields/1/type`` into ``meta.occurred_at``."""
    names: list[str] = []
    node = schema
    steps: list[str | None] = [t for t in location.split("/") if t]
    for step, following in zip(steps, [*steps[1:], None][: len(steps)], strict=True):
        if step == "fields" and isinstance(node, dict) and following is not None and following.isdigit():
            field = node["fields"][int(following)]
            names.append(field["name"])
            node = field
        elif step in ("type", "items", "values") and isinstance(node, dict):
            node = node[step]
        elif step == "symbols":
            names.append("<symbols>")
    return ".".join(names) or "<record>"


def _evolution_rules(new: Any, old: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """Differences the Avro checker ignores: logical types, and enum symbols that disappear."""
    new_logical, old_logical = _logical_type(new), _logical_type(old)
    if _base_type(new) == _base_type(old) and new_logical != old_logical:
        yield (
            path or "<record>",
            "logical_type_changed",
            f"logical type {old_logical or 'none'} became {new_logical or 'none'} on {_base_type(new)}",
        )
    if isinstance(new, list) and isinstance(old, list):
        for branch in old:
            match = _matching_branch(new, branch)
            if match is not None:
                yield from _evolution_rules(match, branch, path)
        return
    if not (isinstance(new, dict) and isinstance(old, dict)) or new.get("type") != old.get("type"):
        return
    kind = new.get("type")
    if kind == "enum":
        removed = [s for s in old.get("symbols", []) if s not in new.get("symbols", [])]
        if removed:
            yield (
                path or "<record>",
                "enum_symbol_removed",
                f"enum {new.get('name')} lost symbol(s) {', '.join(removed)} (renamed or removed)",
            )
    elif kind == "record":
        old_fields = {f["name"]: f for f in old.get("fields", [])}
        for field in new.get("fields", []):
            previous = old_fields.get(field["name"])
            if previous is not None:
                yield from _evolution_rules(field["type"], previous["type"], _join(path, field["name"]))
    elif kind in ("array", "map"):
        key = "items" if kind == "array" else "values"
        yield from _evolution_rules(new[key], old[key], path)
    elif isinstance(kind, (dict, list)):
        yield from _evolution_rules(kind, old.get("type"), path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _base_type(schema: Any) -> str | None:
    if isinstance(schema, str):
        return schema
    kind = schema.get("type") if isinstance(schema, dict) else None
    return kind if isinstance(kind, str) else None


def _logical_type(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _matching_branch(branches: list[Any], wanted: Any) -> Any:
    """The branch of a union with the same base type (or the same name) as ``wanted``."""
    key = _branch_key(wanted)
    return next((b for b in branches if _branch_key(b) == key), None)


def _branch_key(schema: Any) -> Any:
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed", "error"):
        return schema.get("name")
    return _base_type(schema)


@dataclass(frozen=True)
class Fingerprint:
    """A released version's fingerprints: Avro Parsing Canonical Form and full content (both SHA-256)."""

    record: str
    version: int
    parsing: str
    content: str


def fingerprint_of(name: str, version: int, directory: Path | None = None) -> Fingerprint:
    """The fingerprints of one version as its file is now (self-contained form)."""
    schema = load_schema(name, version, directory)
    return Fingerprint(name, version, parsing_fingerprint(schema), content_fingerprint(schema))


def read_fingerprints(directory: Path | None = None) -> dict[tuple[str, int], Fingerprint]:
    """The released versions recorded in ``FINGERPRINTS`` (empty if the file is missing)."""
    path = (directory or schema_dir()) / FINGERPRINTS_FILE
    if not path.exists():
        return {}
    released: dict[tuple[str, int], Fingerprint] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 4 or not parts[1].startswith("v") or not parts[1][1:].isdigit():
            raise ConfigError(f"{path}:{number}: expected '<Record> v<N> <parsing-sha256> <content-sha256>'")
        released[(parts[0], int(parts[1][1:]))] = Fingerprint(parts[0], int(parts[1][1:]), parts[2], parts[3])
    return released


def check_fingerprints(directory: Path | None = None) -> list[Issue]:
    """Released versions must be unchanged and still present; every version present must be released."""
    released = read_fingerprints(directory)
    present = {(name, v) for name in record_names(directory) for v in schema_versions(name, directory)}
    issues = []
    for (name, version), recorded in sorted(released.items()):
        if (name, version) not in present:
            issues.append(
                _release_issue(name, version, "released_version_missing", "the released file is gone")
            )
            continue
        now = fingerprint_of(name, version, directory)
        if now.parsing != recorded.parsing:
            issues.append(
                _release_issue(name, version, "released_version_edited", "its Avro canonical form changed")
            )
        elif now.content != recorded.content:
            issues.append(
                _release_issue(
                    name, version, "released_version_edited", "docs, defaults or logical types changed"
                )
            )
    for name, version in sorted(present - released.keys()):
        issues.append(
            _release_issue(
                name,
                version,
                "version_not_released",
                f"{name}.v{version}.avsc is not released yet: `lgsp schemas check --release` checks it "
                "against the earlier versions and, if it is compatible, records its fingerprints",
            )
        )
    return issues


def _release_issue(name: str, version: int, rule: str, message: str) -> Issue:
    return Issue(name, version, version, "RELEASE", "<file>", rule, message)


def release_new_versions(directory: Path | None = None) -> list[Fingerprint]:
    """Append the fingerprints of versions not yet in ``FINGERPRINTS``; recorded lines are never rewritten."""
    root = directory or schema_dir()
    released = read_fingerprints(root)
    new = [
        fingerprint_of(name, v, root)
        for name in record_names(root)
        for v in schema_versions(name, root)
        if (name, v) not in released
    ]
    if new:
        path = root / FINGERPRINTS_FILE
        header = "" if path.exists() else _FINGERPRINTS_HEADER
        with path.open("a", encoding="utf-8") as out:
            out.write(header)
            out.writelines(f"{f.record} v{f.version} {f.parsing} {f.content}\n" for f in new)
    return new


_FINGERPRINTS_HEADER = """\
# Released schema versions. A released .avsc is never edited: add a new version instead.
# `lgsp schemas check` fails if a file listed here changed or disappeared, and if a version is not listed;
# `lgsp schemas check --release` appends the versions not yet listed (it never rewrites a line).
# Fingerprints are of the self-contained schema (shared types inlined), both SHA-256:
#   parsing = Avro Parsing Canonical Form (what readers and registries compare)
#   content = the whole schema as sorted compact JSON (also catches edited docs, defaults, logical types)
# <Record> v<N> <parsing> <content>
"""
