"""RFC 8785 (JCS) canonical JSON, with a fast path for the shapes the vault hashes most.

The reference implementation (``rfc8785``) is pure Python and dominated the cost of packing
small records. For values made only of strings, integers, booleans, null, lists and objects
whose keys are below U+D800, ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces exactly the JCS bytes: same escapes (``\\b \\f \\n \\r \\t``,
``\\u00xx`` for other controls), integers printed the same, and key order by code point
equals JCS's UTF-16 order below the surrogate range. Anything else (floats, lone
surrogates, exotic keys) goes through ``rfc8785``. The tests compare both on random inputs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

_MAX_SAFE = 2**53 - 1  # JCS: integers beyond this are not interoperable; let rfc8785 decide
_SURROGATE = re.compile("[\ud800-\udfff]")
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _simple(obj: Any) -> bool:
    t = type(obj)
    if t is str:
        return obj.isascii() or _SURROGATE.search(obj) is None
    if t is int:
        return bool(-_MAX_SAFE <= obj <= _MAX_SAFE)
    if obj is None or t is bool:
        return True
    if t is dict:
        for k, v in obj.items():
            if type(k) is not str or (not k.isascii() and max(k) >= "\ud800"):
                return False
            if not _simple(v):
                return False
        return True
    if t is list or t is tuple:
        return all(map(_simple, obj))
    return False


def canonical_known(obj: Any) -> bytes:
    """JCS bytes of a value the vault assembled itself from validated parts (ASCII keys,
    integers, strings without lone surrogates, no floats): skips the shape check of
    :func:`canonical`. Never use it on caller-supplied values."""
    return _ENCODER.encode(obj).encode("utf-8")


def is_simple(obj: Any) -> bool:
    """True when ``obj`` takes the fast path (see the module docstring)."""
    return _simple(obj)


def canonical(obj: Any) -> bytes:
    """RFC 8785 bytes: the only form of JSON the vault hashes or signs."""
    if _simple(obj):
        return _ENCODER.encode(obj).encode("utf-8")
    return rfc8785.dumps(obj)
