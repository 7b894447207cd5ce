"""Independent checkers of RFC 4998 evidence records and of their tokens.

- :class:`BouncyCastle`: tests/java/ErsCheck.java, compiled once per session against Debian's
  Bouncy Castle 1.72 (default-jdk-headless, libbcpkix-java), run on many records at once.
- :func:`pyhanko_token`: pyHanko's RFC 3161 token validation (signature, ESS binding, EKU,
  chain to the given anchor), independent of the vault's verifier.
- :func:`foreign_token`: a token from `openssl ts -reply` (tests/tsa_support.py), the
  second TSA of a renewal.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from export_support import require_tool
from tsa_support import OpenSSLTSA
from vault.ers.token import token_facts, token_from_tsr
from vault.timestamp.client import build_request

JARS = [Path("/usr/share/java") / name for name in ("bcprov.jar", "bcutil.jar", "bcpkix.jar")]
SOURCE = Path(__file__).parent / "java" / "ErsCheck.java"
PACKAGES = "default-jdk-headless libbcprov-java libbcutil-java libbcpkix-java"


def _missing(what: str) -> None:
    """Skip naming the packages; under CI=true, fail (as export_support.require_tool does)."""
    message = f"needs {what}: apt-get install {PACKAGES}"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail("CI=true: " + message)
    pytest.skip(message)


@dataclass(frozen=True)
class BouncyCastle:
    """The compiled checker; :meth:`check` runs one JVM over many (record, data) pairs."""

    classes: Path
    java: str

    def run(self, ca_pem: Path, pairs: list[tuple[Path, Path]], *, bc_only: bool = False) -> dict[Path, str]:
        """Each record's line (``OK ...`` or ``FAIL ...``), by record path."""
        args = [str(a) for pair in pairs for a in pair]
        cp = ":".join([str(self.classes), *map(str, JARS)])
        proc = subprocess.run(
            [self.java, "-cp", cp, "ErsCheck", *(["--bc-only"] if bc_only else []), str(ca_pem), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        lines: dict[Path, str] = {}
        for line in proc.stdout.splitlines():
            verdict, rest = line.split(" ", 1)
            name = rest.split(": ", 1)[0]
            lines[Path(name)] = f"{verdict} {rest}"
        assert set(lines) == {p for p, _ in pairs}, proc.stdout + proc.stderr
        return lines

    def failures(self, ca_pem: Path, pairs: list[tuple[Path, Path]], *, bc_only: bool = False) -> list[str]:
        return [line for line in self.run(ca_pem, pairs, bc_only=bc_only).values() if not line.startswith("OK ")]

    def verdict(self, ca_pem: Path, record: Path, data: Path, *, bc_only: bool = False) -> str:
        return self.run(ca_pem, [(record, data)], bc_only=bc_only)[record]


def compile_checker(directory: Path) -> BouncyCastle:
    javac, java = require_tool("javac", PACKAGES), require_tool("java", PACKAGES)
    missing = [str(j) for j in JARS if not j.is_file()]
    if missing:
        _missing("Bouncy Castle's jars " + ", ".join(missing))
    proc = subprocess.run(
        [javac, "-nowarn", "-cp", ":".join(map(str, JARS)), "-d", str(directory), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return BouncyCastle(directory, java)


def foreign_token(tsa: OpenSSLTSA, digest: bytes, hash_name: str = "sha256") -> bytes:
    """A DER token (ContentInfo) from the OpenSSL TSA over ``digest``."""
    query, _nonce = build_request(digest, hash_name)
    return token_from_tsr(tsa.reply(query))


def pyhanko_token(token_der: bytes, anchors: list[x509.Certificate]):  # type: ignore[no-untyped-def]
    """pyHanko's TimestampSignatureStatus of one token, its imprint as the expected one."""
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    roots = [asn1_x509.Certificate.load(a.public_bytes(Encoding.DER)) for a in anchors]
    facts = token_facts(token_der)
    vc = ValidationContext(trust_roots=roots, moment=facts.gen_time)
    signed = cms.ContentInfo.load(token_der)["content"]
    kwargs = asyncio.run(validate_tst_signed_data(signed, vc, lambda _alg: facts.imprint))
    return TimestampSignatureStatus(**kwargs)


def flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)
