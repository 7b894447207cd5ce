"""VERIFY.md of a litigation export: its ``sh`` blocks, run with bash in the unzipped bundle,
pass on the bundle as written; after tampering, the step that checks what was changed fails.
The page's commands use only openssl, sha256sum, grep, cat, xxd and printf (and bash)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from export_support import Case, export_case, make_case
from vault.context import VaultContext
from vault.export.verify_md import export_verify_md
from vault.privacy.commitments import disclose as make_disclosure

BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)
STEPS = ["setup", "anchors", "export", "files", "batch-example", "batches", "chain", "item-example", "items",
         "payload-example", "payloads", "disclosure-example", "disclosures", "destroyed", "verdict"]  # fmt: skip


@pytest.fixture
def bundle(ctx: VaultContext, tmp_path: Path) -> tuple[Path, Case]:
    case = make_case(ctx)
    export_case(ctx, tmp_path / "case.zip")
    with zipfile.ZipFile(tmp_path / "case.zip") as z:
        z.extractall(tmp_path / "bundle")
    return tmp_path / "bundle", case


def steps(text: str) -> dict[str, str]:
    """The page's sh blocks by name (the ``# step: NAME`` line each one starts with)."""
    found: dict[str, str] = {}
    for body in BLOCK.findall(text):
        head = re.match(r"# step: ([a-z-]+)\n", body)
        assert head, body[:80]
        found[head.group(1)] = body
    return found


def run(folder: Path, *names: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Step 0 and the named steps, in one bash, in the bundle's folder."""
    blocks = steps((folder / "VERIFY.md").read_text())
    script = "".join(blocks[n] for n in ("setup", *names))
    return subprocess.run(
        ["bash", "-c", script], cwd=folder, capture_output=True, text=True, env={**os.environ, **(env or {})},
        timeout=600,
    )  # fmt: skip


def test_every_step_passes_on_the_bundle_as_written(bundle: tuple[Path, Case], tmp_path: Path) -> None:
    d, case = bundle
    text = (d / "VERIFY.md").read_text()
    assert list(steps(text)) == STEPS
    doc = json.loads((d / "export.json").read_bytes())
    for group in doc["anchors"].values():  # every fingerprint to compare is on the page
        for cert in group:
            assert cert["sha256"] in text
    assert "prove integrity only" in text.replace("\n", " ") or "**they prove integrity only**" in text
    assert "/v1/certificates" in text and "-fingerprint -sha256" in text

    # the page's own way of running every block at once
    indented = re.search(r"^((?: {4}.*\n)+)", text[text.index("at once:") :], re.M)
    assert indented
    snippet = textwrap.dedent(indented.group(1))
    r = subprocess.run(
        ["bash", "-c", snippet], cwd=d, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp_path)},
        timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAILED" not in r.stdout and r.stdout.rstrip().endswith("VALID: every check passed"), r.stdout
    for item in case.selected:
        assert re.search(rf"^ok +{item}: leaf [0-9a-f]{{64}}, sealed in batches/\d{{12}}$", r.stdout, re.M), item
    assert re.search(rf"^ok +items/{case.log}/payload: salted_sha256 ", r.stdout, re.M)
    assert re.search(rf"^ok +items/{case.doc}/payload: sha256 ", r.stdout, re.M)
    assert re.search(rf'^ok +{case.record}: \["[^"]+","ip","203\.0\.113\.77"\]$', r.stdout, re.M)
    assert re.search(rf'^ok +{case.erased}: "action":"subject_erase"', r.stdout, re.M)
    assert re.search(rf"^ok +{case.erased}: record [0-9a-f]{{64}} sealed in batches/", r.stdout, re.M)
    assert re.search(r"^ok +batch \d+ follows batch \d+$", r.stdout, re.M)
    # each step alone (after step 0) passes too
    for name in STEPS[1:]:
        one = run(d, name)
        assert one.returncode == 0, (name, one.stdout, one.stderr)


