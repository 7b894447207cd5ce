"""When a proof must be renewed: pure rules, no I/O (docs/long-term.md).

- **Timestamp renewal** (RFC 4998 5.2): an archive timestamp's token is only as good as its
  TSA certificate. Before that certificate expires (``margin`` ahead: a missed run must not
  lose a proof), the token is covered by a new archive timestamp from a valid TSA.
- **Hash-tree renewal** (RFC 4998 5.3): once an operator marks the hash algorithm of a chain
  as weakening (from a date), the data and the whole earlier sequence are re-hashed with a
  stronger algorithm under a new chain, while the old one is still secure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from vault.errors import ConfigError

#: hash algorithms a renewal can use, strongest last
ALGORITHMS = ("sha256", "sha384", "sha512")  # what RFC 3161 imprints the vault can ask for
DEFAULT_MARGIN = dt.timedelta(days=730)


@dataclass(frozen=True)
class RenewalPolicy:
    margin: dt.timedelta = DEFAULT_MARGIN
    #: algorithm -> the date from which it no longer counts as secure
    weak: dict[str, dt.datetime] = field(default_factory=dict)
    #: what a hash-tree renewal re-hashes with
    hash_algorithm: str = "sha512"

    def __post_init__(self) -> None:
        if self.hash_algorithm not in ALGORITHMS:
            raise ConfigError("renew_hash_algorithm is not one the vault supports", detail=self.hash_algorithm)
        if self.hash_algorithm in self.weak:
            raise ConfigError("renew_hash_algorithm is itself marked weak", detail=self.hash_algorithm)
        unknown = sorted(set(self.weak) - set(ALGORITHMS))
        if unknown:
            raise ConfigError("weak_algorithms names an unknown algorithm", detail=", ".join(unknown))

    def token_due(self, tsa_not_after: dt.datetime, now: dt.datetime) -> bool:
        """Must a token whose TSA certificate ends at ``tsa_not_after`` be renewed now?"""
        return tsa_not_after - self.margin <= now

    def hash_due(self, algorithm: str, now: dt.datetime) -> bool:
        """Must a chain hashed with ``algorithm`` be re-hashed now?"""
        weak_from = self.weak.get(algorithm)
        return weak_from is not None and weak_from - self.margin <= now

    def secure_at(self, algorithm: str, at: dt.datetime) -> bool:
        weak_from = self.weak.get(algorithm)
        return weak_from is None or at < weak_from
