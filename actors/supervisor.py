"""supervisor: the root of pgask's process tree (DESIGN §1, OTP one_for_one).

Spawns every actor as its own process, routes messages between them (one ROUTER that
every actor's DEALER connects to), watches them, restarts what crashes within a
restart budget, and owns the session.

Receives: actor.ready, actor.ping, actors.list, session.*; routes everything else by
          header.dst without decoding bodies.
Emits:    actor.exited to every client (ui, cli) when a child dies.
Restart:  it is the root; children exit when it dies (stdin EOF or parent sentinel).

Guarantees
* A request forwarded to a child is tracked until its final reply; if the child dies
  first, the requester gets an `actor.restarted` error for it, never silence.
* Messages for a child that is (re)starting are queued and delivered after its Ready.
* Executors start lazily, on the first message for `executor:<profile>`.
* A child that exceeds its restart budget is disabled alone; requests to it are
  answered with `actor.disabled`; the rest of the tree keeps working.
* The sender of every frame is its ROUTER identity: a header claiming another `src`
  is dropped.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import trio

from actors.supervisor_session import SessionStore
from actors.supervisor_tree import (
    Child,
    ChildProcess,
    ChildSpec,
    ExecChild,
    ForkedChild,
    RestartBudget,
    TreeSpec,
    describe,
    prune_logs,
    race,
    statement_interrupted,
    unknown_profile,
    unknown_profile_kwargs,
)
from protocol import codec
from protocol.boot import Boot
from protocol.config import Config, load_config, resolve_profile, url_profile_name
from protocol.endpoints import (
    SUPERVISOR,
    make_run_dir,
    remove_run_dir,
    supervisor_endpoint,
    sweep_temps,
)
from protocol.envelope import Header, IdMaker, new_trace
from protocol.errors import PgaskError, ProtocolError
from protocol.messages import (
    KINDS,
    ActorExited,
    ActorInfo,
    ActorsRequest,
    ActorsStatus,
    Body,
    ConfigReload,
    ConfigReloaded,
    Failure,
    Ping,
    Pong,
    Ready,
    SessionAddTurn,
    SessionClear,
    SessionGet,
    SessionPin,
    SessionSetPane,
    SessionUnpin,
    Stop,
)
from protocol.peer import Peer
from protocol.tracing import log
from protocol.transport import TrioSocket, ZMQError, open_context, open_router

# -- supervisor.toml ----------------------------------------------------------


# Requests that can carry the person's confirmation (a write, DDL, a migration, a restore).
_CONFIRMABLE = frozenset({"query.run", "query.explain", "dba.migration.apply", "dba.restore"})

_NOT_THE_OWNER = Failure(
    code="supervisor.not_session_owner",
    message="Only this session's own window or command may confirm a change.",
    why=(
        "The request carries a person's confirmation but came from a process this pgask "
        "session did not start."
    ),
    hint="Run it from the pgask window or command that owns the session.",
)


def _carries_a_confirmation(header: Header, body_frame: bytes) -> bool:
    """The person's confirmation is the session owner's record: a peer the supervisor did not
    spawn, and that its own host did not open, cannot send one."""
    if header.kind not in _CONFIRMABLE:
        return False
    try:
        body = codec.decode_body(header, body_frame)
    except ProtocolError:
        return False  # the receiver refuses a malformed body itself
    return bool(getattr(body, "confirmed", False))


KEEP_LOG_RUNS = 30  # logs/<run> folders kept; older ones are removed at start


# -- restart budget (pure) ----------------------------------------------------


# -- child processes ----------------------------------------------------------


# -- the supervisor -----------------------------------------------------------


class Supervisor:
    def __init__(
        self,
        config: Config,
        tree: TreeSpec,
        *,
        run_dir: Path | None = None,
        state_dir: Path | None = None,
        session: str | None = None,
        eager: frozenset[str] | None = None,
    ) -> None:
        self.config = config
        # the children started at once (None: all but the per-profile ones); the others start
        # on the first message for them, as executors do
        self.eager = eager
        self.tree = tree
        self.owns_run_dir = run_dir is None  # then it is removed on every exit path
        self.run_dir = run_dir or make_run_dir()
        try:
            self.endpoint = supervisor_endpoint(self.run_dir)
            # logs outlive the run directory: <state dir>/logs/<yyyymmdd-hhmmss>-<pid>/<actor>.log
            run_name = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
            self.log_dir = (state_dir / "logs" / run_name) if state_dir else (self.run_dir / "logs")
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if state_dir:
                prune_logs(state_dir / "logs", keep=KEEP_LOG_RUNS, current=self.log_dir)
            self.session = SessionStore.open(
                state_dir, session, store_history=config.privacy.store_history
            )
        except BaseException:
            if self.owns_run_dir:
                remove_run_dir(self.run_dir)
            raise
        self.key = os.urandom(32)
        self.state_dir = state_dir
        self.children: dict[str, Child] = {}
        self.clients: set[bytes] = set()
        # the clients this process's own host opened (trust()): the session's owner, the only
        # peers besides the children it spawned whose requests may carry a confirmation
        self.owners: set[bytes] = set()
        # an owner opened by a session host's client may confirm only in its own conversation
        self.owner_sessions: dict[bytes, str] = {}
        # every conversation this supervisor holds, by id: the one it opened, and one per
        # further window of a session host (see open_session)
        self.sessions: dict[str, SessionStore] = {self.session.id: self.session}
        self.by_ident: dict[bytes, Child] = {}  # each child's secret bus identity
        # the supervisor's own messages (replies, events, requests to children): protocol/peer.py
        self.peer = Peer(SUPERVISOR, IdMaker(SUPERVISOR, 1), self._transmit, self.session.id)
        self.sock: TrioSocket | None = None
        self.nursery: trio.Nursery | None = None
        self._mp: Any = None
        self._spawned: list[ChildProcess] = []  # every process started, to reap stragglers
        self._config_bytes = msgspec.msgpack.encode(config)
        self.specs = {c.id: c for c in tree.children}

    # -- lifecycle ----------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Supervisor]:
        """Bind, start the eager children, yield; stop everything in reverse on exit."""
        log.configure(SUPERVISOR, 1, self.log_dir)
        try:
            async with (
                open_context() as ctx,
                open_router(ctx, self.endpoint) as sock,
                trio.open_nursery() as nursery,
            ):
                self.sock, self.nursery = sock, nursery
                self.endpoint = sock.endpoint  # a TCP endpoint now names its port and CURVE key
                nursery.start_soon(self._recv_loop)
                nursery.start_soon(self._heartbeat_loop)
                for spec in self.tree.children:
                    if not spec.for_each_profile and (self.eager is None or spec.id in self.eager):
                        self._ensure_child(spec.id, spec)
                try:
                    yield self
                finally:
                    with trio.CancelScope(shield=True):
                        await self.stop_all()
                    nursery.cancel_scope.cancel()
        finally:
            # a child whose spawn was still in flight when we stopped must not be left behind
            for proc in self._spawned:
                if proc.alive():
                    proc.signal(signal.SIGKILL)
            if self.owns_run_dir:  # sockets, export temp files: nothing outlives the run
                remove_run_dir(self.run_dir)
            else:
                sweep_temps(self.run_dir)

    async def stop_all(self) -> None:
        for child in reversed(list(self.children.values())):
            await self._stop_child(child)

    async def _stop_child(self, child: Child) -> None:
        child.stopping = True
        child.state = "stopped"
        proc = child.proc
        if proc is None:
            return
        with trio.move_on_after(child.spec.shutdown_s) as scope:
            if child.ready.is_set():
                await self._send_to(child.actor_id, Stop())
            await child.exited.wait()
        if scope.cancelled_caught:
            proc.signal(signal.SIGKILL)
            with trio.move_on_after(2):
                await child.exited.wait()

    # -- spawning -------------------------------------------------------------

    def _ensure_child(self, actor_id: str, spec: ChildSpec, profile: str = "") -> Child:
        child = self.children.get(actor_id)
        if child is None:
            period = self.tree.supervisor.period_s
            child = Child(
                actor_id, spec, RestartBudget(self.tree.supervisor.intensity, period), profile
            )
            self.children[actor_id] = child
            assert self.nursery is not None
            self.nursery.start_soon(self._keep_alive, child)
        return child

    def _boot(self, child: Child) -> Boot:
        return Boot(
            actor=child.actor_id,
            identity=child.ident.decode(),
            incarnation=child.incarnation,
            endpoint=self.endpoint,
            run_dir=str(self.run_dir),
            log_dir=str(self.log_dir),
            key_hex=self.key.hex() if child.spec.needs_key else "",
            session=self.session.id,
            config=self._config_bytes,
            watch="sentinel" if self.tree.supervisor.spawn == "forkserver" else "stdin",
            state_dir=str(self.state_dir) if self.state_dir else "",
        )

    async def _spawn(self, child: Child) -> ChildProcess:
        boot = self._boot(child)
        if self.tree.supervisor.spawn == "forkserver":
            if self._mp is None:
                self._mp = multiprocessing.get_context("forkserver")
                self._mp.set_forkserver_preload(self.tree.supervisor.preload)
            from actors._runtime import child_entry

            # daemon: multiprocessing's exit handler kills it rather than waiting for it
            proc = self._mp.Process(
                target=child_entry, args=(child.spec.module, boot), name=child.actor_id, daemon=True
            )
            await trio.to_thread.run_sync(proc.start)
            self._spawned.append(ForkedChild(proc))
            return self._spawned[-1]
        env = {**os.environ, "PGASK_BOOT": base64.b64encode(msgspec.msgpack.encode(boot)).decode()}
        stderr = open(
            self.log_dir / f"{child.actor_id.replace(':', '-').replace('/', '_')}.stderr", "ab"
        )
        try:
            proc = await trio.lowlevel.open_process(
                [sys.executable, "-m", child.spec.module],
                stdin=__import__("subprocess").PIPE,
                stdout=stderr,
                stderr=stderr,
                env=env,
                start_new_session=True,
            )
        finally:
            stderr.close()
        self._spawned.append(ExecChild(proc))
        return self._spawned[-1]

    async def _keep_alive(self, child: Child) -> None:
        """Start `child`, and restart it each time it dies, within its budget."""
        while not child.stopping:
            child.incarnation += 1
            child.state = "starting" if child.incarnation == 1 else "restarting"
            if child.incarnation > 1:  # waiters on the old events were woken by `exited`
                child.ready = trio.Event()
                child.exited = trio.Event()
            child.last_seen = time.monotonic()
            self.by_ident.pop(child.ident, None)
            child.ident = f"{child.actor_id}#{secrets.token_hex(16)}".encode()
            self.by_ident[child.ident] = child
            try:
                child.proc = await self._spawn(child)
            except Exception as exc:  # a spawn failure is handled like a crash
                log.error("supervisor.child.spawn_failed", child=child.actor_id, error=repr(exc))
                child.proc = None
                code = -1
            else:
                if child.stopping:  # stopped while its spawn was in flight
                    child.proc.signal(signal.SIGKILL)
                log.info(
                    "supervisor.child.started",
                    child=child.actor_id,
                    child_pid=child.proc.pid,
                    incarnation=child.incarnation,
                )
                self.nursery.start_soon(self._start_timeout, child, child.incarnation)  # type: ignore[union-attr]
                code = await child.proc.wait()
            child.exited.set()
            if child.spec.id == "exporter":  # its unfinished exports' temp files die with it
                sweep_temps(self.run_dir)
            if child.stopping:
                break
            log.warning(
                "supervisor.child.exited",
                child=child.actor_id,
                exit_code=code,
                incarnation=child.incarnation,
            )
            allowed = child.spec.restart == "permanent" or (
                child.spec.restart == "transient" and code != 0
            )
            within = child.budget.allow(time.monotonic()) if allowed else False
            await self._fail_inflight(child, disabled=not within)
            if not within:
                child.state = "disabled" if allowed else "stopped"
                await self._fail_queue(child)
                await self._notify(child, code, restarted=False, disabled=allowed)
                return
            child.restarts += 1
            await self._notify(child, code, restarted=True)
            await trio.sleep(0.01 * min(child.restarts, 10))  # short backoff

    async def _start_timeout(self, child: Child, incarnation: int) -> None:
        with trio.move_on_after(self.tree.supervisor.start_timeout_s):
            await child.ready.wait()
            return
        if child.incarnation == incarnation and child.proc is not None:
            log.error("supervisor.child.start_timed_out", child=child.actor_id)
            child.proc.signal(signal.SIGKILL)

    def _failure_for(self, child: Child, disabled: bool) -> Failure:
        who = describe(child.actor_id)
        if disabled:
            return Failure(
                code="actor.disabled",
                message=f"The {who} kept stopping unexpectedly and has been turned off; your request did not run.",
                why=f"It crashed more than {child.budget.intensity} times within {child.budget.period_s:g} s.",
                hint=f"See `pgask logs` (run directory {self.run_dir}); restart pgask to try again.",
            )
        return Failure(
            code="actor.restarted",
            message=f"The {who} stopped unexpectedly and was restarted; your request did not run.",
            hint="Run it again (F5 in the UI). Details: pgask logs",
            retryable=True,
        )

    async def _fail_inflight(self, child: Child, *, disabled: bool) -> None:
        failure = self._failure_for(child, disabled)
        inflight, child.inflight = child.inflight, {}
        for msg_id, (src, trace, kind) in inflight.items():
            if kind in _RUNS_SQL and child.actor_id.startswith("executor:"):
                reply = statement_interrupted(child.actor_id, disabled)
            else:
                reply = failure
            await self._reply(src, reply, reply_to=msg_id, trace=trace)

    async def _fail_queue(self, child: Child) -> None:
        failure = self._failure_for(child, disabled=True)
        queue, child.queue = child.queue, []
        for frames in queue:
            header = codec.decode_header(frames[1])
            await self._reply(frames[0], failure, reply_to=header.id, trace=header.trace)

    async def _notify(
        self, child: Child, code: int, *, restarted: bool, disabled: bool = False
    ) -> None:
        who = describe(child.actor_id)
        text = (
            f"The {who} stopped unexpectedly and was restarted."
            if restarted
            else f"The {who} stopped and has been turned off (restart budget exhausted)."
        )
        event = ActorExited(
            actor=child.actor_id,
            exit_code=code,
            restarted=restarted,
            disabled=disabled,
            message=text,
        )
        for client in list(self.clients):
            await self._reply(client, event)

    # -- routing ----------------------------------------------------------------

    async def _recv_loop(self) -> None:
        assert self.sock is not None
        while True:
            frames = await self.sock.recv_multipart(big_last=True)  # bodies pass through uncopied
            try:
                await self._route(frames)
            except ProtocolError as exc:
                log.warning(
                    "supervisor.message.dropped",
                    reason=exc.message,
                    sender=frames[0][:64].decode("utf-8", "replace"),
                )

    async def _route(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            raise ProtocolError(f"A message with {len(frames) - 1} frames was dropped.")
        ident, head, body_frame = frames
        try:
            header = codec.decode_header(head)
        except ProtocolError as exc:
            if isinstance(exc.header, Header):  # readable, but another protocol version
                await self._reply(
                    ident, exc.to_failure(), reply_to=exc.header.id, trace=exc.header.trace
                )
            raise
        child = self.by_ident.get(ident)
        if child is not None:  # only the process we spawned knows this identity
            sender = child.actor_id
        else:
            sender = ident.decode("utf-8", "replace")
            if self._is_child_name(sender.partition("#")[0]):
                log.warning("supervisor.identity.refused", claimed=sender[:80], kind=header.kind)
                raise ProtocolError(f"A peer claiming to be '{sender[:80]}' was refused.")
        if header.src != sender:
            raise ProtocolError(f"A message from '{sender}' claimed to come from '{header.src}'.")
        if child is not None:
            child.last_seen = time.monotonic()
            if header.reply_to and not header.more:
                child.inflight.pop(header.reply_to, None)
        else:
            self.clients.add(ident)
            foreign = ident in self.owner_sessions and header.session != self.owner_sessions[ident]
            if (ident not in self.owners or foreign) and _carries_a_confirmation(
                header, body_frame
            ):
                log.warning("supervisor.confirmation.refused", sender=sender[:80], kind=header.kind)
                await self._reply(ident, _NOT_THE_OWNER, reply_to=header.id, trace=header.trace)
                return
        if header.dst == SUPERVISOR:
            await self._handle_local(ident, header, body_frame)
            return
        await self._forward(ident, header, [head, body_frame])

    def trust(self, identity: str) -> None:
        """`identity` is a client of this session's own host (the CLI command or the window
        that started this supervisor): its requests may carry the person's confirmation."""
        self.owners.add(identity.encode())

    def trust_in(self, identity: str, session: str) -> None:
        """A session host's client: `identity` owns conversation `session`, and may confirm
        there only, never on another client's behalf."""
        self.owners.add(identity.encode())
        self.owner_sessions[identity.encode()] = session

    def distrust(self, identity: str) -> None:
        """The client that owned `identity` is gone: nobody may use it to confirm any more."""
        self.owners.discard(identity.encode())
        self.owner_sessions.pop(identity.encode(), None)

    def open_session(self) -> SessionStore:
        """A new conversation of its own (a session host's further window), kept beside the
        main one as <state dir>/sessions/<id>.json."""
        store = SessionStore.open(None, store_history=self.config.privacy.store_history)
        if self.state_dir is not None:
            folder = self.state_dir / "sessions"
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            store.path = folder / f"{store.id}.json"
        self.sessions[store.id] = store
        return store

    async def retire_child(self, actor_id: str) -> None:
        """Stop `actor_id` and forget it; the next message for it starts a fresh one (with the
        configuration as it is now)."""
        child = self.children.get(actor_id)
        if child is None:
            return
        await self._stop_child(child)
        await self._fail_inflight(child, disabled=False)  # answered, never left hanging
        queue, child.queue = child.queue, []
        if self.children.get(actor_id) is child:
            del self.children[actor_id]
            self.by_ident.pop(child.ident, None)
        for frames in queue:  # waiting for the old one: served by its successor
            await self._forward(frames[0], codec.decode_header(frames[1]), frames[1:])

    def _is_child_name(self, name: str) -> bool:
        return (
            name == SUPERVISOR
            or name in self.children
            or name in self.specs
            or (name.startswith("executor:"))
        )

    async def _forward(self, ident: bytes, header: Header, frames: list[bytes]) -> None:
        dst = header.dst
        child = self.children.get(dst)
        spec = self.specs.get(dst)
        if child is None and spec is not None and not spec.for_each_profile:
            child = self._ensure_child(dst, spec)  # not started eagerly: started on first use
        if child is None and dst.startswith("executor:"):
            profile = dst.split(":", 1)[1]
            if profile not in self.config.profiles:
                await self._reply(
                    ident,
                    unknown_profile(profile, self.config),
                    reply_to=header.id,
                    trace=header.trace,
                )
                return
            child = self._ensure_child(dst, self.specs["executor"], profile)
        if child is None:
            if dst.encode() in self.clients:
                await self._send_raw(dst.encode(), frames)
                return
            if header.kind in KINDS and KINDS[header.kind].EXPECTS_REPLY:
                failure = Failure(code="actor.unknown", message=f"There is no actor named '{dst}'.")
                await self._reply(ident, failure, reply_to=header.id, trace=header.trace)
            else:
                log.warning("supervisor.message.undeliverable", dst=dst, kind=header.kind)
            return
        if child.state in ("disabled", "stopped"):
            if not header.reply_to:
                await self._reply(
                    ident, self._failure_for(child, True), reply_to=header.id, trace=header.trace
                )
            return
        if not child.ready.is_set():
            child.queue.append([ident, *frames])
            return
        await self._deliver(child, ident, header, frames)

    async def _deliver(
        self, child: Child, ident: bytes, header: Header, frames: list[bytes]
    ) -> None:
        expects = header.kind in KINDS and KINDS[header.kind].EXPECTS_REPLY
        if expects:
            child.inflight[header.id] = (ident, header.trace, header.kind)
        if not await self._send_raw(child.ident, frames) and expects:
            child.inflight.pop(header.id, None)
            child.queue.append([ident, *frames])

    async def _send_raw(self, ident: bytes, frames: list[bytes]) -> bool:
        assert self.sock is not None
        try:
            await self.sock.send_multipart([ident, *frames])
        except ZMQError as exc:  # EHOSTUNREACH: the peer is gone (ROUTER_MANDATORY)
            log.warning(
                "supervisor.message.undeliverable",
                dst=ident.decode("utf-8", "replace"),
                error=str(exc),
            )
            self.clients.discard(ident)
            return False
        return True

    async def _transmit(self, dst: str, frames: list[bytes]) -> None:
        child = self.children.get(dst)
        await self._send_raw(child.ident if child else dst.encode(), frames)

    async def _reply(
        self, ident: bytes | str, body: Body, *, reply_to: str = "", trace: str = ""
    ) -> None:
        dst = ident.decode() if isinstance(ident, bytes) else ident
        await self.peer.send(dst, body, reply_to=reply_to, trace=trace)

    async def _send_to(self, actor_id: str, body: Body, msg_id: str = "") -> str:
        return await self.peer.send(actor_id, body, trace=new_trace(), msg_id=msg_id)

    async def request(
        self, actor_id: str, body: Body, timeout: float
    ) -> tuple[Header, Body] | None:
        """Ask a child something and wait for the reply (None on timeout or if it dies)."""
        child = self.children.get(actor_id)
        if child is None:
            return None
        with trio.move_on_after(timeout):
            while not child.ready.is_set():
                if child.state in ("disabled", "stopped"):
                    return None
                await race(child.ready.wait, child.exited.wait)
            exited = child.exited
            msg_id = self.peer.ids()
            recv = self.peer.replies.open(msg_id, 1)  # before sending: no reply comes too early
            try:
                await self._send_to(actor_id, body, msg_id)
                return await race(recv.receive, exited.wait)
            finally:
                self.peer.replies.close(msg_id)
        return None

    # -- messages for the supervisor itself --------------------------------------

    async def _handle_local(self, ident: bytes, header: Header, frame: bytes) -> None:
        try:
            body = codec.decode_body(header, frame)
        except ProtocolError as exc:
            await self._reply(ident, exc.to_failure(), reply_to=header.id, trace=header.trace)
            return
        if self.peer.replies.deliver_nowait(header, body):
            return
        handler = self.HANDLERS.get(type(body))
        if handler is None:
            if header.reply_to:
                return  # a late reply to a request that timed out
            failure = Failure(
                code="protocol.unexpected_kind",
                message=f"The supervisor does not handle '{header.kind}'.",
            )
            await self._reply(ident, failure, reply_to=header.id, trace=header.trace)
            return
        assert self.nursery is not None
        self.nursery.start_soon(self._run_handler, handler, ident, header, body)

    async def _run_handler(
        self,
        handler: Callable[..., Awaitable[Body | None]],
        ident: bytes,
        header: Header,
        body: Body,
    ) -> None:
        try:
            reply = await handler(self, ident, header, body)
        except PgaskError as exc:
            reply = exc.to_failure()
        if reply is not None:
            await self._reply(ident, reply, reply_to=header.id, trace=header.trace)

    async def on_ready(self, ident: bytes, header: Header, msg: Ready) -> None:
        child = self.children.get(msg.actor)
        if child is None or msg.incarnation != child.incarnation:
            return
        child.state = "running"
        child.ready.set()
        log.info(
            "supervisor.child.ready",
            child=msg.actor,
            child_pid=msg.pid,
            incarnation=msg.incarnation,
        )
        queue, child.queue = child.queue, []
        for frames in queue:
            head = codec.decode_header(frames[1])
            await self._deliver(child, frames[0], head, frames[1:])

    async def on_ping(self, ident: bytes, header: Header, msg: Ping) -> Pong:
        return Pong(actor=SUPERVISOR, pid=os.getpid(), incarnation=1, payload=msg.payload)

    async def on_actors_list(
        self, ident: bytes, header: Header, msg: ActorsRequest
    ) -> ActorsStatus:
        for profile in msg.profiles:
            if profile.startswith(("postgresql://", "postgres://")):  # `/use URL` in the UI
                profile = resolve_profile(self.config, profile)[0]
                self._config_bytes = msgspec.msgpack.encode(self.config)  # executors boot on it
            if profile not in self.config.profiles:
                raise PgaskError(
                    **unknown_profile_kwargs(profile, self.config), code="config.unknown_profile"
                )
            self._ensure_child(f"executor:{profile}", self.specs["executor"], profile)
        infos: list[ActorInfo] = [
            ActorInfo(actor=SUPERVISOR, pid=os.getpid(), incarnation=1, state="running")
        ]
        results: dict[str, float | None] = {}

        async def ping_one(child: Child) -> None:
            await self.request(child.actor_id, Ping(), timeout=self.tree.supervisor.start_timeout_s)
            start = time.perf_counter()  # timed once it is up, so start-up is not counted
            got = await self.request(
                child.actor_id, Ping(), timeout=self.tree.supervisor.start_timeout_s
            )
            results[child.actor_id] = (time.perf_counter() - start) * 1000 if got else None

        if msg.ping:
            async with trio.open_nursery() as n:
                for child in self.children.values():
                    n.start_soon(ping_one, child)
        for child in self.children.values():
            infos.append(
                ActorInfo(
                    actor=child.actor_id,
                    pid=child.proc.pid if child.proc else 0,
                    incarnation=child.incarnation,
                    state=child.state,
                    restarts=child.restarts,
                    rtt_ms=None
                    if results.get(child.actor_id) is None
                    else round(results[child.actor_id] or 0, 3),
                )
            )
        return ActorsStatus(actors=infos)

    async def on_config_reload(
        self, ident: bytes, header: Header, msg: ConfigReload
    ) -> ConfigReloaded:
        """Read the config file again. Profiles made during the run (a URL, the demo) stay;
        an executor already running keeps the settings it started with."""
        old = self.config
        new = load_config(old.source or None, read_dotenv=False)
        for name, prof in old.profiles.items():
            made_here = name == "demo" or (
                prof.dsn.startswith(("postgresql://", "postgres://"))
                and name == url_profile_name(prof.dsn)
            )
            if name not in new.profiles and made_here:
                new.profiles[name] = prof
        added = sorted(set(new.profiles) - set(old.profiles))
        removed = sorted(set(old.profiles) - set(new.profiles))
        changed = sorted(
            n for n in set(new.profiles) & set(old.profiles) if new.profiles[n] != old.profiles[n]
        )
        self.config = new
        self._config_bytes = msgspec.msgpack.encode(new)
        log.info(
            "supervisor.config.reloaded",
            source=new.source,
            added=added,
            changed=changed,
            removed=removed,
        )
        return ConfigReloaded(
            config=self._config_bytes,
            source=new.source,
            added=added,
            changed=changed,
            removed=removed,
        )

    async def on_session_get(self, ident: bytes, header: Header, msg: SessionGet) -> Body:
        return self.sessions.get(header.session, self.session).state()

    async def on_session_change(self, ident: bytes, header: Header, msg: Body) -> Body:
        store = self.sessions.get(header.session, self.session)
        store.apply(msg)
        return store.state()

    HANDLERS: ClassVar[dict[type[Body], Callable[..., Awaitable[Body | None]]]] = {
        Ready: on_ready,
        Ping: on_ping,
        ActorsRequest: on_actors_list,
        ConfigReload: on_config_reload,
        SessionGet: on_session_get,
        SessionAddTurn: on_session_change,
        SessionPin: on_session_change,
        SessionUnpin: on_session_change,
        SessionClear: on_session_change,
        SessionSetPane: on_session_change,
    }

    # -- heartbeats -------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.tree.supervisor.heartbeat_s
        timeout = self.tree.supervisor.heartbeat_timeout_s
        while True:
            await trio.sleep(interval)
            for child in list(self.children.values()):
                if child.state != "running" or child.proc is None:
                    continue
                if time.monotonic() - child.last_seen > timeout:
                    log.error(
                        "supervisor.child.unresponsive", child=child.actor_id, silent_s=timeout
                    )
                    child.proc.signal(signal.SIGKILL)
                else:
                    await self._send_to(child.actor_id, Ping())


_RUNS_SQL = frozenset({"query.run", "query.copy", "dba.migration.apply"})
