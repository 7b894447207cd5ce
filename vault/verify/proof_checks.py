"""The checks shared by online and offline verification, in the order an auditor runs them.

1. ``payload_digest``  the bytes hash to the manifest's SHA-256 and SHA3-256 and size (for a
   ``vault-evidence/2`` manifest, salt || bytes hash to its salted digests)
2. ``evidence_leaf``   SHA-256 of evidence.json is the leaf of the item's path
3. ``path_to_root``    the reduced hash tree leads to the batch root (RFC 4998 5.3)
4. ``seal``            the CMS seal over batch.json verifies (CAdES-B-B: signing-certificate-v2
   names its signer), its signer is one of the vault's pinned sealing certificates, and it
   chains to the seal CA (its certificate valid when the root was timestamped); ADR 0009
5. ``timestamp``       the RFC 3161 token is over the root, by a trusted TSA (reported as
   self-operated, not independent, when the TSA is the vault operator's own)
6. ``timeline``        the item was received and the batch made before the token's genTime
7. ``chain_link``      the batch tree's first leaf is the previous batch's root
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography import x509

from vault.batch.manifest import BATCH_TYPE, parse_path
from vault.errors import InputError, SealError, TimestampError
from vault.evidence.manifest import SALT_LEN, is_salted, parse_iso, salted_digests
from vault.seal.cms import verify_detached
from vault.seal.identity import SealTrust, fingerprint
from vault.timestamp.client import Token, verify_token
from vault.tree.hashtree import root_from_path
from vault.verify.report import Report

#: JSON read back (from the index, a proof folder or the store) nests at most this deep; the
#: vault never writes deeper (evidence, paths, manifests, receipts, journal bodies)
MAX_JSON_DEPTH = 64


def json_depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return deepest


def parse_json(data: object, what: str, *, binary: bool = True) -> Any:
    """Untrusted JSON: ``data`` must be bytes (``binary``) or text as the vault wrote it, parse,
    and nest at most :data:`MAX_JSON_DEPTH` deep; :class:`InputError` naming ``what`` otherwise
    (never a ``TypeError`` or a ``RecursionError``)."""
    if binary and not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"{what} is not bytes", detail=f"it is {type(data).__name__}")
    if not binary and not isinstance(data, str):
        raise InputError(f"{what} is not text", detail=f"it is {type(data).__name__}")
    try:
        obj = json.loads(bytes(data) if isinstance(data, bytes | bytearray | memoryview) else str(data))
    except RecursionError:
        raise InputError(f"{what} is JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{what} is not JSON", detail=str(e)) from None
    if json_depth(obj) > MAX_JSON_DEPTH:
        raise InputError(f"{what} is JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def load_json(data: object, what: str, *, binary: bool = True) -> dict[str, Any]:
    """:func:`parse_json`, and the value must be a JSON object."""
    obj = parse_json(data, what, binary=binary)
    if not isinstance(obj, dict):
        raise InputError(f"{what} is not a JSON object")
    return obj


def check_payload(
    report: Report, chunks: Iterable[bytes], evidence: dict[str, Any], salt: bytes | str | None = None
) -> bool:
    """The content against the manifest's digests. A ``vault-evidence/2`` manifest needs the
    item's content ``salt`` (decrypted by the vault, or ``content-salt.hex`` of a proof folder);
    given a string instead, the reason it is not available."""
    want = evidence.get("content")
    want = want if isinstance(want, dict) else {}
    salted = is_salted(evidence)
    if salted and not isinstance(salt, bytes):
        return report.add(
            "payload_digest", False, f"the salted digest cannot be checked: {salt or 'no content salt given'}"
        )
    if salted and isinstance(salt, bytes) and len(salt) < SALT_LEN:
        return report.add("payload_digest", False, f"the content salt is {len(salt)} bytes, fewer than {SALT_LEN}")
    if salted and isinstance(salt, bytes):
        sha256, sha3 = salted_digests(salt)
    else:
        sha256, sha3 = hashlib.sha256(), hashlib.sha3_256()
    size = 0
    for c in chunks:
        sha256.update(c)
        sha3.update(c)
        size += len(c)
    k256, k3 = ("salted_sha256", "salted_sha3-256") if salted else ("sha256", "sha3-256")
    what = "salted digest" if salted else "digest"
    if sha256.hexdigest() != want.get(k256) or sha3.hexdigest() != want.get(k3):
        return report.add(
            "payload_digest",
            False,
            f"{what} mismatch: expected {k256} {want.get(k256)}, found {sha256.hexdigest()}"
            + (" (the content or its salt differs)" if salted else ""),
        )
    if size != want.get("size"):
        return report.add("payload_digest", False, f"size mismatch: expected {want.get('size')}, found {size}")
    return report.add(
        "payload_digest",
        True,
        f"salted sha256 {sha256.hexdigest()} and salted sha3-256 match ({size} bytes)"
        if salted
        else f"sha256 {sha256.hexdigest()} and sha3-256 match ({size} bytes)",
    )


#: how a token from the vault operator's own TSA is reported (ADR 0009, infra/tsa/README.md)
SELF_OPERATED_NOTE = (
    "TSA self-operated, not independent: its key and clock are the vault operator's, "
    "so its genTime proves nothing against the operator"
)

#: clocks of the vault and of a TSA may differ this much before times are called inconsistent
CLOCK_TOLERANCE = dt.timedelta(minutes=5)


def check_timeline(report: Report, evidence_bytes: bytes, batch: dict[str, Any], gen_time: dt.datetime) -> None:
    """The item was received, and the batch made, before the TSA saw the root."""
    try:
        received = parse_iso(str(load_json(evidence_bytes, "evidence.json")["received_at"]))
        created = parse_iso(str(batch["created_at"]))
    except (InputError, ValueError, KeyError, TypeError) as e:
        report.add("timeline", False, f"times unreadable: {e}")
        return
    late = [
        f"{what} {at.isoformat()}"
        for what, at in (("received_at", received), ("batch created_at", created))
        if at > gen_time + CLOCK_TOLERANCE
    ]
    report.add(
        "timeline",
        not late,
        f"received {received.isoformat()}, batch {created.isoformat()}, timestamped {gen_time.isoformat()}"
        if not late
        else "times inconsistent: " + ", ".join(late) + f" are after the token's genTime {gen_time.isoformat()}",
    )


def check_item_path(report: Report, *, evidence_bytes: bytes, path_obj: object, root_hex: str) -> None:
    """Checks 2-3: evidence.json is the path's leaf, and the path leads to ``root_hex``."""
    try:
        leaf, path = parse_path(path_obj)
    except InputError as e:
        unreadable = path_obj.get("unreadable", "") if isinstance(path_obj, dict) else ""
        report.add("path_to_root", False, f"{e} {unreadable}".strip())
        return
    ev_leaf = hashlib.sha256(evidence_bytes).digest()
    report.add(
        "evidence_leaf",
        ev_leaf == leaf,
        "evidence.json hashes to the path's leaf"
        if ev_leaf == leaf
        else f"digest mismatch: evidence.json hashes to {ev_leaf.hex()}, path leaf is {leaf.hex()}",
    )
    try:
        computed = root_from_path(ev_leaf, path).hex()
    except InputError as e:
        computed = f"none ({e})"
    report.add(
        "path_to_root",
        computed == root_hex,
        f"path leads to root {root_hex}"
        if computed == root_hex
        else f"path leads to {computed}, batch root is {root_hex}",
    )


