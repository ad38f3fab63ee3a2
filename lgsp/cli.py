"""Entry point of the ``lgsp`` console script.

Each command group lives in ``lgsp.commands.<name>`` and adds itself with ``register(app)``; this module only
assembles them, so ``lgsp --help`` lists every command.
"""

from __future__ import annotations

import typer

from lgsp.commands import (
    agencies,
    bench,
    demo,
    dev,
    dlq,
    ingress,
    onboarding,
    publish,
    schemas,
    signing_keys,
    simulate,
    topics,
    views,
)

app = typer.Typer(
    name="lgsp",
    help="LGSP bus: event-driven data sharing for Vietnamese e-government on Apache Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Order here is the order of `lgsp --help`.
for _module in (
    dev,
    topics,
    schemas,
    agencies,
    onboarding,
    signing_keys,
    simulate,
    publish,
    ingress,
    views,
    dlq,
    bench,
    demo,
):
    _module.register(app)


def main() -> None:
    app()
