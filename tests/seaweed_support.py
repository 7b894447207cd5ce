"""Tamper helpers for tests: change stored evidence AROUND the S3 API, as an insider could.

SeaweedFS keeps every S3 object version as a filer entry
``/buckets/<bucket>/<key>.versions/v_<versionId>``, and the filer HTTP port answers without
any authentication. Object Lock is only enforced by the S3 gateway, so whoever can reach the
filer port (anyone on the host, with the embedded server) can delete or rewrite a
COMPLIANCE-locked version. The vault must therefore detect tampering itself (hashes, seals,
timestamps), and these helpers let the tests prove that it does.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

#: what S3 writes into a version entry's Extended attributes that the filer lets a client
#: set again through ``Seaweed-*`` request headers (lock mode, retain-until, version id...)
_SETTABLE_PREFIX = "Seaweed-"


def filer_version_url(filer_url: str, bucket: str, key: str, version_id: str) -> str:
    """Filer URL of one S3 object version."""
    path = f"/buckets/{bucket}/{key}.versions/v_{version_id}"
    return filer_url.rstrip("/") + urllib.parse.quote(path, safe="/")


def _request(
    url: str, method: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def filer_get_version_entry(filer_url: str, bucket: str, key: str, version_id: str) -> dict[str, object] | None:
    """The filer's metadata for a version (Extended values base64-decoded), None if absent."""
    status, body = _request(filer_version_url(filer_url, bucket, key, version_id) + "?metadata=true", "GET")
    if status != 200:
        return None
    entry: dict[str, object] = json.loads(body)
    extended = entry.get("Extended") or {}
    assert isinstance(extended, dict)
    entry["Extended"] = {k: base64.b64decode(v).decode("latin-1") for k, v in extended.items()}
    return entry


def filer_delete_version(filer_url: str, bucket: str, key: str, version_id: str) -> int:
    """Delete one object version through the filer (no auth, Object Lock ignored).

    Returns the HTTP status: 204 when the entry existed and is gone (S3 then answers
    NoSuchVersion, 404, for that version id), 404 when there was no such entry (the filer
    itself answers 204 to a DELETE of a missing path, which would hide a wrong path).
    """
    url = filer_version_url(filer_url, bucket, key, version_id)
    status, _ = _request(url + "?metadata=true", "GET")
    if status != 200:
        return status
    status, _ = _request(url, "DELETE")
    return status


def filer_overwrite_version(filer_url: str, bucket: str, key: str, version_id: str, data: bytes) -> int:
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
    url = filer_version_url(filer_url, bucket, key, version_id)
    status, body = _request(url + "?metadata=true", "GET")
    if status != 200:
        return status
    entry = json.loads(body)
    headers = {
        name: base64.b64decode(value).decode("latin-1")
        for name, value in (entry.get("Extended") or {}).items()
        if name.startswith(_SETTABLE_PREFIX)
    }
    headers["Content-Type"] = entry.get("Mime") or "application/octet-stream"
    status, _ = _request(url, "PUT", data=data, headers=headers)
    return status
