"""Offline verification of a litigation export (``vault-export/1``, docs/export.md).

No vault, no network: the zip (or its unzipped folder) and, ideally, anchors the recipient
obtained from the provider out of band. In order:

1. ``export_manifest``  export.json is a vault-export/1 manifest
2. ``trust_anchors``    which anchors are used: pinned by the recipient (``--seal-ca``,
   ``--tsa-ca``, ``--fingerprint``) or the bundle's own (integrity only, said so)
3. ``export_seal`` / ``export_timestamp``  the vault's seal and an RFC 3161 token over export.json
4. ``files``            every file export.json lists is there with its SHA-256; nothing else is
5. ``batch N``          each batch's seal, token and chain_path (the batch as sealed)
6. ``chain``            every batch from the first to the last follows its predecessor
7. per item: its manifest, leaf, path to its batch's root, timeline, content digests,
   each disclosed field against its commitment, or its sealed destruction record
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509

from vault.batch.manifest import parse_path
from vault.errors import ConfigError, InputError, SealError, TimestampError
from vault.export import layout
from vault.journal.entry import names_destroyed
from vault.keys.pki import load_certs
from vault.privacy.commitments import parse_disclosure
from vault.seal.cms import verify_detached
from vault.seal.identity import SealTrust, fingerprint, normalize_fingerprint
from vault.timestamp.client import Token, verify_token
from vault.tree.hashtree import root_from_path
from vault.verify.proof_checks import (
    check_batch_seal,
    check_chain_path,
    check_item_path,
    check_payload,
    check_timeline,
    load_json,
    parse_json,
    read_batch_manifest,
)
from vault.verify.report import Check, Report

NOTICE_UNPINNED = (
    "integrity only: checked against the bundle's own certificates, which whoever handed it over "
    "could have made; compare their fingerprints with those the provider publishes "
    "(GET /v1/certificates) or pin them with --seal-ca/--tsa-ca/--fingerprint"
)
MAX_ENTRIES = 2_000_000


class Source:
    """The bundle's files, from a zip (read in place, never unpacked) or an unzipped folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zf: zipfile.ZipFile | None = None
        if path.is_dir():
            self.names = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
            return
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise InputError("the bundle is not a zip file or a folder", detail=str(e)) from e
        infos = self.zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InputError(f"the bundle holds more than {MAX_ENTRIES} entries")
        self.names = set()
        for info in infos:
            if info.is_dir():
                continue
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
                raise InputError("the bundle holds an unsafe path", detail=info.filename[:200])
            self.names.add(info.filename)

    def has(self, name: str) -> bool:
        return name in self.names

    def chunks(self, name: str, size: int = 1 << 20) -> Iterator[bytes]:
        try:
            with self.zf.open(name) if self.zf is not None else open(self.path / name, "rb") as f:
                while chunk := f.read(size):
                    yield chunk
        except (zipfile.BadZipFile, OSError, KeyError, NotImplementedError) as e:
            raise InputError(f"{name} is unreadable", detail=str(e)) from e

    def read(self, name: str) -> bytes:
        if not self.has(name):
            raise InputError(f"{name} is missing from the bundle")
        return b"".join(self.chunks(name))

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()


@dataclass
class ExportReport:
    """The bundle's own checks, then one report per item."""

    export: str = "?"
    checks: list[Check] = field(default_factory=list)
    items: list[Report] = field(default_factory=list)
    pinned: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    @property
    def failed(self) -> list[str]:
        out = [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]
        for r in self.items:
            out.extend(f"item {r.item}: {c.name}: {c.detail}" for c in r.failed)
        return out

    @property
    def valid(self) -> bool:
        return bool(self.checks) and not self.failed

    @property
    def notice(self) -> str | None:
        return None if self.pinned else NOTICE_UNPINNED

    def as_json(self) -> dict[str, Any]:
        return {
            "export": self.export,
            "valid": self.valid,
            "status": "valid" if self.valid else "invalid",
            "anchors": "pinned" if self.pinned else "bundle",
            **({"notice": self.notice} if self.notice else {}),
            "failed": self.failed,
            "checks": [c.as_json() for c in self.checks],
            "items": [
                {"item": r.item, "status": r.status, "checks": [c.as_json() for c in r.checks]} for r in self.items
            ],
            **({"info": self.info} if self.info else {}),
        }

    @property
    def exit_code(self) -> int:
        return 0 if self.valid else 1


