"""Archive tier detection: a store with lifecycle transitions gets the archive storage class;
SeaweedFS answers 501 NotImplemented and the archive is a recorded state only.

moto stands in for a store with lifecycle support (AWS S3): the one thing SeaweedFS cannot
do. It is never used for WORM or integrity, which moto does not enforce.
"""

from __future__ import annotations

import datetime as dt

import boto3
from moto import mock_aws

from vault.context import VaultContext
from vault.storage.s3 import Lock, ObjectStore


def test_seaweedfs_has_no_lifecycle_transitions_so_the_archive_is_recorded(ctx: VaultContext) -> None:
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=30)
    stored = ctx.store.put("t/acme/items/x", b"bytes", Lock("COMPLIANCE", until))
    assert ctx.store.archive_tier(stored.key, stored.version_id) == "recorded"
    # the object was not tagged for a transition that will never happen
    tags = ctx.store.client.get_object_tagging(Bucket=ctx.store.bucket, Key=stored.key, VersionId=stored.version_id)
    assert tags.get("TagSet", []) == []


@mock_aws
def test_a_store_with_lifecycle_transitions_gets_the_archive_class() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="vault-archive-test", ObjectLockEnabledForBucket=True)
    store = ObjectStore(client, "vault-archive-test")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    # a PUT with Object Lock parameters needs Content-MD5 on AWS (moto checks it too)
    version = store.put("k", b"bytes", Lock("GOVERNANCE", until)).version_id
    assert store.archive_tier("k", version) == "GLACIER"
    rules = client.get_bucket_lifecycle_configuration(Bucket="vault-archive-test")["Rules"]
    assert rules[0]["Transitions"][0]["StorageClass"] == "GLACIER"
    assert rules[0]["Filter"]["Tag"] == {"Key": "vault-tier", "Value": "archive"}
    tags = client.get_object_tagging(Bucket="vault-archive-test", Key="k", VersionId=version)["TagSet"]
    assert tags == [{"Key": "vault-tier", "Value": "archive"}]
