"""A local certificate authority for the secure dev stack, made with the ``cryptography`` package.

``up --secure`` makes, once per state directory (``<state_dir>/tls/``)::

    ca.pem, ca-key.pem          the CA (10 years); ca.pem is what clients set as LGSP_KAFKA__SSL_CAFILE
    broker.pem, broker-key.pem  the brokers' certificate (1 year), for 127.0.0.1, ::1 and localhost

Private keys are written 0600. Certificate rotation: delete ``broker*.pem`` (or the whole ``tls/``
directory, then clients need the new ``ca.pem``) and run ``up`` again; see docs/operators.md.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_DAYS = 3650
_LEAF_DAYS = 365


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA and a leaf certificate live."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def broker_cert(self) -> Path:
        return self.directory / "broker.pem"

    @property
    def broker_key(self) -> Path:
        return self.directory / "broker-key.pem"


def ensure_certificates(directory: Path, *, host: str) -> TlsFiles:
    """The CA and the brokers' certificate in ``directory``, made when missing (existing ones are kept)."""
    files = TlsFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not (files.ca_cert.exists() and files.ca_key.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(files.ca_key, key)
        files.ca_cert.write_bytes(_pem(_ca_certificate(key)))
    if not (files.broker_cert.exists() and files.broker_key.exists()):
        issue_leaf(files, files.broker_cert, files.broker_key, "lgsp-broker", hosts=[host, "localhost"])
    return files


def issue_leaf(
    files: TlsFiles, cert_path: Path, key_path: Path, common_name: str, *, hosts: list[str]
) -> None:
    """A certificate signed by the CA for ``hosts`` (names or IP addresses), for servers and clients."""
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key} is not the EC key this CA makes")
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "127.0.0.1", "::1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(key_path, key)
    # Kafka reads the chain from the certificate file: the leaf, then the CA.
    cert_path.write_bytes(_pem(cert) + _pem(ca_cert))


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lgsp local dev CA")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM (what Kafka's PEM key store reads), created 0600 so it is never readable by others."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
