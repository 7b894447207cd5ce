"""Tokens from real TSAs whose embedded certificates are not in DER SET order.

OpenSSL configured to embed its chain (`certs = ...` in its TSA section) lists the
certificates as [TSA, CA], which BER allows and DER does not. openssl and pyHanko accept
such a token; rfc3161-client alone refuses it (``InvalidSetOrdering``). The vault puts the
unsigned certificate SET in order before verifying (vault/timestamp/client.py,
``der_ordered_sets``), and every check still runs: a tampered token is refused.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from rfc3161_client import decode_timestamp_response

from tsa_support import OpenSSLTSA
from vault.errors import TimestampError
from vault.keys.pki import load_cert
from vault.timestamp.asn1 import TimeStampResp
from vault.timestamp.client import TrustedTSA, build_request, der_ordered_sets, stamp, verify_token

DIGEST = hashlib.sha256(b"batch root").digest()


def with_chain(tsa: OpenSSLTSA, *extra: Path) -> OpenSSLTSA:
    """Make ``tsa`` embed its CA (and ``extra`` certificates) after its own certificate."""
    chain = tsa.dir / "chain.pem"
    chain.write_text("".join(p.read_text() for p in (tsa.ca_pem, *extra)))
    conf = tsa.config.read_text().replace("ess_cert_id_chain = no", "ess_cert_id_chain = yes")
    tsa.config.write_text(conf + f"certs = {chain}\n")
    return tsa


@pytest.fixture(scope="module")
def chained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSSLTSA]:
    tsa = with_chain(OpenSSLTSA(tmp_path_factory.mktemp("chained-tsa"))).start()
    yield tsa
    tsa.stop()


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> OpenSSLTSA:
    """Another TSA under another CA: its certificates must never make a token verify."""
    return OpenSSLTSA(tmp_path_factory.mktemp("stranger-tsa"))


def roots_of(tsa: OpenSSLTSA) -> list[x509.Certificate]:
    return [load_cert(tsa.ca_pem)]


def token(tsa: OpenSSLTSA, digest: bytes = DIGEST) -> tuple[bytes, int]:
    query, nonce = build_request(digest)
    return tsa.reply(query), nonce


def embedded(tsr: bytes) -> list[bytes]:
    signed = TimeStampResp.load(tsr)["time_stamp_token"]["content"]
    return [c.dump() for c in signed["certificates"]]


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and data.count(old) == 1
    return data.replace(old, new)


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def refused_by_the_signature(err: TimestampError) -> None:
    """Refused by a signature check, not by the parser: the token got as far as verification."""
    assert err.message == "token not signed by a trusted TSA"
    assert "signature" in (err.detail or "")
    assert "parse error" not in (err.detail or "")


# -- the unordered token is accepted ---------------------------------------------------------------


def test_openssl_token_with_its_chain_is_unordered_and_rfc3161_client_alone_refuses_it(chained: OpenSSLTSA) -> None:
    tsr, _ = token(chained)
    certs = embedded(tsr)
    assert len(certs) == 2
    assert certs != sorted(certs), "openssl put [TSA, CA] in DER order this time: the test proves nothing"
    assert x509.load_der_x509_certificate(certs[0]) == load_cert(chained.tsa_pem)
    with pytest.raises(ValueError, match="InvalidSetOrdering"):
        decode_timestamp_response(tsr)


def test_openssl_accepts_the_unordered_token(chained: OpenSSLTSA, tmp_path: Path) -> None:
    tsr, _ = token(chained)
    (tmp_path / "t.tsr").write_bytes(tsr)
    args = ["openssl", "ts", "-verify", "-in", "t.tsr", "-digest", DIGEST.hex(), "-CAfile", str(chained.ca_pem)]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def test_unordered_token_is_accepted(chained: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    got = verify_token(tsr, DIGEST, roots_of(chained), nonce=nonce)
    assert got.imprint == DIGEST
    assert got.hash_name == "sha256"
    assert got.tsa_cert == load_cert(chained.tsa_pem)
    assert got.tsr == tsr  # kept as the TSA issued it
    info = tsp.TimeStampResp.load(tsr)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert got.serial == info["serial_number"].native
    # and again later, as a proof check does it, from the stored bytes and with the pinned cert
    assert verify_token(got.tsr, DIGEST, roots_of(chained), tsa_cert=got.tsa_cert).gen_time == got.gen_time


def test_stamp_over_http_from_a_chain_embedding_tsa(chained: OpenSSLTSA) -> None:
    got = stamp([TrustedTSA(url=chained.url, roots=tuple(roots_of(chained)), name="openssl")], DIGEST)
    assert got.imprint == DIGEST
    assert got.tsa_url == chained.url
    assert embedded(got.tsr) != sorted(embedded(got.tsr))


def test_ordering_is_a_permutation_of_the_unsigned_certificates_only(chained: OpenSSLTSA) -> None:
    tsr, _ = token(chained)
    ordered = der_ordered_sets(tsr)
    assert ordered != tsr
    assert len(ordered) == len(tsr)
    assert embedded(ordered) == sorted(embedded(tsr))
    decode_timestamp_response(ordered)  # the strict parser reads it now
    # every byte outside the certificate SET is unchanged: content, signed attributes, signature
    before = TimeStampResp.load(tsr)["time_stamp_token"]["content"]
    after = TimeStampResp.load(ordered)["time_stamp_token"]["content"]
    assert after["encap_content_info"].dump() == before["encap_content_info"].dump()
    assert after["signer_infos"].dump() == before["signer_infos"].dump()
    start = tsr.index(before["certificates"].dump())
    end = start + len(before["certificates"].dump())
    assert ordered[:start] == tsr[:start] and ordered[end:] == tsr[end:]
    # already ordered: nothing to do; not a token: left for the parser to refuse
    assert der_ordered_sets(ordered) == ordered
    assert der_ordered_sets(b"\x30\x03\x02\x01\x00") == b"\x30\x03\x02\x01\x00"
    assert der_ordered_sets(b"") == b""


def test_three_certificates_in_any_order(tmp_path: Path, stranger: OpenSSLTSA) -> None:
    # an extra, unrelated certificate in the chain file does not give it any trust either
    tsa = with_chain(OpenSSLTSA(tmp_path / "tsa"), stranger.ca_pem)
    tsr, nonce = token(tsa)
    assert len(embedded(tsr)) == 3
    assert verify_token(tsr, DIGEST, roots_of(tsa), nonce=nonce).tsa_cert == load_cert(tsa.tsa_pem)
    with pytest.raises(TimestampError, match="not signed by a trusted TSA"):
        verify_token(tsr, DIGEST, [load_cert(stranger.ca_pem)], nonce=nonce)


# -- a tampered unordered token is still refused -------------------------------------------------


def test_other_imprint_refused(chained: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    with pytest.raises(TimestampError, match="imprint does not match"):
        verify_token(tsr, hashlib.sha256(b"another root").digest(), roots_of(chained), nonce=nonce)


def test_other_nonce_refused(chained: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    with pytest.raises(TimestampError, match="nonce"):
        verify_token(tsr, DIGEST, roots_of(chained), nonce=nonce + 2)


def test_untrusted_roots_refused(chained: OpenSSLTSA, stranger: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    with pytest.raises(TimestampError, match="not signed by a trusted TSA"):
        verify_token(tsr, DIGEST, [load_cert(stranger.ca_pem)], nonce=nonce)


def test_altered_tst_info_refused(chained: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    content = TimeStampResp.load(tsr)["time_stamp_token"]["content"]["encap_content_info"]["content"]
    info = tsp.TSTInfo.load(content.contents)
    forged = tsp.TSTInfo.load(content.contents)
    forged["serial_number"] = info["serial_number"].native ^ 1  # same length, other serial
    tampered = replace_once(tsr, info.dump(), forged.dump())
    assert embedded(tampered) != sorted(embedded(tampered))
    with pytest.raises(TimestampError) as caught:
        verify_token(tampered, DIGEST, roots_of(chained), nonce=nonce)
    refused_by_the_signature(caught.value)


def test_altered_signature_refused(chained: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    si = TimeStampResp.load(tsr)["time_stamp_token"]["content"]["signer_infos"][0]
    sig = si["signature"].contents
    with pytest.raises(TimestampError) as caught:
        verify_token(replace_once(tsr, sig, flip_last(sig)), DIGEST, roots_of(chained), nonce=nonce)
    refused_by_the_signature(caught.value)


def test_altered_embedded_tsa_certificate_refused(chained: OpenSSLTSA) -> None:
    tsr, nonce = token(chained)
    tsa_der = embedded(tsr)[0]
    with pytest.raises(TimestampError) as caught:
        verify_token(replace_once(tsr, tsa_der, flip_last(tsa_der)), DIGEST, roots_of(chained), nonce=nonce)
    refused_by_the_signature(caught.value)
