"""Rate limiting: one token bucket per subject, in this process only.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per
second; each GraphQL operation takes one. Requests without a valid token
are counted per client address instead, so guessing tokens is limited too.
Behind N processes a subject gets up to N times the rate (see README).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gql_service.errors import RateLimitedError

# Past this many keys the refilled buckets are dropped: a full bucket is the
# same as no bucket, so only memory is saved.
MAX_KEYS = 10_000


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def wait_seconds(self, key: str) -> float:
        """Take a token for ``key``: 0 when one was free, else the seconds
        until one will be (nothing is taken then)."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        bucket = self.buckets.pop(key, None) or Bucket(float(self.burst), now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        # Re-inserted last: the dict stays ordered from least to most recent.
        self.buckets[key] = bucket
        if len(self.buckets) > MAX_KEYS:
            self._forget_idle(now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def check(self, key: str) -> None:
        """Take a token for ``key`` or raise RATE_LIMITED with a retry hint."""
        wait = self.wait_seconds(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimitedError(
                f"Too many requests; retry in {seconds} s.",
                retryAfterSeconds=seconds,
            )

    def _forget_idle(self, now: float) -> None:
        # Least recent first, so the idle (refilled) buckets lead; busy ones
        # go only when there are still too many, and then start full again.
        refill = self.burst / self.rate
        for key in list(self.buckets):
            is_idle = now - self.buckets[key].updated >= refill
            if not is_idle and len(self.buckets) <= MAX_KEYS:
                return
            del self.buckets[key]


def subject_key(subject: str) -> str:
    return "subject:" + subject


def address_key(address: str | None) -> str:
    return "address:" + (address or "unknown")
