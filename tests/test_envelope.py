"""Chunked AES-256-GCM streams (STREAM construction) and KEK-wrapped per-subject data keys."""

from __future__ import annotations

import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.envelope.keyring import DataKeyBinding, KeyRing
from vault.envelope.stream import (
    HEADER_LEN,
    MAGIC,
    MAX_CHUNK,
    TAG_LEN,
    DecryptionError,
    StreamEncryptor,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
)
from vault.errors import KeyError_
from vault.keys.kek.files import FileKekStore
from vault.keys.kek.store import EpochKeyMissing

CHUNK = 64
KEY = bytes(range(32))
CTX = b"tenant-a/item-1"


def payload(n: int) -> bytes:
    return bytes((i * 7 + 3) % 256 for i in range(n))


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def split_chunks(ct: bytes, chunk: int = CHUNK) -> tuple[bytes, list[bytes]]:
    header, body = ct[:HEADER_LEN], ct[HEADER_LEN:]
    sealed = chunk + TAG_LEN
    return header, [body[i : i + sealed] for i in range(0, len(body), sealed)]


SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5]


@pytest.mark.parametrize("n", SIZES)
def test_round_trip_sizes(n: int) -> None:
    data = payload(n)
    ct = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    n_chunks = max(1, -(-n // CHUNK))
    assert len(ct) == HEADER_LEN + n + n_chunks * TAG_LEN
    assert ct[:4] == MAGIC
    assert struct.unpack(">I", ct[4:8]) == (CHUNK,)
    assert decrypt_bytes(KEY, CTX, ct) == data
    if n >= 8:
        assert data not in ct


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("piece", [1, 7, None])
def test_round_trip_through_decrypt_stream_in_pieces(n: int, piece: int | None) -> None:
    data = payload(n)
    ct = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    source = [ct] if piece is None else list(pieces(ct, piece))
    out = list(decrypt_stream(KEY, CTX, source))
    assert b"".join(out) == data
    assert all(len(p) <= CHUNK for p in out)
    assert len(out) == max(1, -(-n // CHUNK))


def test_decrypt_stream_tolerates_empty_pieces() -> None:
    data = payload(2 * CHUNK + 3)
    ct = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    source = [b""] + [p for part in pieces(ct, 5) for p in (part, b"")]
    assert b"".join(decrypt_stream(KEY, CTX, source)) == data


def test_encryptor_matches_encrypt_bytes_format() -> None:
    data = payload(3 * CHUNK + 5)
    enc = StreamEncryptor(KEY, CTX, CHUNK)
    parts = [enc.header]
    parts += [enc.chunk(data[i : i + CHUNK], last=False) for i in range(0, 3 * CHUNK, CHUNK)]
    parts.append(enc.chunk(data[3 * CHUNK :], last=True))
    assert decrypt_bytes(KEY, CTX, b"".join(parts)) == data


def test_fresh_nonce_prefix_per_stream() -> None:
    data = payload(10)
    a = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    b = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    assert a[8:15] != b[8:15]
    assert a[HEADER_LEN:] != b[HEADER_LEN:]


# -- tampering ------------------------------------------------------------------------------


def flip_at(data: bytes, i: int) -> bytes:
    b = bytearray(data)
    b[i] ^= 0x01
    return bytes(b)


@pytest.fixture
def ct() -> bytes:
    return encrypt_bytes(KEY, CTX, payload(3 * CHUNK + 5), chunk_size=CHUNK)


@pytest.mark.parametrize("i", range(HEADER_LEN))
def test_flipped_header_byte(ct: bytes, i: int) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, flip_at(ct, i))


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_chunk_byte(ct: bytes, where: str) -> None:
    offset = {"first": HEADER_LEN, "middle": HEADER_LEN + CHUNK + TAG_LEN + 10, "last": len(ct) - TAG_LEN - 1}[where]
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, flip_at(ct, offset))


@pytest.mark.parametrize("chunk_index", [0, 1, 2, 3])
def test_flipped_tag_byte(ct: bytes, chunk_index: int) -> None:
    header, chunks = split_chunks(ct)
    chunks[chunk_index] = flip_at(chunks[chunk_index], len(chunks[chunk_index]) - 1)
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, header + b"".join(chunks))


def test_every_single_byte_flip_is_caught() -> None:
    ct = encrypt_bytes(KEY, CTX, payload(CHUNK + 3), chunk_size=CHUNK)
    for i in range(len(ct)):
        with pytest.raises(DecryptionError):
            decrypt_bytes(KEY, CTX, flip_at(ct, i))


def test_dropping_the_last_chunk_is_caught(ct: bytes) -> None:
    header, chunks = split_chunks(ct)
    assert len(chunks) == 4
    assert len(chunks[-1]) == 5 + TAG_LEN
    truncated = header + b"".join(chunks[:-1])  # ends after a full, non-last chunk
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, truncated)
    # streaming releases the earlier authenticated chunks, but never finishes cleanly
    gen = decrypt_stream(KEY, CTX, list(pieces(truncated, 7)))
    got = []
    with pytest.raises(DecryptionError):
        for p in gen:
            got.append(p)
    assert b"".join(got) == payload(3 * CHUNK + 5)[: len(b"".join(got))]
    assert len(got) < 3


