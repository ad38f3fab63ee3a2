"""Kafka KRaft configuration for the local stack: ``server.properties`` per node, and the commands to run it.

One node uses a dynamic quorum bootstrapped with ``format --standalone``; several nodes use a static quorum
(``controller.quorum.voters``), each formatted with the same cluster id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bus.cluster_defaults import defaults_for_brokers
from lgsp.devstack.layout import KafkaNode, StackLayout


def render_server_properties(
    layout: StackLayout, node: KafkaNode, data_dir: Path, *, overrides: Mapping[str, str] | None = None
) -> str:
    """The ``server.properties`` text of ``node``, every listener on the layout's loopback host;
    ``overrides`` (the secure mode's listeners, TLS and authorizer) replace or add properties."""
    host = layout.host
    size = len(layout.nodes)
    defaults = defaults_for_brokers(size)
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "listeners": f"PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{node.controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        # Internal topics replicate over every node (up to 3) so a cluster survives losing one broker.
        "offsets.topic.replication.factor": str(defaults.replication_factor),
        "transaction.state.log.replication.factor": str(defaults.replication_factor),
        "transaction.state.log.min.isr": str(defaults.min_insync_replicas),
        # What topics get unless told otherwise (bus.cluster_defaults: one rule, read back by topics create).
        "default.replication.factor": str(defaults.replication_factor),
        "min.insync.replicas": str(defaults.min_insync_replicas),
        # Groups form at once instead of waiting 3 s for more members: tests and demos start faster.
        "group.initial.rebalance.delay.ms": "0",
    }
    if size == 1:
        props["controller.quorum.bootstrap.servers"] = f"{host}:{node.controller_port}"
    else:
        props["controller.quorum.voters"] = ",".join(
            f"{n.node_id}@{host}:{n.controller_port}" for n in layout.nodes
        )
    props.update(overrides or {})
    header = f"# Written by `lgsp dev up` for {node.name}; regenerated on every start.\n"
    return header + "".join(f"{key}={value}\n" for key, value in props.items())


def format_command(
    java: str, libs: Path, config: Path, cluster_id: str, *, standalone: bool, extra: Sequence[str] = ()
) -> list[str]:
    """``kafka.tools.StorageTool format``: writes meta.properties and the bootstrap metadata (``extra``: e.g.
    the secure mode's ``--add-scram``)."""
    quorum = ["--standalone"] if standalone else []
    return [
        java,
        "-cp",
        f"{libs}/*",
        "kafka.tools.StorageTool",
        "format",
        *quorum,
        "-t",
        cluster_id,
        "-c",
        str(config),
        *extra,
    ]


def server_command(java: str, libs: Path, config: Path, *, heap: str, log4j2: Path, marker: str) -> list[str]:
    """The broker JVM; ``marker`` is a harmless system property that lets ``down`` recognise the process."""
    return [
        java,
        f"-Xmx{heap}",
        marker,
        f"-Dlog4j2.configurationFile={log4j2}",
        f"-Djava.io.tmpdir={config.parent / 'tmp'}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(config),
    ]
