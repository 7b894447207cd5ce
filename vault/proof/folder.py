"""Output folders written whole or not at all (proof folders, subject access exports)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vault.errors import InputError


def check_empty(out: Path) -> Path:
    """The absolute path, if it does not exist or is an empty folder."""
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("the output folder exists and is not empty", detail=str(out))
    return out


@contextlib.contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """Yield a hidden sibling folder to fill; on success it becomes ``out`` in one rename, on
    any failure it is removed, so a reader never sees half an export."""
    out = check_empty(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
