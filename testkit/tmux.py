"""Drive a real terminal: the TUI runs in a detached tmux session; tests send keys and
wait on what the screen shows (capture-pane), never on fixed sleeps.

    with TmuxSession.start(["pgask", "--config", cfg, "-p", "demo"], env=..., log_dir=...) as t:
        t.expect_screen("demo›")
        t.type("/sql select 1", enter=True)
        t.expect_screen("1 row")

On timeout `expect_screen` fails with Expected / Screen / the last 30 log lines (pgcli's
expect_exact), so a failure in CI says what the person would have seen.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


def tmux(server: str) -> list[str]:
    """The tmux command for the private server named `server`."""
    return ["tmux", "-L", server]


class TmuxSession:
    def __init__(self, name: str, log_dirs: Callable[[], list[Path]]) -> None:
        self.name = name
        self._log_dirs = log_dirs

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: str | os.PathLike[str],
        width: int = 120,
        height: int = 40,
        log_dirs: Callable[[], list[Path]] = list,
    ) -> TmuxSession:
        name = f"pgask-e2e-{uuid.uuid4().hex[:8]}"
        # env goes through `env` so the pane's shell never sees the test's own environment
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = f"cd {shlex.quote(str(cwd))} && exec env -i {assigns} {shlex.join(argv)}"
        # One tmux server per session (-L): on a shared default server, a session started
        # just as the previous test's last session ended can meet a server on its way out
        # ("server exited unexpectedly").
        subprocess.run(
            [
                *tmux(name),
                "new-session",
                "-d",
                "-x",
                str(width),
                "-y",
                str(height),
                "-s",
                name,
                command,
            ],
            check=True,
        )
        # keep the pane after exit so a crash stays readable
        subprocess.run([*tmux(name), "set-option", "-t", name, "remain-on-exit", "on"], check=False)
        return cls(name, log_dirs)

    def allow_clipboard(self) -> None:
        """Let applications set tmux's paste buffer with OSC 52, as a terminal's clipboard."""
        subprocess.run([*tmux(self.name), "set-option", "-g", "set-clipboard", "on"], check=True)

    def clipboard(self) -> str:
        """tmux's newest paste buffer ("" when there is none)."""
        out = subprocess.run([*tmux(self.name), "show-buffer"], capture_output=True, text=True)
        return out.stdout if out.returncode == 0 else ""

    # -- keys ---------------------------------------------------------------------------

    def send(self, *keys: str) -> None:
        """tmux key names: Enter, Escape, PageDown, C-p, F5, Tab, Left ..."""
        subprocess.run([*tmux(self.name), "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str, *, enter: bool = False) -> None:
        if text.endswith(";"):  # tmux reads an argument's final ";" as a command separator
            text = text[:-1] + "\\;"
        subprocess.run([*tmux(self.name), "send-keys", "-t", self.name, "-l", text], check=True)
        if enter:
            self.send("Enter")

    def paste(self, text: str) -> None:
        """Paste `text` as a terminal does: with bracketed-paste marks when the program asked
        for them (tmux paste-buffer -p), line breaks as carriage returns."""
        buf = f"pgask-paste-{uuid.uuid4().hex[:6]}"
        subprocess.run([*tmux(self.name), "set-buffer", "-b", buf, "--", text], check=True)
        subprocess.run(
            [*tmux(self.name), "paste-buffer", "-p", "-d", "-b", buf, "-t", self.name], check=True
        )

    def resize(self, width: int, height: int) -> None:
        subprocess.run(
            [
                *tmux(self.name),
                "resize-window",
                "-t",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
            ],
            check=True,
        )

    # -- screen -------------------------------------------------------------------------

    def screen(self) -> str:
        out = subprocess.run(
            [*tmux(self.name), "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
        )
        return out.stdout

    def alive(self) -> bool:
        out = subprocess.run(
            [*tmux(self.name), "list-panes", "-t", self.name, "-F", "#{pane_dead}"],
            capture_output=True,
            text=True,
        )
        return out.returncode == 0 and out.stdout.strip() == "0"

    def pane_pid(self) -> int:
        out = subprocess.run(
            [*tmux(self.name), "list-panes", "-t", self.name, "-F", "#{pane_pid}"],
            capture_output=True,
            text=True,
        )
        return int(out.stdout.split()[0])

    def expect_screen(
        self,
        text: str | re.Pattern[str] | tuple[str | re.Pattern[str], ...],
        timeout: float = 10.0,
        *,
        interval: float = 0.02,
    ) -> str:
        """Wait until one capture shows `text`: a substring, a compiled regex, or a tuple of
        them that must all be on the same screen. Assert through this, not on a returned
        capture: tmux may capture a frame the UI is still painting."""
        deadline = time.monotonic() + timeout
        wanted = text if isinstance(text, tuple) else (text,)
        while True:
            screen = self.screen()
            if all(
                (w.search(screen) is not None) if isinstance(w, re.Pattern) else w in screen
                for w in wanted
            ):
                return screen
            if time.monotonic() > deadline:
                self.fail(f"Expected on screen within {timeout:g} s: {text!r}", screen)
            time.sleep(interval)  # polling the terminal, not standing in for a message

    def expect_gone(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                self.fail(f"Expected to disappear within {timeout:g} s: {text!r}", screen)
            time.sleep(0.02)

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"Expected within {timeout:g} s: {what}", self.screen())
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        out: list[str] = []
        for d in self._log_dirs():
            for path in sorted(Path(d).glob("*.log")) + sorted(Path(d).glob("*.stderr")):
                try:
                    tail = path.read_text(errors="replace").splitlines()[-lines:]
                except OSError:
                    continue
                if tail:
                    out.append(f"--- {path.name}")
                    out.extend(tail)
        return "\n".join(out[-lines * 3 :]) or "(no log lines)"

    def fail(self, expected: str, screen: str) -> None:
        pytest.fail(
            f"{expected}\n\n--- Screen ---\n{screen}\n--- Last log lines ---\n{self.log_tail()}",
            pytrace=False,
        )

    def close(self) -> None:
        subprocess.run([*tmux(self.name), "kill-session", "-t", self.name], capture_output=True)

    def __enter__(self) -> TmuxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
