"""SQL texts two processes must spell alike, and the one identifier quoter.

* quote_ident(): an identifier as PostgreSQL's own quote_ident() writes it. A name stays bare
  only when it is lower case, starts with a letter or `_`, and is not a keyword PostgreSQL
  reserves in any way (RESERVED, TYPE_FUNC_NAME and COL_NAME keywords: everything but the
  UNRESERVED ones, as ruleutils.c's quote_identifier decides). The lists below are the
  server's grammar (kwlist.h) as pglast (libpg_query) ships it; tests/unit/test_sqltext.py
  checks them against `pglast.keywords`, so a new PostgreSQL keyword fails a test, not a
  restore.
* create_database_sql(): the UI builds a restore's `CREATE DATABASE` so the guard can sign it,
  and the executor checks that the text it runs is the one that was signed.
* copy_out_sql(): the `COPY (...) TO STDOUT` an export asks the guard to sign and the
  executor runs.

Pure and stdlib-only, like the rest of protocol/."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from protocol.columns import unique_names

RESERVED_KEYWORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric both case cast check collate column
    constraint create current_catalog current_date current_role current_time
    current_timestamp current_user default deferrable desc distinct do else end except false
    fetch for foreign from grant group having in initially intersect into lateral leading
    limit localtime localtimestamp not null offset on only or order placing primary
    references returning select session_user some symmetric system_user table then to
    trailing true union unique user using variadic when where window with
    """.split()
)
TYPE_FUNC_NAME_KEYWORDS = frozenset(
    """
    authorization binary collation concurrently cross current_schema freeze full ilike inner
    is isnull join left like natural notnull outer overlaps right similar tablesample
    verbose
    """.split()
)
COL_NAME_KEYWORDS = frozenset(
    """
    between bigint bit boolean char character coalesce dec decimal exists extract float
    greatest grouping inout int integer interval json json_array json_arrayagg json_exists
    json_object json_objectagg json_query json_scalar json_serialize json_table json_value
    least merge_action national nchar none normalize nullif numeric out overlay position
    precision real row setof smallint substring time timestamp treat trim values varchar
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi
    xmlroot xmlserialize xmltable
    """.split()
)
# what quote_ident() quotes: every keyword that is not UNRESERVED
QUOTED_KEYWORDS = RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | COL_NAME_KEYWORDS

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL's quote_ident() writes it."""
    if _PLAIN.fullmatch(name) and name not in QUOTED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(*parts: str) -> str:
    """`schema.name` (or any dotted name) with each part quoted as needed."""
    return ".".join(quote_ident(p) for p in parts)


def create_database_sql(name: str) -> str:
    """The exact text the guard signs for a restore's target (RestoreRequest.verdict)."""
    return f"CREATE DATABASE {quote_ident(name)}"


def copy_out_sql(
    sql: str,
    columns: Sequence[str] = (),
    *,
    fmt: Literal["csv", "jsonl"] = "csv",
    header: bool = True,
    delimiter: str | None = None,
) -> str:
    """`COPY (sql) TO STDOUT ...` for an export. When `columns` (the result's names) repeat
    (a self-join's two `id`s), the result is renamed through an alias list to the names every
    format uses (id, id_2). `delimiter` (none: COPY's own comma) must be one character other than a quote, a
    backslash or a line break (the caller says so to the person). JSON Lines is one object
    per line, in CSV mode with quote and delimiter bytes row_to_json never emits, because
    text-format COPY would double every backslash."""
    body = sql.strip().rstrip(";").rstrip()
    distinct = unique_names(columns)
    if columns and distinct != list(columns):
        aliases = ", ".join(quote_always(name) for name in distinct)
        body = f"SELECT * FROM ({body}\n) AS pgask_cols({aliases})"
    if fmt == "jsonl":
        return (
            f"COPY (SELECT row_to_json(pgask_row) FROM ({body}\n) AS pgask_row) "
            "TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
        )
    options = ["FORMAT csv"] + (["HEADER"] if header else [])
    if delimiter is not None:
        delim = "E'\\t'" if delimiter == "\t" else "'" + delimiter.replace("'", "''") + "'"
        options.append(f"DELIMITER {delim}")
    return f"COPY ({body}\n) TO STDOUT ({', '.join(options)})"


def quote_always(name: str) -> str:
    """A name in double quotes whatever it is (a column alias that must keep its case)."""
    return '"' + name.replace('"', '""') + '"'