def read_batch_manifest(report: Report, batch_bytes: bytes) -> dict[str, Any]:
    """batch.json parsed, or {} (and a failed ``batch_manifest`` check)."""
    try:
        batch = load_json(batch_bytes, "batch.json")
        if batch.get("type") != BATCH_TYPE or batch.get("hash_algorithm") != "sha256":
            raise InputError(f"batch.json is not a {BATCH_TYPE} manifest over sha256", detail=str(batch.get("type")))
    except InputError as e:
        report.add("batch_manifest", False, str(e))
        return {}
    return batch


def check_batch_seal(
    report: Report,
    *,
    batch_bytes: bytes,
    batch: dict[str, Any],
    seal: bytes,
    tsr: bytes,
    seal_roots: SealTrust | list[x509.Certificate],
    tsa_roots: list[x509.Certificate],
    tsa_cert: x509.Certificate | None,
    self_operated_tsas: frozenset[str] = frozenset(),
) -> Token | None:
    """Checks 4, 5 and 7 of one batch (its seal, its token, its link to the previous root);
    the token when it verifies."""
    root_hex = str(batch.get("root", ""))
    token: Token | None = None
    token_error = ""
    try:
        token = verify_token(tsr, bytes.fromhex(root_hex), list(tsa_roots), tsa_cert=tsa_cert)
    except (TimestampError, ValueError) as e:
        token_error = str(e)
    try:
        # the sealing certificate must have been valid when the root was timestamped, not
        # merely at the signing time the signer wrote into its own seal
        info = verify_detached(seal, batch_bytes, seal_roots, at=token.gen_time if token else None)
        pin = "pinned" if info.pinned else "declared by the folder itself, not pinned"
        report.add(
            "seal",
            True,
            f"sealed by {info.signer} (sha256:{info.signer_fingerprint}, {pin}) at {info.signing_time}",
        )
        report.info["seal"] = {"signer": info.signer, "sha256": info.signer_fingerprint, "pinned": info.pinned}
    except SealError as e:
        report.add("seal", False, f"seal invalid: {e}")
    if token is None:
        report.add("timestamp", False, f"token invalid: {token_error}")
    else:
        tsa_fp = fingerprint(token.tsa_cert)
        own = tsa_fp in self_operated_tsas
        report.add(
            "timestamp",
            True,
            f"root timestamped at {token.gen_time.isoformat()} (serial {token.serial})"
            + (f"; {SELF_OPERATED_NOTE}" if own else ""),
        )
        report.info["tsa"] = {
            "signer": token.tsa_cert.subject.rfc4514_string(),
            "sha256": tsa_fp,
            "self_operated": own,
            **({"note": SELF_OPERATED_NOTE} if own else {}),
        }
        report.info["timestamp"] = token.gen_time.isoformat()
    check_chain_path(report, batch)
    report.info["batch"] = {
        "seq": batch.get("seq"),
        "root": root_hex,
        "previous_root": batch.get("previous_root"),
    }
    return token


