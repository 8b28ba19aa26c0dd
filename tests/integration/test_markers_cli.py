"""`hookrun markers [--clear]` and `hookrun plan` against markers written by real runs."""

from __future__ import annotations

from pathlib import Path

from conftest import write_config
from support.cli import hook_env, run


def test_list_clear_and_run_again(tmp_path: Path) -> None:
    count = tmp_path / "count"
    write_config(tmp_path, f"""
[poststart]
[[poststart.steps]]
name = "seed"
once = true
shell = "echo seeded >> {count}"
[[poststart.steps]]
name = "join"
once = "pod"
exec = ["true"]
""")
    env = hook_env(tmp_path, POD_UID="0c3a-uid")
    before = run(["plan", "poststart"], env)
    assert before.code == 0 and "already done" not in before.out
    assert not (tmp_path / "state").exists()  # a dry run writes nothing

    assert run(["poststart"], env).code == 0
    listed = run(["markers"], env)
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[0] == f"markers in {tmp_path / 'state'}:"
    assert [line.split()[:3] for line in listed.out.splitlines()[1:]] == [
        ["poststart", "join", "once=pod"], ["poststart", "seed", "once=container"]]

    plan = run(["plan", "poststart"], env)
    assert "[already done once in this container (marker written 20" in plan.out
    assert "[already done once in this pod (marker written 20" in plan.out
    other_pod = run(["markers"], {**env, "POD_UID": "another"})
    assert "1 marker(s) of earlier container instances or other pods" in other_pod.out

    cleared = run(["markers", "--clear"], env)
    assert cleared.out.splitlines() == [f"removed 2 marker(s) from {tmp_path / 'state'}"]
    assert run(["poststart"], env).code == 0
    assert count.read_text() == "seeded\nseeded\n"

