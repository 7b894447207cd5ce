"""Detached CMS seals: our verifier, OpenSSL as an independent one, and forged seals."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs7

from vault.errors import SealError, VaultError
from vault.keys import pki as pkimod
from vault.seal import Sealer, SealInfo, verify_detached

DATA = b"batch manifest \x00\xff bytes, sealed exactly\r\n"
OPENSSL = shutil.which("openssl")


@dataclass
class Env:
    dir: Path
    dev: pkimod.DevPKI
    ca: x509.Certificate
    sealer: Sealer


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    d = tmp_path_factory.mktemp("seal-pki")
    dev = pkimod.generate_dev_pki(d)
    return Env(d, dev, pkimod.load_cert(dev.seal_ca.cert), Sealer.from_files(dev.seal.cert, dev.seal.key))


@pytest.fixture(scope="module")
def p7s(env: Env) -> bytes:
    return env.sealer.seal(DATA)


def openssl_verify(p7s: bytes, content: bytes, ca_pem: bytes, tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "seal.p7s").write_bytes(p7s)
    (tmp / "data").write_bytes(content)
    (tmp / "ca.pem").write_bytes(ca_pem)
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp / "seal.p7s"),
            "-content",
            str(tmp / "data"),
            "-CAfile",
            str(tmp / "ca.pem"),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def flip_at(data: bytes, i: int) -> bytes:
    b = bytearray(data)
    b[i] ^= 0x01
    return bytes(b)


# -- round trip ----------------------------------------------------------------------------------


def test_seal_verify_round_trip(env: Env, p7s: bytes) -> None:
    before = dt.datetime.now(dt.UTC)
    info = verify_detached(p7s, DATA, [env.ca])
    assert isinstance(info, SealInfo)
    assert "CN=Vault Seal" in info.signer
    assert info.signer_fingerprint == env.sealer.cert.fingerprint(hashes.SHA256()).hex()
    assert info.signing_time is not None
    assert abs((info.signing_time - before).total_seconds()) < 300
    # detached: the content is not inside the seal
    signed = cms.ContentInfo.load(p7s)["content"]
    assert signed["encap_content_info"]["content"].native is None
    assert DATA not in p7s


def test_seal_of_empty_and_large_content(env: Env) -> None:
    for content in (b"", bytes(range(256)) * 4096):
        verify_detached(env.sealer.seal(content), content, [env.ca])


def test_untrusted_extra_roots_do_not_hurt(env: Env, p7s: bytes) -> None:
    other = pkimod.make_ca("Some Other CA", pkimod.new_key())
    verify_detached(p7s, DATA, [other, env.ca])


@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
def test_openssl_verifies_our_seal(env: Env, p7s: bytes, tmp_path: Path) -> None:
    r = openssl_verify(p7s, DATA, env.dev.seal_ca.cert.read_bytes(), tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Verification successful" in r.stderr + r.stdout


@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
def test_openssl_refuses_changed_content(env: Env, p7s: bytes, tmp_path: Path) -> None:
    r = openssl_verify(p7s, DATA + b"!", env.dev.seal_ca.cert.read_bytes(), tmp_path)
    assert r.returncode != 0
    assert "Verification successful" not in r.stderr + r.stdout


# -- negatives -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [DATA + b"!", DATA[:-1], b"", flip_at(DATA, 0), DATA.replace(b"\r\n", b"\n")])
def test_changed_content_refused(env: Env, p7s: bytes, content: bytes) -> None:
    with pytest.raises(SealError) as e:
        verify_detached(p7s, content, [env.ca])
    assert "digest" in str(e.value)


def test_wrong_ca_refused(env: Env, p7s: bytes) -> None:
    other = pkimod.make_ca("Some Other CA", pkimod.new_key())
    with pytest.raises(SealError) as e:
        verify_detached(p7s, DATA, [other])
    assert "trusted" in str(e.value)
    with pytest.raises(SealError):
        verify_detached(p7s, DATA, [])
    # the TSA CA of the same development PKI is not a seal CA either
    with pytest.raises(SealError):
        verify_detached(p7s, DATA, [pkimod.load_cert(env.dev.tsa_ca.cert)])


def test_impostor_ca_with_the_same_name_refused(env: Env, p7s: bytes) -> None:
    # an attacker's CA named exactly like the trusted one, issuing a seal cert named like ours
    fake_ca_key = pkimod.new_key()
    fake_ca = pkimod.make_ca("Vault Sealing CA", fake_ca_key)
    assert fake_ca.subject == env.ca.subject
    fake_key = pkimod.new_key()
    fake_cert = pkimod.issue(fake_ca, fake_ca_key, "Vault Seal", fake_key)
    assert fake_cert.subject == env.sealer.cert.subject
    assert fake_cert.issuer == env.ca.subject
    forged = Sealer(fake_cert, fake_key).seal(DATA)
    verify_detached(forged, DATA, [fake_ca])  # well-formed: only the trust anchor differs
    with pytest.raises(SealError):
        verify_detached(forged, DATA, [env.ca])
    # and the impostor CA does not vouch for the genuine seal
    with pytest.raises(SealError):
        verify_detached(p7s, DATA, [fake_ca])


def test_flipped_signature_byte_refused(env: Env, p7s: bytes) -> None:
    sig = cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]["signature"].native
    start = p7s.rfind(sig)
    assert start > 0
    for i in (start, start + len(sig) // 2, start + len(sig) - 1):
        with pytest.raises(SealError):
            verify_detached(flip_at(p7s, i), DATA, [env.ca])


def test_flipped_signed_attribute_refused(env: Env, p7s: bytes) -> None:
    si = cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]
    attrs = si["signed_attrs"].dump()
    start = p7s.find(attrs[2:])  # skip the [0] IMPLICIT tag and length
    assert start > 0
    # flip the last byte of the signed attributes (inside the message digest or signing time)
    with pytest.raises(SealError):
        verify_detached(flip_at(p7s, start + len(attrs) - 3), DATA, [env.ca])


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", b"garbage bytes that are not DER", b"\x30\x03\x02\x01\x01", b"\x30\x80", bytes(64)],
)
def test_garbage_refused(env: Env, garbage: bytes) -> None:
    with pytest.raises(SealError):
        verify_detached(garbage, DATA, [env.ca])


def test_truncated_seal_refused(env: Env, p7s: bytes) -> None:
    for n in (1, 10, len(p7s) // 2, len(p7s) - 1):
        with pytest.raises(SealError):
            verify_detached(p7s[:n], DATA, [env.ca])


def test_every_single_byte_flip_fails_cleanly(env: Env, p7s: bytes) -> None:
    """No flip may escape as anything but SealError (a VaultError), and most must be refused."""
    refused = 0
    escaped: list[tuple[int, str]] = []
    for i in range(len(p7s)):
        try:
            verify_detached(flip_at(p7s, i), DATA, [env.ca])
        except SealError:
            refused += 1
        except Exception as e:
            escaped.append((i, f"{type(e).__name__}: {e}"))
    assert escaped == [], escaped[:5]
    assert refused > len(p7s) * 0.85


def test_verification_time_outside_certificate_validity(env: Env, p7s: bytes) -> None:
    with pytest.raises(SealError):
        verify_detached(p7s, DATA, [env.ca], at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(SealError):
        verify_detached(p7s, DATA, [env.ca], at=env.sealer.cert.not_valid_after_utc + dt.timedelta(days=1))
    verify_detached(p7s, DATA, [env.ca], at=dt.datetime.now(dt.UTC))


def test_expired_signer_certificate_refused(env: Env) -> None:
    ca_key = pkimod.load_private_key(env.dev.seal_ca.key)
    key = pkimod.new_key()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    cert = pkimod.issue(env.ca, ca_key, "Vault Seal (expired)", key, now=old, days=1)  # type: ignore[arg-type]
    with pytest.raises(SealError) as e:
        verify_detached(Sealer(cert, key).seal(DATA), DATA, [env.ca])
    assert "valid" in str(e.value)


def test_attached_signature_refused(env: Env) -> None:
    key = pkimod.load_private_key(env.dev.seal.key)
    attached = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DATA)
        .add_signer(env.sealer.cert, key, hashes.SHA256())  # type: ignore[arg-type]
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    with pytest.raises(SealError) as e:
        verify_detached(attached, DATA, [env.ca])
    assert "detached" in str(e.value)


def test_seal_without_certificate_refused(env: Env) -> None:
    key = pkimod.load_private_key(env.dev.seal.key)
    bare = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DATA)
        .add_signer(env.sealer.cert, key, hashes.SHA256())  # type: ignore[arg-type]
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCerts],
        )
    )
    with pytest.raises(SealError) as e:
        verify_detached(bare, DATA, [env.ca])
    assert "certificate" in str(e.value)


def test_two_signers_refused(env: Env) -> None:
    key = pkimod.load_private_key(env.dev.seal.key)
    other_key = pkimod.new_key()
    ca_key = pkimod.load_private_key(env.dev.seal_ca.key)
    other = pkimod.issue(env.ca, ca_key, "Second Seal", other_key)  # type: ignore[arg-type]
    double = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DATA)
        .add_signer(env.sealer.cert, key, hashes.SHA256())  # type: ignore[arg-type]
        .add_signer(other, other_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )
    with pytest.raises(SealError):
        verify_detached(double, DATA, [env.ca])


def test_from_files_refuses_unsupported_or_missing_keys(env: Env, tmp_path: Path) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    pkimod.write_key(tmp_path / "ed.key", ed)
    with pytest.raises(SealError):
        Sealer.from_files(env.dev.seal.cert, tmp_path / "ed.key")
    with pytest.raises(VaultError):
        Sealer.from_files(env.dev.seal.cert, tmp_path / "missing.key")
    with pytest.raises(VaultError):
        Sealer.from_files(tmp_path / "missing.pem", env.dev.seal.key)


# -- RSA -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_sealer(env: Env) -> Sealer:
    key = pkimod.new_rsa_key(3072)
    cert = pkimod.issue(env.ca, pkimod.load_private_key(env.dev.seal_ca.key), "RSA Seal", key, days=30)  # type: ignore[arg-type]
    return Sealer(cert, key)


def test_rsa_3072_signer(env: Env, rsa_sealer: Sealer, tmp_path: Path) -> None:
    assert rsa_sealer.cert.public_key().key_size == 3072  # type: ignore[union-attr]
    p7s = rsa_sealer.seal(DATA)
    info = verify_detached(p7s, DATA, [env.ca])
    assert info.signer.startswith("CN=RSA Seal,")
    with pytest.raises(SealError):
        verify_detached(p7s, DATA + b"x", [env.ca])
    sig = cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]["signature"].native
    assert len(sig) == 384
    with pytest.raises(SealError):
        verify_detached(flip_at(p7s, p7s.rfind(sig) + 100), DATA, [env.ca])
    if OPENSSL is not None:
        r = openssl_verify(p7s, DATA, env.dev.seal_ca.cert.read_bytes(), tmp_path)
        assert r.returncode == 0, r.stderr
        assert "Verification successful" in r.stderr + r.stdout


def test_rsa_signer_from_files(env: Env, rsa_sealer: Sealer, tmp_path: Path) -> None:
    pkimod.write_cert(tmp_path / "rsa.pem", rsa_sealer.cert)
    pkimod.write_key(tmp_path / "rsa.key", rsa_sealer._key)
    s = Sealer.from_files(tmp_path / "rsa.pem", tmp_path / "rsa.key")
    assert s.cert_pem == pem(rsa_sealer.cert)
    verify_detached(s.seal(DATA), DATA, [env.ca])
