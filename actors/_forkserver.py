"""Start the actors' forkserver as early as a process can: before it imports trio, zmq and the
supervisor, so the server's preload (pglast, asyncpg, trio-asyncio, the actor modules: the
largest part of a cold start) runs on the other core while this process gets ready.

Standard library and protocol.config only. The supervisor later finds the server running
(multiprocessing keeps one per process) and forks its children from it.
"""

from __future__ import annotations

import multiprocessing
import tomllib
from pathlib import Path

DEFAULT_TREE = Path(__file__).resolve().parent.parent / "supervisor.toml"


def start_early() -> None:
    """Launch the forkserver with the tree's preload list (no-op for `spawn = "exec"`)."""
    from protocol.config import default_config_path

    user = default_config_path().parent / "supervisor.toml"
    try:
        raw = tomllib.loads((user if user.exists() else DEFAULT_TREE).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return  # the supervisor reports a bad file itself
    section = raw.get("supervisor", {}) if isinstance(raw, dict) else {}
    if section.get("spawn", "forkserver") != "forkserver":
        return
    preload = section.get("preload", ["actors._preload"])
    if not isinstance(preload, list) or not all(isinstance(m, str) for m in preload):
        return
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    try:
        forkserver.ensure_running()
    except OSError:  # e.g. a temp dir too long for a socket: the supervisor says so, in its words
        return