def test_dropping_the_last_chunk_of_an_exact_multiple_is_caught() -> None:
    ct = encrypt_bytes(KEY, CTX, payload(2 * CHUNK), chunk_size=CHUNK)
    header, chunks = split_chunks(ct)
    assert len(chunks) == 2
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, header + chunks[0])


@pytest.mark.parametrize("keep", [0, 1, TAG_LEN - 1, TAG_LEN, CHUNK])
def test_truncation_right_after_the_header(ct: bytes, keep: int) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, ct[: HEADER_LEN + keep])


@pytest.mark.parametrize("drop", [1, 5, 5 + 1, 5 + TAG_LEN - 1])
def test_truncation_inside_the_last_chunk(ct: bytes, drop: int) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, ct[:-drop])


@pytest.mark.parametrize("n", [0, 1, HEADER_LEN - 1])
def test_shorter_than_header(ct: bytes, n: int) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, ct[:n])


def test_appended_bytes_are_caught(ct: bytes) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, ct + b"\x00")
    _, chunks = split_chunks(ct)
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, ct + chunks[0])


def test_swapped_chunks_are_caught(ct: bytes) -> None:
    header, chunks = split_chunks(ct)
    chunks[0], chunks[1] = chunks[1], chunks[0]
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, header + b"".join(chunks))


def test_chunk_from_another_stream_is_caught() -> None:
    data = payload(2 * CHUNK + 1)
    a = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    b = encrypt_bytes(KEY, CTX, data, chunk_size=CHUNK)
    ha, ca = split_chunks(a)
    _, cb = split_chunks(b)
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, CTX, ha + cb[0] + b"".join(ca[1:]))


def test_wrong_context_is_caught(ct: bytes) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, b"tenant-a/item-2", ct)
    with pytest.raises(DecryptionError):
        decrypt_bytes(KEY, b"", ct)


def test_wrong_key_is_caught(ct: bytes) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(bytes(32), CTX, ct)
    with pytest.raises(KeyError_):
        decrypt_bytes(KEY[:16], CTX, ct)


def test_decryption_error_is_a_key_error() -> None:
    assert issubclass(DecryptionError, KeyError_)


@pytest.mark.parametrize("n", [0, 16, 31, 33, 64])
def test_encryptor_rejects_non_256_bit_keys(n: int) -> None:
    with pytest.raises(KeyError_):
        StreamEncryptor(bytes(n), CTX, CHUNK)
    with pytest.raises(KeyError_):
        encrypt_bytes(bytes(n), CTX, b"x", chunk_size=CHUNK)


@pytest.mark.parametrize("n", [0, 31, 33])
def test_decrypt_rejects_malformed_keys_with_key_error(ct: bytes, n: int) -> None:
    # the vault wraps third-party errors: a bad key must not escape as a bare ValueError
    with pytest.raises(KeyError_):
        decrypt_bytes(bytes(n), CTX, ct)


