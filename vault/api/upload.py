"""Streaming ``multipart/form-data`` into the deposit pipeline, never holding a body whole.

Starlette's own form parser spools files to disk (in clear) before the handler runs. Here the
parts are parsed as the bytes arrive (python-multipart's push parser): the text fields come
first, then the ``file`` part is fed through a bounded queue to the deposit running in a
worker thread. When the deposit reads slowly, the queue fills, this coroutine waits, and the
server stops reading the socket: memory stays flat whatever the size of the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from python_multipart.multipart import MultipartParser, parse_options_header

from vault.errors import InputError, TooLarge

T = TypeVar("T")
MAX_FIELD = 64 * 1024  # a text field (metadata JSON included)
MAX_FIELDS = 16
_EOF = b""


class QueueReader:
    """A file-like ``read(n)`` over chunks pushed from the event loop (the deposit's source)."""

    def __init__(self, maxsize: int = 16) -> None:
        self.q: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=maxsize)
        self._buf = b""
        self._eof = False
        self.consumer_done = threading.Event()

    def read(self, n: int = -1) -> bytes:
        # pieces are joined once per read: appending each (~64 KiB) piece to a bytes buffer
        # copied the buffer every time, ~8 MiB of copying per 1 MiB read
        pieces = [self._buf]
        have = len(self._buf)
        while not self._eof and (n < 0 or have < n):
            item = self.q.get()
            if isinstance(item, BaseException):
                self._buf = b"".join(pieces)
                raise item
            if item == _EOF:
                self._eof = True
                break
            pieces.append(item)
            have += len(item)
        buf = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if n < 0 or len(buf) <= n:
            self._buf = b""
            return buf
        self._buf = buf[n:]
        return buf[:n]


class Part:
    def __init__(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.name = ""
        self.filename: str | None = None
        self.data = bytearray()


async def stream_form(
    body: AsyncIterator[bytes],
    content_type: str | None,
    start_file: Callable[[dict[str, str], str, str | None, QueueReader], asyncio.Future[T]],
    *,
    max_body: int,
    file_parts: frozenset[str] = frozenset({"file"}),
) -> tuple[dict[str, str], T | None]:
    """Parse the form; when a streamed part (named in ``file_parts``) starts, call
    ``start_file(fields, part name, filename, reader)`` (which starts the deposit or the
    check) and feed it. Returns (fields, what start_file's future gave, or None when there
    was no streamed part)."""
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise InputError("expected a multipart/form-data body with a boundary")
    fields: dict[str, str] = {}
    events: list[tuple[str, Any]] = []
    state: dict[str, Any] = {"part": None, "hname": b"", "hval": b""}

    def on_part_begin() -> None:
        state["part"] = Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["hname"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["hval"] += data[start:end]

    def on_header_end() -> None:
        state["part"].headers[state["hname"].decode("latin-1").lower()] = state["hval"]
        state["hname"], state["hval"] = b"", b""

    def on_headers_finished() -> None:
        part: Part = state["part"]
        _disp, opts = parse_options_header(part.headers.get("content-disposition", b""))
        part.name = opts.get(b"name", b"").decode("utf-8", "replace")
        fn = opts.get(b"filename")
        part.filename = fn.decode("utf-8", "replace") if fn is not None else None
        events.append(("begin", part))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part: Part = state["part"]
        if part.name in file_parts:
            events.append(("data", bytes(data[start:end])))
        else:
            part.data += data[start:end]
            if len(part.data) > MAX_FIELD:
                raise InputError(f"form field {part.name!r} is longer than {MAX_FIELD} bytes")

    def on_part_end() -> None:
        events.append(("end", state["part"]))

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    reader: QueueReader | None = None
    fut: asyncio.Future[T] | None = None
    file_done = False
    received = 0

    async def feed(item: bytes | BaseException) -> None:
        assert reader is not None and fut is not None
        while True:
            if fut.done():  # the deposit stopped (refused): stop feeding, its error wins
                return
            try:
                reader.q.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.002)

    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_body:
                raise TooLarge("the request body is larger than the vault accepts", detail=f"limit {max_body} bytes")
            try:
                parser.write(chunk)
            except InputError:
                raise
            except Exception as e:
                raise InputError("malformed multipart body", detail=str(e)[:200]) from e
            for kind, value in events:
                if kind == "begin" and value.name in file_parts:
                    if fut is not None:
                        raise InputError("more than one file part")
                    reader = QueueReader()
                    fut = start_file(dict(fields), value.name, value.filename, reader)
                elif kind == "data" and fut is not None and not file_done:
                    await feed(value)
                elif kind == "end":
                    if value.name in file_parts and fut is not None:
                        file_done = True
                        await feed(_EOF)
                    elif value.name not in file_parts:
                        if fut is not None:
                            raise InputError("send the form fields before the file part")
                        if len(fields) >= MAX_FIELDS:
                            raise InputError(f"more than {MAX_FIELDS} form fields")
                        try:
                            fields[value.name] = value.data.decode("utf-8")
                        except UnicodeDecodeError:
                            raise InputError(f"form field {value.name!r} is not UTF-8") from None
            events.clear()
            if fut is not None and fut.done():
                break
        parser.finalize()
        if fut is not None and not file_done and not fut.done():
            raise InputError("the body ended inside the file part")
    except BaseException as e:
        if fut is not None and reader is not None and not fut.done():
            # unblock the deposit: it fails, aborts its upload and keeps nothing
            err = e if isinstance(e, Exception) else InputError("upload interrupted")
            while True:
                try:
                    reader.q.put_nowait(err)
                    break
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        reader.q.get_nowait()
            with contextlib.suppress(BaseException):  # its own error is the consequence, not the cause
                await fut
        raise
    if fut is None:
        return fields, None
    return fields, await fut
