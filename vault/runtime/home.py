"""``vault init``: create the home folder, the development PKI, the KEK and the index schema.

Idempotent: existing keys and configuration are kept; only what is missing is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from vault.config import Settings, load_settings, write_default_config
from vault.envelope.keyring import load_or_create_kek
from vault.errors import KeyError_
from vault.index.db import make_engine, migrate
from vault.index.models import SubjectKey
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
        if not settings.kek.exists():
            with engine.connect() as conn:
                wrapped = conn.execute(select(func.count()).select_from(SubjectKey)).scalar_one()
            if wrapped:
                raise KeyError_(
                    "the key-encryption key is missing but data keys wrapped by it exist",
                    detail=f"{wrapped} wrapped key(s) in the index; restore {settings.kek} from backup"
                    " (a new KEK would make all stored evidence unreadable)",
                )
        load_or_create_kek(settings.kek, create=True)
    finally:
        engine.dispose()
    return InitResult(home, cfg, settings.keys_dir, engine.url.render_as_string(hide_password=True))
