import signal

import pytest

from hookrun.config.templates import expand, expand_tree
from hookrun.config.values import format_duration, parse_duration, parse_signal
from hookrun.errors import BadTemplate, UnsetVariable, ValueProblem


@pytest.mark.parametrize("text, seconds", [
    ("250ms", 0.25), ("2s", 2.0), ("1m30s", 90.0), ("1h", 3600.0), ("1.5s", 1.5),
    ("30", 30.0), (30, 30.0), (0.5, 0.5), ("0s", 0.0), ("1m", 60.0), (" 2s ", 2.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "2x", "s", "1s2", "-1s", -1, True, [1], "1 s", "ms",
                                 float("nan"), float("inf")])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueProblem):
        parse_duration(bad)


def test_duration_message_says_what_is_expected() -> None:
    with pytest.raises(ValueProblem, match=r'expected a duration like "250ms", "2s" or "1m30s", got \'2x\''):
        parse_duration("2x")


@pytest.mark.parametrize("seconds, text", [(0.25, "250ms"), (2, "2s"), (90, "1m30s"), (2.5, "2.5s"),
                                           (120, "2m"), (0, "0s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", ["TERM", "SIGTERM", "sigterm", 15, "15"])
def test_signals(value: object) -> None:
    assert parse_signal(value) == signal.SIGTERM


@pytest.mark.parametrize("bad", ["TERMX", 0, 999, "", True, 1.5])
def test_bad_signals(bad: object) -> None:
    with pytest.raises(ValueProblem):
        parse_signal(bad)


def test_templates() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert expand("${A}-${B:-dflt}-$$A-${EMPTY:-d}-$", env) == "x-dflt-$A--$"
    with pytest.raises(UnsetVariable) as err:
        expand("${MISSING}", env)
    assert err.value.name == "MISSING"
    with pytest.raises(BadTemplate):
        expand("${1BAD}", env)
    assert expand_tree({"k": ["${A}", 1, {"n": "${A}"}]}, env) == {"k": ["x", 1, {"n": "x"}]}
