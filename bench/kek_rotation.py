"""What a KEK rotation costs (ADR 0011): keys re-wrapped per second, for the file store and a
SoftHSM2 token, next to the same number of bare wrap+unwrap operations on the same store
without the index (the fastest honest baseline: the store's own work), in one run.

    .venv/bin/python -m bench.kek_rotation [N]      (default 20000 keys)

SoftHSM2 needs the Debian package softhsm2; without it only the file store is measured.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import insert

from bench.common import bench_vault
from vault.config import Settings
from vault.context import VaultContext
from vault.envelope.keyring import DataKeyBinding
from vault.index.models import SubjectKey, Tenant
from vault.keys import epochs, rotation
from vault.keys.kek.store import KekStore


def _softhsm(work: Path) -> tuple[str, Path] | None:
    lib = "/usr/lib/softhsm/libsofthsm2.so"
    if not Path(lib).exists() or shutil.which("softhsm2-util") is None:
        return None
    (work / "tokens").mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {work / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "12345678", "--pin", "1234"],
        check=True,
        capture_output=True,
    )
    pin = work / "pin"
    pin.write_text("1234")
    return lib, pin


def _fill(ctx: VaultContext, n: int) -> None:
    """``n`` live data keys under the current epoch, inserted in bulk."""
    now = dt.datetime.now(dt.UTC)
    with ctx.sessions() as s:
        if s.get(Tenant, "acme") is None:
            s.add(Tenant(id="acme", proof_years=15, created_at=now))
            s.commit()
        epoch = epochs.current_epoch(s)
    rows = []
    for i in range(n):
        b = DataKeyBinding("acme", f"subject-{i}", "support", 1)
        _dek, wrapped = ctx.keyring.new_data_key(b, epoch)
        rows.append(
            {"tenant_id": "acme", "subject": b.subject, "scope": "support", "generation": 1,
             "wrapped_key": wrapped, "kek_id": f"epoch-{epoch}", "epoch": epoch, "created_at": now}
        )  # fmt: skip
    with ctx.sessions() as s:
        for k in range(0, n, 5000):
            s.execute(insert(SubjectKey), rows[k : k + 5000])
        s.commit()


def _bare(store: KekStore, n: int) -> float:
    """Seconds for ``n`` unwrap + wrap pairs on the store alone."""
    store.create(999)
    blobs = [store.wrap(999, os.urandom(32), b"aad") for _ in range(n)]
    t = time.perf_counter()
    for blob in blobs:
        store.wrap(999, store.unwrap(999, blob, b"aad"), b"aad")
    took = time.perf_counter() - t
    store.destroy(999)
    return took


def measure(settings: Settings, name: str, n: int) -> None:
    ctx = VaultContext.open(settings, migrate_schema=True)
    try:
        ctx.store.ensure_bucket()
        _fill(ctx, n)
        t = time.perf_counter()
        result = rotation.rotate(ctx, reason="bench")
        took = time.perf_counter() - t
        bare = _bare(ctx.kek, n)
        print(
            f"{name:8} {n} keys: rotation {took:6.2f} s = {n / took:8.0f} keys/s; store alone {bare:6.2f} s = "
            f"{n / bare:8.0f} keys/s; rotation / store alone = {bare / took:.2f}x  (re-wrapped {result.rewrapped})"
        )
    finally:
        ctx.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with bench_vault() as bv:
        measure(replace(bv.settings, bucket="bench-kek-file"), "file", n)
        work = Path(tempfile.mkdtemp(prefix="vault-bench-hsm-"))
        hsm = _softhsm(work)
        if hsm is None:
            print("pkcs11   skipped: apt-get install softhsm2")
            return
        lib, pin = hsm
        home = bv.settings.home.parent / "home-hsm"
        (home / "run").mkdir(parents=True)
        s = replace(
            bv.settings,
            home=home,
            database_url=f"sqlite:///{home / 'index.sqlite3'}",
            bucket="bench-kek-hsm",
            kek_store="pkcs11",
            pkcs11_library=lib,
            pkcs11_token="bench",  # noqa: S106 - a token label
            pkcs11_pin_file=pin,
        )
        measure(s, "pkcs11", n)


if __name__ == "__main__":
    main()
