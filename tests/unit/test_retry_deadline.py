from hookrun.engine.deadline import Deadline
from hookrun.engine.retry import (
    RetryPolicy,
    jittered_delay,
    next_delay,
    nominal_delay,
    worst_case_delays,
)
from hookrun.system.procfs import process_age

FIXED = RetryPolicy(retries=3, delay=2.0, backoff="fixed", max_delay=10.0)
EXPO = RetryPolicy(retries=6, delay=1.0, backoff="exponential", max_delay=5.0)


def test_fixed_backoff() -> None:
    assert [nominal_delay(FIXED, n) for n in (1, 2, 3)] == [2.0, 2.0, 2.0]
    assert jittered_delay(FIXED, 2, lambda: 0.0) == 2.0


def test_exponential_backoff_doubles_up_to_the_cap() -> None:
    assert [nominal_delay(EXPO, n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert worst_case_delays(EXPO, 4) == 12.0


def test_exponential_jitter_stays_between_half_and_full() -> None:
    assert jittered_delay(EXPO, 3, lambda: 0.0) == 2.0
    assert jittered_delay(EXPO, 3, lambda: 0.999999) < 4.0
    assert jittered_delay(EXPO, 3, lambda: 0.5) == 3.0


def test_no_retry_after_the_last_one() -> None:
    assert next_delay(FIXED, 3, 0.0, 100.0, lambda: 0.0) == 2.0
    assert next_delay(FIXED, 4, 0.0, 100.0, lambda: 0.0) is None


def test_no_retry_whose_pause_ends_past_the_step_deadline() -> None:
    assert next_delay(FIXED, 1, 97.0, 100.0, lambda: 0.0) == 2.0
    assert next_delay(FIXED, 1, 98.0, 100.0, lambda: 0.0) is None


def test_retry_after_lengthens_the_pause_but_respects_the_deadline() -> None:
    assert next_delay(FIXED, 1, 0.0, 100.0, lambda: 0.0, retry_after=7.0) == 7.0
    assert next_delay(FIXED, 1, 0.0, 100.0, lambda: 0.0, retry_after=0.5) == 2.0
    assert next_delay(FIXED, 1, 95.0, 100.0, lambda: 0.0, retry_after=7.0) is None


def test_unlimited_retries_until_the_deadline() -> None:
    polling = RetryPolicy(retries=None, delay=1.0, backoff="fixed", max_delay=10.0)
    assert next_delay(polling, 500, 0.0, 100.0, lambda: 0.0) == 1.0


def test_deadlines_nest_and_remember_which_level_binds() -> None:
    hook = Deadline(30.0, "hook")
    step = hook.within(5.0, "step", now=10.0)
    assert (step.at, step.source) == (15.0, "step")
    attempt = step.within(2.0, "attempt", now=14.0)
    assert (attempt.at, attempt.source) == (15.0, "step")  # the step ends first
    late = hook.within(50.0, "step", now=10.0)
    assert late is hook
    assert hook.within(None, "step", now=0.0) is hook
    assert step.left(14.0) == 1.0 and step.left(16.0) == 0.0
    assert step.passed(15.0) and not step.passed(14.9)


def test_process_age_is_the_time_since_this_process_started() -> None:
    age = process_age()
    assert 0.0 < age < 3600.0
