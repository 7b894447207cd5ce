"""The RFC 3161 token of an archive timestamp (the ``timeStamp`` ContentInfo): no I/O.

An evidence record holds tokens, not ``TimeStampResp`` messages, and its renewals hash them
(RFC 4998 5.2: "the content of the timeStamp field"), as stored. Bouncy Castle hashes its own
DER re-encoding of a token instead (bouncycastle-ers note, point 4), so records should hold
tokens in DER: :func:`der_token` puts the certificate SET in order (real TSAs list it
[signer, CA], :func:`vault.timestamp.client.der_ordered_sets`), and :func:`der_problem` says
whether anything else is not DER (it is not refused: the RFC hashes the bytes as stored).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto.core import Void

from vault.errors import InputError
from vault.timestamp.asn1 import TimeStampResp
from vault.timestamp.client import der_ordered_sets


@dataclass(frozen=True)
class TokenFacts:
    """What a token says, read without verifying anything."""

    gen_time: dt.datetime
    #: dotted OID of the messageImprint's hashAlgorithm
    imprint_oid: str
    #: the messageImprint's hashedMessage
    imprint: bytes


def as_tsr(token_der: bytes) -> bytes:
    """A granted ``TimeStampResp`` around a token, as :func:`vault.timestamp.client.verify_token` takes it."""
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        dumped: bytes = TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
    except (ValueError, TypeError) as e:
        raise InputError("the timestamp token is not a DER ContentInfo", detail=str(e)) from e
    return dumped


def _token_of(tsr: bytes) -> bytes:
    try:
        resp = TimeStampResp.load(tsr, strict=True)
        status = resp["status"]["status"].native
        if status != "granted" or isinstance(resp["time_stamp_token"], Void):
            raise InputError("the TimeStampResp grants no token", detail=str(status))
        token: bytes = resp["time_stamp_token"].dump()
    except (ValueError, TypeError, KeyError) as e:
        raise InputError("not a DER TimeStampResp", detail=str(e)) from e
    return token


@functools.lru_cache(maxsize=1024)  # pure; every item of a batch carries the same token
def der_token(token_der: bytes) -> bytes:
    """``token_der`` (a ContentInfo) with its certificate and CRL SETs in DER order (unsigned
    fields: their order carries no meaning), everything else byte for byte."""
    token = _token_of(der_ordered_sets(as_tsr(token_der)))
    token_facts(token)
    return token


#: universal string types: DER forbids their constructed form
_STRINGS = frozenset({3, 4, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30})


def _der_walk(data: bytes, pos: int, end: int) -> None:
    """Raise ValueError at the first TLV in ``data[pos:end]`` that is not DER (generic rules)."""
    while pos < end:
        first = data[pos]
        pos += 1
        number = first & 0x1F
        if number == 0x1F:
            number = 0
            if data[pos] == 0x80:
                raise ValueError("tag number not minimal")
            while True:
                b = data[pos]
                pos += 1
                number = number << 7 | (b & 0x7F)
                if not b & 0x80:
                    break
        n = data[pos]
        pos += 1
        if n == 0x80:
            raise ValueError("indefinite length")
        if n & 0x80:
            k = n & 0x7F
            if k > 4 or data[pos] == 0:
                raise ValueError("length not minimal")
            n = int.from_bytes(data[pos : pos + k], "big")
            pos += k
            if n < 0x80:
                raise ValueError("length not minimal")
        content = data[pos : pos + n]
        if len(content) != n or pos + n > end:
            raise ValueError("length beyond its container")
        universal, constructed = first >> 6 == 0, bool(first & 0x20)
        if universal and constructed and number in _STRINGS:
            raise ValueError(f"constructed string (tag {number})")
        if universal and number == 1 and (n != 1 or content[0] not in (0, 0xFF)):
            raise ValueError("BOOLEAN not 00 or FF")
        if (
            universal
            and number in (2, 10)
            and (n == 0 or (n > 1 and (content[0], content[1] >> 7) in ((0, 0), (0xFF, 1))))
        ):
            raise ValueError("INTEGER not minimal")
        if universal and number == 23 and (n != 13 or not content.endswith(b"Z")):
            raise ValueError("UTCTime not YYMMDDHHMMSSZ")
        if (
            universal
            and number == 24
            and (not content.endswith(b"Z") or (content[:-1].endswith((b"0", b".")) and b"." in content))
        ):
            raise ValueError("GeneralizedTime not DER")
        if constructed:
            if universal and number == 17:
                _der_sorted(content)
            _der_walk(data, pos, pos + n)
        pos += n


def _children(content: bytes) -> list[bytes]:
    """The encodings of the TLVs in ``content`` (already checked by :func:`_der_walk`)."""
    out, pos = [], 0
    while pos < len(content):
        start = pos
        pos += 1
        if content[start] & 0x1F == 0x1F:
            while content[pos] & 0x80:
                pos += 1
            pos += 1
        n = content[pos]
        pos += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(content[pos : pos + k], "big")
            pos += k
        pos += n
        out.append(content[start:pos])
    return out


def _der_sorted(content: bytes) -> None:
    elements = _children(content)
    if elements != sorted(elements):
        raise ValueError("SET OF not in DER order")


def der_problem(token_der: bytes) -> str | None:
    """None when the token is DER, else what is not. Renewals hash a token as stored (RFC 4998
    5.2), Bouncy Castle hashes its DER re-encoding: a renewed non-DER token fails there.

    Generic rules (definite minimal lengths, primitive strings, BOOLEAN, INTEGER, times,
    universal SETs sorted), and the implicitly tagged SETs of a SignedData (certificates,
    crls, signed and unsigned attributes) sorted."""
    try:
        _der_walk(token_der, 0, len(token_der))
        signed = cms.ContentInfo.load(token_der)["content"]
        fields = [signed["certificates"], signed["crls"]]
        for si in signed["signer_infos"]:
            fields += [si["signed_attrs"], si["unsigned_attrs"]]
        for f in fields:
            if not isinstance(f, Void) and f.contents is not None:
                _der_sorted(f.contents)
    except (ValueError, IndexError, TypeError, KeyError) as e:
        return str(e) or type(e).__name__
    return None


def token_from_tsr(tsr: bytes) -> bytes:
    """The token of a granted ``TimeStampResp`` (``timestamp.tsr``), in DER (:func:`der_token`)."""
    return der_token(_token_of(tsr))


@functools.lru_cache(maxsize=1024)
def token_facts(token_der: bytes) -> TokenFacts:
    """genTime and messageImprint of a token; :class:`InputError` when it is not a SignedData over a TSTInfo."""
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        if token["content_type"].native != "signed_data":
            raise InputError("the timestamp is not a CMS SignedData", detail=str(token["content_type"].native))
        encap = token["content"]["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise InputError("the timestamp does not encapsulate a TSTInfo", detail=str(encap["content_type"].native))
        info = encap["content"].parsed
        imprint = info["message_imprint"]
        gen_time = info["gen_time"].native
        return TokenFacts(
            gen_time=gen_time.astimezone(dt.UTC),
            imprint_oid=imprint["hash_algorithm"]["algorithm"].dotted,
            imprint=imprint["hashed_message"].native,
        )
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise InputError("the timestamp token is malformed", detail=str(e)) from e
