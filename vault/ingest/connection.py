"""Connection metadata: the fields the seeds name are checked, public IPs are enriched offline.

The seed policies list what a session's connection metadata holds: "l'adresse IP, le ou les
identifiants techniques" and "les informations géographiques de services basées sur la
localisation de l'adresse IP" (PrestaMicro), "données de connexion (adresse IP, logs, etc.)"
(VMS); the issue adds ports and times. A field is checked by its *name*
(:func:`field_type`); every other field passes unchecked, as before:

- an IP address (``ip``, ``ip_address``, ``*_ip``): IPv4 or IPv6 text as :mod:`ipaddress` reads it;
- a port (``port``, ``*_port``): an integer (not a boolean) from 0 to 65535;
- a time (``at``, ``time``, ``timestamp``, ``start``, ``end``, ``*_at``, ``*_time``): ISO 8601
  text with date, time and UTC offset; ``start``/``end`` (and the like, :data:`TIME_PAIRS`)
  in that order;
- a device id (``device``, ``device_id``, ``*_device``, ``*_device_id``): printable text of 1 to
  :data:`DEVICE_ID_MAX` characters (no control, format or separator characters but the space).

Then each *public* address (:func:`public_address`: not private, loopback, link-local,
multicast, reserved, unspecified, shared or documentation space) gets its country and
autonomous system from the database that the ``geoip2fast`` package ships
(``geoip2fast-asn-ipv6.dat.gz``: MaxMind GeoLite2 country and ASN, IPv4 and IPv6), as fields of
their own (``<field>.country``, ``<field>.as_name``, ``<field>.as_network``), committed like the
others; the record's sealed ``evidence.json`` names them and the database
(:func:`derived_evidence`). The database has no AS *numbers*: only the AS organisation's name
and the prefix it announces.

Pure logic: the database is a parameter (:class:`GeoDatabase`); :func:`geoip_database` loads
the bundled one once per process, on first use (about 0.35 s and 110 MiB).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vault.errors import ConfigError, InputError
from vault.evidence.kinds import Kind
from vault.ingest.common import DepositRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

IP = "ip address"
PORT = "port"
TIME = "time"
DEVICE = "device id"

#: longest device id, in characters
DEVICE_ID_MAX = 128
#: longest time text (a full ISO 8601 date-time with microseconds and offset is 32)
TIME_MAX = 64
#: the fields the vault derives from each public IP field ``<name>``: ``<name>.<suffix>``
DERIVED_SUFFIXES = ("country", "as_name", "as_network")
#: longest IP field name: its derived names must still be field names (64 characters)
IP_NAME_MAX = 64 - len(".as_network")
#: time fields that, when both are present, must be in this order
TIME_PAIRS = (
    ("start", "end"),
    ("started_at", "ended_at"),
    ("start_time", "end_time"),
    ("connected_at", "disconnected_at"),
)

_EXACT = {
    "ip": IP,
    "ip_address": IP,
    "port": PORT,
    "at": TIME,
    "time": TIME,
    "timestamp": TIME,
    "start": TIME,
    "end": TIME,
    "device": DEVICE,
    "device_id": DEVICE,
}
_SUFFIXES = (("_ip", IP), ("_port", PORT), ("_at", TIME), ("_time", TIME), ("_device_id", DEVICE), ("_device", DEVICE))


def field_type(name: str) -> str | None:
    """What a field of this name must hold (:data:`IP`, :data:`PORT`, :data:`TIME`,
    :data:`DEVICE`), or None for a field the vault does not check."""
    found = _EXACT.get(name)
    if found is not None:
        return found
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return kind
    return None


def _derived_base(name: str) -> str | None:
    """The IP field a derived name belongs to (``src_ip`` for ``src_ip.country``), else None."""
    base, dot, suffix = name.rpartition(".")
    if dot and suffix in DERIVED_SUFFIXES and field_type(base) == IP:
        return base
    return None


def _found(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return f"found {type(value).__name__} {text[:80]}"


def parse_address(value: Any) -> Address:
    """An IP address as text; raise InputError (without the field name: the caller adds it)."""
    if not isinstance(value, str):
        raise InputError("an IP address must be text (IPv4 or IPv6)", detail=_found(value))
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InputError("not an IPv4 or IPv6 address", detail=repr(value)[:80]) from None


def parse_time(value: Any) -> dt.datetime:
    if not isinstance(value, str) or len(value) > TIME_MAX:
        raise InputError("a time must be ISO 8601 text, e.g. 2026-11-23T14:13:30Z", detail=_found(value))
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError("not an ISO 8601 date and time", detail=repr(value)[:80]) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(
            "a time needs its date, time and UTC offset (Z or ±hh:mm), e.g. 2026-11-23T14:13:30Z",
            detail=repr(value)[:80],
        )
    return at


def check_port(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 65535:
        raise InputError("a port must be an integer from 0 to 65535", detail=_found(value))
    return value


def check_device_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > DEVICE_ID_MAX or not value.isprintable():
        raise InputError(
            f"a device id must be printable text of 1 to {DEVICE_ID_MAX} characters (no control characters)",
            detail=_found(value),
        )
    return value


_CHECKS = {PORT: check_port, DEVICE: check_device_id}


def check_record(fields: dict[str, Any]) -> dict[str, Address]:
    """The record's IP fields, parsed; raise InputError naming the first field of ``fields``
    whose value is not what its name says (:func:`field_type`), or that uses a name the vault
    derives itself."""
    times: dict[str, dt.datetime] = {}
    addresses: dict[str, Address] = {}
    for name, value in fields.items():
        if not isinstance(name, str):
            continue  # check_fields refuses it
        kind = field_type(name)
        if kind is None:
            base = _derived_base(name)
            if base is not None:
                raise InputError(
                    f"field {name!r}: the vault derives this field from {base!r}; do not send it",
                    detail="derived fields: " + ", ".join(f"<ip field>.{s}" for s in DERIVED_SUFFIXES),
                )
            continue
        if kind == IP and len(name) > IP_NAME_MAX:
            raise InputError(f"field {name!r}: an IP field's name has at most {IP_NAME_MAX} characters")
        try:
            if kind == TIME:
                times[name] = parse_time(value)
            elif kind == IP:
                addresses[name] = parse_address(value)
            else:
                _CHECKS[kind](value)
        except InputError as e:
            raise InputError(f"field {name!r}: {e.message}", detail=e.detail) from None
    for first, last in TIME_PAIRS:
        if first in times and last in times and times[last] < times[first]:
            raise InputError(
                f"field {last!r}: it is before {first!r}",
                detail=f"{fields[first]} > {fields[last]}",
            )
    return addresses


@functools.lru_cache(maxsize=4096)  # the ipaddress properties cost µs each; clients repeat their addresses
def public_address(address: Address) -> Address | None:
    """The address to look up, or None when it is not public: private (RFC 1918, ULA),
    loopback, link-local, multicast, reserved, unspecified, shared (100.64/10), documentation
    or benchmarking space. An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is its IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.scope_id:
            return None  # a scoped address names an interface of one host
    if (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    ):
        return None
    return address


