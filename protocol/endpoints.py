"""Where the sockets live: ipc:// paths under a per-run directory of mode 0700, so
no other local user can talk to an executor that holds database credentials.

Where ipc is not available (Windows, or PGASK_TRANSPORT=tcp), the supervisor binds
loopback TCP with CURVE: it generates a key pair per run, and its public key travels
inside the endpoint string (`tcp://127.0.0.1:PORT#curve=<z85 key>`) that only the
processes it starts receive; see protocol/transport.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SUPERVISOR = "supervisor"


def make_run_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    path = Path(tempfile.mkdtemp(prefix="pgask-", dir=base))  # mkdtemp creates it 0700
    os.chmod(path, 0o700)
    return path


def use_tcp() -> bool:
    return os.name == "nt" or os.environ.get("PGASK_TRANSPORT", "").lower() == "tcp"


def supervisor_endpoint(run_dir: str | os.PathLike[str]) -> str:
    """What the supervisor binds; a TCP endpoint gets its real port and key at bind time."""
    if use_tcp():
        return "tcp://127.0.0.1:*#curve"
    path = Path(run_dir) / "sup.sock"
    if len(str(path)) > 100:  # sun_path limit is ~107 bytes
        raise OSError(f"The run directory path {run_dir} is too long for a unix socket.")
    return f"ipc://{path}"
