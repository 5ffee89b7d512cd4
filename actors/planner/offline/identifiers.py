"""SQL names and literals as PostgreSQL reads them back, built with sqlglot's expression tree."""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from protocol.sqltext import quote_ident


def ident(name: str) -> exp.Identifier:
    """An identifier that PostgreSQL reads back as exactly `name`, quoted only when needed
    (by the one quoter, protocol/sqltext.py, with the server's own keyword list)."""
    return exp.Identifier(this=name, quoted=quote_ident(name) != name)


def number_literal(x: float) -> exp.Literal:
    return exp.Literal.number(int(x) if float(x).is_integer() else x)


def date_literal(d: dt.date) -> exp.Expression:
    return exp.Cast(this=exp.Literal.string(d.isoformat()), to=exp.DataType.build("date"))
