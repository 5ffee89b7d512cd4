"""The composition root: the one place in ui/ that imports actors/.

`pgask` hosts the supervisor in its own process for the length of a command (or of a TUI
session); every other ui module talks to the actors only through messages, over the
client this file opens. `pgask check-sql` needs no tree: it loads the guard's classifier
alone (nothing else of actors/)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any


def check_sql(argv: list[str], *, remote: Any) -> int:
    """`pgask check-sql`: its parser and output live with the guard's classifier."""
    from actors.guard.check import check_sql_main

    return check_sql_main(argv, sys.stdin, sys.stdout, remote=remote)


def run_with_tree(
    config_path: Any, profiles: list[str], fn: Callable[[Any, Any], Awaitable[int]]
) -> int:
    """Start the supervisor in this process, run `fn(supervisor, client)`, stop the tree.

    `config_path` is a path (or None: the default lookup) or an already loaded Config."""
    import trio

    from actors.supervisor import Supervisor
    from actors.supervisor_tree import load_tree
    from protocol.config import Config, load_config, resolve_profile, state_dir
    from protocol.transport import open_context
    from ui.client import open_client

    config = config_path if isinstance(config_path, Config) else load_config(config_path)
    add_demo_profile(config, profiles)
    names = [resolve_profile(config, p)[0] for p in profiles]

    import signal

    stopped_by: list[int] = []

    async def _main() -> int:
        sup = Supervisor(config, load_tree(), state_dir=state_dir())
        result: list[int] = []
        # SIGTERM (timeout, kill) and SIGHUP: stop the tree and clean up like a normal exit
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
            async with (
                sup.running(),
                open_context() as ctx,
                open_client(ctx, sup.endpoint, sup.session.id) as client,
                trio.open_nursery() as nursery,
            ):
                sup.trust(client.identity)  # this command is the session's owner

                async def work() -> None:
                    result.append(await fn(sup, client, *names) if names else await fn(sup, client))
                    nursery.cancel_scope.cancel()

                async def on_signal() -> None:
                    async for signum in signals:
                        stopped_by.append(signum)
                        nursery.cancel_scope.cancel()
                        return

                nursery.start_soon(work)
                nursery.start_soon(on_signal)
        return result[0] if result else 1

    code = trio.run(_main)
    if stopped_by:
        name = signal.Signals(stopped_by[0]).name
        print(f"pgask: stopped by {name}; the query (if any) was cancelled and pgask cleaned up.",
              file=sys.stderr)  # fmt: skip
        return 128 + stopped_by[0]
    return code


def launch_tui(config: Any, profiles: list[str], *, model_label: str, welcome: str = "") -> int:
    """The terminal UI: the supervisor runs here, the UI is a child process on this tty."""
    import base64
    import os
    import signal

    import msgspec
    import trio

    from protocol.boot import UiBoot

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the UI, never to the tree

    async def tui(sup: Any, client: Any, *names: str) -> int:
        identity = f"ui-{os.urandom(16).hex()}"
        sup.trust(identity)  # the window this command opens is the session's owner too
        boot = UiBoot(
            identity=identity,
            endpoint=sup.endpoint, session=sup.session.id, run_dir=str(sup.run_dir), log_dir=str(sup.log_dir),
            config=msgspec.msgpack.encode(sup.config), profiles=list(names), model_label=model_label,
            state_dir=str(sup.session.path.parent) if sup.session.path else "", welcome=welcome,
        )  # fmt: skip
        env = {
            **os.environ,
            "PGASK_UI_BOOT": base64.b64encode(msgspec.msgpack.encode(boot)).decode(),
        }
        proc = await trio.lowlevel.open_process([sys.executable, "-m", "ui.app"], env=env)
        code = await proc.wait()
        if code not in (0, 130):
            print(
                f"pgask: the terminal UI stopped unexpectedly (exit {code}). Logs: {sup.log_dir}",
                file=sys.stderr,
            )
        return 0 if code in (0, 130) else 1

    return run_with_tree(config, profiles, tui)


def add_demo_profile(config: Any, profiles: list[str]) -> None:
    """`-p demo` works after `pgask demo` even though no config file names it."""
    own = config.profiles.get("demo")
    if "demo" in profiles and (own is None or not any(getattr(own, f) for f in (
            "dsn", "host", "port", "user", "dbname", "service"))):  # fmt: skip
        from ui import demo

        server = demo.start_server()
        demo.ensure_shop(server, out=sys.stderr)
        demo.set_demo_profile(config, server)
