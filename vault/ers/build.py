"""Build and read RFC 4998 evidence records (pure: bytes in, bytes out).

DER choices, all as Bouncy Castle 1.72 reads and writes them:

- every ArchiveTimeStamp states ``digestAlgorithm`` [0], parameters absent (RFC 5754; what
  BC's generator writes for ``new AlgorithmIdentifier(id_sha256)``); BC compares the
  identifiers of one chain with their parameters, and tokens echo whatever the request had
  (the vault's requests say NULL), so the explicit field keeps a chain consistent;
- no ``attributes`` [1]; ``reducedHashtree`` [2] in every archive timestamp except one whose
  token covers a single hash directly (a one-leaf renewal tree: RFC 4998 5.2 "MAY not
  contain a reducedHashtree field", as BC's generator does);
- the first list holds the covered hash first, then its sibling (or a data group's hashes);
  every later list exactly one value (the vault's trees are binary);
- tokens as DER ContentInfo (:func:`vault.ers.token.der_token`);
- ``EvidenceRecord`` version 1, ``digestAlgorithms`` = the chains' algorithms in order of
  first use, no ``cryptoInfos`` or ``encryptionInfo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import core

from vault.errors import InputError
from vault.ers.algorithms import check_algorithm, name_of, oid_of
from vault.ers.asn1 import (
    ArchiveTimeStamp,
    DigestAlgorithm,
    DigestAlgorithms,
    EvidenceRecord,
    ReducedHashtree,
    der_sequence,
)
from vault.ers.token import der_token, token_facts
from vault.ers.tree import Lists, covers, reduced_from_path

#: an ArchiveTimeStampChain, as the API passes it around
Chain = list[ArchiveTimeStamp]


def algorithm_id(alg: str) -> DigestAlgorithm:
    """The AlgorithmIdentifier of ``alg``, parameters absent."""
    return DigestAlgorithm({"algorithm": oid_of(alg)})


def ats_algorithm(ats: ArchiveTimeStamp) -> str:
    """The hash algorithm of an archive timestamp: its ``digestAlgorithm``, else its token's
    imprint algorithm (RFC 4998 section 3)."""
    field = ats["digest_algorithm"]
    if field.native is not None:
        return name_of(field["algorithm"].dotted)
    return name_of(token_facts(ats_timestamp(ats)).imprint_oid)


def chain_algorithm(chain: Sequence[ArchiveTimeStamp]) -> str:
    """The one hash algorithm of a chain (RFC 4998 5.2: a renewal keeps the chain's algorithm)."""
    if not chain:
        raise InputError("an archive timestamp chain is empty")
    algs = {ats_algorithm(a) for a in chain}
    if len(algs) != 1:
        raise InputError("an archive timestamp chain mixes hash algorithms", detail=", ".join(sorted(algs)))
    return algs.pop()


def ats_timestamp(ats: ArchiveTimeStamp) -> bytes:
    """The ``timeStamp`` field (a DER ContentInfo), byte for byte: what a renewal hashes."""
    dumped: bytes = ats["time_stamp"].dump()
    return dumped


def ats_lists(ats: ArchiveTimeStamp) -> Lists | None:
    """The reduced hash tree as lists of hash values, or None when absent."""
    tree = ats["reduced_hashtree"]
    if tree.native is None:
        return None
    return [[h.native for h in level] for level in tree]


def make_ats(alg: str, leaf: bytes, lists: Lists, token_der: bytes) -> ArchiveTimeStamp:
    """An archive timestamp whose token covers ``leaf`` through ``lists`` (``[]``: directly):
    ``leaf`` must be in the first list (of a data group: one of its hashes).

    :class:`InputError` unless the token's imprint is ``alg`` over the root the lists lead
    to: an archive timestamp is never built over a token that does not cover it.
    """
    check_algorithm(alg)
    token = der_token(token_der)
    facts = token_facts(token)
    if facts.imprint_oid != oid_of(alg):
        raise InputError("the token's imprint is not over the tree's hash algorithm", detail=f"tree: {alg}")
    problem = covers(lists, facts.imprint, leaf, alg)
    if problem is not None:
        raise InputError("the token does not cover this hash tree", detail=problem)
    parts = [DigestAlgorithm({"algorithm": oid_of(alg)}, implicit=0).dump()]
    if lists:
        parts.append(ReducedHashtree(lists, implicit=2).dump())
    parsed: ArchiveTimeStamp = ArchiveTimeStamp.load(der_sequence(*parts, token))
    return parsed


def initial_ats(
    leaf: bytes, path: Sequence[Sequence[bytes]], token_der: bytes, *, alg: str = "sha256"
) -> ArchiveTimeStamp:
    """The first archive timestamp of a chain: ``leaf`` is the data object's hash (an item:
    SHA-256 of ``evidence.json``; a hash-tree renewal: :func:`vault.ers.renew.hash_renewal_leaf`),
    ``path`` its vault path in the tree whose root ``token_der`` (a ContentInfo, see
    :func:`vault.ers.token.token_from_tsr`) timestamps. A path whose first list holds the
    leaf alone (ADR 0002's promoted odd leaf) is merged into an RFC 4998 one."""
    return make_ats(alg, leaf, reduced_from_path(leaf, path), token_der)


def evidence_record(chains: Sequence[Sequence[ArchiveTimeStamp]], digest_algorithms: Sequence[str] = ()) -> bytes:
    """DER ``EvidenceRecord`` over ``chains`` (oldest first; each chain oldest first).

    ``digest_algorithms`` defaults to the chains' algorithms in order of first use; given,
    it must name them all."""
    if not chains:
        raise InputError("an evidence record needs at least one archive timestamp chain")
    used: list[str] = []
    for chain in chains:
        alg = chain_algorithm(chain)
        if alg not in used:
            used.append(alg)
    names = [check_algorithm(a) for a in digest_algorithms] or used
    missing = [a for a in used if a not in names]
    if missing:
        raise InputError("digest_algorithms must list every algorithm of the chains", detail=", ".join(missing))
    return der_sequence(
        core.Integer(1).dump(),
        DigestAlgorithms([algorithm_id(a) for a in names]).dump(),
        sequence_der(chains),
    )


def sequence_der(chains: Sequence[Sequence[ArchiveTimeStamp]]) -> bytes:
    """DER ``ArchiveTimeStampSequence`` of ``chains``, each archive timestamp as stored."""
    return der_sequence(*(der_sequence(*(ats.dump() for ats in chain)) for chain in chains))


@dataclass(frozen=True)
class Record:
    """A parsed evidence record: its chains (oldest first) and the algorithms it declares
    (dotted OIDs the vault does not know are kept as they are)."""

    chains: list[Chain]
    digest_algorithms: list[str]


def load_record(der: bytes) -> Record:
    """Parse a DER ``EvidenceRecord``; :class:`InputError` when it is not one (version 1)."""
    try:
        record = EvidenceRecord.load(der, strict=True)
        if record["version"].native != 1:
            raise InputError("unsupported evidence record version", detail=str(record["version"].native))
        algs = []
        for a in record["digest_algorithms"]:
            oid = a["algorithm"].dotted
            try:
                algs.append(name_of(oid))
            except InputError:
                algs.append(oid)
        chains = [list(chain) for chain in record["archive_time_stamp_sequence"]]
        for chain in chains:  # asn1crypto parses lazily: read each field now, or refuse
            for ats in chain:
                ats_lists(ats)
                ats["digest_algorithm"].native  # noqa: B018
                ats["attributes"].native  # noqa: B018
                ats["time_stamp"]["content_type"].native  # noqa: B018
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise InputError("not a DER RFC 4998 EvidenceRecord", detail=str(e)) from e
    if not chains or not all(chains):
        raise InputError("the evidence record has an empty archive timestamp sequence or chain")
    return Record(chains=chains, digest_algorithms=algs)
