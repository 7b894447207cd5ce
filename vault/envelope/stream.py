"""Chunked AES-256-GCM, so that GB-sized payloads are encrypted and decrypted in bounded memory.

One GCM message over a whole recording would release unauthenticated plaintext while
decrypting. Instead the payload is cut into chunks, each sealed on its own (the STREAM
construction of Hoang, Reyhanitabar, Rogaway and Vizár, as in Tink's AES-GCM-HKDF streaming
AEAD): the nonce is ``prefix(7) || counter(4, big endian) || last(1)``, so chunks cannot be
reordered, dropped or truncated without the tag check failing. The associated data binds the
stream to its item.

A subject's data key encrypts many streams (every record of theirs). Random 96-bit nonces
under one key would collide after ~2^48 streams, and a short random prefix much sooner, so
each stream uses its own key derived with HKDF-SHA256 from the data key and a fresh
128-bit salt carried in the header.

Layout::

    header     = b"EVS1" || chunk_size (4, BE) || salt (16) || nonce prefix (7) || reserved (1 = 0)
    stream key = HKDF-SHA256(data key, salt, info = b"vault-evs1" || context, 32 bytes)
    chunk_i    = AES-256-GCM(stream key, prefix || i || last, plaintext_i, aad = header || context)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import KeyError_

MAGIC = b"EVS1"
HEADER_LEN = 32
SALT_LEN = 16
PREFIX_LEN = 7
TAG_LEN = 16
KEY_LEN = 32
DEFAULT_CHUNK = 1024 * 1024
#: the largest chunk size a reader accepts (and so the largest a writer may use)
MAX_CHUNK = 64 * 1024 * 1024
HKDF_LABEL = b"vault-evs1"
SCHEME = "AES-256-GCM-STREAM/EVS1"


class DecryptionError(KeyError_):
    """Ciphertext does not authenticate under this key and context (tampered or wrong key)."""

    code = "decryption"


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise KeyError_("data keys are 256-bit", detail=f"got {len(key)} bytes")


def _stream_key(key: bytes, salt: bytes, context: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=HKDF_LABEL + context).derive(key)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


class StreamEncryptor:
    """Encrypts a stream chunk by chunk; call :meth:`chunk` with ``last=True`` exactly once.

    ``salt`` and ``nonce_prefix`` are drawn fresh from ``os.urandom`` unless given. Giving them
    is for known-answer tests only (tests/vectors/): a repeated salt and prefix under one data
    key repeat the keystream, so the vault itself never passes them.
    """

    def __init__(
        self,
        key: bytes,
        context: bytes,
        chunk_size: int = DEFAULT_CHUNK,
        *,
        salt: bytes | None = None,
        nonce_prefix: bytes | None = None,
    ) -> None:
        _check_key(key)
        if not 0 < chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be 1..{MAX_CHUNK} bytes")
        salt = os.urandom(SALT_LEN) if salt is None else salt
        prefix = os.urandom(PREFIX_LEN) if nonce_prefix is None else nonce_prefix
        if len(salt) != SALT_LEN or len(prefix) != PREFIX_LEN:
            raise ValueError(f"the salt is {SALT_LEN} bytes and the nonce prefix {PREFIX_LEN}")
        self._aead = AESGCM(_stream_key(key, salt, context))
        self._prefix = prefix
        self.chunk_size = chunk_size
        self.header = MAGIC + struct.pack(">I", chunk_size) + salt + self._prefix + b"\x00"
        self._aad = self.header + context
        self._counter = 0
        self._done = False

    def chunk(self, plaintext: bytes, *, last: bool) -> bytes:
        if self._done:
            raise RuntimeError("stream already finished")
        if len(plaintext) > self.chunk_size or (not last and len(plaintext) != self.chunk_size):
            raise ValueError("chunks other than the last must be exactly chunk_size bytes")
        out = self._aead.encrypt(_nonce(self._prefix, self._counter, last), plaintext, self._aad)
        self._counter += 1
        self._done = last
        return out


def encrypt_bytes(
    key: bytes,
    context: bytes,
    plaintext: bytes,
    chunk_size: int = DEFAULT_CHUNK,
    *,
    salt: bytes | None = None,
    nonce_prefix: bytes | None = None,
) -> bytes:
    """Encrypt a small payload held in memory (packed records). ``salt`` and ``nonce_prefix``:
    known-answer tests only (see :class:`StreamEncryptor`)."""
    enc = StreamEncryptor(key, context, chunk_size, salt=salt, nonce_prefix=nonce_prefix)
    parts = [enc.header]
    for start in range(0, max(len(plaintext), 1), chunk_size):
        piece = plaintext[start : start + chunk_size]
        parts.append(enc.chunk(piece, last=start + chunk_size >= len(plaintext)))
    return b"".join(parts)


def decrypt_stream(key: bytes, context: bytes, source: Iterable[bytes]) -> Iterator[bytes]:
    """Yield authenticated plaintext chunks; raise :class:`DecryptionError` on any tampering.

    Each chunk is only released after its own tag verified; truncation is caught because
    the final chunk carries the ``last`` flag in its nonce.
    """
    _check_key(key)
    buf = bytearray()
    it = iter(source)
    while len(buf) < HEADER_LEN:
        try:
            buf += next(it)
        except StopIteration:
            raise DecryptionError("ciphertext shorter than its header") from None
    header = bytes(buf[:HEADER_LEN])
    del buf[:HEADER_LEN]
    if header[:4] != MAGIC:
        raise DecryptionError("not a vault ciphertext", detail=f"magic {header[:4]!r}")
    (chunk_size,) = struct.unpack(">I", header[4:8])
    salt, prefix = header[8 : 8 + SALT_LEN], header[8 + SALT_LEN : 8 + SALT_LEN + PREFIX_LEN]
    if header[-1] != 0 or not 0 < chunk_size <= MAX_CHUNK:
        raise DecryptionError("not a vault ciphertext", detail="bad header")
    aad = header + context
    aead = AESGCM(_stream_key(key, salt, context))
    sealed = chunk_size + TAG_LEN
    counter = 0
    exhausted = False
    while True:
        while not exhausted and len(buf) <= sealed:
            try:
                buf += next(it)
            except StopIteration:
                exhausted = True
        last = exhausted and len(buf) <= sealed
        if len(buf) < TAG_LEN:
            raise DecryptionError("ciphertext truncated")
        take = len(buf) if last else sealed
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), bytes(buf[:take]), aad)
        except InvalidTag:
            raise DecryptionError(
                "ciphertext does not authenticate",
                detail=f"chunk {counter} (tampered, truncated or wrong key)",
            ) from None
        del buf[:take]
        counter += 1
        yield plain
        if last:
            return


def decrypt_bytes(key: bytes, context: bytes, ciphertext: bytes) -> bytes:
    return b"".join(decrypt_stream(key, context, [ciphertext]))
