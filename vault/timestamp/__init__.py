"""RFC 3161 time-stamping: an in-process responder, its HTTP server, and the TSA client.

Tokens are verified with rfc3161-client (Trail of Bits), not rfc3161ng. Measured on this
stack: rfc3161ng defaults to SHA-1, puts a SHA-1 digest under the SHA-256 OID when asked for
SHA-256, verifies RSA signatures only (ECDSA raises TypeError), never uses its cafile/capath
so it does not check the chain, accepted a token from a made-up TSA, and ignores the EKU.
rfc3161-client checks the chain to a trust anchor at genTime, the critical timeStamping EKU,
the nonce and the imprint; it has no HTTP transport (the client uses urllib) and its request
builder only hashes raw data (requests over a precomputed digest are built with asn1crypto).
"""

from vault.timestamp.client import (
    Token,
    TrustedTSA,
    build_request,
    request_token,
    stamp,
    token_info,
    verify_token,
)
from vault.timestamp.responder import DEFAULT_POLICY_OID, PrivateKey, TimeStampResponder, now_utc
from vault.timestamp.server import TSAServer, handle_tsa_request

__all__ = [
    "DEFAULT_POLICY_OID",
    "PrivateKey",
    "TSAServer",
    "TimeStampResponder",
    "Token",
    "TrustedTSA",
    "build_request",
    "handle_tsa_request",
    "now_utc",
    "request_token",
    "stamp",
    "token_info",
    "verify_token",
]
