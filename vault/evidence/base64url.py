"""base64url without padding (RFC 4648 section 5; RFC 7515 appendix C): how the vault writes
salted disclosures, client statements and the JWTs of its embedded SeaweedFS."""

from __future__ import annotations

import base64


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of ``text``, its padding restored; ``binascii.Error`` on an impossible length."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