@dataclass
class _Trust:
    seal: SealTrust
    tsa_roots: list[x509.Certificate]
    tsa_pins: frozenset[str]  # TSA signing certificates pinned by fingerprint
    pinned: bool


def _anchors(
    src: Source,
    doc: dict[str, Any],
    report: ExportReport,
    seal_ca: list[x509.Certificate] | None,
    tsa_ca: list[x509.Certificate] | None,
    pins: set[str],
) -> _Trust | None:
    """The anchors to verify against: the recipient's pins where given, else the bundle's."""
    try:
        bundle_seal_ca = _bundle_certs(src, layout.SEAL_CA)
        bundle_tsa_ca = _bundle_certs(src, layout.TSA_CA)
        seal_roots = seal_ca if seal_ca is not None else bundle_seal_ca
        tsa_roots = tsa_ca if tsa_ca is not None else bundle_tsa_ca
    except InputError as e:
        report.add("trust_anchors", False, str(e))
        return None
    anchors = doc.get("anchors") if isinstance(doc.get("anchors"), dict) else {}
    assert isinstance(anchors, dict)
    seal_certs = {str(c.get("sha256")) for c in anchors.get("seal_certificates") or [] if isinstance(c, dict)}
    tsa_certs = {str(c.get("sha256")) for c in anchors.get("tsa_certificates") or [] if isinstance(c, dict)}
    known = {fingerprint(c) for c in bundle_seal_ca + bundle_tsa_ca} | seal_certs | tsa_certs
    unknown = sorted(pins - known)
    if unknown:
        report.add(
            "trust_anchors", False, "pinned fingerprint(s) match no certificate in the bundle: " + ", ".join(unknown)
        )
        return None
    # a pinned CA fingerprint narrows the bundle's anchors to that CA
    seal_ca_pins = [c for c in seal_roots if fingerprint(c) in pins]
    tsa_ca_pins = [c for c in tsa_roots if fingerprint(c) in pins]
    if seal_ca_pins and not seal_ca:
        seal_roots = seal_ca_pins
    if tsa_ca_pins and not tsa_ca:
        tsa_roots = tsa_ca_pins
    signer_pins = pins & seal_certs
    seal_pinned = bool(seal_ca or seal_ca_pins or signer_pins)
    tsa_pins = frozenset(pins & tsa_certs)
    tsa_pinned = bool(tsa_ca or tsa_ca_pins) or (bool(tsa_certs) and tsa_certs <= tsa_pins)
    identity = signer_pins or seal_certs  # the bundle's declared sealing certificates otherwise
    trust = SealTrust.of(seal_roots, identity, pinned=bool(signer_pins))
    pinned = seal_pinned and tsa_pinned
    report.pinned = pinned
    report.add(
        "trust_anchors",
        True,
        f"seal anchors {'pinned' if seal_pinned else 'from the bundle'}: "
        + ", ".join(f"{c.subject.rfc4514_string()} sha256:{fingerprint(c)}" for c in seal_roots)
        + f"; sealing certificate(s) {'pinned' if signer_pins else 'as the bundle declares'}: "
        + ", ".join(sorted(identity))
        + f"; TSA anchors {'pinned' if tsa_pinned else 'from the bundle'}: "
        + ", ".join(f"{c.subject.rfc4514_string()} sha256:{fingerprint(c)}" for c in tsa_roots)
        + ("" if pinned else f" ({NOTICE_UNPINNED})"),
    )
    return _Trust(trust, tsa_roots, tsa_pins, pinned)


