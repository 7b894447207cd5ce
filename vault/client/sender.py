"""Spooling and sending: every deposit goes through the spool (write-ahead), then is sent.

Exactly once, from the client's side: each entry carries an idempotency key made when it was
spooled and kept with it; the entry is removed only after the vault's acknowledgement (201, or
the tus PATCH that names the item). A crash between the two sends it again with the same key,
and the vault answers with the original item instead of a second one.

In order per session: entries are sent one by one in spool order; the first one the vault
cannot take now (unreachable, 5xx) stops the flush, so nothing overtakes it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault.client import statement
from vault.client.config import Login, device_key_file
from vault.client.errors import ClientError, Refused, Unreachable
from vault.client.spool import Entry, Spool

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vault.client.transport import Vault

MiB = 1024 * 1024
#: files from this size go over tus (resumable), when the vault speaks it
TUS_THRESHOLD = int(os.environ.get("VAULT_CLIENT_TUS_THRESHOLD", str(8 * MiB)))
#: bytes per tus PATCH (held in memory once): what a broken connection can cost at most
TUS_CHUNK = int(os.environ.get("VAULT_CLIENT_CHUNK", str(8 * MiB)))
#: a statement older than this is signed again before sending (the vault takes 24 h)
RESIGN_AFTER = dt.timedelta(hours=20)
FAULT_ENV = "VAULT_CLIENT_FAULT"

ProgressFactory = Callable[[Entry, int], Callable[[int], None] | None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Signer:
    """The device key of the login (or nothing: unsigned deposits, said out loud)."""

    def __init__(self, login: Login) -> None:
        self.login = login
        self._key: Ed25519PrivateKey | None = None

    @property
    def active(self) -> bool:
        return self.login.device is not None

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            path = device_key_file()
            try:
                self._key = statement.load_device_key(path.read_bytes())
            except FileNotFoundError:
                raise ClientError(f"the device key {path} is missing: run `vault client login` again") from None
            except ValueError as e:
                raise ClientError(f"the device key {path} is unusable", detail=str(e)) from None
        return self._key

    def sign(self, entry: Entry, now: dt.datetime | None = None) -> Entry:
        if self.login.device is None:
            return entry
        if self.login.tenant is None:
            raise ClientError("the login names no tenant: run `vault client login --tenant T` again")
        when = now or _now()
        doc = statement.statement(
            tenant=self.login.tenant,
            session=entry.session,
            kind=entry.kind,
            sha256=entry.sha256,
            size=entry.size,
            created=when,
            idempotency_key=entry.idempotency_key,
            device=self.login.device,
        )
        from dataclasses import replace

        return replace(
            entry,
            signature=statement.sign(doc, self.key()),
            signed_at=statement.utc_stamp(when),
            signed_by=self.login.device,
        )

    def fresh(self, entry: Entry, now: dt.datetime | None = None) -> bool:
        """Does ``entry`` carry a signature the vault will still take (this device, < 20 h)?"""
        if self.login.device is None:
            return entry.signature is None
        if entry.signature is None or entry.signed_by != self.login.device or entry.signed_at is None:
            return False
        signed = dt.datetime.strptime(entry.signed_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        return (now or _now()) - signed < RESIGN_AFTER


@dataclass
class Item:
    path: Path
    kind: str


def spool_files(
    spool: Spool,
    signer: Signer,
    items: Sequence[Item],
    *,
    session: str,
    purpose: str | None,
    subject: str | None,
    meta: dict[str, Any] | None,
) -> list[Entry]:
    """Copy each file into the spool (encrypted, hashed on the way, fsynced), sign its
    statement and commit it as an entry, in the order given."""
    entries = []
    for item in items:
        with open(item.path, "rb") as src:
            staged = spool.stage(src)
        try:
            spooled_at = statement.utc_stamp(_now())

            def make(entry_id: str, item: Item = item, staged: Any = staged, spooled_at: str = spooled_at) -> Entry:
                entry = Entry(
                    id=entry_id,
                    file=str(item.path),
                    filename=item.path.name,
                    session=session,
                    kind=item.kind,
                    purpose=purpose,
                    subject=subject,
                    meta=meta,
                    sha256=staged.sha256,
                    size=staged.size,
                    idempotency_key="vc-" + secrets.token_urlsafe(24),
                    spooled_at=spooled_at,
                    data_key=staged.data_key,
                )
                return signer.sign(entry)

            entries.append(spool.commit(staged, make))
        except BaseException:
            spool.discard(staged)
            raise
    return entries


@dataclass
class FlushResult:
    sent: list[dict[str, Any]] = field(default_factory=list)  # {"entry", "file", "session", "ids"}
    failed: list[dict[str, Any]] = field(default_factory=list)  # {"entry", "file", "error", "status"}
    remaining: int = 0
    offline: str | None = None  # why the flush stopped early (vault unreachable, key refused)
    busy: bool = False  # another flush holds the spool
    bytes_sent: int = 0
    resumed: list[dict[str, Any]] = field(default_factory=list)  # {"entry", "file", "offset"}

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": [i for s in self.sent for i in s["ids"]],
            "failed": [{"file": f["file"], "error": f["error"]} for f in self.failed],
            "items": self.sent,
            "remaining": self.remaining,
            "offline": self.offline,
            "busy": self.busy,
            "bytes_sent": self.bytes_sent,
            "resumed": self.resumed,
        }


class _Fault:
    """Test hook (``VAULT_CLIENT_FAULT=kill-after-ack=N`` or ``kill-after-patch=N``): the
    process kills itself with SIGKILL at that point, as a power cut would."""

    def __init__(self) -> None:
        spec = os.environ.get(FAULT_ENV, "")
        name, _, count = spec.partition("=")
        self.name, self.left = name, int(count) if count.isdigit() else 0

    def hit(self, name: str) -> None:
        if self.name != name or self.left <= 0:
            return
        self.left -= 1
        if self.left == 0:
            if hasattr(signal, "SIGKILL"):
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(137)


def flush(spool: Spool, signer: Signer, vault: Vault, *, progress: ProgressFactory | None = None) -> FlushResult:
    """Send every pending entry, in spool order, until done or the vault cannot take more."""
    result = FlushResult()
    lock = spool.flush_lock()
    if not lock.acquire():
        result.busy = True
        result.remaining = sum(1 for e in spool.entries() if e.state == "pending")
        return result
    fault = _Fault()
    try:
        spool.clean()
        attempted: set[str] = set()
        while True:
            pending = [e for e in spool.entries() if e.state == "pending" and e.id not in attempted]
            if not pending:
                break
            entry = pending[0]
            attempted.add(entry.id)
            try:
                if not signer.fresh(entry):
                    entry = spool.save(signer.sign(entry))
                ids = _send(spool, vault, entry, result, progress, fault)
            except Unreachable as e:
                result.offline = str(e)
                break
            except Refused as e:
                if e.status in (401, 403):  # the key, not the file: keep everything for a new login
                    result.offline = str(e)
                    result.failed.append({"entry": entry.id, "file": entry.file, "error": str(e), "status": e.status})
                    break
                spool.update(entry, state="refused", error=str(e), attempts=entry.attempts + 1)
                result.failed.append({"entry": entry.id, "file": entry.file, "error": str(e), "status": e.status})
                continue
            except ClientError as e:  # a damaged spool entry: keep it aside, say so
                spool.update(entry, state="refused", error=str(e), attempts=entry.attempts + 1)
                result.failed.append({"entry": entry.id, "file": entry.file, "error": str(e), "status": None})
                continue
            fault.hit("kill-after-ack")
            spool.remove(entry)
            result.sent.append({"entry": entry.id, "file": entry.file, "session": entry.session, "ids": ids})
    finally:
        result.bytes_sent = vault.bytes_sent
        result.remaining = sum(1 for e in spool.entries() if e.state == "pending")
        lock.release()
    return result


def _send(
    spool: Spool, vault: Vault, entry: Entry, result: FlushResult, progress: ProgressFactory | None, fault: _Fault
) -> list[str]:
    from vault.evidence.kinds import RECORD_KINDS

    large = entry.size >= TUS_THRESHOLD and entry.kind not in RECORD_KINDS
    if large and (entry.upload_url or vault.tus_supported()):
        return [_send_tus(spool, vault, entry, result, progress, fault)]
    tick = progress(entry, 0) if progress and large else None
    with spool.payload(entry) as payload:
        return vault.deposit(entry, payload, tick)


def _send_tus(
    spool: Spool, vault: Vault, entry: Entry, result: FlushResult, progress: ProgressFactory | None, fault: _Fault
) -> str:
    from vault.client.transport import OffsetMismatch

    offset = 0
    if entry.upload_url:
        state = vault.tus_head(entry.upload_url)
        if state is None:  # expired or aborted on the vault's side: start again (same key)
            entry = spool.update(entry, upload_url=None)
        elif state.evidence_id:
            return state.evidence_id
        else:
            offset = state.offset
            if offset:
                result.resumed.append({"entry": entry.id, "file": entry.file, "offset": offset})
    if not entry.upload_url:
        entry = spool.update(entry, upload_url=vault.tus_create(entry))  # kept before the first byte
    url = entry.upload_url
    assert url is not None
    tick = progress(entry, offset) if progress else None
    mismatches = 0
    payload = spool.payload(entry, offset)
    try:
        while True:
            data = payload.read(TUS_CHUNK)
            if not data and offset < entry.size:
                raise ClientError(f"the spooled payload of {entry.file} ends before its size")
            try:
                state = vault.tus_patch(url, offset, data)
            except OffsetMismatch:
                mismatches += 1
                if mismatches > 3:
                    raise Unreachable(f"the vault keeps refusing the parts of {entry.file}; trying later") from None
                head = vault.tus_head(url)
                state = None if head is None else head
                if head is not None and head.evidence_id:
                    return head.evidence_id
            if state is None:  # the upload is gone (expired, aborted): next flush starts again
                spool.update(entry, upload_url=None)
                raise Unreachable(f"the vault no longer has the upload of {entry.file}; it will start again")
            if state.evidence_id:
                if tick:
                    tick(entry.size - offset)
                return state.evidence_id
            if state.offset >= entry.size:
                raise Unreachable(f"the vault took all of {entry.file} but named no item; asking again later")
            if tick:
                tick(state.offset - offset)
            if state.offset != offset + len(data):  # took less (or a HEAD moved us): go on from there
                payload.close()
                payload = spool.payload(entry, state.offset)
            offset = state.offset
            fault.hit("kill-after-patch")
    finally:
        payload.close()
