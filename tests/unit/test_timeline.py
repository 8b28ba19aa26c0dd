"""The timeline model and its renderers (pure), the kubelet's arithmetic, and the JSON log reader."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from hookrun.emulator.lifecycle import seconds_after_term
from hookrun.emulator.svg import render_html, render_svg
from hookrun.emulator.timeline import (
    HookRun,
    Note,
    StepSpan,
    Timeline,
    render_text,
    rows,
    step_spans,
    verdict,
)
from hookrun.engine.log import parse_json, render_json
from hookrun.engine.report import Event
from hookrun.record import replace

SVG = "{http://www.w3.org/2000/svg}"


def event(step: str | None, kind: str, message: str = "", attempt: int | None = 1) -> Event:
    return Event(0.0, "info", "prestop", step, kind, attempt, 0, 0, message)


def graceful() -> Timeline:
    """Stop at 5 s, prestop 5-10.2 s, SIGTERM at 10.2, app gone at 10.5, grace 30 s."""
    prestop = HookRun("prestop", 5.0, 10.2, 0, False, None, (
        StepSpan("endpoint-race", 5.1, 8.1, "ok", 1, "slept 3s"),
        StepSpan("quit", 8.1, 10.1, "failed", 2, "exited 1"),
    ))
    poststart = HookRun("poststart", 0.0, 0.4, 0, False, None, (StepSpan("ready", 0.1, 0.3, "ok", 1, ""),))
    return Timeline(
        command="app --serve", grace_s=30, stop_signal=signal.SIGTERM, pid_namespace=False,
        started_wall=1_700_000_000.0, app_pid=42, app_exit_at=10.5, app_status=0, stop_at=5.0,
        stop_reason="Ctrl-C", term_at=10.2, term_reason="prestop returned", kill_deadline=35.2,
        kill_at=None, forced=False, hooks=(poststart, prestop),
        notes=(Note(0.0, "app", "app started"), Note(5.0, "emulate", "stop (Ctrl-C)"),
               Note(10.2, "emulate", "SIGTERM to the app"), Note(10.5, "app", "app exited: exit 0")))


def test_seconds_after_term_follows_the_kubelet() -> None:
    assert seconds_after_term(30, 0.0) == 30
    assert seconds_after_term(30, 5.99) == 25  # whole seconds only
    assert seconds_after_term(30, 27.5) == 3
    assert seconds_after_term(30, 28.0) == 2
    assert seconds_after_term(30, 30.0) == 2  # at least 2 s, even after the whole grace period
    assert seconds_after_term(1, 0.2) == 2


def test_json_log_lines_read_back() -> None:
    original = Event(1_700_000_000.125, "warning", "prestop", "drain", "timeout", 3, 1500, 250, "x: y")
    assert parse_json(render_json(original)) == original
    for line in ("", "not json", "[1]", '"text"', '{"time": "yesterday"}', "null"):
        assert parse_json(line) is None


def test_step_spans_from_log_events() -> None:
    events = [
        (1.0, event("a", "start")),
        (1.5, event("a", "retry", "attempt 1 failed")),
        (2.0, event("a", "ok", "done", attempt=2)),
        (2.0, event("b", "skipped", "no budget left", attempt=None)),
        (2.1, event("c", "start")),
        (2.2, event("c", "output", "a line")),
        (2.5, event(None, "summary", "1 ok")),
    ]
    spans = step_spans(events, end=4.0)
    assert spans == (
        StepSpan("a", 1.0, 2.0, "ok", 2, "done"),
        StepSpan("b", 2.0, 2.0, "skipped", 0, "no budget left"),
        StepSpan("c", 2.1, 4.0, "killed", 1, ""),  # still open when the hook died
    )


def test_verdicts() -> None:
    t = graceful()
    assert verdict(t) == ("graceful: app exited 0.3 s after SIGTERM, 24.7 s of grace unused; "
                          "prestop steps: quit failed")
    died = replace(t, app_status=128 + signal.SIGTERM)
    assert verdict(died).endswith("(it died of SIGTERM: no handler for it); prestop steps: quit failed")
    during = replace(t, term_at=None, term_reason=None, kill_deadline=None, app_exit_at=9.0)
    assert verdict(during) == ("graceful: app exited during prestop, 4.0 s into the grace period "
                               "(SIGTERM not needed), 26.0 s of grace unused; prestop steps: quit failed")
    killed = replace(t, kill_at=35.2, app_exit_at=35.21, app_status=137)
    assert verdict(killed) == ("SIGKILLED: app still running 25.0 s after SIGTERM; SIGTERM came 5.2 s "
                               "into the 30 s grace period; prestop steps: quit failed")
    abandoned_hook = replace(t.hooks[1], abandoned_at=35.0, end=37.0, exit_code=None, killed_with_app=True)
    overrun = replace(killed, hooks=(t.hooks[0], abandoned_hook), term_at=35.0, kill_at=37.0)
    assert verdict(overrun).startswith("SIGKILLED: prestop used the whole 30 s grace period, so the app "
                                       "got only 2.0 s after SIGTERM")
    forced = replace(killed, forced=True, kill_at=6.0)
    assert verdict(forced).startswith("SIGKILLED: forced by a second interrupt 1.0 s into")
    alone = replace(t, stop_at=None, stop_reason=None, term_at=None, kill_deadline=None, app_status=3,
                    hooks=(t.hooks[0],))
    assert verdict(alone).startswith("exited: the app ended by itself after 10.5 s (exit 3)")
    nginx = replace(t, command="/usr/sbin/nginx -g daemon off;", hooks=(t.hooks[0], replace(t.hooks[1], exit_code=1)))
    assert verdict(nginx).startswith("stopped by SIGTERM after prestop failed: app exited 0.3 s after SIGTERM")
    assert "nginx takes SIGTERM as a fast shutdown" in verdict(nginx)
    stale = replace(t, told_grace_s=60)
    assert verdict(stale).endswith("the hooks were told a 60 s grace period, the kubelet's is 30 s "
                                   "(HOOKRUN_GRACE_PERIOD must equal terminationGracePeriodSeconds)")
    failed_post = replace(t.hooks[0], exit_code=1)
    post = replace(t, hooks=(failed_post, t.hooks[1]), stop_reason="poststart failed, exit 1")
    assert verdict(post).startswith("poststart FAILED (exit 1): the kubelet kills the container")
    failed_pre = replace(t, hooks=(t.hooks[0], replace(t.hooks[1], exit_code=1)))
    assert verdict(failed_pre).endswith("; prestop exit 1 (the kubelet only logs a warning)")


def test_text_rendering() -> None:
    t = graceful()
    text = render_text(t)
    lines = text.splitlines()
    assert lines[0] == "hookrun emulate: app --serve"
    assert lines[-1] == verdict(t)
    assert "     5.000s    0.000s  stop (Ctrl-C)" in text
    chart = {line.split()[0]: line for line in lines if line[:1].isalpha() or line.startswith("  ")}
    assert chart["app"].rstrip().endswith("exit 0")
    assert "exit 0 after 5.2 s" in chart["prestop"]
    quit_row = next(line for line in lines if line.lstrip().startswith("quit "))
    assert "x" in quit_row and quit_row.rstrip().endswith("failed 2.0 s")
    grace = next(line for line in lines if line.startswith("grace  "))
    assert grace.index("[") < grace.index("T") < grace.index("]")  # SIGTERM inside the grace period
    assert "K" not in grace.split("  ")[1]


def test_rows_cover_the_app_hooks_steps_and_grace() -> None:
    labels = [(r.label, r.depth) for r in rows(graceful())]
    assert labels == [("app", 0), ("poststart", 0), ("ready", 1), ("prestop", 0), ("endpoint-race", 1),
                      ("quit", 1), ("grace", 0)]


def test_svg_is_well_formed_and_marks_the_signals() -> None:
    t = replace(graceful(), kill_at=35.2, app_exit_at=35.21, app_status=137, command="a <b> & 'c'")
    root = ET.fromstring(render_svg(t))
    texts = [el.text or "" for el in root.iter(SVG + "text")]
    assert "hookrun emulate: a <b> & 'c'" in texts
    titles = [el.text or "" for el in root.iter(SVG + "title")]
    assert any(title.startswith("SIGTERM at 10.200s") for title in titles)
    assert any(title.startswith("SIGKILL at 35.200s") for title in titles)
    bars = [el for el in root.iter(SVG + "rect") if el.find(SVG + "title") is not None]
    assert len(bars) == sum(len(r.pieces) for r in rows(t))
    # the SIGKILL line is right of the SIGTERM line, which is right of the stop line
    lines = {(el.find(SVG + "title").text or "").split(" at ")[0]: float(el.get("x1", "0"))  # type: ignore[union-attr]
             for el in root.iter(SVG + "line") if el.find(SVG + "title") is not None}
    assert lines["stop"] < lines["SIGTERM"] < lines["SIGKILL"]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_html_page_holds_picture_verdict_and_events() -> None:
    t = graceful()
    page = render_html(t)
    parser = _Collect()
    parser.feed(page)
    assert parser.tags.count("tr") == len(t.notes) + 1
    assert "svg" in parser.tags
    assert verdict(t) in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_json_form() -> None:
    data = json.loads(json.dumps(graceful().to_json()))
    assert data["format"] == 1 and data["stop_signal"] == "SIGTERM"
    assert data["verdict"] == verdict(graceful())
    assert data["hooks"][1]["steps"][1]["status"] == "failed"


@pytest.mark.parametrize("end", [0.05, 1.0, 7.3, 45.0, 400.0])
def test_axis_fits_any_length(end: float) -> None:
    t = replace(graceful(), app_exit_at=end, stop_at=None, hooks=(), term_at=None, notes=())
    chart = render_text(t).splitlines()
    assert all(len(line) < 200 for line in chart)
    app = next(line for line in chart if line.startswith("app "))
    assert "=" in app and app.rstrip().endswith("exit 0")
