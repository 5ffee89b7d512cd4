"""The only zmq import: trio-friendly sockets over pyzmq.

ZMQ_FD is edge-triggered, so (runtime-spike.md §1):
  1. every operation is tried with NOBLOCK first; the fd is waited on only when
     ZMQ_EVENTS says the socket is not ready;
  2. after every successful send or recv, ZMQ_EVENTS is read again and any task
     parked on the fd is woken ("kick"), because a send can consume the edge a
     receiver waits for;
  3. only one task waits on the fd; others park on a ParkingLot.
A cancel never drops a message already dequeued (checkpoint before, shielded
checkpoint after). Create the Context inside each process after it starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import zmq

Again = zmq.Again
ZMQError = zmq.ZMQError


class TrioSocket:
    def __init__(self, sock: zmq.Socket, endpoint: str = "") -> None:
        self.sock = sock
        self.endpoint = endpoint  # for a bound socket: what peers connect to
        self.fd = sock.getsockopt(zmq.FD)
        self._fd_scope: trio.CancelScope | None = None
        self._lot = trio.lowlevel.ParkingLot()
        self._want = {zmq.POLLIN: 0, zmq.POLLOUT: 0}

    def _kick(self) -> None:
        want = (zmq.POLLIN if self._want[zmq.POLLIN] else 0) | (
            zmq.POLLOUT if self._want[zmq.POLLOUT] else 0
        )
        if want and self.sock.getsockopt(zmq.EVENTS) & want:
            if self._fd_scope is not None:
                self._fd_scope.cancel()
            self._lot.unpark_all()

    async def _wait(self, flag: int) -> None:
        self._want[flag] += 1
        try:
            while not self.sock.getsockopt(zmq.EVENTS) & flag:
                if self._fd_scope is None:
                    with trio.CancelScope() as cs:
                        self._fd_scope = cs
                        try:
                            await trio.lowlevel.wait_readable(self.fd)
                        finally:
                            self._fd_scope = None
                    self._lot.unpark_all()
                else:
                    await self._lot.park()
        finally:
            self._want[flag] -= 1

    async def recv_multipart(self, *, big_last: bool = False) -> list[Any]:
        """The next message's frames. With `big_last`, every frame but the last is bytes and
        the last one, often a large body, stays a zero-copy zmq.Frame (it can be forwarded or
        decoded from its buffer without copying)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                msg = self.sock.recv_multipart(zmq.NOBLOCK, copy=not big_last)
            except zmq.Again:
                await self._wait(zmq.POLLIN)
                continue
            self._kick()
            await trio.lowlevel.cancel_shielded_checkpoint()
            if big_last:
                msg = [f.bytes for f in msg[:-1]] + msg[-1:]
            return msg

    async def send_multipart(self, frames: list[Any]) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.sock.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                await self._wait(zmq.POLLOUT)
                continue
            self._kick()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return

    def send_multipart_nowait(self, frames: list[bytes]) -> bool:
        """Send without waiting; False when the peer is unreachable or the queue is full."""
        try:
            self.sock.send_multipart(frames, zmq.NOBLOCK)
        except (zmq.Again, zmq.ZMQError):
            return False
        self._kick()
        return True

    def close(self) -> None:
        self.sock.close(linger=0)


def _base_options(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, 256 * 1024 * 1024)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)


@asynccontextmanager
async def open_context() -> AsyncIterator[zmq.Context]:
    ctx = zmq.Context()
    try:
        yield ctx
    finally:
        ctx.destroy(linger=0)


def _bind(sock: zmq.Socket, endpoint: str) -> str:
    """Bind; a `...#curve` TCP endpoint makes this a CURVE server with a fresh key pair, and
    the endpoint returned carries the port and the public key peers need."""
    base, _, curve = endpoint.partition("#")
    if curve:
        public, secret = zmq.curve_keypair()
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        sock.bind(base)
        bound = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        return f"{bound}#curve={public.decode()}"
    sock.bind(base)
    return base


def _connect(sock: zmq.Socket, endpoint: str) -> None:
    base, _, curve = endpoint.partition("#")
    if curve.startswith("curve="):
        public, secret = zmq.curve_keypair()
        sock.setsockopt(zmq.CURVE_SERVERKEY, curve.removeprefix("curve=").encode())
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.connect(base)


@asynccontextmanager
async def open_router(ctx: zmq.Context, endpoint: str) -> AsyncIterator[TrioSocket]:
    """The supervisor's socket: every actor's DEALER connects to `.endpoint`."""
    sock = ctx.socket(zmq.ROUTER)
    _base_options(sock)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # never drop silently
    # no handover: a second connection claiming a live identity is refused, never given its
    # route (a restarted child comes back under a new secret identity; see the supervisor)
    sock.setsockopt(zmq.ROUTER_HANDOVER, 0)
    ts = TrioSocket(sock, _bind(sock, endpoint))
    try:
        yield ts
    finally:
        ts.close()


@asynccontextmanager
async def open_dealer(ctx: zmq.Context, endpoint: str, identity: str) -> AsyncIterator[TrioSocket]:
    sock = ctx.socket(zmq.DEALER)
    _base_options(sock)
    sock.setsockopt(zmq.IDENTITY, identity.encode())
    sock.setsockopt(zmq.RECONNECT_IVL, 50)
    _connect(sock, endpoint)
    ts = TrioSocket(sock)
    try:
        yield ts
    finally:
        ts.close()


def blocking_dealer(endpoint: str, identity: str) -> tuple[zmq.Context, zmq.Socket]:
    """A plain blocking DEALER for processes without trio (the UI, raw benchmarks)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    _base_options(sock)
    sock.setsockopt(zmq.IDENTITY, identity.encode())
    _connect(sock, endpoint)
    return ctx, sock
