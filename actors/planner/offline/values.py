"""Stage 0, values: the bounded index of distinct values of category-like text columns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from actors.planner.offline.identifiers import ident
from actors.planner.offline.schema import kind_of
from actors.planner.words import split_words
from protocol.messages import Catalog

_SKIP_VALUE_COLS = re.compile(
    r"(^|_)(e?mail|phone|tel|address|addr|street|password|passwd|hash|token|secret|key|api|"
    r"url|uri|ip|ssn|iban|card|description|desc|comment|note|notes|text|body|message|uuid|guid)"
    r"($|_)|id$",
    re.IGNORECASE,
)


def value_index_sql(
    catalog: Catalog, max_distinct: int = 50, sample_rows: int = 10_000
) -> list[str]:
    """Read-only queries whose rows feed `parse_value_index`: one per table with text columns.

    Each row is (schema, table, column, text[] of up to max_distinct+1 distinct values), read
    from at most `sample_rows` rows so a huge table costs a bounded scan. Columns whose names
    suggest personal or free text (email, phone, address, description, ...) and enum columns
    (their labels are in the catalog already) are left out. Run these only when the profile's
    privacy settings allow sampling values.
    """
    out: list[str] = []
    for t in catalog.tables:
        if t.kind not in ("table", "view", "matview", "partitioned"):
            continue
        cols = [
            c
            for c in t.columns
            if kind_of(c.type_name, c.enum_values) == "text"
            and not c.enum_values
            and not _SKIP_VALUE_COLS.search(_camel_to_snake(c.name))
        ]
        if not cols:
            continue
        table = exp.Table(this=ident(t.name), db=ident(t.schema))
        parts = []
        for c in cols:
            inner = (
                sqlglot.select(exp.Column(this=ident(c.name)).as_("v"))
                .from_(table.copy())
                .where(
                    exp.Not(this=exp.Is(this=exp.Column(this=ident(c.name)), expression=exp.Null()))
                )
                .limit(sample_rows)
                .subquery("s")
            )
            distinct = (
                sqlglot.select(exp.Cast(this=exp.column("v"), to=exp.DataType.build("text")))
                .distinct()
                .from_(inner)
                .limit(max_distinct + 1)
            )
            parts.append(
                sqlglot.select(
                    exp.Literal.string(t.schema).as_("schema_name"),
                    exp.Literal.string(t.name).as_("table_name"),
                    exp.Literal.string(c.name).as_("column_name"),
                    exp.Anonymous(this="ARRAY", expressions=[distinct]).as_("vals"),
                )
            )
        query: exp.Expression = parts[0]
        for p in parts[1:]:
            query = exp.union(query, p, distinct=False)
        out.append(query.sql(dialect="postgres"))
    return out


def _camel_to_snake(name: str) -> str:
    return "_".join(split_words(name))


def parse_value_index(
    rows: Iterable[Sequence[Any]], max_distinct: int = 50
) -> dict[tuple[str, str, str], list[str]]:
    """Rows of the `value_index_sql` queries -> {(schema, table, column): values}.

    Columns with more than `max_distinct` values are dropped: they are not categories.
    """
    out: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        schema, table, column, vals = row[0], row[1], row[2], list(row[3] or [])
        if 0 < len(vals) <= max_distinct:
            out[(str(schema), str(table), str(column))] = [str(v) for v in vals if v is not None]
    return out
