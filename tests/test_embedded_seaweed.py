"""The embedded SeaweedFS against the real ``weed`` process: what the vault relies on.

SigV4 is enforced, nothing listens beyond loopback, Object Lock and x-amz-checksum-sha256 are
enforced through S3, the filer and volume HTTP ports refuse unsigned requests, the filer back
door still bypasses Object Lock for an insider holding the JWT keys (so the tamper helpers used
by the integrity tests do what they claim), and stop/restart leaves no process or socket behind
while keeping the data and the keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from seaweed_support import (
    filer_auth_headers,
    filer_delete_version,
    filer_get_version_entry,
    filer_overwrite_version,
    filer_version_url,
    http_request,
)
from vault.errors import ConfigError, ServiceDown, StorageError
from vault.storage.embedded import JWT_SECTIONS, EmbeddedSeaweed, mint_jwt, read_jwt_keys

ACCESS_KEY = "it-" + secrets.token_hex(4)
SECRET_KEY = secrets.token_hex(20)


def _client(sw: EmbeddedSeaweed, *, secret: str = SECRET_KEY, unsigned: bool = False) -> Any:
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=2,
        read_timeout=10,
        **({"signature_version": UNSIGNED} if unsigned else {}),
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=sw.s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=config,
    )


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], int(resp["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture(scope="module")
def sw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSeaweed]:
    server = EmbeddedSeaweed(tmp_path_factory.mktemp("embedded-seaweed"), access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(sw: EmbeddedSeaweed) -> Any:
    return _client(sw)


@pytest.fixture(scope="module")
def lock_bucket(s3: Any) -> str:
    name = "lock-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def _put_locked(s3: Any, bucket: str, key: str, data: bytes) -> str:
    resp = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ChecksumSHA256=_sha256_b64(data),
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    assert resp["ChecksumSHA256"] == _sha256_b64(data)
    return str(resp["VersionId"])


# -- process set-up ---------------------------------------------------------------------------


def test_started_with_private_config(sw: EmbeddedSeaweed) -> None:
    assert sw.pid is not None and os.getpgid(sw.pid) == sw.pid  # its own process group
    assert sw.s3_endpoint == f"http://127.0.0.1:{sw.ports['s3']}"
    mode = stat.S_IMODE(sw.s3_config_path.stat().st_mode)
    assert mode == 0o600
    config = json.loads(sw.s3_config_path.read_text())
    assert [i["credentials"] for i in config["identities"]] == [[{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]]
    assert set(sw.startup_timings) == {"list_buckets", "master_topology", "put_probe"}
    # weed runs in a private config dir holding only security.toml, with one key per section
    assert Path(os.readlink(f"/proc/{sw.pid}/cwd")) == sw.config_dir
    assert stat.S_IMODE(sw.config_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(sw.security_config_path.stat().st_mode) == 0o600
    assert [p.name for p in sw.config_dir.iterdir()] == ["security.toml"]
    keys = read_jwt_keys(sw.security_config_path)
    assert set(keys) == set(JWT_SECTIONS)
    assert len(set(keys.values())) == 4 and all(len(k) == 64 for k in keys.values())


def _listeners_of(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by ``pid``, IPv4 and IPv6."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            # /proc prints the address as host-order 32-bit words
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            family = socket.AF_INET if width == 4 else socket.AF_INET6
            found.append((socket.inet_ntop(family, words), int(port_hex, 16)))
    return found


def test_listens_on_loopback_only_and_only_on_its_ports(sw: EmbeddedSeaweed) -> None:
    assert sw.pid is not None
    expected = set(sw.ports.values())
    deadline = time.monotonic() + 10
    while True:  # the admin server binds last, a moment after S3 is ready
        listeners = _listeners_of(sw.pid)
        if {port for _, port in listeners} >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert listeners, "weed has no listening socket?"
    assert {addr for addr, _ in listeners} == {"127.0.0.1"}, listeners
    assert {port for _, port in listeners} == expected, listeners


# -- authentication ---------------------------------------------------------------------------


def test_signed_requests_work(s3: Any) -> None:
    bucket = "plain-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello"
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_wrong_secret_is_refused(sw: EmbeddedSeaweed) -> None:
    with pytest.raises(ClientError) as exc:
        _client(sw, secret=SECRET_KEY[:-1] + "x").list_buckets()
    code, status = _error(exc)
    assert status == 403 and code in {"SignatureDoesNotMatch", "AccessDenied"}


def test_anonymous_is_refused(sw: EmbeddedSeaweed, s3: Any) -> None:
    bucket = "anon-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    anon = _client(sw, unsigned=True)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_buckets", {}),
        ("get_object", {"Bucket": bucket, "Key": "k"}),
        ("put_object", {"Bucket": bucket, "Key": "new", "Body": b"x"}),
    ]
    for method, kwargs in calls:
        with pytest.raises(ClientError) as exc:
            getattr(anon, method)(**kwargs)
        assert _error(exc)[1] == 403, method


def test_put_to_missing_bucket_does_not_create_it(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="missing-" + secrets.token_hex(4), Key="k", Body=b"x")
    assert _error(exc) == ("NoSuchBucket", 404)


# -- WORM and checksums through S3 ------------------------------------------------------------


def test_compliance_version_cannot_be_deleted(s3: Any, lock_bucket: str) -> None:
    version = _put_locked(s3, lock_bucket, "worm/a.bin", b"locked evidence")
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=lock_bucket, Key="worm/a.bin", VersionId=version)
    assert _error(exc)[1] == 403
    got = s3.get_object(Bucket=lock_bucket, Key="worm/a.bin", VersionId=version)
    assert got["Body"].read() == b"locked evidence"
    assert got["ObjectLockMode"] == "COMPLIANCE"


def test_wrong_checksum_is_refused_and_nothing_stored(s3: Any, lock_bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(
            Bucket=lock_bucket,
            Key="worm/bad.bin",
            Body=b"the bytes sent",
            ChecksumSHA256=_sha256_b64(b"other bytes"),
        )
    code, status = _error(exc)
    assert status == 400 and code in {"BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"}
    assert "Versions" not in s3.list_object_versions(Bucket=lock_bucket, Prefix="worm/bad.bin")


# -- the filer and volume HTTP ports refuse unsigned requests ---------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_filer_refuses_unsigned_and_wrongly_signed_requests(sw: EmbeddedSeaweed, s3: Any, lock_bucket: str) -> None:
    data = b"locked evidence the filer must not give away"
    version = _put_locked(s3, lock_bucket, "worm/closed.bin", data)
    url = filer_version_url(sw.filer_url, lock_bucket, "worm/closed.bin", version)
    keys = read_jwt_keys(sw.security_config_path)
    write_key, read_key = keys["jwt.filer_signing"], keys["jwt.filer_signing.read"]
    attempts: list[tuple[str, str, dict[str, str]]] = [
        ("DELETE", url, {}),  # the curl of the old caveat
        ("DELETE", url, _bearer(mint_jwt("not-the-key"))),
        ("DELETE", url, _bearer(mint_jwt(read_key))),  # a read token does not allow writes
        ("DELETE", url, _bearer(mint_jwt(write_key, ttl=-60))),  # expired
        ("PUT", url, {}),
        ("GET", url, {}),
        ("GET", url + "?metadata=true", {}),
        ("GET", url, _bearer(mint_jwt(write_key))),  # a write token does not allow reads
        ("GET", sw.filer_url + "/buckets/", {}),  # no listing either
    ]
    for method, target, headers in attempts:
        body = b"forged" if method == "PUT" else None
        status, _ = http_request(target, method, data=body, headers=headers)
        assert status == 401, (method, target, headers)
    got = s3.get_object(Bucket=lock_bucket, Key="worm/closed.bin", VersionId=version)
    assert got["Body"].read() == data
    assert got["ObjectLockMode"] == "COMPLIANCE"
    # a correctly signed read gets in (what the insider helpers rely on)
    assert http_request(url, "GET", headers=sw.filer_auth_headers(write=False)) == (200, data)


def test_volume_server_refuses_unsigned_requests(sw: EmbeddedSeaweed, s3: Any, lock_bucket: str) -> None:
    data = os.urandom(4096)
    version = _put_locked(s3, lock_bucket, "worm/chunk.bin", data)
    entry = filer_get_version_entry(sw, lock_bucket, "worm/chunk.bin", version)
    assert entry is not None
    chunks = entry["chunks"]
    assert isinstance(chunks, list) and chunks
    chunk_url = f"http://127.0.0.1:{sw.ports['volume']}/{chunks[0]['file_id']}"
    for method in ("GET", "DELETE"):
        assert http_request(chunk_url, method)[0] == 401, method
    got = s3.get_object(Bucket=lock_bucket, Key="worm/chunk.bin", VersionId=version)
    assert got["Body"].read() == data


# -- the filer back door for an insider with the keys (helpers used by the integrity tests) ---


def test_insider_finds_the_keys_from_the_filer_url(sw: EmbeddedSeaweed, s3: Any, lock_bucket: str) -> None:
    """The integrity tests pass only ``filer_url``: the helpers read the keys from weed's cwd."""
    version = _put_locked(s3, lock_bucket, "worm/url.bin", b"found by url")
    assert filer_auth_headers(sw.filer_url, write=True) != {}
    entry = filer_get_version_entry(sw.filer_url, lock_bucket, "worm/url.bin", version)
    assert entry is not None and str(entry["FullPath"]).endswith(f"/worm/url.bin.versions/v_{version}")
    # a URL no weed serves: nothing to sign with, the request goes out unsigned
    assert filer_auth_headers("http://127.0.0.1:1", write=True) == {}


