"""Replication defaults of a cluster: what topics get unless settings say otherwise.

The rule (one place): a cluster of ``n`` brokers replicates each partition ``min(3, n)`` times, and with
three or more brokers requires 2 in-sync replicas per write (``acks=all``), so losing one broker loses
nothing and blocks nothing. ``lgsp dev up --brokers N`` writes it into the brokers' configuration
(``default.replication.factor``, ``min.insync.replicas``); :func:`cluster_defaults` reads it back from a
running cluster, so ``lgsp topics create`` follows whatever the operators configured, and falls back to
the rule (from the broker count) when the brokers' configuration may not be read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

log = logging.getLogger(__name__)

_KEYS = ("default.replication.factor", "min.insync.replicas")


@dataclass(frozen=True)
class ClusterDefaults:
    replication_factor: int
    min_insync_replicas: int


def defaults_for_brokers(brokers: int) -> ClusterDefaults:
    """The rule: ``min(3, n)`` replicas; 2 in sync once there are 3+ brokers, else 1."""
    return ClusterDefaults(min(3, brokers), 2 if brokers >= 3 else 1)


async def cluster_defaults(admin: AIOKafkaAdminClient) -> ClusterDefaults:
    """The brokers' own defaults, capped by the broker count; the rule when they cannot be read."""
    brokers = (await admin.describe_cluster())["brokers"]
    rule = defaults_for_brokers(len(brokers))
    try:
        node = str(min(int(b["node_id"]) for b in brokers))
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, node, None)])
        found = _values(responses)
        replicas = min(int(found[_KEYS[0]]), len(brokers))
        return ClusterDefaults(replicas, min(int(found[_KEYS[1]]), replicas))
    except Exception as exc:  # not authorised to describe configs, old broker, odd answer: use the rule
        log.info(
            "using replication defaults for %d brokers (broker config not readable: %r)", len(brokers), exc
        )
        return rule


def _values(responses: list[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                raise ValueError(f"describe configs: error {resource['error_code']}")
            for entry in resource["config_entries"]:
                if entry["config_names"] in _KEYS:
                    found[entry["config_names"]] = entry["config_value"]
    missing = [key for key in _KEYS if key not in found]
    if missing:
        raise ValueError(f"the broker did not report {missing}")
    return found