def test_encryptor_rejects_short_non_last_chunk() -> None:
    enc = StreamEncryptor(KEY, CTX, CHUNK)
    with pytest.raises(ValueError):
        enc.chunk(b"x" * (CHUNK - 1), last=False)
    with pytest.raises(ValueError):
        enc.chunk(b"x" * (CHUNK + 1), last=False)
    with pytest.raises(ValueError):
        enc.chunk(b"x" * (CHUNK + 1), last=True)
    # the refusals did not advance the counter: the stream still decrypts
    body = enc.chunk(b"x" * CHUNK, last=False) + enc.chunk(b"yz", last=True)
    assert decrypt_bytes(KEY, CTX, enc.header + body) == b"x" * CHUNK + b"yz"


def test_encryptor_refuses_use_after_last() -> None:
    enc = StreamEncryptor(KEY, CTX, CHUNK)
    enc.chunk(b"end", last=True)
    with pytest.raises(RuntimeError):
        enc.chunk(b"more", last=True)
    with pytest.raises(RuntimeError):
        enc.chunk(b"x" * CHUNK, last=False)


# -- key ring ----------------------------------------------------------------------------------

KEK = bytes.fromhex("11" * 32)
B = DataKeyBinding("tenant-a", "subject-1", "support", 1)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    store = FileKekStore(tmp_path / "kek")
    store.create(1)
    return KeyRing(store)


def test_wrap_unwrap_round_trip(ring: KeyRing, tmp_path: Path) -> None:
    dek, wrapped = ring.new_data_key(B, 1)
    assert len(dek) == 32
    assert dek not in wrapped
    assert len(wrapped) == 12 + 32 + 16
    assert ring.unwrap_data_key(wrapped, B, 1) == dek
    assert KeyRing(FileKekStore(tmp_path / "kek")).unwrap_data_key(wrapped, B, 1) == dek  # a new ring, same store
    # the unwrapped key actually works as a stream key
    assert decrypt_bytes(dek, CTX, encrypt_bytes(dek, CTX, b"hello", chunk_size=CHUNK)) == b"hello"


def test_each_subject_gets_a_fresh_key(ring: KeyRing) -> None:
    d1, w1 = ring.new_data_key(B, 1)
    d2, w2 = ring.new_data_key(B, 1)
    assert d1 != d2
    assert w1[:12] != w2[:12]


@pytest.mark.parametrize(
    "other",
    [
        DataKeyBinding("tenant-b", "subject-1", "support", 1),
        DataKeyBinding("tenant-a", "subject-2", "support", 1),
        DataKeyBinding("tenant-as", "ubject-1", "support", 1),  # same concatenation without a separator
        DataKeyBinding("tenant-a", "subject-1", "transaction_proof", 1),  # another purpose scope
        DataKeyBinding("tenant-a", "subject-1", "support", 2),  # another generation
        DataKeyBinding("tenant-a\x00subject-1", "", "support", 1),
        DataKeyBinding("", "", "", 0),
    ],
)
def test_unwrap_under_another_binding_fails(ring: KeyRing, other: DataKeyBinding) -> None:
    _, wrapped = ring.new_data_key(B, 1)
    with pytest.raises(KeyError_):
        ring.unwrap_data_key(wrapped, other, 1)


def test_unwrap_under_another_epoch_or_store_fails(ring: KeyRing, tmp_path: Path) -> None:
    _, wrapped = ring.new_data_key(B, 1)
    ring.store.create(2)
    with pytest.raises(KeyError_):
        ring.unwrap_data_key(wrapped, B, 2)  # relabelled with another epoch
    other = FileKekStore(tmp_path / "other")
    other.create(1)
    with pytest.raises(KeyError_):
        KeyRing(other).unwrap_data_key(wrapped, B, 1)
    ring.store.destroy(1)
    with pytest.raises(EpochKeyMissing):
        ring.unwrap_data_key(wrapped, B, 1)


