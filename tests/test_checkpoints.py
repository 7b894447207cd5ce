"""Signed checkpoints of the batch log and their proofs, checked by a verifier nobody here wrote:
a small Go program (tests/go/notecheck) built on golang.org/x/mod/sumdb/note (C2SP signed
notes) and golang.org/x/mod/sumdb/tlog (RFC 6962 CheckTree / CheckRecord), built by this test
from Debian's golang-go and golang-golang-x-mod-dev, offline."""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from api_support import ApiServer
from conftest import run_cli
from vault.batch.sealer import seal_pending
from vault.checkpoint import log as cplog
from vault.checkpoint import tree
from vault.checkpoint.audit import check_since
from vault.checkpoint.note import Checkpoint as Body
from vault.checkpoint.note import NoteError, Signer, Verifier, open_checkpoint, sign_checkpoint
from vault.checkpoint.verify import check_under_checkpoint
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import KeyError_
from vault.index.models import Batch, Checkpoint
from vault.keys.notekey import ensure_note_key, load_note_key, note_verifier
from vault.verify.report import Report
from vault_support import put_file

GOPATH_SRC = Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/note")
CHECKER = Path(__file__).parent / "go" / "notecheck"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def notecheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built offline against Debian's x/mod (GOPATH mode, no module proxy)."""
    go = shutil.which("go")
    if go is None or not GOPATH_SRC.is_dir():
        missing = "golang-go golang-golang-x-mod-dev"
        if _ci():
            pytest.fail(f"CI=true: the checkpoint checker needs Go and x/mod: apt-get install {missing}")
        pytest.skip(f"needs go and golang.org/x/mod: apt-get install {missing}")
    work = tmp_path_factory.mktemp("notecheck")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"/usr/share/gocode:{work}",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": str(work / "cache"),
        "CGO_ENABLED": "0",
    }
    out = work / "notecheck"
    r = subprocess.run(
        [go, "build", "-o", str(out), "."], cwd=CHECKER, env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, f"go build failed:\n{r.stderr}"
    return out


class Go:
    """Run the checker on files in a folder: ``ok`` is its verdict, ``out`` what it printed."""

    def __init__(self, binary: Path, folder: Path, vkey: str) -> None:
        self.binary, self.folder = binary, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.vkey = self.file("vkey", vkey)

    def file(self, name: str, data: str | bytes) -> str:
        p = self.folder / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(p)

    def run(self, *args: str) -> tuple[bool, str]:
        r = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode in (0, 1), f"notecheck {args}: {r.returncode} {r.stderr}"
        return r.returncode == 0, r.stdout + r.stderr

    def note(self, note: str) -> tuple[bool, str]:
        return self.run("note", self.vkey, self.file("note", note))

    def consistency(self, old: str, new: str, proof: dict[str, object]) -> tuple[bool, str]:
        return self.run(
            "consistency",
            self.vkey,
            self.file("old", old),
            self.file("new", new),
            self.file("c.json", json.dumps(proof)),
        )

    def inclusion(self, note: str, data: bytes, index: int, proof: dict[str, object]) -> tuple[bool, str]:
        return self.run(
            "inclusion",
            self.vkey,
            self.file("note", note),
            self.file("leaf", data),
            str(index),
            self.file("i.json", json.dumps(proof)),
        )


def _seal_one(ctx: VaultContext, n: int) -> str:
    item = put_file(ctx, "erin", f"session log {n}\n".encode() * 20)
    [batch] = seal_pending(ctx)
    assert batch.items == 1
    return item


def _manifests(ctx: VaultContext) -> list[bytes]:
    with ctx.sessions() as s:
        return [bytes(m) for m in s.scalars(select(Batch.manifest).order_by(Batch.seq))]


# -- the pure parts --------------------------------------------------------------------------

#: RFC 6962 reference leaves and roots (certificate-transparency's merkle tree tests)
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58))]
CT_LEAVES.append(bytes(range(0x60, 0x70)))
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PATH_0_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]


