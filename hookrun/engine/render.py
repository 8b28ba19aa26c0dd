"""Text for people: plans, config problems, summaries. Pure functions returning strings."""

from __future__ import annotations

from collections.abc import Sequence

from hookrun.config.values import format_duration as fmt
from hookrun.engine.plan import Plan
from hookrun.engine.report import Report


def render_plan(plan: Plan) -> str:
    lines = [f"plan for {plan.hook}: budget {fmt(plan.budget_s)} ({plan.budget_from})"]
    reserves = plan.reserved_s > 0  # two more columns, only where reserves shape the plan
    head = ("#", "step", "action", "starts by", "worst case", "attempts", "on_failure", "what")
    rows = [head[:5] + (("reserve", "ends by") if reserves else ()) + head[5:]]
    for s in plan.steps:
        worst = "skip" if s.skip_reason else fmt(s.worst_case_s) + ("*" if s.unbounded else "")
        attempts = "poll" if s.attempts is None else str(s.attempts)
        flags = [s.on_failure] + (["always"] if s.always else []) + \
            ([f"once={s.once}"] if s.once else []) + ([f"needs={'+'.join(s.needs)}"] if s.needs else []) + \
            ([f"unless={'+'.join(s.unless)}"] if s.unless else [])
        what = s.describe + (f" [{s.skip_reason}]" if s.skip_reason else "")
        extra = (fmt(s.reserve_s) if s.reserve_s else "-", fmt(max(0.0, s.deadline_s))) if reserves else ()
        rows.append((str(s.index), s.name, s.action, fmt(s.starts_by_s), worst, *extra, attempts,
                     ",".join(flags), what))
    lines += columns(rows)
    if any(s.unbounded for s in plan.steps):
        lines.append("  * no timeout: bounded only by the hook's deadline"
                     + (" (less the reserves after it)" if reserves else ""))
    verdict = "fits" if plan.fits else "DOES NOT FIT"
    lines.append(f"worst case {fmt(plan.worst_case_s)} of {fmt(plan.budget_s)} budget: {verdict}"
                 + (f" (reserved: {fmt(plan.reserved_s)})" if reserves else ""))
    lines.extend(f"warning: {w}" for w in plan.warnings)
    return "\n".join(lines)


def summary_message(report: Report, code: int) -> str:
    failed = [s for s in report.steps if s.status in ("failed", "timeout")]
    ignored = sum(1 for s in failed if s.on_failure == "ignore")
    parts = [f"{report.count('ok')} ok", f"{len(failed) - ignored} failed"]
    if ignored:
        parts.append(f"{ignored} failed but ignored")
    parts.append(f"{report.count('skipped')} skipped")
    if report.count("cancelled"):
        parts.append(f"{report.count('cancelled')} cancelled")
    text = (f"{', '.join(parts)} in {fmt(report.used_s)} of {fmt(report.budget_s)} budget; "
            f"exit {code}")
    if report.interrupted:
        text += f" (interrupted by signal {report.interrupted})"
    elif report.budget_ran_out:
        text += " (budget ran out)"
    elif report.aborted_by:
        text += f" (aborted after {report.aborted_by} failed)"
    return text


TERMINATION_LIMIT = 4096  # bytes the kubelet keeps of /dev/termination-log


def termination_message(report: Report, code: int, limit: int = TERMINATION_LIMIT) -> str:
    """The summary and one line per step, cut (UTF-8 safe) to `limit` bytes."""
    lines = [f"hookrun {report.hook}: {summary_message(report, code)}"]
    lines += [f"{s.name}: {s.status}: {s.detail}" for s in report.steps]
    data = ("\n".join(lines) + "\n").encode()
    if len(data) <= limit:
        return data.decode()
    tail = "\n[cut to 4 KiB]\n"
    return data[:limit - len(tail)].decode("utf-8", "ignore") + tail


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Indented lines with every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                              row[-1]]).rstrip() for row in rows]
