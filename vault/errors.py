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
    #: HTTP status of the API's problem document for this error
    http_status = 500
    #: short human title of the problem type (RFC 9457 ``title``)
    title = "Vault error"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message if not self.detail else f"{self.message}: {self.detail}"


class ConfigError(VaultError):
    """The configuration is missing, malformed or inconsistent."""

    code = "config"
    http_status = 500
    title = "Configuration error"


class InputError(VaultError):
    """The caller gave input the vault cannot accept (unknown kind, malformed JSON...)."""

    code = "invalid-input"
    http_status = 422
    title = "Invalid input"


class NotFound(VaultError):
    """The thing asked for does not exist (in this tenant)."""

    code = "not-found"
    http_status = 404
    title = "Not found"


class KeyError_(VaultError):
    """A key is missing, cannot be unwrapped or has been destroyed."""

    code = "key"
    http_status = 409
    title = "Data key unavailable"


class StorageError(VaultError):
    """Object storage refused or failed an operation."""

    code = "storage"
    http_status = 503
    title = "Object storage unavailable"


class IndexError_(VaultError):
    """The SQL index refused or failed an operation."""

    code = "index"
    http_status = 503
    title = "Index unavailable"


class TimestampError(VaultError):
    """A time-stamping authority failed, or its token did not verify."""

    code = "timestamp"
    http_status = 502
    title = "Time-stamping failed"


class TSAUnavailable(TimestampError):
    """No configured TSA answered with a token that verifies; the batch stays pending."""

    code = "tsa-unavailable"
    http_status = 503
    title = "No time-stamping authority available"


class SealError(VaultError):
    """A CMS seal could not be produced or did not verify."""

    code = "seal"
    http_status = 500
    title = "Seal failed"


class ServiceDown(VaultError):
    """A component of the running vault does not answer (is `vault up` running?)."""

    code = "service-down"
    http_status = 503
    title = "Service unavailable"


class Forbidden(VaultError):
    """The caller's role may not do this (restricted subject, archived item, objected purpose)."""

    code = "forbidden"
    http_status = 403
    title = "Forbidden"


class Conflict(VaultError):
    """The request contradicts recorded state (an earlier end of service, a shorter contract)."""

    code = "conflict"
    http_status = 409
    title = "Conflict"


class Unauthenticated(Forbidden):
    """No API key, or an unknown, malformed, expired or revoked one."""

    code = "unauthenticated"
    http_status = 401
    title = "Authentication required"


class TooLarge(InputError):
    """A body larger than the limit of its kind."""

    code = "too-large"
    http_status = 413
    title = "Payload too large"


class IndexDown(IndexError_):
    """The SQL index cannot be reached (refused connection, failed authentication, no such
    database, unreadable file); the message names the short cause."""

    code = "index-down"
    title = "Index unavailable"


class IndexTampered(VaultError):
    """A value read from the index is not what the vault writes there: another SQL type, NULL
    where a value belongs, unreadable, or a row another one points to is missing. The index is
    not evidence: this is a verdict on the index (a failed check named by ``check``), exit 1."""

    code = "index-tampered"
    exit_code = 1
    http_status = 409
    title = "The index contradicts itself or the sealed evidence"

    def __init__(self, message: str, *, detail: str | None = None, check: str = "index_record") -> None:
        super().__init__(message, detail=detail)
        self.check = check

    @property
    def finding(self) -> str:
        """What was found, without the check's name (a report's detail)."""
        return super().__str__()

    def __str__(self) -> str:
        return f"{self.check}: {self.finding}"


class IdempotencyConflict(Conflict):
    """The idempotency key was already used for another deposit (other content, size, kind,
    session, subject or purpose): nothing was deposited."""

    code = "idempotency_conflict"
    http_status = 409
    title = "Idempotency key used for another deposit"


class IdempotencyInProgress(Conflict):
    """A deposit with this idempotency key is still running: retry once it has answered."""

    code = "idempotency_in_progress"
    http_status = 409
    title = "A deposit with this idempotency key is in progress"


class SignatureInvalid(InputError):
    """The deposit's device signature is malformed, forged, by an unknown device or another API
    key's, or its statement does not describe this deposit: nothing was kept."""

    code = "signature_invalid"
    http_status = 422
    title = "Device signature invalid"


class SignatureRequired(InputError):
    """The tenant requires a device signature on every deposit: nothing was kept."""

    code = "signature_required"
    http_status = 422
    title = "Device signature required"


class DeviceRevoked(Forbidden):
    """The device key (or the API key it is bound to) was revoked: nothing was kept."""

    code = "device_revoked"
    http_status = 403
    title = "Device key revoked"


class Gone(NotFound):
    """It existed and is gone for good: an expired upload, or one whose key a KEK rotation destroyed.
    Start again."""

    code = "gone"
    http_status = 410
    title = "Gone"


class Locked(Conflict):
    """Another request is working on this resource (a tus upload receiving a PATCH); retry."""

    code = "locked"
    http_status = 423
    title = "Locked"


class ChecksumMismatch(InputError):
    """The body does not match its ``Upload-Checksum`` (tus checksum extension): it was discarded;
    send it again from the same offset."""

    code = "checksum-mismatch"
    http_status = 460
    title = "Checksum mismatch"


class PreconditionFailed(InputError):
    """A protocol version the vault does not speak (tus: ``Tus-Resumable`` is not 1.0.0)."""

    code = "precondition-failed"
    http_status = 412
    title = "Precondition failed"


class UnsupportedMediaType(InputError):
    """A body of a content type this route does not take."""

    code = "unsupported-media-type"
    http_status = 415
    title = "Unsupported media type"
