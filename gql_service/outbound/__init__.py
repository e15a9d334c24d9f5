"""Outgoing calls of workflow actions: webhooks, health checks and e-mail."""

from gql_service.outbound.email import send_email
from gql_service.outbound.http import (
    OutboundClient,
    OutboundError,
    OutboundResult,
    check_url,
    redact_url,
)

__all__ = [
    "OutboundClient",
    "OutboundError",
    "OutboundResult",
    "check_url",
    "redact_url",
    "send_email",
]
