"""Detached CMS seals, CAdES-B-B: built with asn1crypto, signed with ``cryptography`` keys.

``cryptography``'s PKCS#7 builder cannot add signed attributes of its own, and a CAdES
baseline signature (ETSI EN 319 122-1, B-B level) needs one: ESS ``signing-certificate-v2``
(RFC 5035), the SHA-256 of the signer's certificate, so that the signature covers *which*
certificate signed and an attacker cannot swap in another certificate with the same key. So
the SignedData is built here (:func:`build_signed_data`): signed attributes content-type,
signing-time, message-digest and signing-certificate-v2 (ESSCertIDv2 with issuerSerial),
DER-sorted as a SET OF, signed with the sealing key (ECDSA or RSA PKCS#1 v1.5, SHA-256).

Verification parses the SignedData with asn1crypto and checks, in order (RFC 5652 5.4 and
5.6, RFC 5035 5.4): one signer; its certificate is in the structure; each signed attribute
once, single-valued; content-type and message-digest match the content; signing-certificate-v2
is present and names the signer's certificate; the signature over the DER of the signed
attributes verifies with the certificate's key; then the signer's identity
(:mod:`vault.seal.identity`: not a CA, key usage, not a TSA, pinned fingerprint, chain,
validity at the time the seal is dated by).
The same files check with ``openssl cms -verify -binary -inform DER ... -purpose any`` and
with pyHanko's generic CMS validation (tests/test_seal_identity.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from vault.errors import SealError
from vault.keys.pki import load_cert, load_private_key
from vault.seal.identity import SealTrust, check_seal_identity, fingerprint

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

    def seal(self, data: bytes, *, signing_time: dt.datetime | None = None) -> bytes:
        """DER detached CMS SignedData over ``data``, CAdES-B-B (see the module docstring)."""
        return build_signed_data(self.cert, self._key, data, signing_time=signing_time or dt.datetime.now(dt.UTC))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _attr(kind: str, value: object) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": [value]})


def signing_certificate_v2(cert: x509.Certificate) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 (RFC 5035): one ESSCertIDv2, SHA-256 (the DEFAULT, so left
    out of the DER) of the certificate, with its issuer and serial number."""
    der = cert.public_bytes(serialization.Encoding.DER)
    parsed = asn1_x509.Certificate.load(der)
    return tsp.SigningCertificateV2(
        {
            "certs": [
                tsp.ESSCertIDv2(
                    {
                        "cert_hash": hashlib.sha256(der).digest(),
                        "issuer_serial": {
                            "issuer": [asn1_x509.GeneralName({"directory_name": parsed.issuer})],
                            "serial_number": parsed.serial_number,
                        },
                    }
                )
            ]
        }
    )


@functools.lru_cache(maxsize=16)
def _cert_parts(cert_der: bytes) -> tuple[bytes, bytes, bytes]:
    """The DER of what a seal repeats for one certificate (the certificate, its signer
    identifier, the content-type attribute), built once: asn1crypto re-serialises a structure
    built from parsed parts on every dump, which cost ~20 ms per seal; a part loaded from
    DER is written back as is. The bytes are the same as building them each time."""
    parsed = asn1_x509.Certificate.load(cert_der)
    sid = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": parsed.issuer, "serial_number": parsed.serial_number}
            )
        }
    )
    return cert_der, sid.dump(), _attr("content_type", "data").dump()


@functools.lru_cache(maxsize=16)
def _signing_certificate_attr(cert_der: bytes) -> bytes:
    der: bytes = _attr(
        "signing_certificate_v2", signing_certificate_v2(x509.load_der_x509_certificate(cert_der))
    ).dump()
    return der


def build_signed_data(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    data: bytes,
    *,
    signing_time: dt.datetime,
    signed_certificate: x509.Certificate | None = None,
    with_signing_certificate: bool = True,
) -> bytes:
    """A detached SignedData over ``data`` by ``cert``/``key``.

    ``signed_certificate`` and ``with_signing_certificate`` exist for tests only: they build the
    forgeries verification must refuse (an attribute naming another certificate, none at all).
    """
    cert_der, sid_der, content_type_der = _cert_parts(cert.public_bytes(serialization.Encoding.DER))
    when = signing_time.astimezone(dt.UTC).replace(microsecond=0)
    time = core.UTCTime(when) if 1950 <= when.year < 2050 else core.GeneralizedTime(when)  # RFC 5652 11.3
    attrs = [
        cms.CMSAttribute.load(content_type_der),
        _attr("signing_time", cms.Time({"utc_time" if isinstance(time, core.UTCTime) else "generalized_time": time})),
        _attr("message_digest", hashlib.sha256(data).digest()),
    ]
    if with_signing_certificate:
        signed = (signed_certificate or cert).public_bytes(serialization.Encoding.DER)
        attrs.append(cms.CMSAttribute.load(_signing_certificate_attr(signed)))
    # DER SET OF: sorted by encoding (each encoding computed once)
    signed_attrs = cms.CMSAttributes([a for _d, a in sorted(((a.dump(), a) for a in attrs), key=lambda da: da[0])])
    tbs = signed_attrs.dump()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        sig_alg = "sha256_ecdsa"
    else:
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        sig_alg = "rsassa_pkcs1v15"
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier.load(sid_der),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sig_alg}),
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": cms.ContentInfo({"content_type": "data"}),
            "certificates": [cms.CertificateChoices({"certificate": asn1_x509.Certificate.load(cert_der)})],
            "signer_infos": [signer],
        }
    )
    der: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    return der