def test_filer_delete_removes_a_locked_version(sw: EmbeddedSeaweed, s3: Any, lock_bucket: str) -> None:
    keep = _put_locked(s3, lock_bucket, "worm/del.bin", b"stays")
    gone = _put_locked(s3, lock_bucket, "worm/del.bin", b"removed by an insider")
    assert filer_delete_version(sw, lock_bucket, "worm/del.bin", gone) == 204
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=lock_bucket, Key="worm/del.bin", VersionId=gone)
    assert _error(exc) == ("NoSuchVersion", 404)
    assert s3.get_object(Bucket=lock_bucket, Key="worm/del.bin", VersionId=keep)["Body"].read() == (b"stays")
    # deleting it again: the entry is not there any more
    assert filer_delete_version(sw.filer_url, lock_bucket, "worm/del.bin", gone) == 404


def test_filer_overwrite_changes_a_locked_version_in_place(sw: EmbeddedSeaweed, s3: Any, lock_bucket: str) -> None:
    original = b"original evidence " * 50
    version = _put_locked(s3, lock_bucket, "worm/over.bin", original)
    before = s3.head_object(Bucket=lock_bucket, Key="worm/over.bin", VersionId=version)

    status = filer_overwrite_version(sw, lock_bucket, "worm/over.bin", version, b"forged")
    assert status == 201

    got = s3.get_object(Bucket=lock_bucket, Key="worm/over.bin", VersionId=version)
    assert got["Body"].read() == b"forged"
    # same version id, still listed, still claims COMPLIANCE until the same date...
    assert got["VersionId"] == version
    assert got["ObjectLockMode"] == "COMPLIANCE"
    assert got["ObjectLockRetainUntilDate"] == before["ObjectLockRetainUntilDate"]
    listed = s3.list_object_versions(Bucket=lock_bucket, Prefix="worm/over.bin")["Versions"]
    assert [v["VersionId"] for v in listed] == [version]
    # ...but the ETag is recomputed from the forged bytes and the stored checksum is gone
    assert got["ETag"] != before["ETag"]
    assert got["ETag"].strip('"') == hashlib.md5(b"forged").hexdigest()  # noqa: S324
    entry = filer_get_version_entry(sw, lock_bucket, "worm/over.bin", version)
    assert entry is not None and "x-seaweedfs-checksum-value" not in entry["Extended"]  # type: ignore[operator]
    # and S3 still refuses to delete it
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=lock_bucket, Key="worm/over.bin", VersionId=version)


