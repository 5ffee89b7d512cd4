"""The header every message carries (frame 1 of 2 on the wire)."""

from __future__ import annotations

import itertools
import os
import time

import msgspec

from protocol.messages import PROTOCOL_VERSION, Body, kind_of


class Header(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who sent what to whom, and which user action it belongs to.

    v         protocol version; checked before the body is decoded
    id        "<actor>:<incarnation>:<n>", unique within a run
    kind      the body's dotted tag, so routers need not decode bodies
    src/dst   actor ids ("ui", "planner", "guard", "executor:<profile>", ...)
    reply_to  id of the request this answers ("" for requests and events)
    trace     one per user action, copied onto every descendant message
    session   the session id
    more      True on every part of a stream but the last
    sent_at   sender's wall clock, seconds
    """

    v: int = PROTOCOL_VERSION
    id: str
    kind: str
    src: str
    dst: str
    reply_to: str = ""
    trace: str = ""
    session: str = ""
    more: bool = False
    sent_at: float = 0.0


def make_header(
    body: Body,
    *,
    msg_id: str,
    src: str,
    dst: str,
    reply_to: str = "",
    trace: str = "",
    session: str = "",
    more: bool = False,
    sent_at: float | None = None,
) -> Header:
    """The header of `body`, stamped with the sender's clock (or `sent_at`, for a sender
    with a clock of its own, such as the UI's pure reducer). The one place headers are made."""
    return Header(
        id=msg_id,
        kind=kind_of(body),
        src=src,
        dst=dst,
        reply_to=reply_to,
        trace=trace,
        session=session,
        more=more,
        sent_at=now() if sent_at is None else sent_at,
    )


class IdMaker:
    """Message ids for one actor incarnation."""

    def __init__(self, actor: str, incarnation: int) -> None:
        self.prefix = f"{actor}:{incarnation}:"
        self._n = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self._n)}"


def new_trace() -> str:
    return os.urandom(8).hex()


def now() -> float:
    return time.time()
