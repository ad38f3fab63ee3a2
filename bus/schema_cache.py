"""Schema ids -> writer schemas on disk, so consumers keep decoding without the registry.

A record names its writer schema by id only. If the registry is down, or the subject was deleted (the issue's
red team deleted one without credentials; an operator may delete one by mistake), a consumer without the
schema sends every record to the dead-letter queue, and a rebuild sends all of history there. Ids of a
registry are immutable, so a schema once fetched by id is kept in a file and read from there first.

One file per id, under a directory per registry (``sha256(url)``, so two registries' ids never mix)::

    <schema_cache_dir>/<registry hash>/<id>.json
    {"id": 7, "registry": "http://...", "sha256": "<hex of schema>", "schema": "<schema text>"}

A file is used only if its id matches and the SHA-256 of its schema text matches the fingerprint written with
it (a truncated, corrupted or hand-edited file is ignored with a warning, and the registry asked again).
Writes go through a temporary file and a rename, so a crash never leaves half a file. A cache directory that
cannot be written is reported once and otherwise ignored: decoding must not fail because of the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from bus.types import SchemaId

_log = logging.getLogger(__name__)


def fingerprint(text: str) -> str:
    """SHA-256 (hex) of the schema text as stored."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SchemaDiskCache:
    """The on-disk half of ``SchemaRegistryClient``'s id cache (``RegistrySettings.schema_cache_dir``)."""

    def __init__(self, directory: Path, registry_url: str) -> None:
        self._registry_url = registry_url
        self.directory = directory / fingerprint(registry_url)[:16]
        self._write_failed = False

    def path_of(self, schema_id: SchemaId) -> Path:
        return self.directory / f"{int(schema_id)}.json"

    def load(self, schema_id: SchemaId) -> dict[str, Any] | None:
        """The schema stored for ``schema_id``, or None if there is none or it does not verify."""
        path = self.path_of(schema_id)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            _log.warning("schema cache: ignoring unreadable %s: %s", path, exc)
            return None
        problem = _problem(entry, schema_id)
        if problem is not None:
            _log.warning("schema cache: ignoring %s: %s", path, problem)
            return None
        try:
            schema = json.loads(entry["schema"])
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            _log.warning("schema cache: ignoring %s: not a record schema", path)
            return None
        return schema

    def store(self, schema_id: SchemaId, text: str) -> None:
        """Keep ``text`` as the schema of ``schema_id`` (atomically; failures are logged once, not raised)."""
        entry = {
            "id": int(schema_id),
            "registry": self._registry_url,
            "sha256": fingerprint(text),
            "schema": text,
        }
        path = self.path_of(schema_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if not self._write_failed:
                self._write_failed = True
                _log.warning("schema cache: cannot write %s (%s); decoding goes on without it", path, exc)


def _problem(entry: Any, schema_id: SchemaId) -> str | None:
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("id") != int(schema_id):
        return f"it holds id {entry.get('id')!r}"
    text = entry.get("schema")
    if not isinstance(text, str):
        return "no schema text"
    if entry.get("sha256") != fingerprint(text):
        return "the schema does not match its fingerprint"
    return None