@dataclass(frozen=True)
class Geo:
    """What the database says of one address; None where it says nothing."""

    country: str | None  # ISO 3166-1 alpha-2, as the database has it (e.g. "US")
    as_name: str | None  # the autonomous system's organisation (e.g. "GOOGLE")
    as_network: str | None  # the prefix that AS announces, CIDR (e.g. "8.8.8.0/24")


class GeoDatabase(Protocol):
    #: what evidence.json names as the source of the derived fields
    source: str
    #: SHA-256 (hex) of the database file, recorded with the source
    sha256: str

    def lookup(self, address: Address) -> Geo: ...


@dataclass(frozen=True)
class Enriched:
    fields: dict[str, Any]
    derived: tuple[str, ...]  # names of the fields the vault added, sorted


def enrich(fields: dict[str, Any], db: GeoDatabase) -> Enriched:
    """``fields`` (checked by :func:`check_record`) with the country and AS of each public IP
    field added. Private and other non-public addresses get nothing."""
    return _enrich(fields, _public(check_record(fields)), db)


def _public(addresses: dict[str, Address]) -> list[tuple[str, Address]]:
    out = []
    for name, address in addresses.items():
        public = public_address(address)
        if public is not None:
            out.append((name, public))
    return out


def _enrich(fields: dict[str, Any], public: list[tuple[str, Address]], db: GeoDatabase) -> Enriched:
    added: dict[str, Any] = {}
    for name, address in public:
        geo = db.lookup(address)
        for suffix, found in (("country", geo.country), ("as_name", geo.as_name), ("as_network", geo.as_network)):
            if found:
                added[f"{name}.{suffix}"] = found
    if not added:
        return Enriched(fields, ())
    return Enriched({**fields, **added}, tuple(sorted(added)))