def test_unwrap_tampered_wrapped_key_fails(ring: KeyRing) -> None:
    _, wrapped = ring.new_data_key(B, 1)
    for i in (0, 11, 12, len(wrapped) - 1):
        with pytest.raises(KeyError_):
            ring.unwrap_data_key(flip_at(wrapped, i), B, 1)


@pytest.mark.parametrize("keep", [0, 5, 12, 20, 59])
def test_unwrap_truncated_wrapped_key_is_a_key_error(ring: KeyRing, keep: int) -> None:
    _, wrapped = ring.new_data_key(B, 1)
    with pytest.raises(KeyError_):
        ring.unwrap_data_key(wrapped[:keep], B, 1)


def test_a_key_wrapped_before_epochs_unwraps_as_epoch_0(tmp_path: Path) -> None:
    legacy = tmp_path / "kek.key"
    legacy.write_text(KEK.hex() + "\n")
    dek, nonce = bytes(range(32)), bytes(12)
    wrapped = nonce + AESGCM(KEK).encrypt(nonce, dek, B.aad(0))
    store = FileKekStore(tmp_path / "kek", legacy=legacy)
    assert store.epochs() == [0]
    assert KeyRing(store).unwrap_data_key(wrapped, B, 0) == dek
    assert B.aad(0) == b"vault-dek" + b"\x00\x08tenant-a" + b"\x00\x09subject-1"  # tenant and subject only


def test_epoch_files_are_0600_in_a_0700_folder_and_created_once(tmp_path: Path) -> None:
    store = FileKekStore(tmp_path / "kek")
    store.create(1)
    assert stat.S_IMODE((tmp_path / "kek").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "kek" / "epoch-1.key").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        store.create(1)  # never a new key under a used epoch
    store.create(3)
    assert store.epochs() == [1, 3]
    store.destroy(1)
    store.destroy(1)  # idempotent
    assert store.epochs() == [3] and not (tmp_path / "kek" / "epoch-1.key").exists()


@pytest.mark.parametrize("content", ["not hex at all", "zz" * 32, "11" * 31, "11" * 33, "", "1" * 63])
def test_bad_epoch_files_are_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "kek").mkdir()
    (tmp_path / "kek" / "epoch-1.key").write_text(content)
    with pytest.raises(KeyError_):
        KeyRing(FileKekStore(tmp_path / "kek")).new_data_key(B, 1)
    assert (tmp_path / "kek" / "epoch-1.key").read_text() == content  # never overwritten


def test_each_stream_gets_its_own_key_from_a_fresh_salt() -> None:
    """Many streams share a subject's data key: each must be encrypted under its own HKDF key,
    so even a repeated nonce prefix would not reuse a keystream."""
    from vault.envelope.stream import HEADER_LEN, SALT_LEN, decrypt_bytes, encrypt_bytes

    key, ctx, plain = bytes(range(32)), b"ev_x", b"\x00" * 64
    a, b = encrypt_bytes(key, ctx, plain), encrypt_bytes(key, ctx, plain)
    assert a[8 : 8 + SALT_LEN] != b[8 : 8 + SALT_LEN]
    # same nonce prefix forced onto b: the keystreams still differ because the keys differ
    b_forced = b[: 8 + SALT_LEN] + a[8 + SALT_LEN : HEADER_LEN] + b[HEADER_LEN:]
    assert b_forced[HEADER_LEN:] != a[HEADER_LEN:]
    tampered_salt = bytearray(a)
    tampered_salt[10] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_bytes(key, ctx, bytes(tampered_salt))
    assert decrypt_bytes(key, ctx, a) == plain


# -- header bounds and key length (each check must be observable on its own) ----------------


