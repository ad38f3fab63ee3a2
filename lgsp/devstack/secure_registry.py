"""The write-protected registry of the secure stack (``lgsp dev up --secure``): Apicurio's own authentication.

Apicurio Registry 3.0.9 is a Quarkus application. With ``quarkus.http.auth.basic`` on, Apicurio's
``AuthorizedInterceptor`` checks every REST operation against its declared level (read, write, admin); with
``apicurio.auth.anonymous-read-access.enabled`` an anonymous caller passes the *read* operations only. The one
identity is a Quarkus embedded user (``quarkus-elytron-security-properties-file`` ships in the jar) with the
role ``sr-admin``. So, checked against the running registry (tests/integration/test_secure_registry.py):

- anonymous: ``GET`` anything, ccompat lookups (``POST /subjects/{s}``) and compatibility checks answer 200
  (consumers, confluent-kafka deserializers and publishers need nothing);
- anonymous or wrong password: register, ``PUT /config``, ``DELETE``, the v2/v3 write and admin APIs
  (including the dynamic-configuration endpoint that could switch anonymous access) answer 401.

Keycloak (Apicurio's usual OIDC server) was not an option here: its current releases need Java 21.

The admin's password never appears on the registry's command line (``ps`` shows command lines to every local
user): the child gets it in its environment, which Quarkus reads as configuration
(``QUARKUS_SECURITY_USERS_EMBEDDED_USERS_ADMIN`` maps to ``quarkus.security.users.embedded.users.admin``).
Without the anonymous-read flag, basic auth makes Apicurio refuse every anonymous call, GETs included (seen
here; the likely cause of session 3's "anonymous reads broke" when the flags were moved into a file). Quarkus'
own path policies (``quarkus.http.auth.permission.*``) are not used: Apicurio already knows which operation
reads and which writes, where path rules would have to list every ccompat read that is a POST (lookups,
compatibility checks).

State directory::

    registry/admin.password    0600: the registry admin's password (made once, kept across restarts)
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from bus.settings import RegistrySettings
from lgsp.devstack.secure import write_private

REGISTRY_ADMIN: Final = "admin"
ADMIN_ROLE: Final = "sr-admin"
PASSWORD_FILE: Final = "admin.password"  # noqa: S105 (a file name)
_PASSWORD_VARIABLE: Final = f"QUARKUS_SECURITY_USERS_EMBEDDED_USERS_{REGISTRY_ADMIN.upper()}"

# Everything but the password: visible on the command line, so it must not hold secrets.
SECURE_REGISTRY_PROPERTIES: Final = {
    "quarkus.http.auth.basic": "true",
    "quarkus.security.users.embedded.enabled": "true",
    # Plain text inside the 0600 state dir; the digest form would only hide it from a reader of the
    # environment, who is the same user (or root).
    "quarkus.security.users.embedded.plain-text": "true",
    f"quarkus.security.users.embedded.roles.{REGISTRY_ADMIN}": ADMIN_ROLE,
    "apicurio.auth.anonymous-read-access.enabled": "true",
}


def registry_password(registry_dir: Path) -> SecretStr:
    """The registry admin's password, generated on first use into ``registry_dir/admin.password`` (0600)."""
    path = registry_dir / PASSWORD_FILE
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return SecretStr(path.read_text("ascii").strip())


def secure_registry_flags() -> list[str]:
    """The registry's ``-D`` flags of the secure mode (no secret among them)."""
    return [f"-D{key}={value}" for key, value in SECURE_REGISTRY_PROPERTIES.items()]


def secure_registry_environment(password: SecretStr) -> dict[str, str]:
    """What the registry process gets in its environment on top of ours: the admin's password."""
    return {_PASSWORD_VARIABLE: password.get_secret_value()}


def registry_admin_settings(url: str, password: SecretStr) -> RegistrySettings:
    """The settings of a client that may write to the secure stack's registry."""
    return RegistrySettings(url=url, username=REGISTRY_ADMIN, password=password)
