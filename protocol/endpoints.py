"""Where the sockets live: ipc:// paths under a per-run directory of mode 0700, so
no other local user can talk to an executor that holds database credentials.

Where ipc is not available (Windows, or PGASK_TRANSPORT=tcp), the supervisor binds
loopback TCP with CURVE: it generates a key pair per run, and its public key travels
inside the endpoint string (`tcp://127.0.0.1:PORT#curve=<z85 key>`) that only the
processes it starts receive; see protocol/transport.py.

A run directory holds `owner` (the supervisor's pid), the sockets, and `temp/`: one entry per
export temp file in flight, so that whoever cleans up (the supervisor when the exporter dies or
the run ends, or the next run's sweep when the whole tree was killed) can remove the temp file.
Run directories are removed on every exit path the supervisor sees; those of dead runs (owner
gone, or a socket nobody answers) are swept by the next start."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

from protocol.errors import ConfigError

SUPERVISOR = "supervisor"


TEMP_SUFFIX = ".pgask-tmp"


def run_base() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    return Path(base)


def make_run_dir() -> Path:
    sweep_stale_run_dirs()
    path = Path(tempfile.mkdtemp(prefix="pgask-", dir=run_base()))  # mkdtemp creates it 0700
    os.chmod(path, 0o700)
    (path / "owner").write_text(f"{os.getpid()}\n")
    return path


def register_temp(run_dir: str | os.PathLike[str], temp: Path) -> Path:
    """Note `temp` (an export's temp file) in the run directory; the note is removed with it."""
    folder = Path(run_dir) / "temp"
    folder.mkdir(mode=0o700, exist_ok=True)
    note = folder / f"{os.getpid()}-{temp.name}"
    note.write_text(str(temp))
    return note


def sweep_temps(run_dir: str | os.PathLike[str]) -> int:
    """Remove the temp files noted in `run_dir` (their writer is gone); how many."""
    removed = 0
    folder = Path(run_dir) / "temp"
    for note in folder.glob("*") if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            temp = Path(note.read_text())
            if temp.name.endswith(TEMP_SUFFIX):  # never anything else, whatever the note says
                temp.unlink(missing_ok=True)
                removed += 1
        with contextlib.suppress(OSError):
            note.unlink()
    return removed


def remove_run_dir(run_dir: str | os.PathLike[str]) -> None:
    sweep_temps(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


def _is_stale(path: Path) -> bool:
    try:
        pid = int((path / "owner").read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # someone else's pid now: the owner is gone
            return True
        return False
    sock = path / "sup.sock"  # a run from before `owner` existed: is anyone listening?
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(sock))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False


def sweep_stale_run_dirs(base: Path | None = None) -> int:
    """Remove the run directories (and noted temp files) of runs whose supervisor is gone."""
    removed = 0
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in (base or run_base()).glob("pgask-*"):
        try:
            if (
                not path.is_dir()
                or path.is_symlink()
                or (uid is not None and path.stat().st_uid != uid)
            ):
                continue
            if not ((path / "owner").exists() or (path / "sup.sock").exists()):
                continue  # not a run directory (test clusters, other tools' pgask-* names)
            if _is_stale(path):
                remove_run_dir(path)
                removed += 1
        except OSError:
            continue
    return removed


def use_tcp() -> bool:
    return os.name == "nt" or os.environ.get("PGASK_TRANSPORT", "").lower() == "tcp"


def supervisor_endpoint(run_dir: str | os.PathLike[str]) -> str:
    """What the supervisor binds; a TCP endpoint gets its real port and key at bind time."""
    if use_tcp():
        return "tcp://127.0.0.1:*#curve"
    path = Path(run_dir) / "sup.sock"
    if len(os.fsencode(path)) > 100:  # sun_path limit is ~107 bytes
        raise ConfigError(
            f"The run directory {run_dir} is too long a path for pgask's sockets.",
            why=f"Unix socket paths are limited to about 100 bytes; this one is {len(os.fsencode(path))}.",
            hint="Set TMPDIR (or XDG_RUNTIME_DIR) to a shorter directory, e.g. TMPDIR=/tmp.",
            code="config.run_dir_too_long",
        )
    return f"ipc://{path}"
