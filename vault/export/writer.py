"""Write a litigation export (``vault-export/1``): one zip, written under a temporary name.

Every item is checked while it is written, with the same checks the offline verifier runs
(:mod:`vault.verify.export_bundle`): its leaf and path against its batch as stored WORM, its
content against its sealed digests, each disclosed field against its commitment. An item
that fails aborts the export: a court bundle must not carry evidence the vault itself cannot
verify (``vault verify ID`` and ``vault audit`` say why).

Payloads stream from the store into the zip, so an item's size costs no memory. Its count
does: each item's line in ``export.json`` (as a dict), its zip directory entry and its part of
report.pdf (fpdf2 holds the document) stay until the end, about 16 KB per item measured
(bench/export.py, docs/performance.md): 175 MiB for 10,000 items.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import ColumnElement, or_, select

from vault.access.principal import Principal
from vault.context import VaultContext
from vault.envelope.stream import decrypt_bytes
from vault.errors import Conflict, InputError, KeyError_, NotFound
from vault.evidence.canonical import canonical
from vault.evidence.ids import new_item_id
from vault.evidence.manifest import iso
from vault.export import layout
from vault.export.selection import Selection
from vault.index.db import checked_row
from vault.index.models import Batch, Hold, Item, JournalEntry
from vault.journal.entry import names_destroyed, path_problem
from vault.journal.log import record
from vault.privacy.commitments import parse_disclosure
from vault.privacy.reading import check_read
from vault.proof.export import signer_cert_pem
from vault.proof.payload import PayloadRead, content_salt
from vault.seal.cms import verify_detached
from vault.seal.identity import fingerprint
from vault.timestamp.client import chain_certs, stamp
from vault.verify.declared import declaration
from vault.verify.online import load_item, stored_batch_objects
from vault.verify.proof_checks import (
    check_batch_seal,
    check_chain_path,
    check_item_path,
    check_payload,
    check_timeline,
    load_json,
    read_batch_manifest,
)
from vault.verify.report import Report

Progress = Callable[[int, int], None]
#: the index is read in slices of this many items
CHUNK = 500
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_DISPOSED = ("erased", "destroyed")


@dataclass
class ExportResult:
    id: str
    path: Path
    items: int
    destroyed: int
    batches: int
    disclosed: list[str]
    manifest_sha256: str
    size: int
    journal_entry: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "items": self.items,
            "destroyed": self.destroyed,
            "batches": self.batches,
            "disclosed_fields": self.disclosed,
            "export_json_sha256": self.manifest_sha256,
            "size": self.size,
            "journal_entry": self.journal_entry,
        }


def new_export_id(at: dt.datetime) -> str:
    return "exp_" + new_item_id(at)[3:]


class _Zip:
    """A deterministic zip (fixed times and modes, names in the order written) that remembers
    the SHA-256 of every file it listed."""

    def __init__(self, f: IO[bytes]) -> None:
        self.zf = zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self.files: dict[str, str] = {}

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def add(self, name: str, data: bytes, *, listed: bool = True) -> str:
        self.zf.writestr(self._info(name), data)
        digest = hashlib.sha256(data).hexdigest()
        if listed:
            self.files[name] = digest
        return digest

    def stream(self, name: str, chunks: Iterable[bytes], *, large: bool) -> Iterator[bytes]:
        """Write ``chunks`` to ``name`` while passing them on (to the digest checks)."""
        sha = hashlib.sha256()
        with self.zf.open(self._info(name), "w", force_zip64=large) as w:
            for c in chunks:
                w.write(c)
                sha.update(c)
                yield c
        self.files[name] = sha.hexdigest()

    def close(self) -> None:
        self.zf.close()


@dataclass
class _Certs:
    """Every certificate the bundle's seals and tokens need, once each."""

    seal_ca: dict[str, x509.Certificate] = field(default_factory=dict)
    seal: dict[str, x509.Certificate] = field(default_factory=dict)
    tsa_ca: dict[str, x509.Certificate] = field(default_factory=dict)
    tsa: dict[str, x509.Certificate] = field(default_factory=dict)

    def add(self, where: dict[str, x509.Certificate], certs: Iterable[x509.Certificate]) -> list[str]:
        fps = []
        for c in certs:
            fp = fingerprint(c)
            where.setdefault(fp, c)
            fps.append(fp)
        return fps


