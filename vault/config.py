"""Settings of a vault: one frozen object built from `$VAULT_HOME/config.toml` and `VAULT_*`.

Everything a running vault owns lives under ``$VAULT_HOME`` (default ``./var``): the config,
generated development keys, the SQLite index, the embedded object store and logs. Production
points the same settings at external S3, external TSAs and PostgreSQL; no code changes.
The value ``embedded`` for the S3 endpoint or a TSA URL means "the component that `vault up`
runs", whose address is read from ``$VAULT_HOME/run/state.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vault.errors import ConfigError, ServiceDown

EMBEDDED = "embedded"
MiB = 1024 * 1024


@dataclass(frozen=True)
class TSAConfig:
    """One time-stamping authority the vault asks, and the anchors its tokens must chain to."""

    url: str
    ca: Path
    cert: Path | None = None
    timeout: float = 10.0
    #: the vault operator runs this TSA (its key and clock are the operator's): its genTime
    #: proves nothing against the operator. Always true for the built-in TSA (url "embedded",
    #: or `cert` being the vault's own ``tsa_cert``); `vault init` writes it for that one.
    self_operated: bool = False


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    s3_endpoint: str = EMBEDDED
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    bucket: str = "evidence"
    tsas: tuple[TSAConfig, ...] = ()
    seal_cert: Path = Path()
    seal_key: Path = Path()
    seal_ca: Path = Path()
    #: SHA-256 fingerprints of every certificate that seals for this vault (keep old ones after
    #: a rotation); the configured seal_cert's is always added. See ADR 0009.
    seal_fingerprints: tuple[str, ...] = ()
    kek: Path = Path()  # the single KEK of vaults made before epochs (read as epoch 0)
    #: where the KEK epoch keys live: "file" (kek_dir; development) or "pkcs11" (a token)
    kek_store: str = "file"
    kek_dir: Path = Path()
    pkcs11_library: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token: str = "vault-kek"  # noqa: S105 - a token label, not a secret
    #: epoch N is the token's secret key labelled "<pkcs11_key_label>-N" (one label per vault)
    pkcs11_key_label: str = "vault-kek"
    #: a file holding the token's user PIN (VAULT_PKCS11_PIN overrides it)
    pkcs11_pin_file: Path | None = None
    #: `vault up` rotates the KEK epoch this often (every erasure also rotates); 0 = never by itself
    kek_rotate_days: float = 30.0
    tsa_cert: Path = Path()  # the embedded TSA's own certificate and key
    tsa_key: Path = Path()
    batch_max_items: int = 10_000
    batch_max_seconds: float = 5.0
    part_size: int = 16 * MiB
    multipart_threshold: int = 32 * MiB
    upload_concurrency: int = 6
    segment_max_bytes: int = 8 * MiB
    segment_max_records: int = 20_000
    segment_linger_seconds: float = 0.005
    lock_mode: str = "COMPLIANCE"
    default_proof_years: int = 15
    #: TOML retention policy (purpose -> rule); None = the built-in seed table
    retention_policy: Path | None = None
    #: DRILLS AND TESTS ONLY: lock every new object version for this many real seconds
    #: instead of its retention, so that a settable clock can walk through 12 months or 15
    #: years while the store's real locks still expire. 0 (the default) = off.
    drill_lock_seconds: float = 0.0
    #: `vault up` runs the retention (destruction, archive) this often; 0 = never by itself
    retention_interval_hours: float = 24.0
    #: `vault up` runs the completeness audit this often; 0 = never by itself
    audit_interval_hours: float = 24.0
    #: archive timestamps are renewed this long before their TSA certificate expires, and
    #: chains re-hashed this long before their algorithm is weak (docs/long-term.md)
    renew_margin_days: float = 730.0
    #: hash algorithm -> the date (YYYY-MM-DD) from which it is weak (TOML table [weak_algorithms])
    weak_algorithms: tuple[tuple[str, dt.datetime], ...] = ()
    #: what a hash-tree renewal re-hashes with
    renew_hash_algorithm: str = "sha512"
    #: `vault up` runs the renewal job this often; 0 = never by itself
    renew_interval_hours: float = 24.0
    #: the origin line of the signed checkpoints (docs/long-term.md); "" = "vault.example/<bucket>"
    checkpoint_origin: str = ""
    #: the Ed25519 note key signing them (x/mod signer key format); Path() = keys/checkpoint.key
    checkpoint_key: Path = Path()

    def pkcs11_pin(self) -> str:
        pin = os.environ.get("VAULT_PKCS11_PIN")
        if pin is not None:
            return pin
        if self.pkcs11_pin_file is None:
            raise ConfigError("kek_store = 'pkcs11' needs a PIN", detail="set VAULT_PKCS11_PIN or pkcs11_pin_file")
        try:
            return self.pkcs11_pin_file.read_text().strip()
        except OSError as e:
            raise ConfigError("cannot read pkcs11_pin_file", detail=str(e)) from e

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def log_origin(self) -> str:
        """The checkpoints' origin line (and the note key's name when `vault init` makes it)."""
        return self.checkpoint_origin or f"vault.example/{self.bucket}"

    @property
    def note_key_path(self) -> Path:
        return self.checkpoint_key if self.checkpoint_key != Path() else self.keys_dir / "checkpoint.key"

    def tsa_self_operated(self, t: TSAConfig) -> bool:
        """Whether the vault's operator runs this TSA: flagged ``self_operated``, the built-in one
        (``embedded``), or pinned to the vault's own TSA certificate (``tsa_cert``)."""
        return t.self_operated or t.url == EMBEDDED or (t.cert is not None and t.cert == self.tsa_cert)

    @property
    def exports_dir(self) -> Path:
        """Export bundles made over the API, kept until fetched or a day old (docs/export.md)."""
        return self.home / "exports"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    def with_runtime(self) -> Settings:
        """Resolve ``embedded`` addresses from the state file of the running vault."""
        if self.s3_endpoint != EMBEDDED and all(t.url != EMBEDDED for t in self.tsas):
            return self
        state = read_state(self)
        tsas = tuple(replace(t, url=state["tsa_url"]) if t.url == EMBEDDED else t for t in self.tsas)
        endpoint = state["s3_endpoint"] if self.s3_endpoint == EMBEDDED else self.s3_endpoint
        return replace(self, s3_endpoint=endpoint, tsas=tsas)


