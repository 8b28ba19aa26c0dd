from hookrun.values import parse_duration


def test_duration() -> None:
    assert parse_duration("1m30s") == 90.0
