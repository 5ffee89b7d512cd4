"""Time from `pgask demo` to an interactive prompt (first run: server + data; second run:
reused), beside psql's start-up to its prompt against the same server, in tmux.

    python bench/bench_demo.py [--scale 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.tmux import TmuxSession

PROMPT = "demo\u203a"


def to_prompt(argv: list[str], env: dict[str, str], cwd: Path, prompt: str) -> float:
    start = time.monotonic()
    t = TmuxSession.start(argv, env=env, cwd=cwd)
    with t:
        t.expect_screen(prompt, 300)
        elapsed = time.monotonic() - start
        t.send("C-q") if prompt == PROMPT else t.type("\\q", enter=True)
        t.wait_for(lambda: not t.alive(), "exit", 60)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=100_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pgbh"))
    demo_home = Path(tempfile.mkdtemp(prefix="pgbd", dir="/tmp"))
    os.chmod(demo_home, 0o755)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PGASK_HOST": "off",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="pgbr", dir="/tmp"),
        "PGASK_DEMO_HOME": str(demo_home),
    }
    pgask = str(Path(sys.executable).parent / "pgask")
    try:
        first = to_prompt([pgask, "demo", "--scale", str(args.scale), "--keep"], env, home, PROMPT)
        second = to_prompt([pgask, "demo", "--keep"], env, home, PROMPT)
        dsn = subprocess.run(
            [pgask, "demo", "--print-dsn"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        from ui.demo import _bin

        psql = to_prompt([_bin("psql"), dsn], env, home, "shop=#")
        print(f"pgask demo to prompt, {args.scale:,} orders")
        print(f"  first run (start server, generate data):  {first:6.2f} s")
        print(f"  second run (reuse the data):              {second:6.2f} s")
        print(f"  psql to its prompt, same server:          {psql:6.2f} s")
        print(f"  ratio second run / psql:                  {second / psql:6.1f}x")
    finally:
        subprocess.run([pgask, "demo", "--stop"], env={**os.environ, **env}, capture_output=True)
        shutil.rmtree(demo_home, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
