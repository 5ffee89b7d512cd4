"""The one loop every actor shares (an OTP "behaviour").

An actor is a name, a handler per message type, and a context manager that owns its
state (pools, clients). `serve()` connects a DEALER to the supervisor, sends Ready,
then receives, decodes, dispatches each request to its handler in its own task (so a
long query does not block a cancel), and sends the reply back with `reply_to` set.

* Expected failures (PgaskError) become `error` replies.
* Undecodable or unknown messages get a `protocol.*` error reply, or a logged drop
  when not even the header could be read. Never an action, never a crash.
* Anything else is a bug: it propagates, the process exits non-zero, and the
  supervisor restarts it and answers the in-flight requests with `actor.restarted`.
* The process exits when the supervisor goes away (stdin EOF or parent sentinel).
"""

from __future__ import annotations

import base64
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from protocol import codec
from protocol.boot import Boot
from protocol.envelope import Header, IdMaker
from protocol.errors import PgaskError, ProtocolError
from protocol.messages import Body, Failure, Ping, Pong, QueryCancelled, Ready, Stop
from protocol.peer import Peer
from protocol.tracing import bound, log, redirect_stdio
from protocol.transport import TrioSocket, open_context, open_dealer


@dataclass
class Request:
    """What a handler sees besides the message: who asked, and a way to stream."""

    header: Header
    runtime: Runtime

    async def send(self, body: Body, *, more: bool = True) -> None:
        """Send one part of a streamed reply (the handler's return value ends it)."""
        await self.runtime.send(
            self.header.src, body, reply_to=self.header.id, more=more, trace=self.header.trace
        )


Handler = Callable[[Any, Any, Request], Awaitable[Body | None]]


@dataclass
class Actor:
    name: str
    handlers: dict[type[Body], Handler]
    open_state: Callable[[Boot], AbstractAsyncContextManager[Any]] | None = None


@dataclass
class Runtime:
    """The actor's side of the bus: a Peer (protocol/peer.py) on the actor's DEALER, and the
    requests it is serving (by message id, so a Cancel can stop one)."""

    boot: Boot
    sock: TrioSocket
    peer: Peer
    inflight: dict[str, trio.CancelScope] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)

    @property
    def ids(self) -> IdMaker:
        return self.peer.ids

    async def send(
        self, dst: str, body: Body, *, reply_to: str = "", more: bool = False, trace: str = ""
    ) -> str:
        return await self.peer.send(dst, body, reply_to=reply_to, more=more, trace=trace)

    def stream(
        self, dst: str, body: Body, *, trace: str = "", request_id: str = ""
    ) -> AsyncIterator[tuple[Header, Body]]:
        """Ask another actor (through the supervisor); yield replies until the last one.
        `request_id` (from `self.ids()`) lets the caller cancel before the first reply."""
        return self.peer.stream(dst, body, trace=trace, request_id=request_id)

    async def request(
        self, dst: str, body: Body, *, trace: str = "", timeout: float = 60.0
    ) -> Body:
        """The final reply of another actor to `body` (a Failure is returned, not raised)."""
        return await self.peer.request(dst, body, trace=trace, timeout=timeout)

    def cancel(self, target: str) -> bool:
        scope = self.inflight.get(target)
        if scope is None:
            return False
        self.cancelled.add(target)
        scope.cancel()
        return True


@asynccontextmanager
async def _no_state(boot: Boot) -> AsyncIterator[None]:
    yield None


async def on_ping(state: Any, msg: Ping, req: Request) -> Pong:
    if msg.hold_ms:
        await trio.sleep(msg.hold_ms / 1000)
    boot = req.runtime.boot
    return Pong(
        actor=boot.actor,
        pid=os.getpid(),
        incarnation=boot.incarnation,
        payload=msg.payload if msg.echo else b"",
    )


