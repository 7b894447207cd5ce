"""The object store seam: boto3 against any S3 with Object Lock (AWS, MinIO, Ceph, SeaweedFS).

Written once, read by pinned version: every write carries an ``x-amz-checksum-sha256`` so the
store verifies the bytes it keeps, and an Object Lock mode and retain-until date so that
nobody, the vault included, can delete or overwrite the version before its retention ends.
Third-party exceptions are wrapped into :class:`StorageError` here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from vault.errors import NotFound, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


def make_client(
    endpoint: str | None,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    pool: int = 32,
) -> S3Client:
    """A SigV4 client. Checksums are sent only where we set them (SeaweedFS, MinIO and Ceph
    do not all accept the aws-chunked trailers that newer botocore adds by default)."""
    cfg = Config(
        signature_version="s3v4",
        # the body is bound by the signed x-amz-checksum-sha256 header (which the store checks),
        # so signing the payload again would only hash every byte twice (S3 over plain HTTP)
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        retries={"mode": "standard", "max_attempts": 4},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=120,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        tcp_keepalive=True,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        region_name=region,
        config=cfg,
    )


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


#: what a store says when it is out of space: S3 error codes (MinIO, Ceph RGW, RFC 4918's 507)
#: and message text (SeaweedFS passes "no free volumes left" on in some paths)
_DISK_FULL_CODES = frozenset({"XMinioStorageFull", "InsufficientStorage", "StorageFull", "NoSpaceLeft"})
_DISK_FULL_TEXT = re.compile(
    r"no space left|disk (?:is )?full|storage (?:is )?full|insufficient storage|no free volumes|no writable volumes",
    re.IGNORECASE,
)
#: the store does not accept who we are (as opposed to refusing one operation, e.g. a lock)
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidClientTokenId",
        "AuthorizationHeaderMalformed",
        "InvalidSecurity",
    }
)
_NO_ANSWER = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)

#: the cause, first in the message, of the errors ``_err`` can name (health reads them)
DISK_FULL = "disk full"
CREDENTIALS_REFUSED = "credentials refused"
NO_ANSWER = "the object store does not answer"


def _embedded_store_space_low() -> str | None:
    """The figure, when the embedded store of this host's vault home (``$VAULT_HOME/s3/data``)
    is low on space, else None. SeaweedFS answers a write it cannot store with a bare
    ``InternalError`` ("We encountered an internal error"), so the disk has to be asked."""
    from vault.config import default_home
    from vault.storage.embedded import disk_space

    data = default_home() / "s3" / "data"
    if not data.is_dir():
        return None
    space = disk_space(data)
    return space.describe() if space is not None and space.low else None


def _err(action: str, e: Exception) -> StorageError:
    """One StorageError for a failed call, its cause first where it can be named: "disk full",
    "credentials refused", "the object store does not answer"; else "object store refused
    <action>: <code>: <message>" (or "failed" for an error without an S3 answer)."""
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "?")
        msg = e.response.get("Error", {}).get("Message", "")
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = f"{code}: {msg}"
        if code in _DISK_FULL_CODES or status == 507 or _DISK_FULL_TEXT.search(msg):
            return StorageError(f"{DISK_FULL}: the object store refused {action}", detail=detail)
        if code in _CREDENTIAL_CODES or (code == "403" and action.startswith("head_bucket")):
            # a HEAD answer has no body: 403 is all there is
            return StorageError(f"{CREDENTIALS_REFUSED}: the object store refused {action}", detail=detail)
        if status >= 500 or code in ("InternalError", "ServiceUnavailable"):
            low = _embedded_store_space_low()
            if low is not None:
                return StorageError(f"{DISK_FULL}: the object store refused {action}", detail=f"{detail} ({low})")
        return StorageError(f"object store refused {action}", detail=detail)
    if isinstance(e, _NO_ANSWER):
        return StorageError(f"{NO_ANSWER}: {action} failed", detail=str(e))
    return StorageError(f"object store failed {action}", detail=str(e))


#: the key of the write probe (health checks): outside the vault's ``t/`` and ``batches/``
PROBE_KEY = "_health/probe"
#: how long a probe version is locked when the bucket's default retention would lock it anyway
_PROBE_LOCK_SECONDS = 2
#: how long the answer "does the bucket lock new versions by default?" is kept
_PROBE_CONFIG_TTL = 300.0


