"""Data keys and pseudonym keys, wrapped under a KEK epoch held by the KEK store.

One data key per (tenant, data subject, purpose scope, generation) (ADR 0007): erasing is
destroying wrapped keys, which makes every copy of their ciphertext unreadable (crypto-shredding),
including copies inside WORM objects that cannot be deleted before their retention ends. The
KEK epochs (ADR 0011) make the destruction reach index backups too: after the rotation that
follows an erasure, the epoch that wrapped the erased key no longer exists anywhere.

The associated data binds a wrapped key to its row: tenant, subject, scope, generation and
epoch, so a wrapped key moved to another row, or relabelled with another epoch, does not unwrap.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import KeyError_
from vault.keys.kek.store import EpochKeyMissing, KekStore

KEY_BYTES = 32


def _lp(text: str) -> bytes:
    b = text.encode()
    return len(b).to_bytes(2, "big") + b


@dataclass(frozen=True)
class DataKeyBinding:
    """What a wrapped data key is bound to (its index row)."""

    tenant: str
    subject: str
    scope: str
    generation: int

    def aad(self, epoch: int) -> bytes:
        if epoch == 0:  # wrapped before epochs: tenant and subject only
            return b"vault-dek" + _lp(self.tenant) + _lp(self.subject)
        return (
            b"vault-dek-v2"
            + _lp(self.tenant)
            + _lp(self.subject)
            + _lp(self.scope)
            + self.generation.to_bytes(4, "big")
            + epoch.to_bytes(4, "big")
        )


def pseudonym_aad(tenant: str, subject: str, epoch: int) -> bytes:
    return b"vault-pseudonym-key" + _lp(tenant) + _lp(subject) + epoch.to_bytes(4, "big")


def pseudonym(key: bytes, tenant: str, subject: str) -> str:
    """A subject's stand-in in the journal, keyed by that subject's own pseudonym key: stable
    while the key lives, unlinkable to the subject once erasure destroyed it."""
    return "sr_" + hmac.new(key, _lp(tenant) + _lp(subject), hashlib.sha256).hexdigest()[:40]


class KeyRing:
    """Wraps and unwraps keys through the KEK store."""

    def __init__(self, store: KekStore) -> None:
        self.store = store

    def new_data_key(self, binding: DataKeyBinding, epoch: int) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form."""
        dek = AESGCM.generate_key(bit_length=256)
        return dek, self.wrap_data_key(dek, binding, epoch)

    def wrap_data_key(self, dek: bytes, binding: DataKeyBinding, epoch: int) -> bytes:
        return self.store.wrap(epoch, dek, binding.aad(epoch))

    def unwrap_data_key(self, wrapped: bytes, binding: DataKeyBinding, epoch: int) -> bytes:
        if len(wrapped) != 12 + KEY_BYTES + 16:
            raise KeyError_("wrapped data key has the wrong length", detail=f"{len(wrapped)} bytes")
        try:
            return self._unwrap(epoch, wrapped, binding.aad(epoch))
        except EpochKeyMissing:
            raise
        except KeyError_:
            raise KeyError_(
                "data key does not unwrap",
                detail=f"tenant {binding.tenant!r}, subject {binding.subject!r}, epoch {epoch}: "
                "wrong KEK or tampered key",
            ) from None

    def new_pseudonym_key(self, tenant: str, subject: str, epoch: int) -> tuple[bytes, bytes]:
        key = os.urandom(KEY_BYTES)
        return key, self.store.wrap(epoch, key, pseudonym_aad(tenant, subject, epoch))

    def unwrap_pseudonym_key(self, wrapped: bytes, tenant: str, subject: str, epoch: int) -> bytes:
        return self._unwrap(epoch, wrapped, pseudonym_aad(tenant, subject, epoch))

    def rewrap_pseudonym_key(self, key: bytes, tenant: str, subject: str, epoch: int) -> bytes:
        return self.store.wrap(epoch, key, pseudonym_aad(tenant, subject, epoch))

    def _unwrap(self, epoch: int, blob: bytes, aad: bytes) -> bytes:
        return self.store.unwrap(epoch, blob, aad)
