"""The provider's electronic seal: detached CMS signatures (RFC 5652) over exact bytes."""

from vault.seal.cms import Sealer, SealInfo, verify_detached

__all__ = ["SealInfo", "Sealer", "verify_detached"]
