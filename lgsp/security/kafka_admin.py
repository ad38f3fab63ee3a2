"""Apply principals to a secure cluster: SCRAM users and ACLs, through confluent-kafka's admin client.

aiokafka's admin client has neither ACL nor SCRAM calls, so this operator tooling uses librdkafka, with the
connection from :func:`bus.kafka_client.librdkafka_config` (the admin's settings). Every call here is
idempotent: creating an ACL that exists, or deleting one that does not, changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from bus.errors import BrokerError
from bus.kafka_client import librdkafka_config
from bus.settings import KafkaSettings
from lgsp.security.acls import Acl, Operation, Pattern, Resource

_TIMEOUT_S: Final = 30.0
_SCRAM_ITERATIONS: Final = 8192  # Kafka's maximum is 16384; 4096 is its minimum for SHA-512
_RESOURCE = {Resource.TOPIC: ResourceType.TOPIC, Resource.GROUP: ResourceType.GROUP}
_PATTERN = {Pattern.LITERAL: ResourcePatternType.LITERAL, Pattern.PREFIXED: ResourcePatternType.PREFIXED}
_OPERATION = {Operation.READ: AclOperation.READ, Operation.WRITE: AclOperation.WRITE}
_LOG = logging.getLogger("lgsp.security.librdkafka")


class SecurityAdmin:
    """SCRAM users and ACLs of one cluster, as its admin."""

    def __init__(self, admin: KafkaSettings) -> None:
        config: dict[str, Any] = {**librdkafka_config(admin, client_suffix="security"), "logger": _LOG}
        self._client = AdminClient(config)

    def upsert_user(self, username: str, password: SecretStr) -> None:
        """Create the SCRAM-SHA-512 user, or set its password."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _SCRAM_ITERATIONS)
        upsert = UserScramCredentialUpsertion(username, info, password.get_secret_value().encode())
        _wait(self._client.alter_user_scram_credentials([upsert], request_timeout=_TIMEOUT_S), "user")

    def has_user(self, username: str) -> bool:
        futures = self._client.describe_user_scram_credentials([username], request_timeout=_TIMEOUT_S)
        if not isinstance(futures, dict):  # a list of users gives a future per user
            raise BrokerError(f"describing SCRAM user {username}: unexpected answer {futures!r}")
        try:
            futures[username].result()
        except KafkaException as exc:
            if "RESOURCE_NOT_FOUND" in str(exc):
                return False
            raise BrokerError(f"describing SCRAM user {username} failed: {exc}") from exc
        return True

    def delete_user(self, username: str) -> bool:
        """Remove the user's SCRAM credential; whether there was one."""
        if not self.has_user(username):
            return False
        deletion = UserScramCredentialDeletion(username, ScramMechanism.SCRAM_SHA_512)
        _wait(self._client.alter_user_scram_credentials([deletion], request_timeout=_TIMEOUT_S), "user")
        return True

    def create_acls(self, acls: Sequence[Acl]) -> None:
        if acls:
            _wait(self._client.create_acls([_binding(a) for a in acls], request_timeout=_TIMEOUT_S), "ACL")

    def acls_of(self, principal: str) -> list[Acl]:
        """Every ALLOW entry of ``principal`` that this module can express (topic/group read/write)."""
        found = self._client.describe_acls(_filter(principal), request_timeout=_TIMEOUT_S)
        try:
            bindings = found.result()
        except KafkaException as exc:
            raise BrokerError(f"describing the ACLs of {principal} failed: {exc}") from exc
        return sorted(acl for acl in (_acl(b) for b in bindings) if acl is not None)

    def delete_acls_of(self, principal: str) -> int:
        """Remove every ACL of ``principal`` (whatever its kind); how many."""
        futures = self._client.delete_acls([_filter(principal)], request_timeout=_TIMEOUT_S)
        deleted = 0
        for future in futures.values():
            try:
                deleted += len(future.result())
            except KafkaException as exc:
                raise BrokerError(f"deleting the ACLs of {principal} failed: {exc}") from exc
        return deleted


def _binding(acl: Acl) -> AclBinding:
    return AclBinding(
        _RESOURCE[acl.resource],
        acl.name,
        _PATTERN[acl.pattern],
        f"User:{acl.principal}",
        "*",
        _OPERATION[acl.operation],
        AclPermissionType.ALLOW,
    )


def _filter(principal: str) -> AclBindingFilter:
    # None matches any name and any host (librdkafka's filter semantics; the stubs say str).
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        f"User:{principal}",
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _acl(binding: AclBinding) -> Acl | None:
    resources = {v: k for k, v in _RESOURCE.items()}
    patterns = {v: k for k, v in _PATTERN.items()}
    operations = {v: k for k, v in _OPERATION.items()}
    if (
        binding.restype not in resources
        or binding.resource_pattern_type not in patterns
        or binding.operation not in operations
        or binding.permission_type != AclPermissionType.ALLOW
    ):
        return None
    return Acl(
        binding.principal.removeprefix("User:"),
        resources[binding.restype],
        binding.name,
        patterns[binding.resource_pattern_type],
        operations[binding.operation],
    )


def _wait(futures: dict[Any, Any] | Iterable[Any], what: str) -> None:
    items = futures.values() if isinstance(futures, dict) else futures
    for future in items:
        try:
            future.result()
        except KafkaException as exc:
            raise BrokerError(f"changing a {what} failed: {exc}") from exc
