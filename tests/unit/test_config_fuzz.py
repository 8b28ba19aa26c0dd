"""No input, however broken, gets past the loader as anything but a Config or a ConfigError."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from hookrun.config.load import COMMON_STEP_KEYS, SETTINGS_KEYS, from_document, read_toml
from hookrun.engine.plan import build_plan
from hookrun.errors import ConfigError
from hookrun.steps import ACTIONS, registry

KEYS = st.sampled_from([*COMMON_STEP_KEYS, *ACTIONS, *SETTINGS_KEYS, "command", "script", "path",
                        "text", "duration", "state", "env", "cwd", "mode", "append", "x"])
SCALARS = st.one_of(
    st.none().map(lambda _: "1s"), st.booleans(), st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "2s", "abc", "${X}", "${Y:-1}", "$$", "${", "TERM", "0644", "pod", "exponential"]),
    st.text(max_size=12),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=5), max_leaves=12)
STEP = st.dictionaries(KEYS, VALUES, max_size=6)
HOOK = st.fixed_dictionaries({"steps": st.lists(STEP, max_size=4)},
                             optional={"timeout": VALUES, "on_failure": VALUES})
DOCUMENT = st.dictionaries(st.sampled_from(["settings", "prestop", "poststart", "x", "Bad"]),
                           st.one_of(HOOK, VALUES, st.dictionaries(KEYS, VALUES, max_size=4)), max_size=4)


@settings(max_examples=400, deadline=None)
@given(DOCUMENT)
def test_any_document_loads_or_is_rejected_with_problems(document: dict[str, object]) -> None:
    try:
        config = from_document(document, "fuzz.toml", {"X": "1"}, registry())
    except ConfigError as err:
        assert err.problems and all(str(p) for p in err.problems)
        return
    for hook in config.hooks:
        try:
            plan = build_plan(config, hook)
        except ConfigError:
            continue
        assert plan.to_json()["hook"] == hook


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_a_syntax_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "hookrun.toml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            read_toml(path)
        except ConfigError as err:
            assert err.problems[0].message
