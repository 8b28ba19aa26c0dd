"""The termination message: summary first, one line per step, at most 4 KiB, valid UTF-8."""

from __future__ import annotations

from pathlib import Path

from hookrun.cli.commands import render_markers
from hookrun.engine.log import write_termination_message
from hookrun.engine.render import termination_message
from hookrun.engine.report import Report, StepResult
from hookrun.state.markers import Marker


def report(details: list[str]) -> Report:
    steps = tuple(StepResult(f"s{i}", "failed", 1, 0.5, d, "continue") for i, d in enumerate(details))
    return Report("prestop", 25.0, 3.2, steps)


def test_short_message_is_complete() -> None:
    text = termination_message(report(["exit 3", "ok"]), 1)
    assert text.splitlines() == [
        "hookrun prestop: 0 ok, 2 failed, 0 skipped in 3.2s of 25s budget; exit 1",
        "s0: failed: exit 3",
        "s1: failed: ok",
    ]


def test_long_message_is_cut_to_4_kib_on_a_character_boundary() -> None:
    for pad in range(4):  # shift a 3-byte character across the cut
        text = termination_message(report(["x" * pad + "€" * 3000]), 1)
        data = text.encode()
        assert 4000 < len(data) <= 4096
        assert text.startswith("hookrun prestop: 0 ok, 1 failed")
        assert text.endswith("\n[cut to 4 KiB]\n")
        assert "\ufffd" not in data.decode("utf-8")


def test_written_file_replaces_old_content(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    path.write_text("x" * 10000)
    assert write_termination_message(str(path), "short\n") is None
    assert path.read_text() == "short\n"
    problem = write_termination_message(str(tmp_path / "missing" / "log"), "x")
    assert problem is not None and "missing/log" in problem


def test_marker_listing() -> None:
    markers = [Marker("a", "poststart", "warm", "container", True, "2030-01-01T00:00:00Z"),
               Marker("b", "prestop", "deregister-x", "pod", True, ""),
               Marker("c", "prestop", "old", "container", False, "")]
    assert render_markers("/run/hookrun", markers, None).splitlines() == [
        "markers in /run/hookrun:",
        "  poststart  warm          once=container  written 2030-01-01T00:00:00Z",
        "  prestop    deregister-x  once=pod        written ?",
        "1 marker(s) of earlier container instances or other pods (not used here)",
    ]
    assert render_markers("/s", markers[2:], 2).splitlines() == [
        "removed 2 marker(s) from /s",
        "1 marker(s) of earlier container instances or other pods (not used here)",
    ]
    assert render_markers("/s", [], None) == "no markers of this container instance or pod in /s"
