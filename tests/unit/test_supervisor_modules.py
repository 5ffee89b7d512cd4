"""The supervisor starts actors by module name; a supervisor.toml written for an older pgask
(actors.guard_actor, actors.executor) keeps working through one map (supervisor_tree.MOVED)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from actors.supervisor_tree import DEFAULT_TREE, MOVED, load_tree

OLD_TREE = """
[[children]]
id = "guard"
module = "actors.guard_actor"
needs_key = true

[[children]]
id = "executor"
module = "actors.executor"
for_each_profile = true
needs_key = true
"""


def test_old_module_names_map_to_the_packages(tmp_path: Path):
    path = tmp_path / "supervisor.toml"
    path.write_text(OLD_TREE)
    modules = {c.id: c.module for c in load_tree(path).children}
    assert modules == {"guard": "actors.guard.actor", "executor": "actors.executor.actor"}


def test_every_default_child_module_has_an_actor():
    import actors.executor.actor
    import actors.guard.actor

    modules = {spec.id: spec.module for spec in load_tree(DEFAULT_TREE).children}
    assert not set(modules.values()) & set(MOVED), modules
    assert modules["guard"] == "actors.guard.actor" and actors.guard.actor.ACTOR.name == "guard"
    assert modules["executor"] == "actors.executor.actor"
    assert actors.executor.actor.ACTOR.name == "executor"


def test_the_exec_path_runs_the_new_modules():
    """`python -m actors.guard.actor` is what the exec spawn path runs: it starts (and stops
    at once, saying the supervisor starts actors, when no boot record is given)."""
    for module in ("actors.guard.actor", "actors.executor.actor"):
        done = subprocess.run(
            [sys.executable, "-m", module],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "started by the supervisor" in done.stderr + done.stdout, module