async def serve(actor: Actor, boot: Boot) -> None:
    log.configure(boot.actor, boot.incarnation, boot.log_dir or None)
    handlers: dict[type[Body], Handler] = {Ping: on_ping, **actor.handlers}
    open_state = actor.open_state or _no_state
    async with (
        open_context() as ctx,
        open_dealer(ctx, boot.endpoint, boot.identity or boot.actor) as sock,
        open_state(boot) as state,
        trio.open_nursery() as nursery,
    ):
        ids = IdMaker(boot.actor, boot.incarnation)

        async def transmit(_dst: str, frames: list[bytes]) -> None:
            await sock.send_multipart(frames)

        rt = Runtime(boot, sock, Peer(boot.actor, ids, transmit, boot.session))
        nursery.start_soon(_watch_parent, boot, nursery.cancel_scope)
        await rt.send(
            "supervisor", Ready(actor=boot.actor, pid=os.getpid(), incarnation=boot.incarnation)
        )
        log.info("actor.lifecycle.started", pid=os.getpid())
        while True:
            frames = await sock.recv_multipart()
            try:
                header = codec.decode_header(frames[0]) if len(frames) == 2 else None
            except ProtocolError as exc:
                header = None
                log.warning("actor.message.dropped", reason=exc.message)
            if header is None:
                log.warning("actor.message.dropped", frames=len(frames))
                continue
            try:
                body = codec.decode_body(header, frames[1])
            except ProtocolError as exc:
                log.warning(
                    "actor.message.refused", kind=header.kind, src=header.src, reason=exc.message
                )
                # a reply we cannot read ends its request; a request we cannot read is answered
                ended = await rt.peer.replies.fail(header, exc.to_failure())
                if not ended and not header.reply_to:
                    await rt.send(
                        header.src, exc.to_failure(), reply_to=header.id, trace=header.trace
                    )
                continue
            if rt.peer.replies.deliver_nowait(header, body):
                continue
            if header.reply_to:
                continue  # a late reply to a request that gave up
            if isinstance(body, Stop):
                log.info("actor.lifecycle.stopping")
                nursery.cancel_scope.cancel()
                break
            handler = handlers.get(type(body))
            if handler is None:
                failure = Failure(
                    code="protocol.unexpected_kind",
                    message=f"The {boot.actor} does not handle '{header.kind}' messages.",
                    hint="This is a bug in pgask: please report it with `pgask logs`.",
                )
                await rt.send(header.src, failure, reply_to=header.id, trace=header.trace)
                continue
            nursery.start_soon(_handle, rt, handler, state, header, body)


async def _handle(rt: Runtime, handler: Handler, state: Any, header: Header, body: Body) -> None:
    with (
        bound(trace=header.trace, msg=header.id, parent=header.reply_to),
        trio.CancelScope() as scope,
    ):
        rt.inflight[header.id] = scope
        try:
            try:
                reply = await handler(state, body, Request(header, rt))
            except PgaskError as exc:
                log.info("actor.request.failed", kind=header.kind, code=exc.code)
                reply = exc.to_failure()
            except RecursionError:  # one deeply nested input must not take the process down
                log.warning("actor.request.too_deep", kind=header.kind)
                reply = Failure(
                    code="actor.too_deep",
                    message=f"The {rt.boot.actor} could not handle a '{header.kind}' request.",
                    why="Something in it or its result is nested too deeply to process.",
                    hint="Flatten the nested value (or select it as text) and try again.",
                )
            if reply is not None:
                await rt.send(header.src, reply, reply_to=header.id, trace=header.trace)
        finally:
            rt.inflight.pop(header.id, None)
    if header.id in rt.cancelled:  # cancelled on request: its stream ends with query.cancelled
        rt.cancelled.discard(header.id)
        log.info("actor.request.cancelled", kind=header.kind)
        await rt.send(
            header.src, QueryCancelled(target=header.id), reply_to=header.id, trace=header.trace
        )


async def _watch_parent(boot: Boot, scope: trio.CancelScope) -> None:
    """Exit when the supervisor is gone, rather than linger as an orphan."""
    if boot.watch == "stdin":
        fd = sys.stdin.fileno()
        while True:
            await trio.lowlevel.wait_readable(fd)
            if not os.read(fd, 4096):
                break
    elif boot.watch == "sentinel":
        import multiprocessing

        parent = multiprocessing.parent_process()
        if parent is None:
            return
        await trio.lowlevel.wait_readable(parent.sentinel)
    else:
        return
    log.warning("actor.lifecycle.orphaned")
    os._exit(3)


def run(actor: Actor, boot: Boot) -> None:
    """Process main for every actor (both the forkserver and the exec path)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the UI
    try:
        import setproctitle

        setproctitle.setproctitle(
            f"pgask: {boot.actor.replace(':', '[', 1) + (']' if ':' in boot.actor else '')}"
        )
    except ImportError:  # pragma: no cover - declared dependency
        pass
    trio.run(serve, actor, boot)


def boot_from_env() -> Boot:
    raw = os.environ.pop("PGASK_BOOT", "")
    if not raw:
        raise SystemExit("pgask actors are started by the supervisor (PGASK_BOOT is not set).")
    return msgspec.msgpack.decode(base64.b64decode(raw), type=Boot)


def main(actor: Actor) -> None:
    """`python -m actors.<name>`: the exec path (the boot record arrives in PGASK_BOOT)."""
    boot = boot_from_env()
    redirect_stdio(boot.log_dir or None, boot.actor, keep_stdin=boot.watch == "stdin")
    run(actor, boot)


def child_entry(module: str, boot: Boot) -> None:
    """multiprocessing target on the forkserver path."""
    import importlib

    redirect_stdio(boot.log_dir or None, boot.actor)
    actor: Actor = importlib.import_module(module).ACTOR
    run(actor, boot)
