"""Time-stamping inside the vault: outages delay proofs but lose nothing; only trusted TSAs count."""

from __future__ import annotations

import io
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import rfc3161ng
from asn1crypto import tsp
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from tsa_support import OpenSSLTSA, closed_port_url, tsa_cert_without_eku
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.errors import TSAUnavailable
from vault.index.models import Batch, Item
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.keys.pki import DevPKI, load_cert, load_private_key
from vault.proof.export import export_proof
from vault.runtime.batcher import Batcher
from vault.timestamp.client import TrustedTSA
from vault.timestamp.responder import TimeStampResponder
from vault.timestamp.server import TSAServer
from vault.verify.online import verify_item


def _deposit(ctx: VaultContext, n: int) -> list[str]:
    req = validate(tenant="acme", session="s", kind="session_log")
    return [deposit_stream(ctx, io.BytesIO(f"item {i}".encode()), req).item_id for i in range(n)]


def _states(ctx: VaultContext) -> dict[str, int]:
    with ctx.sessions() as s:
        return dict(s.execute(select(Item.state, func.count()).group_by(Item.state)).all())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def foreign_tsa(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tsa = OpenSSLTSA(tmp_path_factory.mktemp("foreign-tsa")).start()
    yield tsa
    tsa.stop()


def test_tsa_down_keeps_items_pending_then_seals_them_all(ctx: VaultContext) -> None:
    real = ctx.tsas
    ctx.tsas = [TrustedTSA(url=closed_port_url(), roots=real[0].roots, timeout=1.0)]
    ids = _deposit(ctx, 7)
    with pytest.raises(TSAUnavailable):
        seal_pending(ctx)
    assert _states(ctx) == {"stored": 7}
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 0
    # nothing was written for the failed batch
    listed = ctx.store.client.list_objects_v2(Bucket=ctx.store.bucket, Prefix="batches/")
    assert listed.get("KeyCount", 0) == 0

    # the batcher keeps retrying while the TSA is down, then seals once it is back
    ctx.settings = replace(ctx.settings, batch_max_seconds=0.1)
    batcher = Batcher(ctx, tick=0.05)
    batcher.start()
    try:
        deadline = time.time() + 20
        while not batcher.last_error and time.time() < deadline:
            time.sleep(0.05)
        assert batcher.last_error and "no TSA" in batcher.last_error
        assert _states(ctx) == {"stored": 7}
        ctx.tsas = real
        deadline = time.time() + 20
        while _states(ctx) != {"sealed": 7} and time.time() < deadline:
            time.sleep(0.1)
    finally:
        batcher.stop()
    assert _states(ctx) == {"sealed": 7}
    assert all(verify_item(ctx, i).valid for i in ids)


def test_foreign_tsa_configured_as_trusted_is_accepted(ctx: VaultContext, foreign_tsa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    roots = tuple(load_cert_list(foreign_tsa.ca_pem))
    ctx.tsas = [TrustedTSA(url=foreign_tsa.url, roots=roots, tsa_cert=load_cert(foreign_tsa.tsa_pem))]
    [item_id] = _deposit(ctx, 1)
    [batch] = seal_pending(ctx)
    assert batch.tsa_url == foreign_tsa.url
    assert verify_item(ctx, item_id).valid
    out = export_proof(ctx, item_id, tmp_path / "p")
    import json

    root = json.loads((out / "batch.json").read_text())["root"]
    r = subprocess.run(
        ["openssl", "ts", "-verify", "-digest", root, "-in", out / "timestamp.tsr",
         "-CAfile", out / "certs/tsa-ca.pem", "-untrusted", out / "certs/tsa.pem"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0 and "Verification: OK" in r.stdout, r.stdout + r.stderr


def test_token_from_untrusted_foreign_tsa_is_rejected(ctx: VaultContext, foreign_tsa, pki: DevPKI) -> None:  # type: ignore[no-untyped-def]
    # the foreign TSA answers, but its tokens do not chain to the configured anchors
    ctx.tsas = [TrustedTSA(url=foreign_tsa.url, roots=(load_cert(pki.tsa_ca.cert),))]
    _deposit(ctx, 2)
    with pytest.raises(TSAUnavailable) as e:
        seal_pending(ctx)
    assert "verif" in str(e.value).lower() or "trusted" in str(e.value).lower()
    assert _states(ctx) == {"stored": 2}


def test_tsa_certificate_without_timestamping_eku_is_rejected(ctx: VaultContext, pki: DevPKI) -> None:
    ca, ca_key = load_cert(pki.tsa_ca.cert), load_private_key(pki.tsa_ca.key)
    cert, key = tsa_cert_without_eku(ca, ca_key)  # type: ignore[arg-type]
    server = TSAServer(TimeStampResponder(cert, key)).start()
    try:
        ctx.tsas = [TrustedTSA(url=server.url, roots=(ca,))]
        _deposit(ctx, 1)
        with pytest.raises(TSAUnavailable) as e:
            seal_pending(ctx)
        assert "EKU" in str(e.value) or "timeStamping" in str(e.value)
        assert _states(ctx) == {"stored": 1}
    finally:
        server.stop()


def test_rfc3161ng_verifies_the_vaults_tokens_with_pinned_certificate(ctx: VaultContext, pki: DevPKI) -> None:
    _deposit(ctx, 3)
    [b] = seal_pending(ctx)
    with ctx.sessions() as s:
        batch = s.get(Batch, b.seq)
        assert batch is not None
    tst = tsp.TimeStampResp.load(batch.tsr)["time_stamp_token"].dump()
    pem = load_cert(pki.tsa.cert).public_bytes(Encoding.PEM)
    assert rfc3161ng.check_timestamp(tst, certificate=pem, digest=bytes.fromhex(batch.root), hashname="sha256")
    with pytest.raises(ValueError):
        rfc3161ng.check_timestamp(tst, certificate=pem, digest=bytes(32), hashname="sha256")


def load_cert_list(path: Path) -> list:  # type: ignore[type-arg]
    from vault.keys.pki import load_certs

    return load_certs(path)
