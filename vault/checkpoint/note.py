"""C2SP signed notes (Ed25519) and the C2SP ``tlog-checkpoint`` body. Pure.

A checkpoint is the note body ``<origin>\\n<size>\\n<base64 root>\\n`` signed as a C2SP
``signed-note``: the body, a blank line, then one line per signature,
``— <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>`` (U+2014 and a space).
The key id is the first 4 bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key), and a key is
published as the verifier key string ``<name>+<8 hex key id>+<base64(0x01 ‖ public key)>``:
exactly what ``golang.org/x/mod/sumdb/note`` reads (``note.NewVerifier``, ``note.Open``).
The private key is kept in that package's signer key format,
``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 ‖ 32-byte seed)>`` (``note.NewSigner``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ALG_ED25519 = 1
SIG_PREFIX = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_NOTE_BYTES = 1 << 20


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or whose signature does not verify."""


def _valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 key ``public`` (32 bytes) named ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise NoteError(f"{what} is not base64") from e


@dataclass(frozen=True)
class Verifier:
    name: str
    public: bytes  # 32 bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    def __str__(self) -> str:
        """The verifier key string a witness pins."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read ``<name>+<hex id>+<base64(0x01 ‖ key)>``; the id must match the key."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _valid_name(parts[0]) or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        key = _b64decode(parts[2], "the verifier key")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise NoteError("the verifier key is not an Ed25519 key (algorithm 1, 32 bytes)")
        v = cls(parts[0], key[1:])
        if v.key_id.hex() != parts[1]:
            raise NoteError("the verifier key's id does not match its name and key")
        return v

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not _valid_name(name):
            raise NoteError(
                "a key name is non-empty, without spaces or '+'",
            )
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def encode(self) -> str:
        """The private key in x/mod's signer key format (``note.NewSigner`` reads it)."""
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _valid_name(parts[2]):
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>")
        key = _b64decode(parts[4], "the signer key")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise NoteError("the signer key is not an Ed25519 key (algorithm 1, 32-byte seed)")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(key[1:]))
        if signer.verifier.key_id.hex() != parts[3]:
            raise NoteError("the signer key's id does not match its name and key")
        return signer

    def signature_line(self, text: bytes) -> str:
        sig = self.private.sign(text)
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.verifier.key_id + sig).decode()}\n"


def sign_note(text: str, signer: Signer) -> str:
    """``text`` (ending in a newline, no blank line at its end) signed: the encoded note."""
    if not text.endswith("\n") or text.endswith("\n\n"):
        raise NoteError("a note's text ends with exactly one newline")
    _check_chars(text)
    return text + "\n" + signer.signature_line(text.encode())


def _check_chars(msg: str) -> None:
    if any((ord(c) < 0x20 and c != "\n") for c in msg):
        raise NoteError("a note holds no control characters but newlines")


def open_note(msg: bytes | str, verifier: Verifier) -> str:
    """The note's text, once ``verifier``'s signature on it checks (as ``note.Open`` does:
    other keys' signatures are ignored, a bad signature by this key is an error)."""
    raw = msg.encode() if isinstance(msg, str) else msg
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteError("the note is too large")
    try:
        text_all = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NoteError("the note is not UTF-8") from e
    _check_chars(text_all)
    split = text_all.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no signature block (a blank line, then signature lines)")
    text, sigs = text_all[: split + 1], text_all[split + 2 :]
    if not sigs.endswith("\n"):
        raise NoteError("the note's signature block does not end with a newline")
    found = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("a signature line starts with '\u2014 '")
        name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        sig = _b64decode(b64, "a signature") if b64 else b""
        if not _valid_name(name) or len(sig) < 5:
            raise NoteError("a signature line is malformed")
        if name != verifier.name or sig[:4] != verifier.key_id:
            continue  # another key's signature (a witness's cosignature): not ours to check
        if not verifier.verify(text.encode(), sig[4:]):
            raise NoteError(f"invalid signature for key {verifier.name}+{verifier.key_id.hex()}")
        found = True
    if not found:
        raise NoteError(f"the note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint body (a note's text): origin, decimal size, base64 root, extension lines."""
        if not text.endswith("\n"):
            raise NoteError("a checkpoint ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("a checkpoint has an origin, a size and a root hash line")
        origin, size, root, *ext = lines
        if not origin or origin != origin.strip():
            raise NoteError("the checkpoint's origin line is empty or padded")
        if not _SIZE.fullmatch(size) or int(size) >= 1 << 63:
            raise NoteError("the checkpoint's size is not a decimal number")
        digest = _b64decode(root, "the checkpoint's root hash")
        if len(digest) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        if any(not e for e in ext):
            raise NoteError("a checkpoint extension line is empty")
        return cls(origin, int(size), digest, tuple(ext))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    return sign_note(cp.body(), signer)


def open_checkpoint(msg: bytes | str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """A signed checkpoint, checked: ``verifier``'s signature and, given, the origin."""
    cp = Checkpoint.parse(open_note(msg, verifier))
    if origin is not None and cp.origin != origin:
        raise NoteError(f"the checkpoint is of log {cp.origin!r}, not {origin!r}")
    return cp
