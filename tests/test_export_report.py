"""report.pdf of a litigation export (vault/export/report_pdf.py), rendered by poppler.

Each page must carry ink, the text must name every item, the case, the disclosed value and
both "how to verify" pages; the same input gives the same bytes; 2,000 items break tables
across pages and still reach the last one. Needs poppler-utils (pdftoppm, pdftotext): the
tests skip without it, except under CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vault.export.report_pdf import fold_latin1, render_report

CASE = "RG 24/01234"
IP = "203.0.113.77"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _poppler() -> None:
    if shutil.which("pdftoppm") and shutil.which("pdftotext"):
        return
    if _in_ci():
        pytest.fail("poppler-utils (pdftoppm, pdftotext) is required in CI: apt-get install poppler-utils")
    pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed: apt-get install poppler-utils")


def _hex(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _item(
    n: int, session: str, kind: str, *, at: str, batch: int, disclosed: list[str], withheld: list[str]
) -> dict[str, Any]:
    item_id = f"ev_01jdhq{n:020d}"
    record = kind == "connection_metadata"
    salted = kind in ("session_log", "session_recording", "request")
    content: dict[str, Any] = (
        {"size": 1000 + n, "salted_sha256": _hex(f"s{n}"), "salted_sha3-256": _hex(f"s3{n}")}
        if salted
        else {"size": 1000 + n, "sha256": _hex(f"p{n}"), "sha3-256": _hex(f"p3{n}")}
    )
    return {
        "id": item_id,
        "session": session,
        "kind": kind,
        "purpose": "transaction_proof" if kind == "signed_document" else "support",
        "received_at": at,
        "state": "sealed",
        "restricted": False,
        "archived": False,
        "batch": batch,
        "dir": f"items/{item_id}",
        "payload": not record,
        "salted": salted,
        "content": content,
        "disclosed": disclosed,
        "withheld": withheld,
        "destruction": None,
        "verification": {
            "status": "valid",
            "checks": [{"name": c, "ok": True, "detail": ""} for c in ("payload", "leaf", "path", "seal", "timestamp")],
        },
    }


def synthetic_export(extra: int = 0) -> tuple[dict[str, Any], dict[str, dict[str, object]]]:
    """The contract's export.json (without "files"): a session with a connection event (ip
    disclosed), a session log and a signed document, a destroyed item in a second session,
    and ``extra`` more items spread over sessions."""
    kinds = ("connection_metadata", "session_log", "signed_document")
    items = [
        _item(
            i,
            "sess-2026-11-02-alpha",
            kind,
            at=f"2026-11-02T09:1{i}:0{i}.123456Z",
            batch=5,
            disclosed=["ip"] if kind == "connection_metadata" else [],
            withheld=["device", "subject", "user"] if kind == "connection_metadata" else [],
        )
        for i, kind in enumerate(kinds)
    ]
    gone = _item(
        3,
        "sess-2026-10-01-beta",
        "session_recording",
        at="2026-10-01T14:00:00.000001Z",
        batch=2,
        disclosed=[],
        withheld=[],
    )
    gone |= {
        "state": "destroyed",
        "payload": False,
        "destruction": {
            "action": "erase",
            "at": "2026-11-20T03:00:00.000000Z",
            "rule": "support: 12 months after the end of service",
            "record": "jr_01jdx0000000000000000000042",
            "batch": 9,
        },
        "verification": {
            "status": "destroyed",
            "checks": [
                {"name": "leaf", "ok": True, "detail": ""},
                {"name": "payload", "ok": False, "detail": "erased under retention rule support (key destroyed)"},
            ],
        },
    }
    items.append(gone)
    for n in range(extra):
        items.append(
            _item(
                100 + n,
                f"sess-bulk-{n // 50:04d}",
                kinds[n % 3],
                at=f"2026-11-{3 + n // 5000:02d}T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}.000000Z",
                batch=6,
                disclosed=["ip"] if n % 3 == 0 else [],
                withheld=["device", "subject", "user"] if n % 3 == 0 else [],
            )
        )
    disclosed: dict[str, dict[str, object]] = {
        i["id"]: {"ip": IP if n == 0 else f"198.51.100.{n % 250}"} for n, i in enumerate(items) if i["disclosed"]
    }
    seal, tsa, seal_ca, tsa_ca = _hex("seal"), _hex("tsa"), _hex("seal-ca"), _hex("tsa-ca")

    def batch(seq: int, at: str) -> dict[str, Any]:
        return {
            "seq": seq,
            "root": _hex(f"root{seq}"),
            "dir": f"batches/{seq:012d}",
            "created_at": at,
            "timestamp": at.replace(".000000Z", ".5Z"),
            "tsa_certificate": tsa,
            "seal_certificate": seal,
        }

    export: dict[str, Any] = {
        "type": "vault-export/1",
        "id": "exp-01jdz8k2m3n4p5q6r7s8t9v0wx",
        "tenant": "acme",
        "case": CASE,
        "created_at": "2026-11-29T20:35:00.123456Z",
        "created_by": {"actor": "key:legal-01", "role": "legal"},
        "selection": {
            "sessions": ["sess-2026-11-02-alpha", "sess-2026-10-01-beta"],
            "items": [],
            "from": None,
            "to": None,
            "hold": None,
        },
        "disclosed_fields": ["ip"],
        "anchors": {
            "seal_ca": [
                {
                    "sha256": seal_ca,
                    "subject": "CN=Acme Evidence Seal CA,O=Acme SAS,C=FR",
                    "not_after": "2036-01-01T00:00:00Z",
                }
            ],
            "seal_certificates": [
                {
                    "sha256": seal,
                    "subject": "CN=Acme Evidence Seal 2026,O=Acme SAS,C=FR",
                    "not_after": "2028-01-01T00:00:00Z",
                    "file": f"certs/seal/{seal}.pem",
                }
            ],
            "tsa_ca": [
                {
                    "sha256": tsa_ca,
                    "subject": "CN=Example Qualified TSA Root,O=Example Trust,C=FR",
                    "not_after": "2040-01-01T00:00:00Z",
                }
            ],
            "tsa_certificates": [
                {
                    "sha256": tsa,
                    "subject": "CN=Example TSU 3,O=Example Trust,C=FR",
                    "not_after": "2031-01-01T00:00:00Z",
                    "file": f"certs/tsa/{tsa}.pem",
                    "self_operated": False,
                }
            ],
        },
        "batches": [
            batch(2, "2026-10-01T14:00:05.000000Z"),
            batch(5, "2026-11-02T09:20:00.000000Z"),
            batch(6, "2026-11-10T00:00:00.000000Z"),
        ],
        "chain": [{"seq": 3, "root": _hex("root3"), "file": "chain/000000000003.json"}],
        "items": items,
    }
    return export, disclosed


def _pages(pdf: Path, out: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "50", "-gray", str(pdf), str(out / "page")], check=True, timeout=300)
    return sorted(out.glob("page*.pgm"))


def _inked(pgm: bytes) -> bool:
    """A binary PGM (P5) with at least one pixel that is not white."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while pgm[pos : pos + 1].isspace():
            pos += 1
        if pgm[pos : pos + 1] == b"#":
            pos = pgm.index(b"\n", pos)
            continue
        end = pos
        while not pgm[end : end + 1].isspace():
            end += 1
        fields.append(pgm[pos:end])
        pos = end
    assert fields[0] == b"P5", fields[0]
    width, height, maxval = int(fields[1]), int(fields[2]), int(fields[3])
    assert maxval < 256
    pixels = pgm[pos + 1 : pos + 1 + width * height]
    assert len(pixels) == width * height
    return pixels.count(bytes([maxval])) < len(pixels)


