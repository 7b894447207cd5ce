"""Read an item's pinned object version back, check the stored bytes, decrypt them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from vault.context import VaultContext
from vault.envelope.stream import decrypt_stream
from vault.errors import KeyError_
from vault.evidence.manifest import is_salted
from vault.evidence.sealed import open_salt
from vault.index.models import Item


@dataclass
class PayloadRead:
    """Streams plaintext; afterwards ``ciphertext_sha256`` holds the digest of what was read."""

    ctx: VaultContext
    item: Item
    _sha: hashlib._Hash = field(default_factory=hashlib.sha256)

    def ciphertext(self) -> Iterator[bytes]:
        it = self.item
        assert it.version_id is not None
        if it.segment_id is not None:
            chunks: Iterator[bytes] = iter([self.ctx.store.get(it.object_key, it.version_id, it.offset, it.length)])
        else:
            chunks = self.ctx.store.iter_get(it.object_key, it.version_id)
        for c in chunks:
            self._sha.update(c)
            yield c

    def plaintext(self) -> Iterator[bytes]:
        """Raises NotFound (version gone), DecryptionError (tampered) or KeyError_ (destroyed)."""
        row, dek = self.ctx.data_keys.by_id(self.item.subject_key_id)
        if dek is None:
            raise KeyError_("the subject's key was destroyed", detail=f"erased at {row.destroyed_at}")
        return decrypt_stream(dek, self.item.id.encode(), self.ciphertext())

    @property
    def ciphertext_sha256(self) -> str:
        return self._sha.hexdigest()


def content_salt(ctx: VaultContext, item: Item) -> bytes | None:
    """The content salt of a ``vault-evidence/2`` item, decrypted with its data key (what a
    proof folder discloses as ``content-salt.hex``); None for an item with plain digests.
    Raises KeyError_ (destroyed key, or a salt that does not decrypt) or InputError."""
    assert item.evidence is not None
    evidence = json.loads(item.evidence)
    if not is_salted(evidence):
        return None
    row, dek = ctx.data_keys.by_id(item.subject_key_id)
    if dek is None:
        raise KeyError_("the subject's key was destroyed", detail=f"erased at {row.destroyed_at}")
    return open_salt(dek, item.id, evidence)
