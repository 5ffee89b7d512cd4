"""Issue 21 in the real terminal: TUI windows and CLI commands as clients of one session host.

The host is on here (tests/conftest.py turns it off elsewhere), in the Tui's own run directory;
each test stops it at the end. Every wait is on what the screen shows or on a process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import pg
from testkit.tmux import TmuxSession, tmux_available
from tests.e2e.test_tui import LONG, PROMPT, Tui, pgask_argv, started, wait_idle_backend

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.pg,
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
]


@pytest.fixture
def tui(tmp_path: Path, isolated_env: dict[str, Path], pg_db: str, pg_dsn: str) -> Iterator[Tui]:
    t = Tui(tmp_path, isolated_env, pg_db, pg_dsn)
    t.extra_env["PGASK_HOST"] = "on"
    try:
        yield t
    finally:
        if t.session is not None:
            t.session.close()
        cli(t, "stop", "--all")
        for folder in t.runtime.glob("pgask-host-*"):
            try:
                os.kill(int((folder / "owner").read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        t.close()


def cli(tui: Tui, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A CLI command in the same environment as the TUI (so: the same host), from a script."""
    result = subprocess.run(
        pgask_argv("--config", str(tui.config), *args),
        env=tui.env(),
        cwd=tui.tmp,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def status(tui: Tui) -> dict:
    return json.loads(cli(tui, "status", "--json").stdout)


def test_a_tui_and_a_cli_command_at_once_each_get_their_own_answer(tui: Tui) -> None:
    t = started(tui)
    host = status(tui)
    assert host["client_kinds"] == ["tui"]
    t.type("/sql " + LONG.format(tag="tui_long"), enter=True)  # the TUI's query keeps running
    t.expect_screen(re.compile(r"running \d+\.\ds"), 20)
    active = (
        "select count(*) from pg_stat_activity where state = 'active' "
        "and query like '%as tui_long%' and pid <> pg_backend_pid()"
    )
    t.wait_for(lambda: pg.fetchval(tui.dsn, active) == 1, "the TUI's query runs on the server")
    started_at = time.monotonic()
    out = cli(tui, "sql", "-p", "demo", "select 42 as cli_answer", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "cli_answer\n42\n"  # its own answer, not the TUI's
    assert time.monotonic() - started_at < 30  # it never waited for the TUI's query
    assert pg.fetchval(tui.dsn, active) == 1  # which is still running
    screen = t.screen()
    assert "cli_answer" not in screen and re.search(r"running \d+\.\ds", screen)
    assert status(tui)["pid"] == host["pid"]  # both were clients of one host
    t.send("C-c")
    t.expect_screen("Cancelled: the server stopped the query.", 10)
    wait_idle_backend(tui.dsn, "%as tui_long%", t)
    t.type("/sql select 'tui answer' as tui_own", enter=True)
    t.expect_screen(("1 row in", "tui answer"), 20)


def another_window(tui: Tui) -> TmuxSession:
    """A second pgask window on the demo profile, connected and at its prompt."""
    window = TmuxSession.start(
        pgask_argv("--config", str(tui.config), "-p", "demo"),
        env=tui.env(),
        cwd=tui.tmp,
        log_dirs=tui.log_dirs,
    )
    try:
        window.expect_screen(PROMPT, 30)
        window.expect_gone("connecting", 20)
    except BaseException:
        window.close()
        raise
    return window


def test_two_tui_windows_keep_their_own_conversations(tui: Tui) -> None:
    one = started(tui)
    one.type("/sql select 'first window' as w1", enter=True)
    one.expect_screen(("1 row in", "first window"), 20)
    two = another_window(tui)
    try:
        two.type("/sql select 'second window' as w2", enter=True)
        two.expect_screen(("1 row in", "second window"), 20)
        host = status(tui)
        assert host["client_kinds"] == ["tui", "tui"] and host["sessions"] == 2
        two.type("/history", enter=True)
        screen = two.expect_screen("second window")
        assert "first window" not in screen  # the other window's turn is not in this one
        one.type("/history", enter=True)
        screen = one.expect_screen("first window")
        assert "second window" not in screen
    finally:
        two.close()
    two_gone = status(tui)
    assert two_gone["client_kinds"] == ["tui"]


def test_a_window_whose_host_is_killed_says_so_and_the_next_one_starts_a_new_host(
    tui: Tui,
) -> None:
    one = started(tui)
    old = status(tui)["pid"]
    os.kill(old, signal.SIGKILL)
    one.expect_screen("the supervisor stopped unexpectedly", 15)  # not a frozen window
    two = another_window(tui)
    try:
        two.type("/sql select 'after the crash' as back", enter=True)
        two.expect_screen(("1 row in", "after the crash"), 20)
        assert status(tui)["pid"] != old
    finally:
        two.close()
