"""Connection options shared by commands that talk to Kafka and the registry; how they override settings."""

from __future__ import annotations

from typing import Annotated

import typer

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
