"""wait_file: wait until a path exists, or until it is gone."""

from __future__ import annotations

import os

from hookrun.config.schema import Where, as_nonempty_str, one_of
from hookrun.record import record
from hookrun.steps import AttemptContext, Kind, Outcome, not_yet, ok


@record
class WaitFile:
    """The wait_file action."""

    path: str
    state: str = "exists"


def parse(value: object, where: Where) -> WaitFile | None:
    if not isinstance(value, dict):
        where.problem('expected a table like { path = "/run/ready", state = "exists" }')
        return None
    f = where.fields(value, ("path", "state"))
    path = f.need("path", as_nonempty_str, "", "the file to wait for")
    state = f.take("state", one_of("exists", "absent"), "exists")
    return WaitFile(path, state) if f.ok else None


def describe(spec: WaitFile) -> str:
    return f"wait until {spec.path} {'exists' if spec.state == 'exists' else 'is gone'}"


def attempt(spec: WaitFile, ctx: AttemptContext) -> Outcome:
    present = os.path.lexists(spec.path)
    if present == (spec.state == "exists"):
        return ok(f"{spec.path} {'exists' if present else 'is gone'}")
    return not_yet(f"{spec.path} {'does not exist yet' if not present else 'still exists'}")


WAIT_FILE: Kind[WaitFile] = Kind("wait_file", parse, describe, attempt, polling=True, poll_interval=0.05)
