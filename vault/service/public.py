"""What the vault publishes: its trust anchors and its sealed batches."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import InputError, NotFound
from vault.evidence.manifest import iso
from vault.index.models import Batch
from vault.seal.identity import fingerprint
from vault.service.result import Result


def cert_json(c: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": c.subject.rfc4514_string(),
        "issuer": c.issuer.rfc4514_string(),
        "sha256": c.fingerprint(hashes.SHA256()).hex(),
        "serial": format(c.serial_number, "x"),
        "not_before": iso(c.not_valid_before_utc),
        "not_after": iso(c.not_valid_after_utc),
        "pem": c.public_bytes(Encoding.PEM).decode(),
    }


def certificates(ctx: VaultContext, who: Principal | None) -> Result:
    """The anchors a recipient pins: the seal CA(s), the sealing certificate, each TSA's CA(s),
    and ``seal_fingerprints``, the SHA-256 of every certificate that seals for this vault (what
    ``vault verify --seal-fingerprint`` pins, ADR 0009). A TSA the operator runs itself is
    marked ``self_operated`` (not independent). ``checkpoint_key``: the verifier key string of
    the note key that signs the checkpoints (C2SP signed note), and the log's origin."""
    authorize(who, Op.CERTIFICATES)
    tsa: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t in ctx.tsas:
        for c in [*t.roots, *([t.tsa_cert] if t.tsa_cert is not None else [])]:
            j = cert_json(c)
            if j["sha256"] not in seen:
                seen.add(j["sha256"])
                own = t.tsa_cert is not None and fingerprint(t.tsa_cert) in ctx.own_tsa_fingerprints
                tsa.append({**j, "role": "tsa" if c is t.tsa_cert else "tsa-ca", "url": t.url, "self_operated": own})
    return Result(
        {
            "seal": [{**cert_json(c), "role": "seal-ca"} for c in ctx.seal_roots]
            + [{**cert_json(ctx.sealer.cert), "role": "seal"}],
            "seal_fingerprints": sorted(ctx.seal_roots.fingerprints),
            "tsa": tsa,
            **_checkpoint_key(ctx),
        }
    )


def _checkpoint_key(ctx: VaultContext) -> dict[str, Any]:
    """The verifier key of the note key that signs checkpoints (what a witness pins), once made."""
    from vault.keys.notekey import note_verifier

    v = note_verifier(ctx.settings)
    return {} if v is None else {"checkpoint_key": {"verifier_key": str(v), "origin": ctx.settings.log_origin}}


def batch(ctx: VaultContext, who: Principal | None, seq: int) -> Result:
    """A sealed batch as stored: manifest (root, previous root), seal and token (base64)."""
    authorize(who, Op.BATCH_READ)
    if not 1 <= seq < 2**63:
        raise InputError("a batch number is a positive integer")
    from vault.verify.online import stored_batch_objects

    with ctx.sessions() as s:
        b = s.get(Batch, seq)
    if b is None:
        raise NotFound("no such batch", detail=str(seq))
    stored = stored_batch_objects(ctx, b)
    if isinstance(stored, str):  # the index copy is not evidence: say what is wrong
        return Result({"seq": seq, "valid": False, "problem": stored})
    manifest = json.loads(stored["batch.json"])
    return Result(
        {
            "seq": seq,
            "root": manifest.get("root"),
            "previous_root": manifest.get("previous_root"),
            "leaf_count": manifest.get("leaf_count", b.leaf_count),
            "gen_time": iso(b.gen_time),
            "tsa_url": b.tsa_url,
            "manifest": base64.b64encode(stored["batch.json"]).decode(),
            "seal": base64.b64encode(stored["seal.p7s"]).decode(),
            "token": base64.b64encode(stored["timestamp.tsr"]).decode(),
        }
    )
