"""The Avro schema files under ``schemas/``: find them, list their versions, load them self-contained.

Files are named ``<Record>.v<N>.avsc`` and a released version is never edited (``schemas/FINGERPRINTS``
records each one; ``lgsp schemas check`` verifies). A named type shared by several records (``EventMeta``,
``AgencyRef``) lives in its own file; a record that uses it names the exact version it was written against in
a top-level ``"lgsp.imports"`` list (e.g. ``["EventMeta.v1"]``), so a later ``EventMeta.v2`` never changes
what an already released ``DocumentSent.v1`` means. :func:`load_schema` inlines those types, giving the one
self-contained schema a registry and fastavro expect, without the ``lgsp.imports`` attribute.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bus.errors import ConfigError

IMPORTS_KEY = "lgsp.imports"
"""Top-level attribute of a schema file naming the versions of the shared named types it uses."""

_FILE_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")
_IMPORT_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)$")
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


@dataclass(frozen=True, order=True)
class SchemaFile:
    """One versioned schema file: ``<name>.v<version>.avsc``."""

    name: str
    version: int
    path: Path


def schema_dir() -> Path:
    """The directory of the ``.avsc`` files: ``schemas/`` of a checkout, or the copy in an installed wheel."""
    here = Path(__file__).resolve().parent
    packaged = here / "_schemas"
    return packaged if packaged.is_dir() else here.parent / "schemas"


def short_name(name: str) -> str:
    """``vn.gov.lgsp.dossier.DossierSynced`` or ``DossierSynced`` -> ``DossierSynced`` (the file prefix)."""
    return name.rsplit(".", 1)[-1]


def schema_files(directory: Path | None = None) -> list[SchemaFile]:
    """Every versioned schema file in ``directory`` (default :func:`schema_dir`), by name and version."""
    root = directory or schema_dir()
    found = []
    for path in root.glob("*.avsc"):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise ConfigError(f"{path}: schema files must be named <Record>.v<N>.avsc")
        found.append(SchemaFile(match["name"], int(match["version"]), path))
    return sorted(found)


def record_names(directory: Path | None = None) -> list[str]:
    """Short names of every record with at least one schema file."""
    return sorted({f.name for f in schema_files(directory)})


def schema_versions(name: str, directory: Path | None = None) -> list[int]:
    """The versions present for record ``name`` (short or full name), ascending; empty if none."""
    wanted = short_name(name)
    return [f.version for f in schema_files(directory) if f.name == wanted]


def load_schema(name: str, version: int | None = None, directory: Path | None = None) -> dict[str, Any]:
    """Record ``name`` at ``version`` (default: the latest), self-contained, as a fresh JSON-able dict.

    ``name`` may be the short name (``DossierSynced``) or the full name; a full name must match the file's.
    Raises :class:`~bus.errors.ConfigError` for a missing file, a bad import or a name mismatch.
    """
    root = (directory or schema_dir()).resolve()
    wanted = short_name(name)
    if version is None:
        versions = schema_versions(wanted, root)
        if not versions:
            raise ConfigError(f"no schema files for record {name!r} in {root}")
        version = versions[-1]
    schema = json.loads(_self_contained_text(root, wanted, version))
    if "." in name and full_name(schema) != name:
        raise ConfigError(f"{wanted}.v{version}.avsc defines {full_name(schema)}, not {name}")
    return schema  # type: ignore[no-any-return]


def full_name(schema: dict[str, Any], enclosing_namespace: str | None = None) -> str:
    """The full name of a named schema, from its ``name`` and ``namespace`` (or the enclosing namespace)."""
    name = str(schema["name"])
    if "." in name:
        return name
    namespace = schema.get("namespace", enclosing_namespace)
    return f"{namespace}.{name}" if namespace else name


def canonical_json(schema: dict[str, Any]) -> str:
    """A stable JSON text of the whole schema (docs, defaults and logical types included)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_fingerprint(schema: dict[str, Any]) -> str:
    """SHA-256 of :func:`canonical_json`: changes on any edit that matters, not on reformatting."""
    return hashlib.sha256(canonical_json(schema).encode("utf-8")).hexdigest()


def parsing_fingerprint(schema: dict[str, Any]) -> str:
    """SHA-256 of the Avro Parsing Canonical Form (what registries and readers compare)."""
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    return str(fingerprint(to_parsing_canonical_form(schema), "SHA-256"))


@lru_cache(maxsize=256)
def _self_contained_text(root: Path, name: str, version: int) -> str:
    path = root / f"{name}.v{version}.avsc"
    raw = _read_json(path)
    imports = raw.pop(IMPORTS_KEY, [])
    if not isinstance(imports, list):
        raise ConfigError(f"{path}: {IMPORTS_KEY} must be a list like ['EventMeta.v1']")
    available = _imported_types(root, path, imports)
    if full_name(raw).rsplit(".", 1)[-1] != name:
        raise ConfigError(f"{path}: defines {full_name(raw)}, but the file is named for {name}")
    inlined = _Inliner(available, path).inline(raw, None)
    return json.dumps(inlined, ensure_ascii=False)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"schema file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") not in _NAMED:
        raise ConfigError(f"{path}: a schema file holds one named type (record, enum or fixed)")
    return data


def _imported_types(root: Path, path: Path, imports: list[Any]) -> dict[str, dict[str, Any]]:
    available: dict[str, dict[str, Any]] = {}
    for item in imports:
        match = _IMPORT_RE.match(str(item))
        if match is None:
            raise ConfigError(f"{path}: bad import {item!r}; expected <Record>.v<N>")
        imported = json.loads(_self_contained_text(root, match["name"], int(match["version"])))
        available[full_name(imported)] = imported
    return available


class _Inliner:
    """Replaces the first reference to each imported type by its definition (Avro: define before use)."""

    def __init__(self, available: dict[str, dict[str, Any]], path: Path) -> None:
        self._available = available
        self._defined: set[str] = set()
        self._path = path

    def inline(self, schema: Any, namespace: str | None) -> Any:
        if isinstance(schema, str):
            return self._reference(schema, namespace)
        if isinstance(schema, list):
            return [self.inline(branch, namespace) for branch in schema]
        if not isinstance(schema, dict):
            raise ConfigError(f"{self._path}: unexpected schema element {schema!r}")
        kind = schema.get("type")
        if kind in _NAMED:
            return self._named(schema, namespace)
        if kind == "array":
            return {**schema, "items": self.inline(schema["items"], namespace)}
        if kind == "map":
            return {**schema, "values": self.inline(schema["values"], namespace)}
        return {**schema, "type": self.inline(kind, namespace)} if isinstance(kind, (dict, list)) else schema

    def _named(self, schema: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        name = full_name(schema, namespace)
        if name in self._defined:
            raise ConfigError(f"{self._path}: {name} is defined twice")
        self._defined.add(name)
        own_namespace = name.rpartition(".")[0] or None
        if schema.get("type") not in ("record", "error"):
            return dict(schema)
        fields = [{**f, "type": self.inline(f["type"], own_namespace)} for f in schema.get("fields", [])]
        return {**schema, "fields": fields}

    def _reference(self, ref: str, namespace: str | None) -> Any:
        if ref in _PRIMITIVES:
            return ref
        name = ref if "." in ref or namespace is None else f"{namespace}.{ref}"
        if name in self._defined:
            return name
        if name not in self._available:
            raise ConfigError(f"{self._path}: type {ref!r} is neither defined before use nor imported")
        return self.inline(copy.deepcopy(self._available[name]), None)
