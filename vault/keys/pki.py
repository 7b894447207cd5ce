"""Development PKI: a sealing CA and certificate, a TSA CA and certificate.

Production points the configuration at certificates and keys issued elsewhere (a qualified
trust service, an HSM); this module only exists so that a fresh machine can run the vault
and its tests with a real, verifiable chain. Every file is written atomically and private
keys get mode 0600.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vault.errors import ConfigError, KeyError_


@dataclass(frozen=True)
class CertPair:
    """A certificate and the path of its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class DevPKI:
    """Paths of the generated development PKI."""

    seal_ca: CertPair
    seal: CertPair
    tsa_ca: CertPair
    tsa: CertPair


def _name(common_name: str, org: str = "Evidence Vault (development)") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_key() -> ec.EllipticCurvePrivateKey:
    """ECDSA P-256: small signatures, accepted by openssl, rfc3161-client and pyHanko."""
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key(bits: int = 3072) -> rsa.RSAPrivateKey:
    """RSA-3072 for the development TSA: every RFC 3161 verifier reads it, including
    rfc3161ng, which verifies RSA PKCS#1 v1.5 signatures only."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_ca(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    now: dt.datetime | None = None,
    days: int = 365 * 30,
) -> x509.Certificate:
    """A self-signed CA certificate allowed to sign end-entity certificates only."""
    now = now or dt.datetime.now(dt.UTC)
    name = _name(common_name)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue(
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    common_name: str,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    now: dt.datetime | None = None,
    days: int = 365 * 10,
) -> x509.Certificate:
    """An end-entity certificate signed by ``ca_cert``: basicConstraints CA:false and keyUsage
    digitalSignature + nonRepudiation, both critical, what a sealing certificate needs
    (:mod:`vault.seal.identity`); with ``eku=[timeStamping]`` it is a TSA's instead.

    ``eku=None`` leaves the extension out; tests use that (and ``eku_critical=False``) to
    build the broken TSA certificates that verification must refuse.
    """
    now = now or dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(ca_key, hashes.SHA256())


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_key(path: Path, key: PrivateKeyTypes) -> None:
    _write(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )


def write_cert(path: Path, cert: x509.Certificate) -> None:
    _write(path, cert.public_bytes(serialization.Encoding.PEM))


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError as e:
        raise ConfigError("certificate file not found", detail=str(path)) from e
    except ValueError as e:
        raise ConfigError("not a PEM certificate", detail=f"{path}: {e}") from e


def load_certs(path: Path) -> list[x509.Certificate]:
    """All certificates of a PEM bundle (a trust store may hold several anchors)."""
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except FileNotFoundError as e:
        raise ConfigError("certificate file not found", detail=str(path)) from e
    except ValueError as e:
        raise ConfigError("not a PEM certificate bundle", detail=f"{path}: {e}") from e


def load_private_key(path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError as e:
        raise KeyError_("private key file not found", detail=str(path)) from e
    except (ValueError, TypeError) as e:
        raise KeyError_("not a usable PEM private key", detail=f"{path}: {e}") from e


def generate_dev_pki(directory: Path, *, seal: bool = True, tsa: bool = True) -> DevPKI:
    """Create the development PKI under ``directory`` unless it is already there (idempotent)."""
    pki = DevPKI(
        seal_ca=CertPair(directory / "seal-ca.pem", directory / "seal-ca.key"),
        seal=CertPair(directory / "seal.pem", directory / "seal.key"),
        tsa_ca=CertPair(directory / "tsa-ca.pem", directory / "tsa-ca.key"),
        tsa=CertPair(directory / "tsa.pem", directory / "tsa.key"),
    )
    for ca, leaf, ca_cn, leaf_cn, eku, make_leaf_key in (
        (pki.seal_ca, pki.seal, "Vault Sealing CA", "Vault Seal", None, new_key),
        (
            pki.tsa_ca,
            pki.tsa,
            "Vault TSA CA",
            "Vault Time-Stamping Authority",
            [ExtendedKeyUsageOID.TIME_STAMPING],
            new_rsa_key,
        ),
    ):
        if not (seal if ca is pki.seal_ca else tsa):
            continue
        present = [p for p in (ca.cert, ca.key, leaf.cert, leaf.key) if p.exists()]
        if len(present) == 4:
            continue
        if present:  # never overwrite part of a key set: old seals and tokens chain to it
            missing = sorted(str(p) for p in (ca.cert, ca.key, leaf.cert, leaf.key) if not p.exists())
            raise ConfigError(
                "incomplete key set: refusing to generate new keys over existing ones",
                detail="missing " + ", ".join(missing) + "; restore them from backup",
            )
        ca_key = new_key()
        ca_cert = make_ca(ca_cn, ca_key)
        leaf_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = make_leaf_key()
        leaf_cert = issue(ca_cert, ca_key, leaf_cn, leaf_key, eku=eku)
        write_key(ca.key, ca_key)
        write_cert(ca.cert, ca_cert)
        write_key(leaf.key, leaf_key)
        write_cert(leaf.cert, leaf_cert)
    return pki
