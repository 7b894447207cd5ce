"""A real headless browser for the page tests: Debian's chromium driven by Playwright.

Playwright's own browser download is never used (``playwright install`` needs a network this
project does not assume); the system's ``/usr/bin/chromium`` is, or ``$VAULT_CHROMIUM``.
Without it the browser tests skip, except under CI (``CI=true``), where they fail.

In a session fixture::

    @pytest.fixture(scope="session")
    def browser() -> Iterator[Browser]:
        with launch() as b:
            yield b
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: no sandbox (tests run as root in containers), no GPU, and no traffic of the browser's own
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    return os.environ.get("VAULT_CHROMIUM") or DEFAULT_CHROMIUM


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_chromium() -> str:
    """The chromium executable, or skip (fail under CI) when it is not installed."""
    path = chromium_path()
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        if _in_ci():
            pytest.fail("chromium is required in CI: apt-get install chromium")
        pytest.skip("needs Debian's chromium: apt-get install chromium")
    return path


@contextmanager
def launch() -> Iterator[Browser]:
    """Start Playwright and a headless chromium; stop both on exit."""
    path = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extra ships playwright
        if _in_ci():
            pytest.fail("the playwright package is required in CI: pip install playwright")
        pytest.skip("needs the playwright package: pip install playwright")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()
