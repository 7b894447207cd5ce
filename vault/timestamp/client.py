"""The vault's TSA client: request, verify and fail over between RFC 3161 authorities.

Verification is delegated to rfc3161-client (chain to a trust anchor at genTime, critical
timeStamping EKU, nonce, imprint); this module adds the HTTP transport it lacks, requests
over an already-computed digest, and turns its errors into readable vault errors. Tokens
whose unsigned certificate list is not in DER order, as real TSAs make them, are put in
order before that parser sees them (:func:`der_ordered_sets`).
"""

from __future__ import annotations

import http.client
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from asn1crypto import cms, tsp
from asn1crypto import x509 as x509_asn1
from asn1crypto.core import Asn1Value, Void
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response
from rfc3161_client.tsp import TimeStampResponse

from vault.errors import InputError, TimestampError, TSAUnavailable
from vault.keys.trust import issuing_anchor
from vault.timestamp.asn1 import DIGEST_SIZES, TimeStampResp

_HASH_OIDS = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
#: A token is a few KiB; anything far larger is not a TSA answering.
MAX_RESPONSE_BYTES = 1 << 20

# rfc3161-client's own EKU checks, and OpenSSL's timestamp purpose (PKCS7_verify), which
# fires first: it wants exactly one, critical, timeStamping EKU.
_EKU_ERRORS = ("EKU extension", "critical EKU", "unsuitable certificate purpose")
_REASONS = (
    ("Mismatch between messages", "token imprint does not match"),
    ("Nonce mismatch", "token nonce does not match the request"),
    ("Policy ID mismatch", "token policy does not match"),
    ("Error while verifying certificates", "token not signed by a trusted TSA"),
    ("Embedded certificate does not match", "token signer is not the pinned TSA certificate"),
    ("certificate details does not match", "token signer is not the pinned TSA certificate"),
    ("No leaf certificate found", "token does not carry its signer's certificate"),
    ("PKIStatus is not GRANTED", "TSA did not grant the token"),
)


@dataclass(frozen=True)
class TrustedTSA:
    """One configured authority and the anchors its tokens must chain to."""

    url: str
    roots: tuple[x509.Certificate, ...]
    tsa_cert: x509.Certificate | None = None
    timeout: float = 10.0
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True)
class Token:
    """A verified timestamp token and what the vault records about it."""

    tsr: bytes
    gen_time: datetime
    serial: int
    tsa_url: str
    tsa_cert: x509.Certificate
    imprint: bytes
    hash_name: str


def _check_digest(digest: bytes, hash_name: str) -> None:
    size = DIGEST_SIZES.get(hash_name)
    if size is None:
        raise InputError("unsupported imprint hash", detail=f"{hash_name} (use sha256/384/512)")
    if len(digest) != size:
        raise InputError("digest length does not match its hash", detail=f"{hash_name}: {len(digest)} bytes")


def build_request(digest: bytes, hash_name: str = "sha256") -> tuple[bytes, int]:
    """DER TimeStampReq over ``digest`` (nonce + certReq on) and its nonce.

    rfc3161-client's builder only hashes raw data; the vault timestamps Merkle roots it has
    already computed, so the request is built with asn1crypto instead.
    """
    _check_digest(digest, hash_name)
    nonce = secrets.randbits(63) | 1
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": hash_name},
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return req.dump(), nonce


def _status_problem(tsr: bytes) -> str | None:
    """None if granted, else a readable reason (status, failInfo, text)."""
    try:
        status = TimeStampResp.load(tsr, strict=True)["status"]
        code = status["status"].native
        texts = status["status_string"].native or []
        fail = sorted(status["fail_info"].native or ())
    except (ValueError, TypeError, KeyError) as e:
        return f"not a DER TimeStampResp ({e})"
    if code == "granted":
        return None
    return " ".join([f"status {code}", f"({', '.join(fail)})" if fail else "", *texts]).strip()


def _reason(e: Exception) -> str:
    msg = str(e)
    if any(s in msg for s in _EKU_ERRORS):
        return "TSA certificate lacks the critical timeStamping EKU"
    for needle, reason in _REASONS:
        if needle in msg:
            return reason
    return "token does not verify"


def _signer_cert(resp: TimeStampResponse, pinned: x509.Certificate | None) -> x509.Certificate:
    if pinned is not None:
        return pinned
    si = next(iter(resp.signed_data.signer_infos))
    for der in resp.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer == si.issuer and cert.serial_number == si.serial_number:
            return cert
    raise TimestampError("token does not carry its signer's certificate")


def _set_in_der_order(tsr: bytes, field: Asn1Value) -> bytes:
    """``tsr`` with the SET OF ``field`` (a part of ``tsr``) in DER order, changed in place."""
    if isinstance(field, Void) or field.contents is None:
        return tsr
    original: bytes = field.dump()
    contents: bytes = field.contents
    elements: list[bytes] = [child.dump() for child in field]
    if b"".join(elements) != contents or tsr.count(original) != 1:
        return tsr  # not a plain definite-length SET: leave it to the strict parser to refuse
    ordered = b"".join(sorted(elements))
    if ordered == contents:
        return tsr
    at = tsr.index(original)
    header = original[: len(original) - len(contents)]
    return tsr[:at] + header + ordered + tsr[at + len(original) :]


