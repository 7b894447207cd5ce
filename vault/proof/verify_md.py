"""VERIFY.md of a proof folder: the by-hand procedure, with this item's own values filled in."""

from __future__ import annotations

from typing import Any

from vault.tree.hashtree import hash_node


def _command(values: list[str]) -> str:
    joined = "".join(sorted(values))
    return f"printf '%b' \"$(echo {joined} | sed 's/../\\\\x&/g')\" | openssl dgst -sha256 -r"


def path_steps(leaf: str, levels: list[list[str]]) -> str:
    """Each level of the reduced hash tree as a command with the exact values to hash."""
    lines = []
    current = leaf
    for i, level in enumerate(levels):
        values = level if i == 0 else [*level, current]
        if len(values) == 1:
            lines.append(f"- level {i}: `{current}` is alone at this level and is carried up unchanged")
            continue
        current = hash_node([bytes.fromhex(v) for v in values]).hex()
        lines.append(
            f"- level {i}: sort and hash {len(values)} values, expect `{current}`:\n\n      {_command(values)}"
        )
    return "\n".join(lines) if lines else "- the leaf is the root"


def verify_md(evidence: dict[str, Any], batch: dict[str, Any], path: dict[str, Any]) -> str:
    root = batch["root"]
    steps = path_steps(path["leaf"], path["reduced_hash_tree"])
    return f"""# Verifying this proof by hand

This folder proves that `payload` is the item `{evidence["id"]}` deposited by tenant
`{evidence["tenant"]}` at {evidence["received_at"]}, sealed by the provider and timestamped by a
time-stamping authority. Everything below needs only `openssl` and `bash` (step 3 uses
bash's `printf '%b'` with `\\x` escapes). The full
guide, with the meaning of every field, is `docs/verification.md` of the vault's source.

## 0. Trust anchors
Compare the fingerprints of `certs/seal-ca.pem` and `certs/tsa-ca.pem` with the ones the
provider and the TSA publish; a proof is only as good as these anchors.

    openssl x509 -in certs/seal-ca.pem -noout -fingerprint -sha256 -subject
    openssl x509 -in certs/tsa-ca.pem -noout -fingerprint -sha256 -subject

## 1. The payload is the one described in evidence.json
`content.sha256` = `{evidence["content"]["sha256"]}`
`content.sha3-256` = `{evidence["content"]["sha3-256"]}`

    openssl dgst -sha256 payload
    openssl dgst -sha3-256 payload

## 2. evidence.json is the leaf of the hash tree
`path.json` leaf = `{path["leaf"]}`

    openssl dgst -sha256 evidence.json

## 3. The leaf leads to the batch root (RFC 4998 reduced hash tree, sorted concatenation)
Each level: take the hash values of the list in `path.json` (plus the result of the previous
level), sort them in ascending order, concatenate their bytes, hash with SHA-256.

{steps}

The last result must equal `root` in batch.json: `{root}`

## 4. The provider's seal over batch.json

    openssl cms -verify -binary -inform DER -in seal.p7s -content batch.json \\
        -CAfile certs/seal-ca.pem -purpose any -out /dev/null

Expected: `CMS Verification successful`.

## 5. The RFC 3161 timestamp over the root

    openssl ts -verify -digest {root} -in timestamp.tsr \\
        -CAfile certs/tsa-ca.pem -untrusted certs/tsa.pem
    openssl ts -reply -in timestamp.tsr -text

Expected: `Verification: OK`; the second command shows the time (`Time stamp:`).

## 6. The batch chain
`batch.json` names `previous_root` = `{batch["previous_root"]}`; its `chain_path` leads from
that value to the same root (same procedure as step 3), so the timestamp also covers the
previous batch. Batch {batch["seq"]} follows the batch whose root is `previous_root`.
"""
