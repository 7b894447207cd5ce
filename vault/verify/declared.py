"""``trust.json`` of a proof folder: what the vault declares about whose seal and whose clock.

The vault writes, next to ``certs/``, the SHA-256 fingerprints of its sealing certificates
and of the TSA certificates it operates itself (ADR 0009)::

    {"type": "vault-proof-trust/1",
     "seal_fingerprints": ["<sha256 hex>", ...],
     "self_operated_tsa_fingerprints": ["<sha256 hex>", ...],
     "note": "..."}

It is a declaration, not evidence: whoever hands over the folder can rewrite it. So offline
verification checks the seal's signer against it only when the recipient pinned nothing
(``--seal-fingerprint``), and says so; and a token whose signer is listed as self-operated is
reported as such (a folder that omits the list proves nothing about independence).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.errors import ConfigError, InputError
from vault.seal.identity import normalize_fingerprint
from vault.verify.proof_checks import load_json

TRUST_FILE = "trust.json"
TRUST_TYPE = "vault-proof-trust/1"


def declaration(seal_fingerprints: Iterable[str], self_operated_tsas: Iterable[str]) -> dict[str, Any]:
    own = sorted(self_operated_tsas)
    return {
        "type": TRUST_TYPE,
        "seal_fingerprints": sorted(seal_fingerprints),
        "self_operated_tsa_fingerprints": own,
        "note": (
            "seal_fingerprints: the certificates that seal for this vault (compare with the ones the "
            "provider publishes). self_operated_tsa_fingerprints: TSAs run by the vault operator "
            "itself, not independent: their genTime proves nothing against the operator."
        ),
    }


@dataclass(frozen=True)
class Declared:
    seal_fingerprints: frozenset[str]
    self_operated_tsas: frozenset[str]
    problem: str = ""


def read_declared(folder: Path) -> Declared:
    """The folder's declaration; empty (with the reason) when it is missing or unreadable."""
    path = folder / TRUST_FILE
    if not path.is_file():
        return Declared(frozenset(), frozenset(), f"{TRUST_FILE} is missing")
    try:
        doc = load_json(path.read_bytes(), TRUST_FILE)
        if doc.get("type") != TRUST_TYPE:
            raise InputError(f"{TRUST_FILE} is not a {TRUST_TYPE} document")
        seal, tsas = doc.get("seal_fingerprints"), doc.get("self_operated_tsa_fingerprints", [])
        if not isinstance(seal, list) or not isinstance(tsas, list):
            raise InputError(f"{TRUST_FILE}: fingerprints are lists")
        return Declared(
            frozenset(normalize_fingerprint(str(f)) for f in seal),
            frozenset(normalize_fingerprint(str(f)) for f in tsas),
        )
    except (InputError, ConfigError) as e:
        return Declared(frozenset(), frozenset(), str(e))
