"""One peer on the bus: the headers it writes, send / stream / request, and its replies matched
to the requests that wait for them. Every process talks through one: each actor
(actors/_runtime.py), the clients of the UI and the CLI (ui/client.py), and the supervisor
(actors/supervisor.py), which also routes the frames of everyone else.

    peer = Peer("ui", IdMaker("ui", 1), transmit, session=...)
    await peer.send("executor:p", QueryCancel(target=...))        # an event or a reply part
    async for header, reply in peer.stream("executor:p", QueryRequest(...)):
        ...                                                       # every part, then the last
    reply = await peer.request("guard", GuardRequest(...), timeout=30)   # the last only

The peer's own receive loop hands every reply to `peer.replies.deliver()` (or
`deliver_nowait()`); a reply nobody waits for (a late one, after a timeout) is the loop's to
drop. `transmit(dst, frames)` puts the encoded frames on the wire: a DEALER sends them as they
are, the supervisor's ROUTER prefixes the destination's identity.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from protocol import codec
from protocol.envelope import Header, IdMaker, make_header
from protocol.messages import Body, Failure, kind_of

Transmit = Callable[[str, list[bytes]], Awaitable[Any]]
Reply = tuple[Header, Body]

STREAM_BUFFER = 1000  # reply parts held for a stream whose reader is busy


class Replies:
    """The requests waiting for replies, by request id, each with a channel of its own."""

    def __init__(self) -> None:
        self._waiting: dict[str, trio.MemorySendChannel[Reply]] = {}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._waiting

    def open(
        self, request_id: str, capacity: int = STREAM_BUFFER
    ) -> trio.MemoryReceiveChannel[Reply]:
        """Start waiting for the replies to `request_id` (before the request is sent, so
        the first reply cannot come too early)."""
        send, recv = trio.open_memory_channel[Reply](capacity)
        self._waiting[request_id] = send
        return recv

    def close(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    async def deliver(self, header: Header, body: Body) -> bool:
        """Hand a reply to its request, waiting while the reader is busy (backpressure, never
        a skip). False when no request waits for it."""
        channel = self._waiting.get(header.reply_to)
        if channel is None:
            return False
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await channel.send((header, body))
        return True

    def deliver_nowait(self, header: Header, body: Body) -> bool:
        """deliver() for a loop that must not wait (the buffer holds STREAM_BUFFER parts)."""
        channel = self._waiting.get(header.reply_to)
        if channel is None:
            return False
        channel.send_nowait((header, body))
        return True

    async def fail(self, header: Header, failure: Failure) -> bool:
        """End the request `header` answers with `failure` as its final reply (a reply that
        could not be read: a result is never shown with a part missing)."""
        channel = self._waiting.pop(header.reply_to, None)
        if channel is None:
            return False
        final = msgspec.structs.replace(header, more=False, kind=kind_of(failure))
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await channel.send((final, failure))
        return True


@dataclass
class Peer:
    """A sender on the bus: `src` is its actor id, `ids` makes its message ids."""

    src: str
    ids: IdMaker
    transmit: Transmit
    session: str = ""
    replies: Replies = field(default_factory=Replies)

    def header(
        self,
        dst: str,
        body: Body,
        *,
        msg_id: str = "",
        reply_to: str = "",
        trace: str = "",
        more: bool = False,
    ) -> Header:
        return make_header(
            body,
            msg_id=msg_id or self.ids(),
            src=self.src,
            dst=dst,
            reply_to=reply_to,
            trace=trace,
            session=self.session,
            more=more,
        )

    async def send(
        self,
        dst: str,
        body: Body,
        *,
        reply_to: str = "",
        more: bool = False,
        trace: str = "",
        msg_id: str = "",
    ) -> str:
        """Send one message; its id."""
        header = self.header(dst, body, msg_id=msg_id, reply_to=reply_to, trace=trace, more=more)
        await self.transmit(dst, codec.encode(header, body))
        return header.id

    async def stream(
        self,
        dst: str,
        body: Body,
        *,
        trace: str = "",
        request_id: str = "",
        capacity: int = STREAM_BUFFER,
    ) -> AsyncIterator[Reply]:
        """Send a request and yield every reply until the final one (`more=False`).
        `request_id` (from `self.ids()`) lets the caller cancel before the first reply."""
        msg_id = request_id or self.ids()
        recv = self.replies.open(msg_id, capacity)
        try:
            await self.send(dst, body, trace=trace, msg_id=msg_id)
            async with recv:
                async for header, reply in recv:
                    yield header, reply
                    if not header.more:
                        return
        finally:
            self.replies.close(msg_id)

    async def request(
        self, dst: str, body: Body, *, trace: str = "", timeout: float = 60.0
    ) -> Body:
        """The final reply to `body` (a Failure is returned, not raised); trio.TooSlowError
        after `timeout` seconds."""
        last: Body | None = None
        with trio.fail_after(timeout):
            async for _header, reply in self.stream(dst, body, trace=trace):
                last = reply
        assert last is not None
        return last
