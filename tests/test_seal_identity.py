"""Only the vault's own sealing certificate makes a seal (issue 12), and the seal is CAdES-B-B.

Each forgery is refused by our verifier naming its rule: directly, online (a stored item and
its batch: checks ``receipt`` and ``seal``), and offline (a proof folder, pinned or not). The
seal is also checked by validators nobody here wrote: OpenSSL and pyHanko.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import open_ctx, with_settings
from vault.batch.sealer import seal_pending
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import ConfigError, SealError
from vault.evidence.receipt import verify_receipt
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.keys import pki as pkimod
from vault.proof.export import export_proof
from vault.seal.cms import Sealer, build_signed_data, verify_detached
from vault.seal.identity import RULES, SealTrust, fingerprint, normalize_fingerprint
from vault.verify.bundle import verify_bundle
from vault.verify.online import verify_item

DATA = b'{"type": "vault-batch/1", "root": "ab"}'
OPENSSL = shutil.which("openssl")
#: without openssl these skip locally; under CI (CI=true) they run, and fail
needs_openssl = pytest.mark.skipif(
    OPENSSL is None and os.environ.get("CI") != "true", reason="openssl is not installed"
)
SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"


@dataclass
class PKI:
    dev: pkimod.DevPKI
    ca: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    sealer: Sealer

    def trust(self, *extra: x509.Certificate) -> SealTrust:
        return SealTrust.for_certificates([self.ca], [self.sealer.cert, *extra])


@pytest.fixture(scope="module")
def ids(pki: pkimod.DevPKI) -> PKI:
    """The test vault's own development PKI (conftest's), with its seal CA's key: what a
    forger holding another certificate of the same CA, or the CA itself, can use."""
    dev = pki
    ca_key = pkimod.load_private_key(dev.seal_ca.key)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    return PKI(dev, pkimod.load_cert(dev.seal_ca.cert), ca_key, Sealer.from_files(dev.seal.cert, dev.seal.key))


def _without_key_usage(pki: PKI, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Seal without key usage")]))
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(pki.ca_key, hashes.SHA256())
    )


class AttrSealer(Sealer):
    """A sealer whose signing-certificate-v2 names another certificate, or is left out."""

    def __init__(self, base: Sealer, *, names: x509.Certificate | None = None, omit: bool = False) -> None:
        super().__init__(base.cert, base._key)
        self.names, self.omit = names, omit

    def seal(self, data: bytes, *, signing_time: dt.datetime | None = None) -> bytes:
        return build_signed_data(
            self.cert,
            self._key,
            data,
            signing_time=signing_time or dt.datetime.now(dt.UTC),
            signed_certificate=self.names,
            with_signing_certificate=not self.omit,
        )


@dataclass(frozen=True)
class Forgery:
    """How to make the forged sealer; whether its certificate is (wrongly) pinned too; the
    message our verifier must give."""

    make: Callable[[PKI], Sealer]
    pin_it: bool
    message: str


def _issued(eku: list[x509.ObjectIdentifier] | None, cn: str) -> Callable[[PKI], Sealer]:
    def make(pki: PKI) -> Sealer:
        key = pkimod.new_key()
        return Sealer(pkimod.issue(pki.ca, pki.ca_key, cn, key, eku=eku, days=30), key)

    return make


def _other_cert(pki: PKI) -> x509.Certificate:
    return pkimod.issue(pki.ca, pki.ca_key, "Another customer", pkimod.new_key(), days=30)


FORGERIES = {
    # the CA's other certificates, pinned by mistake: the rule, not the pin, refuses them
    "timestamping_eku": Forgery(
        _issued([ExtendedKeyUsageOID.TIME_STAMPING], "Same-CA TSA"), pin_it=True, message=RULES["eku"]
    ),
    "ca_itself": Forgery(lambda p: Sealer(p.ca, p.ca_key), pin_it=True, message=RULES["not_ca"]),
    "no_key_usage": Forgery(
        lambda p: Sealer(_without_key_usage(p, k := pkimod.new_key()), k), pin_it=True, message=RULES["key_usage"]
    ),
    # a well-formed seal certificate of the same CA: another customer's
    "not_pinned": Forgery(_issued(None, "Another customer's seal"), pin_it=False, message=RULES["pinned"]),
    # the vault's own certificate and key, but the attribute names another certificate, or is missing
    "signing_cert_v2_other": Forgery(
        lambda p: AttrSealer(p.sealer, names=_other_cert(p)),
        pin_it=False,
        message="signing-certificate-v2 attribute names another certificate",
    ),
    "signing_cert_v2_missing": Forgery(
        lambda p: AttrSealer(p.sealer, omit=True), pin_it=False, message="no signing-certificate-v2 attribute"
    ),
}


# -- the verifier alone ---------------------------------------------------------------------------


def test_the_vaults_own_seal_verifies_pinned(ids: PKI) -> None:
    info = verify_detached(ids.sealer.seal(DATA), DATA, ids.trust())
    assert info.pinned and info.signer_fingerprint == fingerprint(ids.sealer.cert)


def test_a_signing_time_from_2050_on_is_a_generalized_time(ids: PKI) -> None:
    """RFC 5652 11.3: UTCTime until 2049, GeneralizedTime from 2050 (proofs are kept for decades)."""
    when = dt.datetime(2051, 3, 1, 12, 0, tzinfo=dt.UTC)
    p7s = ids.sealer.seal(DATA, signing_time=when)
    info = verify_detached(p7s, DATA, ids.trust(), at=ids.sealer.cert.not_valid_before_utc + dt.timedelta(days=1))
    assert info.signing_time == when
    assert b"\x18\x0f20510301120000Z" in p7s  # GeneralizedTime, 15 bytes


@pytest.mark.parametrize("case", FORGERIES)
def test_forged_seal_refused_naming_the_rule(ids: PKI, case: str) -> None:
    f = FORGERIES[case]
    forger = f.make(ids)
    trust = ids.trust(forger.cert) if f.pin_it else ids.trust()
    with pytest.raises(SealError) as e:
        verify_detached(forger.seal(DATA), DATA, trust)
    assert f.message in str(e.value), str(e.value)


def test_each_rule_has_its_own_message() -> None:
    assert len(set(RULES.values())) == len(RULES)


def test_unpinned_refusal_names_both_fingerprints(ids: PKI) -> None:
    other = _issued(None, "Other")(ids)
    with pytest.raises(SealError) as e:
        verify_detached(other.seal(DATA), DATA, ids.trust())
    assert fingerprint(other.cert) in str(e.value) and fingerprint(ids.sealer.cert) in str(e.value)


def test_rotation_keeps_old_seals_valid(ids: PKI) -> None:
    old_seal = ids.sealer.seal(DATA)
    new = _issued(None, "Vault Seal 2")(ids)
    after = SealTrust.for_certificates([ids.ca], [new.cert, ids.sealer.cert])  # the old one stays listed
    verify_detached(old_seal, DATA, after)
    verify_detached(new.seal(DATA), DATA, after)
    with pytest.raises(SealError, match="not one of the vault's pinned"):
        verify_detached(old_seal, DATA, SealTrust.for_certificates([ids.ca], [new.cert]))


def test_issuer_serial_must_name_the_signer(ids: PKI) -> None:
    p7s = ids.sealer.seal(DATA)
    info = cms.ContentInfo.load(p7s)
    attrs = info["content"]["signer_infos"][0]["signed_attrs"]
    [sc] = [a for a in attrs if a["type"].dotted == SIGNING_CERT_V2]
    sc["values"][0]["certs"][0]["issuer_serial"]["serial_number"] = 12345
    with pytest.raises(SealError):  # the attribute changed: issuerSerial or, first, the signature
        verify_detached(info.dump(force=True), DATA, ids.trust())


def test_duplicate_signed_attribute_refused(ids: PKI) -> None:
    info = cms.ContentInfo.load(ids.sealer.seal(DATA))
    attrs = info["content"]["signer_infos"][0]["signed_attrs"]
    attrs.append(attrs[0])
    with pytest.raises(SealError, match="occurs twice"):
        verify_detached(info.dump(force=True), DATA, ids.trust())


def test_the_development_seal_certificate_is_a_seal_certificate(ids: PKI) -> None:
    cert = pkimod.load_cert(ids.dev.seal.cert)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca


def test_fingerprints_are_normalized() -> None:
    fp = "AB:" * 31 + "CD"
    assert normalize_fingerprint(fp) == "ab" * 31 + "cd"
    assert normalize_fingerprint("sha256:" + "ab" * 32) == "ab" * 32
    with pytest.raises(ConfigError):
        normalize_fingerprint("abcd")


# -- validators nobody here wrote -----------------------------------------------------------------


def _files(tmp: Path, p7s: bytes, data: bytes) -> tuple[Path, Path]:
    (tmp / "seal.p7s").write_bytes(p7s)
    (tmp / "data").write_bytes(data)
    return tmp / "seal.p7s", tmp / "data"


@needs_openssl
def test_openssl_verifies_the_seal_and_sees_signing_certificate_v2(ids: PKI, tmp_path: Path) -> None:
    seal, data = _files(tmp_path, ids.sealer.seal(DATA), DATA)
    r = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", seal, "-content", data,
         "-CAfile", ids.dev.seal_ca.cert, "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0 and "Verification successful" in r.stderr, r.stderr
    printed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", seal], capture_output=True, text=True
    ).stdout
    assert f"signingCertificateV2 ({SIGNING_CERT_V2})" in printed
    assert fingerprint(ids.sealer.cert).upper() in printed.replace(":", "")  # the attribute's hash, printed
    parsed = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", seal], capture_output=True, text=True
    ).stdout
    assert "id-smime-aa-signingCertificateV2" in parsed


@needs_openssl
def test_openssl_shows_a_signing_certificate_v2_naming_another_certificate(ids: PKI, tmp_path: Path) -> None:
    """`openssl cms -verify` (3.x) does not check the ESS attribute itself: it accepts this
    forgery. The auditor's by-hand check of docs/verification.md (the attribute's hash against
    the signer's fingerprint) is what shows it, as does our verifier and pyHanko's."""
    other = _other_cert(ids)
    forged = AttrSealer(ids.sealer, names=other).seal(DATA)
    seal, data = _files(tmp_path, forged, DATA)
    r = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", seal, "-content", data,
         "-CAfile", ids.dev.seal_ca.cert, "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0  # measured: OpenSSL does not compare the attribute with the signer
    printed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", seal], capture_output=True, text=True
    ).stdout.replace(":", "")
    assert fingerprint(ids.sealer.cert).upper() not in printed
    assert fingerprint(other).upper() in printed


def _pyhanko(p7s: bytes, data: bytes, ca: x509.Certificate):  # type: ignore[no-untyped-def]
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko_certvalidator import ValidationContext

    root = asn1_x509.Certificate.load(ca.public_bytes(Encoding.DER))
    vc = ValidationContext(trust_roots=[root])
    signed = cms.ContentInfo.load(p7s)["content"]
    return asyncio.run(async_validate_detached_cms(data, signed, signer_validation_context=vc))


def test_pyhanko_validates_the_seal(ids: PKI) -> None:
    status = _pyhanko(ids.sealer.seal(DATA), DATA, ids.ca)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.signing_cert.sha256 == ids.sealer.cert.fingerprint(hashes.SHA256())
    tampered = _pyhanko(ids.sealer.seal(DATA), DATA + b" ", ids.ca)
    assert not tampered.intact


def test_pyhanko_refuses_a_signing_certificate_v2_naming_another_certificate(ids: PKI) -> None:
    from pyhanko.sign.validation.errors import SignatureValidationError

    forged = AttrSealer(ids.sealer, names=_other_cert(ids)).seal(DATA)
    with pytest.raises(SignatureValidationError, match="Signing certificate attribute does not match"):
        _pyhanko(forged, DATA, ids.ca)


# -- stored evidence: online and offline ----------------------------------------------------------


def _forge_item(ctx: VaultContext, forger: Sealer, monkeypatch: pytest.MonkeyPatch) -> str:
    """What a forger holding a certificate of the vault's seal CA could store: the deposit
    receipt and the batch sealed by their certificate (the vault's own self-check bypassed,
    as someone writing to the store directly would)."""
    monkeypatch.setattr("vault.batch.sealer.verify_detached", lambda *a, **k: None)
    real = ctx.sealer
    ctx.sealer = forger
    try:
        req = validate(tenant="acme", session="s-1", kind="signed_document", subject="eve")
        item_id = deposit_stream(ctx, io.BytesIO(b"a contract, forged seal\n"), req).item_id
        seal_pending(ctx)
    finally:
        ctx.sealer = real
    monkeypatch.undo()
    return item_id


def _detail(report, name: str) -> str:  # type: ignore[no-untyped-def]
    [check] = [c for c in report.checks if c.name == name]
    assert not check.ok, (name, check.detail)
    return str(check.detail)


@pytest.mark.parametrize("case", FORGERIES)
def test_forged_seals_are_refused_online_and_offline(
    ctx: VaultContext, ids: PKI, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = FORGERIES[case]
    own = ctx.sealer
    assert fingerprint(own.cert) == fingerprint(ids.sealer.cert)  # the vault seals under the forgers' CA
    forger = f.make(ids)
    if f.pin_it:  # a misconfiguration the rules must survive: the bad certificate is pinned too
        ctx.seal_roots = SealTrust.for_certificates([ids.ca], [own.cert, forger.cert])
    item_id = _forge_item(ctx, forger, monkeypatch)

    report = verify_item(ctx, item_id)
    assert report.status == "invalid"
    assert f.message in _detail(report, "seal")
    assert f.message in _detail(report, "receipt")

    folder = export_proof(ctx, item_id, tmp_path / "proof")
    declared = json.loads((folder / "trust.json").read_text())
    assert fingerprint(own.cert) in declared["seal_fingerprints"]
    (tmp_path / "seal-ca.pem").write_bytes(ids.dev.seal_ca.cert.read_bytes())
    pinned = verify_bundle(
        folder,
        seal_ca=tmp_path / "seal-ca.pem",
        tsa_ca=folder / "certs/tsa-ca.pem",
        seal_fingerprints=[fingerprint(own.cert)] + ([fingerprint(forger.cert)] if f.pin_it else []),
    )
    assert not pinned.valid and pinned.info["seal_identity"] == "pinned"
    assert f.message in _detail(pinned, "seal")
    assert f.message in _detail(pinned, "receipt")
    unpinned = verify_bundle(folder)  # against the folder's own declaration
    assert not unpinned.valid and unpinned.info["seal_identity"] == "declared by the folder"
    if not f.pin_it:
        assert f.message in _detail(unpinned, "seal")


def test_the_vaults_own_item_verifies_online_and_offline(ctx: VaultContext, tmp_path: Path) -> None:
    req = validate(tenant="acme", session="s-1", kind="signed_document", subject="ann")
    item_id = deposit_stream(ctx, io.BytesIO(b"a real contract\n"), req).item_id
    seal_pending(ctx)
    report = verify_item(ctx, item_id)
    assert report.valid, report.as_json()
    assert report.info["seal"]["pinned"] is True
    folder = export_proof(ctx, item_id, tmp_path / "proof")
    fp = fingerprint(ctx.sealer.cert)
    assert json.loads((folder / "trust.json").read_text())["seal_fingerprints"] == [fp]
    assert fp in (folder / "VERIFY.md").read_text()
    pinned = verify_bundle(folder, seal_fingerprints=["sha256:" + fp.upper()])
    assert pinned.valid and pinned.info["seal_identity"] == "pinned", pinned.as_json()
    unpinned = verify_bundle(folder)
    assert unpinned.valid and unpinned.info["seal_identity"] == "declared by the folder"
    # a pin that is not the vault's refuses even the vault's own folder
    wrong = verify_bundle(folder, seal_fingerprints=["00" * 32])
    assert RULES["pinned"] in _detail(wrong, "seal")
    receipt = json.loads((folder / "receipt.json").read_text())
    verify_receipt(receipt, ctx.seal_roots)
    with pytest.raises(SealError, match="not one of the vault's pinned"):
        verify_receipt(receipt, SealTrust.of(ctx.seal_roots.anchors, ["00" * 32]))


def test_certificates_answer_carries_the_seal_fingerprints(ctx: VaultContext) -> None:
    from vault.service.public import certificates

    doc = certificates(ctx, None).as_json()
    assert doc["seal_fingerprints"] == sorted(ctx.seal_roots.fingerprints)
    assert fingerprint(ctx.sealer.cert) in doc["seal_fingerprints"]


def test_settings_seal_fingerprints_are_pinned_with_the_seal_cert(settings: Settings) -> None:

    old = "ab" * 32
    c2 = open_ctx(with_settings(settings, seal_fingerprints=(old,)))
    try:
        assert c2.seal_roots.fingerprints == {old, fingerprint(c2.sealer.cert)}
    finally:
        c2.close()
