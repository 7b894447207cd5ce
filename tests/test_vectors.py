"""Known-answer vectors (tests/vectors/; docs/evidence-format.md, "Known-answer vectors").

Two checks per format: the vault's code writes exactly the bytes of the vector from its
inputs, and a reader reading the vector accepts it and gets the plaintext back, both the
vault's own reader and a reader written here from the documentation alone ("by the book"),
as someone re-implementing a verifier decades from now would. A changed format constant
(magic, HKDF label, last-chunk flag, type strings, tree rule...) fails here.

The vectors are regenerated only by hand: `python tests/vectors/generate.py`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.batch.manifest import BATCH_TYPE, GENESIS_ROOT, PATH_TYPE, TREE_RULE, batch_manifest, parse_path, path_json
from vault.envelope.keyring import DataKeyBinding, KeyRing, pseudonym
from vault.envelope.stream import MAGIC, SCHEME, StreamEncryptor, decrypt_bytes, decrypt_stream, encrypt_bytes
from vault.errors import InputError, KeyError_, SealError
from vault.evidence.canonical import canonical
from vault.evidence.manifest import MANIFEST_TYPE, StoragePin, item_manifest, leaf_of, parse_iso
from vault.evidence.receipt import RECEIPT_TYPE, sign_receipts, verify_receipt
from vault.journal.entry import JOURNAL_TYPE, EntryBody
from vault.journal.entry import leaf_of as journal_leaf_of
from vault.keys.kek.files import FileKekStore
from vault.privacy.commitments import check_disclosure, disclose, parse_disclosure
from vault.seal.cms import verify_detached
from vault.tree.hashtree import build_tree, root_from_path, verify_path

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return doc


EVS1 = load("evs1.json")
KEYS = load("keys.json")
CANON = load("canonical.json")
COMMIT = load("commitments.json")
LEAVES = load("leaves.json")
RECEIPTS = load("receipt.json")
TREES = load("tree.json")
SEAL_CA = x509.load_pem_x509_certificate((VECTORS / "seal-ca.pem").read_bytes())


def by_name(cases: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(c, id=str(c.get("name", i))) for i, c in enumerate(cases)]


# -- readers written from docs/evidence-format.md alone ------------------------------------------


def evs1_by_the_book(key: bytes, context: bytes, blob: bytes) -> bytes:
    """EVS1 as docs/evidence-format.md ("Encryption container") describes it."""
    header, rest = blob[:32], blob[32:]
    assert header[:4] == b"EVS1" and header[31] == 0
    chunk_size = int.from_bytes(header[4:8], "big")
    salt, prefix = header[8:24], header[24:31]
    stream_key = HKDF(hashes.SHA256(), 32, salt, b"vault-evs1" + context).derive(key)
    aead = AESGCM(stream_key)
    sealed = chunk_size + 16
    out, i = [], 0
    while True:
        last = len(rest) <= sealed
        part, rest = rest[:sealed], rest[sealed:]
        nonce = prefix + i.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        out.append(aead.decrypt(nonce, part, header + context))
        i += 1
        if last:
            return b"".join(out)


def root_by_the_book(leaf: bytes, reduced: list[list[bytes]]) -> bytes:
    """RFC 4998 section 5.3 with the vault's rule: sort the list (with the value carried up),
    concatenate, SHA-256; a one-element first list carries the leaf itself up."""
    if not reduced:
        return leaf
    assert leaf in reduced[0]
    current = leaf if len(reduced[0]) == 1 else hashlib.sha256(b"".join(sorted(reduced[0]))).digest()
    for level in reduced[1:]:
        current = hashlib.sha256(b"".join(sorted([*level, current]))).digest()
    return current


def unhex_path(path: list[list[str]]) -> list[list[bytes]]:
    return [[bytes.fromhex(h) for h in level] for level in path]


# -- EVS1 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", by_name(EVS1["cases"]))
def test_evs1_writer_reproduces_the_ciphertext(case: dict[str, Any]) -> None:
    key, ctx, plain = bytes.fromhex(case["key"]), case["context"].encode(), bytes.fromhex(case["plaintext"])
    salt, prefix, size = bytes.fromhex(case["salt"]), bytes.fromhex(case["nonce_prefix"]), case["chunk_size"]
    expected = bytes.fromhex(case["ciphertext"])
    assert encrypt_bytes(key, ctx, plain, size, salt=salt, nonce_prefix=prefix) == expected
    # the streaming writer that file deposits use, chunk by chunk
    enc = StreamEncryptor(key, ctx, size, salt=salt, nonce_prefix=prefix)
    assert enc.header == bytes.fromhex(case["header"])
    pieces = [plain[i : i + size] for i in range(0, len(plain), size)] or [b""]
    body = [enc.chunk(p, last=n == len(pieces) - 1) for n, p in enumerate(pieces)]
    assert body == [bytes.fromhex(c["sealed"]) for c in case["chunks"]]
    assert hashlib.sha256(expected).hexdigest() == case["ciphertext_sha256"]


@pytest.mark.parametrize("case", by_name(EVS1["cases"]))
def test_evs1_vector_decrypts(case: dict[str, Any]) -> None:
    key, ctx, plain = bytes.fromhex(case["key"]), case["context"].encode(), bytes.fromhex(case["plaintext"])
    blob = bytes.fromhex(case["ciphertext"])
    assert decrypt_bytes(key, ctx, blob) == plain
    assert b"".join(decrypt_stream(key, ctx, [blob[i : i + 5] for i in range(0, len(blob), 5)])) == plain
    assert evs1_by_the_book(key, ctx, blob) == plain


@pytest.mark.parametrize("case", by_name(EVS1["cases"]))
def test_evs1_intermediate_values_follow_the_documented_layout(case: dict[str, Any]) -> None:
    key, ctx = bytes.fromhex(case["key"]), case["context"].encode()
    salt, prefix = bytes.fromhex(case["salt"]), bytes.fromhex(case["nonce_prefix"])
    header = b"EVS1" + struct.pack(">I", case["chunk_size"]) + salt + prefix + b"\x00"
    assert bytes.fromhex(case["header"]) == header
    assert bytes.fromhex(case["aad"]) == header + ctx
    stream_key = HKDF(hashes.SHA256(), 32, salt, b"vault-evs1" + ctx).derive(key)
    assert bytes.fromhex(case["stream_key"]) == stream_key
    chunks = case["chunks"]
    assert [c["last"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    for c in chunks:
        assert bytes.fromhex(c["nonce"]) == prefix + struct.pack(">I", c["index"]) + (b"\x01" if c["last"] else b"\x00")
    assert bytes.fromhex(case["ciphertext"]) == header + b"".join(bytes.fromhex(c["sealed"]) for c in chunks)
    assert len(bytes.fromhex(case["ciphertext"])) == 32 + len(bytes.fromhex(case["plaintext"])) + 16 * len(chunks)


def test_evs1_names() -> None:
    assert EVS1["magic"].encode() == MAGIC
    assert EVS1["scheme"] == SCHEME


@pytest.mark.parametrize("case", by_name(EVS1["cases"][:2]))
def test_evs1_vector_tampered_or_misread_is_refused(case: dict[str, Any]) -> None:
    key, ctx, blob = bytes.fromhex(case["key"]), case["context"].encode(), bytes.fromhex(case["ciphertext"])
    for i in (0, 4, 8, 24, 31, 32, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 1
        with pytest.raises(KeyError_):
            decrypt_bytes(key, ctx, bytes(bad))
    with pytest.raises(KeyError_):
        decrypt_bytes(key, ctx + b"x", blob)
    with pytest.raises(InvalidTag):
        evs1_by_the_book(key, ctx + b"x", blob)


# -- data keys, kek_id, pseudonyms ---------------------------------------------------------------


def test_kek_id() -> None:
    """Rows wrapped before epochs carry this ``kek_id``; rows since carry ``epoch-<N>``."""
    kek = bytes.fromhex(KEYS["kek"])
    assert KEYS["kek_id"] == hashlib.sha256(b"vault-kek-id" + kek).hexdigest()[:16]


@pytest.mark.parametrize("case", KEYS["wraps"], ids=lambda c: f"{c['tenant']}/{c['subject']}")
def test_wrapped_data_keys(case: dict[str, Any], tmp_path: Path) -> None:
    kek, dek = bytes.fromhex(KEYS["kek"]), bytes.fromhex(case["data_key"])
    tenant, subject = case["tenant"], case["subject"]
    t, s = tenant.encode(), subject.encode()
    aad = b"vault-dek" + len(t).to_bytes(2, "big") + t + len(s).to_bytes(2, "big") + s
    binding = DataKeyBinding(tenant, subject, "*", 1)
    assert bytes.fromhex(case["aad"]) == aad == binding.aad(0)  # epoch 0: the KEK of before epochs
    wrapped, nonce = bytes.fromhex(case["wrapped"]), bytes.fromhex(case["nonce"])
    # KeyRing draws its own nonce and key: the bytes are reproduced with the code's AAD, as documented
    assert wrapped == nonce + AESGCM(kek).encrypt(nonce, dek, binding.aad(0))
    assert len(wrapped) == 60
    legacy = tmp_path / "kek.key"
    legacy.write_text(kek.hex())
    ring = KeyRing(FileKekStore(tmp_path / "kek", legacy=legacy))
    assert ring.unwrap_data_key(wrapped, binding, 0) == dek
    assert AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad) == dek
    with pytest.raises(KeyError_):
        ring.unwrap_data_key(wrapped, DataKeyBinding(tenant + "x", subject, "*", 1), 0)


@pytest.mark.parametrize("case", KEYS["pseudonyms"], ids=lambda c: f"{c['tenant']}/{c['subject']}")
def test_journal_pseudonyms(case: dict[str, Any]) -> None:
    kek = bytes.fromhex(KEYS["kek"])
    k = hmac.HMAC(kek, hashes.SHA256())
    k.update(b"vault-journal-subject-pseudonym")
    subject_key = k.finalize()  # these vectors' per-subject pseudonym key (derived as before ADR 0011)
    assert pseudonym(subject_key, case["tenant"], case["subject"]) == case["subject_ref"]
    t, s = case["tenant"].encode(), case["subject"].encode()
    mac = hmac.HMAC(subject_key, hashes.SHA256())
    mac.update(len(t).to_bytes(2, "big") + t + len(s).to_bytes(2, "big") + s)
    assert case["subject_ref"] == "sr_" + mac.finalize().hex()[:40]


# -- canonical JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", by_name(CANON["cases"]))
def test_canonical_json(case: dict[str, Any]) -> None:
    value = json.loads(case["input"])
    if "error" in case:
        with pytest.raises(rfc8785.CanonicalizationError) as caught:
            canonical(value)
        assert type(caught.value).__name__ == case["error"]
        return
    out = canonical(value)
    assert out == bytes.fromhex(case["canonical_hex"]) == case["canonical"].encode("utf-8")
    assert out == rfc8785.dumps(value)
    assert json.loads(out) == value  # the canonical text reads back to the same value


# -- salted commitments and disclosures ----------------------------------------------------------


@pytest.mark.parametrize("case", by_name(COMMIT["cases"]))
def test_disclosures(case: dict[str, Any]) -> None:
    salt = bytes.fromhex(case["salt"])
    d = disclose(case["name"], case["value"], salt)
    assert d.encoded == case["disclosure"]
    assert d.digest == case["digest"] == hashlib.sha256(case["disclosure"].encode("ascii")).hexdigest()
    triple = base64.urlsafe_b64decode(case["disclosure"] + "=" * (-len(case["disclosure"]) % 4))
    assert triple == case["triple"].encode("utf-8") == rfc8785.dumps([case["salt_b64url"], case["name"], case["value"]])
    assert base64.urlsafe_b64decode(case["salt_b64url"] + "==") == salt
    back = check_disclosure(case["disclosure"], {case["name"]: case["digest"]})
    assert (back.name, back.value) == (case["name"], case["value"])
    with pytest.raises(InputError):
        check_disclosure(case["disclosure"], {case["name"]: "00" * 32})


def test_refused_commitments() -> None:
    assert COMMIT["salt_bytes"] == 16
    for case in COMMIT["refused"]:
        with pytest.raises(InputError):
            disclose(case["name"], json.loads(case["value_json"]), bytes.fromhex(case["salt"]))
    with pytest.raises(InputError):
        disclose("ip", "192.0.2.1", bytes(15))
    with pytest.raises(InputError):
        parse_disclosure(base64.urlsafe_b64encode(b'["c2FsdA","ip","x"]').decode())  # a 4-byte salt


# -- leaves: evidence.json and journal bodies ----------------------------------------------------


@pytest.mark.parametrize("case", LEAVES["evidence"], ids=lambda c: json.loads(c["evidence_json"])["id"])
def test_evidence_json_and_its_leaf(case: dict[str, Any]) -> None:
    f = json.loads(case["evidence_json"])
    st = f["storage"]
    rebuilt = item_manifest(
        item_id=f["id"],
        tenant=f["tenant"],
        session=f["session"],
        kind=f["kind"],
        purpose=f["purpose"],
        retention_class=f["retention_class"],
        received_at=parse_iso(f["received_at"]),
        size=f["content"]["size"],
        sha256=f["content"]["sha256"],
        sha3_256=f["content"]["sha3-256"],
        commitments=f["commitments"],
        storage=StoragePin(
            bucket=st["bucket"],
            key=st["key"],
            version_id=st["version_id"],
            offset=st["offset"],
            length=st["length"],
            ciphertext_sha256=st["ciphertext_sha256"],
            encryption=st["encryption"],
            lock_mode=st["lock"]["mode"],
            retain_until=parse_iso(st["lock"]["retain_until"]),
        ),
    )
    evidence = case["evidence_json"].encode("utf-8")
    assert canonical(rebuilt) == evidence
    assert f["type"] == LEAVES["manifest_type"] == MANIFEST_TYPE
    assert leaf_of(evidence).hex() == case["leaf"] == hashlib.sha256(evidence).hexdigest()


@pytest.mark.parametrize("case", LEAVES["journal"], ids=lambda c: c["fields"]["id"])
def test_journal_body_and_its_leaf(case: dict[str, Any]) -> None:
    f = case["fields"]
    body = EntryBody(
        id=f["id"],
        at=parse_iso(f["at"]),
        actor=f["actor"],
        role=f["role"],
        action=f["action"],
        tenant=f["tenant"],
        subject_ref=f["subject_ref"],
        details=f["details"],
    ).encode()
    assert body == case["body"].encode("utf-8")
    assert f["type"] == LEAVES["journal_type"] == JOURNAL_TYPE
    assert journal_leaf_of(body).hex() == case["leaf"] == hashlib.sha256(body).hexdigest()


# -- deposit receipts ----------------------------------------------------------------------------


class ReplaySealer:
    """Stands in for the sealing key: hands back the vector's seal for the vector's body only."""

    def __init__(self, body: bytes, seal: bytes) -> None:
        self.body, self._seal = body, seal

    def seal(self, data: bytes) -> bytes:
        assert data == self.body, "the receipt body differs from the vector"
        return self._seal


@pytest.mark.parametrize("write", by_name(RECEIPTS["writes"]))
def test_receipts_are_reproduced(write: dict[str, Any]) -> None:
    inp = write["inputs"]
    body, seal = write["body"].encode("utf-8"), base64.b64decode(write["seal"])
    items = [(i["id"], i["evidence_json"].encode("utf-8"), bytes.fromhex(i["leaf"])) for i in inp["items"]]
    receipts = sign_receipts(
        ReplaySealer(body, seal),  # type: ignore[arg-type]
        tenant=inp["tenant"],
        received_at=parse_iso(inp["received_at"]),
        storage=inp["storage"],
        items=items,
    )
    assert [r.encoded().decode("utf-8") for r in receipts] == write["receipts"]
    assert json.loads(body)["type"] == RECEIPTS["receipt_type"] == RECEIPT_TYPE
    assert json.loads(body)["items_root"] == write["items_root"]


@pytest.mark.parametrize("write", by_name(RECEIPTS["writes"]))
def test_receipts_verify(write: dict[str, Any]) -> None:
    body = write["body"].encode("utf-8")
    verify_detached(base64.b64decode(write["seal"]), body, [SEAL_CA])
    for text, item in zip(write["receipts"], write["inputs"]["items"], strict=True):
        receipt = json.loads(text)
        assert verify_receipt(receipt, [SEAL_CA]) == json.loads(item["evidence_json"])
        # by the book: evidence -> leaf -> path -> items_root of the signed body
        evidence = base64.b64decode(receipt["evidence"])
        leaf = hashlib.sha256(evidence).digest()
        assert leaf.hex() == receipt["leaf"]
        assert root_by_the_book(leaf, unhex_path(receipt["path"])).hex() == json.loads(body)["items_root"]
        forged = copy.deepcopy(receipt)
        forged["evidence"] = base64.b64encode(evidence.replace(b'"S-1"', b'"S-2"')).decode()
        with pytest.raises(InputError):
            verify_receipt(forged, [SEAL_CA])
    with pytest.raises(SealError):
        verify_detached(base64.b64decode(write["seal"]), body + b" ", [SEAL_CA])


# -- hash trees, batch.json, path.json -----------------------------------------------------------


@pytest.mark.parametrize("case", TREES["trees"], ids=lambda c: f"{len(c['leaves'])} leaves")
def test_tree_roots_and_paths(case: dict[str, Any]) -> None:
    leaves = [bytes.fromhex(h) for h in case["leaves"]]
    tree = build_tree(leaves)
    assert [[h.hex() for h in level] for level in tree.levels] == case["levels"]
    assert tree.root.hex() == case["root"]
    for i, leaf in enumerate(leaves):
        path = unhex_path(case["paths"][i])
        assert tree.path(i) == path
        assert root_from_path(leaf, path).hex() == case["root"]
        assert verify_path(leaf, path, tree.root)
        assert root_by_the_book(leaf, path).hex() == case["root"]


def test_batch_json_is_reproduced_and_its_seal_verifies() -> None:
    batch, inp = TREES["batch"], TREES["batch"]["inputs"]
    leaves = [bytes.fromhex(h) for h in inp["leaves"]]
    tree = build_tree(leaves)
    got = batch_manifest(
        seq=inp["seq"],
        created_at=parse_iso(inp["created_at"]),
        tree=tree,
        previous_root=inp["leaves"][0],
        retain_until=parse_iso(inp["retain_until"]),
        journal_entries=inp["journal_entries"],
    )
    assert got == batch["batch_json"].encode("utf-8")
    verify_detached(base64.b64decode(batch["seal_p7s"]), got, [SEAL_CA])
    manifest = json.loads(got)
    assert manifest["type"] == TREES["batch_type"] == BATCH_TYPE
    assert manifest["tree"] == TREES["tree_rule"] == TREE_RULE
    assert manifest["root"] == batch["root"] == tree.root.hex()
    assert manifest["chain_path"] == batch["paths"][0]
    assert TREES["genesis_root"] == GENESIS_ROOT == "00" * 32


@pytest.mark.parametrize("index", range(len(TREES["batch"]["inputs"]["leaves"])))
def test_batch_paths(index: int) -> None:
    batch = TREES["batch"]
    leaves = [bytes.fromhex(h) for h in batch["inputs"]["leaves"]]
    vector = batch["paths"][index]
    assert path_json(leaves[index], build_tree(leaves).path(index), index) == vector
    assert vector["type"] == TREES["path_type"] == PATH_TYPE
    leaf, path = parse_path(vector)
    assert root_from_path(leaf, path).hex() == batch["root"]
    assert (
        root_by_the_book(bytes.fromhex(vector["leaf"]), unhex_path(vector["reduced_hash_tree"])).hex() == batch["root"]
    )


# -- the whole chain, as a verifier decades from now would walk it -------------------------------


def test_the_story_end_to_end_by_the_book() -> None:
    """KEK -> data key -> payload -> evidence.json -> leaf -> batch root -> seal; disclosures ->
    commitments. Only the vectors and the documentation, no vault code."""
    kek = bytes.fromhex(KEYS["kek"])
    wrap = KEYS["wraps"][0]
    t, s = wrap["tenant"].encode(), wrap["subject"].encode()
    wrapped = bytes.fromhex(wrap["wrapped"])
    dek = AESGCM(kek).decrypt(
        wrapped[:12], wrapped[12:], b"vault-dek" + len(t).to_bytes(2, "big") + t + len(s).to_bytes(2, "big") + s
    )
    batch = json.loads(TREES["batch"]["batch_json"])
    cases = {c["name"]: c for c in EVS1["cases"]}
    for name, ev in zip(("payload", "record", "record 2"), LEAVES["evidence"], strict=True):
        evidence = json.loads(ev["evidence_json"])
        blob = bytes.fromhex(cases[name]["ciphertext"])
        assert hashlib.sha256(blob).hexdigest() == evidence["storage"]["ciphertext_sha256"]
        assert len(blob) == evidence["storage"]["length"]
        plain = evs1_by_the_book(dek, evidence["id"].encode(), blob)
        assert hashlib.sha256(plain).hexdigest() == evidence["content"]["sha256"]
        assert hashlib.sha3_256(plain).hexdigest() == evidence["content"]["sha3-256"]
        assert len(plain) == evidence["content"]["size"]
        leaf = hashlib.sha256(ev["evidence_json"].encode("utf-8")).digest()
        path = next(p for p in TREES["batch"]["paths"] if p["leaf"] == leaf.hex())
        assert root_by_the_book(leaf, unhex_path(path["reduced_hash_tree"])).hex() == batch["root"]
    # the file's disclosures, sealed under the same key with the context "<item id>/meta"
    file_evidence = json.loads(LEAVES["evidence"][0]["evidence_json"])
    meta = evs1_by_the_book(
        dek, file_evidence["id"].encode() + b"/meta", bytes.fromhex(cases["meta_sealed"]["ciphertext"])
    )
    for disclosure in json.loads(meta):
        salt, name, _value = json.loads(base64.urlsafe_b64decode(disclosure + "=" * (-len(disclosure) % 4)))
        assert len(base64.urlsafe_b64decode(salt + "==")) >= 16
        assert file_evidence["commitments"][name] == hashlib.sha256(disclosure.encode("ascii")).hexdigest()
    # the journal entry of the deposit names the subject by its pseudonym and is a leaf too
    entry = LEAVES["journal"][0]
    assert json.loads(entry["body"])["subject_ref"] == KEYS["pseudonyms"][0]["subject_ref"]
    assert entry["leaf"] == TREES["batch"]["inputs"]["leaves"][-1]  # leaves: [previous root, items..., journal...]
    assert batch["leaf_count"] - 1 - batch["journal_entries"] == batch["items"] == len(LEAVES["evidence"])
    # chain link: leaf 0 is the previous root, proven by chain_path
    assert batch["previous_root"] == TREES["batch"]["inputs"]["leaves"][0] == batch["chain_path"]["leaf"]
    assert (
        root_by_the_book(
            bytes.fromhex(batch["previous_root"]), unhex_path(batch["chain_path"]["reduced_hash_tree"])
        ).hex()
        == batch["root"]
    )


def test_batch_seal_verifies_with_openssl(tmp_path: Path) -> None:
    """The independent checker an auditor uses (docs/verification.md)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    (tmp_path / "batch.json").write_bytes(TREES["batch"]["batch_json"].encode("utf-8"))
    (tmp_path / "seal.p7s").write_bytes(base64.b64decode(TREES["batch"]["seal_p7s"]))
    args = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "seal.p7s", "-content", "batch.json"]
    args += ["-CAfile", str(VECTORS / "seal-ca.pem"), "-purpose", "any", "-out", "/dev/null"]
    ok = subprocess.run(args, cwd=tmp_path, capture_output=True)
    assert ok.returncode == 0, ok.stderr.decode()
    (tmp_path / "batch.json").write_bytes(TREES["batch"]["batch_json"].encode("utf-8") + b"\n")
    assert subprocess.run(args, cwd=tmp_path, capture_output=True).returncode != 0
