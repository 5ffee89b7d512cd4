"""Frames <-> (Header, Body). The header is decoded and its version checked before
the body, so two pgask installs talking give a clear error, not a body-decode one."""

from __future__ import annotations

from typing import Any

import msgspec

from protocol.envelope import Header
from protocol.errors import ProtocolError
from protocol.messages import KINDS, PROTOCOL_VERSION, Body, Message, kind_of
from protocol.values import ext_hook

MAX_FRAME_BYTES = 64 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()
_header_decoder = msgspec.msgpack.Decoder(Header)
_body_decoder = msgspec.msgpack.Decoder(Message, ext_hook=ext_hook)


def encode(header: Header, body: Body) -> list[bytes]:
    return [_encoder.encode(header), _encoder.encode(body)]


def encode_body(body: Body) -> bytes:
    return _encoder.encode(body)


def decode_header(frame: bytes) -> Header:
    if len(frame) > 64 * 1024:
        raise ProtocolError("A message header was too large and was dropped.")
    try:
        header = _header_decoder.decode(frame)
    except RecursionError as exc:  # nesting deeper than the interpreter's stack
        raise ProtocolError(
            "A message could not be read and was dropped.",
            why="Its header is nested too deeply to be a pgask header.",
        ) from exc
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(
            "A message could not be read and was dropped.",
            why=f"Its header is not a pgask header ({exc}).",
            detail=repr(frame[:80]),
        ) from exc
    if header.v != PROTOCOL_VERSION:
        exc = ProtocolError(
            "Two pgask processes from different installs are talking.",
            why=f"A message used protocol version {header.v}; this process speaks {PROTOCOL_VERSION}.",
            hint="Restart pgask so that every process comes from the same install.",
            code="protocol.version_mismatch",
        )
        exc.header = header  # so the reply can name the request it refuses
        raise exc
    return header


def decode_body(header: Header, frame: Any) -> Body:
    """`frame` is bytes or a zmq.Frame (decoded from its buffer, without a copy)."""
    frame = getattr(frame, "buffer", frame)
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(
            f"A '{header.kind}' message of {len(frame)} bytes was refused.",
            why=f"Messages are limited to {MAX_FRAME_BYTES // (1024 * 1024)} MiB.",
            code="protocol.too_large",
        )
    if header.kind not in KINDS:
        raise ProtocolError(
            f"A message of unknown kind '{header.kind}' was refused.",
            code="protocol.unknown_kind",
        )
    try:
        body = _body_decoder.decode(frame)
    except RecursionError as exc:  # a value nested too deeply for this process's stack
        raise ProtocolError(
            f"A malformed '{header.kind}' message was refused.",
            why="It is nested too deeply to decode.",
            code="protocol.too_deep",
        ) from exc
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise ProtocolError(
            f"A malformed '{header.kind}' message was refused.",
            why=str(exc),
        ) from exc
    if kind_of(body) != header.kind:
        raise ProtocolError(
            f"A message said it was '{header.kind}' but its body is '{kind_of(body)}'.",
        )
    return body


def decode(frames: list[bytes]) -> tuple[Header, Body]:
    if len(frames) != 2:
        raise ProtocolError(f"A message had {len(frames)} frames instead of 2 and was dropped.")
    header = decode_header(frames[0])
    return header, decode_body(header, frames[1])