def _flip(path: Path, at: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_name(a.name + ".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _batch_dirs(d: Path) -> list[Path]:
    return sorted(p for p in (d / "batches").iterdir() if p.is_dir())


def test_tampering_fails_the_step_that_checks_it(bundle: tuple[Path, Case], tmp_path: Path) -> None:
    d, case = bundle
    other_ip = make_disclosure("ip", "203.0.113.78").encoded
    cases: dict[str, tuple[Callable[[Path], object], list[str], dict[str, str]]] = {
        "salted payload byte": (lambda c: _flip(c / f"items/{case.log}/payload"), ["payloads", "files"], {}),
        "plain payload byte": (lambda c: _flip(c / f"items/{case.doc}/payload", 10), ["payloads"], {}),
        "content salt": (lambda c: _flip(c / f"items/{case.log}/content-salt.hex", 0), ["payloads"], {}),
        "disclosed value": (
            lambda c: (c / f"items/{case.record}/disclosures.json").write_text(json.dumps([other_ip])),
            ["disclosures", "files"],
            {},
        ),
        "batches swapped": (lambda c: _swap(*_batch_dirs(c)[:2]), ["batches", "batch-example"], {}),
        "batch removed": (lambda c: shutil.rmtree(_batch_dirs(c)[1]), ["chain", "files"], {}),
        "evidence.json": (lambda c: _flip(c / f"items/{case.doc}/evidence.json", 30), ["items"], {}),
        "path.json": (lambda c: _flip(c / f"items/{case.doc}/path.json", 200), ["items"], {}),
        "destruction record": (lambda c: _flip(c / f"items/{case.erased}/destruction.json", 40), ["destroyed"], {}),
        "export.json": (lambda c: _flip(c / "export.json", 20), ["export"], {}),
        "an undeclared field": (
            lambda c: (c / "export.json").write_bytes(
                (c / "export.json").read_bytes().replace(b'"disclosed_fields":["ip"]', b'"disclosed_fields":[]')
            ),
            ["disclosures", "export"],
            {},
        ),
        "an extra file": (lambda c: (c / "items/notes.txt").write_text("x\n"), ["files"], {}),
        "another sealing certificate pinned": (lambda c: None, ["export", "batches"], {"SEAL_FPS": "ab" * 32}),
        "another seal CA": (lambda c: None, ["export", "batches"], {"SEAL_CA": "certs/tsa-ca.pem"}),
    }
    for what, (tamper, failing, env) in cases.items():
        copy = tmp_path / re.sub(r"\W", "-", what)
        shutil.copytree(d, copy)
        tamper(copy)
        for name in failing:
            r = run(copy, name, env=env)
            assert r.returncode != 0 and "FAILED" in r.stdout, (what, name, r.stdout, r.stderr)


def test_a_worked_path_walk_with_literal_values(bundle: tuple[Path, Case], tmp_path: Path) -> None:
    """With the first item's path.json, the example lists one command per level, expected value included."""
    d, _ = bundle
    doc = json.loads((d / "export.json").read_bytes())
    first = doc["items"][0]
    path = json.loads((d / first["dir"] / "path.json").read_text())
    text = export_verify_md(doc, example_path=path)
    body = steps(text)["item-example"]
    levels = re.findall(r"^printf %s ([0-9a-f]{64}) ([0-9a-f]{64}) \| xxd -r -p .*grep '\^([0-9a-f]{64}) '", body, re.M)
    assert levels and all(a < b for a, b, _ in levels)
    root = next(b["root"] for b in doc["batches"] if b["seq"] == first["batch"])
    assert levels[-1][2] == root
    copy = tmp_path / "literal"
    shutil.copytree(d, copy)
    (copy / "VERIFY.md").write_text(text)
    r = run(copy, "item-example")
    assert r.returncode == 0 and "FAILED" not in r.stdout, r.stdout + r.stderr
    _flip(copy / first["dir"] / "evidence.json", 30)
    assert run(copy, "item-example").returncode != 0
