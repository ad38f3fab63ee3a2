"""Signing keys: private key files (0600, never overwritten), keyring entries, validity and revocation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bus.errors import ConfigError
from bus.settings import Settings
from bus.signing import KeyEntry, agency_of_key_id, create_agency_key, load_private_key, principal_of_settings
from bus.signing.keys import write_private_key

pytestmark = pytest.mark.unit


def test_a_new_key_is_written_0600_and_its_entry_round_trips(tmp_path: Path) -> None:
    made = create_agency_key("000.00.00.H29", tmp_path, valid_from_ms=1000, valid_until_ms=5000)
    assert stat.S_IMODE(made.private_key_file.stat().st_mode) == 0o600
    assert made.private_key_file.name == f"{made.entry.key_id}.pem"
    assert agency_of_key_id(made.entry.key_id) == "000.00.00.H29"
    assert KeyEntry.from_json(made.entry.to_json()) == made.entry
    private = load_private_key(made.private_key_file)
    made.entry.verifier().verify(private.sign(b"x"), b"x")  # the entry holds the matching public key


def test_a_key_file_readable_by_others_is_refused_and_none_is_overwritten(tmp_path: Path) -> None:
    made = create_agency_key("000.00.00.H29", tmp_path)
    made.private_key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="0600"):
        load_private_key(made.private_key_file)
    with pytest.raises(ConfigError, match="already exists"):
        write_private_key(made.private_key_file, Ed25519PrivateKey.generate())


def test_validity_and_revocation_are_half_open_intervals(tmp_path: Path) -> None:
    entry = create_agency_key("000.00.00.G22", tmp_path, valid_from_ms=100, valid_until_ms=200).entry
    assert [entry.usable_at(ms) for ms in (99, 100, 199, 200)] == [False, True, True, False]
    revoked = entry.revoked(150)
    assert [revoked.usable_at(ms) for ms in (149, 150)] == [True, False]


def test_the_sdk_principal_is_the_agency_of_its_configured_key() -> None:
    assert principal_of_settings(Settings()) is None
    settings = Settings()
    settings.signing.key_id = "000.00.00.H29#0011aabb"
    principal = principal_of_settings(settings)
    assert principal is not None
    assert principal.agency == "000.00.00.H29"


def test_a_malformed_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        KeyEntry.from_json({"key_id": "x", "agency": "y", "public_key": "AAAA", "valid_from_ms": 0})
