"""The client's HTTP: deposits (one multipart request), tus 1.0 uploads, device registration.

A small tus client of its own over httpx rather than tuspy: tuspy pulls requests and aiohttp,
reads from a path (the spool holds encrypted payloads, decrypted on the fly), and keeps its
own resumption store; what the vault needs is four requests (POST, HEAD, PATCH, OPTIONS), the
contract's metadata and ``Evidence-Id``, and resumption from the URL kept in the spool entry.

Every answer is sorted into three cases: 2xx; 4xx but 408/429 (:class:`Refused`: retrying as
is cannot help, never spooled); the vault unreachable, a timeout, 5xx, 408, 429
(:class:`Unreachable`: keep it spooled, try later).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from vault.client.config import Login
from vault.client.errors import Refused, Unreachable
from vault.client.spool import Entry, Payload

TUS_VERSION = "1.0.0"
RETRYABLE_4XX = frozenset({408, 425, 429})

Progress = Callable[[int], None]


def _problem(resp: httpx.Response) -> tuple[str | None, str]:
    """(problem type slug, one readable line) of an error answer."""
    try:
        doc = resp.json()
    except ValueError:
        text = " ".join(resp.text.split())[:200] if resp.content else ""
        return None, text or resp.reason_phrase
    if not isinstance(doc, dict):
        return None, str(doc)[:200]
    kind = str(doc.get("type") or "").rsplit("/", 1)[-1] or None
    detail = doc.get("detail") or doc.get("title") or ""
    return kind, " ".join(str(detail).split())[:300]


def check(resp: httpx.Response, what: str) -> httpx.Response:
    if resp.is_success:
        return resp
    status = resp.status_code
    problem, detail = _problem(resp)
    if status == 401:
        raise Refused(
            f"the vault refused the API key (401) while {what}: run `vault client login` with a valid key",
            status=status,
            problem=problem,
        )
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        label = f"{status} {problem}" if problem else str(status)
        raise Refused(f"the vault refused {what} ({label})", status=status, problem=problem, detail=detail or None)
    raise Unreachable(f"the vault could not take {what} now ({status})", detail=detail or None)


class Vault:
    """One connection to the vault with the login's key."""

    def __init__(self, login: Login, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.login = login
        self.base = login.url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {login.api_key}", "User-Agent": "vault-client/1"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            follow_redirects=False,
        )
        self._tus: bool | None = None
        self.bytes_sent = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, url: str, what: str, **kw: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kw)
        except httpx.TransportError as e:  # refused, reset, timed out, DNS...
            raise Unreachable(f"the vault at {self.base} does not answer while {what}", detail=str(e) or None) from None

    # -- login ---------------------------------------------------------------------------
    def probe(self) -> None:
        """Check the key: a call every role may make."""
        check(self.request("GET", "/v1/retention/policy", "checking the key"), "checking the key")

    def register_device(self, public_pem: bytes, label: str) -> dict[str, Any] | None:
        """POST /v1/devices; None when this vault has no device registration (404/405)."""
        what = "registering the device key"
        resp = self.request("POST", "/v1/devices", what, json={"public_key": public_pem.decode(), "label": label})
        if resp.status_code in (404, 405) and _problem(resp)[0] in (None, "not-found", "http"):
            return None
        doc = check(resp, what).json()
        if not isinstance(doc, dict) or not str(doc.get("id", "")).startswith("dv_"):
            raise Refused(f"the vault answered {what} without a device id", status=resp.status_code)
        return doc

    # -- one request -----------------------------------------------------------------------
    def deposit(self, entry: Entry, payload: Payload, progress: Progress | None = None) -> list[str]:
        """POST /v1/evidence (multipart, streamed, with Content-Length); the item id(s)."""
        boundary = "vault-" + secrets.token_hex(16)
        fields = {"session": entry.session, "kind": entry.kind}
        if entry.purpose:
            fields["purpose"] = entry.purpose
        if entry.subject:
            fields["subject"] = entry.subject
        if entry.meta:
            fields["metadata"] = json.dumps(entry.meta, ensure_ascii=False, sort_keys=True)
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode() + b"\r\n"
            for k, v in fields.items()
        )
        safe_name = re.sub(r"[^A-Za-z0-9._ -]", "_", entry.filename)[:200] or "file"
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            for chunk in payload:
                self.bytes_sent += len(chunk)
                if progress:
                    progress(len(chunk))
                yield chunk
            yield tail

        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + entry.size + len(tail)),
            "X-Content-SHA256": entry.sha256,
            "Idempotency-Key": entry.idempotency_key,
        }
        if entry.signature:
            headers["Vault-Signature"] = entry.signature
        what = f"{entry.filename}"
        doc = check(self.request("POST", "/v1/evidence", f"sending {what}", content=body(), headers=headers), what)
        data = doc.json()
        ids = data.get("ids") or [data["id"]]
        return [str(i) for i in ids]

    # -- tus ------------------------------------------------------------------------------
    def tus_supported(self) -> bool:
        if self._tus is None:
            resp = self.request("OPTIONS", "/v1/uploads", "asking for tus")
            if resp.status_code >= 500 or resp.status_code in RETRYABLE_4XX:
                check(resp, "asking for tus")
            self._tus = resp.is_success and TUS_VERSION in resp.headers.get("Tus-Version", "")
        return self._tus

    def tus_create(self, entry: Entry) -> str:
        meta = {
            "session": entry.session,
            "kind": entry.kind,
            "purpose": entry.purpose,
            "subject": entry.subject,
            "filename": entry.filename,
            "idempotency_key": entry.idempotency_key,
            "sha256": entry.sha256,
            "signature": entry.signature,
            "meta": json.dumps(entry.meta, ensure_ascii=False, sort_keys=True) if entry.meta else None,
        }
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items() if v)
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(entry.size),
            "Upload-Metadata": encoded,
            "Idempotency-Key": entry.idempotency_key,
        }
        what = f"creating the upload of {entry.filename}"
        resp = check(self.request("POST", "/v1/uploads", what, headers=headers), what)
        location = resp.headers.get("Location")
        if not location:
            raise Unreachable(f"the vault answered {what} without a Location")
        return str(urljoin(self.base + "/", str(location)))

    def tus_head(self, url: str) -> UploadState | None:
        """Where the upload stands; None when the vault no longer knows it (expired, aborted)."""
        what = "asking how much of an upload arrived"
        resp = self.request("HEAD", url, what, headers={"Tus-Resumable": TUS_VERSION})
        if resp.status_code in (404, 410):
            return None
        check(resp, what)
        return UploadState(
            offset=int(resp.headers.get("Upload-Offset", "0")),
            length=int(resp.headers["Upload-Length"]) if "Upload-Length" in resp.headers else None,
            evidence_id=resp.headers.get("Evidence-Id"),
        )

    def tus_patch(self, url: str, offset: int, data: bytes) -> UploadState | None:
        """Append ``data`` at ``offset``; None when the upload is gone (404/410); the new state
        (the vault's ``Upload-Offset``; ``evidence_id`` once complete). A 409 (offset) or 460
        (checksum) is :class:`OffsetMismatch`: the caller asks HEAD and goes on from there."""
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode(),
        }
        what = "sending part of an upload"
        resp = self.request("PATCH", url, what, content=data, headers=headers)
        self.bytes_sent += len(data)
        if resp.status_code in (404, 410):
            return None
        if resp.status_code in (409, 460):
            raise OffsetMismatch(f"the vault did not take the part at offset {offset} ({resp.status_code})")
        check(resp, what)
        return UploadState(
            offset=int(resp.headers.get("Upload-Offset", offset + len(data))),
            length=None,
            evidence_id=resp.headers.get("Evidence-Id"),
        )


class OffsetMismatch(Exception):
    """The vault did not take a tus part (409 offset, 460 checksum): ask HEAD and go on."""


@dataclass(frozen=True)
class UploadState:
    offset: int
    length: int | None
    evidence_id: str | None
