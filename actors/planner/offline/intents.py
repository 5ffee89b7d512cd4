"""DDL and DBA intents, read by pattern before any question is parsed (create / drop index, add column, list tables, describe, indexes, activity)."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from actors.planner.offline.clarify import Unsure
from actors.planner.offline.identifiers import ident
from actors.planner.offline.schema import Column, Schema, Table
from actors.planner.words import singular, split_words
from protocol.messages import Plan

_TYPES = {
    "text": "text",
    "string": "text",
    "varchar": "varchar",
    "integer": "integer",
    "int": "integer",
    "bigint": "bigint",
    "smallint": "smallint",
    "number": "numeric",
    "numeric": "numeric",
    "decimal": "numeric",
    "boolean": "boolean",
    "bool": "boolean",
    "flag": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "datetime": "timestamp",
    "json": "jsonb",
    "jsonb": "jsonb",
    "uuid": "uuid",
    "float": "double precision",
    "double": "double precision",
    "real": "real",
}


_NEW_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _find_table(s: Schema, name: str) -> Table:
    name = name.strip().strip('"')
    schema, _, bare = name.rpartition(".")
    exact = [
        t for t in s.tables if t.name == bare and (not schema or t.schema == schema.strip('"'))
    ]
    if not exact:
        exact = [
            t
            for t in s.tables
            if t.name.lower() == bare.lower() and (not schema or t.schema.lower() == schema.lower())
        ]
    if not exact:
        hits = [
            h[1]
            for h in s.lookup(tuple(singular(w) for w in split_words(bare)))
            if h[0] == "table" and h[2] >= 3
        ]
        exact = list(dict.fromkeys(hits))
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise Unsure(f"Which table '{name}'?", [t.full for t in exact])
    raise Unsure(f"There is no table '{name}'.{_did_you_mean(bare, [t.name for t in s.tables])}")


def _find_column(t: Table, name: str) -> Column:
    name = name.strip().strip('"')
    col = t.by_name.get(name) or next((c for c in t.cols if c.name.lower() == name.lower()), None)
    if col is None:
        raise Unsure(
            f"{t.name} has no column '{name}'.{_did_you_mean(name, [c.name for c in t.cols])}"
        )
    return col


def _did_you_mean(word: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(close)}?" if close else ""


_IDX_RE = re.compile(
    r"^(?:please\s+)?(?:create|add|make|build)\s+(?:an?\s+)?(?P<u>unique\s+)?index\s+(?:on|for)\s+"
    r"(?:table\s+)?(?P<t>[\w.\"]+)\s*\(\s*(?P<c>[\w\",\s]+)\)\s*$|"
    r"^(?:please\s+)?(?:create|add|make|build)\s+(?:an?\s+)?(?P<u2>unique\s+)?index\s+(?:on|for)\s+"
    r"(?:column\s+)?(?P<c2>[\w\"]+)\s+(?:of|on|in)\s+(?:table\s+)?(?P<t2>[\w.\"]+)\s*$|"
    r"^(?:please\s+)?(?:create|add|make|build)\s+(?:an?\s+)?(?P<u3>unique\s+)?index\s+(?:on|for)\s+"
    r"(?P<t3>[\w\"]+)\.(?P<c3>[\w\"]+)\s*$",
    re.IGNORECASE,
)


_DROP_IDX_RE = re.compile(
    r"^(?:please\s+)?(?:drop|delete|remove)\s+(?:the\s+)?index\s+(?:if\s+exists\s+)?(?P<n>[\w.\"]+)\s*$",
    re.I,
)


_ADD_COL_RE = re.compile(
    r"^(?:please\s+)?add\s+(?:an?\s+)?(?:new\s+)?(?:(?P<ty1>\w+)\s+)?column\s+(?P<c>[\w\"]+)"
    r"(?:\s+(?:of\s+type\s+|as\s+|with\s+type\s+)?(?P<ty>\w+(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?))?"
    r"\s+(?:to|on|in)\s+(?:table\s+)?(?P<t>[\w.\"]+)\s*$",
    re.I,
)


EXPLAIN_RE = re.compile(
    r"^(?:explain|why is|why's)\s+(?P<a>analy[sz]e\s+)?(?P<rest>.+?)(?:\s+(?:slow|so slow))?$",
    re.I | re.S,
)


def ddl_plan(s: Schema, question: str) -> Plan | None:
    """A DDL intent said in words ("add an index on orders(customer_id)"), or None."""
    text = re.sub(r"\s+", " ", question.strip().rstrip(".;?!"))
    for pattern, build in (
        (_IDX_RE, _create_index),
        (_DROP_IDX_RE, _drop_index),
        (_ADD_COL_RE, _add_column),
    ):
        if m := pattern.match(text):
            return build(s, m)
    return None


def _create_index(s: Schema, m: re.Match[str]) -> Plan:
    """CREATE [UNIQUE] INDEX on named columns, named <table>_<columns>_idx (or _key)."""
    t = _find_table(s, m["t"] or m["t2"] or m["t3"])
    names = [c.strip() for c in (m["c"] or m["c2"] or m["c3"]).split(",") if c.strip()]
    cols = [_find_column(t, c) for c in names]
    unique = bool(m["u"] or m["u2"] or m["u3"])
    existing = {i.name for tt in s.tables for i in tt.catalog_table.indexes}
    base = f"{t.name}_{'_'.join(c.name for c in cols)}_{'key' if unique else 'idx'}"[:60]
    name, n = base, 1
    while name in existing:
        n += 1
        name = f"{base[:58]}{n}"
    same = [
        i.name for i in t.catalog_table.indexes if i.columns[: len(cols)] == [c.name for c in cols]
    ]
    create = exp.Create(
        kind="INDEX",
        unique=unique,
        this=exp.Index(
            this=ident(name),
            table=table_ident(t),
            params=exp.IndexParameters(
                columns=[exp.Ordered(this=exp.Column(this=ident(c.name))) for c in cols]
            ),
        ),
    )
    drop = exp.Drop(
        kind="INDEX", tables=[exp.Table(this=ident(name), db=ident(t.schema))], exists=True
    )
    assumptions = [
        f"index name {name}",
        "plain CREATE INDEX (locks writes while it builds; CONCURRENTLY cannot run in a transaction)",
    ]
    if same:
        assumptions.append(f"{', '.join(same)} already covers these columns")
    return Plan(
        sql=create.sql(dialect="postgres"),
        explanation=f"Creates {'a unique' if unique else 'an'} index on {t.name}({', '.join(c.name for c in cols)}).",
        intent="ddl",
        assumptions=assumptions,
        tables=[t.full],
        source="offline",
        down_sql=_drop_sql(drop),
    )


def _drop_index(s: Schema, m: re.Match[str]) -> Plan:
    """DROP INDEX of an index the catalog has (not one that backs a constraint)."""
    raw = m["n"].strip('"')
    schema, _, bare = raw.rpartition(".")
    found = [
        (t, i)
        for t in s.tables
        for i in t.catalog_table.indexes
        if i.name == bare and (not schema or t.schema == schema)
    ]
    if not found:
        names = [i.name for t in s.tables for i in t.catalog_table.indexes]
        raise Unsure(f"There is no index '{raw}'.{_did_you_mean(bare, names)}")
    if len(found) > 1:
        raise Unsure(f"Which index '{raw}'?", [f"{t.schema}.{i.name}" for t, i in found])
    t, idx = found[0]
    if idx.primary or idx.constraint:
        raise Unsure(
            f"Index {idx.name} backs constraint {idx.constraint or 'the primary key'} of {t.name}; "
            "drop the constraint instead (ALTER TABLE … DROP CONSTRAINT) if you mean it."
        )
    drop = exp.Drop(kind="INDEX", tables=[exp.Table(this=ident(idx.name), db=ident(t.schema))])
    return Plan(
        sql=_drop_sql(drop),
        explanation=f"Drops index {idx.name} on {t.name}.",
        intent="ddl",
        assumptions=[f"was: {idx.definition}"] if idx.definition else [],
        tables=[t.full],
        source="offline",
        down_sql=idx.definition,
    )


def _add_column(s: Schema, m: re.Match[str]) -> Plan:
    """ALTER TABLE ... ADD COLUMN, of a type from _TYPES (text when none is given)."""
    t = _find_table(s, m["t"])
    name = m["c"].strip('"')
    if not _NEW_IDENT.fullmatch(name):
        raise Unsure(f"'{name}' is not a usable column name.")
    if name in t.by_name:
        raise Unsure(f"{t.name} already has a column {name}.")
    ty_text = (m["ty"] or m["ty1"] or "").lower().replace(" ", "")
    base_ty = re.sub(r"\(.*", "", ty_text)
    assumptions = []
    if not ty_text:
        ty = exp.DataType.build("text")
        assumptions.append("type text (none given)")
    elif base_ty in _TYPES:
        args = re.findall(r"\d+", ty_text)
        spec = _TYPES[base_ty] + (
            f"({','.join(args)})" if args and base_ty in ("varchar", "numeric", "decimal") else ""
        )
        ty = exp.DataType.build(spec, dialect="postgres")
    else:
        raise Unsure(f"I do not know the type '{ty_text}'.", sorted(set(_TYPES.values())))
    alter = exp.Alter(
        this=table_ident(t), kind="TABLE", actions=[exp.ColumnDef(this=ident(name), kind=ty)]
    )
    down = exp.Alter(
        this=table_ident(t), kind="TABLE", actions=[exp.Drop(this=ident(name), kind="COLUMN")]
    )
    return Plan(
        sql=alter.sql(dialect="postgres"),
        explanation=f"Adds column {name} ({ty.sql(dialect='postgres')}) to {t.name}.",
        intent="ddl",
        assumptions=assumptions,
        tables=[t.full],
        source="offline",
        down_sql=down.sql(dialect="postgres"),
    )


def table_ident(t: Table) -> exp.Table:
    return exp.Table(this=ident(t.name), db=ident(t.schema) if t.qualify else None)


def _drop_sql(drop: exp.Drop) -> str:
    return drop.sql(dialect="postgres")


_LIST_TABLES_RE = re.compile(
    r"^(?:list|show|what are)(?: me)?(?: all)?(?: the)? tables(?: are there| in (?:the|this) database)?$|^what tables (?:are there|exist|do (?:we|i) have)$",
    re.I,
)


_DESCRIBE_RE = re.compile(
    r"^(?:describe|(?:show|list)(?: me)? (?:the )?columns (?:of|in|for)|what columns (?:does|do) (?P<t2>[\w.\"]+) have|structure of)\s*(?P<t>[\w.\"]+)?$",
    re.I,
)


_INDEXES_RE = re.compile(
    r"^(?:show|list)(?: me)?(?: the| all)? indexes (?:on|of|for) (?:table )?(?P<t>[\w.\"]+)$", re.I
)


_ACTIVITY_RE = re.compile(
    r"^(?:show|list)?(?: me)?(?: the| all)? ?(?:running|active|current) (?:queries|connections|sessions)$",
    re.I,
)


def _read_plan(query: exp.Select, explanation: str, table: str) -> Plan:
    return Plan(
        sql=query.sql(dialect="postgres"),
        explanation=explanation,
        intent="read",
        tables=[table],
        source="offline",
    )


def dba_plan(s: Schema, question: str) -> Plan | None:
    """A catalog question (list tables, describe a table, its indexes, running queries), or None."""
    text = re.sub(r"\s+", " ", question.strip().rstrip(".;?!")).lower()
    if _LIST_TABLES_RE.match(text):
        q = (
            sqlglot.select("table_schema", "table_name", "table_type")
            .from_(exp.Table(this=ident("tables"), db=ident("information_schema")))
            .where(
                exp.Not(
                    this=exp.In(
                        this=exp.column("table_schema"),
                        expressions=[
                            exp.Literal.string("pg_catalog"),
                            exp.Literal.string("information_schema"),
                        ],
                    )
                )
            )
            .order_by("table_schema", "table_name")
        )
        return _read_plan(
            q, "Lists the tables and views of this database.", "information_schema.tables"
        )
    m = _DESCRIBE_RE.match(question.strip().rstrip(".;?!"))
    if m and (m["t"] or m["t2"]):
        t = _find_table(s, m["t"] or m["t2"])
        q = (
            sqlglot.select("column_name", "data_type", "is_nullable", "column_default")
            .from_(exp.Table(this=ident("columns"), db=ident("information_schema")))
            .where(
                exp.and_(
                    exp.column("table_schema").eq(exp.Literal.string(t.schema)),
                    exp.column("table_name").eq(exp.Literal.string(t.name)),
                )
            )
            .order_by("ordinal_position")
        )
        return _read_plan(q, f"Lists the columns of {t.full}.", "information_schema.columns")
    m = _INDEXES_RE.match(question.strip().rstrip(".;?!"))
    if m:
        t = _find_table(s, m["t"])
        q = (
            sqlglot.select("indexname", "indexdef")
            .from_(exp.Table(this=ident("pg_indexes"), db=ident("pg_catalog")))
            .where(
                exp.and_(
                    exp.column("schemaname").eq(exp.Literal.string(t.schema)),
                    exp.column("tablename").eq(exp.Literal.string(t.name)),
                )
            )
            .order_by("indexname")
        )
        return _read_plan(q, f"Lists the indexes of {t.full}.", "pg_catalog.pg_indexes")
    if _ACTIVITY_RE.match(text):
        q = (
            sqlglot.select("pid", "usename", "state", "query_start", "query")
            .from_(exp.Table(this=ident("pg_stat_activity"), db=ident("pg_catalog")))
            .where(
                exp.and_(
                    exp.column("state").neq(exp.Literal.string("idle")),
                    exp.column("pid").neq(exp.Anonymous(this="pg_backend_pid", expressions=[])),
                )
            )
            .order_by("query_start")
        )
        return _read_plan(
            q, "Lists the sessions that are running a statement now.", "pg_catalog.pg_stat_activity"
        )
    return None