def _bundle_certs(src: Source, name: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(src.read(name))
    except ValueError as e:
        raise InputError(f"{name} is not a PEM certificate bundle", detail=str(e)) from e


def _tsa_cert(src: Source, name: str) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(src.read(name))
    except (InputError, ValueError):
        return None


def _check_manifest_seal(src: Source, doc_bytes: bytes, trust: _Trust, report: ExportReport) -> None:
    token: Token | None = None
    try:
        token = verify_token(
            src.read(layout.MANIFEST_TOKEN),
            hashlib.sha256(doc_bytes).digest(),
            trust.tsa_roots,
            tsa_cert=_tsa_cert(src, layout.MANIFEST_TSA),
        )
        report.add("export_timestamp", True, f"export.json timestamped at {token.gen_time.isoformat()}")
        report.info["exported_at"] = token.gen_time.isoformat()
    except (TimestampError, InputError, ValueError) as e:
        report.add("export_timestamp", False, f"token over export.json invalid: {e}")
    try:
        info = verify_detached(
            src.read(layout.MANIFEST_SEAL), doc_bytes, trust.seal, at=token.gen_time if token else None
        )
        report.add("export_seal", True, f"export.json sealed by {info.signer} (sha256:{info.signer_fingerprint})")
    except (SealError, InputError) as e:
        report.add("export_seal", False, f"seal over export.json invalid: {e}")


def _check_files(src: Source, doc: dict[str, Any], report: ExportReport) -> None:
    files = doc.get("files")
    if not isinstance(files, dict):
        report.add("files", False, "export.json lists no files")
        return
    bad: list[str] = []
    for name, want in files.items():
        if not src.has(str(name)):
            bad.append(f"{name} is missing")
            continue
        sha = hashlib.sha256()
        for c in src.chunks(str(name)):
            sha.update(c)
        if sha.hexdigest() != want:
            bad.append(f"{name} differs from export.json (sha256 {sha.hexdigest()}, listed {want})")
    extra = sorted(src.names - set(files) - layout.UNLISTED)
    bad.extend(f"{name} is not listed in export.json" for name in extra)
    report.add(
        "files",
        not bad,
        f"{len(files)} files present, each with its listed SHA-256, none unlisted"
        if not bad
        else "; ".join(bad[:20]) + (f"; and {len(bad) - 20} more" if len(bad) > 20 else ""),
    )


@dataclass
class _Batch:
    root: str
    manifest: dict[str, Any]
    token: Token | None


def _check_batches(src: Source, doc: dict[str, Any], trust: _Trust, report: ExportReport) -> dict[int, _Batch]:
    out: dict[int, _Batch] = {}
    for entry in doc.get("batches") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
            report.add("batches", False, "export.json lists a batch without a number")
            continue
        seq = int(entry["seq"])
        d = str(entry.get("dir"))
        r = Report(item=f"batch {seq}")
        try:
            batch_bytes = src.read(f"{d}/batch.json")
            manifest = read_batch_manifest(r, batch_bytes)
            tsa_fp = str(entry.get("tsa_certificate"))
            tsa_cert = _tsa_cert(src, layout.tsa_cert(tsa_fp))
            if trust.tsa_pins and tsa_fp not in trust.tsa_pins and not trust.pinned:
                r.add("timestamp", False, f"its TSA certificate {tsa_fp} is not one of the pinned ones")
            token = (
                check_batch_seal(
                    r,
                    batch_bytes=batch_bytes,
                    batch=manifest,
                    seal=src.read(f"{d}/seal.p7s"),
                    tsr=src.read(f"{d}/timestamp.tsr"),
                    seal_roots=trust.seal,
                    tsa_roots=trust.tsa_roots,
                    tsa_cert=tsa_cert,
                )
                if manifest
                else None
            )
            if manifest and (manifest.get("seq") != seq or manifest.get("root") != entry.get("root")):
                r.add("batch_manifest", False, f"batch.json is batch {manifest.get('seq')} root {manifest.get('root')}")
        except InputError as e:
            r.add("batch_files", False, str(e))
            token, manifest = None, {}
        failed = [f"{c.name}: {c.detail}" for c in r.failed]
        report.add(
            f"batch {seq}",
            not failed,
            f"sealed and timestamped at {token.gen_time.isoformat() if token else '?'}, root {manifest.get('root')}"
            if not failed
            else "; ".join(failed),
        )
        if manifest:
            out[seq] = _Batch(str(manifest.get("root")), manifest, token)
    return out


def _check_chain(src: Source, doc: dict[str, Any], batches: dict[int, _Batch], report: ExportReport) -> None:
    if not batches:
        report.add("chain", False, "no batch verifies")
        return
    chain_files = {
        int(c["seq"]): str(c.get("file"))
        for c in doc.get("chain") or []
        if isinstance(c, dict) and isinstance(c.get("seq"), int)
    }
    lo, hi = min(batches), max(batches)
    prev_root: str | None = None
    for k in range(lo, hi + 1):
        if k in batches:
            manifest = batches[k].manifest
        elif k in chain_files and src.has(chain_files[k]):
            r = Report(item=f"batch {k}")
            try:
                manifest = read_batch_manifest(r, src.read(chain_files[k]))
            except InputError as e:
                manifest = {}
                r.add("batch_manifest", False, str(e))
            if not manifest or manifest.get("seq") != k or not check_chain_path(r, manifest):
                report.add("chain", False, f"chain broken at batch {k}: its batch.json does not link")
                return
        else:
            report.add("chain", False, f"chain broken: batch {k} is missing between batches {lo} and {hi}")
            return
        if prev_root is not None and manifest.get("previous_root") != prev_root:
            report.add(
                "chain",
                False,
                f"chain broken at batch {k}: its previous_root {manifest.get('previous_root')} "
                f"is not batch {k - 1}'s root {prev_root}",
            )
            return
        prev_root = str(manifest.get("root"))
    report.add("chain", True, f"batches {lo} to {hi} follow each other ({hi - lo + 1} batches)")


def _check_destruction(src: Source, d: str, entry: dict[str, Any], batches: dict[int, _Batch], r: Report) -> None:
    r.destroyed_rule = str((entry.get("destruction") or {}).get("rule") or "destroyed")
    try:
        body = src.read(f"{d}/destruction.json")
        record = load_json(body, "destruction.json")
    except InputError as e:
        r.add("destruction_record", False, str(e))
        return
    if not names_destroyed(record, r.item) or record.get("action") not in ("destroy", "subject_erase"):
        r.add("destruction_record", False, "destruction.json is not a destruction record of this item")
        return
    seq = (entry.get("destruction") or {}).get("batch")
    if seq is None:
        r.add(
            "destruction_record", True, f"{record.get('action')} at {record.get('at')} (its batch was not sealed yet)"
        )
        return
    try:
        leaf, path = parse_path(parse_json(src.read(f"{d}/destruction-path.json"), "destruction-path.json"))
        ok = (
            leaf == hashlib.sha256(body).digest()
            and seq in batches
            and root_from_path(leaf, path).hex() == batches[seq].root
        )
    except InputError as e:
        r.add("destruction_record", False, f"destruction-path.json: {e}")
        return
    r.add(
        "destruction_record",
        ok,
        f"{record.get('action')} at {record.get('at')}, sealed in batch {seq}"
        if ok
        else f"destruction.json does not lead to the root of batch {seq}",
    )


def _check_item(
    src: Source, doc: dict[str, Any], entry: dict[str, Any], batches: dict[int, _Batch], declared: set[str]
) -> Report:
    r = Report(item=str(entry.get("id", "?")))
    d = str(entry.get("dir", layout.item_dir(r.item)))
    seq = entry.get("batch")
    batch = batches.get(seq) if isinstance(seq, int) else None
    try:
        evidence_bytes = src.read(f"{d}/evidence.json")
        evidence = load_json(evidence_bytes, "evidence.json")
        path_obj = parse_json(src.read(f"{d}/path.json"), "path.json")
    except InputError as e:
        r.add("item_files", False, str(e))
        return r
    same = all(
        evidence.get(k) == v
        for k, v in (("id", r.item), ("tenant", doc.get("tenant")), ("session", entry.get("session")))
    )
    r.add(
        "evidence_manifest", same, "the sealed manifest is this item's" if same else "evidence.json is another item's"
    )
    if batch is None:
        r.add("path_to_root", False, f"its batch {seq} is not in the bundle or does not verify")
        return r
    check_item_path(r, evidence_bytes=evidence_bytes, path_obj=path_obj, root_hex=batch.root)
    if batch.token is not None:
        check_timeline(r, evidence_bytes, batch.manifest, batch.token.gen_time)
    if entry.get("state") == "destroyed":
        _check_destruction(src, d, entry, batches, r)
        return r
    if entry.get("payload"):
        salt: bytes | str | None = None
        if evidence.get("type") == "vault-evidence/2":
            try:
                salt = bytes.fromhex(src.read(f"{d}/content-salt.hex").decode("ascii").strip())
            except (InputError, ValueError, UnicodeDecodeError) as e:
                salt = f"content-salt.hex: {e}"
        if not src.has(f"{d}/payload"):
            r.add("payload_digest", False, "the payload is missing")
        else:
            check_payload(r, src.chunks(f"{d}/payload"), evidence, salt)
    else:
        r.add(
            "content_withheld",
            True,
            "a record's content is every field's disclosure: it is not exported; "
            "its sealed commitments stand for it, and each disclosed field is checked against them",
        )
    commitments = evidence.get("commitments") if isinstance(evidence.get("commitments"), dict) else {}
    assert isinstance(commitments, dict)
    if src.has(f"{d}/disclosures.json"):
        try:
            listed = parse_json(src.read(f"{d}/disclosures.json"), "disclosures.json")
            if not isinstance(listed, list):
                raise InputError("disclosures.json is not a list")
            for encoded in listed:
                disc = parse_disclosure(str(encoded))
                if disc.name not in declared:
                    r.add("disclosure", False, f"field {disc.name} is disclosed but export.json does not declare it")
                elif commitments.get(disc.name) != disc.digest:
                    r.add(
                        "disclosure",
                        False,
                        f"field {disc.name}: the disclosed value does not match its sealed commitment",
                    )
                else:
                    r.add("disclosure", True, f"field {disc.name} matches its sealed commitment")
        except InputError as e:
            r.add("disclosure", False, str(e))
    return r


def verify_export(
    path: Path, *, seal_ca: Path | None = None, tsa_ca: Path | None = None, fingerprints: Sequence[str] = ()
) -> ExportReport:
    # the recipient's own pins: a malformed one is their input error, not a verdict on the bundle
    pins: set[str] = set()
    for f in fingerprints:
        try:
            pins.add(normalize_fingerprint(f))
        except ConfigError:
            raise InputError("--fingerprint is the SHA-256 of a certificate: 64 hex digits", detail=f[:80]) from None
    pinned_seal = load_certs(seal_ca) if seal_ca is not None else None
    pinned_tsa = load_certs(tsa_ca) if tsa_ca is not None else None
    report = ExportReport()
    src = Source(Path(path))
    try:
        try:
            doc_bytes = src.read(layout.MANIFEST)
            doc = load_json(doc_bytes, layout.MANIFEST)
            if doc.get("type") != layout.EXPORT_TYPE or not isinstance(doc.get("items"), list):
                raise InputError(f"export.json is not a {layout.EXPORT_TYPE} manifest")
        except InputError as e:
            report.add("export_manifest", False, str(e))
            return report
        report.export = str(doc.get("id", "?"))
        report.info.update({"case": doc.get("case"), "tenant": doc.get("tenant"), "items": len(doc["items"])})
        report.add(
            "export_manifest", True, f"export {report.export} of case {doc.get('case')!r}, {len(doc['items'])} items"
        )
        trust = _anchors(src, doc, report, pinned_seal, pinned_tsa, pins)
        if trust is None:
            return report
        _check_manifest_seal(src, doc_bytes, trust, report)
        _check_files(src, doc, report)
        batches = _check_batches(src, doc, trust, report)
        _check_chain(src, doc, batches, report)
        declared = {str(f) for f in doc.get("disclosed_fields") or []}
        for entry in doc["items"]:
            if isinstance(entry, dict):
                report.items.append(_check_item(src, doc, entry, batches, declared))
            else:
                report.add("export_manifest", False, "export.json lists an item that is not an object")
        return report
    finally:
        src.close()
