"""psql's everyday meta-commands (`\\d`, `\\dt`, `\\x` ...), answered from the catalog the
executor caches. Pure: a `Catalog` and the typed text in, a table or lines out; ui/state.py
puts the answer in the pane. `\\l` and `\\du` are not in the catalog (they are cluster-wide):
they run as read-only SQL through the guard, as psql itself runs catalog queries.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.messages import Catalog, CatalogTable

HELP: list[tuple[str, str]] = [
    ("\\d [NAME]", "list tables, views and sequences; or describe NAME"),
    ("\\dt [PATTERN]", "list tables"),
    ("\\dv [PATTERN]", "list views"),
    ("\\di [PATTERN]", "list indexes"),
    ("\\dn [PATTERN]", "list schemas"),
    ("\\df [PATTERN]", "list functions"),
    ("\\l", "list databases"),
    ("\\du", "list roles"),
    ("\\x [on|off]", "expanded display: one row as column | value (Enter in the results too)"),
    ("\\timing [on|off]", "show how long each query took"),
    ("\\q", "quit"),
    ("\\?", "this list"),
]

SQL_COMMANDS: dict[str, str] = {
    "\\l": (
        'SELECT d.datname AS "Name", pg_catalog.pg_get_userbyid(d.datdba) AS "Owner", '
        'pg_catalog.pg_encoding_to_char(d.encoding) AS "Encoding", d.datcollate AS "Collate", '
        "pg_catalog.array_to_string(d.datacl, E'\\n') AS \"Access privileges\" "
        "FROM pg_catalog.pg_database d ORDER BY 1"
    ),
    "\\du": (
        'SELECT r.rolname AS "Role name", '
        "pg_catalog.concat_ws(', ', CASE WHEN r.rolsuper THEN 'Superuser' END, "
        "CASE WHEN r.rolcreaterole THEN 'Create role' END, "
        "CASE WHEN r.rolcreatedb THEN 'Create DB' END, "
        "CASE WHEN NOT r.rolcanlogin THEN 'Cannot login' END, "
        "CASE WHEN r.rolreplication THEN 'Replication' END) AS \"Attributes\" "
        "FROM pg_catalog.pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY 1"
    ),
}
SQL_COMMANDS["\\list"] = SQL_COMMANDS["\\l"]
SQL_COMMANDS["\\dg"] = SQL_COMMANDS["\\du"]

CATALOG_COMMANDS = frozenset({"\\d", "\\d+", "\\dt", "\\dv", "\\di", "\\dn", "\\df", "\\dm"})
LOCAL_COMMANDS = frozenset({"\\x", "\\timing", "\\?", "\\q", "\\h"})
KNOWN = CATALOG_COMMANDS | LOCAL_COMMANDS | set(SQL_COMMANDS)


@dataclass
class Answer:
    """A table for the results pane and/or lines for the conversation."""

    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    error: str = ""
    hint: str = ""


def split(text: str) -> tuple[str, str]:
    """'\\dt+ ord*' -> ('\\dt', 'ord*'); psql's '+' (more detail) is accepted and ignored."""
    m = re.match(r"(\\[a-zA-Z?]*\+?)\s*(.*)", text.strip(), re.S)
    if not m:
        return text.strip(), ""
    cmd = m.group(1)
    if cmd.endswith("+") and cmd != "\\d+":
        cmd = cmd[:-1]
    return cmd, m.group(2).strip().rstrip(";").strip()


def _matcher(pattern: str) -> Any:
    """psql's patterns: * and ?, case-insensitive unless quoted, `schema.name` when dotted."""
    if not pattern:
        return lambda schema, name: True
    quoted = pattern.startswith('"') and pattern.endswith('"')
    pat = pattern.strip('"')
    schema_pat, _, name_pat = pat.rpartition(".")
    flags = 0 if quoted else re.I

    def compile_(p: str) -> re.Pattern[str]:
        return re.compile(fnmatch.translate(p), flags)

    name_re = compile_(name_pat)
    schema_re = compile_(schema_pat) if schema_pat else None
    return lambda schema, name: (
        bool(name_re.match(name)) and (schema_re is None or bool(schema_re.match(schema)))
    )


def _visible(catalog: Catalog, tables: list[CatalogTable]) -> list[CatalogTable]:
    return sorted(tables, key=lambda t: (t.schema, t.name))


KIND_LABEL = {
    "table": "table",
    "view": "view",
    "matview": "materialized view",
    "foreign": "foreign table",
    "partitioned": "partitioned table",
}