def test_filer_overwrite_of_missing_version_reports_404(sw: EmbeddedSeaweed, lock_bucket: str) -> None:
    assert filer_overwrite_version(sw, lock_bucket, "worm/none", "0" * 32, b"x") == 404


# -- failure modes ----------------------------------------------------------------------------


def test_missing_binary_is_a_config_error(tmp_path: Path) -> None:
    server = EmbeddedSeaweed(tmp_path, access_key="a", secret_key="b", weed_binary=tmp_path / "no-such-weed")
    with pytest.raises(ConfigError):
        server.start()


def test_second_server_on_the_same_directory_is_refused(sw: EmbeddedSeaweed) -> None:
    twin = EmbeddedSeaweed(sw.data_dir, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    with pytest.raises(StorageError):
        twin.start()
    assert sw.running


def test_non_ipv4_host_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        EmbeddedSeaweed(tmp_path, access_key="a", secret_key="b", host="::1")


def test_early_exit_raises_service_down_with_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\necho 'fake weed: cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    server = EmbeddedSeaweed(tmp_path / "d", access_key="a", secret_key="b", weed_binary=fake)
    with pytest.raises(ServiceDown) as exc:
        server.start(timeout=10)
    assert "code 3" in str(exc.value) and "fake weed: cannot start" in str(exc.value)
    assert server.pid is None


def test_security_config_keeps_its_keys_and_adds_missing_ones(tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    server = EmbeddedSeaweed(tmp_path / "d", access_key="a", secret_key="b", weed_binary=fake)
    server.config_dir.mkdir(mode=0o755, parents=True)
    server.security_config_path.write_text('[jwt.filer_signing]\nkey = "kept \\"quoted\\" key"\n')
    with pytest.raises(ServiceDown):
        server.start(timeout=10)
    keys = read_jwt_keys(server.security_config_path)
    assert keys["jwt.filer_signing"] == 'kept "quoted" key'
    assert set(keys) == set(JWT_SECTIONS)
    assert stat.S_IMODE(server.config_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.security_config_path.stat().st_mode) == 0o600
    # the insider's token: HS256 over the kept key, expiring in a minute
    header, claims, signature = server.filer_auth_headers()["Authorization"].removeprefix("Bearer ").split(".")
    expected = hmac.new(b'kept "quoted" key', f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert 50 < json.loads(base64.urlsafe_b64decode(claims + "=="))["exp"] - time.time() <= 60
    with pytest.raises(ServiceDown):
        server.start(timeout=10)
    assert read_jwt_keys(server.security_config_path) == keys  # a second start changes nothing


# -- stop and restart (last: they restart the module's server) --------------------------------


def _assert_fully_stopped(sw: EmbeddedSeaweed, pid: int, ports: dict[str, int]) -> None:
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # no process left in its group
    assert sw.pid is None
    assert list(sw.run_dir.glob("*.sock")) == []
    strays = [
        p
        for p in Path("/tmp").glob("seaweedfs-*-grpc-*.sock")
        if any(p.name.endswith(f"-{port}.sock") for port in ports.values())
    ]
    assert strays == []


def test_stop_and_restart_keep_data_and_locks(
    sw: EmbeddedSeaweed, s3: Any, lock_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = _put_locked(s3, lock_bucket, "worm/persist.bin", b"survives restarts")
    pid, ports = sw.pid, sw.ports
    keys = read_jwt_keys(sw.security_config_path)
    assert pid is not None

    sw.stop()
    sw.stop()  # idempotent
    _assert_fully_stopped(sw, pid, ports)

    # same data dir, ports still free: the same endpoint comes back, with the same JWT keys;
    # WEED_* variables would override security.toml, so weed does not get them
    monkeypatch.setenv("WEED_JWT_FILER_SIGNING_KEY", "known-to-an-attacker")
    sw.start()
    assert sw.ports == ports
    assert read_jwt_keys(sw.security_config_path) == keys
    url = filer_version_url(sw.filer_url, lock_bucket, "worm/persist.bin", version)
    assert http_request(url, "DELETE")[0] == 401
    assert http_request(url, "DELETE", headers=_bearer(mint_jwt("known-to-an-attacker")))[0] == 401
    s3 = _client(sw)
    got = s3.get_object(Bucket=lock_bucket, Key="worm/persist.bin", VersionId=version)
    assert got["Body"].read() == b"survives restarts"
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=lock_bucket, Key="worm/persist.bin", VersionId=version)

    # a port taken meanwhile: new ports, same data
    pid = sw.pid
    assert pid is not None
    sw.stop()
    _assert_fully_stopped(sw, pid, ports)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", ports["s3"]))
        squatter.listen()
        sw.start()
    assert sw.ports["s3"] != ports["s3"]
    s3 = _client(sw)
    got = s3.get_object(Bucket=lock_bucket, Key="worm/persist.bin", VersionId=version)
    assert got["Body"].read() == b"survives restarts"
    assert got["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=lock_bucket, Key="worm/persist.bin", VersionId=version)