def _cert_json(c: x509.Certificate, **extra: Any) -> dict[str, Any]:
    base = {"sha256": fingerprint(c), "subject": c.subject.rfc4514_string(), "not_after": iso(c.not_valid_after_utc)}
    return base | extra


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


# -- selection -----------------------------------------------------------------------------


def select_items(ctx: VaultContext, sel: Selection) -> list[tuple[str, str, int | None]]:
    """(id, state, batch_seq) of the selected items in deposit order. Named items of another
    tenant are "no such item"; writing and orphaned deposits were never evidence and are left out."""
    with ctx.sessions() as s:
        ors: list[ColumnElement[bool]] = []
        if sel.sessions:
            ors.append(Item.session.in_(sel.sessions))
        if sel.items:
            ors.append(Item.id.in_(sel.items))
        if sel.hold is not None:
            holds = s.scalars(select(Hold).where(Hold.tenant_id == sel.tenant, Hold.case_ref == sel.hold)).all()
            if not holds:
                raise NotFound(f"no legal hold with case {sel.hold!r} in tenant {sel.tenant}")
            if any(h.session is None and h.item_id is None for h in holds):
                ors.append(Item.tenant_id == sel.tenant)  # a hold on the whole tenant
            ors.append(Item.session.in_([h.session for h in holds if h.session and not h.item_id]))
            ors.append(Item.id.in_([h.item_id for h in holds if h.item_id]))
        q = select(Item.id, Item.state, Item.batch_seq).where(
            Item.tenant_id == sel.tenant, Item.state.in_(("stored", "sealed"))
        )
        if ors:
            q = q.where(or_(*ors))
        if sel.since is not None:
            q = q.where(Item.received_at >= sel.since)
        if sel.until is not None:
            q = q.where(Item.received_at <= sel.until)
        rows = [(str(r[0]), str(r[1]), r[2]) for r in s.execute(q.order_by(Item.received_at, Item.seq))]
    found = {r[0] for r in rows}
    missing = [i for i in sel.items if i not in found]
    if missing and sel.since is None and sel.until is None:
        raise NotFound("no such item", detail=", ".join(missing[:5]))
    unsealed = [r[0] for r in rows if r[1] != "sealed" or r[2] is None]
    if unsealed:
        raise Conflict(
            f"{len(unsealed)} selected item(s) are not sealed yet: {', '.join(unsealed[:5])}",
            detail="batches are sealed within seconds; or seal now (`vault seal`, POST /v1/seal)",
        )
    if not rows:
        raise InputError("nothing to export: the selection matches no sealed item of this tenant")
    return rows


# -- batches and the chain between them ----------------------------------------------------


@dataclass
class _BatchOut:
    seq: int
    root: str
    created_at: str
    gen_time: dt.datetime
    tsa_fp: str
    seal_fp: str
    files: dict[str, bytes]
    manifest: dict[str, Any]


