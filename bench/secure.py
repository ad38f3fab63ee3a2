"""The secure pass of a run (#13): the publish and rebuild parts again, on ``lgsp dev up --secure``.

After the parts have run on the plain stack, the runner starts a private secure dev stack (its own state
directory and free ports, one broker like the default dev stack, the same Kafka and JVM settings): a SASL_SSL
listener with SCRAM-SHA-512 for clients, TLS between the nodes, ACLs with no ACL = deny, the write-protected
registry. The same part code runs there with the same sizes and rounds, its clients connecting as the stack's
admin, and records ``<part>-secure`` beside ``<part>`` in the same results, each figure with its ratio to the
plain one. The admin is the super user, so Kafka's authorizer allows it without looking up ACLs: the
difference measured is TLS and SCRAM (and the registry's auth), not the cost of ACL evaluation.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.model import PartResult
from bench.stack import StackInfo
from bench.stats import Better
from bus.settings import Settings
from lgsp.devstack import DevStack

SECURE_PARTS = ("publish", "rebuild")
"""The parts that also run on the secure stack (the acceptance of #13 asks for these two)."""

SUFFIX = "-secure"


@contextmanager
def secure_stack(base: Settings) -> Iterator[tuple[Settings, StackInfo]]:
    """``base`` pointed at a private ``lgsp dev up --secure`` as its admin (Kafka and registry); the stack
    is stopped and its state directory (CA, passwords) deleted when the block ends."""
    state_dir = Path(tempfile.mkdtemp(prefix="lgsp-bench-secure-"))
    ports = {"kafka_port": 0, "controller_port": 0, "registry_port": 0}  # free ports: the plain stack runs
    launcher = DevStack(base.dev.model_copy(update={"state_dir": state_dir, **ports}))
    try:
        launcher.up(secure=True)
        admin = launcher.admin_settings()
        registry = launcher.registry_admin_settings()
        settings = base.model_copy(
            update={
                # the connection from the stack, the rest (timeouts, client id) as configured
                "kafka": base.kafka.model_copy(update={k: getattr(admin, k) for k in admin.model_fields_set}),
                "registry": base.registry.model_copy(
                    update={k: getattr(registry, k) for k in registry.model_fields_set}
                ),
            }
        )
        source = "private `lgsp dev up --secure` (SASL_SSL, SCRAM-SHA-512, ACLs; clients as its admin)"
        yield settings, StackInfo(admin.bootstrap_servers, registry.url, source, True)
    finally:
        launcher.down()
        shutil.rmtree(state_dir, ignore_errors=True)


def as_secure(result: PartResult, plain: PartResult | None, stack: StackInfo) -> PartResult:
    """``result`` (a part run on the secure stack) named and labelled as such, each figure compared with the
    same figure of ``plain`` (the part's run on the plain stack) when both were measured."""
    part = result.name
    result.name += SUFFIX
    result.title += " — secure stack"
    # Target labels are the rows of the results' target table: a secure row must not read as the plain one.
    result.targets = [dataclasses.replace(t, label=f"{t.label} (secure stack)") for t in result.targets]
    where = f"On the {stack.source} at {stack.bootstrap_servers}"
    result.notes.insert(0, f"{where}: same code, sizes and rounds as part {part}.")
    if plain is None or plain.status != "ok" or result.status != "ok":
        return result
    compared = []
    for figure in result.figures:
        other = plain.figures.get(figure.key)
        if figure.ok and other is not None and other.ok and other.median:
            figure.detail["vs_plain"] = figure.median / other.median
            if figure.better is Better.HIGHER:  # the rates; the CPU figures' ratios stay in the JSON
                compared.append(f"{figure.label} {figure.median / other.median:.2f}×")
    if compared:
        every = "the JSON has every figure's as detail.vs_plain"
        result.notes.insert(1, f"Secure / plain stack, medians ({every}): {'; '.join(compared)}.")
    return result
