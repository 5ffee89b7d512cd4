"""`pgask logs` picks the run active most recently (a TUI session just left beats a command
that ran while it was open), and `--list` lists them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], env_dirs: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: str(v) for k, v in env_dirs.items()}}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )


def test_logs_default_to_the_run_active_last_and_list_them(isolated_env: dict[str, Path]) -> None:
    logs = isolated_env["XDG_STATE_HOME"] / "pgask" / "logs"
    tui, cli = logs / "20260101-100000-11", logs / "20260101-100500-22"
    for run, actor, event in ((tui, "ui", "ui.stopped"), (cli, "supervisor", "cli.ran")):
        run.mkdir(parents=True)
        line = {"ts": 1.0, "level": "info", "actor": actor, "event": event}
        (run / f"{actor}.log").write_text(json.dumps(line) + "\n")
    os.utime(cli / "supervisor.log", (1_000_000, 1_000_000))  # the command ran earlier ...
    os.utime(tui / "ui.log", (2_000_000, 2_000_000))  # ... than the TUI session's last line
    out = _run(["logs", "--json"], isolated_env)
    assert out.returncode == 0, out.stderr
    assert "ui.stopped" in out.stdout and "cli.ran" not in out.stdout
    listed = _run(["logs", "--list"], isolated_env).stdout.splitlines()
    assert [line.split()[0] for line in listed] == [cli.name, tui.name]
    assert listed[1].split()[1] == "tui" and listed[0].split()[1] == "command"