def test_stored_hashes_give_the_rfc6962_roots_and_proofs() -> None:
    log = tree.MemoryLog().extend(CT_LEAVES)
    assert [log.root(n).hex() for n in range(1, 9)] == CT_ROOTS
    assert [h.hex() for h in tree.prove(lambda g: tree.inclusion_proof(0, 8, g), log.read)] == CT_PATH_0_8
    # every leaf in every size, every pair of sizes: built from stored hashes, checked, and refused
    # when one hash, the size or the old root is wrong
    data = [os.urandom(20 + i) for i in range(37)]
    big = tree.MemoryLog().extend(data)
    assert sum(len(r) for r in big.rows) < 2 * len(data)  # about two stored hashes per leaf
    for size in range(1, 38):
        root = tree.mth(data[:size])
        assert big.root(size) == root
        for i in range(size):
            p = tree.prove(functools.partial(tree.inclusion_proof, i, size), big.read)
            tree.check_inclusion(p, size, root, i, tree.leaf_hash(data[i]))
            if p:
                with pytest.raises(tree.ProofError):
                    tree.check_inclusion([*p[:-1], os.urandom(32)], size, root, i, tree.leaf_hash(data[i]))
        for old in range(1, size + 1):
            p = tree.prove(functools.partial(tree.consistency_proof, old, size), big.read)
            tree.check_consistency(p, size, root, old, big.root(old))
            if old < size:
                with pytest.raises(tree.ProofError):
                    tree.check_consistency(p, size, root, old, os.urandom(32))


def test_signed_note_format_and_keys() -> None:
    signer = Signer.generate("vault.example/evidence")
    v = signer.verifier
    assert Verifier.parse(str(v)) == v and Signer.parse(signer.encode()).verifier == v
    name, key_id, b64key = str(v).split("+", 2)
    assert name == "vault.example/evidence" and len(key_id) == 8 and base64.b64decode(b64key)[0] == 1
    note = sign_checkpoint(Body("vault.example/evidence", 3, bytes(range(32))), signer)
    text, sig = note.split("\n\n")
    assert text == "vault.example/evidence\n3\n" + base64.b64encode(bytes(range(32))).decode()
    assert sig.startswith("\u2014 vault.example/evidence ") and sig.endswith("\n")
    assert base64.b64decode(sig.split(" ")[2])[:4].hex() == key_id
    assert open_checkpoint(note, v).size == 3
    other = Signer.generate("vault.example/evidence").verifier
    for bad, key in ((note.replace("\n3\n", "\n4\n"), v), (note, other), (note[:-2] + "\n", v), ("x\n", v)):
        with pytest.raises(NoteError):
            open_checkpoint(bad, key)
    with pytest.raises(NoteError):
        open_checkpoint(note, v, origin="vault.example/other")


def test_init_makes_the_note_key_and_a_lost_one_is_not_replaced(settings: Settings) -> None:
    key = ensure_note_key(settings)
    path = settings.note_key_path
    assert oct(path.stat().st_mode & 0o777) == "0o600" and path.read_text().startswith("PRIVATE+KEY+")
    assert key.name == settings.log_origin == f"vault.example/{settings.bucket}"
    assert ensure_note_key(settings).verifier == key.verifier  # kept, never regenerated
    path.unlink()
    with pytest.raises(KeyError_, match="signed with it"):
        ensure_note_key(settings, signed_before=True)


# -- the vault: publication, API, CLI, checked in Go -------------------------------------------


@pytest.fixture
def three_batches(api_server: ApiServer) -> Iterator[tuple[ApiServer, list[str]]]:
    items = [_seal_one(api_server.ctx, n) for n in range(3)]
    yield api_server, items


