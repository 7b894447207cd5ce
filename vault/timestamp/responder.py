"""An in-process RFC 3161 time-stamping responder (asn1crypto + cryptography).

The vault ships its own responder so a fresh machine (and the test suite) has a TSA whose
tokens verify with rfc3161-client and ``openssl ts -verify``, without network access.
Production points the vault at external, qualified TSAs instead.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vault.errors import InputError
from vault.timestamp.asn1 import DIGEST_SIZES, TimeStampResp

#: Keys the responder can sign with.
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Placeholder TSA policy under IANA's documentation enterprise number 32473 (RFC 5612):
#: it can never collide with a real policy; deployments set their TSA's own policy OID.
DEFAULT_POLICY_OID = "1.3.6.1.4.1.32473.3161.1"


def now_utc() -> datetime:
    """The default clock: an aware UTC datetime."""
    return datetime.now(UTC)


class _Rejection(Exception):
    """Internal: the request is refused with this failInfo and text."""

    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class TimeStampResponder:
    """Turns DER TimeStampReq bytes into DER TimeStampResp bytes; safe to share across threads."""

    def __init__(
        self,
        cert: x509.Certificate,
        key: PrivateKey,
        *,
        policy_oid: str = DEFAULT_POLICY_OID,
        clock: Callable[[], datetime] = now_utc,
        accuracy_ms: int = 1000,
    ) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise InputError("TSA key must be ECDSA or RSA", detail=type(key).__name__)
        spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            raise InputError("TSA key does not match the TSA certificate")
        if accuracy_ms < 0:
            raise InputError("accuracy_ms must not be negative")
        try:
            x509.ObjectIdentifier(policy_oid)
        except ValueError as e:
            raise InputError("TSA policy is not a dotted OID", detail=policy_oid) from e
        self._key = key
        self._cert_der = cert.public_bytes(Encoding.DER)
        # Keep DER and re-load per token: asn1crypto deep-copies and re-encodes a parsed
        # object placed into a new structure, which is slow and not thread-safe to share.
        parsed = asn1_x509.Certificate.load(self._cert_der)
        self._subject_der: bytes = parsed.subject.dump()
        self._issuer_der: bytes = parsed.issuer.dump()
        self._cert_serial: int = parsed.serial_number
        self._ess_attr_der = self._signing_certificate_v2()
        self.policy_oid = policy_oid
        self._clock = clock
        self._accuracy_ms = accuracy_ms
        # Serial = random 63-bit prefix drawn per instance || 64-bit counter: never repeats
        # within a process, and a restart draws a fresh prefix (collision odds ~2^-62).
        # 127 bits, positive, under RFC 3161's 160-bit limit.
        self._serial_prefix = secrets.randbits(63) | (1 << 62)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def _signing_certificate_v2(self) -> bytes:
        """ESS signing-certificate-v2 attribute (RFC 5035): binds the token to our cert."""
        issuer_serial = {
            "issuer": [asn1_x509.GeneralName({"directory_name": self._name(self._issuer_der)})],
            "serial_number": self._cert_serial,
        }
        # hash_algorithm stays at its DER default (SHA-256), so it is omitted.
        cert_id = {
            "cert_hash": hashlib.sha256(self._cert_der).digest(),
            "issuer_serial": issuer_serial,
        }
        ess = tsp.SigningCertificateV2({"certs": [cert_id]})
        attr = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]})
        der: bytes = attr.dump()
        return der

    @staticmethod
    def _name(der: bytes) -> asn1_x509.Name:
        return asn1_x509.Name.load(der)

    def _next_serial(self) -> int:
        with self._lock:
            n = next(self._counter)
        return (self._serial_prefix << 64) | (n & (2**64 - 1))

    def respond(self, request_der: bytes) -> bytes:
        """Answer one request; every refusal is a DER rejection, never an exception."""
        try:
            req = self._parse(request_der)
            granted: bytes = self._grant(req).dump()
            return granted
        except _Rejection as r:
            status = tsp.PKIStatusInfo(
                {
                    "status": "rejection",
                    "status_string": [r.text],
                    "fail_info": tsp.PKIFailureInfo({r.fail_info}),
                }
            )
            rejected: bytes = TimeStampResp({"status": status}).dump()
            return rejected

    def _parse(self, request_der: bytes) -> tsp.TimeStampReq:
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)
            _ = req.native  # asn1crypto parses lazily: force every field now
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
            raise _Rejection("bad_data_format", f"malformed TimeStampReq: {e}") from e
        if req["version"].native != "v1":
            raise _Rejection("bad_request", "only TimeStampReq version 1 is supported")
        imprint = req["message_imprint"]
        alg = imprint["hash_algorithm"]
        name = alg["algorithm"].native
        if name not in DIGEST_SIZES or alg["parameters"].native is not None:
            raise _Rejection("bad_alg", f"unsupported imprint algorithm {name}")
        if len(imprint["hashed_message"].native) != DIGEST_SIZES[name]:
            raise _Rejection("bad_data_format", f"imprint length does not match {name}")
        policy = req["req_policy"].native
        if policy is not None and req["req_policy"].dotted != self.policy_oid:
            raise _Rejection("unaccepted_policy", f"policy {policy} is not offered")
        if req["extensions"].native:
            raise _Rejection("unaccepted_extensions", "request extensions are not supported")
        return req

    def _grant(self, req: tsp.TimeStampReq) -> TimeStampResp:
        gen_time = self._clock()
        gen_time = gen_time.astimezone(UTC) if gen_time.tzinfo else gen_time.replace(tzinfo=UTC)
        gen_time = gen_time.replace(microsecond=gen_time.microsecond // 1000 * 1000)
        seconds, millis = divmod(self._accuracy_ms, 1000)
        accuracy = {"seconds": seconds} if seconds else {}
        if millis:
            accuracy["millis"] = millis
        info: dict[str, object] = {
            "version": "v1",
            "policy": self.policy_oid,
            "message_imprint": req["message_imprint"],
            "serial_number": self._next_serial(),
            "gen_time": gen_time,
            "accuracy": accuracy or None,
            "nonce": req["nonce"].native,
            "tsa": asn1_x509.GeneralName({"directory_name": self._name(self._subject_der)}),
        }
        tst_der = tsp.TSTInfo(info).dump()
        signer = self._signer_info(tst_der)
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(tst_der),
                },
                "certificates": ([asn1_x509.Certificate.load(self._cert_der)] if req["cert_req"].native else None),
                "signer_infos": [signer],
            }
        )
        return TimeStampResp(
            {
                "status": {"status": "granted"},
                "time_stamp_token": {"content_type": "signed_data", "content": signed_data},
            }
        )

    def _signer_info(self, tst_der: bytes) -> cms.SignerInfo:
        attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}),
                cms.CMSAttribute.load(self._ess_attr_der),
            ]
        )
        to_sign = attrs.dump()  # universal SET OF tag, DER-sorted by asn1crypto
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            signature = self._key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
            sig_alg = "sha256_ecdsa"
        else:
            signature = self._key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
            sig_alg = "rsassa_pkcs1v15"
        return cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._name(self._issuer_der),
                            "serial_number": self._cert_serial,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                # Re-loaded from DER: handing asn1crypto the built object makes it deep-copy
                # and re-encode it on retagging to [0], which costs tens of milliseconds.
                "signed_attrs": cms.CMSAttributes.load(to_sign),
                "signature_algorithm": {"algorithm": sig_alg},
                "signature": signature,
            }
        )
