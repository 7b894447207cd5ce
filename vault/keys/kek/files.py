"""Epoch keys as files (``epoch-<N>.key``, hex, mode 0600): the embedded default.

Good enough to develop and to run the tests without a token, not for production: a file
deleted on an SSD or a copy-on-write file system may survive on the medium, and any backup of
this folder keeps the epochs it held. ``vault status`` says so; production uses PKCS#11.
Epoch 0 is the single KEK file of vaults made before epochs (``kek.key``).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import KeyError_
from vault.keys.kek.store import NONCE, EpochKeyMissing

_NAME = re.compile(r"^epoch-(\d{1,9})\.key$")


class FileKekStore:
    hardware_backed = False

    def __init__(self, folder: Path, *, legacy: Path | None = None) -> None:
        self.folder = folder
        self.legacy = legacy
        self.description = f"files in {folder} (development only: a deleted file may survive on disk or in backups)"

    def _path(self, epoch: int) -> Path:
        if epoch == 0 and self.legacy is not None:
            return self.legacy
        return self.folder / f"epoch-{epoch}.key"

    def _key(self, epoch: int) -> bytes:
        # read on every use: another process may have destroyed the epoch
        path = self._path(epoch)
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            raise EpochKeyMissing("the KEK epoch key is gone", detail=f"epoch {epoch}: {path}") from None
        try:
            key = bytes.fromhex(text)
        except ValueError as e:
            raise KeyError_("a KEK epoch file is not hex", detail=str(path)) from e
        if len(key) != 32:
            raise KeyError_("a KEK epoch key must be 256 bits", detail=f"{path}: {len(key)} bytes")
        return key

    def create(self, epoch: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        path = self._path(epoch)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(path.parent)

    def has(self, epoch: int) -> bool:
        return self._path(epoch).exists()

    def epochs(self) -> list[int]:
        found = []
        if self.folder.is_dir():
            found = [int(m[1]) for p in self.folder.iterdir() if (m := _NAME.match(p.name))]
        if self.legacy is not None and self.legacy.exists():
            found.append(0)
        return sorted(set(found))

    def destroy(self, epoch: int) -> None:
        path = self._path(epoch)
        if not path.exists():
            return
        with contextlib.suppress(OSError), open(path, "r+b") as f:  # overwrite first: best effort only
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def wrap(self, epoch: int, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + AESGCM(self._key(epoch)).encrypt(nonce, plaintext, aad)

    def unwrap(self, epoch: int, blob: bytes, aad: bytes) -> bytes:
        key = self._key(epoch)
        try:
            return AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], aad)
        except InvalidTag:
            raise KeyError_("a wrapped key does not unwrap", detail=f"epoch {epoch}: wrong key or tampered") from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