def _load_batch(ctx: VaultContext, seq: int, certs: _Certs) -> _BatchOut:
    with ctx.sessions() as s:
        row = checked_row(s, Batch, check="batch_record", seq=seq)
    if row is None:
        raise Conflict(f"batch {seq} is missing from the index", detail="run `vault audit`")
    stored = stored_batch_objects(ctx, row)
    if isinstance(stored, str):
        raise Conflict(f"batch {seq} cannot be exported: {stored}", detail="run `vault audit`")
    tsa_cert, *tsa_roots = chain_certs(row.tsa_chain)
    report = Report(item=f"batch {seq}")
    manifest = read_batch_manifest(report, stored["batch.json"])
    token = check_batch_seal(
        report,
        batch_bytes=stored["batch.json"],
        batch=manifest,
        seal=stored["seal.p7s"],
        tsr=stored["timestamp.tsr"],
        seal_roots=ctx.seal_roots,
        tsa_roots=[r for t in ctx.tsas for r in t.roots] + tsa_roots,
        tsa_cert=tsa_cert,
    )
    if report.failed or token is None or manifest.get("seq") != seq:
        why = "; ".join(f"{c.name}: {c.detail}" for c in report.failed) or f"batch.json says seq {manifest.get('seq')}"
        raise Conflict(f"batch {seq} fails verification: {why}", detail="run `vault audit`")
    signer = x509.load_pem_x509_certificate(signer_cert_pem(stored["seal.p7s"]))
    certs.add(certs.seal, [signer])
    certs.add(certs.tsa, [token.tsa_cert])
    certs.add(certs.tsa_ca, tsa_roots)
    return _BatchOut(
        seq=seq,
        root=str(manifest["root"]),
        created_at=str(manifest.get("created_at")),
        gen_time=token.gen_time,
        tsa_fp=fingerprint(token.tsa_cert),
        seal_fp=fingerprint(signer),
        files={n: stored[n] for n in ("batch.json", "seal.p7s", "timestamp.tsr")},
        manifest=manifest,
    )


def _chain(ctx: VaultContext, batches: dict[int, _BatchOut], out: _Zip) -> list[dict[str, Any]]:
    """``batch.json`` of every batch between the first and last exported ones that holds no
    exported item, so the recipient can follow previous_root from one to the next. Checked
    here as the verifier will: a broken link aborts the export."""
    lo, hi = min(batches), max(batches)
    listed: list[dict[str, Any]] = []
    prev_root: str | None = None
    seq = lo
    while seq <= hi:
        with ctx.sessions() as s:
            rows = {
                r.seq: bytes(r.manifest)
                for r in s.execute(
                    select(Batch.seq, Batch.manifest)
                    .where(Batch.seq >= seq, Batch.seq < seq + CHUNK)
                    .order_by(Batch.seq)
                )
            }
        for k in range(seq, min(seq + CHUNK, hi + 1)):
            if k in batches:
                manifest = batches[k].manifest
            else:
                data = rows.get(k)
                if data is None:
                    raise Conflict(
                        f"batch {k} is missing from the index: the chain cannot be shown", detail="run `vault audit`"
                    )
                report = Report(item=f"batch {k}")
                manifest = read_batch_manifest(report, data)
                if manifest.get("seq") != k or not check_chain_path(report, manifest):
                    raise Conflict(f"batch {k} does not link the chain", detail="run `vault audit`")
                out.add(layout.chain_file(k), data)
                listed.append({"seq": k, "root": manifest["root"], "file": layout.chain_file(k)})
            if prev_root is not None and manifest.get("previous_root") != prev_root:
                raise Conflict(f"chain broken: batch {k} does not follow batch {k - 1}", detail="run `vault audit`")
            prev_root = str(manifest.get("root"))
        seq += CHUNK
    return listed


# -- items ---------------------------------------------------------------------------------


def _all_disclosures(ctx: VaultContext, item: Item, dek: bytes) -> list[str]:
    """Every field disclosure of the item (a record's payload, a file's sealed metadata)."""
    if item.kind in layout.PAYLOAD_WITHHELD_KINDS:
        plain = b"".join(PayloadRead(ctx, item).plaintext())
        doc = load_json(plain, f"record {item.id}")
        found = doc.get("disclosures")
    elif item.meta_sealed:
        found = json.loads(decrypt_bytes(dek, item.id.encode() + b"/meta", item.meta_sealed))
    else:
        found = []
    if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
        raise InputError(f"item {item.id}: its disclosures are unreadable")
    return found