def der_ordered_sets(tsr: bytes) -> bytes:
    """``tsr`` with the token's ``certificates`` and ``crls`` SETs in DER order.

    OpenSSL (`certs =` in its TSA section) and other real TSAs list the certificates as
    [signer, CA, ...]; BER allows that, DER wants a SET OF sorted by encoding, and
    rfc3161-client's strict parser refuses such a token (``InvalidSetOrdering``) where
    openssl and pyHanko accept it. These two fields are outside what the TSA signs (the
    signature covers the signed attributes, which bind the TSTInfo by its digest and the
    signer's certificate by its ESS hash), so their order carries no meaning: sorting them
    changes nothing that verification checks, and every check then runs as for any token.
    The certificates keep their bytes and the SET its length, so the change is a permutation
    inside the field; anything else in the token is left byte for byte as it came.
    """
    try:
        signed = TimeStampResp.load(tsr)["time_stamp_token"]["content"]
        for name in ("certificates", "crls"):
            tsr = _set_in_der_order(tsr, signed[name])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        pass  # malformed: the strict parser below says so
    return tsr


def _tst_info(tsr: bytes) -> tsp.TSTInfo:
    resp = TimeStampResp.load(tsr)
    signed = resp["time_stamp_token"]["content"]
    info: tsp.TSTInfo = signed["encap_content_info"]["content"].parsed
    return info


def _check_anchored(signer: x509.Certificate, roots: Sequence[x509.Certificate], at: datetime) -> None:
    """The signer must BE a trusted root or be issued by one, valid at genTime.

    rfc3161-client adds a pinned ``tsa_certificate`` to the set of trusted certificates, so a
    self-signed certificate handed in as "the TSA certificate" (e.g. from a proof folder)
    would otherwise anchor itself. Trust comes from ``roots`` only.
    """
    if any(signer == r for r in roots):
        return
    root = issuing_anchor(signer, roots)
    if root is None:
        raise TimestampError(
            "token not signed by a trusted TSA",
            detail=f"signer {signer.subject.rfc4514_string()} is not issued by a configured TSA root",
        )
    if not root.not_valid_before_utc <= at <= root.not_valid_after_utc:
        raise TimestampError("token not signed by a trusted TSA", detail="the TSA CA was not valid at genTime")


def verify_token(
    tsr: bytes,
    digest: bytes,
    roots: Sequence[x509.Certificate],
    *,
    tsa_cert: x509.Certificate | None = None,
    nonce: int | None = None,
) -> Token:
    """Verify a DER TimeStampResp over ``digest``, at its genTime, against ``roots``.

    Certificates that have expired since genTime are fine: rfc3161-client validates the
    chain as of genTime. ``tsa_cert`` pins the signer (required when the token embeds no
    certificate); ``nonce`` is checked when given. A token whose embedded certificates are
    not in DER order is verified in DER order (:func:`der_ordered_sets`) and returned as it
    came.
    """
    if not roots:
        raise TimestampError("cannot verify token", detail="no trusted TSA roots configured")
    problem = _status_problem(tsr)
    if problem is not None:
        raise TimestampError("TSA did not grant the token", detail=problem)
    received, tsr = tsr, der_ordered_sets(tsr)
    try:
        resp = decode_timestamp_response(tsr)
        imprint = resp.tst_info.message_imprint
        hash_name = _HASH_OIDS.get(imprint.hash_algorithm.dotted_string)
        has_certs = len(resp.signed_data.certificates) > 0
    except ValueError as e:
        raise TimestampError("token is malformed", detail=str(e)) from e
    if hash_name is None:
        raise TimestampError("token imprint uses an unsupported hash", detail=str(imprint.hash_algorithm))
    if not has_certs and tsa_cert is None:
        raise TimestampError(
            "token carries no TSA certificate and none is pinned",
            detail="configure the TSA certificate (tsa_cert) to verify such tokens",
        )
    if len(digest) != DIGEST_SIZES[hash_name]:
        raise TimestampError("token imprint does not match", detail=f"token uses {hash_name}")
    builder = VerifierBuilder(roots=list(roots), tsa_certificate=tsa_cert, nonce=nonce)
    try:
        builder.build().verify(resp, digest)
    except (VerificationError, ValueError) as e:
        raise TimestampError(_reason(e), detail=str(e)) from e
    gen_time = _tst_info(tsr)["gen_time"].native  # asn1crypto keeps the millisecond fraction
    signer = _signer_cert(resp, tsa_cert)
    _check_anchored(signer, roots, gen_time)
    return Token(
        tsr=received,  # the token as the TSA issued it: the order of its certificates is not signed
        gen_time=gen_time.astimezone(UTC),
        serial=resp.tst_info.serial_number,
        tsa_url="",
        tsa_cert=signer,
        imprint=imprint.message,
        hash_name=hash_name,
    )


