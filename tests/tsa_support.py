"""Test helpers for time-stamping: a foreign OpenSSL TSA and deliberately broken TSA certs.

Plain classes and functions (no fixtures) so any test module can build what it needs.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from vault.keys import pki

#: Policy the OpenSSL TSA stamps under (IANA documentation PEN 32473, RFC 5612).
OPENSSL_POLICY = "1.3.6.1.4.1.32473.3161.99"

_TSA_EXT = """\
[v3_tsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# No `certs` line here: the embedded-chain case (certificates not in DER SET order) has its own test, test_token_interop.py.
_TSA_CNF = """\
[tsa]
default_tsa = tsa_config1

[tsa_config1]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(["openssl", *args], cwd=cwd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def _genkey(path: Path, key_type: str) -> None:
    if key_type == "rsa":
        opts = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    elif key_type == "ec":
        opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        raise ValueError(f"key_type must be 'rsa' or 'ec', not {key_type!r}")
    _openssl("genpkey", *opts, "-out", str(path), cwd=path.parent)


class OpenSSLTSA:
    """A foreign TSA: its own openssl-made PKI and `openssl ts -reply` behind HTTP.

    One subprocess per request, under a lock that also guards openssl's serial file.
    """

    def __init__(self, directory: Path, *, key_type: str = "ec", policy: str = OPENSSL_POLICY):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_pem = self.dir / "ca.pem"
        self.tsa_pem = self.dir / "tsa.pem"
        self.config = self.dir / "tsa.cnf"
        self.policy = policy
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._make_pki(key_type)

    def _make_pki(self, key_type: str) -> None:
        d = self.dir
        _genkey(d / "ca.key", key_type)
        _genkey(d / "tsa.key", key_type)
        _openssl(
            "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650",
            "-subj", "/O=Foreign Trust Services/CN=Foreign TSA CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", "ca.pem",
            cwd=d,
        )  # fmt: skip
        _openssl(
            "req", "-new", "-key", "tsa.key",
            "-subj", "/O=Foreign Trust Services/CN=Foreign TSA", "-out", "tsa.csr",
            cwd=d,
        )  # fmt: skip
        (d / "tsa-ext.cnf").write_text(_TSA_EXT)
        _openssl(
            "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(secrets.randbits(63)), "-days", "365", "-sha256",
            "-extfile", "tsa-ext.cnf", "-extensions", "v3_tsa", "-out", "tsa.pem",
            cwd=d,
        )  # fmt: skip
        (d / "serial").write_text("01\n")
        self.config.write_text(_TSA_CNF.format(dir=d, policy=self.policy))

    def reply(self, query: bytes) -> bytes:
        """DER TimeStampResp from `openssl ts -reply` for one DER TimeStampReq."""
        with self._lock:
            return _openssl(
                "ts", "-reply", "-config", str(self.config),
                "-queryfile", "/dev/stdin", "-out", "/dev/stdout",
                cwd=self.dir, stdin=query,
            )  # fmt: skip

    def start(self) -> OpenSSLTSA:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # TCP_NODELAY: ~10 ms per token instead of ~52

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    status, reply = 200, tsa.reply(body)
                except RuntimeError as e:
                    status, reply = 500, str(e).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the OpenSSL TSA first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/tsa"


def tsa_cert_without_eku(
    ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A TSA certificate with no extendedKeyUsage at all (verification must refuse it)."""
    key = pki.new_key()
    return pki.issue(ca_cert, ca_key, "TSA without EKU", key, eku=None), key


def tsa_cert_noncritical_eku(
    ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A TSA certificate whose timeStamping EKU is not critical (RFC 3161 §2.3 requires it)."""
    key = pki.new_key()
    cert = pki.issue(
        ca_cert,
        ca_key,
        "TSA with non-critical EKU",
        key,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        eku_critical=False,
    )
    return cert, key


def rsa_tsa_cert(
    ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes, bits: int = 3072
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """An RSA TSA certificate (critical timeStamping EKU) for verifiers that only know RSA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    cert = pki.issue(
        ca_cert,
        ca_key,
        "Vault RSA Time-Stamping Authority",
        key,  # type: ignore[arg-type]  # issue() only needs key.public_key()
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    return cert, key


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"