def _destruction(
    ctx: VaultContext, item: Item, out: _Zip, d: str, report: Report, batches: dict[int, _BatchOut]
) -> tuple[dict[str, Any], int | None]:
    """``destruction.json`` (the sealed journal entry) and its path; what export.json says of it."""
    with ctx.sessions() as s:
        entry = (
            checked_row(s, JournalEntry, check="destruction_record", id=item.disposal_record)
            if item.disposal_record
            else None
        )
    if entry is None:
        report.add("destruction_record", False, f"no destruction record for {item.disposal} item {item.id}")
        return {}, None
    body = bytes(entry.body)
    doc = load_json(body, "journal entry")
    ok = hashlib.sha256(body).digest() == bytes(entry.leaf) and names_destroyed(doc, item.id)
    sealed_in = batches.get(entry.batch_seq) if entry.batch_seq is not None else None
    problem = path_problem(entry.leaf, entry.path, sealed_in.root) if sealed_in is not None else None
    report.add(
        "destruction_record",
        ok and problem is None,
        f"{doc.get('action')} record {entry.id} at {doc.get('at')}"
        if ok and problem is None
        else f"destruction record {entry.id}: not its leaf or batch, or the item is not named {problem or ''}",
    )
    out.add(f"{d}/destruction.json", body)
    if entry.batch_seq is not None and entry.path:
        out.add(f"{d}/destruction-path.json", (json.dumps(json.loads(entry.path), indent=2) + "\n").encode())
    return {
        "action": doc.get("action"),
        "at": doc.get("at"),
        "rule": item.disposal_rule,
        "record": entry.id,
        "batch": entry.batch_seq if entry.path else None,
    }, entry.batch_seq if entry.path else None


@dataclass
class _ItemOut:
    line: dict[str, Any]
    disclosed: dict[str, Any]
    path: dict[str, Any]


def _write_item(
    ctx: VaultContext, who: Principal, sel: Selection, item_id: str, batches: dict[int, _BatchOut], out: _Zip
) -> _ItemOut:
    item, _ = load_item(ctx, item_id, with_batch=False)  # its batch is read once, from the store
    if item.evidence is None or item.path is None or item.batch_seq not in batches:
        raise Conflict(
            f"item {item_id}: the index has no sealed evidence for it", detail="run `vault verify " + item_id + "`"
        )
    b = batches[item.batch_seq]
    evidence_bytes = bytes(item.evidence)
    evidence = load_json(evidence_bytes, "evidence.json")
    d = layout.item_dir(item.id)
    report = Report(item=item.id)
    # the index is not the evidence: the sealed manifest must be this tenant's item
    same = evidence.get("id") == item.id and evidence.get("tenant") == sel.tenant
    report.add(
        "evidence_manifest",
        same,
        "sealed for this tenant" if same else "the sealed manifest names another item or tenant",
    )
    path_obj = json.loads(item.path)
    check_item_path(report, evidence_bytes=evidence_bytes, path_obj=path_obj, root_hex=b.root)
    check_timeline(report, evidence_bytes, b.manifest, b.gen_time)
    out.add(f"{d}/evidence.json", evidence_bytes)
    out.add(f"{d}/path.json", (json.dumps(path_obj, indent=2) + "\n").encode())
    commitments = evidence.get("commitments") if isinstance(evidence.get("commitments"), dict) else {}
    assert isinstance(commitments, dict)
    disclosed: dict[str, Any] = {}
    destruction: dict[str, Any] | None = None
    payload = salted = False
    if item.disposal in _DISPOSED:
        report.destroyed_rule = item.disposal_rule or item.disposal
        destruction, _seq = _destruction(ctx, item, out, d, report, batches)
    else:
        check_read(ctx, item, who)
        row, dek = ctx.data_keys.by_id(item.subject_key_id)
        if dek is None:
            raise KeyError_(f"item {item.id}: its subject's key was destroyed", detail=f"at {row.destroyed_at}")
        if item.kind not in layout.PAYLOAD_WITHHELD_KINDS:
            salt = content_salt(ctx, item)
            if salt is not None:
                out.add(f"{d}/content-salt.hex", (salt.hex() + "\n").encode())
                salted = True
            chunks = out.stream(f"{d}/payload", PayloadRead(ctx, item).plaintext(), large=(item.size or 0) > 2**30)
            check_payload(report, chunks, evidence, salt)
            payload = True
        chosen = []
        for encoded in _all_disclosures(ctx, item, dek):
            disc = parse_disclosure(encoded)
            if disc.name in sel.disclose:
                ok = commitments.get(disc.name) == disc.digest
                report.add(
                    "disclosure",
                    ok,
                    f"field {disc.name} matches its commitment" if ok else f"field {disc.name} does not",
                )
                chosen.append(encoded)
                disclosed[disc.name] = disc.value
        if chosen:
            out.add(f"{d}/disclosures.json", (json.dumps(chosen, indent=2) + "\n").encode())
    if report.failed:
        why = "; ".join(f"{c.name}: {c.detail}" for c in report.failed)
        raise Conflict(
            f"item {item.id} fails verification, not exported: {why}", detail=f"run `vault verify {item.id}`"
        )
    content = evidence.get("content") if isinstance(evidence.get("content"), dict) else {}
    assert isinstance(content, dict)
    line = {
        "id": item.id,
        "session": item.session,
        "kind": item.kind,
        "purpose": item.purpose,
        "received_at": evidence.get("received_at"),
        "state": "destroyed" if destruction is not None else "sealed",
        "archived": item.disposal == "archived",
        "batch": b.seq,
        "dir": d,
        "payload": payload,
        "salted": salted,
        "content": {k: v for k, v in content.items() if k != "salt_sealed"},
        "disclosed": sorted(disclosed),
        "withheld": sorted(set(commitments) - set(disclosed)),
        "destruction": destruction,
        "verification": {"status": report.status, "checks": [c.as_json() for c in report.checks]},
    }
    return _ItemOut(line, disclosed, path_obj)


