"""A headless client of the actor tree, for `pgask actors`, `pgask sql`, `pgask ask`.

It is a DEALER like any actor (identity `cli-<pid>`), connected to the supervisor's
ROUTER, so scripts exercise exactly the paths the TUI uses.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import InitVar, dataclass, field
from typing import Any

import trio

from protocol import codec
from protocol.envelope import Header, IdMaker, new_trace
from protocol.errors import ProtocolError
from protocol.messages import ActorExited, Body, QueryCancel
from protocol.peer import Peer, Replies
from protocol.tracing import log
from protocol.transport import TrioSocket, open_dealer


@dataclass
class Client:
    """A Peer (protocol/peer.py) on a DEALER of its own, and the tree's events it heard."""

    sock: TrioSocket
    identity: str
    first_session: InitVar[str] = ""
    events: list[Body] = field(default_factory=list)
    peer: Peer = field(init=False)

    def __post_init__(self, first_session: str) -> None:
        self.peer = Peer(self.identity, IdMaker(self.identity, 1), self._transmit, first_session)

    @property
    def session(self) -> str:
        """The conversation this client's headers name (the peer's: one value, never two)."""
        return self.peer.session

    @session.setter
    def session(self, value: str) -> None:
        self.peer.session = value

    @property
    def ids(self) -> IdMaker:
        return self.peer.ids

    @property
    def replies(self) -> Replies:
        return self.peer.replies

    async def _transmit(self, _dst: str, frames: list[bytes]) -> None:
        await self.sock.send_multipart(frames)

    async def send(self, dst: str, body: Body, *, trace: str = "") -> str:
        return await self.peer.send(dst, body, trace=trace or new_trace())

    def stream(
        self, dst: str, body: Body, *, trace: str = "", request_id: str = ""
    ) -> AsyncIterator[tuple[Header, Body]]:
        """Send a request and yield every reply until the final one (`more=False`).

        `request_id` (from `self.ids()`) lets the caller cancel before the first reply."""
        return self.peer.stream(dst, body, trace=trace or new_trace(), request_id=request_id)

    async def request(self, dst: str, body: Body, *, timeout: float = 30.0) -> Body:
        return await self.peer.request(dst, body, trace=new_trace(), timeout=timeout)

    async def _recv_loop(self) -> None:
        while True:
            frames = await self.sock.recv_multipart()
            try:
                header, body = codec.decode(frames)
            except ProtocolError as exc:
                log.warning("cli.message.dropped", reason=exc.message)
                await self._fail_request(frames, exc)
                continue
            # waits while the consumer is busy (printing rows): backpressure, never a skip
            if not await self.replies.deliver(header, body) and isinstance(body, ActorExited):
                self.events.append(body)

    async def _fail_request(self, frames: list[bytes], exc: ProtocolError) -> None:
        """A reply that cannot be read ends its request with that error (and the rest of its
        stream is cancelled at the source): a result is never shown with a part missing."""
        header = exc.header if isinstance(exc.header, Header) else None
        if header is None and len(frames) == 2:
            with contextlib.suppress(ProtocolError):
                header = codec.decode_header(frames[0])
        if header is None or not await self.replies.fail(header, exc.to_failure()):
            return
        if header.src.startswith("executor:"):
            await self.send(header.src, QueryCancel(target=header.reply_to))


@asynccontextmanager
async def open_client(ctx: Any, endpoint: str, session: str = "") -> AsyncIterator[Client]:
    identity = f"cli-{os.getpid()}-{os.urandom(16).hex()}"  # unguessable: see Supervisor.trust
    async with open_dealer(ctx, endpoint, identity) as sock, trio.open_nursery() as nursery:
        client = Client(sock, identity, session)
        nursery.start_soon(client._recv_loop)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()