def derived_evidence(derived: Sequence[str], db: GeoDatabase) -> dict[str, Any] | None:
    """The ``derived`` object of a record's evidence.json, or None when nothing was derived
    (such a record's evidence.json is as before)."""
    if not derived:
        return None
    return {"fields": sorted(derived), "source": db.source, "source_sha256": db.sha256}


def connection_records(
    req: DepositRequest, records: Sequence[Any], db: GeoDatabase | None = None
) -> list[tuple[DepositRequest, Any]]:
    """The (request, fields) pairs to deposit for one call: every record checked first (one bad
    field refuses the whole call, naming it), then enriched. Other record kinds pass as they are.
    ``db`` defaults to :func:`geoip_database`, loaded only when a record has a public IP."""
    if req.kind is not Kind.CONNECTION_METADATA:
        return [(req, r) for r in records]
    many = len(records) > 1
    checked: list[dict[str, Address]] = []
    for n, fields in enumerate(records):
        if not isinstance(fields, dict):  # refused with the usual message when the record is prepared
            checked.append({})
            continue
        try:
            checked.append(check_record(fields))
        except InputError as e:
            if many:
                raise InputError(f"record {n + 1}: {e.message}", detail=e.detail) from None
            raise
    out: list[tuple[DepositRequest, Any]] = []
    reqs: dict[tuple[str, ...], DepositRequest] = {(): req}  # records of a call mostly derive the same names
    for fields, addresses in zip(records, checked, strict=True):
        public = _public(addresses)
        if not public:
            out.append((req, fields))
            continue
        db = db or geoip_database()
        enriched = _enrich(fields, public, db)
        r = reqs.get(enriched.derived)
        if r is None:
            r = reqs[enriched.derived] = replace(req, derived=derived_evidence(enriched.derived, db))
        out.append((r, enriched.fields))
    return out


# -- the bundled database -------------------------------------------------------------------
DB_FILE = "geoip2fast-asn-ipv6.dat.gz"


class GeoIP2FastDatabase:
    """The database ``geoip2fast`` ships, in memory. The library keeps its tables in module
    globals: one per process (:func:`geoip_database`), nobody else in the process loads another."""

    def __init__(self, filename: str = DB_FILE) -> None:
        try:
            import geoip2fast  # type: ignore[import-untyped]

            # an absolute path: given a bare name, the library would first look in the current
            # directory, and its files are pickles (loading one runs code)
            path = os.path.join(os.path.dirname(geoip2fast.__file__), filename)
            self._geo = geoip2fast.GeoIP2Fast(verbose=False, geoip2fast_data_file=path)
        except Exception as e:  # GeoIPError, OSError, unpickling errors: the vault's own words
            raise ConfigError("the IP geolocation database cannot be loaded", detail=f"{filename}: {e}") from e
        if not (self._geo.asn and self._geo.ipv6):
            raise ConfigError("the IP geolocation database lacks ASN or IPv6 data", detail=filename)
        path = self._geo.get_database_path()
        with open(path, "rb") as f:
            self.sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        self.source = f"geoip2fast {geoip2fast.__version__} {os.path.basename(path)} {self._geo.source_info}"
        self.load_text: str = self._geo.startup_line_text

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one instance per process, kept for its life)
    def lookup(self, address: Address) -> Geo:
        r = self._geo.lookup(str(address))
        country = r.country_code if isinstance(r.country_code, str) and len(r.country_code) == 2 else None
        if r.is_private or country == "--":
            return Geo(None, None, None)
        as_name = r.asn_name if r.asn_name and r.asn_name not in ("<unknown>", "IANA.ORG") else None
        return Geo(country, as_name, r.asn_cidr if as_name and r.asn_cidr else None)


_db: GeoIP2FastDatabase | None = None
_db_lock = threading.Lock()


def geoip_database() -> GeoIP2FastDatabase:
    """The bundled database, loaded on first use (never at import or CLI start), once per process."""
    global _db
    if _db is None:
        with _db_lock:
            if _db is None:
                _db = GeoIP2FastDatabase()
    return _db
