"""Staging of unfinished tus uploads on the vault's host, never in clear.

One folder per upload, ``$VAULT_HOME/uploads/<id>/``:

- ``state.json``: who owns the upload (tenant, API key), its length, the offset received so far,
  the byte counters, its expiry, and its **per-upload key** (256 random bits) wrapped by the KEK
  store's current epoch (AAD binds it to the upload id and tenant); the ``Upload-Metadata``
  header (session, subject, personal fields...) sealed under that key. Written to a temporary
  file, fsynced, renamed, folder fsynced.
- ``data``: the bytes received, as a sequence of records, each sealed on its own with
  AES-256-GCM under the upload key::

      record = offset (8, BE) || length (4, BE) || nonce (12) || AES-256-GCM(key, nonce, plaintext,
               aad = b"vault-upload/1\\0" || upload id || offset || length)

  A record is at most :data:`RECORD` bytes of plaintext; the last record of each PATCH may be
  short. The AAD binds each record to its upload and place, so records cannot be reordered,
  dropped or moved between uploads; the reader also checks they are contiguous and end at the
  committed offset. Nonces are random (96 bits, a fresh key per upload: at most 2^16 full
  records for 64 GiB, far from any collision bound). The envelope's STREAM format
  (``vault.envelope.stream``) does not fit here: it needs fixed-size chunks and knows its last
  chunk, while a tus upload is cut wherever a PATCH or a connection ends, and a refused PATCH
  is cut off again.
- ``lock``: ``flock``-ed by whoever writes (a PATCH, DELETE, a sweep), so two requests on one
  upload exclude each other across the worker processes of one host.

Durability order of a PATCH: records appended and fsynced, then ``state.json`` (the committed
``offset`` and ciphertext length ``stored``) replaced; bytes past ``stored`` (a crash between
the two, a refused chunk) are cut off by the next writer. Destroying the KEK epoch that wraps an
upload's key (a rotation finishing) makes the upload unreadable: it is answered ``410 Gone``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import Gone, KeyError_, Locked, NotFound, VaultError
from vault.keys.kek.store import EpochKeyMissing, KekStore

#: largest plaintext of one record
RECORD = 1024 * 1024
#: an unfinished upload expires this long after its creation or its last PATCH
TTL = dt.timedelta(hours=24)
ID_RE = re.compile(r"^up_[0-9a-f]{32}$")
LABEL = b"vault-upload/1\0"
_HEAD = struct.Struct(">QI12s")
NONCE = 12
TAG = 16


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class UploadState:
    """What ``state.json`` holds (no personal data in clear)."""

    id: str
    tenant: str
    key_id: str
    length: int
    created: str
    expires: str
    epoch: int
    wrapped_key: str  # base64; "" once completed
    metadata_sealed: str  # base64 nonce || ciphertext; "" once completed
    offset: int = 0  # plaintext bytes committed
    stored: int = 0  # bytes of ``data`` committed
    received: int = 0  # body bytes read from every PATCH (kept or not)
    discarded: int = 0  # of which thrown away (checksum mismatch, refused, rolled back)
    patches: int = 0
    evidence_id: str | None = None  # set when the upload became an item (a tombstone until expiry)

    def expired(self, now: dt.datetime) -> bool:
        return parse_time(self.expires) <= now


class RecordWriter:
    """Appends encrypted records after the committed part of ``data`` (cutting off the rest)."""

    def __init__(self, path: Path, upload_id: str, key: bytes, offset: int, stored: int) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, stored)
        os.lseek(self._fd, stored, os.SEEK_SET)
        self._aead = AESGCM(key)
        self._prefix = LABEL + upload_id.encode()
        self.start_offset, self.start_stored = offset, stored
        self.offset, self.stored = offset, stored

    def write(self, plain: bytes) -> None:
        for i in range(0, len(plain), RECORD):
            piece = plain[i : i + RECORD]
            nonce = os.urandom(NONCE)
            head = _HEAD.pack(self.offset, len(piece), nonce)
            sealed = self._aead.encrypt(nonce, piece, self._prefix + head[:12])
            record = head + sealed
            view = memoryview(record)
            while view:
                view = view[os.write(self._fd, view) :]
            self.offset += len(piece)
            self.stored += len(record)

    def sync(self) -> None:
        os.fsync(self._fd)

    def rollback(self) -> None:
        """Throw away what this writer appended."""
        os.ftruncate(self._fd, self.start_stored)
        os.fsync(self._fd)
        self.offset, self.stored = self.start_offset, self.start_stored

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class StagedReader:
    """``read(n)`` over the decrypted records of ``data``, up to ``stored`` bytes of it, which
    must hold exactly ``length`` bytes of plaintext (the deposit's source; bounded memory)."""

    def __init__(self, path: Path, upload_id: str, key: bytes, *, length: int, stored: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._aead = AESGCM(key)
        self._prefix = LABEL + upload_id.encode()
        self._length, self._stored = length, stored
        self._pos = 0  # ciphertext position
        self._offset = 0  # plaintext offset of the next record
        self._buf = b""

    def _next(self) -> bytes:
        if self._pos >= self._stored:
            if self._offset != self._length:
                raise VaultError("staged upload is incomplete", detail=f"{self._offset} of {self._length} bytes")
            return b""
        head = self._f.read(_HEAD.size)
        if len(head) != _HEAD.size:
            raise VaultError("staged upload is truncated", detail=f"at byte {self._pos}")
        offset, n, nonce = _HEAD.unpack(head)
        if offset != self._offset or n > RECORD or self._pos + _HEAD.size + n + TAG > self._stored:
            raise VaultError("staged upload is out of order", detail=f"record at {offset}, expected {self._offset}")
        sealed = self._f.read(n + TAG)
        try:
            plain = self._aead.decrypt(nonce, sealed, self._prefix + head[:12])
        except InvalidTag:
            raise KeyError_("staged upload does not authenticate", detail=f"record at offset {offset}") from None
        self._pos += _HEAD.size + n + TAG
        self._offset += n
        return plain

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            plain = self._next()
            if not plain:
                break
            self._buf = self._buf + plain if self._buf else plain
        if n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self) -> None:
        self._f.close()


class Staging:
    """The staging area: ``root`` (``$VAULT_HOME/uploads``) and the KEK store that wraps keys."""

    def __init__(self, root: Path, kek: KekStore) -> None:
        self.root = root
        self.kek = kek

    # -- paths and state ------------------------------------------------------------------

    def folder(self, upload_id: str) -> Path:
        if not ID_RE.match(upload_id):
            raise NotFound("no such upload")
        return self.root / upload_id

    def data_path(self, upload_id: str) -> Path:
        return self.folder(upload_id) / "data"

    def load(self, upload_id: str) -> UploadState | None:
        try:
            raw = (self.folder(upload_id) / "state.json").read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return UploadState(**json.loads(raw))

    def save(self, st: UploadState) -> None:
        folder = self.folder(st.id)
        tmp = folder / "state.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(asdict(st), sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, folder / "state.json")
        _fsync_dir(folder)

    # -- keys ------------------------------------------------------------------------------

    @staticmethod
    def _key_aad(st: UploadState) -> bytes:
        return LABEL + b"key\0" + st.id.encode() + b"\0" + st.tenant.encode()

    def key(self, st: UploadState) -> bytes:
        """The upload's key; :class:`Gone` when its KEK epoch was destroyed (the upload is lost)."""
        if not st.wrapped_key:
            raise Gone("the upload is complete", detail=f"it became {st.evidence_id}")
        try:
            return self.kek.unwrap(st.epoch, base64.b64decode(st.wrapped_key), self._key_aad(st))
        except EpochKeyMissing:
            raise Gone(
                "the upload's key was destroyed by a KEK rotation",
                detail=f"epoch {st.epoch}; start the upload again",
            ) from None

    def metadata(self, st: UploadState, key: bytes) -> str:
        """The ``Upload-Metadata`` header as the client sent it."""
        if not st.metadata_sealed:
            return ""
        blob = base64.b64decode(st.metadata_sealed)
        try:
            return AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], LABEL + b"meta\0" + st.id.encode()).decode()
        except InvalidTag:
            raise KeyError_("staged upload metadata does not authenticate", detail=st.id) from None

    # -- life cycle ------------------------------------------------------------------------

    def create(
        self, *, tenant: str, key_id: str, length: int, metadata: str, epoch: int, now: dt.datetime
    ) -> UploadState:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        upload_id = "up_" + secrets.token_hex(16)
        folder = self.folder(upload_id)
        folder.mkdir(mode=0o700)
        key = os.urandom(32)
        st = UploadState(
            id=upload_id,
            tenant=tenant,
            key_id=key_id,
            length=length,
            created=iso(now),
            expires=iso(now + TTL),
            epoch=epoch,
            wrapped_key="",
            metadata_sealed="",
        )
        st.wrapped_key = base64.b64encode(self.kek.wrap(epoch, key, self._key_aad(st))).decode()
        nonce = os.urandom(NONCE)
        sealed = AESGCM(key).encrypt(nonce, metadata.encode(), LABEL + b"meta\0" + upload_id.encode())
        st.metadata_sealed = base64.b64encode(nonce + sealed).decode()
        (folder / "lock").touch(mode=0o600)
        self.save(st)
        _fsync_dir(self.root)
        return st

    @contextlib.contextmanager
    def lock(self, upload_id: str) -> Iterator[None]:
        """Exclusive hold of the upload (across processes); :class:`Locked` if another has it."""
        try:
            fd = os.open(self.folder(upload_id) / "lock", os.O_RDWR)
        except FileNotFoundError:
            raise NotFound("no such upload") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Locked("another request is writing to this upload", detail="retry after it ends") from None
            yield
        finally:
            os.close(fd)  # releases the lock

    def writer(self, st: UploadState, key: bytes) -> RecordWriter:
        return RecordWriter(self.data_path(st.id), st.id, key, st.offset, st.stored)

    def reader(self, st: UploadState, key: bytes, *, stored: int) -> StagedReader:
        return StagedReader(self.data_path(st.id), st.id, key, length=st.length, stored=stored)

    def complete(self, st: UploadState, evidence_id: str) -> None:
        """The upload became ``evidence_id``: its bytes, key and metadata go; a tombstone (ids
        and counters only) answers HEAD until it expires."""
        st.evidence_id = evidence_id
        st.wrapped_key = st.metadata_sealed = ""
        st.offset = st.length
        self.save(st)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.data_path(st.id))
        _fsync_dir(self.folder(st.id))

    def remove(self, upload_id: str) -> None:
        shutil.rmtree(self.folder(upload_id), ignore_errors=True)
        with contextlib.suppress(OSError):
            _fsync_dir(self.root)

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if ID_RE.match(p.name))

    def sweep(self, now: dt.datetime) -> list[str]:
        """Remove expired uploads (and tombstones) that nobody is writing to; their ids."""
        gone = []
        for upload_id in self.ids():
            try:
                st = self.load(upload_id)
            except (ValueError, TypeError, OSError):
                st = None
            if st is None:  # a creation that crashed before its state: once old enough, remove
                with contextlib.suppress(OSError):
                    if now.timestamp() - self.folder(upload_id).stat().st_mtime >= TTL.total_seconds():
                        self.remove(upload_id)
                        gone.append(upload_id)
                continue
            if not st.expired(now):
                continue
            try:
                with self.lock(upload_id):
                    self.remove(upload_id)
                    gone.append(upload_id)
            except (Locked, NotFound, FileNotFoundError):
                continue
        return gone