# -- the whole export ----------------------------------------------------------------------


def write_export(
    ctx: VaultContext,
    who: Principal,
    sel: Selection,
    out_path: Path,
    progress: Progress | None = None,
    *,
    export_id: str | None = None,
) -> ExportResult:
    """Write the bundle to ``out_path`` (whole or not at all) and journal it."""
    rows = select_items(ctx, sel)
    now = ctx.now()
    export_id = export_id or new_export_id(now)
    out_path = out_path.absolute()
    part = out_path.with_name(f".{out_path.name}.{export_id}.part")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(part, "wb") as f:
            z = _Zip(f)
            try:
                result = _write(ctx, who, sel, rows, export_id, now, z, progress)
            finally:
                z.close()  # on failure too: the part file is removed below
        os.replace(part, out_path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    result.path = out_path
    result.size = out_path.stat().st_size
    return result


def _destruction_batches(ctx: VaultContext, ids: list[str]) -> set[int]:
    """Batches that seal the destruction records of the destroyed items among ``ids``."""
    seqs: set[int] = set()
    with ctx.sessions() as s:
        for i in range(0, len(ids), CHUNK):
            records = s.scalars(
                select(Item.disposal_record).where(Item.id.in_(ids[i : i + CHUNK]), Item.disposal.in_(_DISPOSED))
            ).all()
            if records:
                seqs.update(
                    int(x or 0)
                    for x in s.scalars(
                        select(JournalEntry.batch_seq).where(
                            JournalEntry.id.in_([r for r in records if r]), JournalEntry.batch_seq.is_not(None)
                        )
                    )
                )
    return seqs


def _write(
    ctx: VaultContext,
    who: Principal,
    sel: Selection,
    rows: list[tuple[str, str, int | None]],
    export_id: str,
    now: dt.datetime,
    z: _Zip,
    progress: Progress | None,
) -> ExportResult:
    ids = [r[0] for r in rows]
    total = len(ids)
    certs = _Certs()
    seqs = {int(r[2]) for r in rows if r[2] is not None} | _destruction_batches(ctx, ids)
    batches = {seq: _load_batch(ctx, seq, certs) for seq in sorted(seqs)}
    for b in batches.values():
        for name, data in b.files.items():
            z.add(f"{layout.batch_dir(b.seq)}/{name}", data)
    chain = _chain(ctx, batches, z)
    lines: list[dict[str, Any]] = []
    disclosed: dict[str, dict[str, Any]] = {}
    first: dict[str, Any] | None = None  # VERIFY.md's worked example
    destroyed = 0
    for n, item_id in enumerate(ids, 1):
        done = _write_item(ctx, who, sel, item_id, batches, z)
        lines.append(done.line)
        first = first or done.path
        destroyed += done.line["state"] == "destroyed"
        if done.disclosed:
            disclosed[item_id] = done.disclosed
        if progress is not None and (n % 50 == 0 or n == total):
            progress(n, total)
    # certificates: the batches' and the export seal's own (the export token's TSA is in export-tsa.pem)
    certs.add(certs.seal, [ctx.sealer.cert])
    certs.add(certs.seal_ca, list(ctx.seal_roots))
    certs.add(certs.tsa_ca, [r for t in ctx.tsas for r in t.roots])
    z.add(layout.SEAL_CA, _pem(certs.seal_ca.values()))
    for fp, c in sorted(certs.seal.items()):
        z.add(layout.seal_cert(fp), c.public_bytes(Encoding.PEM))
    z.add(layout.TSA_CA, _pem(certs.tsa_ca.values()))
    for fp, c in sorted(certs.tsa.items()):
        z.add(layout.tsa_cert(fp), c.public_bytes(Encoding.PEM))
    own = ctx.own_tsa_fingerprints
    doc: dict[str, Any] = {
        "type": layout.EXPORT_TYPE,
        "id": export_id,
        "tenant": sel.tenant,
        "case": sel.case,
        "created_at": iso(now),
        "created_by": {"actor": who.actor, "role": who.role.value},
        "selection": sel.as_json(),
        "disclosed_fields": list(sel.disclose),
        "anchors": {
            "seal_ca": [_cert_json(c) for _, c in sorted(certs.seal_ca.items())],
            "seal_certificates": [_cert_json(c, file=layout.seal_cert(fp)) for fp, c in sorted(certs.seal.items())],
            "tsa_ca": [_cert_json(c) for _, c in sorted(certs.tsa_ca.items())],
            "tsa_certificates": [
                _cert_json(c, file=layout.tsa_cert(fp), self_operated=fp in own) for fp, c in sorted(certs.tsa.items())
            ],
        },
        "batches": [
            {
                "seq": b.seq,
                "root": b.root,
                "dir": layout.batch_dir(b.seq),
                "created_at": b.created_at,
                "timestamp": iso(b.gen_time),
                "tsa_certificate": b.tsa_fp,
                "seal_certificate": b.seal_fp,
            }
            for b in batches.values()
        ],
        "chain": chain,
        "items": lines,
    }
    z.add(layout.TRUST, (json.dumps(declaration(ctx.seal_roots.fingerprints, own), indent=2) + "\n").encode())
    from vault.export.report_pdf import render_report  # fpdf2: only an export loads it

    z.add(layout.REPORT, render_report(doc, disclosed))
    from vault.export.verify_md import export_verify_md

    z.add(layout.VERIFY, export_verify_md({**doc, "files": dict(z.files)}, example_path=first).encode())
    z.add(layout.SUMS, "".join(f"{h}  {name}\n" for name, h in z.files.items()).encode())
    manifest = canonical({**doc, "files": dict(z.files)})
    seal = ctx.sealer.seal(manifest)
    verify_detached(seal, manifest, ctx.seal_roots)  # never hand over a seal the vault would refuse
    digest = hashlib.sha256(manifest).digest()
    token = stamp(ctx.tsas, digest)
    z.add(layout.MANIFEST, manifest, listed=False)
    z.add(layout.MANIFEST_SEAL, seal, listed=False)
    z.add(layout.MANIFEST_TOKEN, token.tsr, listed=False)
    z.add(layout.MANIFEST_TSA, token.tsa_cert.public_bytes(Encoding.PEM), listed=False)
    with ctx.sessions() as s:
        entry = record(
            s,
            ctx,
            who,
            "export",
            tenant=sel.tenant,
            export=export_id,
            case=sel.case,
            selection=sel.as_json(),
            disclosed_fields=list(sel.disclose),
            items=total,
            destroyed=destroyed,
            export_json_sha256=digest.hex(),
        )
        s.commit()
    return ExportResult(
        id=export_id,
        path=Path(),
        items=total,
        destroyed=destroyed,
        batches=len(batches),
        disclosed=list(sel.disclose),
        manifest_sha256=digest.hex(),
        size=0,
        journal_entry=entry.id,
    )