def _evs1_by_hand(key: bytes, context: bytes, plaintext: bytes, chunk_size: int, reserved: int = 0) -> bytes:
    """EVS1 written from docs/evidence-format.md with ``cryptography`` alone, without any of the
    writer's checks: so that a reader's own checks are what refuses what it must refuse."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    salt, prefix = bytes(range(16)), bytes(range(100, 107))
    header = b"EVS1" + struct.pack(">I", chunk_size) + salt + prefix + bytes([reserved])
    aead = AESGCM(HKDF(hashes.SHA256(), 32, salt, b"vault-evs1" + context).derive(key))
    step = max(chunk_size, 1)  # a header may claim a chunk size of 0: it must still be written
    pieces = [plaintext[i : i + step] for i in range(0, len(plaintext), step)] or [b""]
    out = [header]
    for i, piece in enumerate(pieces):
        nonce = prefix + struct.pack(">I", i) + (b"\x01" if i == len(pieces) - 1 else b"\x00")
        out.append(aead.encrypt(nonce, piece, header + context))
    return b"".join(out)


def test_hand_written_evs1_is_read_back() -> None:
    assert decrypt_bytes(KEY, CTX, _evs1_by_hand(KEY, CTX, b"abc", CHUNK)) == b"abc"


@pytest.mark.parametrize("n", [0, 16, 31, 33, 64])
def test_decrypt_refuses_a_key_that_is_not_256_bit_even_when_the_stream_authenticates(n: int) -> None:
    # HKDF accepts any input length: without the length check such a key would decrypt
    key = bytes(range(n))
    ct = _evs1_by_hand(key, CTX, b"abc", CHUNK)
    with pytest.raises(KeyError_) as caught:
        decrypt_bytes(key, CTX, ct)
    assert not isinstance(caught.value, DecryptionError)
    assert caught.value.message == "data keys are 256-bit"
    assert caught.value.detail == f"got {n} bytes"


@pytest.mark.parametrize("n", [0, 31, 33, 64])
def test_encrypt_refuses_a_key_that_is_not_256_bit_with_its_reason(n: int) -> None:
    with pytest.raises(KeyError_) as caught:
        StreamEncryptor(bytes(n), CTX, CHUNK)
    assert caught.value.message == "data keys are 256-bit"
    assert caught.value.detail == f"got {n} bytes"


@pytest.mark.parametrize("chunk_size", [1, 2, CHUNK, MAX_CHUNK])
def test_chunk_sizes_within_the_bounds_are_read(chunk_size: int) -> None:
    data = payload(3)
    assert (
        decrypt_bytes(KEY, CTX, _evs1_by_hand(KEY, CTX, data[: min(3, chunk_size)], chunk_size))
        == data[: min(3, chunk_size)]
    )
    # and the writer agrees with the reader on the bounds
    assert decrypt_bytes(KEY, CTX, encrypt_bytes(KEY, CTX, data, chunk_size=chunk_size)) == data


@pytest.mark.parametrize("chunk_size", [0, MAX_CHUNK + 1, 2**32 - 1])
def test_chunk_sizes_out_of_bounds_are_refused_as_a_bad_header(chunk_size: int) -> None:
    # authenticated under the right key: only the bound check can refuse it
    ct = _evs1_by_hand(KEY, CTX, b"", chunk_size)
    with pytest.raises(DecryptionError) as caught:
        decrypt_bytes(KEY, CTX, ct)
    assert caught.value.message == "not a vault ciphertext"
    assert caught.value.detail == "bad header"
    with pytest.raises(ValueError, match="chunk_size"):
        StreamEncryptor(KEY, CTX, chunk_size)


@pytest.mark.parametrize("reserved", [1, 0x80, 0xFF])
def test_nonzero_reserved_byte_is_refused_as_a_bad_header(reserved: int) -> None:
    ct = _evs1_by_hand(KEY, CTX, b"abc", CHUNK, reserved=reserved)
    with pytest.raises(DecryptionError) as caught:
        decrypt_bytes(KEY, CTX, ct)
    assert caught.value.detail == "bad header"


def test_wrong_magic_is_named() -> None:
    ct = b"EVS2" + _evs1_by_hand(KEY, CTX, b"abc", CHUNK)[4:]
    with pytest.raises(DecryptionError) as caught:
        decrypt_bytes(KEY, CTX, ct)
    assert caught.value.message == "not a vault ciphertext"
    assert caught.value.detail == "magic b'EVS2'"


def test_header_is_exactly_the_documented_layout() -> None:
    salt, prefix = bytes(range(16)), bytes(range(100, 107))
    ct = encrypt_bytes(KEY, CTX, b"abc", chunk_size=CHUNK, salt=salt, nonce_prefix=prefix)
    assert ct[:HEADER_LEN] == b"EVS1" + struct.pack(">I", CHUNK) + salt + prefix + b"\x00"
    assert ct == _evs1_by_hand(KEY, CTX, b"abc", CHUNK)


@pytest.mark.parametrize(("salt", "prefix"), [(bytes(15), bytes(7)), (bytes(17), bytes(7)), (bytes(16), bytes(6))])
def test_fixed_salt_and_prefix_must_have_their_lengths(salt: bytes, prefix: bytes) -> None:
    with pytest.raises(ValueError, match=r"^the salt is 16 bytes and the nonce prefix 7$"):
        StreamEncryptor(KEY, CTX, CHUNK, salt=salt, nonce_prefix=prefix)


@pytest.mark.parametrize("n", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_writer_matches_the_documented_layout_chunk_by_chunk(n: int) -> None:
    salt, prefix = bytes(range(16)), bytes(range(100, 107))
    data = payload(n)
    assert encrypt_bytes(KEY, CTX, data, CHUNK, salt=salt, nonce_prefix=prefix) == _evs1_by_hand(KEY, CTX, data, CHUNK)


@pytest.mark.parametrize("chunk_size", [1, 2, CHUNK])
def test_an_empty_payload_is_one_final_empty_chunk(chunk_size: int) -> None:
    ct = encrypt_bytes(KEY, CTX, b"", chunk_size)
    assert len(ct) == HEADER_LEN + TAG_LEN
    assert decrypt_bytes(KEY, CTX, ct) == b""


def test_nonce_counter_is_four_unsigned_bytes() -> None:
    from vault.envelope.stream import _nonce

    prefix = bytes(7)
    assert _nonce(prefix, 0, False) == bytes(12)
    assert _nonce(prefix, 2**32 - 1, True) == bytes(7) + b"\xff\xff\xff\xff\x01"
    assert _nonce(prefix, 2**31, False) == bytes(7) + b"\x80\x00\x00\x00\x00"


def test_writer_misuse_says_why() -> None:
    enc = StreamEncryptor(KEY, CTX, CHUNK)
    with pytest.raises(ValueError, match=r"^chunks other than the last must be exactly chunk_size bytes$"):
        enc.chunk(b"x", last=False)
    enc.chunk(b"x", last=True)
    with pytest.raises(RuntimeError, match=r"^stream already finished$"):
        enc.chunk(b"x", last=True)


def test_errors_name_the_chunk_that_fails() -> None:
    ct = encrypt_bytes(KEY, CTX, payload(2 * CHUNK + 1), chunk_size=CHUNK)
    with pytest.raises(DecryptionError) as caught:
        decrypt_bytes(KEY, CTX, flip_at(ct, HEADER_LEN + CHUNK + TAG_LEN + 1))
    assert caught.value.message == "ciphertext does not authenticate"
    assert caught.value.detail == "chunk 1 (tampered, truncated or wrong key)"
    for keep in (HEADER_LEN, HEADER_LEN + TAG_LEN - 1):
        with pytest.raises(DecryptionError) as caught:
            decrypt_bytes(KEY, CTX, ct[:keep])
        assert caught.value.message == "ciphertext truncated"
        with pytest.raises(DecryptionError) as caught:
            list(decrypt_stream(KEY, CTX, [ct[:HEADER_LEN], ct[HEADER_LEN:keep]]))
        assert caught.value.message == "ciphertext truncated"
    with pytest.raises(DecryptionError) as caught:
        decrypt_bytes(KEY, CTX, ct[:5])
    assert caught.value.message == "ciphertext shorter than its header"
