"""Archive-timestamp renewal (RFC 4998 5.2, 5.3; docs/long-term.md): the host operator only."""

from __future__ import annotations

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.renewal.run import renew as run_renewal
from vault.service.result import Result


def renew(ctx: VaultContext, who: Principal, *, force: bool = False) -> Result:
    """Renew what is due now (``force``: every live chain's last token, whatever its date)."""
    authorize(who, Op.RENEW)
    return Result(run_renewal(ctx, who=who, force=force).as_json())
