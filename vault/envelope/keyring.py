"""Data keys, wrapped by the key-encryption key (KEK).

One data key per (tenant, data subject, purpose) (see ADR 0007): erasing is destroying wrapped keys,
which makes every copy of their ciphertext unreadable (crypto-shredding), including copies
inside WORM objects that cannot be deleted before their retention ends.
The wrapping is AES-256-GCM with the tenant and subject as associated data, so a wrapped
key moved to another subject's row does not unwrap.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import KeyError_


def load_or_create_kek(path: Path, *, create: bool = False) -> bytes:
    """Read the 256-bit KEK (hex in a 0600 file); create it only when asked (``vault init``)."""
    if path.exists():
        try:
            kek = bytes.fromhex(path.read_text().strip())
        except ValueError as e:
            raise KeyError_("the KEK file is not hex", detail=str(path)) from e
        if len(kek) != 32:
            raise KeyError_("the KEK must be 256 bits", detail=f"{path}: {len(kek)} bytes")
        return kek
    if not create:
        raise KeyError_("no key-encryption key", detail=f"{path} is missing; run `vault init`")
    kek = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(kek.hex() + "\n")
    return kek


class KeyRing:
    """Wraps and unwraps data keys under one KEK."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise KeyError_("the KEK must be 256 bits", detail=f"got {len(kek)} bytes")
        self._aead = AESGCM(kek)
        #: identifies the KEK a key was wrapped with, so rotation can find what to rewrap
        self.kek_id = hashlib.sha256(b"vault-kek-id" + kek).hexdigest()[:16]
        self._pseudonym_key = hmac.new(kek, b"vault-journal-subject-pseudonym", hashlib.sha256).digest()

    def pseudonym(self, tenant: str, subject: str) -> str:
        """A keyed, stable stand-in for a data subject in the journal: the journal is kept for
        decades and must not name a subject whose data was erased, yet the vault (holding the
        KEK) can still find every request of a subject."""
        t, s = tenant.encode(), subject.encode()
        msg = len(t).to_bytes(2, "big") + t + len(s).to_bytes(2, "big") + s
        return "sr_" + hmac.new(self._pseudonym_key, msg, hashlib.sha256).hexdigest()[:40]

    @staticmethod
    def _aad(tenant: str, subject: str) -> bytes:
        t, s = tenant.encode(), subject.encode()
        return b"vault-dek" + len(t).to_bytes(2, "big") + t + len(s).to_bytes(2, "big") + s

    def new_wrapped_key(self, tenant: str, subject: str) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form (nonce || ciphertext)."""
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        return dek, nonce + self._aead.encrypt(nonce, dek, self._aad(tenant, subject))

    def unwrap(self, wrapped: bytes, tenant: str, subject: str) -> bytes:
        if len(wrapped) != 12 + 32 + 16:
            raise KeyError_("wrapped data key has the wrong length", detail=f"{len(wrapped)} bytes")
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], self._aad(tenant, subject))
        except InvalidTag:
            raise KeyError_(
                "data key does not unwrap",
                detail=f"tenant {tenant!r}, subject {subject!r}: wrong KEK or tampered key",
            ) from None
