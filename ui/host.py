"""The composition root: the one place in ui/ that imports actors/.

A command runs against the per-user session host's tree (ui/session_host.py; the host is
actors/supervisor_host.py), or, with PGASK_HOST=off / --no-host, `pgask` hosts the supervisor
in its own process for the length of the command (or of a TUI session). Either way the command
body gets a HostView as `sup`; every other ui module talks to the actors only through
messages, over the client this file opens. `pgask check-sql` needs no tree: it loads the guard's classifier
alone (nothing else of actors/)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def check_sql(argv: list[str], *, remote: Any) -> int:
    """`pgask check-sql`: its parser and output live with the guard's classifier."""
    from actors.guard.check import check_sql_main

    return check_sql_main(argv, sys.stdin, sys.stdout, remote=remote)


@dataclass
class SessionRef:
    """The conversation a command talks in: its id (headers carry it) and its file."""

    id: str
    path: Path | None


@dataclass
class HostView:
    """What a command body gets as `sup`, whichever way the tree runs: in this process
    (PGASK_HOST=off, --no-host) or in the per-user session host. Nothing else of the
    supervisor is a command's business."""

    config: Any
    endpoint: str
    log_dir: Path
    run_dir: Path
    session: SessionRef
    _trust: Callable[[str], None]

    def trust(self, identity: str) -> None:
        """`identity` (a bus client this command opened) owns this conversation: its requests
        may carry the person's confirmation, in this conversation only."""
        self._trust(identity)


# The actors a command starts at once, besides its profiles' executors; the others start on
# their first message (a `sql` never pays for the planner). Set by ui/cli.py's dispatch.
EVERY_ACTOR = ("guard", "planner", "exporter")
START_FOR: dict[str | None, tuple[str, ...]] = {
    None: EVERY_ACTOR,  # the TUI: the planner's start overlaps with the person typing
    "actors": EVERY_ACTOR,
    "sql": ("guard",),
    "export": ("guard", "exporter"),
    "ask": ("guard", "planner"),
    "context": ("planner",),
}
command: str | None = "?"


def run_with_tree(
    config_path: Any, profiles: list[str], fn: Callable[..., Awaitable[int]], *, kind: str = "cli"
) -> int:
    """Run `fn(sup, client, *profiles)` against the actor tree, stop what this command started.

    `sup` is a HostView. The tree is the per-user session host's (started if need be), or,
    with PGASK_HOST=off / --no-host or where no host can be had, one started in this process
    for this command. `config_path` is a path (or None: the default lookup) or a loaded Config."""
    from protocol import hostlink
    from protocol.config import Config, load_config, resolve_profile

    config = config_path if isinstance(config_path, Config) else load_config(config_path)
    add_demo_profile(config, profiles)
    names = [resolve_profile(config, p)[0] for p in profiles]
    start = START_FOR.get(command, ("guard",))
    if hostlink.host_enabled() and command != "demo":  # `pgask demo` cleans up after the UI
        from ui import session_host

        try:
            lease, info = session_host.attach(config, names, kind=kind, start=start)
        except (hostlink.HostUnavailable, OSError) as exc:
            print(f"pgask: running without the session host: {exc}", file=sys.stderr)
        else:
            try:
                view = HostView(
                    config=config,
                    endpoint=info["endpoint"],
                    log_dir=Path(info["log_dir"]),
                    run_dir=Path(info["run_dir"]),
                    session=SessionRef(
                        info["session"],
                        Path(info["session_path"]) if info["session_path"] else None,
                    ),
                    _trust=lambda identity: _trusted(
                        lease.ask({"op": "trust", "identity": identity})
                    ),
                )
                return _drive(view, None, names, fn, lease=lease)
            finally:
                lease.close()
                if kind == "cli":
                    session_host.ensure_command_server()
    from actors._forkserver import start_early

    start_early()  # its preload overlaps with this process importing the supervisor
    return _drive(None, config, names, fn, start=start)


def _trusted(reply: dict[str, Any]) -> None:
    if not reply.get("ok"):
        from protocol.hostlink import HostUnavailable

        raise HostUnavailable(f"The session host would not trust this client: {reply.get('error')}")


async def _own_tree(stack: Any, config: Any, names: list[str], start: tuple[str, ...]) -> HostView:
    """PGASK_HOST=off / --no-host: a tree in this process, for this command (entered on
    `stack`, so it stops with the command)."""
    from actors.supervisor import Supervisor
    from actors.supervisor_tree import load_tree
    from protocol.config import state_dir

    tree = Supervisor(config, load_tree(), state_dir=state_dir(), eager=frozenset(start))
    await stack.enter_async_context(tree.running())
    for name in names:  # its connection opens while the command gets going
        tree._ensure_child(f"executor:{name}", tree.specs["executor"], name)
    session = SessionRef(tree.session.id, tree.session.path)
    return HostView(
        config=tree.config,
        endpoint=tree.endpoint,
        log_dir=tree.log_dir,
        run_dir=tree.run_dir,
        session=session,
        _trust=tree.trust,
    )


