"""A Timeline as a self-contained SVG picture, or an HTML page with the picture and the events."""

from __future__ import annotations

import textwrap
from html import escape

from hookrun.config.values import signal_name
from hookrun.emulator.timeline import Timeline, event_row, rows, setting, ticks, verdict

LABELS, CHART, STATUS = 190, 640, 330  # column widths in pixels
ROW, TOP = 24, 104  # row height, space above the first row
COLOR = {"app": "#4a78c2", "hook": "#8c9bb0", "ok": "#3c9a50", "failed": "#d03b3b",
         "timeout": "#e0891e", "cancelled": "#9a9a9a", "skipped": "#cfcfcf", "killed": "#7a2b2b",
         "abandoned": "url(#abandoned)", "grace": "#eef3e6"}
MARKS = {"stop": "#2a62c9", "grace end": "#5a5a5a", "stop signal": "#e0891e", "SIGKILL": "#c81e1e",
         "SIGKILL due": "#c81e1e"}


def render_svg(t: Timeline) -> str:
    bars = rows(t)
    summary = verdict(t)
    verdict_lines = textwrap.wrap(summary, 150)
    height = TOP + ROW * len(bars) + 30 + 18 * len(verdict_lines)
    width = LABELS + CHART + STATUS
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<defs><pattern id="abandoned" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#8c9bb0"/>'
           '<rect width="3" height="6" fill="#c81e1e"/></pattern></defs>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           _text(8, 18, f"hookrun emulate: {t.command}", 'font-weight="bold" font-size="14"'),
           _text(8, 36, setting(t))]
    end = t.end
    bottom = TOP + ROW * len(bars)
    out.extend(_axis(end, bottom))
    for i, bar in enumerate(bars):
        y = TOP + i * ROW
        out.append(_text(8 + 14 * bar.depth, y + 16, bar.label))
        for start, stop, kind in bar.pieces:
            x0, x1 = _x(start, end), _x(max(start, stop), end)
            out.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 2):.1f}" height="{ROW - 8}" '
                       f'fill="{COLOR.get(kind, "#8c9bb0")}"><title>{escape(bar.label)}: {escape(kind)} '
                       f'{start:.3f}s to {stop:.3f}s</title></rect>')
        out.append(_text(LABELS + CHART + 8, y + 16, bar.status))
    out.extend(_marks(t, end, bottom))
    colour = "#c81e1e" if "SIGKILLED" in summary or "FAILED" in summary else "#1f7a35"
    for i, line in enumerate(verdict_lines):
        out.append(_text(8, bottom + 30 + 18 * i, line, f'font-weight="bold" fill="{colour}"'))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_html(t: Timeline) -> str:
    events = "\n".join(f"<tr><td>{n.at:.3f}s</td><td>{_grace(t, n.at)}</td><td>{escape(n.source)}</td>"
                       f"<td>{escape(n.text)}</td></tr>" for n in t.notes)
    plain = escape("\n".join(event_row(t.stop_at, n) for n in t.notes))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hookrun emulate: {escape(t.command)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
.verdict {{ font-weight: bold; font-size: 1.1em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ padding: 2px 10px; text-align: left; border-bottom: 1px solid #ddd; }}
td:nth-child(-n+2) {{ text-align: right; font-family: monospace; }}
</style></head>
<body>
<h1>hookrun emulate</h1>
<p class="verdict">{escape(verdict(t))}</p>
{render_svg(t)}
<h2>Events</h2>
<table><tr><th>time</th><th>grace</th><th>who</th><th>what</th></tr>
{events}
</table>
<!-- the same events as text:
{plain.replace("--", "- -")}
-->
</body></html>
"""


def _grace(t: Timeline, at: float) -> str:
    return f"{at - t.stop_at:.3f}s" if t.stop_at is not None and at >= t.stop_at else ""


def _x(at: float, end: float) -> float:
    return LABELS + CHART * min(1.0, max(0.0, at / end))


def _text(x: float, y: float, text: str, attrs: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {attrs}>{escape(text)}</text>'


def _axis(end: float, bottom: int) -> list[str]:
    out = []
    for at in ticks(end):
        x = _x(at, end)
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#e4e4e4"/>')
        out.append(_text(x, TOP - 8, f"{at:g}s", 'text-anchor="middle" fill="#555"'))
    return out


def _marks(t: Timeline, end: float, bottom: int) -> list[str]:
    """Vertical lines where the grace timer started and ended, the stop signal, SIGKILL."""
    marks: list[tuple[float, str, str]] = []
    if t.stop_at is not None:
        marks += [(t.stop_at, "stop", "stop"), (t.stop_at + t.grace_s, "grace end", "grace end")]
    if t.term_at is not None:
        marks.append((t.term_at, "stop signal", signal_name(t.stop_signal)))
    if t.kill_at is not None:
        marks.append((t.kill_at, "SIGKILL", "SIGKILL"))
    elif t.kill_deadline is not None:
        marks.append((t.kill_deadline, "SIGKILL due", "SIGKILL due"))
    out = []
    lanes = [0.0, 0.0, 0.0]  # where the last label of each lane ends: labels must not overlap
    for at, kind, label in sorted(marks):
        x = _x(at, end)
        text = f"{label} {at:.1f}s"
        lane = next((i for i, right in enumerate(lanes) if right < x), len(lanes) - 1)
        lanes[lane] = x + 3 + 6.5 * len(text)
        top = TOP - 66 + 12 * lane
        dash = ' stroke-dasharray="4 3"' if kind in ("grace end", "SIGKILL due") else ""
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom + 4}" '
                   f'stroke="{MARKS[kind]}" stroke-width="2"{dash}><title>{escape(label)} at '
                   f'{at:.3f}s</title></line>')
        out.append(_text(x + 3, top + 10, text, f'fill="{MARKS[kind]}" font-size="11"'))
    return out
