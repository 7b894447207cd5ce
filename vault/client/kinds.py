"""The kind of a session file, guessed from its name (`vault client upload-session`)."""

from __future__ import annotations

from pathlib import PurePath

from vault.client.errors import ClientError
from vault.evidence.kinds import Kind

#: suffix (lower case) -> kind; the table of docs/client.md
SUFFIXES: dict[str, Kind] = {
    ".log": Kind.SESSION_LOG,
    ".txt": Kind.SESSION_LOG,
    ".mp4": Kind.SESSION_RECORDING,
    ".mkv": Kind.SESSION_RECORDING,
    ".webm": Kind.SESSION_RECORDING,
    ".mov": Kind.SESSION_RECORDING,
    ".avi": Kind.SESSION_RECORDING,
    ".pdf": Kind.SIGNED_DOCUMENT,
    ".jsonl": Kind.CONNECTION_METADATA,
    ".ndjson": Kind.CONNECTION_METADATA,
}

#: kinds a client may deposit (a correction is made by the DPO's rectification, not deposited)
DEPOSITABLE = tuple(k.value for k in Kind if k is not Kind.CORRECTION)


def guess_kind(path: PurePath) -> str:
    """The kind of ``path`` from its suffix; ``*.json`` only when its name says connection."""
    name = path.name.lower()
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix].value
    if suffix == ".json" and "connection" in name:
        return Kind.CONNECTION_METADATA.value
    known = ", ".join(sorted(SUFFIXES)) + ", *connection*.json"
    raise ClientError(f"cannot tell the kind of {path} from its name ({known}): give --kind")


def check_kind(value: str) -> str:
    if value not in DEPOSITABLE:
        raise ClientError(f"unknown kind {value!r}", detail="expected one of " + ", ".join(DEPOSITABLE))
    return value
