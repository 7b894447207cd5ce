"""The checkpoint note key: an Ed25519 key that signs the vault's checkpoints (C2SP signed notes).

Made by `vault init` next to the other keys (``keys/checkpoint.key``, mode 0600, in x/mod's
signer key format; ``checkpoint_key`` points elsewhere), named after the log's origin. Its
verifier key string is public (``GET /v1/certificates``, ``checkpoint_key``): witnesses and
auditors pin it. It is never replaced silently: once a checkpoint has been signed, a missing
key is an error, not a new key (a new key would look to every witness like a forged log).
"""

from __future__ import annotations

import os
from pathlib import Path

from vault.checkpoint.note import NoteError, Signer, Verifier
from vault.config import Settings
from vault.errors import KeyError_


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_note_key(settings: Settings) -> Signer:
    path = settings.note_key_path
    try:
        return Signer.parse(path.read_text())
    except FileNotFoundError as e:
        raise KeyError_("the checkpoint note key is missing", detail=str(path)) from e
    except (OSError, NoteError) as e:
        raise KeyError_("the checkpoint note key is unreadable", detail=f"{path}: {e}") from e


def ensure_note_key(settings: Settings, *, signed_before: bool = False) -> Signer:
    """The note key, made (named after ``settings.log_origin``) when there is none yet, unless
    checkpoints were signed before (``signed_before``): then its loss is an error."""
    if not settings.note_key_path.exists():
        if signed_before:
            raise KeyError_(
                "the checkpoint note key is missing, and checkpoints were signed with it",
                detail=f"restore {settings.note_key_path} from a backup: a new key would look "
                "to every witness like a forged log",
            )
        _write_private(settings.note_key_path, Signer.generate(settings.log_origin).encode())
    return load_note_key(settings)


def note_verifier(settings: Settings) -> Verifier | None:
    """The public half, or None when no key exists yet."""
    try:
        return load_note_key(settings).verifier
    except KeyError_:
        return None