def test_checkpoints_verify_with_go_and_prove_inclusion(
    three_batches: tuple[ApiServer, list[str]], notecheck: Path, tmp_path: Path
) -> None:
    api, items = three_batches
    ctx = api.ctx
    with api.client() as c:  # no key: public, like the anchors
        vkey = c.get("/v1/certificates").json()["checkpoint_key"]["verifier_key"]
        r = c.get("/v1/checkpoint")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        latest = r.text
        notes = {n: c.get(f"/v1/checkpoint/{n}").text for n in (1, 2, 3)}
        consistency = {(a, b): c.get(f"/v1/consistency?from={a}&to={b}").json() for a in (1, 2, 3) for b in (a, 3)}
        inclusion = c.get("/v1/inclusion?batch=2&size=3").json()
        # problems: from > to, sizes never published, a size 0
        for path, status in (
            ("/v1/consistency?from=3&to=1", 422),
            ("/v1/consistency?from=1&to=4", 404),
            ("/v1/consistency?from=0&to=1", 422),
            ("/v1/checkpoint/4", 404),
            ("/v1/inclusion?batch=4&size=3", 422),
        ):
            r = c.get(path)
            assert r.status_code == status and r.headers["content-type"] == "application/problem+json", path
    assert latest == notes[3]
    go = Go(notecheck, tmp_path / "go", vkey)

    # a valid checkpoint verifies in Go; the note is stored WORM under checkpoints/ and locked
    ok, out = go.note(latest)
    assert ok, out
    assert out.split()[1:3] == [ctx.settings.log_origin, "3"]
    with ctx.sessions() as s:
        row = s.get(Checkpoint, 3)
        assert row is not None and row.version is not None
    assert ctx.store.get(cplog.object_key(3), row.version).decode() == latest
    assert ctx.store.head(cplog.object_key(3), row.version)["ObjectLockMode"] == ctx.settings.lock_mode

    # a tampered note fails: size, root, signature, another key
    root_line = latest.split("\n")[2]
    forged_root = base64.b64encode(bytes(32)).decode()
    for bad in (latest.replace("\n3\n", "\n4\n", 1), latest.replace(root_line, forged_root), latest[:-3] + "AA\n"):
        ok, out = go.note(bad)
        assert not ok, out
        with pytest.raises(NoteError):
            open_checkpoint(bad, Verifier.parse(vkey))
    stranger = Go(notecheck, tmp_path / "stranger", str(Signer.generate(ctx.settings.log_origin).verifier))
    assert not stranger.note(latest)[0]

    # consistency between every pair of kept checkpoints
    for (a, b), proof in consistency.items():
        ok, out = go.consistency(notes[a], notes[b], proof)
        assert ok, f"{a}->{b}: {out}"
        assert proof["from"] == a and proof["to"] == b

    # the item of batch 2 under the kept checkpoint 3: in Go (batch.json is the leaf) and in the vault
    manifests = _manifests(ctx)
    ok, out = go.inclusion(notes[3], manifests[1], 1, inclusion)
    assert ok, out
    assert not go.inclusion(notes[3], manifests[0], 1, inclusion)[0]  # another batch's manifest
    report = Report(items[1])
    assert check_under_checkpoint(ctx, report, items[1], notes[3].encode()), report.checks
    report = Report(items[2])
    assert not check_under_checkpoint(ctx, report, items[2], notes[2].encode())  # batch 3 is after it
    assert "keep a newer checkpoint" in report.checks[0].detail


