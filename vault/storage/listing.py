"""Listing what the bucket holds, by prefix, page by page (memory stays flat)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from vault.errors import StorageError
from vault.storage.s3 import ObjectStore


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    latest: bool
    delete_marker: bool
    size: int


def iter_versions(store: ObjectStore, prefix: str) -> Iterator[Version]:
    """Every version and delete marker under ``prefix``, in key order (S3 lists keys in UTF-8
    binary order, versions of a key newest first)."""
    kwargs: dict[str, Any] = {"Bucket": store.bucket, "Prefix": prefix}
    while True:
        try:
            r = store.client.list_object_versions(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise StorageError(f"cannot list {prefix}", detail=str(e)) from e
        page = [
            Version(v["Key"], v["VersionId"], bool(v.get("IsLatest")), False, int(v.get("Size", 0)))
            for v in r.get("Versions", [])
        ] + [Version(v["Key"], v["VersionId"], bool(v.get("IsLatest")), True, 0) for v in r.get("DeleteMarkers", [])]
        page.sort(key=lambda v: (v.key, not v.latest))
        yield from page
        if not r.get("IsTruncated"):
            return
        kwargs["KeyMarker"] = r.get("NextKeyMarker")
        kwargs["VersionIdMarker"] = r.get("NextVersionIdMarker")
