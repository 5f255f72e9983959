"""The errors a service raises; every door translates them into its own answer."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that was refused; ``message`` says what to do next."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Invalid(ServiceError):
    status = 400
    code = "invalid"


class NotFound(ServiceError):
    """Also what an outsider gets for a project that exists: they learn nothing."""

    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


class Gone(ServiceError):
    """A share link that existed and no longer works (revoked or expired)."""

    status = 410
    code = "gone"


class TooManyAttempts(ServiceError):
    status = 429
    code = "too_many_attempts"


class Unavailable(ServiceError):
    """A part the studio depends on (the database, the file store) did not answer; the
    request changed nothing and can be tried again."""

    status = 503
    code = "unavailable"
