"""ASN.1 pieces shared by the responder and the client.

asn1crypto's ``tsp.TimeStampResp`` makes ``timeStampToken`` mandatory, but RFC 3161 §2.4.2
omits it in every rejection; this schema follows the RFC so rejections can be built and read.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import cms, core, tsp

#: Imprint algorithms the vault accepts, with their digest lengths (SHA-1 and MD5 are broken).
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimeStampResp(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """RFC 3161 TimeStampResp with the token optional, as the RFC defines it."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]
