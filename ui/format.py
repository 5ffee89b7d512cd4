"""How values look: on screen (psql's text style), in CSV, and in JSON.

Values arrive as decoded wire values (protocol/values.py). Nothing here goes through
float: numeric keeps every digit, in JSON too (as a number).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from protocol.columns import unique_names
from protocol.values import Interval, Json, PgText, Range

NULL_TEXT = "NULL"


def _offset(value: dt.datetime | dt.time) -> str:
    off = value.utcoffset() or dt.timedelta(0)
    sign = "-" if off < dt.timedelta(0) else "+"
    total = abs(int(off.total_seconds()))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h:02d}" + (f":{m:02d}" if m or s else "") + (f":{s:02d}" if s else "")


def _trim_fraction(text: str, microsecond: int) -> str:
    return text.rstrip("0") if microsecond else text  # PostgreSQL prints .5, not .500000


def interval_text(v: Interval) -> str:
    """PostgreSQL's `postgres` IntervalStyle: 1 year 2 mons -3 days +04:05:06."""
    year = int(v.months / 12)  # truncates toward zero, as PostgreSQL does
    parts: list[str] = []
    is_before = False  # the last field printed was negative: the next positive one gets '+'
    for value, unit in ((year, "year"), (v.months - year * 12, "mon"), (v.days, "day")):
        if value:
            parts.append(
                f"{'+' if is_before and value > 0 else ''}{value} {unit}{'s' if value != 1 else ''}"
            )
            is_before = value < 0
    if not parts or v.microseconds:
        secs, frac = divmod(abs(v.microseconds), 1_000_000)
        h, rest = divmod(secs, 3600)
        m, s = divmod(rest, 60)
        sign = "-" if v.microseconds < 0 else "+" if is_before else ""
        text = f"{sign}{h:02d}:{m:02d}:{s:02d}"
        parts.append(text + (f".{frac:06d}".rstrip("0") if frac else ""))
    return " ".join(parts)


def cell_text(v: Any) -> str:
    """The value as psql would print it (NULL shown as NULL, distinct from '')."""
    if v is None:
        return NULL_TEXT
    fast = _BY_TYPE.get(type(v))  # one dict lookup for the common types (1M cells/s matter)
    if fast is not None:
        return fast(v)
    return _cell_text(v)


# (psql's offset text, the length of isoformat's offset suffix) per fixed-offset zone
_ZONE_TEXT: dict[dt.tzinfo, tuple[str, int]] = {}


def _datetime_text(v: dt.datetime) -> str:
    tz = v.tzinfo
    if tz is None:
        return _trim_fraction(v.isoformat(sep=" "), v.microsecond)
    if not isinstance(tz, dt.timezone):  # a zone whose offset varies: the general path
        return _cell_text(v)
    zone = _ZONE_TEXT.get(tz)
    if zone is None:
        suffix = len(v.isoformat()) - len(v.replace(tzinfo=None).isoformat())
        zone = _ZONE_TEXT.setdefault(tz, (_offset(v), suffix))
    return _trim_fraction(v.isoformat(sep=" ")[: -zone[1]], v.microsecond) + zone[0]


_BY_TYPE: dict[type, Any] = {
    str: lambda v: v,
    int: str,
    bool: lambda v: "t" if v else "f",
    decimal.Decimal: str,
    dt.date: str,
    uuid.UUID: str,
    dt.datetime: _datetime_text,
}


def _cell_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, float):
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    if isinstance(v, dt.datetime):
        base = _trim_fraction(v.replace(tzinfo=None).isoformat(sep=" "), v.microsecond)
        return base + _offset(v) if v.tzinfo is not None else base
    if isinstance(v, dt.time):
        base = _trim_fraction(v.replace(tzinfo=None).isoformat(), v.microsecond)
        return base + _offset(v) if v.tzinfo is not None else base
    if isinstance(v, Interval):
        return interval_text(v)
    if isinstance(v, Json):
        return v.text
    if isinstance(v, PgText):
        return v.text
    if isinstance(v, bytes):
        return "\\x" + v.hex()
    if isinstance(v, Range):
        if v.empty:
            return "empty"
        lo = "" if v.lower is None else cell_text(v.lower)
        hi = "" if v.upper is None else cell_text(v.upper)
        return f"{v.bounds[0]}{lo},{hi}{v.bounds[1]}"
    if isinstance(v, list):
        return "{" + ",".join(_array_item(x) for x in v) + "}"
    return str(v)  # int, float, Decimal, date, UUID


