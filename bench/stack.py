"""The stack a benchmark runs on, and the topics it creates there.

The stack is the one the settings name when ``LGSP_KAFKA__BOOTSTRAP_SERVERS`` (and ``LGSP_REGISTRY__URL``)
are given; otherwise the local dev stack (``lgsp dev up``), started if it is not running (and left
running, like ``lgsp dev up``). Every part works under its own topic prefix (``bench-<run id>-<part>.``),
so a run never touches anyone else's topics on a shared cluster, and deletes its topics at the end.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.procs import BenchError
from bus.errors import LgspError
from bus.events import EVENT_TYPES
from bus.registry import SchemaRegistryClient, register_schemas
from bus.settings import Settings
from bus.topics import admin_kwargs, all_topics, ensure_topics
from lgsp.devstack import DevStack
from lgsp.devstack.artifacts import fetch_kafka, kafka_libs

log = logging.getLogger(__name__)
_DELETE_WAIT_S = 60.0


@dataclass(frozen=True)
class StackInfo:
    """Where the bench runs, and how it got there."""

    bootstrap_servers: str
    registry_url: str
    source: str
    started_by_bench: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "registry_url": self.registry_url,
            "source": self.source,
            "started_by_bench": self.started_by_bench,
        }


def resolve_stack(settings: Settings) -> StackInfo:
    """The configured stack, or the local dev stack (started when not running)."""
    if "bootstrap_servers" in settings.kafka.model_fields_set:
        return StackInfo(
            settings.kafka.bootstrap_servers, settings.registry.url, "configured (LGSP_* settings)", False
        )
    stack = DevStack(settings.dev)
    status = stack.status()
    started = False
    if not status.ready:
        log.info("starting the local dev stack (lgsp dev up) in %s", settings.dev.state_dir)
        status = stack.up()
        started = True
    if status.bootstrap_servers is None or status.registry_url is None:
        raise BenchError(f"the dev stack in {settings.dev.state_dir} has no Kafka or no registry")
    return StackInfo(
        status.bootstrap_servers, status.registry_url, f"lgsp dev stack ({settings.dev.state_dir})", started
    )


def bench_settings(base: Settings, stack: StackInfo, prefix: str = "") -> Settings:
    """``base`` pointed at ``stack``, with topic ``prefix``."""
    return base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"bootstrap_servers": stack.bootstrap_servers}),
            "registry": base.registry.model_copy(update={"url": stack.registry_url}),
            "topics": base.topics.model_copy(update={"prefix": prefix}),
        }
    )


def with_prefix(settings: Settings, prefix: str) -> Settings:
    return settings.model_copy(update={"topics": settings.topics.model_copy(update={"prefix": prefix})})


async def prepare_topics(settings: Settings) -> list[str]:
    """Create the catalog topics under ``settings.topics.prefix`` and register every event schema."""
    await ensure_topics(settings)
    async with SchemaRegistryClient(settings.registry) as client:
        await register_schemas(client, sorted(EVENT_TYPES))
    return [str(name) for name in all_topics(settings.topics.prefix)]


async def create_topic(settings: Settings, name: str, partitions: int) -> None:
    """One plain topic (for Kafka's own tools), like the catalog's in partitions and replication."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, partitions, settings.topics.replication_factor or 1)],
            timeout_ms=settings.kafka.request_timeout_ms,
        )
    finally:
        await admin.close()


async def prefixed_topics(settings: Settings, prefix: str) -> list[str]:
    """The topics whose names start with ``prefix`` (listing creates nothing, unlike describing a topic on a
    broker that auto-creates topics)."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await admin.start()
    try:
        return sorted(name for name in await admin.list_topics() if name.startswith(prefix))
    finally:
        await admin.close()


async def delete_prefixed_topics(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (the bench's own, never anyone else's), and wait
    until the cluster no longer lists them (deletion is asynchronous: a topic created again at once under
    the same name could otherwise be the old one)."""
    if not prefix.startswith("bench-"):
        raise BenchError(f"refusing to delete topics outside the bench's prefixes: {prefix!r}")
    names = await prefixed_topics(settings, prefix)
    if not names:
        return names
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await admin.start()
    try:
        await admin.delete_topics(names, timeout_ms=settings.kafka.request_timeout_ms)
    finally:
        await admin.close()
    deadline = time.monotonic() + _DELETE_WAIT_S
    while await prefixed_topics(settings, prefix):
        if time.monotonic() > deadline:
            raise BenchError(
                f"the topics under {prefix} were still listed {_DELETE_WAIT_S:.0f} s after deletion"
            )
        await asyncio.sleep(0.2)  # polls the cluster's listing: there is no deletion event to wait for
    return names


def kafka_tools_classpath(settings: Settings) -> str:
    """The classpath of the cached Kafka jars (``kafka-tools`` included), fetched if missing."""
    libs = kafka_libs(settings.dev)
    if not any(libs.glob("kafka-tools-*.jar")):
        try:
            fetch_kafka(settings.dev)
        except LgspError as exc:
            raise BenchError(f"Kafka's tools are not in {libs} and could not be fetched: {exc}") from exc
    return f"{libs}/*"


def kafka_facts(settings: Settings, java: str) -> dict[str, Any]:
    """The Kafka the run used: the tools' version, and the broker's metadata.version (its feature level)."""
    import subprocess
    import tempfile

    from bench.kafka_tools import write_client_config  # bench.kafka_tools imports this module's siblings

    classpath = kafka_tools_classpath(settings)
    facts: dict[str, Any] = {"tools_version": settings.dev.kafka_version, "metadata_version": None}
    try:
        with tempfile.TemporaryDirectory(prefix="lgsp-bench-") as scratch:
            config = write_client_config(settings.kafka, Path(scratch) / "client.properties")
            command = [
                java,
                "-cp",
                classpath,
                "org.apache.kafka.tools.FeatureCommand",
                "--bootstrap-server",
                settings.kafka.bootstrap_servers,
                "--command-config",
                str(config),
                "describe",
            ]
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        facts["metadata_version_error"] = repr(exc)
        return facts
    match = re.search(
        r"metadata\.version\s+SupportedMinVersion:\s*\S+\s+SupportedMaxVersion:\s*(\S+)", done.stdout
    )
    level = re.search(r"metadata\.version.*FinalizedVersionLevel:\s*(\S+)", done.stdout)
    facts["metadata_version"] = level.group(1) if level else None
    facts["broker_supported_max"] = match.group(1) if match else None
    return facts
