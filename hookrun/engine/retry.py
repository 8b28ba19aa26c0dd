"""Pure retry policy: how long to wait before the next attempt, and whether there is time."""

from __future__ import annotations

from collections.abc import Callable

from hookrun.record import record


@record
class RetryPolicy:
    """How a step is retried."""

    retries: int | None  # None = until the step deadline (polling actions)
    delay: float
    backoff: str  # "fixed" | "exponential"
    max_delay: float


def nominal_delay(policy: RetryPolicy, retry: int) -> float:
    """Delay before retry number `retry` (1-based), without jitter (also the upper bound)."""
    if policy.backoff == "exponential":  # 2**64 times any delay is past every cap: stop there
        return min(policy.max_delay, policy.delay * 2.0 ** min(retry - 1, 64))
    return policy.delay


def jittered_delay(policy: RetryPolicy, retry: int, random: Callable[[], float]) -> float:
    """Exponential delays get jitter in [half, full] of the nominal delay; fixed ones none."""
    nominal = nominal_delay(policy, retry)
    if policy.backoff == "exponential":
        return nominal * (0.5 + 0.5 * random())
    return nominal


def next_delay(
    policy: RetryPolicy,
    retry: int,
    now: float,
    step_deadline: float,
    random: Callable[[], float],
    retry_after: float | None = None,
) -> float | None:
    """The pause before retry number `retry`, or None if no retry should start.

    No retry once `retries` are used up, and never one whose pause would end at or past the
    step deadline. A server's Retry-After replaces the computed pause when it is longer.
    """
    if policy.retries is not None and retry > policy.retries:
        return None
    delay = jittered_delay(policy, retry, random)
    if retry_after is not None:
        delay = max(delay, retry_after)
    if now + delay >= step_deadline:
        return None
    return delay


def worst_case_delays(policy: RetryPolicy, retries: int) -> float:
    return sum(nominal_delay(policy, n) for n in range(1, retries + 1))
