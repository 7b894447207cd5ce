"""RFC 4998 evidence records (Evidence Record Syntax, DER): build, renew, verify.

Pure functions over bytes, except :mod:`vault.ers.item` (reads an item's chains):

- :mod:`vault.ers.asn1`        the ASN.1 structures (asn1crypto)
- :mod:`vault.ers.algorithms`  hash algorithm names, OIDs, hash functions
- :mod:`vault.ers.token`       the RFC 3161 token an archive timestamp holds (DER)
- :mod:`vault.ers.tree`        reduced hash trees (RFC 4998 4.2-4.3)
- :mod:`vault.ers.build`       archive timestamps and records (build, load)
- :mod:`vault.ers.renew`       timestamp and hash-tree renewal (RFC 4998 5.2)
- :mod:`vault.ers.verify`      verification as of a date (RFC 4998 5.3)
- :mod:`vault.ers.item`        an item's chains and record

docs/evidence-format.md, "Evidence records (RFC 4998)", describes the format.
"""

from vault.ers.algorithms import ALGORITHMS, digest, hash_fn
from vault.ers.asn1 import ArchiveTimeStamp, EvidenceRecord
from vault.ers.build import Chain, Record, chain_algorithm, evidence_record, initial_ats, load_record
from vault.ers.renew import hash_renewal_ats, hash_renewal_leaf, renewal_ats, renewal_group, renewal_leaf
from vault.ers.token import der_problem, token_from_tsr
from vault.ers.verify import ERS_FILE, INVALID, NOT_PROVABLE, VALID, ErsReport, TimestampInfo, summary, verify_record

__all__ = [
    "ALGORITHMS",
    "ERS_FILE",
    "INVALID",
    "NOT_PROVABLE",
    "VALID",
    "ArchiveTimeStamp",
    "Chain",
    "ErsReport",
    "EvidenceRecord",
    "Record",
    "TimestampInfo",
    "chain_algorithm",
    "der_problem",
    "digest",
    "evidence_record",
    "hash_fn",
    "hash_renewal_ats",
    "hash_renewal_leaf",
    "initial_ats",
    "load_record",
    "renewal_ats",
    "renewal_group",
    "renewal_leaf",
    "summary",
    "token_from_tsr",
    "verify_record",
]
