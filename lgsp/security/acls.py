"""Who may do what on the secure bus: every principal's Kafka ACLs, as data (least privilege).

    principal                     allowed                                                   how
    User:admin                    everything (the only super user; operators)               broker config
    User:lgsp-ingress             Write lgsp.documents|dossiers|reports, Write lgsp.audit   literal topics
    User:lgsp-views[-<name>]      Read the three topics, Read lgsp.keys, Write <topic>.dlq, literal topics,
                                  Read its consumer groups                                  prefixed group
    User:agency-<CODE>            Write lgsp.documents|dossiers|reports                     literal topics
    User:lgsp-simulator           Write lgsp.documents|dossiers|reports (the simulator      literal topics
                                  service of docker-compose.secure.yml: every agency's events)

Everything else is denied (``allow.everyone.if.no.acl.found=false``): no principal but the admin creates,
alters or deletes topics, reads groups it does not own, or touches ACLs. Topic ACLs are *literal* on
purpose: a prefixed ``lgsp.documents`` would also match ``lgsp.documents.dlq``, and SDK agencies must not
write dead letters. Consumer groups are *prefixed* with the deployment's group id, so one views deployment
may run its rebuild groups (``<group>-rebuild-…``) without a new ACL. Write implies Describe in Kafka, and
Read implies Describe, so no Describe entries are needed. Idempotent producers need no cluster ACL since
Kafka 2.8 (KIP-679).

Topic names carry ``settings.topics.prefix`` like every other topic the bus touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bus.agencies import is_agency_code
from bus.topics import AUDIT_TOPIC, TOPICS, dlq_topic

ADMIN_PRINCIPAL: Final = "admin"
INGRESS_PRINCIPAL: Final = "lgsp-ingress"
VIEWS_PRINCIPAL: Final = "lgsp-views"
SIMULATOR_PRINCIPAL: Final = "lgsp-simulator"
AGENCY_PRINCIPAL_PREFIX: Final = "agency-"
# Catalog names fixed by ARCHITECTURE.md ("Wave 2 names"): the signing keyring (the audit trail's is
# bus.topics.AUDIT_TOPIC, beside its topic definition).
KEYS_TOPIC: Final = "lgsp.keys"


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"


class Pattern(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW entry for one principal (``User:<name>``), from any host."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def describe(self) -> str:
        return f"User:{self.principal} {self.operation} {self.resource} {self.name} ({self.pattern})"


def agency_principal(code: str) -> str:
    """The SCRAM user of an agency's SDK deployment, e.g. ``agency-000.00.00.H29``."""
    if not is_agency_code(code):  # dotted 0-9/A-Z groups: nothing SCRAM or an ACL would need to escape
        raise ValueError(f"{code!r} is not a QĐ 20/2020 agency code")
    return AGENCY_PRINCIPAL_PREFIX + code


def event_topics(prefix: str) -> list[str]:
    return [prefix + name for name in TOPICS]


def _topic_acls(principal: str, names: list[str], operation: Operation) -> list[Acl]:
    return [Acl(principal, Resource.TOPIC, name, Pattern.LITERAL, operation) for name in names]


def ingress_acls(prefix: str, principal: str = INGRESS_PRINCIPAL) -> list[Acl]:
    """The HTTP ingress publishes events for every agency, and writes the audit trail."""
    return _topic_acls(principal, [*event_topics(prefix), prefix + AUDIT_TOPIC], Operation.WRITE)


def views_acls(prefix: str, group_id: str, principal: str = VIEWS_PRINCIPAL) -> list[Acl]:
    """A views deployment reads the events and the keyring, writes dead letters, owns its groups."""
    events = event_topics(prefix)
    return [
        *_topic_acls(principal, [*events, prefix + KEYS_TOPIC], Operation.READ),
        *_topic_acls(principal, [dlq_topic(name) for name in events], Operation.WRITE),
        Acl(principal, Resource.GROUP, group_id, Pattern.PREFIXED, Operation.READ),
    ]


def simulator_acls(prefix: str, principal: str = SIMULATOR_PRINCIPAL) -> list[Acl]:
    """``lgsp simulate`` (the compose simulator) publishes every agency's events, nothing else."""
    return _topic_acls(principal, event_topics(prefix), Operation.WRITE)


def sdk_agency_acls(prefix: str, code: str) -> list[Acl]:
    """An agency publishing with the SDK writes the three event topics, nothing else."""
    return _topic_acls(agency_principal(code), event_topics(prefix), Operation.WRITE)
