"""The per-user session host's front door (DESIGN §1): where it lives, which build it is, and
the small line protocol its clients speak to it before they use the bus.

Standard library only: `pgask` imports this before it knows whether it needs anything else.

Where: `<run base>/pgask-host-<uid>-<key>-<build>/`, mode 0700 and owned by the user (checked, never
trusted), where <run base> is $XDG_RUNTIME_DIR or the temp directory and <key> a hash of what
the host's behaviour depends on (the config file named, the PG*/PGASK_*/OPENAI_*/XDG_*
variables, a .env in the working directory): two commands share a host only when they would
have built the same tree, and only when they are the same build. Inside:
    host.lock    held (flock) by the live host for its whole life
    start.lock   held by a client while it starts a host, so two never start at once
    owner        the host's pid (the stale-run sweep of protocol/endpoints.py reads it)
    lease.sock   AF_UNIX stream: this protocol
    sup.sock     the supervisor's ROUTER (ipc://), or, with PGASK_TRANSPORT=tcp, a loopback
                 TCP port with CURVE whose server key is only in `endpoint` (mode 0600)
    cmd.sock     ui/command_server.py: runs whole commands forked from a warm process (its
                 own framing: marshal, length-prefixed, see ui/launch.py)
    host.log     the host's own stderr

Lease protocol: one JSON object a line each way. On connect the host says
    {"op": "hello", "pid", "build", "started"}
then the client sends requests, each answered by one line:
    {"op": "attach", "kind": "cli"|"tui"|"helper", "profiles": {name: ProfileConfig as JSON},
     "start": [actor ids]}  -> {"ok", "session", "session_path", "endpoint", "run_dir",
                                "log_dir", "config_source"}
    {"op": "trust", "identity"}  -> {"ok"}: that bus identity may confirm in this lease's session
    {"op": "status"}             -> {"ok", "pid", "uptime_s", "clients", "profiles", "rss_kb", ...}
    {"op": "stop", "why"}        -> {"ok"}; then the host exits and closes every lease
    {"op": "retire", "why"}      -> {"ok"}; a client of another build came: the host takes no
                                    new client and exits when its last one has gone
An attached connection is a client for as long as it stays open: the host counts them for its
idle exit, and forgets the identities a lease trusted when it closes.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

ENV_HOST = "PGASK_HOST"  # "off" (or 0/no/false): one process tree per command, as before
ENV_DIR = "PGASK_HOST_DIR"  # set by `pgask` at start: the host this process and its children use
ENV_BUILD = "PGASK_BUILD_ID"  # overrides the build fingerprint (tests of the version check)
_KEY_PREFIXES = ("PG", "OPENAI_", "XDG_")
_NOT_KEYED = frozenset({ENV_HOST, ENV_DIR, ENV_BUILD, "PGASK_TEST_DSN", "PGASK_TTY"})
_PACKAGES = ("protocol", "actors", "ui")


def _sha256() -> Any:
    try:  # the builtin module: hashlib would load OpenSSL first (~5 ms of every command)
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - other Pythons
        from hashlib import sha256
    return sha256()


class HostUnavailable(RuntimeError):
    """No host can be used here; the message says why (the command runs without one)."""


def host_enabled(argv: list[str] | None = None) -> bool:
    if argv is not None and "--no-host" in argv:
        return False
    if os.environ.get(ENV_HOST, "").strip().lower() in ("off", "0", "no", "false"):
        return False
    return hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")


def run_base() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.access(base, os.W_OK):
        import tempfile  # only here: ~4 ms of every command otherwise

        base = tempfile.gettempdir()
    return Path(base)


def config_arg(argv: list[str]) -> str:
    """The config file a command line names (--config), else $PGASK_CONFIG, else ""."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return os.path.abspath(os.path.expanduser(argv[i + 1]))
        if arg.startswith("--config="):
            return os.path.abspath(os.path.expanduser(arg.split("=", 1)[1]))
        if arg == "--":
            break
    given = os.environ.get("PGASK_CONFIG", "")
    return os.path.abspath(os.path.expanduser(given)) if given else ""


