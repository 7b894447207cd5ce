"""Which configured anchor issued a certificate: shared by seal and timestamp verification.

Both PKIs of the vault are two levels deep (anchor → end entity); intermediate CAs are not
supported yet, and revocation is not checked (see docs/verification.md).

Chaining to an anchor says nothing about *which* of the anchor's certificates signed: a seal
is the vault's only if its signer also passes :mod:`vault.seal.identity` (pinned fingerprint,
key usage, not a CA, not a TSA; ADR 0009).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature


def issuing_anchor(cert: x509.Certificate, roots: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The root among ``roots`` whose key signed ``cert``, or None."""
    for root in roots:
        if root.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return root
    return None
