"""RFC 4998 (Evidence Record Syntax) section 3 structures, for asn1crypto.

The ASN.1 module of RFC 4998 (section 2.1) is ``DEFINITIONS IMPLICIT TAGS``, so the tagged
fields below are implicit, as Bouncy Castle reads them (``org.bouncycastle.asn1.tsp``)::

    EvidenceRecord ::= SEQUENCE {
        version                   INTEGER { v1(1) } ,
        digestAlgorithms          SEQUENCE OF AlgorithmIdentifier,
        cryptoInfos               [0] CryptoInfos OPTIONAL,
        encryptionInfo            [1] EncryptionInfo OPTIONAL,
        archiveTimeStampSequence  ArchiveTimeStampSequence }
    CryptoInfos ::= SEQUENCE SIZE (1..MAX) OF Attribute
    EncryptionInfo ::= SEQUENCE {
        encryptionInfoType   OBJECT IDENTIFIER,
        encryptionInfoValue  ANY DEFINED BY encryptionInfoType }
    ArchiveTimeStampSequence ::= SEQUENCE OF ArchiveTimeStampChain
    ArchiveTimeStampChain    ::= SEQUENCE OF ArchiveTimeStamp
    ArchiveTimeStamp ::= SEQUENCE {
        digestAlgorithm  [0] AlgorithmIdentifier OPTIONAL,
        attributes       [1] Attributes OPTIONAL,
        reducedHashtree  [2] SEQUENCE OF PartialHashtree OPTIONAL,
        timeStamp        ContentInfo }
    PartialHashtree ::= SEQUENCE OF OCTET STRING
    Attributes ::= SET SIZE (1..MAX) OF Attribute

:class:`DigestAlgorithm` writes no ``parameters`` (RFC 5754: SHA-2 identifiers omit them),
unlike asn1crypto's own, which forces NULL: Bouncy Castle 1.72 compares identifiers with
their parameters, and its generator writes them absent.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import algos, cms, core


class DigestAlgorithm(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """AlgorithmIdentifier of a digest, ``parameters`` written only when given."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("algorithm", algos.DigestAlgorithmId),
        ("parameters", core.Any, {"optional": True}),
    ]


class DigestAlgorithms(core.SequenceOf):  # type: ignore[misc]
    _child_spec = DigestAlgorithm


class PartialHashtree(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class ReducedHashtree(core.SequenceOf):  # type: ignore[misc]
    _child_spec = PartialHashtree


class ArchiveTimeStamp(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("digest_algorithm", DigestAlgorithm, {"implicit": 0, "optional": True}),
        ("attributes", cms.CMSAttributes, {"implicit": 1, "optional": True}),
        ("reduced_hashtree", ReducedHashtree, {"implicit": 2, "optional": True}),
        ("time_stamp", cms.ContentInfo),
    ]


class ArchiveTimeStampChain(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ArchiveTimeStamp


class ArchiveTimeStampSequence(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ArchiveTimeStampChain


class CryptoInfos(core.SequenceOf):  # type: ignore[misc]
    _child_spec = cms.CMSAttribute


class EncryptionInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("encryption_info_type", core.ObjectIdentifier),
        ("encryption_info_value", core.Any),
    ]


class EvidenceRecord(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("version", core.Integer),
        ("digest_algorithms", DigestAlgorithms),
        ("crypto_infos", CryptoInfos, {"implicit": 0, "optional": True}),
        ("encryption_info", EncryptionInfo, {"implicit": 1, "optional": True}),
        ("archive_time_stamp_sequence", ArchiveTimeStampSequence),
    ]


def der_sequence(*parts: bytes) -> bytes:
    """A DER SEQUENCE of already-encoded parts, byte for byte.

    asn1crypto re-encodes (slowly, and not necessarily as received) a parsed value placed
    into a new structure; records are assembled from the stored encodings instead.
    """
    content = b"".join(parts)
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return b"\x30" + length + content