def host_key(argv: list[str]) -> str:
    """What a host's behaviour depends on, hashed: commands that differ in it get other hosts."""
    h = _sha256()
    h.update(config_arg(argv).encode())
    for name in sorted(os.environ):
        if name.startswith(_KEY_PREFIXES) and name not in _NOT_KEYED:
            h.update(f"\0{name}={os.environ[name]}".encode("utf-8", "surrogateescape"))
    try:
        h.update(b"\0.env\0" + Path(".env").read_bytes())
    except OSError:
        pass
    return h.hexdigest()[:12]


def host_dir(argv: list[str] | None = None) -> Path:
    """This command's host directory: $PGASK_HOST_DIR when `pgask` set it, else computed. One
    per environment and build: a host of another build is never shared, only retired."""
    given = os.environ.get(ENV_DIR)
    if given:
        return Path(given)
    return run_base() / f"pgask-host-{os.getuid()}-{host_key(argv or [])}-{build_id()}"


def sibling_dirs(folder: Path) -> list[Path]:
    """The host directories of the same environment and another build (older installs)."""
    prefix = folder.name.rsplit("-", 1)[0] + "-"
    return sorted(p for p in folder.parent.glob(prefix + "*") if p != folder)


def user_host_dirs() -> list[Path]:
    """Every host directory of this user under the run base."""
    return sorted(run_base().glob(f"pgask-host-{os.getuid()}-*"))


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700, or check that an existing one is a real directory of ours, 0700."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise HostUnavailable(
            f"{path} is not a private directory of this user (owner uid {st.st_uid}, "
            f"mode {stat.S_IMODE(st.st_mode):o}); pgask will not put its session host there."
        )
    return path


def build_id() -> str:
    """Which pgask is installed: its version and a fingerprint of its files (size, mtime), so a
    reinstall, an upgrade or an edit of an editable install is a new build."""
    if os.environ.get(ENV_BUILD):
        return os.environ[ENV_BUILD]
    root = Path(__file__).resolve().parent.parent
    h = _sha256()
    for package in _PACKAGES:
        try:
            entries = sorted(os.scandir(root / package), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith((".py", ".toml", ".sql")):
                st = entry.stat()
                h.update(f"{package}/{entry.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for extra in ("supervisor.toml", "pyproject.toml"):
        try:
            st = (root / extra).stat()
            h.update(f"{extra}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        except OSError:
            pass
    return h.hexdigest()[:16]


# -- the line protocol ----------------------------------------------------------------------


class LineSocket:
    """A blocking AF_UNIX stream speaking one JSON object per line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def send(self, obj: dict[str, Any]) -> None:
        import json  # not at import: `pgask` reaches the command server without it (and re)

        self.sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def recv(self) -> dict[str, Any] | None:
        """The next object; None at end of stream."""
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        import json

        return json.loads(line)

    def ask(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.send(obj)
        reply = self.recv()
        if reply is None:
            raise HostUnavailable("The session host closed the connection.")
        return reply

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class Lease(LineSocket):
    """A client's connection to the host; the host counts it while it is open."""

    hello: dict[str, Any]

    @classmethod
    def connect(cls, folder: Path, timeout: float = 10.0) -> Lease | None:
        """Connect to the host in `folder`; None when none is listening there."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(folder / "lease.sock"))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return None
        except OSError:
            sock.close()
            raise
        lease = cls(sock)
        try:
            hello = lease.recv()
        except (OSError, ValueError):
            hello = None
        if hello is None or hello.get("op") != "hello":
            sock.close()
            return None  # a host on its way out
        lease.hello = hello
        return lease

    def wait_closed(self, timeout: float = 30.0) -> bool:
        """After `stop`: True once the host has closed this connection (it is exiting)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        except OSError:
            pass
        return True
