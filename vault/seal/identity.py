"""Whose seal this is: the vault's own sealing certificate(s), pinned by SHA-256 fingerprint.

A seal CA, above all a public or qualified one, issues certificates to many customers; its
other certificates (a TSA's, another company's seal, the CA itself) must not make a seal that
verifies as the vault's. So a seal's signer passes these rules, each with its own message, in
this order (ADR 0009):

1. ``not_ca``      basicConstraints absent or cA false: a CA certificate does not seal
2. ``key_usage``   keyUsage present with digitalSignature or nonRepudiation (contentCommitment)
3. ``eku``         extendedKeyUsage, if present, does not name timeStamping: a TSA's certificate
                   time-stamps, it does not seal
4. ``pinned``      its SHA-256 fingerprint is one of the vault's (``seal_fingerprints``, always
                   with the configured ``seal_cert``'s; old ones stay listed after a rotation)
5. ``chain``       issued by a configured seal anchor
6. ``validity``    valid at the token's genTime (the signing time when there is no token)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from vault.errors import ConfigError, SealError
from vault.keys.trust import issuing_anchor

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: rule -> message of the SealError it raises (tests and docs match on these)
RULES = {
    "not_ca": "seal identity: the sealing certificate is a CA certificate (basicConstraints cA=true)",
    "key_usage": "seal identity: the sealing certificate lacks the digitalSignature/nonRepudiation key usage",
    "eku": "seal identity: the sealing certificate is a time-stamping certificate (extendedKeyUsage timeStamping)",
    "pinned": "seal identity: the sealing certificate is not one of the vault's pinned sealing certificates",
    "chain": "the sealing certificate is not issued by a trusted seal CA",
    "validity": "the sealing certificate was not valid when the seal was made",
}


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex (``openssl x509 -fingerprint -sha256``
    prints the same bytes in uppercase with colons)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def normalize_fingerprint(value: str) -> str:
    """Accept ``ab12...``, ``AB:12:...`` or ``sha256:ab12...``; return 64 lowercase hex digits."""
    v = value.strip().lower()
    v = v.removeprefix("sha256:").removeprefix("sha256 fingerprint=").replace(":", "")
    if not _HEX64.fullmatch(v):
        raise ConfigError("a seal fingerprint is the SHA-256 of a certificate: 64 hex digits", detail=value[:100])
    return v


@dataclass(frozen=True)
class SealTrust:
    """The seal anchors and the fingerprints of the certificates allowed to seal.

    ``pinned`` says where the fingerprints came from: True when the verifier chose them (the
    vault's settings, ``--seal-fingerprint``), False when they are the ones the material being
    verified declares about itself (a proof folder without a pin), which proves only that the
    folder is self-consistent. Iterating gives the anchors, so code that only publishes them
    can treat this as the list of seal CAs it used to be.
    """

    anchors: tuple[x509.Certificate, ...]
    fingerprints: frozenset[str]
    pinned: bool = True

    @classmethod
    def of(cls, anchors: Iterable[x509.Certificate], fingerprints: Iterable[str], *, pinned: bool = True) -> SealTrust:
        return cls(tuple(anchors), frozenset(normalize_fingerprint(f) for f in fingerprints), pinned)

    @classmethod
    def for_certificates(
        cls, anchors: Iterable[x509.Certificate], certs: Iterable[x509.Certificate], *, pinned: bool = True
    ) -> SealTrust:
        return cls(tuple(anchors), frozenset(fingerprint(c) for c in certs), pinned)

    def __iter__(self) -> Iterator[x509.Certificate]:
        return iter(self.anchors)

    def __len__(self) -> int:
        return len(self.anchors)


def _fail(rule: str, detail: str) -> SealError:
    return SealError(RULES[rule], detail=detail)


def check_seal_identity(
    cert: x509.Certificate, trust: SealTrust | Sequence[x509.Certificate], when: dt.datetime
) -> None:
    """Apply the rules above to the seal's signer; raise :class:`SealError` naming the first
    that fails. A bare list of anchors (library callers, tests) applies every rule but the pin."""
    subject = cert.subject.rfc4514_string()
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        raise _fail("not_ca", subject)
    try:
        ku: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is None or not (ku.digital_signature or ku.content_commitment):
        raise _fail("key_usage", f"{subject}: keyUsage {'absent' if ku is None else 'without either bit'}")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.TIME_STAMPING in eku:
        raise _fail("eku", subject)
    roots: Sequence[x509.Certificate]
    if isinstance(trust, SealTrust):
        fp = fingerprint(cert)
        if fp not in trust.fingerprints:
            source = "pinned" if trust.pinned else "declared by the folder"
            raise _fail("pinned", f"{subject} sha256:{fp}; {source}: {', '.join(sorted(trust.fingerprints)) or 'none'}")
        roots = trust.anchors
    else:
        roots = trust
    if issuing_anchor(cert, roots) is None:
        raise _fail("chain", cert.issuer.rfc4514_string())
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise _fail(
            "validity",
            f"{when.isoformat()} is outside {cert.not_valid_before_utc.isoformat()}"
            f" .. {cert.not_valid_after_utc.isoformat()}",
        )
