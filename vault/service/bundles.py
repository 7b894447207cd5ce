"""A proof folder sent as a zip, checked against the vault's own anchors and batch roots.

Public (no key): it reveals nothing the zip does not already hold, beyond whether the
vault's own sealed batch of that number has that root.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cryptography.hazmat.primitives.serialization import Encoding

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import InputError
from vault.index.models import Batch
from vault.service.public import certificates
from vault.service.result import Result
from vault.verify.bundle import verify_bundle

MAX_ENTRIES = 64
MAX_UNPACKED = 2 * 1024**3


def unpack_zip(src: BinaryIO, dest: Path) -> Path:
    """Unpack a proof zip safely (no absolute or ``..`` paths, no links, bounded size) and
    return the proof folder (the zip's root, or its single top folder)."""
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise InputError("the bundle is not a zip file", detail=str(e)) from e
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InputError(f"the bundle holds more than {MAX_ENTRIES} entries")
        if sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise InputError("the bundle unpacks to more than 2 GiB")
        for info in infos:
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
                raise InputError("the bundle holds an unsafe path", detail=info.filename[:200])
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise InputError("the bundle holds a symbolic link", detail=info.filename[:200])
            target = dest / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as r, open(target, "wb") as w:
                    shutil.copyfileobj(r, w, 1024 * 1024)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:
                raise InputError("the bundle is damaged", detail=f"{info.filename[:200]}: {e}") from e
    entries = [p for p in dest.iterdir() if not p.name.startswith("__MACOSX")]
    if not (dest / "evidence.json").exists() and len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def verify_zip(ctx: VaultContext, who: Principal | None, src: BinaryIO) -> Result:
    authorize(who, Op.VERIFY_BUNDLE)
    tmp = Path(tempfile.mkdtemp(prefix="vault-bundle-"))
    try:
        folder = unpack_zip(src, tmp / "b")
        pins = tmp / "pins"
        pins.mkdir()
        (pins / "seal-ca.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ctx.seal_roots))
        (pins / "tsa-ca.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for t in ctx.tsas for c in t.roots))
        report = verify_bundle(
            folder,
            seal_ca=pins / "seal-ca.pem",
            tsa_ca=pins / "tsa-ca.pem",
            seal_fingerprints=sorted(ctx.seal_roots.fingerprints),
        )
        _check_vault_batch(ctx, folder, report)
        doc = report.as_json()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc["certificates"] = {
        k: [_short(c) for c in v]
        for k, v in certificates(ctx, who).as_json().items()
        if k not in ("seal_fingerprints", "checkpoint_key")
    }
    return Result(doc)


def _short(c: dict[str, str]) -> dict[str, str]:
    return {k: c[k] for k in ("subject", "sha256", "not_after", "role")}


def _check_vault_batch(ctx: VaultContext, folder: Path, report: object) -> None:
    """The bundle's batch must be the vault's own batch of that number (same root)."""
    from vault.verify.report import Report

    assert isinstance(report, Report)
    try:
        manifest = json.loads((folder / "batch.json").read_bytes())
        seq, root = int(manifest["seq"]), str(manifest["root"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # already reported by the bundle checks
    with ctx.sessions() as s:
        b = s.get(Batch, seq) if 0 < seq < 2**63 else None
    if b is None:
        report.add("vault_batch", False, f"this vault has no batch {seq}")
        return
    from vault.verify.online import stored_batch_objects

    stored = stored_batch_objects(ctx, b)
    if isinstance(stored, str):
        report.add("vault_batch", False, stored)
        return
    ours = json.loads(stored["batch.json"]).get("root")
    report.add(
        "vault_batch",
        ours == root,
        f"batch {seq} is this vault's, root {root}" if ours == root else f"this vault's batch {seq} has root {ours}",
    )
