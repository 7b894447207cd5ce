"""The tus ``Upload-Metadata`` header: comma-separated ``key base64(value)`` pairs.

https://tus.io/protocols/resumable-upload#upload-metadata: keys are ASCII without spaces or
commas, unique; a value may be absent (a key alone). Values are decoded as UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import re

from vault.errors import InputError

#: a whole header (before decoding); the metadata JSON of personal fields is the largest value
MAX_HEADER = 64 * 1024
_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")


def parse(header: str | None) -> dict[str, str]:
    """The decoded pairs; :class:`InputError` names what is malformed."""
    if header is None or not header.strip():
        return {}
    if len(header) > MAX_HEADER:
        raise InputError(f"Upload-Metadata is longer than {MAX_HEADER} characters")
    out: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        value = value.strip()
        if not _KEY.match(key) or "," in key:
            raise InputError("Upload-Metadata: a key is 1-64 printable ASCII characters", detail=repr(key)[:80])
        if key in out:
            raise InputError("Upload-Metadata: a key appears twice", detail=key)
        try:
            raw = base64.b64decode(value, validate=True) if value else b""
            out[key] = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise InputError("Upload-Metadata: a value is not base64 of UTF-8 text", detail=key) from None
    return out
