"""Exactly-once deposits: a retry with the same idempotency key returns the same item(s) and
receipt(s), never a second item; the key used for another deposit is 409; two concurrent
deposits with one key make one item (the other is 409 "in progress"); the key is sealed in
the evidence."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api_support import ApiServer
from vault.access.principal import Principal, Role
from vault.context import VaultContext
from vault.errors import IdempotencyConflict, IdempotencyInProgress
from vault.index.models import IdempotencyKey, Item
from vault.service import deposit as deposits

TECH = Principal("key:test", Role.TECHNICIAN, tenant="acme", key_id="0" * 16)


def _items(ctx: VaultContext) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Item).where(Item.state != "orphaned")) or 0)


def _post(c: httpx.Client, body: bytes, key: str | None, kind: str = "session_log", **form: str) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return c.post(
        "/v1/evidence",
        data={"session": "S-1", "kind": kind, **form},
        files={"file": ("f.bin", body)},
        headers=headers,
    )


def test_without_a_key_a_retry_is_a_duplicate_and_with_one_it_is_not(api_server: ApiServer) -> None:
    tech = api_server.key("technician")
    body = b"session log line\n" * 50
    with api_server.client(tech) as c:
        # the bug the key fixes: a retry after a lost acknowledgement makes a second item
        a, b = _post(c, body, None), _post(c, body, None)
        assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
        before = _items(api_server.ctx)
        first = _post(c, body, "retry-1")
        again = _post(c, body, "retry-1")
        assert first.status_code == again.status_code == 201, again.text
        assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()  # same item, same receipt, byte for byte
        assert _items(api_server.ctx) == before + 1
        evidence = json.loads(__import__("base64").b64decode(first.json()["receipt"]["evidence"]))
        assert evidence["idempotency_key"] == "retry-1" and evidence["type"] == "vault-evidence/2"


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"body": b"other content\n"}, "content"),
        ({"form": {"session": "S-2"}}, "session"),
        ({"kind": "request"}, "kind"),
        ({"form": {"subject": "zoe"}}, "subject"),
        ({"body": b"session log line\n" * 50 + b"x"}, "content"),
    ],
)
def test_the_key_used_for_another_deposit_is_a_conflict(
    api_server: ApiServer, change: dict[str, Any], what: str
) -> None:
    tech = api_server.key("technician")
    body = b"session log line\n" * 50
    with api_server.client(tech) as c:
        assert _post(c, body, "k-conflict").status_code == 201
        n = _items(api_server.ctx)
        form = {"session": "S-1", **change.get("form", {})}
        r = c.post(
            "/v1/evidence",
            data={"kind": change.get("kind", "session_log"), **form},
            files={"file": ("f.bin", change.get("body", body))},
            headers={"Idempotency-Key": "k-conflict"},
        )
        assert r.status_code == 409, r.text
        assert r.json()["type"] == "/problems/idempotency_conflict" and what in r.json()["detail"]
        assert _items(api_server.ctx) == n


def test_keys_are_scoped_by_tenant_and_validated(api_server: ApiServer) -> None:
    acme, beta = api_server.key("technician"), api_server.key("technician", tenant="beta")
    body = b"x" * 100
    with api_server.client(acme) as a, api_server.client(beta) as b:
        ra, rb = _post(a, body, "shared"), _post(b, body, "shared")
        assert ra.status_code == rb.status_code == 201 and ra.json()["id"] != rb.json()["id"]
        for bad in ("", "x" * 201, "caf\u00e9".encode(), "tab\there"):
            r = a.post(
                "/v1/evidence",
                data={"session": "S-1", "kind": "session_log"},
                files={"file": ("f.bin", body)},
                headers={"Idempotency-Key": bad},  # type: ignore[dict-item]
            )
            assert r.status_code == 422 and "idempotency key" in r.json()["detail"], (bad, r.text)


def test_transaction_proof_and_multipart_replay(api_server: ApiServer) -> None:
    tech = api_server.key("technician")
    big = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # past the multipart threshold
    with api_server.client(tech) as c:
        first = _post(c, big, "big-1", kind="transaction_proof")
        assert first.status_code == 201, first.text
        n = _items(api_server.ctx)
        again = _post(c, big, "big-1", kind="transaction_proof")
        assert again.status_code == 201 and again.json() == first.json()
        assert _items(api_server.ctx) == n
        other = _post(c, big[:-1] + b"\x00", "big-1", kind="transaction_proof")
        assert other.status_code == 409


def test_records_one_key_per_call(api_server: ApiServer) -> None:
    tech = api_server.key("technician")
    recs = b'{"ip": "192.0.2.1", "port": 443}\n{"ip": "192.0.2.2", "port": 80}\n'
    with api_server.client(tech) as c:
        first = _post(c, recs, "rec-1", kind="connection_metadata", subject="erin")
        assert first.status_code == 201, first.text
        assert first.json()["count"] == 2
        n = _items(api_server.ctx)
        again = _post(c, recs, "rec-1", kind="connection_metadata", subject="erin")
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert _items(api_server.ctx) == n
        other = _post(c, recs.replace(b"443", b"444"), "rec-1", kind="connection_metadata", subject="erin")
        assert other.status_code == 409 and other.json()["type"] == "/problems/idempotency_conflict"
        as_file = _post(c, b"a log", "rec-1")
        assert as_file.status_code == 409


def test_a_refused_deposit_frees_its_key(api_server: ApiServer) -> None:
    tech = api_server.key("technician")
    with api_server.client(tech) as c:
        r = c.post(
            "/v1/evidence",
            data={"session": "S-1", "kind": "session_log"},
            files={"file": ("f", b"abc")},
            headers={"Idempotency-Key": "free-1", "X-Content-SHA256": "0" * 64},
        )
        assert r.status_code == 422
        with api_server.ctx.sessions() as s:
            assert s.get(IdempotencyKey, ("acme", "free-1")) is None
        assert _post(c, b"abc", "free-1").status_code == 201


class _Slow(io.RawIOBase):
    """A payload that arrives slowly: the first deposit holds its claim meanwhile."""

    def __init__(self, data: bytes, started: threading.Event, go: threading.Event) -> None:
        self.data, self.pos, self.started, self.go = data, 0, started, go

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.pos == 0:
            self.started.set()
            self.go.wait(30)
        n = min(len(b), len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def test_two_concurrent_deposits_with_one_key_make_one_item(ctx: VaultContext) -> None:
    from vault.retention.contract import create_tenant

    create_tenant(ctx, "acme")
    data = b"concurrent\n" * 100
    started, go = threading.Event(), threading.Event()
    out: dict[str, Any] = {}

    def first() -> None:
        out["first"] = deposits.deposit_file(
            ctx, TECH, _Slow(data, started, go), tenant="acme", session="S", kind="session_log",
            idempotency_key="same",
        )  # fmt: skip

    t = threading.Thread(target=first)
    t.start()
    assert started.wait(30)
    with pytest.raises(IdempotencyInProgress):  # the first holds the claim: answered at once
        deposits.deposit_file(
            ctx, TECH, io.BytesIO(data), tenant="acme", session="S", kind="session_log", idempotency_key="same"
        )
    go.set()
    t.join(30)
    again = deposits.deposit_file(
        ctx, TECH, io.BytesIO(data), tenant="acme", session="S", kind="session_log", idempotency_key="same"
    )
    assert deposits.replayed(again) and not deposits.replayed(out["first"])
    assert again.item_id == out["first"].item_id and again.encoded() == out["first"].encoded()
    assert _items(ctx) == 1
    with pytest.raises(IdempotencyConflict):
        deposits.deposit_file(
            ctx, TECH, io.BytesIO(b"other"), tenant="acme", session="S", kind="session_log", idempotency_key="same"
        )


def test_a_dead_claim_is_taken_over(ctx: VaultContext) -> None:
    """A deposit that died after its claim (its intent orphaned by recovery) does not hold the
    key for ever: the next deposit with it proceeds."""
    from vault.retention.contract import create_tenant

    create_tenant(ctx, "acme")
    now = ctx.now()
    with ctx.sessions() as s:
        s.add(IdempotencyKey(tenant_id="acme", key="dead", state="pending", call="file", item_ids="ev_gone",
                             created_at=now))  # fmt: skip
        s.commit()
    r = deposits.deposit_file(
        ctx, TECH, io.BytesIO(b"x"), tenant="acme", session="S", kind="session_log", idempotency_key="dead"
    )
    assert not deposits.replayed(r)
    with ctx.sessions() as s:
        row = s.get(IdempotencyKey, ("acme", "dead"))
        assert row is not None and row.state == "done" and row.item_ids == r.item_id
    time.sleep(0)
