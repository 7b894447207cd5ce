"""What the vault needs from wherever its key-encryption keys live.

The index holds data keys wrapped under a KEK *epoch*; the epoch keys themselves live in a
:class:`KekStore`, outside the index and its backups. Destroying an epoch in the store makes
every copy of every key ever wrapped under it (index backups, SQLite WAL files, PostgreSQL dead
tuples and WAL archives) unreadable at once: that is what makes an erasure reach backups
(ADR 0011). Wrapping is AES-256-GCM inside the store; the caller gives the associated data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from vault.errors import ConfigError, KeyError_

if TYPE_CHECKING:
    from vault.config import Settings

NONCE = 12
TAG = 16


class EpochKeyMissing(KeyError_):
    """The store has no key for this epoch: never created, or destroyed by a rotation."""


class KekStore(Protocol):
    #: one line for ``vault status`` (kind and where, never a secret)
    description: str
    #: False where destroying a key cannot be proven to reach every copy (plain files)
    hardware_backed: bool

    def create(self, epoch: int) -> None:
        """A new random epoch key (refused if it exists)."""

    def has(self, epoch: int) -> bool: ...

    def epochs(self) -> list[int]:
        """Every epoch whose key the store holds."""

    def destroy(self, epoch: int) -> None:
        """Destroy the epoch key; a missing one is not an error (destruction is idempotent)."""

    def wrap(self, epoch: int, plaintext: bytes, aad: bytes) -> bytes:
        """``nonce || ciphertext || tag`` under the epoch key."""

    def unwrap(self, epoch: int, blob: bytes, aad: bytes) -> bytes:
        """The plaintext; :class:`KeyError_` on a wrong key, AAD or tampered blob,
        :class:`EpochKeyMissing` when the epoch key is gone."""


def open_store(settings: Settings) -> KekStore:
    """The store the settings name (``kek_store = "file"`` or ``"pkcs11"``)."""
    if settings.kek_store == "file":
        from vault.keys.kek.files import FileKekStore

        return FileKekStore(settings.kek_dir, legacy=settings.kek)
    if settings.kek_store == "pkcs11":
        from vault.keys.kek.pkcs11 import Pkcs11KekStore

        return Pkcs11KekStore(
            settings.pkcs11_library,
            settings.pkcs11_token,
            pin=settings.pkcs11_pin(),
            key_label=settings.pkcs11_key_label,
        )
    raise ConfigError("kek_store must be 'file' or 'pkcs11'", detail=settings.kek_store)
