"""Issue 17: no frame, however malformed, makes a decoder raise anything but ProtocolError.

Every process decodes with protocol.codec: actors (actors/_runtime.serve), the supervisor
(_route: headers only, bodies it handles itself), the headless client and the terminal UI
(ui/app.drain, codec.decode). So random msgpack, deep nesting and huge declared lengths fed
to these functions is what every one of them meets on the wire.
"""

from __future__ import annotations

import struct

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import codec
from protocol.envelope import Header
from protocol.errors import ProtocolError
from protocol.messages import KINDS

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# msgpack values, nested
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)

# headers of every kind (so bodies reach the typed decoder), and some that are not headers
kinds = st.sampled_from(sorted(KINDS)) | st.text(max_size=12)


def _header(kind: str) -> bytes:
    return msgspec.msgpack.encode(Header(id="x:1:1", kind=kind, src="cli-1", dst="executor:p"))


def _nested(depth: int, opener: bytes) -> bytes:
    return opener * depth + b"\xc0"


# raw prefixes that declare more than they carry: array32, map32, str32, bin32, ext32
HUGE = [
    b"\xdd\xff\xff\xff\xff",
    b"\xdf\xff\xff\xff\xff",
    b"\xdb\xff\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xc9\xff\xff\xff\xff\x01",
]
NASTY = st.sampled_from(HUGE) | st.builds(
    _nested, st.integers(1, 60_000), st.sampled_from([b"\x91", b"\x81\xa1k", b"\xdc\x00\x01"])
)


def _decode_all(frames: list[bytes]) -> None:
    """What the actors, the client and the UI do with two frames; the supervisor's header."""
    try:
        codec.decode(frames)
    except ProtocolError:
        pass
    if frames:
        try:
            codec.decode_header(frames[0])
        except ProtocolError:
            pass


@SETTINGS
@given(kind=kinds, body=values)
def test_random_bodies_of_any_kind(kind: str, body: object) -> None:
    _decode_all([_header(kind), msgspec.msgpack.encode(body)])


@SETTINGS
@given(kind=kinds, fields=st.dictionaries(st.text(max_size=10), values, max_size=6))
def test_random_maps_tagged_as_a_real_kind(kind: str, fields: dict[str, object]) -> None:
    _decode_all([_header(kind), msgspec.msgpack.encode({**fields, "kind": kind})])


@SETTINGS
@given(
    kind=st.sampled_from(sorted(KINDS)),
    nasty=NASTY,
    where=st.sampled_from(["body", "field", "header"]),
)
def test_deep_nesting_and_huge_declared_lengths(kind: str, nasty: bytes, where: str) -> None:
    if where == "body":
        frames = [_header(kind), nasty]
    elif where == "field":  # {"kind": kind, "rows": <nasty>}: inside a typed body
        tag = msgspec.msgpack.encode(kind)
        frames = [_header(kind), b"\x82\xa4kind" + tag + b"\xa4rows" + nasty]
    else:
        frames = [nasty, b"\xc0"]
    _decode_all(frames)


@SETTINGS
@given(frames=st.lists(st.binary(max_size=64), max_size=4))
def test_random_bytes_and_frame_counts(frames: list[bytes]) -> None:
    _decode_all(frames)


def test_a_50000_deep_body_is_a_protocol_error_naming_the_depth() -> None:
    body = b"\x82\xa4kind\xaaquery.rows\xa4rows" + _nested(50_000, b"\x91")
    with pytest.raises(ProtocolError) as caught:
        codec.decode([_header("query.rows"), body])
    assert caught.value.code == "protocol.too_deep" and "nested too deeply" in caught.value.why


def test_an_oversized_header_is_refused_before_decoding() -> None:
    big = struct.pack(">BI", 0xDB, 100_000) + b"x" * 100_000
    with pytest.raises(ProtocolError, match="too large"):
        codec.decode_header(big)