async def _lease_ended(lease: Any) -> None:
    """Returns when the host's lease ends, which it does only when the host does."""
    import socket

    import trio

    while True:
        await trio.lowlevel.wait_readable(lease.fileno())
        try:
            peek = lease.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            peek = b""
        if not peek:
            return
        await trio.sleep(0.01)  # a reply that the call waiting for it reads


def _drive(
    view: HostView | None,
    config: Any,
    names: list[str],
    fn: Callable[..., Awaitable[int]],
    *,
    start: tuple[str, ...] = (),
    lease: Any = None,
) -> int:
    """trio.run the command: with `view`, against the host's tree; else a tree of its own."""
    import contextlib
    import signal

    import trio

    from protocol.transport import open_context
    from ui.client import open_client

    stopped_by: list[int] = []
    host_lost: list[bool] = []

    async def _main() -> int:
        result: list[int] = []
        async with contextlib.AsyncExitStack() as stack:
            sup: Any = view or await _own_tree(stack, config, names, start)
            # SIGTERM (timeout, kill) and SIGHUP: stop (the tree) and clean up like a normal exit
            signals = stack.enter_context(trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP))
            ctx = await stack.enter_async_context(open_context())
            client = await stack.enter_async_context(open_client(ctx, sup.endpoint, sup.session.id))
            nursery = await stack.enter_async_context(trio.open_nursery())
            sup.trust(client.identity)  # this command is its conversation's owner

            async def work() -> None:
                result.append(await fn(sup, client, *names) if names else await fn(sup, client))
                nursery.cancel_scope.cancel()

            async def on_signal() -> None:
                async for signum in signals:
                    stopped_by.append(signum)
                    nursery.cancel_scope.cancel()
                    return

            async def watch_host() -> None:
                await _lease_ended(lease)
                host_lost.append(True)
                nursery.cancel_scope.cancel()

            nursery.start_soon(work)
            nursery.start_soon(on_signal)
            if lease is not None:
                nursery.start_soon(watch_host)
        return result[0] if result else 1

    code = trio.run(_main)
    if stopped_by:
        name = signal.Signals(stopped_by[0]).name
        print(
            f"pgask: stopped by {name}; the query (if any) was cancelled and pgask cleaned up.",
            file=sys.stderr,
        )
        return 128 + stopped_by[0]
    if host_lost and not stopped_by:
        print(
            "pgask: the session host stopped while this command ran; it did not finish.\n"
            "A query that was running is stopped by the server (its connection closed);\n"
            "`pgask audit` shows whether a write committed. Run the command again.",
            file=sys.stderr,
        )
        return 1
    return code


def launch_tui(config: Any, profiles: list[str], *, model_label: str, welcome: str = "") -> int:
    """The terminal UI: the supervisor runs here, the UI is a child process on this tty."""
    import base64
    import os
    import signal

    import msgspec
    import trio

    from protocol.boot import UiBoot
    from protocol.config import state_dir

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the UI, never to the tree
    from protocol import hostlink

    if hostlink.host_enabled() and command != "demo":  # `pgask demo` cleans up after the UI
        from ui import session_host

        try:
            return session_host.run_tui(config, profiles, model_label=model_label, welcome=welcome)
        except (hostlink.HostUnavailable, OSError) as exc:  # could not attach: a tree of its own
            print(f"pgask: running without the session host: {exc}", file=sys.stderr)
            os.environ[hostlink.ENV_HOST] = "off"

    async def tui(sup: Any, client: Any, *names: str) -> int:
        identity = f"ui-{os.urandom(16).hex()}"
        sup.trust(identity)  # the window this command opens is the session's owner too
        boot = UiBoot(
            identity=identity,
            endpoint=sup.endpoint,
            session=sup.session.id,
            run_dir=str(sup.run_dir),
            log_dir=str(sup.log_dir),
            config=msgspec.msgpack.encode(sup.config),
            profiles=list(names),
            model_label=model_label,
            state_dir=str(state_dir()),
            welcome=welcome,
        )
        env = {
            **os.environ,
            "PGASK_UI_BOOT": base64.b64encode(msgspec.msgpack.encode(boot)).decode(),
        }
        proc = await trio.lowlevel.open_process([sys.executable, "-m", "ui.app"], env=env)
        try:
            code = await proc.wait()
        except trio.Cancelled:  # the tree is gone (or pgask was stopped): the window closes
            proc.terminate()  # first, so the terminal is restored before anything is printed
            with trio.move_on_after(5, shield=True):
                await proc.wait()
            raise
        if code not in (0, 130):
            print(
                f"pgask: the terminal UI stopped unexpectedly (exit {code}). Logs: {sup.log_dir}",
                file=sys.stderr,
            )
        return 0 if code in (0, 130) else 1

    return run_with_tree(config, profiles, tui, kind="tui")


def add_demo_profile(config: Any, profiles: list[str]) -> None:
    """`-p demo` works after `pgask demo` even though no config file names it."""
    own = config.profiles.get("demo")
    if "demo" in profiles and (
        own is None
        or not any(getattr(own, f) for f in ("dsn", "host", "port", "user", "dbname", "service"))
    ):
        from ui import demo

        server = demo.start_server()
        demo.ensure_shop(server, out=sys.stderr)
        demo.set_demo_profile(config, server)
