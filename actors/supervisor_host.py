"""supervisor_host: the per-user session host (DESIGN §1), `python -m actors.supervisor_host DIR`.

The first `pgask` command starts it detached; it runs the supervisor (and so the whole actor
tree) for as long as it has clients, so later commands and TUI windows reuse warm actors,
connection pools and catalog caches. Clients speak to it first over `DIR/lease.sock`
(protocol/hostlink.py), then over the bus like any client.

Receives (lease): attach, trust, status, stop.
Exits:    after `[host] idle_exit_s` without a client; on `stop` (`pgask stop`, or a client of
          another build retiring it); on SIGTERM/SIGHUP/SIGINT. Every exit stops the tree.
Sessions: the first TUI window and every CLI command share the main conversation (as one
          command after another always did); a window opened while another holds it gets a
          conversation of its own. A client may confirm only in its own conversation, and only
          while its lease is open.
Config:   the file is watched (and checked again at each attach): a change is read, and the
          executors of profiles that changed are retired, so the next request gets the new
          settings.
Safety:   DIR is 0700 and the user's own (checked by the client that created it); the lease
          socket also checks each peer's uid (SO_PEERCRED).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # the actors' forkserver preloads while this process imports
    from actors._forkserver import start_early

    start_early()

import msgspec
import trio

from actors.supervisor import Supervisor
from actors.supervisor_tree import load_tree
from protocol import hostlink
from protocol.config import ProfileConfig, default_config_path, load_config, state_dir
from protocol.errors import PgaskError
from protocol.tracing import log

CONFIG_POLL_S = 1.0
STARTUP_GRACE_S = 30.0


@dataclass
class LeaseState:
    n: int
    kind: str = ""
    session: str = ""
    identities: set[str] = field(default_factory=set)


class Host:
    def __init__(self, folder: Path, sup: Supervisor, build: str) -> None:
        self.folder, self.sup, self.build = folder, sup, build
        self.started = time.time()
        self.clients: dict[int, LeaseState] = {}  # attached leases that count (not helpers)
        self.main_holder: int | None = None  # the TUI lease holding the main conversation
        self.changed = trio.Event()
        self.stop = trio.Event()
        self.stop_reason = ""
        self.retiring = ""  # why, once a client of another build asked: no new clients
        self.n = 0
        self.config_file = Path(sup.config.source) if sup.config.source else None
        self.config_mtime = self._config_mtime()

    # -- lifecycle ------------------------------------------------------------------------

    def request_stop(self, why: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = why
            log.info("host.stopping", why=why, uptime_s=round(time.time() - self.started, 1))
            self.stop.set()

    def _client_count_changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def idle_exit(self) -> None:
        """Exit after `[host] idle_exit_s` with no client."""
        while True:
            while self.clients:
                await self.changed.wait()
            idle = max(0.0, self.sup.config.host.idle_exit_s)
            if self.n == 0:  # the client that started this host has not connected yet
                idle = max(idle, STARTUP_GRACE_S)
            with trio.move_on_after(idle):
                await self.changed.wait()
                continue
            if not self.clients:
                self.request_stop("idle")
                return

    # -- configuration ---------------------------------------------------------------------

    def _config_path(self) -> Path:
        if self.config_file is not None:
            return self.config_file
        return Path(os.environ.get("PGASK_CONFIG") or default_config_path())

    def _config_mtime(self) -> int:
        try:
            return self._config_path().stat().st_mtime_ns
        except OSError:
            return 0

    async def check_config(self) -> None:
        mtime = self._config_mtime()
        if mtime == self.config_mtime:
            return
        self.config_mtime = mtime
        try:
            reloaded = await self.sup.on_config_reload(b"", None, None)  # type: ignore[arg-type]
        except PgaskError as exc:  # a half-saved or broken file: keep the settings we have
            log.warning("host.config.unreadable", error=exc.message)
            return
        for name in [*reloaded.changed, *reloaded.removed]:
            await self.sup.retire_child(f"executor:{name}")

    async def watch_config(self) -> None:
        while True:
            await trio.sleep(CONFIG_POLL_S)
            await self.check_config()

    # -- leases ----------------------------------------------------------------------------

    async def serve_leases(self, listener: trio.socket.SocketType) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                conn, _ = await listener.accept()
                nursery.start_soon(self.serve_lease, conn)

    async def serve_lease(self, conn: trio.socket.SocketType) -> None:
        self.n += 1
        lease = LeaseState(self.n)
        with conn:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                log.warning("host.lease.refused", uid=uid)
                return
            try:
                await _send(
                    conn,
                    {
                        "op": "hello",
                        "pid": os.getpid(),
                        "build": self.build,
                        "started": self.started,
                    },
                )
                buf = b""
                while True:
                    while b"\n" not in buf:
                        chunk = await conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    line, buf = buf.split(b"\n", 1)
                    try:
                        request = json.loads(line)
                        reply = await self.handle(lease, request)
                    except (ValueError, KeyError, TypeError, msgspec.ValidationError) as exc:
                        reply = {"ok": False, "error": f"bad request: {exc}"}
                    await _send(conn, reply)
            except OSError:
                return
            finally:
                self._release(lease)

    def _release(self, lease: LeaseState) -> None:
        for identity in lease.identities:
            self.sup.distrust(identity)
        if lease.session and lease.session != self.sup.session.id:
            self.sup.sessions.pop(lease.session, None)  # saved on disk; nobody talks in it now
        if self.main_holder == lease.n:
            self.main_holder = None
        if self.clients.pop(lease.n, None) is not None:
            log.info("host.client.left", kind=lease.kind, clients=len(self.clients))
            self._client_count_changed()
            if self.retiring and not self.clients:
                self.request_stop(self.retiring)

    async def handle(self, lease: LeaseState, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "attach":
            return await self.attach(lease, req)
        if op == "trust":
            if not lease.session:
                return {"ok": False, "error": "attach first"}
            identity = str(req["identity"])
            lease.identities.add(identity)
            self.sup.trust_in(identity, lease.session)
            return {"ok": True}
        if op == "status":
            return {"ok": True, **self.status()}
        if op == "stop":
            self.request_stop(str(req.get("why") or "stop"))
            return {"ok": True}
        if op == "retire":
            self.retiring = str(req.get("why") or "retired")
            log.info("host.retiring", why=self.retiring, clients=len(self.clients))
            if not self.clients:
                self.request_stop(self.retiring)
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def attach(self, lease: LeaseState, req: dict[str, Any]) -> dict[str, Any]:
        sup = self.sup
        if self.retiring and req.get("kind") != "helper":
            return {"ok": False, "error": f"this host is retiring ({self.retiring})"}
        await self.check_config()
        kind = str(req.get("kind") or "cli")
        changed = False
        for name, raw in dict(req.get("profiles") or {}).items():
            wanted = msgspec.json.decode(raw, type=ProfileConfig)
            have = sup.config.profiles.get(name)
            if have != wanted:  # a URL, the demo, or a file newer than our last look
                sup.config.profiles[name] = wanted
                changed = True
                if have is not None:
                    await sup.retire_child(f"executor:{name}")
        if changed:
            sup._config_bytes = msgspec.msgpack.encode(sup.config)  # executors boot on it
        for name in req.get("profiles") or {}:
            sup._ensure_child(f"executor:{name}", sup.specs["executor"], name)
        for actor in req.get("start") or []:
            spec = sup.specs.get(actor)
            if spec is not None and not spec.for_each_profile:
                sup._ensure_child(actor, spec)
        lease.kind = kind
        if kind == "helper":
            store = sup.session
        elif kind == "tui" and self.main_holder is not None:
            store = sup.open_session()  # another window holds the main conversation
        else:
            store = sup.session
            if kind == "tui":
                self.main_holder = lease.n
        lease.session = store.id
        if kind != "helper" and lease.n not in self.clients:
            self.clients[lease.n] = lease
            log.info("host.client.attached", kind=kind, clients=len(self.clients))
            self._client_count_changed()
        return {
            "ok": True,
            "session": store.id,
            "session_path": str(store.path or ""),
            "endpoint": sup.endpoint,
            "run_dir": str(sup.run_dir),
            "log_dir": str(sup.log_dir),
            "config_source": sup.config.source,
            "pid": os.getpid(),
        }

    def status(self) -> dict[str, Any]:
        sup = self.sup
        actors = []
        pids = [os.getpid()]
        for child in sup.children.values():
            pid = child.proc.pid if child.proc else 0
            if pid and child.state not in ("stopped",):
                pids.append(pid)
            actors.append(
                {
                    "actor": child.actor_id,
                    "pid": pid,
                    "state": child.state,
                    "restarts": child.restarts,
                }
            )
        if sup._mp is not None:  # the forkserver the actors are forked from
            pids.extend(p for p in _forkserver_pids())
        profiles = sorted(
            c.profile
            for c in sup.children.values()
            if c.profile and c.state in ("starting", "running", "restarting")
        )
        return {
            "pid": os.getpid(),
            "build": self.build,
            "dir": str(self.folder),
            "uptime_s": round(time.time() - self.started, 1),
            "clients": len(self.clients),
            "client_kinds": sorted(c.kind for c in self.clients.values()),
            "sessions": len(sup.sessions),
            "profiles": profiles,
            "actors": actors,
            "rss_kb": _rss_kb(os.getpid()),
            "tree_rss_kb": sum(_rss_kb(p) for p in set(pids)),
            "idle_exit_s": sup.config.host.idle_exit_s,
            "config": sup.config.source,
            "retiring": self.retiring,
            "log_dir": str(sup.log_dir),
        }


async def _send(conn: trio.socket.SocketType, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    while data:
        sent = await conn.send(data)
        data = data[sent:]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _forkserver_pids() -> list[int]:
    try:
        from multiprocessing import forkserver

        pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        return [pid] if pid else []
    except Exception:
        return []


async def run_host(folder: Path, config_path: str, ready_fd: int, start: list[str]) -> str:
    build = hostlink.build_id()
    config = load_config(config_path or None, read_dotenv=False)
    sup = Supervisor(
        config, load_tree(), run_dir=folder, state_dir=state_dir(), eager=frozenset({"guard"})
    )
    host = Host(folder, sup, build)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP, signal.SIGINT) as signals:
        async with sup.running(), trio.open_nursery() as nursery:
            listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = folder / "lease.sock"
            path.unlink(missing_ok=True)
            await listener.bind(str(path))
            os.chmod(path, 0o600)
            listener.listen(64)
            if os.path.exists(folder / "sup.sock"):
                os.chmod(folder / "sup.sock", 0o600)
            for actor in start:  # what the client that started us needs: under way already
                name = actor.removeprefix("executor:")
                if actor.startswith("executor:") and name in sup.config.profiles:
                    sup._ensure_child(actor, sup.specs["executor"], name)
                elif actor in sup.specs and not sup.specs[actor].for_each_profile:
                    sup._ensure_child(actor, sup.specs[actor])
            log.info(
                "host.started",
                pid=os.getpid(),
                build=build,
                dir=str(folder),
                idle_exit_s=config.host.idle_exit_s,
            )
            if ready_fd >= 0:
                os.write(ready_fd, f"ready {os.getpid()}\n".encode())
                os.close(ready_fd)

            async def on_signal() -> None:
                async for signum in signals:
                    host.request_stop(signal.Signals(signum).name)
                    return

            nursery.start_soon(host.serve_leases, listener)
            nursery.start_soon(host.idle_exit)
            nursery.start_soon(host.watch_config)
            nursery.start_soon(on_signal)
            await host.stop.wait()
            for name in ("lease.sock", "cmd.sock"):  # no new client finds a host on its way out
                (folder / name).unlink(missing_ok=True)
            nursery.cancel_scope.cancel()
        listener.close()
    return host.stop_reason


def _timed_out(*_: object) -> None:
    raise TimeoutError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pgask-host")
    parser.add_argument("dir")
    parser.add_argument("--config", default="")
    parser.add_argument("--ready-fd", type=int, default=-1)
    parser.add_argument("--start", action="append", default=[], help="an actor to start at once")
    args = parser.parse_args(argv)
    folder = Path(args.dir)
    lock = open(folder / "host.lock", "a")
    # a host on its way out still holds it (its leases are closed, its children stopping):
    # wait for it, a bounded time
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(30)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
    except TimeoutError:
        print("pgask host: another host still holds this directory after 30 s.", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until trio listens for it
    try:
        import setproctitle

        setproctitle.setproctitle("pgask: host")
    except ImportError:  # pragma: no cover - declared dependency
        pass
    for name in ("lease.sock", "sup.sock"):
        (folder / name).unlink(missing_ok=True)
    (folder / "owner").write_text(f"{os.getpid()}\n")
    reason = ""
    try:
        reason = trio.run(run_host, folder, args.config, args.ready_fd, args.start)
    finally:
        for name in ("lease.sock", "sup.sock", "owner"):
            (folder / name).unlink(missing_ok=True)
    print(f"pgask host {os.getpid()}: stopped ({reason}).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