def _array_item(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, list):
        return cell_text(v)
    text = cell_text(v)
    if text == "" or any(c in text for c in ' ,{}"\\') or text.upper() == "NULL":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def is_numeric(v: Any) -> bool:
    return isinstance(v, int | float | decimal.Decimal) and not isinstance(v, bool)


# -- JSON ------------------------------------------------------------------------------


def json_value(v: Any) -> Any:
    """A value msgspec.json can encode exactly: numbers stay numbers, json stays json."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, decimal.Decimal):
        return v if v.is_finite() else str(v)
    if isinstance(v, Json):
        return msgspec.Raw(v.text.encode())
    if isinstance(v, dt.datetime | dt.time):
        return v.isoformat()
    if isinstance(v, dt.date | uuid.UUID):
        return str(v)
    if isinstance(v, list):
        return [json_value(x) for x in v]
    return cell_text(v)


_json = msgspec.json.Encoder(decimal_format="number")


def json_dumps(obj: Any) -> str:
    return _json.encode(obj).decode()


def rows_as_json(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, lines: bool = False
) -> str:
    keys = unique_names(columns)  # a self-join's two `id`s stay two keys: id, id_2
    objects = (dict(zip(keys, (json_value(v) for v in row), strict=True)) for row in rows)
    if lines:
        return "".join(json_dumps(o) + "\n" for o in objects)
    return "[" + ",\n".join(json_dumps(o) for o in objects) + "]\n"


def rows_as_csv(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, delimiter: str = ","
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(unique_names(columns))
    for row in rows:
        writer.writerow(["" if v is None else cell_text(v) for v in row])
    return out.getvalue()


def rows_as_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60
) -> str:
    """psql's aligned format: numbers right-aligned, a row count footer."""
    columns = unique_names(columns)
    texts = [[cell_text(v).replace("\n", "\u21b5") for v in row] for row in rows]
    numeric = [
        any(is_numeric(r[i]) for r in rows) and all(r[i] is None or is_numeric(r[i]) for r in rows)
        for i in range(len(columns))
    ]
    widths = [
        min(max_width, max([len(c)] + [len(t[i]) for t in texts])) for i, c in enumerate(columns)
    ]

    def cut(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "\u2026"

    lines = [" | ".join(cut(c, w).center(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    for t in texts:
        cells = [
            cut(x, w).rjust(w) if numeric[i] else cut(x, w).ljust(w)
            for i, (x, w) in enumerate(zip(t, widths, strict=True))
        ]
        lines.append(" | ".join(cells).rstrip())
    n = len(rows)
    lines.append(f"({n} row{'s' if n != 1 else ''})")
    return "\n".join(lines) + "\n"


class StreamWriter:
    """A result written as it arrives: `columns` once, `rows` per batch, `end` at the end.

    csv, json and jsonl are written batch by batch in bounded memory; `table` (psql's
    aligned format) needs every row to size its columns, so it keeps them until `end`.
    """

    def __init__(self, out: Any, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self.names: list[str] = []
        self.count = 0
        self._table: list[Sequence[Any]] = []
        self._csv: Any = None
        self._buf = io.StringIO()

    def columns(self, names: Sequence[str]) -> None:
        self.names = unique_names(names)
        if self.fmt == "csv":
            self._csv = csv.writer(self._buf, lineterminator="\n")  # as psql and COPY
            self._csv.writerow(self.names)
            self._flush()
        elif self.fmt == "json":
            self.out.write("[")

    def rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.fmt == "table":
            self._table.extend(rows)
        elif self.fmt == "csv":
            self._csv.writerows([["" if v is None else cell_text(v) for v in r] for r in rows])
            self._flush()
        else:
            keys = self.names
            texts = [json_dumps(dict(zip(keys, map(json_value, r), strict=True))) for r in rows]
            if self.fmt == "jsonl":
                self.out.write("\n".join(texts) + "\n")
            else:
                self.out.write((",\n" if self.count else "") + ",\n".join(texts))
        self.count += len(rows)

    def end(self) -> None:
        if not self.names:
            return
        if self.fmt == "table":
            self.out.write(rows_as_table(self.names, self._table))
            self._table = []
        elif self.fmt == "json":
            self.out.write("]\n")
        self.out.flush()

    def _flush(self) -> None:
        self.out.write(self._buf.getvalue())
        self._buf.seek(0)
        self._buf.truncate()
