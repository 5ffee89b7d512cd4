"""SQL texts two processes must spell alike.

The UI builds a restore's `CREATE DATABASE` so the guard can sign it, and the executor
checks that the text it runs is the one that was signed: both take it from here.
Pure and stdlib-only, like the rest of protocol/."""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
_RESERVED = {"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "both", "case",
             "cast", "check", "collate", "column", "constraint", "create", "default", "desc",
             "distinct", "do", "else", "end", "except", "false", "for", "foreign", "from",
             "grant", "group", "having", "in", "index", "into", "is", "join", "limit", "not",
             "null", "offset", "on", "only", "or", "order", "primary", "references", "select",
             "table", "then", "to", "true", "union", "unique", "user", "using", "when", "where",
             "with"}  # fmt: skip


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL's quote_ident() writes it."""
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def create_database_sql(name: str) -> str:
    """The exact text the guard signs for a restore's target (RestoreRequest.verdict)."""
    return f"CREATE DATABASE {quote_ident(name)}"
