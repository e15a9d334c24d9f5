"""The service's error tree: every expected failure carries a stable code.

    ServiceError                    (INTERNAL_SERVER_ERROR when raised bare)
    +-- UnauthenticatedError        UNAUTHENTICATED
    +-- ForbiddenError              FORBIDDEN
    +-- NotFoundError               NOT_FOUND
    +-- BadUserInputError           BAD_USER_INPUT
    +-- ConflictError               CONFLICT
    +-- CollectionNotEmptyError     COLLECTION_NOT_EMPTY
    +-- LastOwnerError              LAST_OWNER
    +-- PromotionNotAllowedError    PROMOTION_NOT_ALLOWED
    +-- QueryTooComplexError        QUERY_TOO_COMPLEX
    +-- RateLimitedError            RATE_LIMITED
    +-- SubscriptionOverflowError   SUBSCRIPTION_OVERFLOW
    +-- ServiceUnavailableError     SERVICE_UNAVAILABLE
    +-- UpstreamUnavailableError    UPSTREAM_UNAVAILABLE
    +-- VultrNotConfiguredError     VULTR_NOT_CONFIGURED

Clients branch on the code, never on the message. Lower layers translate
their own exceptions into this tree with ``raise ... from exc``; anything
else that reaches the API is masked as INTERNAL_SERVER_ERROR and logged once.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class UnauthenticatedError(ServiceError):
    code = "UNAUTHENTICATED"


class ForbiddenError(ServiceError):
    code = "FORBIDDEN"


class NotFoundError(ServiceError):
    code = "NOT_FOUND"


class BadUserInputError(ServiceError):
    code = "BAD_USER_INPUT"


class ConflictError(ServiceError):
    code = "CONFLICT"


class CollectionNotEmptyError(ServiceError):
    code = "COLLECTION_NOT_EMPTY"


class LastOwnerError(ServiceError):
    code = "LAST_OWNER"


class PromotionNotAllowedError(ServiceError):
    code = "PROMOTION_NOT_ALLOWED"


class QueryTooComplexError(ServiceError):
    code = "QUERY_TOO_COMPLEX"


class RateLimitedError(ServiceError):
    code = "RATE_LIMITED"


class SubscriptionOverflowError(ServiceError):
    code = "SUBSCRIPTION_OVERFLOW"


class ServiceUnavailableError(ServiceError):
    code = "SERVICE_UNAVAILABLE"


class UpstreamUnavailableError(ServiceError):
    code = "UPSTREAM_UNAVAILABLE"


class VultrNotConfiguredError(ServiceError):
    code = "VULTR_NOT_CONFIGURED"


# Codes of the answers given before GraphQL runs at all (the request is not
# GraphQL, or is refused at the door), by HTTP status. The body is still
# GraphQL-shaped; metrics label those answers with the same codes.
HTTP_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: UnauthenticatedError.code,
    404: NotFoundError.code,
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: RateLimitedError.code,
}
