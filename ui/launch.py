"""`pgask`'s entry point: the shortest way to the command.

With the session host on (the default; PGASK_HOST=off or --no-host turn it off), a command
is handed whole to this host's command server (ui/command_server.py), a warm process that
forks one child per command with this process's argv, environment, working directory and
standard streams: the child's output goes straight to ours, its exit status becomes ours, and
SIGINT, SIGTERM and SIGHUP are passed on. On a terminal, the child asks there (a password, a
confirmation) through PGASK_TTY, the terminal's own name. Everything else (the TUI, no command
server yet) runs `ui.cli.main` here, as a thin client of the host.

Standard library only until it knows which way it goes.
"""

from __future__ import annotations

import array
import marshal
import os
import signal
import socket
import sys

from protocol import hostlink

# commands the command server may run (the TUI and `demo` need this process's terminal)
_SERVED = frozenset(
    {
        "sql",
        "export",
        "ask",
        "context",
        "check-sql",
        "actors",
        "doctor",
        "explain",
        "index",
        "migrate",
        "backup",
        "restore",
        "audit",
        "logs",
    }
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--no-host" in argv:  # accepted anywhere on the line
        argv = [a for a in argv if a != "--no-host"]
        os.environ[hostlink.ENV_HOST] = "off"
    if hostlink.host_enabled():
        os.environ[hostlink.ENV_DIR] = str(hostlink.host_dir(argv))
        if _first_command(argv) in _SERVED:
            code = run_served(argv)
            if code is not None:
                return code
    from ui.cli import main as cli_main

    return cli_main(argv)


def _first_command(argv: list[str]) -> str:
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--config", "-p", "--profile"):
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return ""


def _terminal_name() -> str:
    """The controlling terminal's own path (/dev/pts/N), for a child that has none; "" if none."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return ""
    os.close(fd)
    try:  # ttyname of /dev/tty itself is "/dev/tty": the device's name is stdin's
        return os.ttyname(0) if os.isatty(0) else "/dev/tty"
    except OSError:
        return "/dev/tty"


def run_served(argv: list[str]) -> int | None:
    """Run the command in the command server; None when there is none to run it (or it is
    another build): then the caller runs it here."""
    folder = hostlink.host_dir(argv)
    env = dict(os.environ)
    tty = _terminal_name()
    if tty and not os.isatty(0):
        return None  # a password prompt (getpass) would read stdin there, not the terminal
    if tty:
        env["PGASK_TTY"] = tty
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(folder / "cmd.sock"))
        request = {
            "argv": argv,
            "env": env,
            "cwd": os.getcwd(),
            "build": hostlink.build_id(),
            "umask": _umask(),
        }
        data = frame(request)
        fds = array.array("i", [0, 1, 2])
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        reader = sock.makefile("rb")
        first = read_frame(reader)
    except (OSError, ValueError):
        sock.close()
        return None
    if first is None or "pid" not in first:
        sock.close()
        return None  # another build, or one on its way out
    pid = int(first["pid"])

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        while True:
            try:
                last = read_frame(reader)
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
    except OSError:
        last = None
    finally:
        sock.close()
    if last is None or "exit" not in last:
        print(
            "pgask: the command stopped unexpectedly (its process ended without a status);"
            " see `pgask logs`.",
            file=sys.stderr,
        )
        return 1
    return int(last["exit"])


def frame(obj: dict) -> bytes:
    """The command server's framing: 4-byte length, then marshal (builtin: nothing to import)."""
    data = marshal.dumps(obj)
    return len(data).to_bytes(4, "big") + data


def read_frame(reader: object) -> dict | None:
    """The next frame from a binary file; None at end of stream."""
    head = reader.read(4)  # type: ignore[attr-defined]
    if len(head) < 4:
        return None
    data = reader.read(int.from_bytes(head, "big"))  # type: ignore[attr-defined]
    return marshal.loads(data)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


if __name__ == "__main__":
    sys.exit(main())