def answer(catalog: Catalog, cmd: str, arg: str) -> Answer:
    """The answer to a catalog meta-command (`cmd` in CATALOG_COMMANDS)."""
    match = _matcher(arg)
    if cmd in ("\\d", "\\d+") and arg and "*" not in arg and "?" not in arg:
        return describe(catalog, arg)
    if cmd in ("\\d", "\\d+", "\\dt", "\\dv", "\\dm"):
        kinds = {
            "\\dt": ("table", "partitioned", "foreign"),
            "\\dv": ("view",),
            "\\dm": ("matview",),
        }.get(cmd, tuple(KIND_LABEL))
        what = {"\\dt": "tables", "\\dv": "views", "\\dm": "materialized views"}.get(
            cmd, "relations"
        )
        rows = [
            [t.schema, t.name, KIND_LABEL[t.kind], None if t.est_rows < 0 else t.est_rows]
            for t in _visible(catalog, catalog.tables)
            if t.kind in kinds and match(t.schema, t.name)
        ]
        if not rows:
            return Answer(f"List of {what}", error=f"Did not find any {what}" + _named(arg) + ".")
        return Answer(f"List of {what}", ["Schema", "Name", "Type", "Rows (estimate)"], rows)
    if cmd == "\\di":
        rows = [
            [t.schema, i.name, t.name, _index_kind(i.primary, i.unique), i.definition]
            for t in _visible(catalog, catalog.tables)
            for i in sorted(t.indexes, key=lambda i: i.name)
            if match(t.schema, i.name)
        ]
        if not rows:
            return Answer("List of indexes", error="Did not find any indexes" + _named(arg) + ".")
        return Answer("List of indexes", ["Schema", "Name", "Table", "Kind", "Definition"], rows)
    if cmd == "\\dn":
        counts: dict[str, int] = {}
        for t in catalog.tables:
            counts[t.schema] = counts.get(t.schema, 0) + 1
        for f in catalog.functions:
            counts.setdefault(f.schema, 0)
        rows = [[s, n] for s, n in sorted(counts.items()) if match("", s)]
        if not rows:
            return Answer("List of schemas", error="Did not find any schemas" + _named(arg) + ".")
        return Answer("List of schemas", ["Name", "Relations"], rows)
    if cmd == "\\df":
        rows = [
            [f.schema, f.name, f.result, f.arguments, f.kind]
            for f in sorted(catalog.functions, key=lambda f: (f.schema, f.name, f.arguments))
            if match(f.schema, f.name)
        ]
        if not rows:
            return Answer(
                "List of functions", error="Did not find any functions" + _named(arg) + "."
            )
        return Answer(
            "List of functions", ["Schema", "Name", "Result type", "Argument types", "Type"], rows
        )
    return Answer(cmd, error=f"Unknown meta-command {cmd}.", hint="\\? lists the ones pgask knows.")


def _named(arg: str) -> str:
    return f" named {arg}" if arg else ""


def _index_kind(primary: bool, unique: bool) -> str:
    return "primary key" if primary else "unique" if unique else "index"


def find_table(catalog: Catalog, name: str) -> CatalogTable | None:
    """NAME or SCHEMA.NAME, as the server would find it: the search path first."""
    quoted = '"' in name
    schema, _, rel = name.replace('"', "").rpartition(".")

    def same(a: str, b: str) -> bool:
        return a == b if quoted else a.lower() == b.lower()

    found = [
        t for t in catalog.tables if same(t.name, rel) and (not schema or same(t.schema, schema))
    ]
    if not found:
        return None
    order = {s.strip().strip('"'): n for n, s in enumerate(catalog.search_path)}
    return min(found, key=lambda t: (order.get(t.schema, len(order)), t.schema))


def describe(catalog: Catalog, name: str) -> Answer:
    t = find_table(catalog, name)
    if t is None:
        names = [x.name for x in catalog.tables] + [f"{x.schema}.{x.name}" for x in catalog.tables]
        close = difflib.get_close_matches(name, names, n=1)
        return Answer(
            f"\\d {name}",
            error=f"Did not find any relation named {name}.",
            hint=f"Did you mean {close[0]}?" if close else "\\d lists the relations.",
        )
    rows = [
        [c.name, c.type_name, "" if c.nullable else "not null", c.default, c.comment]
        for c in t.columns
    ]
    lines = [
        f'{KIND_LABEL[t.kind].capitalize()} "{t.schema}.{t.name}"'
        + (f" \u00b7 about {t.est_rows:,} rows" if t.est_rows >= 0 else "")
    ]
    if t.comment:
        lines.append(f"  {t.comment}")
    if t.indexes:
        lines.append("Indexes:")
        for i in sorted(t.indexes, key=lambda i: (not i.primary, i.name)):
            tail = " PRIMARY KEY" if i.primary else " UNIQUE" if i.unique else ""
            using = i.definition.partition(" USING ")[2]
            lines.append(
                f'    "{i.name}"{tail}, {using or i.definition}' + ("" if i.valid else " INVALID")
            )
    if t.foreign_keys:
        lines.append("Foreign-key constraints:")
        for fk in t.foreign_keys:
            lines.append(
                f'    "{fk.name}" FOREIGN KEY ({", ".join(fk.columns)}) REFERENCES '
                f"{fk.ref_schema}.{fk.ref_table}({', '.join(fk.ref_columns)})"
            )
    refs = [
        (o, fk)
        for o in catalog.tables
        for fk in o.foreign_keys
        if fk.ref_schema == t.schema and fk.ref_table == t.name
    ]
    if refs:
        lines.append("Referenced by:")
        for o, fk in refs:
            lines.append(
                f'    TABLE "{o.schema}.{o.name}" CONSTRAINT "{fk.name}" '
                f"FOREIGN KEY ({', '.join(fk.columns)})"
            )
    return Answer(
        f"\\d {t.schema}.{t.name}",
        ["Column", "Type", "Nullable", "Default", "Comment"],
        rows,
        lines,
    )


def help_lines() -> list[str]:
    width = max(len(k) for k, _ in HELP)
    return [f"{k:<{width}}  {v}" for k, v in HELP]


def switch(arg: str, current: bool) -> bool | None:
    """psql's `\\x`/`\\timing` argument: on, off, or nothing to toggle; None if unreadable."""
    a = arg.strip().lower()
    if not a:
        return not current
    if a in ("on", "true", "yes", "1", "auto"):
        return True
    if a in ("off", "false", "no", "0"):
        return False
    return None
