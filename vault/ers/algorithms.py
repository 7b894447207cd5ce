"""Hash algorithms of evidence records: names, OIDs, hash functions (no I/O).

Names are the vault's own (``sha256``, ``sha3-512``, as in ``evidence.json`` and the renewal
policy); OIDs are NIST's (RFC 5754 for SHA-2, RFC 8702 for SHA-3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from vault.errors import InputError

#: name -> (dotted OID, digest size in bytes)
ALGORITHMS: dict[str, tuple[str, int]] = {
    "sha256": ("2.16.840.1.101.3.4.2.1", 32),
    "sha384": ("2.16.840.1.101.3.4.2.2", 48),
    "sha512": ("2.16.840.1.101.3.4.2.3", 64),
    "sha3-256": ("2.16.840.1.101.3.4.2.8", 32),
    "sha3-384": ("2.16.840.1.101.3.4.2.9", 48),
    "sha3-512": ("2.16.840.1.101.3.4.2.10", 64),
}
_BY_OID = {oid: name for name, (oid, _size) in ALGORITHMS.items()}

HashFn = Callable[[bytes], bytes]


def check_algorithm(alg: str) -> str:
    """``alg`` when the vault knows it, else :class:`InputError`."""
    if alg not in ALGORITHMS:
        raise InputError("unsupported hash algorithm", detail=f"{alg} (use {', '.join(ALGORITHMS)})")
    return alg


def oid_of(alg: str) -> str:
    return ALGORITHMS[check_algorithm(alg)][0]


def digest_size(alg: str) -> int:
    return ALGORITHMS[check_algorithm(alg)][1]


def name_of(oid: str) -> str:
    """The vault's name of a digest algorithm OID; :class:`InputError` for any other OID."""
    try:
        return _BY_OID[oid]
    except KeyError:
        raise InputError("unsupported digest algorithm", detail=oid) from None


def digest(alg: str, data: bytes) -> bytes:
    """``alg`` hash of ``data``."""
    return hashlib.new(check_algorithm(alg).replace("-", "_"), data).digest()


def hash_fn(alg: str) -> HashFn:
    """A one-argument hash function for :func:`vault.tree.hashtree.build_tree` (``h=``)."""
    name = check_algorithm(alg).replace("-", "_")

    def h(data: bytes) -> bytes:
        return hashlib.new(name, data).digest()

    return h


def node_hash(alg: str, values: list[bytes]) -> bytes:
    """RFC 4998 4.2: the hash of the binary ascending concatenation of ``values``."""
    return digest(alg, b"".join(sorted(values)))
