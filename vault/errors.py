"""One error tree for the vault.

Every error the vault raises on purpose derives from :class:`VaultError`. Third-party
exceptions are wrapped where they enter the vault, so the CLI (and later the API) can turn
any of them into one readable line and an exit code, or an RFC 9457 problem document.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""

    #: short machine-readable slug, used as the problem type in the API
    code = "vault-error"
    #: exit code of the CLI when this error ends a command
    exit_code = 2

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message if not self.detail else f"{self.message}: {self.detail}"


class ConfigError(VaultError):
    """The configuration is missing, malformed or inconsistent."""

    code = "config"


class InputError(VaultError):
    """The caller gave input the vault cannot accept (unknown kind, malformed JSON...)."""

    code = "invalid-input"


class NotFound(VaultError):
    """The thing asked for does not exist (in this tenant)."""

    code = "not-found"


class KeyError_(VaultError):
    """A key is missing, cannot be unwrapped or has been destroyed."""

    code = "key"


class StorageError(VaultError):
    """Object storage refused or failed an operation."""

    code = "storage"


class IndexError_(VaultError):
    """The SQL index refused or failed an operation."""

    code = "index"


class TimestampError(VaultError):
    """A time-stamping authority failed, or its token did not verify."""

    code = "timestamp"


class TSAUnavailable(TimestampError):
    """No configured TSA answered with a token that verifies; the batch stays pending."""

    code = "tsa-unavailable"


class SealError(VaultError):
    """A CMS seal could not be produced or did not verify."""

    code = "seal"


class ServiceDown(VaultError):
    """A component of the running vault does not answer (is `vault up` running?)."""

    code = "service-down"


class Forbidden(VaultError):
    """The caller's role may not do this (restricted subject, archived item, objected purpose)."""

    code = "forbidden"


class Conflict(VaultError):
    """The request contradicts recorded state (an earlier end of service, a shorter contract)."""

    code = "conflict"
