"""Names inside an export bundle (``vault-export/1``, docs/export.md): one place, for the writer,
the verifier and VERIFY.md."""

from __future__ import annotations

EXPORT_TYPE = "vault-export/1"
MANIFEST = "export.json"
MANIFEST_SEAL = "export.p7s"
MANIFEST_TOKEN = "export.tsr"  # noqa: S105 (a file name)
#: the certificate of the TSA that stamped export.json (written after it, so not listed in it)
MANIFEST_TSA = "export-tsa.pem"
SUMS = "SHA256SUMS"
REPORT = "report.pdf"
VERIFY = "VERIFY.md"
TRUST = "trust.json"
SEAL_CA = "certs/seal-ca.pem"
TSA_CA = "certs/tsa-ca.pem"
#: files outside ``export.json``'s ``files``: the manifest, what seals it, and SHA256SUMS lists neither
UNLISTED = frozenset({MANIFEST, MANIFEST_SEAL, MANIFEST_TOKEN, MANIFEST_TSA})

#: record kinds: their content is the list of every field's disclosure, so it is never exported
PAYLOAD_WITHHELD_KINDS = frozenset({"connection_metadata", "correction"})


def seal_cert(fp: str) -> str:
    return f"certs/seal/{fp}.pem"


def tsa_cert(fp: str) -> str:
    return f"certs/tsa/{fp}.pem"


def batch_dir(seq: int) -> str:
    return f"batches/{seq:012d}"


def chain_file(seq: int) -> str:
    return f"chain/{seq:012d}.json"


def item_dir(item_id: str) -> str:
    return f"items/{item_id}"
