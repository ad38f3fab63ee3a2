"""Ingress API keys (hashed at rest, constant-time check) and who may publish for which source."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bus.agencies import load_catalog
from bus.errors import ConfigError
from bus.types import AgencyCode
from producers.ingress.auth import (
    ApiKeyStore,
    Authorizer,
    KeyRefusal,
    Principal,
    ReloadingKeyStore,
    hash_secret,
)
from tests.publishing_samples import FINANCE, GOV_OFFICE, HANOI, HCMC, HCMC_JUSTICE

pytestmark = pytest.mark.unit


def test_an_issued_key_authenticates_its_agency_with_its_grants() -> None:
    store = ApiKeyStore()
    token = store.add_key(HCMC, grants=[GOV_OFFICE])
    assert store.authenticate(f"Bearer {token}") == Principal(AgencyCode(HCMC), frozenset({GOV_OFFICE}))
    assert store.authenticate(f"bearer {token}") is not None  # the scheme is case-insensitive


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer lgsp_nothex_x", "Bearer not-a-key", "Token lgsp_0_0"],
)
def test_missing_or_malformed_credentials_authenticate_nobody(header: str | None) -> None:
    store = ApiKeyStore()
    store.add_key(HCMC)
    assert store.authenticate(header) is None


def test_a_wrong_secret_or_unknown_key_id_authenticates_nobody() -> None:
    store = ApiKeyStore()
    token = store.add_key(HCMC)
    prefix, key_id, secret = token.split("_", 2)
    assert store.authenticate(f"Bearer {prefix}_{key_id}_{secret[:-1]}x") is None
    assert store.authenticate(f"Bearer {prefix}_{'0' * 12}_{secret}") is None


def test_the_file_keeps_only_a_hash_and_only_the_owner_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = ApiKeyStore()
    token = store.add_key(HCMC)
    store.save(path)
    text = path.read_text()
    secret = token.split("_", 2)[2]
    assert secret not in text
    assert hash_secret(secret) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ApiKeyStore.load(path).authenticate(f"Bearer {token}") is not None


def test_a_new_key_replaces_the_old_unless_kept(tmp_path: Path) -> None:
    store = ApiKeyStore()
    first = store.add_key(HCMC)
    second = store.add_key(HCMC)
    assert store.authenticate(f"Bearer {first}") is None
    third = store.add_key(HCMC, keep_existing=True)
    assert store.authenticate(f"Bearer {second}") is not None
    assert store.authenticate(f"Bearer {third}") is not None


def test_revoking_removes_every_key_of_the_agency() -> None:
    store = ApiKeyStore()
    token = store.add_key(HCMC)
    assert store.revoke(HCMC)
    assert store.authenticate(f"Bearer {token}") is None
    assert not store.revoke(HCMC)


def test_a_refused_key_is_told_revoked_unknown_malformed_or_missing(tmp_path: Path) -> None:
    store = ApiKeyStore()
    replaced = store.add_key(HCMC)
    current = store.add_key(HCMC)  # replaces the first one: a replaced key counts as revoked
    revoked_later = store.add_key("000.00.00.G22")
    store.revoke("000.00.00.G22")
    store.save(tmp_path / "keys.json")
    reloaded = ApiKeyStore.load(tmp_path / "keys.json")  # the file remembers the revoked ids
    assert reloaded.authenticate(f"Bearer {current}") is not None
    assert reloaded.refusal(f"Bearer {replaced}") is KeyRefusal.REVOKED
    assert reloaded.refusal(f"Bearer {revoked_later}") is KeyRefusal.REVOKED
    assert reloaded.refusal("Bearer lgsp_0123456789ab_" + "x" * 43) is KeyRefusal.UNKNOWN
    assert reloaded.refusal("Basic abc") is KeyRefusal.MALFORMED
    assert reloaded.refusal(None) is KeyRefusal.MISSING


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"version": 2, "hash": "sha256", "agencies": {}}', '{"version": 1, "hash": "md5"}',
     '{"version": 1, "hash": "sha256", "agencies": {"X": {"keys": [{"id": 1}]}}}'],
)  # fmt: skip
def test_an_unusable_key_file_is_a_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=str(path)):
        ApiKeyStore.load(path)


def test_a_missing_key_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lgsp ingress keys add"):
        ApiKeyStore.load(tmp_path / "absent.json")


def test_keys_added_to_the_file_are_picked_up_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ApiKeyStore().save(path)
    keys = ReloadingKeyStore(path, interval_s=0)
    store = ApiKeyStore.load(path)
    token = store.add_key(HANOI)
    store.save(path)
    assert keys.current().authenticate(f"Bearer {token}") is not None


def test_a_broken_file_accepts_no_key_until_it_is_good_again(tmp_path: Path) -> None:
    """A broken file used to keep the last good keys silently (a deleted file left revoked keys working)."""
    path = tmp_path / "keys.json"
    store = ApiKeyStore()
    token = store.add_key(HANOI)
    store.save(path)
    states: list[bool] = []
    keys = ReloadingKeyStore(path, interval_s=0, on_state=states.append)
    path.write_text(json.dumps({"broken": True}))
    assert keys.current().authenticate(f"Bearer {token}") is None
    assert keys.problem() is not None
    store.save(path)
    assert keys.current().authenticate(f"Bearer {token}") is not None
    assert keys.problem() is None
    assert states == [True, False, True]


@pytest.mark.parametrize(
    ("agency", "grants", "source", "allowed"),
    [
        (HCMC, (), HCMC, True),  # itself
        (HCMC, (), HCMC_JUSTICE, True),  # a department of its province
        (HCMC, (), "000.12.34.H29", True),  # any unit rolling up to province 79
        (HCMC, (), HANOI, False),  # another province
        (HCMC, (), FINANCE, False),  # a ministry
        (HCMC_JUSTICE, (), HCMC, False),  # a department does not speak for its People's Committee
        (HCMC_JUSTICE, (), "000.00.04.H29", False),  # nor for another department
        (FINANCE, (), HCMC, False),  # a ministry has no province
        (FINANCE, (GOV_OFFICE,), GOV_OFFICE, True),  # an explicit grant
        (HANOI, (HCMC_JUSTICE,), HCMC, False),  # a grant names one unit, not its province
    ],
)
def test_who_may_publish_for_which_source(
    agency: str, grants: tuple[str, ...], source: str, allowed: bool
) -> None:
    authorizer = Authorizer(load_catalog())
    assert authorizer.may_publish(Principal(AgencyCode(agency), frozenset(grants)), source) is allowed
