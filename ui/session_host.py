"""The client side of the per-user session host (actors/supervisor_host.py, protocol/hostlink.py).

`attach()` finds this environment's host, retires it when it is another build, starts one when
there is none (detached, in its own session, so the terminal's signals never reach it), and
attaches: the lease it returns stays open for the command's life. Nothing here imports actors/
or trio: a client needs only this, the bus client and the command's own code.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protocol import hostlink
from protocol.hostlink import HostUnavailable, Lease

START_TIMEOUT_S = 60.0
_started: list[subprocess.Popen[bytes]] = []  # kept referenced: reaped when this process ends


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _connect_current(folder: Path, build: str) -> Lease | None:
    """A lease on the host in `folder` if it is this build (a stray one of another is stopped)."""
    lease = Lease.connect(folder)
    if lease is None:
        return None
    if lease.hello.get("build") == build:
        return lease
    with contextlib.suppress(OSError, HostUnavailable):
        lease.ask({"op": "stop", "why": f"another build in this build's directory ({build})"})
        lease.wait_closed()
    lease.close()
    return None


def retire_other_builds(folder: Path, build: str) -> None:
    """Ask the hosts of this environment's other builds to retire: they take no new client and
    exit when their last one (an open window, a running command) has gone."""
    for other in hostlink.sibling_dirs(folder):
        try:
            lease = Lease.connect(other, timeout=5)
        except OSError:
            continue
        if lease is None:
            continue
        with contextlib.closing(lease), contextlib.suppress(OSError, HostUnavailable):
            lease.ask({"op": "retire", "why": f"retired: a client of build {build} came"})


def _spawn(folder: Path, argv: list[str], *, wait_ready: bool, meanwhile: Any = None) -> None:
    log = open(folder / "host.log", "ab")
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [*argv, "--ready-fd", str(write_fd)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(write_fd,),
            start_new_session=True,
            close_fds=True,
        )
        _started.append(proc)
    finally:
        os.close(write_fd)
        log.close()
    try:
        if not wait_ready:
            return
        if meanwhile is not None:
            meanwhile()  # overlaps with the host's start
        deadline = time.monotonic() + START_TIMEOUT_S
        got = b""
        while b"\n" not in got:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                raise HostUnavailable(
                    f"The session host did not start within {START_TIMEOUT_S:g} s."
                )
            chunk = os.read(read_fd, 256)
            if not chunk:
                tail = _tail(folder / "host.log")
                raise HostUnavailable(f"The session host stopped while starting.\n{tail}")
            got += chunk
    finally:
        os.close(read_fd)


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def attach(
    config: Any, names: list[str], *, kind: str, start: tuple[str, ...] = ()
) -> tuple[Lease, dict[str, Any]]:
    """The lease and the attach reply (session, endpoint, run_dir, log_dir) of this
    environment's host, started if need be."""
    import msgspec

    folder = hostlink.ensure_private_dir(hostlink.host_dir(sys.argv[1:]))
    build = hostlink.build_id()
    lease = _connect_current(folder, build)
    if lease is None:
        with _locked(folder / "start.lock"):
            lease = _connect_current(folder, build)  # another client may have started one
            if lease is None:
                retire_other_builds(folder, build)
                argv = [sys.executable, "-m", "actors.supervisor_host", str(folder)]
                if config.source:
                    argv += ["--config", config.source]
                for actor in [*start, *(f"executor:{n}" for n in names)]:
                    argv += ["--start", actor]
                _spawn(folder, argv, wait_ready=True, meanwhile=_import_client)
                lease = Lease.connect(folder)
                if lease is None:
                    raise HostUnavailable("The session host started but does not answer.")
    profiles = {
        n: msgspec.json.encode(config.profiles[n]).decode() for n in names if n in config.profiles
    }
    reply = lease.ask({"op": "attach", "kind": kind, "profiles": profiles, "start": list(start)})
    if not reply.get("ok"):
        lease.close()
        raise HostUnavailable(f"The session host refused this client: {reply.get('error')}")
    return lease, reply


def _import_client() -> None:
    """What this command imports next anyway, imported while the host starts."""
    import trio  # noqa: F401

    import protocol.transport  # noqa: F401
    import ui.client  # noqa: F401


