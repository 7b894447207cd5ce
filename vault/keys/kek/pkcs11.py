"""Epoch keys in a PKCS#11 token (SoftHSM2 in development and tests; an HSM or a cloud HSM's
PKCS#11 library in production: only the library path, token label and PIN change).

Each epoch is an AES-256 secret key labelled ``<pkcs11_key_label>-<N>``, generated in the token as
sensitive and non-extractable: it never leaves the token, wrapping (AES-GCM) happens inside
it, and ``destroy`` removes it from the token. See ../shared/notes/pkcs11-softhsm.md.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from vault.errors import ConfigError, KeyError_
from vault.keys.kek.store import NONCE, TAG, EpochKeyMissing

#: one session per (library, token, process), shared by every store instance; one lock orders them
_SESSIONS: dict[tuple[str, str, int], Any] = {}
_LOCK = threading.RLock()


class Pkcs11KekStore:
    hardware_backed = True

    def __init__(self, library: str, token_label: str, *, pin: str, key_label: str = "vault-kek") -> None:
        try:
            import pkcs11
        except ImportError as e:
            raise ConfigError(
                "kek_store = 'pkcs11' needs python-pkcs11", detail="pip install 'evidence-vault[hsm]'"
            ) from e
        self._p = pkcs11
        try:
            self._token = pkcs11.lib(library).get_token(token_label=token_label)
        except (RuntimeError, OSError) as e:  # PKCS11Error subclasses RuntimeError
            raise ConfigError("cannot open the PKCS#11 token", detail=f"{library}, token {token_label!r}: {e!r}") from e
        self._pin = pin
        #: epoch N is the key labelled "<key_label>-N": vaults sharing a token use distinct labels
        self._prefix = key_label + "-"
        self._lock = _LOCK
        self._library, self._token_label = library, token_label
        self.description = f"PKCS#11 token {token_label!r} ({library})"

    def _open(self) -> Any:
        """The process's one logged-in session with this token: PKCS#11 logs in per process,
        not per session, so every store of the same token in a process shares it (a forked
        worker opens its own)."""
        key = (self._library, self._token_label, os.getpid())
        session = _SESSIONS.get(key)
        if session is None:
            try:
                session = self._token.open(user_pin=self._pin, rw=True)
            except self._p.UserAlreadyLoggedIn:  # pragma: no cover - another library user logged in
                session = self._token.open(rw=True)
            except RuntimeError as e:
                raise ConfigError("cannot log in to the PKCS#11 token", detail=repr(e)) from e
            _SESSIONS[key] = session
        return session

    def _find(self, epoch: int) -> Any:
        # looked up on every use: another process may have destroyed the epoch
        p = self._p
        try:
            return self._open().get_key(object_class=p.ObjectClass.SECRET_KEY, label=f"{self._prefix}{epoch}")
        except p.NoSuchKey:
            raise EpochKeyMissing("the KEK epoch key is gone from the token", detail=f"epoch {epoch}") from None
        except p.MultipleObjectsReturned:
            raise KeyError_("two keys in the token carry one epoch's label", detail=f"{self._prefix}{epoch}") from None

    def create(self, epoch: int) -> None:
        p = self._p
        with self._lock:
            if self._has(epoch):
                raise KeyError_("the KEK epoch already exists in the token", detail=str(epoch))
            self._open().generate_key(
                p.KeyType.AES,
                256,
                label=f"{self._prefix}{epoch}",
                store=True,
                template={
                    p.Attribute.EXTRACTABLE: False,
                    p.Attribute.SENSITIVE: True,
                    p.Attribute.ENCRYPT: True,
                    p.Attribute.DECRYPT: True,
                },
            )

    def _has(self, epoch: int) -> bool:
        try:
            self._find(epoch)
        except EpochKeyMissing:
            return False
        return True

    def has(self, epoch: int) -> bool:
        with self._lock:
            return self._has(epoch)

    def epochs(self) -> list[int]:
        p = self._p
        with self._lock:
            found = []
            for obj in self._open().get_objects({p.Attribute.CLASS: p.ObjectClass.SECRET_KEY}):
                label = obj.label or ""
                if label.startswith(self._prefix) and label[len(self._prefix) :].isdigit():
                    found.append(int(label[len(self._prefix) :]))
            return sorted(found)

    def destroy(self, epoch: int) -> None:
        with self._lock:
            try:
                self._find(epoch).destroy()
            except EpochKeyMissing:
                return

    def wrap(self, epoch: int, plaintext: bytes, aad: bytes) -> bytes:
        p = self._p
        nonce = os.urandom(NONCE)
        with self._lock:
            key = self._find(epoch)
            out: bytes = key.encrypt(
                plaintext, mechanism=p.Mechanism.AES_GCM, mechanism_param=p.GCMParams(nonce, aad, TAG * 8)
            )
        return nonce + out

    def unwrap(self, epoch: int, blob: bytes, aad: bytes) -> bytes:
        p = self._p
        with self._lock:
            key = self._find(epoch)
            try:
                out: bytes = key.decrypt(
                    blob[NONCE:], mechanism=p.Mechanism.AES_GCM, mechanism_param=p.GCMParams(blob[:NONCE], aad, TAG * 8)
                )
            except p.PKCS11Error:
                raise KeyError_(
                    "a wrapped key does not unwrap", detail=f"epoch {epoch}: wrong key or tampered"
                ) from None
        return out
