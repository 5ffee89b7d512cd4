"""PostgreSQL values on the wire, losslessly (DESIGN §3 "Types").

A cell of a result row is a *wire value*: a msgpack primitive (nil, bool, int, float,
str, bin, array) or one of the ext types below. Ext payloads are fixed binary layouts
(big-endian), so decoding needs no second msgpack pass for the common types.

  code  type         payload                                  decoded to
  1     numeric      ASCII text, every digit, NaN, ±Infinity  decimal.Decimal
  2     timestamptz  int64 µs since 1970-01-01 UTC, int32 s   aware datetime (that offset)
  3     timestamp    int64 µs since 1970-01-01                naive datetime
  4     date         int32 days since 1970-01-01              datetime.date
  5     time         int64 µs since midnight                  datetime.time
  6     timetz       int64 µs since midnight, int32 offset s  aware datetime.time
  7     interval     int32 months, int32 days, int64 µs       Interval
  8     uuid         16 bytes                                 uuid.UUID
  9     json/jsonb   UTF-8 text as the server wrote it        Json (text kept exactly)
  10    any other    msgpack [type name, server text]         PgText (infinity, inet, money…)
  11    range        msgpack [lower, upper, bounds, empty]    Range (bounds wire values)

bytea travels as msgpack bin (bytes); arrays of any dimension as nested arrays with
nil for NULL elements; float NaN/±Infinity as msgpack float64.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid
from typing import Any

import msgspec
from msgspec.msgpack import Ext

EXT_NUMERIC = 1
EXT_TIMESTAMPTZ = 2
EXT_TIMESTAMP = 3
EXT_DATE = 4
EXT_TIME = 5
EXT_TIMETZ = 6
EXT_INTERVAL = 7
EXT_UUID = 8
EXT_JSON = 9
EXT_TEXT = 10
EXT_RANGE = 11

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)
_Q = struct.Struct(">q")
_QI = struct.Struct(">qi")
_I = struct.Struct(">i")
_IIQ = struct.Struct(">iiq")


class Interval(msgspec.Struct, frozen=True):
    """A PostgreSQL interval: months and days are kept apart from time (a month is
    not 30 days, a day is not 24 hours across a DST change)."""

    months: int = 0
    days: int = 0
    microseconds: int = 0


class Json(msgspec.Struct, frozen=True):
    """json/jsonb exactly as the server printed it (numbers keep every digit)."""

    text: str

    @property
    def value(self) -> Any:
        return msgspec.json.decode(self.text)


class PgText(msgspec.Struct, frozen=True):
    """A value pgask has no dedicated type for, in the server's own text output."""

    type_name: str
    text: str


class Range(msgspec.Struct, frozen=True):
    lower: Any = None
    upper: Any = None
    bounds: str = "[)"  # inclusive '[' or exclusive '(' for each side
    empty: bool = False


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time_micros(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def to_wire(value: Any) -> Any:
    """A Python value -> a wire value (lists are converted element by element)."""
    if value is None or isinstance(value, bool | int | float | str | bytes | Ext):
        return value
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return Ext(EXT_NUMERIC, str(value).encode("ascii"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return Ext(EXT_TIMESTAMP, _Q.pack(_micros(value - _EPOCH)))
        offset = value.utcoffset() or dt.timedelta(0)
        return Ext(
            EXT_TIMESTAMPTZ, _QI.pack(_micros(value - _EPOCH_UTC), int(offset.total_seconds()))
        )
    if isinstance(value, dt.date):
        return Ext(EXT_DATE, _I.pack((value - _EPOCH_DATE).days))
    if isinstance(value, dt.time):
        if value.tzinfo is None:
            return Ext(EXT_TIME, _Q.pack(_time_micros(value)))
        offset = value.utcoffset() or dt.timedelta(0)
        return Ext(EXT_TIMETZ, _QI.pack(_time_micros(value), int(offset.total_seconds())))
    if isinstance(value, dt.timedelta):
        return Ext(
            EXT_INTERVAL, _IIQ.pack(0, value.days, value.seconds * 1_000_000 + value.microseconds)
        )
    if isinstance(value, Interval):
        return Ext(EXT_INTERVAL, _IIQ.pack(value.months, value.days, value.microseconds))
    if isinstance(value, uuid.UUID):
        return Ext(EXT_UUID, value.bytes)
    if isinstance(value, Json):
        return Ext(EXT_JSON, value.text.encode())
    if isinstance(value, PgText):
        return Ext(EXT_TEXT, msgspec.msgpack.encode([value.type_name, value.text]))
    if isinstance(value, Range):
        inner = [to_wire(value.lower), to_wire(value.upper), value.bounds, value.empty]
        return Ext(EXT_RANGE, msgspec.msgpack.encode(inner))
    raise TypeError(f"pgask cannot send a value of type {type(value).__name__} losslessly")


def _fixed_offset(seconds: int) -> dt.timezone:
    return dt.UTC if seconds == 0 else dt.timezone(dt.timedelta(seconds=seconds))


def _time_of(micros: int, tz: dt.tzinfo | None = None) -> dt.time:
    seconds, us = divmod(micros, 1_000_000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return dt.time(h, m, s, us, tzinfo=tz)


def ext_hook(code: int, data: memoryview) -> Any:
    """Decoder hook: an ext payload -> its Python value."""
    if code == EXT_NUMERIC:
        return decimal.Decimal(bytes(data).decode("ascii"))
    if code == EXT_TIMESTAMPTZ:
        micros, offset = _QI.unpack(data)
        tz = _fixed_offset(offset)
        return (_EPOCH_UTC + dt.timedelta(microseconds=micros)).astimezone(tz)
    if code == EXT_TIMESTAMP:
        return _EPOCH + dt.timedelta(microseconds=_Q.unpack(data)[0])
    if code == EXT_DATE:
        return _EPOCH_DATE + dt.timedelta(days=_I.unpack(data)[0])
    if code == EXT_TIME:
        return _time_of(_Q.unpack(data)[0])
    if code == EXT_TIMETZ:
        micros, offset = _QI.unpack(data)
        return _time_of(micros, _fixed_offset(offset))
    if code == EXT_INTERVAL:
        return Interval(*_IIQ.unpack(data))
    if code == EXT_UUID:
        return uuid.UUID(bytes=bytes(data))
    if code == EXT_JSON:
        return Json(bytes(data).decode())
    if code == EXT_TEXT:
        type_name, text = msgspec.msgpack.decode(data)
        return PgText(type_name, text)
    if code == EXT_RANGE:
        lower, upper, bounds, empty = msgspec.msgpack.decode(data, ext_hook=ext_hook)
        return Range(lower, upper, bounds, empty)
    raise ValueError(f"unknown pgask value type code {code}")
