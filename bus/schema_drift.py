"""Schema versions in the registry that this code does not know: a later release registered them.

A process validates and writes with the models of the release it runs (``bus.events``), whose schema files are
``schemas/*.avsc``. When ``lgsp schemas register`` of a later release adds a version (a new field), a running
ingress keeps refusing the new field (``extra_forbidden``) and its OpenAPI lacks it until it is restarted on
that release: models are code, so a new version cannot be picked up at run time. What it can do is notice:
:func:`unknown_latest` compares the latest schema of each event type's subject with every version of the
installed schema files (Avro parsing canonical form), and the ingress logs what to redeploy
(docs/integrators.md, "Adding a version").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from bus.errors import LgspError, RegistryError
from bus.events import Event
from bus.registry import SchemaRegistryClient, is_not_found, record_subject
from bus.schemas import load_schema, parsing_fingerprint, schema_versions


@dataclass(frozen=True)
class UnknownVersion:
    """The registry's latest schema of an event type is none of this release's versions."""

    name: str
    registry_version: int
    """The subject's version number in the registry (not necessarily the ``.vN`` of the file)."""
    validates: int
    """The version this release's model validates and writes (``SCHEMA_VERSION``)."""

    def advice(self, process: str = "lgsp ingress") -> str:
        return (
            f"the schema registry holds a {self.name} schema (subject version {self.registry_version}) that "
            f"this release does not know; this {process} validates version {self.validates} and refuses the "
            f"new fields until it is restarted on the release that has it (docs/integrators.md, "
            f"'Adding a version')"
        )


def known_fingerprints(name: str) -> frozenset[str]:
    """The parsing fingerprints of every version of record ``name`` in the installed schema files."""
    return frozenset(parsing_fingerprint(load_schema(name, version)) for version in schema_versions(name))


async def unknown_latest(
    registry: SchemaRegistryClient, models: Iterable[type[Event]]
) -> list[UnknownVersion]:
    """The event types whose latest registered schema this release does not know (unregistered: left out)."""
    found: list[UnknownVersion] = []
    for model in models:
        try:
            latest = await registry.get_version(record_subject(model.AVRO_NAME))
        except RegistryError as exc:
            if is_not_found(exc):
                continue
            raise
        if parsing_fingerprint(latest["schema"]) not in known_fingerprints(model.AVRO_NAME):
            found.append(UnknownVersion(model.AVRO_NAME, int(latest["version"]), model.SCHEMA_VERSION))
    return found


POLL_S: Final = 300.0
"""How often a running process asks the registry (one GET per event type): a release is a rare event."""

log = logging.getLogger(__name__)


async def watch(
    registry: SchemaRegistryClient,
    models: Iterable[type[Event]],
    say: Callable[[UnknownVersion], None],
    *,
    interval_s: float = POLL_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Until cancelled: every ``interval_s``, :func:`unknown_latest`; ``say`` each unknown version once.
    A registry that does not answer is tried again at the next round (it is not this check's to report)."""
    told: set[tuple[str, int]] = set()
    kinds = list(models)
    while True:
        try:
            for unknown in await unknown_latest(registry, kinds):
                if (unknown.name, unknown.registry_version) not in told:
                    told.add((unknown.name, unknown.registry_version))
                    say(unknown)
        except LgspError as exc:
            log.debug("schema versions not checked this round: %s", exc)
        await sleep(interval_s)
