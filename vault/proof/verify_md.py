"""VERIFY.md of a proof folder: the by-hand procedure, with this item's own values filled in."""

from __future__ import annotations

import json
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


def payload_step(evidence: dict[str, Any], salt: bytes | None) -> str:
    """Step 1: plain digests (``vault-evidence/1``) or salted ones (``vault-evidence/2``)."""
    content = evidence["content"]
    if evidence.get("type") != "vault-evidence/2":
        return f"""## 1. The payload is the one described in evidence.json
`content.sha256` = `{content["sha256"]}`
`content.sha3-256` = `{content["sha3-256"]}`

    openssl dgst -sha256 payload
    openssl dgst -sha3-256 payload
"""
    salt_hex = salt.hex() if salt is not None else "(not disclosed)"
    return f"""## 1. The payload is the one described in evidence.json (salted digests)
This item is erasable, so evidence.json commits to its content only through digests of a
random salt followed by the content (`vault-evidence/2`): once the data subject's key is
destroyed the salt is gone and nobody can confirm a guess of the content. The vault kept
the salt encrypted (`content.salt_sealed`) and discloses it here, in `content-salt.hex`
(`{salt_hex}`). Turn it into bytes, then hash salt || payload:

`content.salted_sha256` = `{content["salted_sha256"]}`
`content.salted_sha3-256` = `{content["salted_sha3-256"]}`
`content.size` = `{content["size"]}` bytes (`wc -c payload`)

    printf '%b' "$(sed 's/../\\\\x&/g' content-salt.hex)" > content-salt.bin
    cat content-salt.bin payload | openssl dgst -sha256
    cat content-salt.bin payload | openssl dgst -sha3-256

(`xxd -r -p content-salt.hex > content-salt.bin` gives the same 16 bytes.)
"""


def client_step(evidence: dict[str, Any], client: Any) -> str:
    """Step 7, for an item its technician's device signed (``client_signature``)."""
    if client is None:
        return ""
    if client.algorithm == "ed25519":
        verify = (
            "    openssl pkeyutl -verify -pubin -inkey device.pem -rawin -in client-statement.json \\\n"
            "        -sigfile client-statement.sig"
        )
        expected = "`Signature Verified Successfully`"
    else:
        verify = "    openssl dgst -sha256 -verify device.pem -signature client-statement.sig client-statement.json"
        expected = "`Verified OK`"
    return f"""
## 7. The technician's device signed this deposit (`client_signature`)
`client-statement.json` is what device `{client.device}` ({client.algorithm}) signed before sending
the deposit; `client-statement.sig` its signature; `device.pem` its public key, whose SHA-256
(of the DER key) the evidence seals: `{client.fingerprint}`.

{verify}

Expected: {expected}. Then the key is the sealed one, and the statement describes this item:

    openssl pkey -pubin -in device.pem -outform DER | openssl dgst -sha256
    cat client-statement.json; echo
    sha256sum payload; wc -c payload

Expected: the fingerprint above; in the statement, `sha256` equal to the `sha256sum` of `payload`
(for a file; a record's statement covers the record file as sent, not its stored disclosures),
`size` equal to `wc -c`, and `tenant` `{evidence.get("tenant")}`, `session` `{evidence.get("session")}`,
`kind` `{evidence.get("kind")}`, `idempotency_key` `{json.dumps(evidence.get("idempotency_key"))}` as in evidence.json.
"""


def _trust_texts(trust: dict[str, Any] | None, tsa_fingerprint: str) -> tuple[str, str]:
    """What trust.json declares, for steps 0 and 5."""
    pins = ", ".join(f"`{f}`" for f in (trust or {}).get("seal_fingerprints", [])) or "none declared"
    own = set((trust or {}).get("self_operated_tsa_fingerprints", []))
    if tsa_fingerprint and tsa_fingerprint in own:
        note = (
            "\n**This TSA is self-operated, not independent**: its key and clock are the vault operator's\n"
            f"(`certs/tsa.pem`, sha256 `{tsa_fingerprint}`), so its time proves nothing against the\n"
            "operator. An independent (ideally qualified) TSA's token is what proves the time.\n"
        )
    else:
        note = ""
    return pins, note


ERS_STEP = """
## Long-term proof: `evidence-record.ers` (RFC 4998)
The same proof as steps 2, 3 and 5 in the standard long-term form: a DER `EvidenceRecord`
(RFC 4998 Evidence Record Syntax) whose data object is `evidence.json`. Its first archive
timestamp holds this path (as an RFC 4998 reduced hash tree) and the token of
`timestamp.tsr`; archive timestamps added later (renewals) keep the proof valid after the
TSA's certificate expires or SHA-256 weakens. Any ERS verifier checks it against
`evidence.json` and the TSA anchors, e.g. Bouncy Castle's `org.bouncycastle.tsp.ers`
(`ERSEvidenceRecord.validatePresent`); to look inside:

    openssl asn1parse -inform DER -in evidence-record.ers -i
"""


def verify_md(
    evidence: dict[str, Any],
    batch: dict[str, Any],
    path: dict[str, Any],
    *,
    salt: bytes | None = None,
    trust: dict[str, Any] | None = None,
    tsa_fingerprint: str = "",
    client: Any = None,
) -> str:
    root = batch["root"]
    seal_pins, tsa_note = _trust_texts(trust, tsa_fingerprint)
    steps = path_steps(path["leaf"], path["reduced_hash_tree"])
    step1 = payload_step(evidence, salt)
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

A CA issues certificates to many; only the vault's own sealing certificate may seal. Its
SHA-256 fingerprint must be one the provider publishes (`trust.json` lists the vault's:
{seal_pins}):

    openssl x509 -in certs/seal.pem -noout -fingerprint -sha256 -subject -ext keyUsage,basicConstraints,extendedKeyUsage

Expected: keyUsage with Digital Signature or Non Repudiation, CA:FALSE, no Time Stamping.

{step1}
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

Expected: `CMS Verification successful`. The seal is CAdES-B-B: its signed attributes carry
signing-certificate-v2 (OID 1.2.840.113549.1.9.16.2.47), the SHA-256 of `certs/seal.pem`,
so the signature covers which certificate signed. Check that the certificate in the seal is
`certs/seal.pem` and that the attribute holds its hash:

    openssl pkcs7 -inform DER -in seal.p7s -print_certs | openssl x509 -noout -fingerprint -sha256
    openssl cms -cmsout -print -inform DER -in seal.p7s | grep -A8 signingCertificateV2

Expected: the same fingerprint as `certs/seal.pem`, and under `id-smime-aa-signingCertificateV2`
an OCTET STRING with those 32 bytes.

## 5. The RFC 3161 timestamp over the root

    openssl ts -verify -digest {root} -in timestamp.tsr \\
        -CAfile certs/tsa-ca.pem -untrusted certs/tsa.pem
    openssl ts -reply -in timestamp.tsr -text

Expected: `Verification: OK`; the second command shows the time (`Time stamp:`).
{tsa_note}
## 6. The batch chain
`batch.json` names `previous_root` = `{batch["previous_root"]}`; its `chain_path` leads from
that value to the same root (same procedure as step 3), so the timestamp also covers the
previous batch. Batch {batch["seq"]} follows the batch whose root is `previous_root`.
{client_step(evidence, client)}{ERS_STEP}"""
