"""Connection options shared by commands that talk to Kafka and the registry; how they override settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from bus.reporting import VIETNAM
from bus.settings import Settings

BootstrapServersOption = Annotated[
    str | None, typer.Option("--bootstrap-servers", help="Kafka (default: LGSP_KAFKA__BOOTSTRAP_SERVERS)")
]
RegistryUrlOption = Annotated[
    str | None, typer.Option("--registry-url", help="schema registry (default: LGSP_REGISTRY__URL)")
]
TopicPrefixOption = Annotated[
    str | None, typer.Option("--prefix", help="topic name prefix (default: LGSP_TOPICS__PREFIX)")
]


def settings_with(
    *, bootstrap_servers: str | None = None, registry_url: str | None = None, prefix: str | None = None
) -> Settings:
    """Settings from the environment, with the options given on the command line taking precedence."""
    settings = Settings()
    if bootstrap_servers is not None:
        settings.kafka.bootstrap_servers = bootstrap_servers
    if registry_url is not None:
        settings.registry.url = registry_url
    if prefix is not None:
        settings.topics.prefix = prefix
    return settings


START_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]
"""How ``--start`` (simulated clock) is written: an RFC 3339 time, or a date alone."""


def simulated_start(start: datetime | None, default: datetime) -> datetime:
    """``--start`` as an aware time: ``default`` if not given; a naive one (a date alone) in Vietnam."""
    if start is None:
        return default
    return start if start.tzinfo is not None else start.replace(tzinfo=VIETNAM)