@dataclass(frozen=True)
class Lock:
    mode: str
    retain_until: dt.datetime
    legal_hold: bool = False

    def headers(self) -> dict[str, Any]:
        h: dict[str, Any] = {"ObjectLockMode": self.mode, "ObjectLockRetainUntilDate": self.retain_until}
        if self.legal_hold:
            h["ObjectLockLegalHoldStatus"] = "ON"
        return h


@dataclass(frozen=True)
class StoredObject:
    key: str
    version_id: str
    size: int
    sha256: str  # hex SHA-256 of the stored bytes


class ObjectStore:
    """One bucket with versioning and Object Lock."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    # -- bucket ---------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock if missing; refuse a bucket without it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise _err("head_bucket", e) from e
            try:
                region = self.client.meta.region_name
                extra: dict[str, Any] = {}
                if region and region != "us-east-1":  # AWS needs the location outside us-east-1
                    extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
                self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True, **extra)
            except ClientError as e2:
                if e2.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",):
                    raise _err("create_bucket", e2) from e2
        except BotoCoreError as e:
            raise _err("head_bucket", e) from e
        try:
            cfg = self.client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except ClientError:
            enabled = False
        if not enabled:
            raise StorageError("bucket has no Object Lock", detail=f"{self.bucket}: evidence needs WORM storage")

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as e:
            raise _err("head_bucket", e) from e

    def probe_write(self, key: str = PROBE_KEY) -> float:
        """Prove that the store accepts a write now; return the seconds it took.

        Puts a few bytes under one fixed key, ``_health/probe``, then deletes that version, so
        nothing accumulates. The put carries no lock: a bucket without default retention
        keeps it unlocked and the delete succeeds. A bucket whose Object Lock configuration has
        a default retention would lock it for years (one version per check): there the probe
        is written with the shortest lock, GOVERNANCE for ``_PROBE_LOCK_SECONDS``, and each
        probe first deletes the earlier probe versions whose lock has ended, so at most the
        probes of the last seconds remain. Raises StorageError (see ``_err``).
        """
        started = time.monotonic()
        body = f"vault write probe {dt.datetime.now(dt.UTC).isoformat()}\n".encode()
        locked = self._probe_needs_lock()
        extra: dict[str, Any] = {}
        if locked:
            self._drop_old_probes(key)
            until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=_PROBE_LOCK_SECONDS)
            extra = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}
        try:
            r = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="text/plain",
                ChecksumSHA256=b64sha256(body),
                ContentMD5=base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
                **extra,
            )
        except (ClientError, BotoCoreError) as e:
            raise _err(f"write probe {key}", e) from e
        version = r.get("VersionId")
        if version and not locked:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
            except (ClientError, BotoCoreError) as e:
                raise _err(f"delete write probe {key}@{version}", e) from e
        return time.monotonic() - started

    def _probe_needs_lock(self) -> bool:
        """Whether the bucket locks new versions by default (cached ``_PROBE_CONFIG_TTL`` s)."""
        cached: tuple[float, bool] | None = getattr(self, "_probe_lock_cache", None)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _PROBE_CONFIG_TTL:
            return cached[1]
        try:
            cfg = self.client.get_object_lock_configuration(Bucket=self.bucket)
            rule = cfg.get("ObjectLockConfiguration", {}).get("Rule", {})
            needs = bool(rule.get("DefaultRetention"))
        except ClientError:
            needs = False  # no Object Lock configuration: nothing locks by default
        except BotoCoreError as e:
            raise _err("get object lock configuration", e) from e
        self._probe_lock_cache = (now, needs)
        return needs

    def _drop_old_probes(self, key: str) -> None:
        """Delete the probe versions whose short lock has ended (the rest stay until later)."""
        with contextlib.suppress(StorageError):
            for version_id, _marker in self.versions(key):
                with contextlib.suppress(ClientError, BotoCoreError):
                    self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)

    # -- writes ---------------------------------------------------------------------------
    def put(self, key: str, body: bytes, lock: Lock, *, content_type: str = "application/octet-stream") -> StoredObject:
        digest = hashlib.sha256(body).digest()
        try:
            r = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ChecksumSHA256=base64.b64encode(digest).decode(),
                # AWS S3 refuses a PUT with Object Lock parameters without Content-MD5 (or an
                # SDK checksum-algorithm header, whose aws-chunked trailers other stores lack)
                ContentMD5=base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
                **lock.headers(),
            )
        except (ClientError, BotoCoreError) as e:
            raise _err(f"put {key}", e) from e
        version = r.get("VersionId")
        if not version:
            raise StorageError("object store returned no version id", detail=f"{key}: is versioning on?")
        return StoredObject(key, version, len(body), digest.hex())

    def put_multipart(
        self,
        key: str,
        parts: Iterable[bytes],
        lock: Lock,
        *,
        concurrency: int = 6,
        before_complete: Callable[[], None] | None = None,
    ) -> StoredObject:
        """Upload parts as they come (bounded memory: at most ``concurrency`` parts in flight).

        On any failure the upload is aborted, so no partial object is left behind;
        ``before_complete`` runs once every part is uploaded and may refuse (raise) the object
        before it exists, for instance when the payload's digest is not the one announced.
        """
        try:
            mpu = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ChecksumAlgorithm="SHA256",
                **lock.headers(),
            )
        except (ClientError, BotoCoreError) as e:
            raise _err(f"create multipart {key}", e) from e
        upload_id = mpu["UploadId"]
        whole = hashlib.sha256()
        size = 0
        slots = threading.BoundedSemaphore(concurrency)
        futures: list[Future[dict[str, Any]]] = []

        def send(number: int, data: bytes) -> dict[str, Any]:
            try:
                checksum = b64sha256(data)
                r = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ChecksumSHA256=checksum,
                )
                return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": checksum}
            finally:
                slots.release()

        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-part") as pool:
                for number, data in enumerate(parts, start=1):
                    whole.update(data)
                    size += len(data)
                    slots.acquire()
                    futures.append(pool.submit(send, number, data))
                done = [f.result() for f in futures]
            if before_complete is not None:
                before_complete()
            r = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},  # type: ignore[typeddict-item]
            )
        except BaseException as e:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            if isinstance(e, ClientError | BotoCoreError):
                raise _err(f"multipart upload {key}", e) from e
            raise
        version = r.get("VersionId")
        if not version:
            raise StorageError("object store returned no version id", detail=key)
        return StoredObject(key, version, size, whole.hexdigest())

    # -- reads ----------------------------------------------------------------------------
    def _get(self, key: str, version_id: str, rng: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "VersionId": version_id}
        if rng:
            kwargs["Range"] = rng
        try:
            return self.client.get_object(**kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound", "InvalidArgument"):
                raise NotFound("object version missing", detail=f"{self.bucket}/{key}@{version_id} ({code})") from e
            raise _err(f"get {key}", e) from e
        except BotoCoreError as e:
            raise _err(f"get {key}", e) from e

    def get(self, key: str, version_id: str, offset: int | None = None, length: int | None = None) -> bytes:
        rng = None if offset is None or length is None else f"bytes={offset}-{offset + length - 1}"
        try:
            data: bytes = self._get(key, version_id, rng)["Body"].read()
        except (BotoCoreError, OSError) as e:
            raise _err(f"read {key}", e) from e
        return data

    def iter_get(self, key: str, version_id: str, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        body = self._get(key, version_id)["Body"]
        try:
            yield from body.iter_chunks(chunk)
        except (BotoCoreError, OSError) as e:
            raise _err(f"read {key}", e) from e

    def head(self, key: str, version_id: str) -> dict[str, Any]:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version_id))
        except ClientError as e:
            raise NotFound("object version missing", detail=f"{self.bucket}/{key}@{version_id}") from e

    # -- retention management -------------------------------------------------------------
    def versions(self, key: str) -> list[tuple[str, bool]]:
        """Every (version id, is delete marker) stored under exactly ``key``."""
        out: list[tuple[str, bool]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key}
        try:
            while True:
                r = self.client.list_object_versions(**kwargs)
                out += [(v["VersionId"], False) for v in r.get("Versions", []) if v.get("Key") == key]
                out += [(v["VersionId"], True) for v in r.get("DeleteMarkers", []) if v.get("Key") == key]
                if not r.get("IsTruncated"):
                    return out
                kwargs["KeyMarker"] = r.get("NextKeyMarker")
                kwargs["VersionIdMarker"] = r.get("NextVersionIdMarker")
        except (ClientError, BotoCoreError) as e:
            raise _err(f"list versions of {key}", e) from e

    def stored_versions(self, *keys: str) -> Iterator[tuple[str, str]]:
        """(key, version id) of every stored version of these keys, delete markers left out."""
        for key in keys:
            for version_id, marker in self.versions(key):
                if not marker:
                    yield key, version_id

    def blocking(self, *keys: str, now: dt.datetime) -> str | None:
        """Why a version of these keys cannot be deleted now (a retention in force or a legal
        hold), or None: checked before deleting anything, so a refusal never leaves half of
        an item's objects deleted."""
        for key, version_id in self.stored_versions(*keys):
            try:
                r = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            except (ClientError, BotoCoreError) as e:
                raise _err(f"head {key}@{version_id}", e) from e
            if r.get("ObjectLockLegalHoldStatus") == "ON":
                return f"{key}@{version_id} is under an S3 legal hold"
            until = r.get("ObjectLockRetainUntilDate")
            if until is not None and until > now:
                return f"{key}@{version_id} is locked until {until.isoformat()}"
        return None

    def delete_all_versions(self, key: str) -> list[str]:
        """Delete every version (and delete marker) of ``key``; the store refuses while a lock
        or legal hold protects one (StorageError), leaving the others as they were."""
        deleted = []
        for version_id, _marker in self.versions(key):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            except (ClientError, BotoCoreError) as e:
                raise _err(f"delete {key}@{version_id}", e) from e
            deleted.append(version_id)
        return deleted

    def extend_retention(self, key: str, version_id: str, mode: str, until: dt.datetime) -> bool:
        """Move the version's retain-until date later (never earlier); True when it changed."""
        try:
            current = self.client.get_object_retention(Bucket=self.bucket, Key=key, VersionId=version_id)
            have = current.get("Retention", {}).get("RetainUntilDate")
            if have is not None and have >= until:
                return False
            self.client.put_object_retention(
                Bucket=self.bucket,
                Key=key,
                VersionId=version_id,
                Retention={"Mode": mode, "RetainUntilDate": until},  # type: ignore[misc,arg-type]
            )
        except (ClientError, BotoCoreError) as e:
            raise _err(f"extend retention of {key}@{version_id}", e) from e
        return True

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        try:
            self.client.put_object_legal_hold(
                Bucket=self.bucket, Key=key, VersionId=version_id, LegalHold={"Status": "ON" if on else "OFF"}
            )
        except (ClientError, BotoCoreError) as e:
            raise _err(f"legal hold on {key}@{version_id}", e) from e

    def legal_hold(self, key: str, version_id: str) -> bool:
        try:
            r = self.client.get_object_legal_hold(Bucket=self.bucket, Key=key, VersionId=version_id)
        except ClientError as e:
            # SeaweedFS answers NoSuchObjectLegalHold for a version that never had one
            if e.response.get("Error", {}).get("Code") in ("NoSuchObjectLockConfiguration", "NoSuchObjectLegalHold"):
                return False
            raise _err(f"legal hold of {key}@{version_id}", e) from e
        except BotoCoreError as e:
            raise _err(f"legal hold of {key}@{version_id}", e) from e
        return r.get("LegalHold", {}).get("Status") == "ON"

    def archive_tier(self, key: str, version_id: str, storage_class: str = "GLACIER") -> str:
        """Ask the store to move a version to an archive storage class.

        Uses a lifecycle rule on the tag ``vault-tier=archive`` (the only way to change the
        class of a locked version without rewriting it). Returns the tier reached: the storage
        class, or ``"recorded"`` when the store has no lifecycle transitions (SeaweedFS
        answers 501 NotImplemented): the archive then exists as a state in the index only.
        """
        rule = {
            "ID": "vault-archive-tier",
            "Status": "Enabled",
            "Filter": {"Tag": {"Key": "vault-tier", "Value": "archive"}},
            "Transitions": [{"Days": 0, "StorageClass": storage_class}],
        }
        try:
            try:  # keep the bucket's other rules; add ours once
                rules = list(self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", []))
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                    raise
                rules = []
            if not any(r.get("ID") == rule["ID"] for r in rules):
                self.client.put_bucket_lifecycle_configuration(
                    Bucket=self.bucket,
                    LifecycleConfiguration={"Rules": [*rules, rule]},  # type: ignore[list-item]
                )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NotImplemented" or status == 501:
                return "recorded"
            raise _err("put lifecycle configuration", e) from e
        except BotoCoreError as e:
            raise _err("put lifecycle configuration", e) from e
        try:
            self.client.put_object_tagging(
                Bucket=self.bucket,
                Key=key,
                VersionId=version_id,
                Tagging={"TagSet": [{"Key": "vault-tier", "Value": "archive"}]},
            )
        except (ClientError, BotoCoreError) as e:
            raise _err(f"tag {key}@{version_id} for the archive tier", e) from e
        return storage_class
