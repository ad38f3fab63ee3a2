"""``lgsp agencies onboard | offboard`` and the service principals: everything a party needs, idempotently.

An agency gets, always, its signing key pair (Ed25519, docs/security.md): the private key in
``<out>/<CODE>/<key id>.pem`` (0600), the public entry on the keyring ``lgsp.keys``, and
``<out>/<CODE>/signing.env`` (0600) with ``LGSP_SIGNING__KEY_FILE`` and ``LGSP_SIGNING__KEY_ID``; and by flag:

    --sdk      its SCRAM principal ``agency-<CODE>`` and ACLs (write the three event topics), and
               ``<out>/<CODE>/kafka.env`` (0600) with the LGSP_KAFKA__* settings it connects with
    --ingress  an API key for the HTTP ingress, written once to ``<out>/<CODE>/ingress-key`` (0600)

Running it again changes nothing that exists: an existing SCRAM user keeps its password (``rotate=True``
sets a new one), an agency with a usable signing key on the keyring gets no second one (``rotate=True`` adds
a new one; the old stays valid until ``lgsp agencies keys revoke``), an agency with an ingress key gets no
second one, ACLs are created only if missing. ``offboard`` removes the principal, its ACLs and its ingress
keys, revokes its signing keys on the keyring (records signed before stay verifiable), and deletes the
credential files.
Services (the ingress, a views deployment) get principals the same way (:func:`ensure_service`).
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from bus.kafka_client import kafka_environment
from bus.settings import KafkaSettings, Settings
from bus.signing import create_agency_key
from bus.signing.keyring import load_keyring, publish_entries, publish_entry
from bus.signing.keys import KeyEntry, now_ms
from lgsp.devstack.secure import write_private
from lgsp.security.acls import (
    INGRESS_PRINCIPAL,
    SIMULATOR_PRINCIPAL,
    VIEWS_PRINCIPAL,
    Acl,
    agency_principal,
    ingress_acls,
    sdk_agency_acls,
    simulator_acls,
    views_acls,
)
from lgsp.security.kafka_admin import SecurityAdmin
from producers.ingress.auth import ApiKeyStore

KAFKA_ENV = "kafka.env"
INGRESS_KEY = "ingress-key"
SIGNING_ENV = "signing.env"


@dataclass
class Onboarded:
    """What one onboarding did (``created_*`` false: it existed already)."""

    principal: str
    directory: Path
    created_user: bool = False
    acls: list[Acl] = field(default_factory=list)
    created_ingress_key: bool = False
    signing_key: KeyEntry | None = None
    created_signing_key: bool = False
    notes: list[str] = field(default_factory=list)


async def onboard_agency(
    settings: Settings, code: str, *, sdk: bool, ingress: bool, out_dir: Path, rotate: bool = False
) -> Onboarded:
    """Create what agency ``code`` needs (``settings.kafka``: the admin's connection)."""
    principal = agency_principal(code)
    result = Onboarded(principal, out_dir / code)
    result.signing_key, result.created_signing_key, note = await _ensure_signing_key(
        settings, code, result.directory, rotate=rotate
    )
    result.notes += note
    if sdk:
        result.created_user, note = _ensure_user(settings.kafka, principal, result.directory, rotate=rotate)
        result.notes += note
        result.acls = sdk_agency_acls(settings.topics.prefix, code)
        SecurityAdmin(settings.kafka).create_acls(result.acls)
    if ingress:
        result.created_ingress_key = _ensure_ingress_key(
            settings.ingress.api_keys_file, code, result.directory
        )
    return result


async def offboard_agency(settings: Settings, code: str, *, out_dir: Path) -> list[str]:
    """Remove the agency's principal, ACLs, ingress keys and credential files, revoke its signing keys;
    what was removed."""
    principal = agency_principal(code)
    removed = []
    now = now_ms()
    usable = [e for e in await load_keyring(settings) if e.agency == code and e.usable_at(now)]
    if usable:
        await publish_entries(settings, [entry.revoked(now) for entry in usable])
        removed.append("signing keys " + ", ".join(entry.key_id for entry in usable) + " (revoked)")
    admin = SecurityAdmin(settings.kafka)
    acls = admin.delete_acls_of(principal)
    if acls:
        removed.append(f"{acls} ACLs of User:{principal}")
    if admin.delete_user(principal):
        removed.append(f"SCRAM user {principal}")
    keys_file = settings.ingress.api_keys_file
    store = ApiKeyStore.load_or_empty(keys_file)
    if store.revoke(code):
        store.save(keys_file)
        removed.append(f"ingress keys of {code} in {keys_file}")
    directory = out_dir / code
    if directory.exists():
        shutil.rmtree(directory)
        removed.append(str(directory))
    return removed


def ensure_service(settings: Settings, kind: str, *, out_dir: Path, rotate: bool = False) -> Onboarded:
    """The principal of the ingress (``kind="ingress"``), of the views deployment of
    ``settings.views.group_id`` (``kind="views"``) or of the simulator (``kind="simulator"``), with its ACLs
    and ``<out>/<principal>/kafka.env``."""
    prefix = settings.topics.prefix
    if kind == "ingress":
        principal, acls = INGRESS_PRINCIPAL, ingress_acls(prefix)
    elif kind == "views":
        principal, acls = VIEWS_PRINCIPAL, views_acls(prefix, settings.views.group_id)
    elif kind == "simulator":
        principal, acls = SIMULATOR_PRINCIPAL, simulator_acls(prefix)
    else:
        raise ValueError(f"unknown service {kind!r}: ingress, views or simulator")
    result = Onboarded(principal, out_dir / principal, acls=acls)
    result.created_user, result.notes = _ensure_user(
        settings.kafka, principal, result.directory, rotate=rotate
    )
    SecurityAdmin(settings.kafka).create_acls(acls)
    return result


def read_kafka_env(path: Path) -> KafkaSettings:
    """The connection a ``kafka.env`` written here describes (``LGSP_KAFKA__*`` lines)."""
    values = dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return KafkaSettings.model_validate(
        {key.removeprefix("LGSP_KAFKA__").lower(): value for key, value in values.items()}
    )


def service_settings(settings: Settings, kind: str, *, out_dir: Path) -> KafkaSettings:
    """The connection of a service principal (:func:`ensure_service`), for a process to run as it. Its
    ``kafka.env`` is reused; when it is not in ``out_dir``, the principal gets a new password."""
    done = ensure_service(settings, kind, out_dir=out_dir)
    env_file = done.directory / KAFKA_ENV
    if not env_file.exists():
        done = ensure_service(settings, kind, out_dir=out_dir, rotate=True)
    return read_kafka_env(env_file)


def principal_settings(admin: KafkaSettings, username: str, password: SecretStr) -> KafkaSettings:
    """The admin's connection (bootstrap, TLS, mechanism) with another principal's credentials."""
    return admin.model_copy(update={"sasl_username": username, "sasl_password": password})


def _ensure_user(
    admin: KafkaSettings, principal: str, directory: Path, *, rotate: bool
) -> tuple[bool, list[str]]:
    security = SecurityAdmin(admin)
    env_file = directory / KAFKA_ENV
    if security.has_user(principal) and not rotate:
        if env_file.exists():
            return False, []
        return False, [f"SCRAM user {principal} exists but {env_file} does not; --rotate sets a new password"]
    password = SecretStr(secrets.token_urlsafe(24))
    security.upsert_user(principal, password)
    env = kafka_environment(principal_settings(admin, principal, password))
    write_private(env_file, "".join(f"{key}={value}\n" for key, value in env.items()))
    return True, []


async def _ensure_signing_key(
    settings: Settings, code: str, directory: Path, *, rotate: bool
) -> tuple[KeyEntry, bool, list[str]]:
    """The agency's usable signing key: the one on the keyring, or a new pair (private key + signing.env
    under ``directory``, public entry published)."""
    now = now_ms()
    usable = [e for e in await load_keyring(settings) if e.agency == code and e.role == "agency"]
    usable = [e for e in usable if e.usable_at(now)]
    env_file = directory / SIGNING_ENV
    if usable and not rotate:
        newest = max(usable, key=lambda e: e.valid_from_ms)
        if env_file.exists():
            return newest, False, []
        return (
            newest,
            False,
            [
                f"signing key {newest.key_id} is on the keyring but {env_file} does not exist; "
                "--rotate adds a new key (then revoke the old one: lgsp agencies keys revoke)"
            ],
        )
    made = create_agency_key(code, directory)
    await publish_entry(settings, made.entry)
    env = {
        "LGSP_SIGNING__KEY_FILE": made.private_key_file.resolve(),
        "LGSP_SIGNING__KEY_ID": made.entry.key_id,
    }
    write_private(env_file, "".join(f"{key}={value}\n" for key, value in env.items()))
    return made.entry, True, []


def _ensure_ingress_key(keys_file: Path, code: str, directory: Path) -> bool:
    store = ApiKeyStore.load_or_empty(keys_file)
    entry = store.agencies().get(code)
    if entry is not None and entry.keys:
        return False
    token = store.add_key(code)
    store.save(keys_file)
    write_private(directory / INGRESS_KEY, token + "\n")
    return True
