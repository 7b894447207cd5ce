"""Connection metadata: the seeds' fields checked at deposit (the whole call refused, naming the
field, nothing kept), public IPs enriched with country and AS from geoip2fast's bundled
database, as committed fields flagged in the sealed evidence.json."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api_support import ApiServer
from conftest import run_cli
from vault.access.principal import SYSTEM
from vault.batch.sealer import seal_pending
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import InputError
from vault.index.models import Item, Segment
from vault.ingest import connection
from vault.ingest.common import validate
from vault.ingest.connection import (
    DEVICE,
    DEVICE_ID_MAX,
    IP,
    PORT,
    TIME,
    Address,
    Geo,
    check_record,
    connection_records,
    derived_evidence,
    enrich,
    field_type,
    geoip_database,
    public_address,
)
from vault.privacy.reading import decoded_fields
from vault.proof.export import export_proof
from vault.service.deposit import deposit_records
from vault.verify.bundle import verify_bundle
from vault.verify.online import load_item, verify_item

T0 = "2026-11-23T14:13:30Z"


class FakeDB:
    """A database that knows two networks, and counts its lookups."""

    source = "fake 1 fake.dat 20260101"
    sha256 = "0" * 64

    def __init__(self) -> None:
        self.looked_up: list[Address] = []

    def lookup(self, address: Address) -> Geo:
        self.looked_up.append(address)
        if address in ipaddress.ip_network("8.8.8.0/24"):
            return Geo("US", "GOOGLE", "8.8.8.0/24")
        if address in ipaddress.ip_network("2a01:e00::/26"):
            return Geo("FR", None, None)  # a country without AS data
        return Geo(None, None, None)


def _req(kind: str = "connection_metadata") -> Any:
    return validate(tenant="acme", session="s1", kind=kind, subject="alice")


def _refused(fields: dict[str, Any], *words: str) -> str:
    with pytest.raises(InputError) as e:
        check_record(fields)
    text = str(e.value)
    for w in words:
        assert w in text, (fields, text)
    return text


# -- which fields are checked --------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ip", IP),
        ("ip_address", IP),
        ("src_ip", IP),
        ("dst_ip", IP),
        ("client_ip", IP),
        ("port", PORT),
        ("src_port", PORT),
        ("at", TIME),
        ("time", TIME),
        ("timestamp", TIME),
        ("start", TIME),
        ("end", TIME),
        ("connected_at", TIME),
        ("start_time", TIME),
        ("device", DEVICE),
        ("device_id", DEVICE),
        ("client_device_id", DEVICE),
        ("peer_device", DEVICE),
        ("user", None),
        ("note", None),
        ("_ip", None),  # a suffix alone is no name
        ("ip.country", None),  # derived: reserved, not checked
        ("zip", None),
        ("support", None),
    ],
)
def test_field_types_follow_the_names(name: str, expected: str | None) -> None:
    assert field_type(name) == expected


# -- validation ------------------------------------------------------------------------------
def test_a_full_record_passes_and_its_addresses_come_back_parsed() -> None:
    addresses = check_record(
        {
            "src_ip": "203.0.113.7",
            "dst_ip": "2001:db8::1",
            "client_ip": "::ffff:192.0.2.1",
            "src_port": 0,
            "dst_port": 65535,
            "start": "2026-11-23T14:13:30Z",
            "end": "2026-11-23T15:13:30.123456+01:00",  # 14:13:30.123456Z: after start
            "at": "2026-11-23T14:13:30+00:00",
            "device_id": "D" * DEVICE_ID_MAX,
            "peer_device": "laptop 7 (café)",
            "user": "bob",
            "anything": {"nested": [1, 2.5, None]},  # unknown fields pass unchecked
        }
    )
    assert addresses == {
        "src_ip": ipaddress.ip_address("203.0.113.7"),
        "dst_ip": ipaddress.ip_address("2001:db8::1"),
        "client_ip": ipaddress.ip_address("::ffff:192.0.2.1"),
    }


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"ip": "1"}, ("'ip'", "not an IPv4 or IPv6 address")),
        ({"ip": "256.1.1.1"}, ("'ip'", "not an IPv4")),
        ({"ip": "01.2.3.4"}, ("'ip'",)),  # leading zeros are ambiguous (octal?)
        ({"ip": " 8.8.8.8"}, ("'ip'",)),
        ({"ip": "8.8.8.8:443"}, ("'ip'",)),
        ({"ip": "10.0.0.0/8"}, ("'ip'",)),
        ({"src_ip": "2001:db8::g"}, ("'src_ip'",)),
        ({"dst_ip": 134744072}, ("'dst_ip'", "must be text", "int")),
        ({"ip": None}, ("'ip'", "null")),
        ({"port": -1}, ("'port'", "0 to 65535", "-1")),
        ({"src_port": 65536}, ("'src_port'", "65536")),
        ({"port": True}, ("'port'", "bool")),
        ({"port": "443"}, ("'port'", "str")),
        ({"port": 443.0}, ("'port'", "float")),
        ({"start": "2026-11-23T14:13:30"}, ("'start'", "UTC offset")),
        ({"at": "2026-11-23"}, ("'at'", "UTC offset")),
        ({"at": "yesterday"}, ("'at'", "ISO 8601")),
        ({"end": 1764000000}, ("'end'", "ISO 8601", "int")),
        ({"time": "2026-11-23T14:13:30Z" + " " * 60}, ("'time'",)),
        ({"start": T0, "end": "2026-11-23T14:13:29Z"}, ("'end'", "before 'start'")),
        ({"device_id": ""}, ("'device_id'", "printable")),
        ({"device_id": "   "}, ("'device_id'",)),
        ({"device_id": "D" * (DEVICE_ID_MAX + 1)}, ("'device_id'", str(DEVICE_ID_MAX))),
        ({"device_id": "a\nb"}, ("'device_id'",)),
        ({"device": "a\x00b"}, ("'device'",)),
        ({"device": "a\u200bb"}, ("'device'",)),  # zero-width space: a format character
        ({"device": 7}, ("'device'", "int")),
        ({"ip.country": "FR"}, ("'ip.country'", "derives")),
        ({"src_ip.as_name": "X"}, ("'src_ip.as_name'", "derives")),
        ({"a" * 51 + "_ip": "8.8.8.8"}, ("at most 53",)),
    ],
)
def test_bad_values_are_refused_naming_the_field(fields: dict[str, Any], words: tuple[str, ...]) -> None:
    _refused(fields, *words)


def test_the_first_bad_record_of_a_call_is_named_and_nothing_is_returned() -> None:
    good = {"ip": "192.0.2.1", "port": 22}
    with pytest.raises(InputError, match=r"record 3: field 'port'"):
        connection_records(_req(), [good, good, {"ip": "192.0.2.1", "port": 70000}], db=FakeDB())
    with pytest.raises(InputError, match=r"^field 'port'"):  # one record: no number
        connection_records(_req(), [{"port": 70000}], db=FakeDB())


# -- which addresses are public -----------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "192.0.2.1",  # documentation
        "198.51.100.1",
        "203.0.113.1",
        "198.18.0.1",  # benchmarking
        "0.0.0.0",  # noqa: S104 (unspecified: a value, not a bind)
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "2001:db8::1",
        "ff02::1",
        "fec0::1",  # site-local (deprecated)
        "::ffff:10.0.0.1",  # IPv4-mapped private
    ],
)
def test_non_public_addresses_are_not_looked_up(text: str) -> None:
    assert public_address(ipaddress.ip_address(text)) is None


def test_public_addresses_and_ipv4_mapped_ones() -> None:
    assert public_address(ipaddress.ip_address("8.8.8.8")) == ipaddress.IPv4Address("8.8.8.8")
    assert public_address(ipaddress.ip_address("2001:4860:4860::8888")) == ipaddress.ip_address("2001:4860:4860::8888")
    assert public_address(ipaddress.ip_address("::ffff:8.8.8.8")) == ipaddress.IPv4Address("8.8.8.8")


# -- enrichment (a fake database: pure) ------------------------------------------------------
def test_public_ips_get_their_country_and_as_private_ones_nothing() -> None:
    db = FakeDB()
    fields = {"src_ip": "8.8.8.8", "dst_ip": "10.0.0.1", "client_ip": "::ffff:8.8.8.9", "port": 443}
    out = enrich(fields, db)
    assert out.fields == {
        **fields,
        "src_ip.country": "US",
        "src_ip.as_name": "GOOGLE",
        "src_ip.as_network": "8.8.8.0/24",
        "client_ip.country": "US",
        "client_ip.as_name": "GOOGLE",
        "client_ip.as_network": "8.8.8.0/24",
    }
    assert out.derived == tuple(sorted(set(out.fields) - set(fields)))
    assert db.looked_up == [ipaddress.IPv4Address("8.8.8.8"), ipaddress.IPv4Address("8.8.8.9")]  # never 10.0.0.1
    assert enrich({"ip": "2a01:e00::1"}, db).fields == {"ip": "2a01:e00::1", "ip.country": "FR"}  # only what is known
    assert enrich({"ip": "1.2.3.4"}, db).derived == ()  # public, but unknown to the database


def test_the_call_flags_derived_fields_on_each_records_request() -> None:
    db = FakeDB()
    req = _req()
    pairs = connection_records(req, [{"ip": "8.8.8.8"}, {"ip": "192.0.2.1"}, {"ip": "8.8.8.7", "user": "x"}], db=db)
    (r1, f1), (r2, f2), (r3, _f3) = pairs
    assert f1["ip.country"] == "US" and f2 == {"ip": "192.0.2.1"}
    assert r2 is req and req.derived is None  # nothing derived: the request (and evidence.json) as before
    assert r1.derived == {
        "fields": ["ip.as_name", "ip.as_network", "ip.country"],
        "source": "fake 1 fake.dat 20260101",
        "source_sha256": "0" * 64,
    }
    assert r3 is r1  # the same derived names share one request
    assert derived_evidence([], db) is None


def test_the_database_is_not_loaded_without_a_public_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise AssertionError("loaded")

    monkeypatch.setattr(connection, "geoip_database", boom)
    pairs = connection_records(_req(), [{"ip": "10.0.0.1", "port": 1}, {"user": "bob"}])
    assert [f for _r, f in pairs] == [{"ip": "10.0.0.1", "port": 1}, {"user": "bob"}]
    # corrections (and any kind but connection_metadata) pass as they are
    corr = validate(tenant="acme", session="s1", kind="correction")
    assert connection_records(corr, [{"ip": "not checked"}]) == [(corr, {"ip": "not checked"})]


# -- the real bundled database -----------------------------------------------------------------
def test_the_bundled_database_knows_google_public_dns() -> None:
    db = geoip_database()
    assert geoip_database() is db  # once per process
    # the shipped GeoLite2 data has AS names and prefixes, not AS numbers (no "AS15169")
    assert db.lookup(ipaddress.IPv4Address("8.8.8.8")) == Geo("US", "GOOGLE", "8.8.8.0/24")
    v6 = db.lookup(ipaddress.IPv6Address("2001:4860:4860::8888"))
    assert (v6.country, v6.as_name) == ("US", "GOOGLE")
    assert db.lookup(ipaddress.IPv4Address("10.0.0.1")) == Geo(None, None, None)
    assert db.source.startswith("geoip2fast ") and " geoip2fast-asn-ipv6.dat.gz " in db.source
    assert "GeoLite2" in db.source and len(db.sha256) == 64
    out = enrich({"ip": "::ffff:8.8.8.8"}, db)
    assert out.fields["ip.country"] == "US" and out.fields["ip.as_name"] == "GOOGLE"


def test_the_database_is_never_taken_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / connection.DB_FILE).write_bytes(b"not the bundled database")  # a decoy (a pickle would run code)
    code = "from vault.ingest.connection import geoip_database as g; d = g(); print(d.source)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "GeoLite2" in r.stdout, r.stdout + r.stderr


def test_importing_the_vault_does_not_load_the_database() -> None:
    code = "import sys, vault.cli, vault.ingest.connection, vault.service.deposit; print('geoip2fast' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


# -- deposits against a real vault -------------------------------------------------------------
def _objects(ctx: VaultContext) -> list[str]:
    r = ctx.store.client.list_object_versions(Bucket=ctx.store.bucket, Prefix="t/")
    return [v["Key"] for v in r.get("Versions", [])]


def _rows(ctx: VaultContext) -> tuple[int, int]:
    with ctx.sessions() as s:
        items = s.scalar(select(func.count()).select_from(Item)) or 0
        segments = s.scalar(select(func.count()).select_from(Segment)) or 0
    return int(items), int(segments)


def _deposit(ctx: VaultContext, records: list[Any]) -> list[str]:
    receipts = deposit_records(ctx, SYSTEM, records, tenant="acme", session="s1", subject="alice", create_tenant=True)
    return [r.item_id for r in receipts]


def test_an_invalid_record_refuses_the_whole_call_and_keeps_nothing(ctx: VaultContext) -> None:
    good = {"ip": "8.8.8.8", "port": 5938, "device_id": "D-1", "start": T0}
    with pytest.raises(InputError, match=r"record 2: field 'dst_port'.*0 to 65535"):
        _deposit(ctx, [good, {**good, "dst_port": 65536}, good])
    assert _rows(ctx) == (0, 0)
    assert _objects(ctx) == []


def test_derived_fields_are_committed_sealed_and_disclosed_like_the_others(ctx: VaultContext, tmp_path: Path) -> None:
    public, private = _deposit(
        ctx,
        [
            {"ip": "8.8.8.8", "port": 5938, "device_id": "D-1", "start": T0, "end": T0},
            {"ip": "192.168.1.20", "port": 5938},
        ],
    )
    seal_pending(ctx)
    item, _ = load_item(ctx, public)
    assert item.evidence is not None
    evidence = json.loads(item.evidence)
    derived = ["ip.as_name", "ip.as_network", "ip.country"]
    assert evidence["derived"]["fields"] == derived
    assert evidence["derived"]["source"] == geoip_database().source
    assert evidence["derived"]["source_sha256"] == geoip_database().sha256
    assert set(derived) < set(evidence["commitments"])  # each a commitment of its own
    fields = decoded_fields(ctx, item)
    assert fields == {
        "ip": "8.8.8.8",
        "port": 5938,
        "device_id": "D-1",
        "start": T0,
        "end": T0,
        "subject": "alice",
        "ip.country": "US",
        "ip.as_name": "GOOGLE",
        "ip.as_network": "8.8.8.0/24",
    }
    assert verify_item(ctx, public).valid
    folder = export_proof(ctx, public, tmp_path / "p")
    assert json.loads((folder / "evidence.json").read_bytes())["derived"]["fields"] == derived
    assert verify_bundle(folder).valid

    item2, _ = load_item(ctx, private)
    assert item2.evidence is not None
    assert "derived" not in json.loads(item2.evidence)  # nothing derived: evidence.json as before
    assert decoded_fields(ctx, item2) == {"ip": "192.168.1.20", "port": 5938, "subject": "alice"}
    assert verify_item(ctx, private).valid


def test_over_http_an_invalid_record_is_a_422_naming_the_field(api_server: ApiServer) -> None:
    tech = api_server.key("technician")
    form = {"session": "S-1", "kind": "connection_metadata"}
    bad = json.dumps([{"ip": "8.8.8.8"}, {"ip": "8.8.8.8", "at": "2026-11-23 14:13"}]).encode()
    with api_server.client(tech) as c:
        r = c.post("/v1/evidence", data=form, files={"file": ("c.json", bad)})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"] == "/problems/invalid-input"
        assert "record 2: field 'at'" in problem["detail"] and "UTC offset" in problem["detail"]
        assert _rows(api_server.ctx) == (0, 0) and _objects(api_server.ctx) == []
        ok = json.dumps({"ip": "2001:4860:4860::8888", "port": 443}).encode()
        r = c.post("/v1/evidence", data=form, files={"file": ("c.json", ok)})
        assert r.status_code == 201, r.text
    item, _ = load_item(api_server.ctx, r.json()["id"])
    assert item.evidence is not None and "ip.country" in json.loads(item.evidence)["derived"]["fields"]


def test_in_the_cli_an_invalid_record_is_one_line_naming_the_field(
    settings: Settings, ctx: VaultContext, tmp_path: Path
) -> None:
    f = tmp_path / "c.jsonl"
    f.write_text('{"ip": "8.8.8.8", "port": 22}\n{"ip": "8.8.8.8", "device_id": "PC\\u0007"}\n')
    r = run_cli(settings, "deposit", str(f), "--tenant", "acme", "--session", "s", "--kind", "connection_metadata")
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: record 2: field 'device_id'") and "Traceback" not in err
    assert _rows(ctx) == (0, 0) and _objects(ctx) == []
