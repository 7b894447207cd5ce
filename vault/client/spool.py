"""The offline spool: every file a deposit takes is first copied here, encrypted and fsynced,
then sent; its entry is removed only once the vault has acknowledged it.

Layout under ``$XDG_STATE_HOME/vault-client/spool/`` (directory 0700, files 0600):

- ``<seq>.entry``: what to send and how (session, kind, file name, SHA-256, size, idempotency
  key, signed statement, tus upload URL, per-entry data key), as JSON encrypted with AES-256-GCM
  under the spool key (``spool.key`` in the config folder): ``VCE1 || nonce(12) || ciphertext``.
- ``<seq>.data``: the payload, AES-256-GCM in chunks of 1 MiB under the entry's own random key,
  the chunk number as nonce and the last chunk marked in the associated data, so that a
  truncated, reordered or altered spool file fails to decrypt instead of sending other bytes:
  ``VCD1 || chunk_0 || chunk_1 ...``, each chunk ``ciphertext || tag(16)``.

``seq`` orders the entries: they are sent in that order within a session. An entry exists once
``<seq>.entry`` exists (the data file is renamed into place first); temporary files of an
interrupted spooling are removed by the next run.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vault.client.config import fsync_dir, private_dir, write_private
from vault.client.errors import ClientError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 1024 * 1024
TAG = 16
ENTRY_MAGIC = b"VCE1"
DATA_MAGIC = b"VCD1"
ENTRY_AAD = b"vault-client-spool/1 entry"
DATA_AAD = b"vault-client-spool/1 data"


def _aesgcm(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


@dataclass(frozen=True)
class Entry:
    """One spooled file, as decrypted from its ``.entry`` file."""

    id: str
    file: str  # the path given on the command line (for people)
    filename: str  # its base name (sent to the vault)
    session: str
    kind: str
    purpose: str | None
    subject: str | None
    meta: dict[str, Any] | None
    sha256: str
    size: int
    idempotency_key: str
    spooled_at: str
    data_key: str  # base64 of the payload's AES-256 key
    signature: str | None = None  # wire value of the signed statement (None: unsigned)
    signed_at: str | None = None
    signed_by: str | None = None  # device id
    upload_url: str | None = None  # the tus upload, once created
    state: str = "pending"  # pending | refused
    error: str | None = None
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seq(self) -> int:
        return int(self.id)

    def public(self) -> dict[str, Any]:
        """What `status --json` shows (never the keys)."""
        doc = asdict(self)
        for secret in ("data_key", "signature", "extra"):
            doc.pop(secret)
        doc["signed"] = self.signature is not None
        return doc


class _Lock:
    """An exclusive lock on a file (flock on POSIX, msvcrt on Windows)."""

    def __init__(self, path: Path, *, blocking: bool = True) -> None:
        self.path, self.blocking, self.fd = path, blocking, -1

    def acquire(self) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            flags = fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(self.fd, flags)
            except BlockingIOError:
                os.close(self.fd)
                self.fd = -1
                return False
        except ImportError:  # Windows
            import msvcrt

            mode = msvcrt.LK_LOCK if self.blocking else msvcrt.LK_NBLCK  # type: ignore[attr-defined]
            try:
                msvcrt.locking(self.fd, mode, 1)  # type: ignore[attr-defined]
            except OSError:
                os.close(self.fd)
                self.fd = -1
                return False
        return True

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the lock
            self.fd = -1

    def __enter__(self) -> _Lock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


@dataclass
class Staged:
    """A payload copied into the spool, not yet an entry."""

    tmp: Path
    sha256: str
    size: int
    data_key: str


class Spool:
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self.key = key

    @classmethod
    def at(cls, root: Path, key: bytes) -> Spool:
        private_dir(root)
        return cls(root, key)

    # -- files ---------------------------------------------------------------------------
    def _entry_path(self, entry_id: str) -> Path:
        return self.root / f"{entry_id}.entry"

    def _data_path(self, entry_id: str) -> Path:
        return self.root / f"{entry_id}.data"

    def lock(self) -> _Lock:
        return _Lock(self.root / ".lock")

    def flush_lock(self) -> _Lock:
        return _Lock(self.root / ".flush.lock", blocking=False)

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n[: -len(".entry")] for n in names if n.endswith(".entry") and n[:-6].isdigit())

    def clean(self) -> None:
        """Remove leftovers of interrupted runs: temporary files, data without an entry."""
        ids = set(self.ids())
        with self.lock():
            for name in os.listdir(self.root):
                stale = name.endswith(".tmp") or (name.endswith(".data") and name[:-5] not in ids)
                if stale:
                    with contextlib.suppress(OSError):
                        (self.root / name).unlink()

    # -- entries -------------------------------------------------------------------------
    def load(self, entry_id: str) -> Entry:
        path = self._entry_path(entry_id)
        blob = path.read_bytes()
        if blob[:4] != ENTRY_MAGIC:
            raise ClientError(f"spool entry {path} is not a spool entry")
        try:
            doc = json.loads(_aesgcm(self.key).decrypt(blob[4:16], blob[16:], ENTRY_AAD))
        except Exception:
            raise ClientError(
                f"spool entry {path} does not decrypt with the spool key (altered, or another key)"
            ) from None
        if doc.get("id") != entry_id:
            raise ClientError(f"spool entry {path} names another entry ({doc.get('id')!r})")
        return Entry(**doc)

    def entries(self) -> list[Entry]:
        out = []
        for entry_id in self.ids():
            with contextlib.suppress(FileNotFoundError):  # sent meanwhile by another flush
                out.append(self.load(entry_id))
        return out

    def save(self, entry: Entry) -> Entry:
        nonce = secrets.token_bytes(12)
        body = json.dumps(asdict(entry), sort_keys=True).encode()
        blob = ENTRY_MAGIC + nonce + _aesgcm(self.key).encrypt(nonce, body, ENTRY_AAD)
        write_private(self._entry_path(entry.id), blob)
        return entry

    def update(self, entry: Entry, **changes: Any) -> Entry:
        return self.save(replace(entry, **changes))

    def stage(self, src: IO[bytes]) -> Staged:
        """Copy ``src`` into a temporary spool file, encrypted, hashing it on the way; fsynced."""
        data_key = secrets.token_bytes(32)
        aes = _aesgcm(data_key)
        tmp = self.root / f".stage-{secrets.token_hex(8)}.tmp"
        digest = hashlib.sha256()
        size = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(DATA_MAGIC)
                index = 0
                chunk = src.read(CHUNK)
                while chunk:
                    nxt = src.read(CHUNK)
                    digest.update(chunk)
                    size += len(chunk)
                    aad = DATA_AAD + (b" last" if not nxt else b"")
                    out.write(aes.encrypt(_nonce(index), chunk, aad))
                    index += 1
                    chunk = nxt
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return Staged(tmp, digest.hexdigest(), size, base64.b64encode(data_key).decode())

    def next_id(self) -> str:
        """Under :meth:`lock`: the id after every entry or payload in the spool."""
        highest = 0
        for name in os.listdir(self.root):
            stem = name.split(".", 1)[0]
            if stem.isdigit():
                highest = max(highest, int(stem))
        return f"{highest + 1:012d}"

    def commit(self, staged: Staged, make_entry: Any) -> Entry:
        """Turn ``staged`` into an entry: ``make_entry(id)`` builds it (under the lock, so ids
        follow the order of commits); the payload is renamed into place before the entry."""
        with self.lock():
            entry_id = self.next_id()
            entry: Entry = make_entry(entry_id)
            os.replace(staged.tmp, self._data_path(entry_id))
            self.save(entry)  # fsyncs the file and the directory
        return entry

    def discard(self, staged: Staged) -> None:
        with contextlib.suppress(OSError):
            staged.tmp.unlink()

    def remove(self, entry: Entry) -> None:
        """The vault acknowledged ``entry``: forget it (entry first, so it is never half-there)."""
        with self.lock():
            with contextlib.suppress(FileNotFoundError):
                self._entry_path(entry.id).unlink()
            with contextlib.suppress(FileNotFoundError):
                self._data_path(entry.id).unlink()
            fsync_dir(self.root)

    def exists(self, entry: Entry) -> bool:
        return self._entry_path(entry.id).exists()

    # -- payloads ------------------------------------------------------------------------
    def payload(self, entry: Entry, offset: int = 0) -> Payload:
        return Payload(self._data_path(entry.id), entry, offset)


class Payload:
    """The plaintext of a spooled payload from ``offset``, decrypted chunk by chunk (flat memory).
    ``read(n)`` returns up to ``n`` bytes, ``b""`` at the end; a chunk that fails to decrypt
    is an error, never other bytes."""

    def __init__(self, path: Path, entry: Entry, offset: int) -> None:
        if not 0 <= offset <= entry.size:
            raise ClientError(f"offset {offset} outside of the spooled file ({entry.size} bytes)")
        self.path, self.size = path, entry.size
        self.aes = _aesgcm(base64.b64decode(entry.data_key))
        self.chunks = (entry.size + CHUNK - 1) // CHUNK
        self.index = offset // CHUNK
        self.skip = offset % CHUNK
        self.buf = b""
        try:
            self.f: IO[bytes] = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ClientError(f"the spooled payload of entry {entry.id} is missing ({path})") from None
        if self.f.read(4) != DATA_MAGIC:
            raise ClientError(f"{path} is not a spooled payload")
        self.f.seek(4 + self.index * (CHUNK + TAG))

    def _next_chunk(self) -> bytes:
        if self.index >= self.chunks:
            return b""
        last = self.index == self.chunks - 1
        want = (self.size - self.index * CHUNK if last else CHUNK) + TAG
        blob = self.f.read(want)
        try:
            plain = self.aes.decrypt(_nonce(self.index), blob, DATA_AAD + (b" last" if last else b""))
        except Exception:
            raise ClientError(f"the spooled payload {self.path} is damaged (chunk {self.index})") from None
        self.index += 1
        if self.skip:
            plain, self.skip = plain[self.skip :], 0
        return plain

    def read(self, n: int = CHUNK) -> bytes:
        while len(self.buf) < n:
            chunk = self._next_chunk()
            if not chunk:
                break
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> Payload:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