def _text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=300
    ).stdout


def test_report_renders_every_page_and_names_every_item(tmp_path: Path) -> None:
    _poppler()
    export, disclosed = synthetic_export()
    data = render_report(export, disclosed)
    assert data.startswith(b"%PDF-")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    pages = _pages(pdf, tmp_path)
    assert len(pages) >= 4  # cover, how to verify (fr, en), timeline, details
    for page in pages:
        assert _inked(page.read_bytes()), f"{page.name} is blank"
    text = _text(pdf)
    for item in export["items"]:
        assert item["id"] in text
    for needle in (
        CASE,
        IP,
        export["id"],
        "Comment vérifier",
        "How to verify",
        "vault verify --bundle",
        "VERIFY.md",
        "not an independent",
        "pas une vérification",
        export["anchors"]["seal_certificates"][0]["sha256"],
        "jr_01jdx0000000000000000000042",  # the destroyed item's destruction record
        "Withheld",
    ):
        assert needle in text, needle


def test_report_is_deterministic() -> None:
    export, disclosed = synthetic_export()
    assert render_report(export, disclosed) == render_report(export, disclosed)


def test_report_without_dejavu_falls_back_to_latin1(tmp_path: Path) -> None:
    _poppler()
    export, disclosed = synthetic_export()
    export["case"] = "RG 24/01234 — “Œuvre” → ✓"
    data = render_report(export, disclosed, font_dir=tmp_path / "no-fonts")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    text = _text(pdf)
    assert fold_latin1(export["case"]) in text
    assert "Comment vérifier" in text
    assert export["items"][-1]["id"] in text


def test_report_of_500_items_breaks_across_pages(tmp_path: Path) -> None:
    _poppler()
    small, small_disclosed = synthetic_export()
    export, disclosed = synthetic_export(extra=500)
    pdf = tmp_path / "small.pdf"
    pdf.write_bytes(render_report(small, small_disclosed))
    few = len(_text(pdf).split("\f"))
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(render_report(export, disclosed))
    text = _text(pdf)
    assert len(text.split("\f")) > few + 25
    last = max(export["items"], key=lambda i: (i["received_at"], i["id"]))
    assert export["items"][-1]["id"] in text
    assert last["id"] in text
    assert text.rstrip("\f").rsplit("\f", 1)[-1].count("ev_01jdhq") > 0  # the details run to the last page
