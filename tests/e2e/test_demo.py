"""`pgask demo` from an empty HOME, in a real terminal: embedded server, generated data,
offline planner, a question answered with a table, quit, server stopped; the second run
reuses the data."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from testkit.tmux import TmuxSession, tmux_available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
]

PROMPT = "demo\u203a"


def _server_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    return True


def _run_demo(home: Path, demo_home: Path, runtime: Path) -> tuple[float, TmuxSession]:
    script = Path(sys.executable).parent / "pgask"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime),
        "PGASK_DEMO_HOME": str(demo_home),
        "PYTHONPATH": str(Path(__file__).parents[2]),
        "PGASK_HOST": os.environ.get("PGASK_HOST", "off"),
    }
    started = time.monotonic()
    t = TmuxSession.start([str(script), "demo", "--scale", "3000"], env=env, cwd=home)
    t.expect_screen(PROMPT, 120)
    return time.monotonic() - started, t


def test_demo_from_an_empty_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    demo_home = Path(
        tempfile.mkdtemp(prefix="pgd", dir="/tmp")
    )  # short: the server's socket lives here
    os.chmod(demo_home, 0o755)
    runtime = Path(tempfile.mkdtemp(prefix="pgr", dir="/tmp"))
    pgdata = demo_home / "pg"
    try:
        first, t = _run_demo(home, demo_home, runtime)
        with t:
            t.expect_screen("offline")  # no model here: the status bar says which planner answers
            t.type("show the latest 20 orders", enter=True)
            t.expect_screen("20 rows", 30)
            t.expect_screen("created_at")
            # the demo connects as the embedded server's superuser: the status bar says so
            t.expect_screen(" superuser ")
            assert _server_running(pgdata)
            t.send("C-q")
            t.wait_for(lambda: not t.alive(), "pgask to exit after Ctrl+Q", 30)
        t.wait_for(lambda: not _server_running(pgdata), "the embedded server to stop", 30)

        second, t = _run_demo(home, demo_home, runtime)
        with t:
            t.send("C-q")
            t.wait_for(lambda: not t.alive(), "pgask to exit after Ctrl+Q", 30)
        print(f"pgask demo to prompt: first run {first:.1f} s, second run {second:.1f} s")
        assert second < first  # the data is reused, not generated again
    finally:
        if _server_running(pgdata):
            from ui.demo import stop_server

            os.environ["PGASK_DEMO_HOME"] = str(demo_home)
            try:
                stop_server()
            finally:
                del os.environ["PGASK_DEMO_HOME"]
        import shutil

        shutil.rmtree(demo_home, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
