"""The client's errors: each ends a command as one line and an exit code (docs/client.md)."""

from __future__ import annotations

from vault.errors import VaultError

#: exit codes of `vault client` (docs/client.md, "Exit codes")
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_INPUT = 2
EXIT_OFFLINE = 75  # EX_TEMPFAIL: nothing lost, try again later


class ClientError(VaultError):
    """A local problem: bad input, not logged in, a damaged config or spool."""

    code = "client"
    exit_code = EXIT_INPUT


class NotLoggedIn(ClientError):
    code = "not-logged-in"


class Refused(ClientError):
    """The vault answered 4xx: retrying as is cannot help; never spooled."""

    code = "refused"
    exit_code = EXIT_REFUSED

    def __init__(self, message: str, *, status: int, problem: str | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.status = status
        self.problem = problem


class Unreachable(ClientError):
    """The vault did not answer, or answered 5xx/408/429: what is spooled stays spooled."""

    code = "unreachable"
    exit_code = EXIT_OFFLINE
