"""Item identifiers: time-sortable, unguessable (48-bit milliseconds + 80 random bits)."""

from __future__ import annotations

import datetime as dt
import os
import re

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
ID_RE = re.compile(r"^ev_[0-9a-hjkmnp-tv-z]{26}$")


def new_item_id(at: dt.datetime) -> str:
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    n = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[n & 31])
        n >>= 5
    return "ev_" + "".join(reversed(chars))


def new_segment_id(at: dt.datetime) -> str:
    return "sg_" + new_item_id(at)[3:]
