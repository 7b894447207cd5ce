"""Detached CMS seals: made with ``cryptography``'s PKCS#7 builder, checked with asn1crypto.

``cryptography`` can build CMS but not verify it, so verification parses the SignedData with
asn1crypto and checks, in order (RFC 5652 section 5.4 and 5.6): one signer; its certificate
is in the structure; content-type and message-digest signed attributes match the content;
the signature over the DER of the signed attributes verifies with the certificate's key; the
certificate was issued by a trusted seal CA and was valid when the seal was made.
The same files check with ``openssl cms -verify -binary -inform DER ... -purpose any``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from vault.errors import SealError
from vault.keys.pki import load_cert, load_private_key
from vault.keys.trust import issuing_anchor

_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class Sealer:
    """Holds the sealing certificate and key; makes detached seals."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
        self.cert = cert
        self._key = key

    @classmethod
    def from_files(cls, cert: Path, key: Path) -> Sealer:
        k = load_private_key(key)
        if not isinstance(k, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise SealError("the sealing key must be ECDSA or RSA", detail=str(key))
        return cls(load_cert(cert), k)

    def seal(self, data: bytes) -> bytes:
        """DER detached CMS SignedData over ``data`` (signing-time included)."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(data)
            .add_signer(self.cert, self._key, hashes.SHA256())
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class SealInfo:
    signer: str
    signer_fingerprint: str
    signing_time: dt.datetime | None


def _signer_cert(signed: cms.SignedData, sid: cms.SignerIdentifier) -> x509.Certificate:
    if sid.name != "issuer_and_serial_number":
        raise SealError("seal signer is not identified by issuer and serial number")
    want = sid.chosen
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        c = choice.chosen
        if c.issuer == want["issuer"] and c.serial_number == want["serial_number"].native:
            return x509.load_der_x509_certificate(c.dump())
    raise SealError("the seal does not carry its signer's certificate")


def verify_detached(
    p7s: bytes, content: bytes, roots: list[x509.Certificate], *, at: dt.datetime | None = None
) -> SealInfo:
    """Check a detached seal over ``content``; raise :class:`SealError` naming what failed.

    asn1crypto parses lazily, so a malformed field can surface anywhere below: every parse
    error, wherever it appears, becomes a :class:`SealError`.
    """
    try:
        return _verify_detached(p7s, content, roots, at)
    except SealError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, UnsupportedAlgorithm, x509.InvalidVersion) as e:
        raise SealError("the seal is malformed", detail=f"{type(e).__name__}: {e}") from e


def _verify_detached(p7s: bytes, content: bytes, roots: list[x509.Certificate], at: dt.datetime | None) -> SealInfo:
    try:
        info = cms.ContentInfo.load(p7s)
        if info["content_type"].native != "signed_data":
            raise SealError("the seal is not a CMS SignedData")
        signed = info["content"]
        signer_infos = signed["signer_infos"]
        _ = signed["encap_content_info"]["content"].native
    except (ValueError, TypeError, KeyError) as e:
        raise SealError("the seal is not valid DER CMS", detail=str(e)) from e
    if signed["encap_content_info"]["content"].native is not None:
        raise SealError("the seal is not detached")
    if signed["encap_content_info"]["content_type"].native != "data":
        raise SealError("the seal's encapsulated content type is not id-data")
    if len(signer_infos) != 1:
        raise SealError("the seal must have exactly one signer", detail=str(len(signer_infos)))
    si = signer_infos[0]
    cert = _signer_cert(signed, si["sid"])

    digest_name = si["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise SealError("unsupported seal digest algorithm", detail=str(digest_name))
    attrs = si["signed_attrs"]
    if not attrs:
        raise SealError("the seal has no signed attributes")
    by_type = {a["type"].native: a["values"][0] for a in attrs}
    if by_type.get("content_type") is None or by_type["content_type"].native != "data":
        raise SealError("the seal's content-type attribute is not id-data")
    expected = hashlib.new(digest_name, content).digest()
    md = by_type.get("message_digest")
    if md is None or md.native != expected:
        raise SealError(
            "content digest does not match the seal",
            detail=f"sealed {md.native.hex() if md is not None else 'nothing'}, content {expected.hex()}",
        )
    tbs = b"\x31" + attrs.dump()[1:]  # signed attributes are signed as a SET OF (RFC 5652 5.4)
    sig = si["signature"].native
    pub = cert.public_key()
    h = _HASHES[digest_name]()
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, tbs, ec.ECDSA(h))
        elif isinstance(pub, rsa.RSAPublicKey):
            if si["signature_algorithm"]["algorithm"].native == "rsassa_pss":
                pub.verify(sig, tbs, padding.PSS(padding.MGF1(h), padding.PSS.DIGEST_LENGTH), h)
            else:
                pub.verify(sig, tbs, padding.PKCS1v15(), h)
        else:
            raise SealError("unsupported seal key type")
    except InvalidSignature:
        raise SealError("the seal signature does not verify") from None

    signing_time = by_type["signing_time"].native if "signing_time" in by_type else None
    when = at or signing_time or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise SealError("the sealing certificate was not valid when the seal was made", detail=when.isoformat())
    if issuing_anchor(cert, roots) is None:
        raise SealError(
            "the sealing certificate is not issued by a trusted seal CA",
            detail=cert.issuer.rfc4514_string(),
        )
    return SealInfo(
        signer=cert.subject.rfc4514_string(),
        signer_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        signing_time=signing_time,
    )
