"""RFC 4998 evidence records: built by the vault, checked by Bouncy Castle and pyHanko.

Bouncy Castle 1.72 (org.bouncycastle.tsp.ers, tests/java/ErsCheck.java) is the verifier
nobody here wrote; its checker also walks every chain and every token itself, since BC
checks only the last chain and the last token (../shared/notes/bouncycastle-ers.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from ers_support import BouncyCastle, compile_checker, flip, foreign_token, pyhanko_token
from tsa_support import OpenSSLTSA
from vault.batch.manifest import parse_path
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.errors import InputError
from vault.ers import (
    INVALID,
    NOT_PROVABLE,
    VALID,
    ArchiveTimeStamp,
    ErsReport,
    chain_algorithm,
    evidence_record,
    hash_fn,
    hash_renewal_ats,
    hash_renewal_leaf,
    initial_ats,
    load_record,
    renewal_ats,
    renewal_group,
    renewal_leaf,
    token_from_tsr,
    verify_record,
)
from vault.ers.build import ats_lists, ats_timestamp, make_ats
from vault.ers.item import ERS_FILE, item_chains
from vault.ers.token import der_problem, der_token
from vault.ers.tree import reduced_from_path, root_of
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.keys import pki as pkilib
from vault.keys.pki import DevPKI, load_cert, load_private_key
from vault.proof.export import export_proof
from vault.timestamp.client import build_request
from vault.timestamp.responder import TimeStampResponder
from vault.tree.hashtree import HashTree, build_tree
from vault.verify.bundle import verify_bundle
from vault.verify.online import load_item

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="session")
def bc(tmp_path_factory: pytest.TempPathFactory) -> BouncyCastle:
    return compile_checker(tmp_path_factory.mktemp("ers-java"))


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> OpenSSLTSA:
    """The second TSA: its own CA, an EC key, a certificate valid for 365 days."""
    return OpenSSLTSA(tmp_path_factory.mktemp("foreign-tsa"))


def _deposit(ctx: VaultContext, n: int, tag: str) -> list[str]:
    ids = []
    for i in range(n):
        req = validate(tenant="acme", session=f"s-{tag}", kind="session_log", subject=f"subject-{tag}")
        ids.append(deposit_stream(ctx, io.BytesIO(f"log {tag} #{i}\n".encode()), req).item_id)
    return ids


def _batch(ctx: VaultContext, n: int, tag: str) -> list[str]:
    """``n`` items sealed in one batch of ``n + 1`` leaves (leaf 0: the previous root). Each
    deposit also journals an entry, sealed as a leaf after the items: a batch of at most
    ``n`` leaves leaves them for later, so that the last item is the last leaf."""
    ids = _deposit(ctx, n, tag)
    ctx.settings = replace(ctx.settings, batch_max_items=n)
    [sealed] = seal_pending(ctx, max_batches=1)
    assert sealed.items == n and sealed.journal_entries == 0
    return ids


def _bundle(pems: tuple[Path, ...]) -> Path:
    out = pems[0].parent / "anchors.pem"
    out.write_bytes(b"".join(p.read_bytes() for p in pems))
    return out


# -- the exported record, every leaf position -------------------------------------------------


def test_exported_records_are_accepted_by_bouncy_castle_at_every_leaf_position(
    ctx: VaultContext, tmp_path: Path, bc: BouncyCastle
) -> None:
    # 1 and 2 items (2 and 3 leaves: the second item of the 2 is the promoted odd leaf of ADR
    # 0002), then 5, 7 and 33 leaves (the last leaf promoted over one or several levels)
    items = {n + 1: _batch(ctx, n, f"b{n}") for n in (1, 2, 4, 6, 32)}
    pairs: list[tuple[Path, Path]] = []
    shapes: dict[int, set[tuple[int, ...]]] = {}
    for leaves, ids in items.items():
        for item_id in ids:
            folder = export_proof(ctx, item_id, tmp_path / item_id)
            record = load_record((folder / ERS_FILE).read_bytes())
            [[ats]] = record.chains
            lists = ats_lists(ats)
            assert lists is not None
            shapes.setdefault(leaves, set()).add(tuple(len(level) for level in lists))
            pairs.append((folder / ERS_FILE, folder / "evidence.json"))
            report = verify_record(
                (folder / ERS_FILE).read_bytes(),
                (folder / "evidence.json").read_bytes(),
                roots=[load_cert(folder / "certs/tsa-ca.pem")],
            )
            assert report.status == VALID, report.reason
            # the record's token is the batch's, its path the item's
            assert token_from_tsr((folder / "timestamp.tsr").read_bytes()) == ats_timestamp(ats)
    # every first list holds two values (never the promoted leaf alone), every later one one
    assert all(shape[0] == 2 and set(shape[1:]) <= {1} for s in shapes.values() for shape in s)
    assert shapes[3] == {(2, 1), (2,)}  # leaf 2 of 3, promoted: [[leaf], [h01]] merged
    assert shapes[5] == {(2, 1, 1), (2,)}  # leaf 4 of 5: [[leaf], [h0123]] -> [[leaf, h0123]]
    assert shapes[7] == {(2, 1, 1), (2, 1)}  # leaf 6 of 7: [[leaf], [h45], [h0123]] -> [[leaf, h45], [h0123]]
    assert shapes[33] == {(2, 1, 1, 1, 1, 1), (2,)}  # leaf 32 of 33, promoted five times
    for leaves in (3, 5, 7, 33):  # the vault's own path of the last item starts with the leaf alone
        last = json.loads((tmp_path / items[leaves][-1] / "path.json").read_text())
        assert len(last["reduced_hash_tree"][0]) == 1 and last["leaf_index"] == leaves - 1
    ca = tmp_path / items[2][0] / "certs/tsa-ca.pem"
    assert bc.failures(ca, pairs) == []
    assert len(pairs) == 45


def test_one_changed_byte_fails_in_bouncy_castle_and_in_verify_record(
    ctx: VaultContext, tmp_path: Path, bc: BouncyCastle
) -> None:
    ids = _batch(ctx, 4, "tamper")
    folder = export_proof(ctx, ids[-1], tmp_path / "proof")  # leaf 4 of 5, the promoted one
    ers, data = (folder / ERS_FILE).read_bytes(), (folder / "evidence.json").read_bytes()
    ca = folder / "certs/tsa-ca.pem"
    roots = [load_cert(ca)]
    [[ats]] = load_record(ers).chains
    lists = ats_lists(ats)
    assert lists is not None
    imprint = root_of(lists, "sha256")
    at = {
        "the item's hash in the first list": ers.index(lists[0][0]) + 5,
        "its sibling in the first list": ers.index(lists[0][1]) + 31,
        "the archive timestamp's digestAlgorithm": ers.index(bytes.fromhex("a00b0609608648016503040201")) + 12,
        "the token's imprint": ers.index(imprint) + 1,
        "the token's signature": len(ers) - 1,
    }
    cases = {name: tmp_path / f"flip-{i}.ers" for i, name in enumerate(at)}
    for name, path in cases.items():
        path.write_bytes(flip(ers, at[name]))
    changed_data = tmp_path / "evidence-changed.json"
    changed_data.write_bytes(flip(data, len(data) // 2))
    pairs = [(p, folder / "evidence.json") for p in cases.values()]
    pairs.append((folder / ERS_FILE, changed_data))
    lines = bc.run(ca, pairs)
    assert all(line.startswith("FAIL ") for line in lines.values()), lines
    assert bc.verdict(ca, folder / ERS_FILE, folder / "evidence.json").startswith("OK ")
    for name, path in cases.items():
        report = verify_record(path.read_bytes(), data, roots=roots)
        assert report.status == INVALID, name
    report = verify_record(ers, changed_data.read_bytes(), roots=roots)
    assert report.status == INVALID and "not in the first list" in report.reason


# -- renewals ----------------------------------------------------------------------------------


def _stamp_tree(tsa: OpenSSLTSA, leaves: list[bytes], alg: str = "sha256") -> tuple[HashTree, bytes]:
    tree = build_tree(leaves, hash_fn(alg))
    return tree, foreign_token(tsa, tree.root, alg)


def _renew_timestamps(tsa: OpenSSLTSA, chains_of: dict[str, list[list[ArchiveTimeStamp]]]) -> None:
    """One timestamp renewal over the last chain of every record (one leaf per distinct chain)."""
    leaves = sorted({renewal_leaf(chains[-1]) for chains in chains_of.values()})
    tree, token = _stamp_tree(tsa, leaves, chain_algorithm(next(iter(chains_of.values()))[-1]))
    for chains in chains_of.values():
        path = tree.path(leaves.index(renewal_leaf(chains[-1])))
        chains[-1].append(renewal_ats(chains[-1], path, token))


def _check_all(
    bc: BouncyCastle, tmp: Path, ca: Path, records: dict[str, bytes], data: dict[str, bytes], **kw: bool
) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    pairs = []
    for item_id, der in records.items():
        (tmp / f"{item_id}.ers").write_bytes(der)
        (tmp / f"{item_id}.json").write_bytes(data[item_id])
        pairs.append((tmp / f"{item_id}.ers", tmp / f"{item_id}.json"))
    return bc.failures(ca, pairs, **kw)


def test_renewals_are_accepted_by_bouncy_castle_and_every_token_by_pyhanko(
    ctx: VaultContext, pki: DevPKI, tmp_path: Path, bc: BouncyCastle, foreign: OpenSSLTSA
) -> None:
    ids = _batch(ctx, 2, "r1") + _batch(ctx, 3, "r2")
    data: dict[str, bytes] = {}
    chains_of: dict[str, list[list[ArchiveTimeStamp]]] = {}
    for item_id in ids:
        item, batch = load_item(ctx, item_id)
        assert batch is not None and item.evidence is not None
        data[item_id] = item.evidence
        chains_of[item_id] = item_chains(ctx, item, batch)
    anchors = [load_cert(pki.tsa_ca.cert), load_cert(foreign.ca_pem)]
    ca = _bundle((Path(pki.tsa_ca.cert), foreign.ca_pem))

    def records() -> dict[str, bytes]:
        return {i: evidence_record(c) for i, c in chains_of.items()}

    def all_valid() -> None:
        for item_id, der in records().items():
            report = verify_record(der, data[item_id], roots=anchors)
            assert report.status == VALID, report.reason

    # timestamp renewal 1: one tree over the two batches' chains (two leaves), one token
    assert len({renewal_leaf(c[-1]) for c in chains_of.values()}) == 2
    _renew_timestamps(foreign, chains_of)
    assert _check_all(bc, tmp_path / "renewed-1", ca, records(), data) == []
    all_valid()
    # timestamp renewal 2: the chain of three; its renewal covers both earlier tokens (a group)
    _renew_timestamps(foreign, chains_of)
    chain = next(iter(chains_of.values()))[-1]
    assert len(chain) == 3
    lists = ats_lists(chain[2])
    assert lists is not None and sorted(lists[0]) == sorted(renewal_group(chain[:2]))
    assert _check_all(bc, tmp_path / "renewed-2", ca, records(), data) == []
    all_valid()
    # hash-tree renewal with SHA-512: one leaf per item (its own sequence), one tree, one token
    leaves = [hash_renewal_leaf(data[i], chains_of[i], "sha512") for i in ids]
    tree, token = _stamp_tree(foreign, leaves, "sha512")
    for n, item_id in enumerate(ids):
        new = hash_renewal_ats(leaves[n], tree.path(n), token, alg="sha512")
        chains_of[item_id].append([new])
    assert load_record(records()[ids[0]]).digest_algorithms == ["sha256", "sha512"]
    assert _check_all(bc, tmp_path / "rehashed", ca, records(), data) == []
    all_valid()
    # and a timestamp renewal of the SHA-512 chain
    _renew_timestamps(foreign, chains_of)
    final = records()
    assert _check_all(bc, tmp_path / "final", ca, final, data) == []
    all_valid()
    # pyHanko: each token of a final record (the vault TSA's and the foreign TSA's)
    tokens = [ats_timestamp(a) for chain in chains_of[ids[0]] for a in chain]
    assert len(tokens) == 5
    for token in tokens:
        status = pyhanko_token(token, anchors)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    # a changed byte in a renewal's reduced hash tree fails in both
    renewal_list = ats_lists(chains_of[ids[0]][0][1])
    assert renewal_list is not None
    ers = final[ids[0]]
    changed = {ids[0]: flip(ers, ers.index(renewal_list[0][0]) + 3)}
    assert len(_check_all(bc, tmp_path / "changed", ca, changed, data)) == 1
    assert verify_record(changed[ids[0]], data[ids[0]], roots=anchors).status == INVALID


def test_why_the_checker_walks_every_chain_and_renewals_cover_the_whole_chain(
    ctx: VaultContext, pki: DevPKI, tmp_path: Path, bc: BouncyCastle, foreign: OpenSSLTSA
) -> None:
    a, b = _batch(ctx, 2, "graft")
    data: dict[str, bytes] = {}
    chains: dict[str, list[list[ArchiveTimeStamp]]] = {}
    for item_id in (a, b):
        item, batch = load_item(ctx, item_id)
        assert item.evidence is not None and batch is not None
        data[item_id], chains[item_id] = item.evidence, item_chains(ctx, item, batch)
    anchors = [load_cert(pki.tsa_ca.cert), load_cert(foreign.ca_pem)]
    ca = _bundle((Path(pki.tsa_ca.cert), foreign.ca_pem))
    # limitation 2: B's chain, then a hash-tree renewal of A's data over it. BC checks the
    # last chain only and accepts; the first chain does not cover A's data
    chains_b = chains[b]
    leaf = hash_renewal_leaf(data[a], chains_b, "sha512")
    tree, token = _stamp_tree(foreign, [leaf, hashlib.sha512(b"another item").digest()], "sha512")
    grafted = evidence_record([*chains_b, [hash_renewal_ats(leaf, tree.path(0), token, alg="sha512")]])
    records, datas = {a: grafted}, {a: data[a]}
    assert _check_all(bc, tmp_path / "bc-only", ca, records, datas, bc_only=True) == []
    [line] = _check_all(bc, tmp_path / "full", ca, records, datas)
    assert "chain 1 timestamp 1 does not cover" in line
    report = verify_record(grafted, data[a], roots=anchors)
    assert report.status == INVALID and "chain 1 timestamp 1" in report.reason
    # limitation 3: a literal RFC 4998 5.2 chain of three, each renewal covering only the
    # previous token: valid RFC 4998 (verify_record), refused by BC's validate()
    chain = chains[a][0]
    for _ in range(2):
        only_previous = hashlib.sha256(ats_timestamp(chain[-1])).digest()
        tree, token = _stamp_tree(foreign, [only_previous, hashlib.sha256(b"x").digest()])
        lists = reduced_from_path(only_previous, tree.path(0))
        chain.append(make_ats("sha256", only_previous, lists, token))
    literal = evidence_record([chain])
    assert verify_record(literal, data[a], roots=anchors).status == VALID
    [line] = _check_all(bc, tmp_path / "literal", ca, {a: literal}, datas, bc_only=True)
    assert "unable to process previous ArchiveTimeStamps" in line


# -- verification as of a date ---------------------------------------------------------------


@dataclass(frozen=True)
class ShortLived:
    """A TSA whose certificate ends in 3 days (its CA: 30 years)."""

    tsa: TimeStampResponder
    ca: x509.Certificate
    cert: x509.Certificate


@pytest.fixture(scope="module")
def short_lived() -> ShortLived:
    ca_key = pkilib.new_key()
    ca = pkilib.make_ca("Short-lived TSA CA", ca_key)
    key = pkilib.new_rsa_key(2048)
    cert = pkilib.issue(ca, ca_key, "Short-lived TSA", key, eku=[ExtendedKeyUsageOID.TIME_STAMPING], days=3)
    return ShortLived(TimeStampResponder(cert, key), ca, cert)


def _own_token(tsa: TimeStampResponder, digest: bytes) -> bytes:
    return token_from_tsr(tsa.respond(build_request(digest)[0]))


def test_verification_as_of_a_date_needs_renewals(
    short_lived: ShortLived, foreign: OpenSSLTSA, tmp_path: Path, bc: BouncyCastle
) -> None:
    tsa, ca = short_lived.tsa, short_lived.ca
    anchors = [ca, load_cert(foreign.ca_pem)]
    data = b'{"type": "vault-evidence/1", "id": "as-of-a-date"}'
    leaves = [hashlib.sha256(data).digest(), hashlib.sha256(b"neighbour").digest()]
    tree = build_tree(leaves)
    first = initial_ats(leaves[0], tree.path(0), _own_token(tsa, tree.root))
    plain = [[first]]
    # a renewal under the second TSA, now, while the first certificate is valid; a one-leaf
    # renewal tree: the token covers the chain's hash directly, no reduced hash tree
    leaf = renewal_leaf(plain[0])
    renewal = renewal_ats(plain[0], [], foreign_token(foreign, leaf))
    assert ats_lists(renewal) is None
    renewed = [[first, renewal]]
    # a hash-tree renewal (SHA-512), now
    h_leaf = hash_renewal_leaf(data, renewed, "sha512")
    rehashed = [*renewed, [hash_renewal_ats(h_leaf, [], foreign_token(foreign, h_leaf, "sha512"), alg="sha512")]]
    der = {name: evidence_record(c) for name, c in (("plain", plain), ("renewed", renewed), ("rehashed", rehashed))}
    first_ends = short_lived.cert.not_valid_after_utc
    foreign_ends = load_cert(foreign.tsa_pem).not_valid_after_utc

    def at(name: str, when: dt.datetime, **weak: dt.datetime) -> ErsReport:
        return verify_record(der[name], data, roots=anchors, at=when, weak=weak)

    assert at("plain", NOW + dt.timedelta(hours=1)).status == VALID
    assert at("plain", NOW + dt.timedelta(hours=1)).renew_by == first_ends
    late = at("plain", first_ends + dt.timedelta(days=1))
    assert late.status == NOT_PROVABLE and "Short-lived TSA" in late.reason and "nothing renewed it" in late.reason
    assert at("renewed", first_ends + dt.timedelta(days=1)).status == VALID
    assert at("renewed", NOW).renew_by == foreign_ends
    gone = at("renewed", foreign_ends + dt.timedelta(days=1))
    assert gone.status == NOT_PROVABLE and "Foreign TSA" in gone.reason
    early = at("renewed", NOW - dt.timedelta(days=1))
    assert early.status == NOT_PROVABLE and "after" in early.reason
    # SHA-256 weak from 10 days on: only the hash-tree renewal (made before) keeps it provable
    weak = NOW + dt.timedelta(days=10)
    later = NOW + dt.timedelta(days=20)
    unrenewed = at("renewed", later, sha256=weak)
    assert unrenewed.status == NOT_PROVABLE and "sha256" in unrenewed.reason and "hash-tree renewal" in unrenewed.reason
    assert at("rehashed", later, sha256=weak).status == VALID
    too_late = at("rehashed", later, sha256=NOW - dt.timedelta(days=1))
    assert too_late.status == NOT_PROVABLE and "chain 1" in too_late.reason
    # Bouncy Castle reads all three
    ca_pem = tmp_path / "anchors.pem"
    ca_pem.write_bytes(ca.public_bytes(Encoding.PEM) + foreign.ca_pem.read_bytes())
    assert _check_all(bc, tmp_path / "dated", ca_pem, der, dict.fromkeys(der, data)) == []


# -- building: shapes, refusals, DER ------------------------------------------------------------


def test_reduced_trees_are_rfc_4998_for_every_leaf_of_trees_up_to_40_leaves() -> None:
    for size in range(1, 41):
        leaves = [hashlib.sha256(f"{size}/{i}".encode()).digest() for i in range(size)]
        tree = build_tree(leaves)
        for i, leaf in enumerate(leaves):
            lists = reduced_from_path(leaf, tree.path(i))
            if size == 1:
                assert lists == []
                continue
            assert leaf in lists[0] and len(lists[0]) == 2 and all(len(level) == 1 for level in lists[1:])
            # RFC 4998 4.3, literally: hash every list, the running value joining the next
            current = hashlib.sha256(b"".join(sorted(lists[0]))).digest()
            for level in lists[1:]:
                current = hashlib.sha256(b"".join(sorted([*level, current]))).digest()
            assert current == tree.root == root_of(lists, "sha256")


def test_building_refuses_what_would_not_verify(pki: DevPKI) -> None:
    tsa = TimeStampResponder(load_cert(pki.tsa.cert), load_private_key(pki.tsa.key))  # type: ignore[arg-type]
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(4)]
    tree = build_tree(leaves)
    token = _own_token(tsa, tree.root)
    ok = initial_ats(leaves[1], tree.path(1), token)
    with pytest.raises(InputError, match="does not cover"):
        initial_ats(leaves[1], tree.path(1), _own_token(tsa, hashlib.sha256(b"other").digest()))
    with pytest.raises(InputError, match="first list must hold the leaf"):
        initial_ats(leaves[2], tree.path(1), token)
    with pytest.raises(InputError, match="exactly one value"):
        initial_ats(leaves[1], [tree.path(1)[0], [leaves[2], leaves[3]]], token)
    with pytest.raises(InputError, match="imprint is not over"):
        initial_ats(leaves[1], tree.path(1), token, alg="sha512")
    rehash = hash_renewal_leaf(b"data", [[ok]], "sha512")
    other = build_tree([rehash], hash_fn("sha512"))
    token512 = token_from_tsr(tsa.respond(build_request(other.root, "sha512")[0]))
    new = hash_renewal_ats(rehash, other.path(0), token512, alg="sha512")
    with pytest.raises(InputError, match="mixes hash algorithms"):
        evidence_record([[ok, new]])
    with pytest.raises(InputError, match="every algorithm"):
        evidence_record([[ok], [new]], ["sha256"])
    with pytest.raises(InputError, match="at least one"):
        evidence_record([])
    with pytest.raises(InputError, match="EvidenceRecord"):
        load_record(b"\x30\x03\x02\x01\x02")


def test_der_choices(pki: DevPKI, tmp_path: Path) -> None:
    tsa = TimeStampResponder(load_cert(pki.tsa.cert), load_private_key(pki.tsa.key))  # type: ignore[arg-type]
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(2)]
    tree = build_tree(leaves)
    ats = initial_ats(leaves[0], tree.path(0), _own_token(tsa, tree.root))
    der = evidence_record([[ats]])
    sha256 = bytes.fromhex("300b0609608648016503040201")  # AlgorithmIdentifier, parameters absent
    assert der[4:7] == b"\x02\x01\x01"  # version 1
    assert der[7:9] == b"\x30\x0d" and der[9:22] == sha256  # digestAlgorithms
    assert ats.dump()[4:6] == b"\xa0\x0b" and ats.dump()[6:17] == sha256[2:]  # [0] IMPLICIT, no NULL
    assert ats.dump()[17] == 0xA2  # [2] IMPLICIT reducedHashtree, no [1] attributes
    assert ats["attributes"].native is None
    assert evidence_record(load_record(der).chains) == der  # re-assembled byte for byte
    assert der_problem(ats_timestamp(ats)) is None
    # a real TSA's token lists its certificates [signer, CA]: not DER until put in order
    chained = OpenSSLTSA(tmp_path / "chained-tsa")
    (chained.dir / "chain.pem").write_text(chained.ca_pem.read_text())
    conf = chained.config.read_text().replace("ess_cert_id_chain = no", "ess_cert_id_chain = yes")
    chained.config.write_text(conf + f"certs = {chained.dir / 'chain.pem'}\n")
    tsr = chained.reply(build_request(tree.root)[0])
    from vault.timestamp.asn1 import TimeStampResp

    raw = TimeStampResp.load(tsr)["time_stamp_token"].dump()
    assert der_problem(raw) == "SET OF not in DER order"
    assert der_problem(der_token(raw)) is None and token_from_tsr(tsr) == der_token(raw)
    # what Bouncy Castle would silently re-encode: a BOOLEAN TRUE as 01 (in a certificate), a
    # long-form length where the short form fits
    token = ats_timestamp(ats)
    critical = token.index(b"\x01\x01\xff")
    assert der_problem(token[: critical + 2] + b"\x01" + token[critical + 3 :]) == "BOOLEAN not 00 or FF"
    assert der_problem(b"\x30\x81\x03\x02\x01\x01") == "length not minimal"
    assert der_problem(b"\x30\x80\x02\x01\x01\x00\x00") == "indefinite length"


# -- the proof folder ----------------------------------------------------------------------------


def test_vault_verify_bundle_checks_the_evidence_record(ctx: VaultContext, tmp_path: Path) -> None:
    [item_id] = _batch(ctx, 1, "bundle")
    folder = export_proof(ctx, item_id, tmp_path / "proof")
    report = verify_bundle(folder)
    check = next(c for c in report.checks if c.name == "evidence_record")
    assert report.valid and check.ok and "valid as of" in check.detail, check.detail
    assert "evidence-record.ers" in (folder / "VERIFY.md").read_text()
    tsa_cert = load_cert(folder / "certs/tsa.pem")
    late = verify_bundle(folder, at=tsa_cert.not_valid_after_utc + dt.timedelta(days=1))
    [failed] = late.failed
    assert failed.name == "evidence_record" and "not provable" in failed.detail
    weak = verify_bundle(folder, weak={"sha256": NOW - dt.timedelta(days=1)})
    assert [c.name for c in weak.failed] == ["evidence_record"]
    ers = (folder / ERS_FILE).read_bytes()
    (folder / ERS_FILE).write_bytes(flip(ers, len(ers) - 1))
    broken = verify_bundle(folder)
    assert [c.name for c in broken.failed] == ["evidence_record"]
    assert "invalid" in broken.failed[0].detail
    (folder / ERS_FILE).unlink()  # a folder exported before evidence records: still valid
    older = verify_bundle(folder)
    assert older.valid and older.info["evidence_record"] == "absent"
    path = json.loads((folder / "path.json").read_text())
    assert parse_path(path)[0] == hashlib.sha256((folder / "evidence.json").read_bytes()).digest()
