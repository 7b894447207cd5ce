"""Folders the use cases write (proof folders, subject access exports), sent as zip files."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask


def zip_folder(folder: Path, out: Path, top: str) -> None:
    """Deterministic zip (sorted names, fixed times) of ``folder`` under ``top/``."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{top}/{path.relative_to(folder).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(path, "rb") as r, zf.open(info, "w") as w:
                shutil.copyfileobj(r, w, 1 << 20)


async def folder_as_zip(write: Callable[[Path], object], *, top: str, filename: str) -> StreamingResponse:
    """Run ``write(folder)`` in a worker thread, zip what it wrote, stream the zip, and remove
    both once sent (or at once, when writing failed: the error answers instead)."""
    tmp = Path(tempfile.mkdtemp(prefix="vault-zip-"))
    try:
        await anyio.to_thread.run_sync(write, tmp / "folder")
        await anyio.to_thread.run_sync(zip_folder, tmp / "folder", tmp / "out.zip", top)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    def body() -> Iterator[bytes]:
        with open(tmp / "out.zip", "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        background=BackgroundTask(shutil.rmtree, tmp, True),
    )