def check_chain_path(report: Report, batch: dict[str, Any]) -> bool:
    """Check 7: the batch tree's first leaf is ``previous_root`` (its ``chain_path``)."""
    root_hex = str(batch.get("root", ""))
    try:
        chain_leaf, chain_path = parse_path(batch.get("chain_path"))
        prev = str(batch.get("previous_root", ""))
        ok = chain_leaf.hex() == prev and root_from_path(chain_leaf, chain_path).hex() == root_hex
        return report.add(
            "chain_link",
            ok,
            f"root commits to previous root {prev}"
            if ok
            else "chain broken: the tree does not commit to previous_root",
        )
    except InputError as e:
        return report.add("chain_link", False, f"chain broken: {e}")


def check_batch_proof(
    report: Report,
    *,
    evidence_bytes: bytes,
    path_obj: object,
    batch_bytes: bytes,
    seal: bytes,
    tsr: bytes,
    seal_roots: SealTrust | list[x509.Certificate],
    tsa_roots: list[x509.Certificate],
    tsa_cert: x509.Certificate | None,
    self_operated_tsas: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Checks 2-7; returns the parsed batch manifest (empty if unreadable)."""
    batch = read_batch_manifest(report, batch_bytes)
    if not batch:
        return {}
    check_item_path(report, evidence_bytes=evidence_bytes, path_obj=path_obj, root_hex=str(batch.get("root", "")))
    token = check_batch_seal(
        report,
        batch_bytes=batch_bytes,
        batch=batch,
        seal=seal,
        tsr=tsr,
        seal_roots=seal_roots,
        tsa_roots=tsa_roots,
        tsa_cert=tsa_cert,
        self_operated_tsas=self_operated_tsas,
    )
    if token is not None:
        check_timeline(report, evidence_bytes, batch, token.gen_time)
    return batch
