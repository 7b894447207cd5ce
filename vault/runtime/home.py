"""``vault init``: create the home folder, the development PKI, the first KEK epoch and the index schema.

Idempotent: existing keys and configuration are kept; only what is missing is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from vault.checkpoint.log import signed_any
from vault.config import Settings, load_settings, write_default_config
from vault.errors import KeyError_
from vault.index.db import make_engine, migrate, session_factory
from vault.index.models import PseudonymKey, SubjectKey
from vault.keys.epochs import ensure_current
from vault.keys.kek.store import open_store
from vault.keys.notekey import ensure_note_key
from vault.keys.pki import generate_dev_pki


@dataclass(frozen=True)
class InitResult:
    home: Path
    config: Path
    keys: Path
    database: str


def init_home(home: Path) -> InitResult:
    home = home.absolute()
    cfg = write_default_config(home)
    settings: Settings = load_settings(home)
    for d in (settings.keys_dir, settings.run_dir, home / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    settings.keys_dir.chmod(0o700)
    # Development keys only where the configuration points into our own keys folder.
    generate_dev_pki(
        settings.keys_dir,
        seal=settings.seal_cert.parent == settings.keys_dir,
        tsa=settings.tsa_cert.parent == settings.keys_dir,
    )
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        kek = open_store(settings)
        sessions = session_factory(engine)
        with sessions() as s:
            used = set(s.scalars(select(SubjectKey.epoch).where(SubjectKey.wrapped_key.is_not(None))).all())
            used |= set(s.scalars(select(PseudonymKey.epoch).where(PseudonymKey.wrapped_key.is_not(None))).all())
        missing = sorted(used - set(kek.epochs()))
        if missing:
            # a new key would not help: what the index holds stays unreadable without these
            raise KeyError_(
                "the KEK store lacks epochs that wrapped keys in the index need",
                detail=f"epoch(s) {missing} not in {kek.description}; restore the KEK store "
                "(or, after restoring an index backup, run `vault kek restore`)",
            )
        ensure_current(engine, sessions, kek, settings.run_dir)
        with sessions() as s:  # the Ed25519 key that signs checkpoints (docs/long-term.md)
            ensure_note_key(settings, signed_before=signed_any(s))
    finally:
        engine.dispose()
    return InitResult(home, cfg, settings.keys_dir, engine.url.render_as_string(hide_password=True))
