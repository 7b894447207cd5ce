"""Renewal primitives (RFC 4998 section 5.2): what a renewal covers, and its archive timestamp.

**Timestamp renewal** (the chain's hash algorithm stays secure, its TSA certificate will
not): the new archive timestamp covers the ``timeStamp`` field (the DER ContentInfo) of the
archive timestamps before it in the same chain. RFC 4998 5.3 asks that it cover at least the
previous one; Bouncy Castle's ``ERSEvidenceRecord.validate`` asks that it cover *every*
earlier one of the chain (its own ``renewTimeStamp`` makes a data group of them all). So the
renewal covers the data group of all of them: the first list of its reduced hash tree holds
their hashes (RFC 4998 4.2 step 3, a group), and the leaf in the renewal tree is the hash of
their sorted concatenation; a chain of one archive timestamp is a group of one, whose leaf
is simply that hash. Every archive timestamp of the chain uses the chain's algorithm.

One renewal tree can cover many chains at once (one leaf per chain, whatever the batch): build
it with :func:`vault.tree.hashtree.build_tree` over :func:`renewal_leaf` of each chain
(``h=hash_fn(alg)`` when the chains are not SHA-256), get one token over its root, then
:func:`renewal_ats` for each chain with its leaf's ``path``.

**Hash-tree renewal** (the chain's algorithm weakens): a new chain under a stronger
algorithm H whose first archive timestamp covers ``H(H(data) || H(atsc))``, ``atsc`` being
the DER ``ArchiveTimeStampSequence`` of every chain so far (RFC 4998 5.2 steps 2-4; Bouncy
Castle: ``ERSByteData`` + ``concatPreviousHashes``, data hash first, no sorting). One leaf per
data object (per item: its sequence is its own), one tree, one token; then
:func:`hash_renewal_ats` for each item.
"""

from __future__ import annotations

from collections.abc import Sequence

from vault.errors import InputError
from vault.ers.algorithms import check_algorithm, digest, node_hash
from vault.ers.asn1 import ArchiveTimeStamp
from vault.ers.build import ats_timestamp, chain_algorithm, initial_ats, make_ats, sequence_der
from vault.ers.tree import reduced_from_path


def renewal_group(chain: Sequence[ArchiveTimeStamp]) -> list[bytes]:
    """The hashes a timestamp renewal of ``chain`` covers: each archive timestamp's
    ``timeStamp`` field hashed with the chain's algorithm, in chain order."""
    alg = chain_algorithm(chain)
    return [digest(alg, ats_timestamp(a)) for a in chain]


def renewal_leaf(chain: Sequence[ArchiveTimeStamp]) -> bytes:
    """The chain's leaf in a renewal tree: the hash of its :func:`renewal_group` (sorted and
    concatenated), or the single hash of a one-timestamp chain."""
    group = renewal_group(chain)
    return group[0] if len(group) == 1 else node_hash(chain_algorithm(chain), group)


def renewal_ats(
    chain: Sequence[ArchiveTimeStamp], path: Sequence[Sequence[bytes]], token_der: bytes
) -> ArchiveTimeStamp:
    """The archive timestamp to append to ``chain``: ``path`` is the path of
    :func:`renewal_leaf` in the renewal tree, ``token_der`` the token over that tree's root
    (hashed with the chain's algorithm)."""
    alg = chain_algorithm(chain)
    group = renewal_group(chain)
    leaf = group[0] if len(group) == 1 else node_hash(alg, group)
    lists = reduced_from_path(leaf, path, group=group if len(group) > 1 else ())
    return make_ats(alg, group[-1], lists, token_der)  # the previous token's hash, in the first list


def hash_renewal_leaf(data: bytes, chains: Sequence[Sequence[ArchiveTimeStamp]], alg: str) -> bytes:
    """``H(H(data) || H(atsc))`` with the new algorithm ``alg`` (RFC 4998 5.2 step 4): the
    data object's leaf in a hash-tree renewal tree. ``chains`` are all the chains of its
    record so far."""
    check_algorithm(alg)
    if not chains:
        raise InputError("a hash-tree renewal renews at least one chain")
    return digest(alg, digest(alg, data) + digest(alg, sequence_der(chains)))


def hash_renewal_ats(leaf: bytes, path: Sequence[Sequence[bytes]], token_der: bytes, *, alg: str) -> ArchiveTimeStamp:
    """The first archive timestamp of the new chain: ``leaf`` from :func:`hash_renewal_leaf`,
    ``path`` its path in the tree (built with ``hash_fn(alg)``) whose root ``token_der``
    timestamps with ``alg``."""
    return initial_ats(leaf, path, token_der, alg=alg)
