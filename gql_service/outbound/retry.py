"""When to retry an outbound call and how long to wait before the next attempt."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 60.0


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def backoff_delay(attempt: int) -> float:
    """Full jitter: a uniform draw below the capped exponential step."""
    # The cap is reached by the seventh attempt; clamping the exponent only
    # keeps a huge attempt count from overflowing the float.
    step = BACKOFF_BASE_SECONDS * 2 ** min(attempt - 1, 32)
    ceiling = min(BACKOFF_CAP_SECONDS, step)
    return random.uniform(0.0, ceiling)  # noqa: S311 (jitter, not a secret)


def retry_after_delay(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header, capped; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), RETRY_AFTER_CAP_SECONDS)

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT, even when the zone is missing.
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)
