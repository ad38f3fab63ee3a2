"""The local development stack: a real Apache Kafka (KRaft) and Apicurio Registry, JVMs on loopback.

Jars come from Maven Central and are cached (``settings.dev.cache_dir``); configs, data, logs and pid files
live in ``settings.dev.state_dir``. ``lgsp dev up | down | status | fetch`` is the CLI over :class:`DevStack`.
"""

from lgsp.devstack.artifacts import Fetched
from lgsp.devstack.layout import KafkaNode, StackLayout
from lgsp.devstack.stack import DevStack, Endpoints
from lgsp.devstack.status import ComponentStatus, StackStatus, State

__all__ = [
    "ComponentStatus",
    "DevStack",
    "Endpoints",
    "Fetched",
    "KafkaNode",
    "StackLayout",
    "StackStatus",
    "State",
]
