"""Where the client keeps its things (XDG base directories) and its login.

- ``$XDG_CONFIG_HOME/vault-client/`` (default ``~/.config/vault-client``): ``config.json``
  (vault URL, API key, tenant, device id), ``device.pem`` (the Ed25519 device key, PKCS#8) and
  ``spool.key`` (the key that encrypts the spool). Directory 0700, files 0600.
- ``$XDG_STATE_HOME/vault-client/`` (default ``~/.local/state/vault-client``): the spool.

Every file is written to a temporary name, fsynced, renamed over the old one and the directory
fsynced: a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vault.client.errors import ClientError, NotLoggedIn

APP = "vault-client"
SPOOL_KEY_BYTES = 32


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "")
    base = Path(value) if value and Path(value).is_absolute() else Path.home() / fallback  # XDG: ignore relative
    return base / APP


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state")


def private_dir(path: Path) -> Path:
    """``path`` (and missing parents) as a directory only its owner may enter."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # not ours to change (e.g. a shared mount): keep going
        os.chmod(path, 0o700)
    return path


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its renames are durable enough
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600, fsynced with its directory."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


@dataclass(frozen=True)
class Login:
    """What `vault client login` stored."""

    url: str
    api_key: str
    tenant: str | None
    #: the device id the vault gave (``dv_…``); None when the vault had no device registration
    device: str | None
    fingerprint: str | None
    created: str

    @property
    def key_id(self) -> str:
        parts = self.api_key.split("_")
        return parts[1] if len(parts) >= 3 else "?"


def config_file() -> Path:
    return config_dir() / "config.json"


def device_key_file() -> Path:
    return config_dir() / "device.pem"


def spool_key_file() -> Path:
    return config_dir() / "spool.key"


def load_login() -> Login:
    path = config_file()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotLoggedIn("not logged in: run `vault client login --url URL --key KEY` first") from None
    except (OSError, ValueError) as e:
        raise ClientError(f"cannot read {path}", detail=str(e)) from None
    try:
        return Login(**{k: doc.get(k) for k in Login.__dataclass_fields__})
    except TypeError as e:
        raise ClientError(f"{path} is damaged: run `vault client login` again", detail=str(e)) from None


def save_login(login: Login) -> Path:
    path = config_file()
    write_private(path, (json.dumps(asdict(login), indent=2, sort_keys=True) + "\n").encode())
    return path


def load_spool_key(*, create: bool = False) -> bytes:
    """The spool's AES-256 key: made at login (or the first spool) and kept beside the config."""
    path = spool_key_file()
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise ClientError(f"the spool key {path} is missing: the spooled files cannot be decrypted") from None
        key = secrets.token_bytes(SPOOL_KEY_BYTES)
        private_dir(path.parent)
        try:  # O_EXCL: two first runs at once must not each make a key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except FileExistsError:
            return load_spool_key()
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(path.parent)
    if len(key) != SPOOL_KEY_BYTES:
        raise ClientError(f"the spool key {path} is damaged (expected {SPOOL_KEY_BYTES} bytes, found {len(key)})")
    return key


def describe(login: Login | None) -> dict[str, Any]:
    if login is None:
        return {"logged_in": False}
    return {
        "logged_in": True,
        "url": login.url,
        "key": login.key_id,
        "tenant": login.tenant,
        "device": login.device,
        "fingerprint": login.fingerprint,
    }