def _post(tsa: TrustedTSA, body: bytes) -> bytes:
    req = urllib.request.Request(
        tsa.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/timestamp-query",
            "Accept": "application/timestamp-reply",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=tsa.timeout) as r:
            data: bytes = r.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise TSAUnavailable(f"TSA {tsa.url} answered HTTP {e.code}", detail=str(e.reason)) from e
    except urllib.error.URLError as e:
        raise TSAUnavailable(f"TSA {tsa.url} unreachable", detail=str(e.reason)) from e
    except (TimeoutError, OSError, http.client.HTTPException) as e:
        raise TSAUnavailable(f"TSA {tsa.url} unreachable", detail=str(e) or type(e).__name__) from e
    if len(data) > MAX_RESPONSE_BYTES:
        raise TSAUnavailable(f"TSA {tsa.url} answered more than {MAX_RESPONSE_BYTES} bytes")
    return data


def request_token(tsa: TrustedTSA, digest: bytes, *, hash_name: str = "sha256") -> Token:
    """Ask ``tsa`` for a token over ``digest`` and return it only once it verifies."""
    body, nonce = build_request(digest, hash_name)
    tsr = _post(tsa, body)
    problem = _status_problem(tsr)
    if problem is not None:
        raise TSAUnavailable(f"TSA {tsa.url} refused the request", detail=problem)
    token = verify_token(tsr, digest, tsa.roots, tsa_cert=tsa.tsa_cert, nonce=nonce)
    if token.hash_name != hash_name:
        raise TimestampError("token imprint does not match", detail=f"token uses {token.hash_name}")
    return replace(token, tsa_url=tsa.url)


def stamp(tsas: Sequence[TrustedTSA], digest: bytes, *, hash_name: str = "sha256") -> Token:
    """First verified token from ``tsas`` in order; TSAUnavailable lists every failure."""
    _check_digest(digest, hash_name)
    failures: list[str] = []
    for tsa in tsas:
        try:
            return request_token(tsa, digest, hash_name=hash_name)
        except TimestampError as e:
            failures.append(f"{tsa.label}: {e}")
    if not failures:
        raise TSAUnavailable("no TSA configured")
    raise TSAUnavailable("no TSA issued a verifiable token", detail="; ".join(failures))


def chain_pem(token: Token, tsas: Sequence[TrustedTSA]) -> str:
    """What the index keeps of a token's trust (``batches.tsa_chain``, ``archive_stamps.tsa_chain``):
    the TSA's certificate, then the anchors of the configured TSA that issued the token."""
    trusted = next(t for t in tsas if t.url == token.tsa_url)
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in (token.tsa_cert, *trusted.roots))


def chain_certs(pem: str) -> list[x509.Certificate]:
    """The certificates of a stored :func:`chain_pem`: the TSA's first, then its anchors."""
    return x509.load_pem_x509_certificates(pem.encode())


def token_info(tsr: bytes) -> dict[str, str | int | None]:
    """Human-facing fields of a token for reports; does not verify anything."""
    try:
        resp = TimeStampResp.load(tsr, strict=True)
        if resp["status"]["status"].native != "granted":
            raise TimestampError("not a granted token", detail=_status_problem(tsr))
        signed: cms.SignedData = resp["time_stamp_token"]["content"]
        info = signed["encap_content_info"]["content"].parsed
        subject = _signer_subject(signed)
        if subject is None and info["tsa"].native is not None:
            subject = _general_name_text(info["tsa"])
        imprint = info["message_imprint"]
        return {
            "gen_time": info["gen_time"].native.astimezone(UTC).isoformat(),
            "serial": info["serial_number"].native,
            "policy": info["policy"].dotted,
            "hash_algorithm": imprint["hash_algorithm"]["algorithm"].native,
            "imprint": imprint["hashed_message"].native.hex(),
            "nonce": info["nonce"].native,
            "tsa_subject": subject,
        }
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise TimestampError("token is malformed", detail=str(e)) from e


def _signer_subject(signed: cms.SignedData) -> str | None:
    """Subject of the embedded certificate the SignerInfo points at, if it is embedded."""
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"]:
        cert = choice.chosen
        if not isinstance(cert, x509_asn1.Certificate):
            continue
        if sid.name == "subject_key_identifier":
            match = cert.key_identifier == sid.chosen.native
        else:
            ias = sid.chosen
            match = cert.issuer == ias["issuer"] and cert.serial_number == ias["serial_number"].native
        if match:
            return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    return None


def _general_name_text(name: x509_asn1.GeneralName) -> str:
    """The TSTInfo ``tsa`` field as text (a directoryName in practice)."""
    if name.name == "directory_name":
        return str(name.chosen.human_friendly)
    return str(name.native)
