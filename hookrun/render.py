"""Text for people: plans, config problems, summaries. Pure functions returning strings."""

from __future__ import annotations

from hookrun.plan import Plan
from hookrun.report import Report
from hookrun.schema import ConfigError
from hookrun.values import format_duration as fmt


def render_problems(err: ConfigError) -> str:
    head = f"hookrun: invalid config {err.path}" if err.path else "hookrun: invalid config"
    if len(err.problems) == 1 and not err.problems[0].where and not err.problems[0].key:
        return f"{head}: {err.problems[0].message}"
    lines = [head] + [f"  {problem}" for problem in err.problems]
    if len(err.problems) > 1:
        lines.append(f"{len(err.problems)} problems")
    return "\n".join(lines)


def render_plan(plan: Plan) -> str:
    lines = [f"plan for {plan.hook}: budget {fmt(plan.budget_s)} ({plan.budget_from})"]
    rows = [("#", "step", "action", "starts by", "worst case", "attempts", "on_failure", "what")]
    for s in plan.steps:
        worst = "skip" if s.skip_reason else fmt(s.worst_case_s) + ("*" if s.unbounded else "")
        attempts = "poll" if s.attempts is None else str(s.attempts)
        flags = [s.on_failure] + (["always"] if s.always else []) + \
            ([f"once={s.once}"] if s.once else [])
        what = s.describe + (f" [{s.skip_reason}]" if s.skip_reason else "")
        rows.append((str(s.index), s.name, s.action, fmt(s.starts_by_s), worst, attempts,
                     ",".join(flags), what))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    if any(s.unbounded for s in plan.steps):
        lines.append("  * no timeout: bounded only by the hook's deadline")
    verdict = "fits" if plan.fits else "DOES NOT FIT"
    lines.append(f"worst case {fmt(plan.worst_case_s)} of {fmt(plan.budget_s)} budget: {verdict}")
    lines.extend(f"warning: {w}" for w in plan.warnings)
    return "\n".join(lines)


def summary_message(report: Report, code: int) -> str:
    parts = [f"{report.count('ok')} ok", f"{report.count('failed', 'timeout')} failed",
             f"{report.count('skipped')} skipped"]
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