def test_cli_prints_checks_and_proves_an_item_under_a_kept_checkpoint(
    three_batches: tuple[ApiServer, list[str]], tmp_path: Path
) -> None:
    api, items = three_batches
    settings = api.settings
    r = run_cli(settings, "checkpoint")
    assert r.returncode == 0, r.stderr
    kept = tmp_path / "kept.txt"
    kept.write_bytes(r.stdout)
    v = note_verifier(settings)
    assert v is not None and open_checkpoint(r.stdout, v).size == 3
    r = run_cli(settings, "checkpoint", "--key")
    assert r.returncode == 0 and r.stdout.decode().strip() == str(note_verifier(settings))
    r = run_cli(settings, "verify", items[0], "--checkpoint", str(kept), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["checkpoint"]["ok"] and "size 3" in checks["checkpoint"]["detail"]
    older = tmp_path / "older.txt"
    older.write_bytes(run_cli(settings, "checkpoint", "--size", "1").stdout)
    _seal_one(api.ctx, 9)
    r = run_cli(settings, "checkpoint", "--since", str(older))
    assert r.returncode == 0 and b"extends the kept checkpoint of size 1" in r.stdout, r.stdout + r.stderr
    kept.write_bytes(kept.read_bytes().replace(b"\n3\n", b"\n2\n"))
    r = run_cli(settings, "verify", items[0], "--checkpoint", str(kept), "--json")
    assert r.returncode == 1
    assert not {c["name"]: c for c in json.loads(r.stdout)["checks"]}["checkpoint"]["ok"]


def _rewrite_history(ctx: VaultContext, replace_seq: int) -> None:
    """What an operator rewriting history would do: batch ``replace_seq`` replaced by another
    manifest, the log's stored hashes recomputed over it, and the result signed again."""
    manifests = _manifests(ctx)
    doc = json.loads(manifests[replace_seq - 1])
    doc["created_at"] = "2020-01-01T00:00:00Z"
    manifests[replace_seq - 1] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    forged = tree.MemoryLog()
    with ctx.sessions() as s:
        s.execute(delete(Checkpoint))
        for size, manifest in enumerate(manifests, 1):
            forged.append(manifest)
            row = Checkpoint(
                size=size, hashes=b"".join(forged.rows[-1]), root=forged.root().hex(), created_at=ctx.now()
            )
            s.add(row)
        s.commit()
    for size in range(1, len(manifests) + 1):
        cplog.publish(ctx, size)  # the same note key: every forged checkpoint is well signed


def test_rewritten_history_fails_consistency_in_go_and_in_python(
    three_batches: tuple[ApiServer, list[str]], notecheck: Path, tmp_path: Path
) -> None:
    api, items = three_batches
    ctx = api.ctx
    with api.client() as c:
        kept2, kept3 = c.get("/v1/checkpoint/2").text, c.get("/v1/checkpoint/3").text
        vkey = c.get("/v1/certificates").json()["checkpoint_key"]["verifier_key"]
    _rewrite_history(ctx, 2)
    _seal_one(ctx, 4)  # the log goes on over the rewritten history, signed as usual
    with api.client() as c:
        new = c.get("/v1/checkpoint").text
        forged2 = c.get("/v1/checkpoint/2").text
        proof = c.get("/v1/consistency?from=2&to=4").json()
        from1 = c.get("/v1/consistency?from=1&to=4").json()
    go = Go(notecheck, tmp_path / "go", vkey)
    assert go.note(new)[0] and go.note(forged2)[0]  # every note is well signed...
    assert go.consistency(forged2, new, proof)[0]  # ...and the forged log agrees with itself
    ok, out = go.consistency(kept2, new, proof)  # but not with what a witness kept
    assert not ok and "invalid transparency proof" in out, out
    v = Verifier.parse(vkey)
    old_cp, new_cp = open_checkpoint(kept2, v), open_checkpoint(new, v)
    with pytest.raises(tree.ProofError, match="history rewritten"):
        tree.check_consistency(
            [base64.b64decode(h) for h in proof["proof"]], new_cp.size, new_cp.root, old_cp.size, old_cp.root
        )
    ok, detail = check_since(ctx, kept2.encode(), new)
    assert not ok and "history rewritten" in detail
    # batch 1 is unchanged: its checkpoint still is consistent with the rewritten log
    with api.client() as c:
        assert go.consistency(c.get("/v1/checkpoint/1").text, new, from1)[0]

    # the items under the kept checkpoint: batch 2's own WORM batch.json still hashes to the kept
    # root (its audit path holds its siblings, not itself); batch 1's path runs through the forged
    # leaf: refused. Under the rewritten log, the true batch 2 is no leaf at all.
    def under(item: str, note: str) -> bool:
        return check_under_checkpoint(ctx, Report(item), item, note.encode())

    assert under(items[1], kept3) and not under(items[0], kept3)
    assert not under(items[1], new) and under(items[2], new)


def test_batches_sealed_before_the_log_are_caught_up_and_published(ctx: VaultContext) -> None:
    for n in range(2):
        _seal_one(ctx, n)
    with ctx.sessions() as s:  # an index migrated to revision 0006: no log yet
        s.execute(delete(Checkpoint))
        s.commit()
    _seal_one(ctx, 2)
    expected = tree.MemoryLog().extend(_manifests(ctx))
    with ctx.sessions() as s:
        rows = s.scalars(select(Checkpoint).order_by(Checkpoint.size)).all()
        assert [r.size for r in rows] == [1, 2, 3]
        assert [r.root for r in rows] == [expected.root(n).hex() for n in (1, 2, 3)]
        # the checkpoints signed before are taken back from the store (checkpoints/), then 3
        assert all(r.note is not None for r in rows)
        assert rows[0].note == ctx.store.get(cplog.object_key(1), str(rows[0].version)).decode()
    # a publication that failed after the batch's commit is made by the next run
    with ctx.sessions() as s:
        s.execute(update(Checkpoint).where(Checkpoint.size == 3).values(note=None, version=None))
        s.commit()
    seal_pending(ctx)
    with ctx.sessions() as s:
        assert cplog.latest_note(s)[0] == 3


def test_a_checkpoint_of_another_log_is_refused(ctx: VaultContext) -> None:
    """The origin names the log: a note signed by the same key for another origin proves nothing here."""
    item = _seal_one(ctx, 0)
    with ctx.sessions() as s:
        root = cplog.root_at(s, 1)
    note = sign_checkpoint(Body("vault.example/another-log", 1, root), load_note_key(ctx.settings))
    report = Report(item)
    assert not check_under_checkpoint(ctx, report, item, note.encode())
    assert "is of log 'vault.example/another-log'" in report.checks[0].detail
    report = Report(item)
    with ctx.sessions() as s:
        assert check_under_checkpoint(ctx, report, item, cplog.note_at(s, 1).encode()), report.checks
