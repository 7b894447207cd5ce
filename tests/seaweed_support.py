"""Tamper helpers for tests: change stored evidence AROUND the S3 API, as an insider could.

SeaweedFS keeps every S3 object version as a filer entry
``/buckets/<bucket>/<key>.versions/v_<versionId>``, and Object Lock is only enforced by the S3
gateway: whoever may talk to the filer HTTP port can delete or rewrite a COMPLIANCE-locked
version. The embedded server makes the filer refuse unsigned requests (401), so the insider
these helpers play is one who can also read the server's files: it signs its requests with the
filer JWT keys of ``config/security.toml``. The vault must still detect such tampering itself
(hashes, seals, timestamps), and these helpers let the tests prove that it does.

Each helper takes the server (``EmbeddedSeaweed``: its keys are used directly) or just its
filer URL (the keys are then read, as an insider on the host would, from the working directory
of the ``weed`` process serving that port).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from vault.storage.embedded import EmbeddedSeaweed, mint_jwt, read_jwt_keys

#: what S3 writes into a version entry's Extended attributes that the filer lets a client
#: set again through ``Seaweed-*`` request headers (lock mode, retain-until, version id...)
_SETTABLE_PREFIX = "Seaweed-"

#: a filer server, or its URL
Filer = EmbeddedSeaweed | str


def filer_version_url(filer_url: str, bucket: str, key: str, version_id: str) -> str:
    """Filer URL of one S3 object version."""
    path = f"/buckets/{bucket}/{key}.versions/v_{version_id}"
    return filer_url.rstrip("/") + urllib.parse.quote(path, safe="/")


def http_request(
    url: str, method: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Status and body of one plain HTTP request (error statuses are returned, not raised)."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def weed_config_dir_serving(filer_url: str) -> Path | None:
    """Working directory of the local ``weed`` process whose filer listens on ``filer_url``'s port."""
    port = urllib.parse.urlsplit(filer_url).port
    flag = f"-filer.port={port}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if flag in argv and argv[0].endswith(b"weed"):
                return Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
    return None


def filer_auth_headers(filer: Filer, *, write: bool) -> dict[str, str]:
    """A signed ``Authorization`` header for a filer write (PUT/DELETE) or read (GET/HEAD).

    Empty when no key can be found (the request then goes unsigned and the filer says 401).
    """
    if isinstance(filer, EmbeddedSeaweed):
        return filer.filer_auth_headers(write=write)
    config_dir = weed_config_dir_serving(filer)
    if config_dir is None:
        return {}
    keys = read_jwt_keys(config_dir / "security.toml")
    key = keys.get("jwt.filer_signing" if write else "jwt.filer_signing.read")
    return {"Authorization": f"Bearer {mint_jwt(key)}"} if key else {}


def _url_of(filer: Filer) -> str:
    return filer.filer_url if isinstance(filer, EmbeddedSeaweed) else filer


def _lookup(filer: Filer, url: str) -> tuple[int, bytes]:
    """Signed ``GET <url>?metadata=true``: the filer entry of a path, as JSON."""
    return http_request(url + "?metadata=true", "GET", headers=filer_auth_headers(filer, write=False))


def filer_get_version_entry(filer: Filer, bucket: str, key: str, version_id: str) -> dict[str, object] | None:
    """The filer's metadata for a version (Extended values base64-decoded), None if absent."""
    status, body = _lookup(filer, filer_version_url(_url_of(filer), bucket, key, version_id))
    if status != 200:
        return None
    entry: dict[str, object] = json.loads(body)
    extended = entry.get("Extended") or {}
    assert isinstance(extended, dict)
    entry["Extended"] = {k: base64.b64decode(v).decode("latin-1") for k, v in extended.items()}
    return entry


def filer_delete_version(filer: Filer, bucket: str, key: str, version_id: str) -> int:
    """Delete one object version through the filer (signed, Object Lock ignored).

    Returns the HTTP status: 204 when the entry existed and is gone (S3 then answers
    NoSuchVersion, 404, for that version id), 404 when there was no such entry (the filer
    itself answers 204 to a DELETE of a missing path, which would hide a wrong path), 401 when
    the request could not be signed with the server's keys.
    """
    url = filer_version_url(_url_of(filer), bucket, key, version_id)
    status, _ = _lookup(filer, url)
    if status != 200:
        return status
    status, _ = http_request(url, "DELETE", headers=filer_auth_headers(filer, write=True))
    return status


def filer_overwrite_version(filer: Filer, bucket: str, key: str, version_id: str, data: bytes) -> int:
    """Replace the bytes of an existing version in place, keeping its S3 metadata.

    A plain filer PUT replaces the entry and drops its Extended attributes (S3 would then
    show no lock and leave the version out of listings). To be the stealthy insider, this
    reads the entry first and sends its ``Seaweed-*`` attributes back as headers, so the
    version keeps its id, COMPLIANCE mode and retain-until date. S3 then serves ``data`` for
    that version id, with an ETag recomputed from the new bytes (the filer canonicalises the
    ``Seaweed-X-Amz-ETag`` header name, so the stored ETag does not survive) and no stored
    x-amz-checksum any more.

    Returns the HTTP status of the PUT (201 on success), or the lookup status (404) when
    the version does not exist.
    """
    url = filer_version_url(_url_of(filer), bucket, key, version_id)
    status, body = _lookup(filer, url)
    if status != 200:
        return status
    entry = json.loads(body)
    headers = {
        name: base64.b64decode(value).decode("latin-1")
        for name, value in (entry.get("Extended") or {}).items()
        if name.startswith(_SETTABLE_PREFIX)
    }
    headers["Content-Type"] = entry.get("Mime") or "application/octet-stream"
    headers.update(filer_auth_headers(filer, write=True))
    status, _ = http_request(url, "PUT", data=data, headers=headers)
    return status
