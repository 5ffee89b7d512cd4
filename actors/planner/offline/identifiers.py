"""SQL names and literals as PostgreSQL reads them back, built with sqlglot's expression tree."""

from __future__ import annotations

import datetime as dt
import re

from sqlglot import exp

# PostgreSQL reserved key words (appendix C, "reserved" and "reserved (can be function or
# type)"): an identifier spelled like one of these must be quoted even when lower case.
_PG_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left
    like limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with""".split()
)


_SAFE_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def ident(name: str) -> exp.Identifier:
    """An identifier that PostgreSQL reads back as exactly `name` (quoted only when needed)."""
    quoted = not _SAFE_IDENT.fullmatch(name) or name in _PG_RESERVED
    return exp.Identifier(this=name, quoted=quoted)


def number_literal(x: float) -> exp.Literal:
    return exp.Literal.number(int(x) if float(x).is_integer() else x)


def date_literal(d: dt.date) -> exp.Expression:
    return exp.Cast(this=exp.Literal.string(d.isoformat()), to=exp.DataType.build("date"))
