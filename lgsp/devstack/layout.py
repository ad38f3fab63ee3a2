"""What one ``lgsp dev up`` runs: the Kafka nodes with their ports, the registry's port, the cluster id.

The layout is planned from settings (a port of 0 means "let the OS choose") and written to
``<state_dir>/stack.json``, so ``status``, ``down`` and restarts of a single broker use exactly the ports and
processes that ``up`` used.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.errors import DevStackError
from bus.settings import DevSettings
from lgsp.devstack.ports import PortUse, check_distinct, free_port, port_in_use

LAYOUT_FILE = "stack.json"
REGISTRY_API = "/apis/ccompat/v7"


@dataclass(frozen=True)
class KafkaNode:
    """One KRaft node in combined mode (broker + controller)."""

    node_id: int
    port: int
    controller_port: int

    @property
    def name(self) -> str:
        return f"kafka-{self.node_id}"

    def port_uses(self) -> list[PortUse]:
        return [
            PortUse(self.port, self.name, "kafka_port"),
            PortUse(self.controller_port, f"{self.name} controller", "controller_port"),
        ]


@dataclass(frozen=True)
class StackLayout:
    """The processes of one local stack and where they listen."""

    host: str
    cluster_id: str
    nodes: tuple[KafkaNode, ...]
    registry_port: int | None
    secure: bool = False  # `up --secure`: SASL_SSL + SCRAM + ACLs (lgsp.devstack.secure)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.host}:{node.port}" for node in self.nodes)

    @property
    def registry_base_url(self) -> str | None:
        return None if self.registry_port is None else f"http://{self.host}:{self.registry_port}"

    @property
    def registry_url(self) -> str | None:
        """The Confluent-compatible API, the value for ``LGSP_REGISTRY__URL``."""
        base = self.registry_base_url
        return None if base is None else base + REGISTRY_API

    def node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        known = ", ".join(str(n.node_id) for n in self.nodes)
        raise DevStackError(f"no Kafka node {node_id} in this stack (nodes: {known})")

    def port_uses(self) -> list[PortUse]:
        uses = [use for node in self.nodes for use in node.port_uses()]
        if self.registry_port is not None:
            uses.append(PortUse(self.registry_port, "registry", "registry_port"))
        return uses

    def has_shape(self, *, brokers: int, registry: bool, secure: bool = False) -> bool:
        """Nodes 1..``brokers``, with or without the registry, secure or not: whether it is that stack."""
        ids = [n.node_id for n in self.nodes]
        return (
            ids == list(range(1, brokers + 1))
            and (self.registry_port is not None) == registry
            and self.secure == secure
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "cluster_id": self.cluster_id,
            "nodes": [
                {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port}
                for n in self.nodes
            ],
            "registry_port": self.registry_port,
            "secure": self.secure,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackLayout:
        nodes = tuple(
            KafkaNode(int(n["node_id"]), int(n["port"]), int(n["controller_port"])) for n in data["nodes"]
        )
        port = data.get("registry_port")
        registry_port = None if port is None else int(port)
        return cls(str(data["host"]), str(data["cluster_id"]), nodes, registry_port, bool(data.get("secure")))


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding, never starting with '-'.

    Kafka's own ``Uuid.randomUuid()`` avoids a leading '-' too, so the id cannot be taken for a CLI flag.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def plan_layout(
    settings: DevSettings,
    *,
    brokers: int = 1,
    registry: bool = True,
    cluster_id: str | None = None,
    previous: StackLayout | None = None,
    secure: bool = False,
) -> StackLayout:
    """Ports for ``brokers`` nodes and the registry.

    A configured port is the first node's; node ``n`` adds ``2 * (n - 1)``, so the defaults give 9092/9093,
    9094/9095, 9096/9097. A port of 0 reuses the ``previous`` layout's port while it is free (a restarted
    stack keeps its endpoints), else asks the OS for a free one, separately for every listener.
    """
    if not 1 <= brokers <= 9:
        raise DevStackError(f"brokers must be between 1 and 9, not {brokers}")
    before = {n.node_id: n for n in previous.nodes} if previous is not None else {}
    host = settings.host
    nodes = []
    for n in range(1, brokers + 1):
        old = before.get(n)
        nodes.append(
            KafkaNode(
                node_id=n,
                port=_port(host, settings.kafka_port, n, old.port if old else None),
                controller_port=_port(
                    host, settings.controller_port, n, old.controller_port if old else None
                ),
            )
        )
    registry_port = None
    if registry:
        registry_port = _port(host, settings.registry_port, 1, previous.registry_port if previous else None)
    layout = StackLayout(host, cluster_id or new_cluster_id(), tuple(nodes), registry_port, secure)
    check_distinct(layout.port_uses())
    return layout


def _port(host: str, configured: int, node_id: int, previous: int | None) -> int:
    if configured != 0:
        return configured + 2 * (node_id - 1)
    if previous is not None and not port_in_use(host, previous):
        return previous
    return free_port(host)


def load_layout(state_dir: Path) -> StackLayout | None:
    """The layout the last ``up`` in ``state_dir`` used, if any."""
    path = state_dir / LAYOUT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DevStackError(f"cannot read {path}: {exc}; remove it or run `lgsp dev down --purge`") from exc
    try:
        return StackLayout.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise DevStackError(f"{path} is not a stack layout: {exc}; run `lgsp dev down --purge`") from exc


def save_layout(state_dir: Path, layout: StackLayout) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LAYOUT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(layout.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
