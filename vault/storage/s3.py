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
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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


def _err(action: str, e: Exception) -> StorageError:
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "?")
        msg = e.response.get("Error", {}).get("Message", "")
        return StorageError(f"object store refused {action}", detail=f"{code}: {msg}")
    return StorageError(f"object store failed {action}", detail=str(e))


@dataclass(frozen=True)
class Lock:
    mode: str
    retain_until: dt.datetime


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
                ObjectLockMode=lock.mode,  # type: ignore[arg-type]
                ObjectLockRetainUntilDate=lock.retain_until,
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
    ) -> StoredObject:
        """Upload parts as they come (bounded memory: at most ``concurrency`` parts in flight).

        On any failure the upload is aborted, so no partial object is left behind.
        """
        try:
            mpu = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ChecksumAlgorithm="SHA256",
                ObjectLockMode=lock.mode,  # type: ignore[arg-type]
                ObjectLockRetainUntilDate=lock.retain_until,
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
