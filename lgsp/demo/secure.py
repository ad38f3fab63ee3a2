"""``lgsp demo --secure``: the demo on the secure stack (``lgsp dev up --secure``), each process as itself.

The demo process is the operator: it creates the topics, registers the schemas and publishes the keyring as
the admin (the stack's admin connection; with ``--no-dev-stack``, the admin's ``LGSP_KAFKA__*`` settings).
What it starts connects with least privilege (lgsp/security/acls.py), with the credentials the stack keeps
in ``<state>/principals/<principal>/kafka.env`` (0600, shared with ``lgsp dev up --secure``):

    views run, views serve   User:lgsp-views      read the topics and the keyring, write dead letters, and
                                                  own the groups prefixed ``lgsp-demo`` (added here)
    ingress                  User:lgsp-ingress    write the three event topics and the audit topic
    the simulated nation     User:lgsp-simulator  write the three event topics
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from bus.errors import ConfigError
from bus.settings import KafkaSettings, Settings
from lgsp.security.onboarding import KAFKA_ENV, ensure_service, principal_settings

SECURE_PROTOCOL: Final = "SASL_SSL"
_PASSWORD_KEY: Final = "LGSP_KAFKA__SASL_PASSWORD"  # noqa: S105 - the variable's name, not a password


@dataclass(frozen=True)
class DemoPrincipals:
    """The connection of each of the demo's processes on the secure stack."""

    views: KafkaSettings
    ingress: KafkaSettings
    simulator: KafkaSettings

    def for_child(self, name: str) -> KafkaSettings:
        """The connection of the child process ``name`` (lgsp/demo/children.py's names)."""
        return self.ingress if name == "ingress" else self.views


def demo_principals(settings: Settings, out_dir: Path) -> DemoPrincipals:
    """Create (or reuse) the principals and ACLs of the demo's processes; ``settings.kafka`` is the admin's
    connection and ``settings.views.group_id`` the demo's group."""
    admin = settings.kafka
    if admin.security_protocol != SECURE_PROTOCOL or admin.sasl_username is None:
        raise ConfigError(
            "--secure needs the admin's SASL_SSL connection: the local secure stack (`lgsp dev up "
            "--secure`), or with --no-dev-stack the settings of its admin.env "
            "(LGSP_KAFKA__SECURITY_PROTOCOL=SASL_SSL, LGSP_KAFKA__SASL_USERNAME, ...); "
            f"got {admin.security_protocol}"
        )
    found = {}
    for kind in ("views", "ingress", "simulator"):
        done = ensure_service(settings, kind, out_dir=out_dir)
        env_file = done.directory / KAFKA_ENV
        if not env_file.exists():  # the user exists, its password file is gone: a new password
            done = ensure_service(settings, kind, out_dir=out_dir, rotate=True)
        found[kind] = principal_settings(admin, done.principal, _password(env_file))
    return DemoPrincipals(**found)


def _password(env_file: Path) -> SecretStr:
    for line in env_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == _PASSWORD_KEY:
            return SecretStr(value)
    raise ConfigError(f"{env_file} has no {_PASSWORD_KEY}: delete it, and the next demo sets a new password")