@dataclass(frozen=True)
class SealInfo:
    signer: str
    signer_fingerprint: str
    signing_time: dt.datetime | None
    #: True when the signer's fingerprint was checked against fingerprints the verifier chose
    pinned: bool = False


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
    p7s: bytes,
    content: bytes,
    roots: SealTrust | Sequence[x509.Certificate],
    *,
    at: dt.datetime | None = None,
) -> SealInfo:
    """Check a detached seal over ``content``; raise :class:`SealError` naming what failed.

    ``roots`` is the vault's :class:`SealTrust` (anchors and pinned fingerprints); a bare list
    of anchors checks every rule but the fingerprint pin (see :mod:`vault.seal.identity`).
    ``at`` is the time the seal is dated by (the token's genTime); without it, the seal's own
    signing time.

    asn1crypto parses lazily, so a malformed field can surface anywhere below: every parse
    error, wherever it appears, becomes a :class:`SealError`.
    """
    try:
        return _verify_detached(p7s, content, roots, at)
    except SealError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, UnsupportedAlgorithm, x509.InvalidVersion) as e:
        raise SealError("the seal is malformed", detail=f"{type(e).__name__}: {e}") from e


def _verify_detached(
    p7s: bytes, content: bytes, roots: SealTrust | Sequence[x509.Certificate], at: dt.datetime | None
) -> SealInfo:
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
    by_type: dict[str, object] = {}
    for a in attrs:
        kind = a["type"].native
        if kind in by_type:
            raise SealError("a signed attribute of the seal occurs twice", detail=str(kind))
        if len(a["values"]) != 1:
            raise SealError("a signed attribute of the seal does not have exactly one value", detail=str(kind))
        by_type[kind] = a["values"][0]
    ct = by_type.get("content_type")
    if not isinstance(ct, core.Asn1Value) or ct.native != "data":
        raise SealError("the seal's content-type attribute is not id-data")
    expected = hashlib.new(digest_name, content).digest()
    md = by_type.get("message_digest")
    if not isinstance(md, core.OctetString) or md.native != expected:
        sealed = md.native.hex() if isinstance(md, core.OctetString) else "nothing"
        raise SealError("content digest does not match the seal", detail=f"sealed {sealed}, content {expected.hex()}")
    _check_signing_certificate(by_type.get("signing_certificate_v2"), cert)
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

    st = by_type.get("signing_time")
    signing_time: dt.datetime | None = st.native if isinstance(st, cms.Time) else None
    when = at or signing_time or dt.datetime.now(dt.UTC)
    check_seal_identity(cert, roots, when)
    return SealInfo(
        signer=cert.subject.rfc4514_string(),
        signer_fingerprint=fingerprint(cert),
        signing_time=signing_time,
        pinned=isinstance(roots, SealTrust) and roots.pinned,
    )


_NO_SIGNING_CERT = (
    "the seal has no signing-certificate-v2 attribute (ESS, RFC 5035): "
    "its signer's certificate is not covered by the signature"
)


def _check_signing_certificate(value: object, cert: x509.Certificate) -> None:
    """RFC 5035 5.4: the first ESSCertIDv2 names the signer's certificate (its hash, and its
    issuer and serial number when given)."""
    if value is None:
        raise SealError(_NO_SIGNING_CERT)
    if not isinstance(value, tsp.SigningCertificateV2) or len(value["certs"]) == 0:
        raise SealError("the seal's signing-certificate-v2 attribute is malformed")
    first = value["certs"][0]
    alg = first["hash_algorithm"]["algorithm"].native
    if alg not in _HASHES:
        raise SealError("unsupported hash in the seal's signing-certificate-v2 attribute", detail=str(alg))
    der = cert.public_bytes(serialization.Encoding.DER)
    if hashlib.new(alg, der).digest() != first["cert_hash"].native:
        raise SealError(
            "the seal's signing-certificate-v2 attribute names another certificate than its signer",
            detail=f"attribute {alg} {first['cert_hash'].native.hex()}, signer sha256:{fingerprint(cert)}",
        )
    issuer_serial = first["issuer_serial"]
    if issuer_serial.native is not None:
        parsed = asn1_x509.Certificate.load(der)
        names = [g.chosen for g in issuer_serial["issuer"] if g.name == "directory_name"]
        if issuer_serial["serial_number"].native != parsed.serial_number or parsed.issuer not in names:
            raise SealError(
                "the seal's signing-certificate-v2 issuerSerial does not match its signer",
                detail=f"serial {issuer_serial['serial_number'].native:x}, signer serial {parsed.serial_number:x}",
            )