def read_state(settings: Settings) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(settings.state_file.read_text())
    except FileNotFoundError as e:
        raise ServiceDown(
            "the embedded vault is not running",
            detail=f"no {settings.state_file}; start it with `vault up`",
        ) from e
    return data


def default_home() -> Path:
    return Path(os.environ.get("VAULT_HOME", "var")).absolute()


def _path(home: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else home / p


_INT_KEYS = {
    "batch_max_items",
    "part_size",
    "multipart_threshold",
    "upload_concurrency",
    "segment_max_bytes",
    "segment_max_records",
    "default_proof_years",
}
_FLOAT_KEYS = {
    "batch_max_seconds",
    "segment_linger_seconds",
    "drill_lock_seconds",
    "retention_interval_hours",
    "audit_interval_hours",
    "kek_rotate_days",
    "renew_margin_days",
    "renew_interval_hours",
}
_STR_KEYS = {
    "database_url",
    "s3_endpoint",
    "s3_region",
    "s3_access_key",
    "s3_secret_key",
    "bucket",
    "lock_mode",
    "kek_store",
    "pkcs11_library",
    "pkcs11_token",
    "pkcs11_key_label",
    "checkpoint_origin",
    "renew_hash_algorithm",
}
_TSA_KEYS = {"url", "ca", "cert", "timeout", "self_operated"}


def _seal_fingerprints(value: object) -> tuple[str, ...]:
    """``seal_fingerprints``: a list of SHA-256 certificate fingerprints (hex, colons allowed)."""
    from vault.seal.identity import normalize_fingerprint

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("seal_fingerprints is a list of SHA-256 fingerprints", detail=repr(value)[:200])
    return tuple(normalize_fingerprint(v) for v in value)


def _weak_algorithms(value: object) -> tuple[tuple[str, dt.datetime], ...]:
    """``[weak_algorithms]``: algorithm = "YYYY-MM-DD" (the day it stops counting as secure)."""
    if not isinstance(value, dict):
        raise ConfigError('weak_algorithms is a table: sha256 = "2040-01-01"', detail=repr(value)[:200])
    out = []
    for name, day in sorted(value.items()):
        try:
            at = dt.datetime.combine(dt.date.fromisoformat(str(day)), dt.time(), tzinfo=dt.UTC)
        except ValueError:
            raise ConfigError(f"weak_algorithms.{name} is not a date YYYY-MM-DD", detail=repr(day)) from None
        out.append((str(name), at))
    return tuple(out)


_PATH_KEYS = {
    "seal_cert",
    "seal_key",
    "seal_ca",
    "kek",
    "kek_dir",
    "pkcs11_pin_file",
    "tsa_cert",
    "tsa_key",
    "retention_policy",
    "checkpoint_key",
}


def load_settings(home: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``config.toml`` under the home, then apply ``VAULT_*`` environment overrides."""
    env = os.environ if env is None else env
    home = (home or Path(env.get("VAULT_HOME", "var"))).absolute()
    raw: dict[str, Any] = {}
    cfg = home / "config.toml"
    if cfg.exists():
        try:
            raw = tomllib.loads(cfg.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError("config.toml is not valid TOML", detail=f"{cfg}: {e}") from e
    for key in _INT_KEYS | _FLOAT_KEYS | _STR_KEYS | _PATH_KEYS:
        env_key = "VAULT_" + key.upper()
        if env_key in env:
            raw[key] = env[env_key]
    if "VAULT_TSA_URLS" in env:
        # VAULT_TSA_URLS="url|ca.pem[|tsa.pem],url|ca.pem"
        raw["tsa"] = []
        for spec in filter(None, env["VAULT_TSA_URLS"].split(",")):
            parts = spec.split("|")
            if len(parts) < 2:
                raise ConfigError("VAULT_TSA_URLS entries are url|ca.pem[|tsa.pem]", detail=spec)
            raw["tsa"].append({"url": parts[0], "ca": parts[1], "cert": parts[2] if len(parts) > 2 else None})
    if "VAULT_SEAL_FINGERPRINTS" in env:  # comma-separated
        raw["seal_fingerprints"] = [f for f in env["VAULT_SEAL_FINGERPRINTS"].split(",") if f.strip()]
    seal_fingerprints = _seal_fingerprints(raw.pop("seal_fingerprints", []))
    weak_algorithms = _weak_algorithms(raw.pop("weak_algorithms", {}))

    # a typo must not silently fall back to a default (e.g. a shorter retention)
    if raw.get("operational_months", 12) != 12:
        raise ConfigError(
            "operational_months is no longer a setting",
            detail="retention periods come from the retention policy file (retention_policy); see docs/retention.md",
        )
    unknown = set(raw) - _INT_KEYS - _FLOAT_KEYS - _STR_KEYS - _PATH_KEYS - {"tsa", "operational_months"}
    if unknown:
        raise ConfigError("unknown settings in config.toml", detail=", ".join(sorted(unknown)))
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            if key in _INT_KEYS:
                kwargs[key] = int(value)
            elif key in _FLOAT_KEYS:
                kwargs[key] = float(value)
            elif key in _STR_KEYS:
                kwargs[key] = str(value)
            elif key in _PATH_KEYS:
                kwargs[key] = _path(home, str(value))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"setting {key!r} has an invalid value", detail=repr(value)) from e
    tsas = []
    for t in raw.get("tsa", []):
        if not isinstance(t, dict) or "url" not in t or "ca" not in t:
            raise ConfigError("each [[tsa]] entry needs url and ca", detail=repr(t))
        if set(t) - _TSA_KEYS:  # e.g. a setting appended below the [[tsa]] table
            raise ConfigError(
                "unknown keys in a [[tsa]] entry (settings go above the [[tsa]] tables)",
                detail=", ".join(sorted(set(t) - _TSA_KEYS)),
            )
        if not isinstance(t.get("self_operated", False), bool):
            raise ConfigError("a TSA's self_operated is true or false", detail=repr(t.get("self_operated")))
        if not str(t["url"]).strip() or not str(t["ca"]).strip():
            raise ConfigError("a TSA needs a non-empty url and ca", detail=repr(t))
        try:
            timeout = float(t.get("timeout", 10.0))
        except (TypeError, ValueError) as e:
            raise ConfigError("TSA timeout must be a number of seconds", detail=repr(t.get("timeout"))) from e
        tsas.append(
            TSAConfig(
                url=str(t["url"]),
                ca=_path(home, str(t["ca"])),
                cert=_path(home, str(t["cert"])) if t.get("cert") else None,
                timeout=timeout,
                self_operated=bool(t.get("self_operated", False)),
            )
        )
    keys = home / "keys"
    defaults: dict[str, Any] = {
        "database_url": f"sqlite:///{home / 'index.sqlite3'}",
        "seal_cert": keys / "seal.pem",
        "seal_key": keys / "seal.key",
        "seal_ca": keys / "seal-ca.pem",
        "kek": keys / "kek.key",
        "kek_dir": keys / "kek",
        "tsa_cert": keys / "tsa.pem",
        "tsa_key": keys / "tsa.key",
    }
    for k, v in defaults.items():
        kwargs.setdefault(k, v)
    if not tsas:
        tsas = [TSAConfig(url=EMBEDDED, ca=keys / "tsa-ca.pem", cert=keys / "tsa.pem", self_operated=True)]
    settings = Settings(
        home=home, tsas=tuple(tsas), seal_fingerprints=seal_fingerprints, weak_algorithms=weak_algorithms, **kwargs
    )
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
        raise ConfigError("lock_mode must be COMPLIANCE or GOVERNANCE", detail=s.lock_mode)
    if not 15 <= s.default_proof_years <= 99:
        raise ConfigError("default_proof_years must be between 15 and 99", detail=str(s.default_proof_years))
    if s.part_size < 5 * MiB:
        raise ConfigError("part_size must be at least 5 MiB (S3 multipart minimum)", detail=str(s.part_size))
    if not 0 <= s.retention_interval_hours <= 24 * 31:
        raise ConfigError(
            "retention_interval_hours must be between 0 (off) and 744", detail=str(s.retention_interval_hours)
        )
    if not 0 <= s.audit_interval_hours <= 24 * 31:
        raise ConfigError("audit_interval_hours must be between 0 (off) and 744", detail=str(s.audit_interval_hours))
    if not 0 <= s.drill_lock_seconds <= 86400:
        raise ConfigError("drill_lock_seconds must be between 0 (off) and 86400", detail=str(s.drill_lock_seconds))
    if s.segment_max_records < 1 or s.segment_max_bytes < 64 * 1024 or s.upload_concurrency < 1:
        raise ConfigError("segment_max_records >= 1, segment_max_bytes >= 64 KiB and upload_concurrency >= 1")
    if s.kek_store not in ("file", "pkcs11"):
        raise ConfigError("kek_store must be 'file' or 'pkcs11'", detail=s.kek_store)
    if not 1 <= s.renew_margin_days <= 36500 or not 0 <= s.renew_interval_hours <= 24 * 31:
        raise ConfigError(
            "renew_margin_days must be 1 to 36500 and renew_interval_hours 0 (off) to 744",
            detail=f"{s.renew_margin_days}, {s.renew_interval_hours}",
        )
    from vault.renewal.policy import ALGORITHMS

    if s.renew_hash_algorithm not in ALGORITHMS or any(name not in ALGORITHMS for name, _ in s.weak_algorithms):
        raise ConfigError("renew_hash_algorithm and weak_algorithms name: " + ", ".join(ALGORITHMS))
    if s.renew_hash_algorithm in dict(s.weak_algorithms):
        raise ConfigError("renew_hash_algorithm is itself marked weak", detail=s.renew_hash_algorithm)
    if not 0 <= s.kek_rotate_days <= 366:
        raise ConfigError("kek_rotate_days must be between 0 (off) and 366", detail=str(s.kek_rotate_days))
    if not s.log_origin.isprintable() or any(c.isspace() or c == "+" for c in s.log_origin):
        raise ConfigError("checkpoint_origin has no spaces or '+'", detail=repr(s.log_origin))
    if s.batch_max_items < 1 or s.batch_max_seconds <= 0:
        raise ConfigError("batch_max_items must be >= 1 and batch_max_seconds > 0")


def write_default_config(home: Path) -> Path:
    """Write a commented ``config.toml`` for the embedded default, unless one exists."""
    cfg = home / "config.toml"
    if cfg.exists():
        return cfg
    home.mkdir(parents=True, exist_ok=True)
    access = "vault-" + secrets.token_hex(6)
    secret = secrets.token_urlsafe(30)
    text = f"""\
# Evidence vault configuration. Every key can be overridden by VAULT_<KEY> in the environment.
# Relative paths are relative to this folder ($VAULT_HOME).

# SQL index: SQLite here; production: postgresql+psycopg://user@host/db
database_url = "sqlite:///{home / "index.sqlite3"}"

# Object storage. "embedded" = the SeaweedFS that `vault up` runs on 127.0.0.1.
s3_endpoint = "embedded"
s3_region = "us-east-1"
s3_access_key = "{access}"
s3_secret_key = "{secret}"
bucket = "evidence"
lock_mode = "COMPLIANCE"

# Batching: a batch is sealed every batch_max_items items or batch_max_seconds seconds.
batch_max_items = 10000
batch_max_seconds = 5.0

# Contract default for tenants created on first deposit (15..99 years of proof retention).
default_proof_years = 15
# Retention policy: purpose -> rule. Unset = the built-in seed table (vault/retention/default_policy.toml).
# retention_policy = "retention-policy.toml"
# `vault up` runs the retention (what `vault retention apply` does) every N hours; 0 = never.
retention_interval_hours = 24
# `vault up` runs the completeness audit (what `vault audit` does) every N hours; 0 = never.
audit_interval_hours = 24

# Sealing certificate (CMS signer) and its CA; key-encryption key for subjects' data keys.
seal_cert = "keys/seal.pem"
seal_key = "keys/seal.key"
seal_ca = "keys/seal-ca.pem"
# Certificates allowed to seal for this vault, by SHA-256 fingerprint (seal_cert's is always
# included; list the old one here after a rotation so that its seals keep verifying).
# seal_fingerprints = ["<64 hex digits>"]
# Key-encryption keys, by epoch: "file" keeps them in kek_dir (development only: a deleted
# file may survive on disk and in backups); production: "pkcs11" with an HSM's library.
kek_store = "file"
kek_dir = "keys/kek"
# kek_store = "pkcs11"
# pkcs11_library = "/usr/lib/softhsm/libsofthsm2.so"
# pkcs11_token = "vault-kek"
# pkcs11_pin_file = "/etc/vault/pkcs11.pin"   # or VAULT_PKCS11_PIN in the environment
# `vault up` rotates the KEK epoch every N days (each erasure rotates it too); 0 = never.
kek_rotate_days = 30
# Signed checkpoints of the batch log (docs/long-term.md): their origin line, e.g. your host
# and bucket; unset = "vault.example/<bucket>". Set it before the first batch: witnesses pin it.
# checkpoint_origin = "vault.example.com/evidence"

# Time-stamping authorities, tried in order; tokens must chain to `ca` (and match `cert`).
# The built-in TSA is self-operated: its key and clock are yours, so its tokens prove nothing
# against you. Production: add an independent (ideally qualified) TSA; see infra/tsa/README.md.
[[tsa]]
url = "embedded"
ca = "keys/tsa-ca.pem"
cert = "keys/tsa.pem"
self_operated = true
"""
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return cfg
