"""Lossless codecs: asyncpg decodes each PostgreSQL type straight into the wire value
(protocol/values.py), so no value is ever str()-ed on its way to the UI or an export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
from msgspec.msgpack import Ext

from protocol.values import (
    EXT_DATE,
    EXT_INTERVAL,
    EXT_JSON,
    EXT_NUMERIC,
    EXT_TEXT,
    EXT_TIME,
    EXT_TIMESTAMP,
    EXT_TIMESTAMPTZ,
    EXT_TIMETZ,
    EXT_UUID,
)

# -- lossless codecs: asyncpg decodes straight into wire values ----------------------

_Q = __import__("struct").Struct(">q")
_QI = __import__("struct").Struct(">qi")
_I = __import__("struct").Struct(">i")
_IIQ = __import__("struct").Struct(">iiq")
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in µs since 1970-01-01
_PG_EPOCH_DAYS = 10_957
_INT64_MAX, _INT64_MIN = 2**63 - 1, -(2**63)
_INT32_MAX, _INT32_MIN = 2**31 - 1, -(2**31)


def _text_ext(type_name: str) -> Callable[[str], Ext]:
    def decode(text: str) -> Ext:
        return Ext(EXT_TEXT, msgspec.msgpack.encode([type_name, text]))

    return decode


def _timestamptz(text: str) -> Ext:
    """Server text in the session's zone (DateStyle ISO), e.g. 2024-03-01 12:00:00.5+05:30."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:  # infinity, BC dates, years past 9999
        return _text_ext("timestamp with time zone")(text)
    offset = value.utcoffset() or dt.timedelta(0)
    micros = (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return Ext(EXT_TIMESTAMPTZ, _QI.pack(micros, int(offset.total_seconds())))


def _timestamp(t: tuple[int]) -> Ext:
    us = t[0]
    if us in (_INT64_MAX, _INT64_MIN):
        return _text_ext("timestamp without time zone")("infinity" if us > 0 else "-infinity")
    return Ext(EXT_TIMESTAMP, _Q.pack(us + _PG_EPOCH_US))


def _date(t: tuple[int]) -> Ext:
    d = t[0]
    if d in (_INT32_MAX, _INT32_MIN):
        return _text_ext("date")("infinity" if d > 0 else "-infinity")
    return Ext(EXT_DATE, _I.pack(d + _PG_EPOCH_DAYS))


def _timetz(t: tuple[int, int]) -> Ext:
    # asyncpg's tuple gives the zone as PostgreSQL stores it: seconds *west* of UTC
    return Ext(EXT_TIMETZ, _QI.pack(t[0], -t[1]))


async def register_codecs(con: asyncpg.Connection) -> None:
    """asyncio: decode every type losslessly, straight into wire values."""
    codecs: list[tuple[str, str, Callable[[Any], Any], str]] = [
        ("numeric", "text", lambda s: Ext(EXT_NUMERIC, s.encode()), "pg_catalog"),
        ("timestamptz", "text", _timestamptz, "pg_catalog"),
        ("timestamp", "tuple", _timestamp, "pg_catalog"),
        ("date", "tuple", _date, "pg_catalog"),
        ("time", "tuple", lambda t: Ext(EXT_TIME, _Q.pack(t[0])), "pg_catalog"),
        ("timetz", "tuple", _timetz, "pg_catalog"),
        ("interval", "tuple", lambda t: Ext(EXT_INTERVAL, _IIQ.pack(*t)), "pg_catalog"),
        ("uuid", "binary", lambda b: Ext(EXT_UUID, bytes(b)), "pg_catalog"),
        ("json", "text", lambda s: Ext(EXT_JSON, s.encode()), "pg_catalog"),
        ("jsonb", "text", lambda s: Ext(EXT_JSON, s.encode()), "pg_catalog"),
    ]
    for pg_type in (
        "inet",
        "cidr",
        "macaddr",
        "macaddr8",
        "money",
        "bit",
        "varbit",
        "xml",
        "tsvector",
        "tsquery",
        "point",
        "line",
        "lseg",
        "box",
        "path",
        "polygon",
        "circle",
        "pg_lsn",
        "txid_snapshot",
    ):
        codecs.append((pg_type, "text", _text_ext(pg_type), "pg_catalog"))
    for pg_type, fmt, decoder, schema in codecs:
        await con.set_type_codec(pg_type, schema=schema, format=fmt, decoder=decoder, encoder=str)