def ensure_command_server(folder: Path | None = None) -> None:
    """Start ui/command_server.py for this host when none answers (it serves the next
    commands; this one does not wait for it)."""
    folder = folder or hostlink.host_dir(sys.argv[1:])
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(folder / "cmd.sock"))
        return
    except OSError:
        pass
    finally:
        probe.close()
    if not (folder / "lease.sock").exists():
        return
    _spawn(folder, [sys.executable, "-m", "ui.command_server", str(folder)], wait_ready=False)


def run_tui(config: Any, profiles: list[str], *, model_label: str, welcome: str = "") -> int:
    """The TUI as a client of the host: attach, then run the UI in this very process (no second
    interpreter to start, nothing imported twice). The UI holds the lease: the host counts the
    window while it is open, and the window sees the host go."""
    import base64

    import msgspec

    from protocol.boot import UiBoot
    from protocol.config import resolve_profile, state_dir

    names = [resolve_profile(config, p)[0] for p in profiles]
    lease, info = attach(config, names, kind="tui", start=("guard", "planner", "exporter"))
    identity = f"ui-{os.urandom(16).hex()}"
    trusted = lease.ask({"op": "trust", "identity": identity})
    if not trusted.get("ok"):
        raise HostUnavailable(
            f"The session host would not trust this window: {trusted.get('error')}"
        )
    boot = UiBoot(
        identity=identity,
        endpoint=info["endpoint"],
        session=info["session"],
        run_dir=info["run_dir"],
        log_dir=info["log_dir"],
        config=msgspec.msgpack.encode(config),
        profiles=names,
        model_label=model_label,
        state_dir=str(state_dir()),
        welcome=welcome,
        lease_fd=lease.fileno(),
    )
    os.environ["PGASK_UI_BOOT"] = base64.b64encode(msgspec.msgpack.encode(boot)).decode()
    from ui import app

    try:
        return app.main()
    finally:
        os.environ.pop("PGASK_UI_BOOT", None)
        lease.close()


# -- pgask status / pgask stop ------------------------------------------------------------


def _folders(all_hosts: bool) -> list[Path]:
    if all_hosts:
        return hostlink.user_host_dirs()
    folder = hostlink.host_dir(sys.argv[1:])
    return [folder, *hostlink.sibling_dirs(folder)]  # this build's, and any still retiring


def status(all_hosts: bool = False) -> list[dict[str, Any]]:
    out = []
    for folder in _folders(all_hosts):
        lease = Lease.connect(folder)
        if lease is None:
            continue
        with contextlib.closing(lease):
            reply = lease.ask({"op": "status"})
        reply.pop("ok", None)
        out.append(reply)
    return out


def stop(all_hosts: bool = False, why: str = "pgask stop") -> list[int]:
    """Stop the host(s); the pids that were stopped (each waited for until it is gone)."""
    stopped = []
    for folder in _folders(all_hosts):
        lease = Lease.connect(folder)
        if lease is None:
            continue
        pid = int(lease.hello["pid"])
        with contextlib.closing(lease):
            lease.ask({"op": "stop", "why": why})
            lease.wait_closed()
        wait_gone(pid, 30.0)
        stopped.append(pid)
    return stopped


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until process `pid` has exited (a pidfd; no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def format_status(hosts: list[dict[str, Any]]) -> str:
    if not hosts:
        return "No pgask session host is running for this environment."
    lines = []
    for h in hosts:
        up = h["uptime_s"]
        uptime = (
            f"{up // 3600:.0f}h{up % 3600 // 60:02.0f}m"
            if up >= 3600
            else (f"{up // 60:.0f}m{up % 60:02.0f}s")
        )
        lines += [
            f"pgask session host, pid {h['pid']} (build {h['build']})"
            + (" - retiring: it exits when its last client has gone" if h.get("retiring") else ""),
            f"  uptime    {uptime}; exits after {h['idle_exit_s']:g} s without a client",
            f"  clients   {h['clients']}"
            + (f" ({', '.join(h['client_kinds'])})" if h["client_kinds"] else ""),
            f"  profiles  {', '.join(h['profiles']) or '(none open)'}",
            f"  memory    {h['rss_kb'] / 1024:.1f} MB host, {h['tree_rss_kb'] / 1024:.1f} MB with its actors",
            f"  actors    {', '.join(a['actor'] + ('' if a['state'] == 'running' else ' (' + a['state'] + ')') for a in h['actors'])}",
            f"  config    {h['config'] or '(defaults)'}",
            f"  logs      {h['log_dir']}",
        ]
    return "\n".join(lines)
