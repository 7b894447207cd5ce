"""A SoftHSM2 token for the tests (one per test session; each test uses its own key label).

SoftHSM2 is a Debian package (``softhsm2``) pip cannot bring: under ``CI=true`` a missing one
fails the run; elsewhere the tests that need it are skipped, naming the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from vault.config import Settings

LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "vault-test-kek"


@dataclass(frozen=True)
class SoftHSM:
    library: str
    token: str
    pin_file: Path
    conf: Path

    def settings(self, base: Settings) -> Settings:
        """``base`` with its KEK epochs in this token, under a label of its own."""
        return replace(
            base,
            kek_store="pkcs11",
            pkcs11_library=self.library,
            pkcs11_token=self.token,
            pkcs11_pin_file=self.pin_file,
            pkcs11_key_label="t-" + uuid.uuid4().hex[:12],
        )


def _missing() -> str | None:
    if not Path(LIBRARY).exists() or shutil.which("softhsm2-util") is None:
        return "SoftHSM2 is not installed (apt-get install softhsm2)"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    pin = uuid.uuid4().hex[:8]
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the library, here and in CLI subprocesses
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", pin + "so", "--pin", pin],
        check=True,
        capture_output=True,
    )
    pin_file = root / "pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    yield SoftHSM(LIBRARY, TOKEN, pin_file, conf)
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old
