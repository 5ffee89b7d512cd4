"""A headless client of the actor tree, for `pgask actors`, `pgask sql`, `pgask ask`.

It is a DEALER like any actor (identity `cli-<pid>`), connected to the supervisor's
ROUTER, so scripts exercise exactly the paths the TUI uses.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from protocol import codec
from protocol.envelope import Header, IdMaker, new_trace, now
from protocol.errors import ProtocolError
from protocol.messages import ActorExited, Body, QueryCancel, kind_of
from protocol.tracing import log
from protocol.transport import TrioSocket, open_dealer


@dataclass
class Client:
    sock: TrioSocket
    identity: str
    session: str = ""
    ids: IdMaker = field(init=False)
    _waiting: dict[str, trio.MemorySendChannel[tuple[Header, Body]]] = field(default_factory=dict)
    events: list[Body] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = IdMaker(self.identity, 1)

    def _header(self, dst: str, body: Body, trace: str, request_id: str = "") -> Header:
        return Header(
            id=request_id or self.ids(), kind=kind_of(body), src=self.identity, dst=dst,
            trace=trace or new_trace(), session=self.session, sent_at=now(),
        )  # fmt: skip

    async def send(self, dst: str, body: Body, *, trace: str = "") -> str:
        header = self._header(dst, body, trace)
        await self.sock.send_multipart(codec.encode(header, body))
        return header.id

    async def stream(
        self, dst: str, body: Body, *, trace: str = "", request_id: str = ""
    ) -> AsyncIterator[tuple[Header, Body]]:
        """Send a request and yield every reply until the final one (`more=False`).

        `request_id` (from `self.ids()`) lets the caller cancel before the first reply."""
        send, recv = trio.open_memory_channel[tuple[Header, Body]](1000)
        header = self._header(dst, body, trace, request_id)
        self._waiting[header.id] = send
        try:
            await self.sock.send_multipart(codec.encode(header, body))
            async with recv:
                async for header, reply in recv:
                    yield header, reply
                    if not header.more:
                        return
        finally:
            self._waiting.pop(header.id, None)

    async def request(self, dst: str, body: Body, *, timeout: float = 30.0) -> Body:
        with trio.fail_after(timeout):
            async for _header, reply in self.stream(dst, body):
                last = reply
            return last

    async def _recv_loop(self) -> None:
        while True:
            frames = await self.sock.recv_multipart()
            try:
                header, body = codec.decode(frames)
            except ProtocolError as exc:
                log.warning("cli.message.dropped", reason=exc.message)
                await self._fail_request(frames, exc)
                continue
            channel = self._waiting.get(header.reply_to)
            if channel is not None:
                # waits while the consumer is busy (printing rows): backpressure, never a skip
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await channel.send((header, body))
            elif isinstance(body, ActorExited):
                self.events.append(body)

    async def _fail_request(self, frames: list[bytes], exc: ProtocolError) -> None:
        """A reply that cannot be read ends its request with that error (and the rest of its
        stream is cancelled at the source): a result is never shown with a part missing."""
        header = exc.header if isinstance(exc.header, Header) else None
        if header is None and len(frames) == 2:
            with contextlib.suppress(ProtocolError):
                header = codec.decode_header(frames[0])
        if header is None or header.reply_to not in self._waiting:
            return
        channel = self._waiting.pop(header.reply_to)
        final = msgspec.structs.replace(header, more=False, kind="error")
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await channel.send((final, exc.to_failure()))
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
