"""The session host's command server: `python -m ui.command_server DIR`.

A client process of the host whose only job is to have everything a command needs already
imported (trio, zmq, msgspec, the CLI and its formatters): for each connection on DIR/cmd.sock
it receives a command line, an environment, a working directory and three file descriptors
(ui/launch.py sends them), forks, and the child runs `ui.cli.main` as `pgask` would, as a
thin client of the host, with those descriptors as its standard streams. The child tells the
caller its pid (for signals) and, at the end, its exit status.

The server itself never opens a zmq context or starts trio (a fork must start clean,
runtime-spike.md §4). It exits when its host does (its lease closes), when a caller of another
build comes (that caller then retires the host), or when it cannot serve.
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import signal
import socket
import struct
import sys
from pathlib import Path

from protocol import hostlink
from ui.launch import frame


def preload() -> None:
    """What a command needs, imported once here (a fork inherits it)."""
    import dotenv  # noqa: F401
    import msgspec  # noqa: F401
    import platformdirs  # noqa: F401
    import setproctitle  # noqa: F401
    import trio  # noqa: F401  (zmq comes with protocol.transport)

    import protocol.codec
    import protocol.config
    import protocol.copystream
    import protocol.messages
    import protocol.signing
    import protocol.transport  # noqa: F401
    import ui.cli
    import ui.cli_batch
    import ui.cli_dba
    import ui.client
    import ui.explain
    import ui.format
    import ui.headless
    import ui.records
    import ui.session_host
    import ui.workflow  # noqa: F401

    try:  # argparse with every subcommand costs ~10 ms a command: built once, here
        from ui import cli

        parser = cli.build_parser()
        cli.build_parser = lambda: parser  # type: ignore[assignment]  # this process only
    except Exception:
        pass


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    import marshal

    fds = array.array("i")
    data = b""
    got: list[int] = []
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        msg, ancdata, _flags, _addr = conn.recvmsg(1 << 20, socket.CMSG_LEN(3 * fds.itemsize))
        if not msg:
            raise ValueError("the request ended early")
        data += msg
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                chunk = array.array("i")
                chunk.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
                got.extend(chunk)
    request = marshal.loads(data[4 : 4 + int.from_bytes(data[:4], "big")])
    if not isinstance(request, dict):
        raise ValueError("not a request")
    return request, got


def _run_child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the command, run it, report, exit."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in any Python process: EPIPE instead
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(int(request.get("umask", 0o022)))
        sys.argv = ["pgask", *request["argv"]]
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            stream.reconfigure(line_buffering=os.isatty(fd))  # type: ignore[attr-defined]
        conn.sendall(frame({"pid": os.getpid()}))
        from ui.cli import main

        code = main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            conn.sendall(frame({"exit": code}))
        except OSError:
            pass
        os._exit(code if isinstance(code, int) else 1)


def serve(folder: Path) -> int:
    lock = open(folder / "cmd.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another one serves this host
    lease = hostlink.Lease.connect(folder)
    if lease is None:
        return 0
    build = hostlink.build_id()
    if lease.hello.get("build") != build:
        return 0
    reply = lease.ask({"op": "attach", "kind": "helper"})
    if not reply.get("ok"):
        return 1
    preload()
    path = folder / "cmd.sock"
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        import setproctitle

        setproctitle.setproctitle("pgask: command server")
    except ImportError:  # pragma: no cover - declared dependency
        pass
    import gc

    gc.freeze()  # what is imported stays put: fewer copy-on-write pages in every child
    try:
        while True:
            # one spare child, forked ahead of time, waits in accept(): a command does not wait
            # for a fork; it says on `taken` when it has its caller, and the next is forked
            taken_r, taken_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(taken_r)
                lease.sock.close()
                lock.close()  # the lock is the server's, not a command's
                _spare(listener, taken_w, build)
            os.close(taken_w)
            try:
                ready, _, _ = select.select([taken_r, lease.sock], [], [])
                if lease.sock in ready:
                    os.kill(pid, signal.SIGKILL)  # the host is gone: so is its spare
                    return 0
                if os.read(taken_r, 16) == b"stale":
                    return 0  # a caller of another build: this server's time is over
            finally:
                os.close(taken_r)
    finally:
        path.unlink(missing_ok=True)


def _spare(listener: socket.socket, taken_w: int, build: str) -> None:
    """In a forked spare: wait for one caller, tell the server, run its command, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:  # a spare never outlives its server (while it waits; a command may)
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    while True:
        conn, _ = listener.accept()
        fds: list[int] = []
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", creds)[1] != os.getuid():
                conn.close()
                continue
            request, fds = _recv_request(conn)
        except (OSError, ValueError, KeyError):
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        stale = request.get("build") != build
        os.write(taken_w, b"stale" if stale else b"taken")
        try:  # the command runs to its end even if the server goes meanwhile
            import ctypes

            ctypes.CDLL(None).prctl(1, 0)
        except (OSError, AttributeError):
            pass
        os.close(taken_w)
        listener.close()
        if stale or len(fds) < 3:
            conn.sendall(frame({"stale": True}))
            os._exit(0)
        _run_child(conn, request, fds)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0])
    os.chdir("/")
    return serve(folder)


if __name__ == "__main__":
    sys.exit(main())
