"""The guard's judgement of a SQL text: whether it may run, and what the person must do first.

Pure, no I/O: classify() decides the class of every statement; confirmation_for() maps a
class and a mode to what the person must do; judge() / verdict_for() add the signature the
executor checks. Also the `pgask check-sql` command. The actor that serves `guard.check` is
actors/guard_actor.py; judging a text against one database is actors/guard_catalog.py.

How a text is classified
  * The whole text is parsed once with PostgreSQL's own grammar (pglast / libpg_query, the
    PostgreSQL 18 parser) into JSON, and that tree is walked as plain dicts. A syntax error
    anywhere makes the whole text `invalid` (the server would run none of it), as do empty or
    comment-only texts, psql meta-commands, markdown fences, prose and NUL bytes.
  * Each statement gets a class; the most severe one wins:
    read < write < ddl < destructive < forbidden.
  * Every node of the tree is visited, so a function call, a row lock or a data-modifying
    statement counts wherever it sits (FROM, VALUES, WHERE, ORDER BY, LIMIT, CTEs, LATERAL,
    column defaults, nested arguments, subqueries ...).
  * Fail closed: a statement type that is not mapped below is `forbidden`; an expression node
    the guard does not know makes a statement at least `write`; a function that is not in the
    read-only tables of actors/guard_functions.py is a `write` (user-defined functions can do
    anything, whatever volatility they declare).

Decisions where PostgreSQL's behaviour left a choice (see also the tables below)
  * Plain EXPLAIN runs nothing: EXPLAIN of DML, SELECT INTO, CREATE TABLE AS or a row-locking
    SELECT is `read`. Function calls still count, so a plain EXPLAIN that calls an unknown
    function is `write` (IMMUTABLE functions are folded, so executed, at plan time), and one
    naming a forbidden function stays `forbidden` (names count wherever they appear).
    `EXPLAIN (ANALYZE x)` counts as ANALYZE unless x is plainly false/off/0/no.
  * DECLARE of a read cursor is `read`; `WITH HOLD` is `write` (the cursor and its result
    outlive the transaction). FETCH/MOVE is `read` when the text declares that cursor, `write`
    otherwise (the guard cannot see its query). CLOSE is `read`.
  * PREPARE has the class of its body; EXECUTE of a statement prepared earlier in the same text
    has that class too; a lone EXECUTE is `forbidden`. DEALLOCATE of a statement prepared in the
    same text is `read`, any other DEALLOCATE is `forbidden` (it touches session state).
  * CREATE FUNCTION / PROCEDURE in `sql` or `plpgsql` is `ddl`; any other language is
    `forbidden`. CREATE EXTENSION is `ddl`, except extensions that reach files, programs or
    other servers (dblink, postgres_fdw, file_fdw, adminpack, untrusted languages ...), which
    are `forbidden`. CREATE DATABASE is `ddl`; DROP DATABASE is `destructive`.
  * Ownership changes (ALTER ... OWNER TO, REASSIGN OWNED, DROP OWNED), DISABLE ROW LEVEL
    SECURITY, event triggers, foreign servers / user mappings, publications and subscriptions,
    tablespaces and procedural languages are `forbidden`, like GRANT and roles.
  * INSERT/UPDATE/DELETE/MERGE/COPY FROM on a system catalog (pg_catalog, information_schema,
    or an unqualified pg_* name such as pg_settings, whose UPDATE is set_config by another name)
    is `forbidden`.
  * A DELETE/UPDATE whose WHERE is always true (constant folding with three-valued logic,
    `x = x`, `x OR true`, `x IS NULL OR x IS NOT NULL`, `LIKE '%'` ...) is `destructive`, and so
    is one whose WHERE does not refer to the target table's rows at all (`WHERE now() > '2020-1-1'`,
    `WHERE EXISTS (SELECT 1 FROM t2)`): it matches every row or none. A constant-false WHERE is a
    plain `write`. MERGE is `destructive` when its ON condition is always true or row-independent
    and a WHEN MATCHED action updates or deletes, or when an unconditional
    `WHEN NOT MATCHED BY SOURCE` action updates or deletes.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Final

import msgspec
from pglast import parser as _pg

from actors.guard_functions import (
    ALLOWED_FUNCTION_LANGUAGES,
    EXTENSION_FUNCTIONS,
    EXTENSION_PREFIXES,
    FORBIDDEN_EXTENSIONS,
    FORBIDDEN_FUNCTIONS,
    FORBIDDEN_PREFIXES,
    READ_ONLY_FUNCTIONS,
    READ_ONLY_PREFIXES,
    SENSITIVE_RELATIONS,
    SQL_JSON_SINCE,
    TABLESAMPLE_METHODS,
    WRITE_FUNCTIONS,
)
from protocol.messages import (
    Body,
    Confirm,
    Failure,
    GuardRequest,
    Mode,
    SqlClass,
    SqlError,
    StatementVerdict,
    Verdict,
)
from protocol.privacy import redact_secrets
from protocol.signing import DEFAULT_TTL_S, sign

__all__ = [
    "TEXT_ONLY",
    "Classification",
    "Rules",
    "check_sql_main",
    "classify",
    "confirmation_for",
    "function_verdict",
    "judge",
    "on_guard_check",
    "verdict_for",
]

CLASSES: Final[tuple[SqlClass, ...]] = ("read", "write", "ddl", "destructive", "forbidden")
READ, WRITE, DDL, DESTRUCTIVE, FORBIDDEN = range(5)


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    """What classify() found; judge() turns it into a Verdict."""

    sql_class: SqlClass
    statements: list[StatementVerdict] = []
    reasons: list[str] = []
    tables: list[str] = []
    confirm_name: str = ""  # the object a typed confirmation asks for
    normalized: str = ""  # literals replaced by $n
    error: SqlError | None = None  # set when sql_class == "invalid"


# =============================================================================================
# Pure core: the per-statement walk
# =============================================================================================


@dataclass(frozen=True)
class Rules:
    """What the guard knows beyond the text: the server it judges for and the [safety] options.

    server_version 0 means unknown: the text is read as the guard's own grammar reads it."""

    server_version: int = 0
    allow_untrusted_languages: bool = False
    allow_sensitive_catalogs: bool = False


TEXT_ONLY: Final = Rules()


class _TextContext:
    """What earlier statements of the same text declared (prepared statements, cursors), the
    rules in force, and the text of the statement being walked."""

    __slots__ = ("cursors", "prepared", "rules", "text")

    def __init__(self, rules: Rules = TEXT_ONLY) -> None:
        self.prepared: dict[str, tuple[int, list[tuple[int, str]]]] = {}
        self.cursors: set[str] = set()
        self.rules = rules
        self.text = ""


class _Walk:
    """Accumulates one statement's class, reasons, tables and functions while visiting it."""

    __slots__ = ("confirm_name", "ctes", "ctx", "functions", "rank", "reasons", "tables")

    def __init__(self, ctx: _TextContext) -> None:
        self.ctx = ctx
        self.rank = READ
        self.reasons: list[tuple[int, str]] = []
        self.tables: list[str] = []
        self.functions: list[str] = []
        self.ctes: set[str] = set()
        self.confirm_name = ""

    # -- recording -------------------------------------------------------------------------

    def flag(self, rank: int, reason: str) -> None:
        if rank > self.rank:
            self.rank = rank
        entry = (rank, reason)
        if entry not in self.reasons:
            self.reasons.append(entry)

    def destructive(self, reason: str, name: str) -> None:
        self.flag(DESTRUCTIVE, reason)
        if not self.confirm_name:
            self.confirm_name = name

    def add_table(self, rv: dict[str, Any]) -> None:
        name = _relname(rv)
        if name and name not in self.tables:
            self.tables.append(name)
        rel = rv.get("relname", "")
        if rel in SENSITIVE_RELATIONS and rv.get("schemaname", "pg_catalog") == "pg_catalog":
            self.sensitive(rel)

    def sensitive(self, rel: str) -> None:
        if not self.ctx.rules.allow_sensitive_catalogs:
            self.flag(
                FORBIDDEN,
                f"{rel} holds {SENSITIVE_RELATIONS[rel]} (allowed only with "
                "[safety] allow_sensitive_catalogs = true)",
            )

    # -- visiting --------------------------------------------------------------------------

    def visit(self, obj: Any, ex: bool) -> None:
        """Visit any JSON value of the tree. `ex`: the statement around it really executes."""
        if type(obj) is dict:
            if len(obj) == 1:
                ((key, val),) = obj.items()
                if type(val) is dict and key[:1].isupper():
                    if key not in _LEAF_NODES:
                        self.node(key, val, ex)
                    return
            self.fields(obj, ex)
        elif type(obj) is list:
            for item in obj:
                if type(item) is dict or type(item) is list:
                    self.visit(item, ex)

    def fields(self, body: dict[str, Any], ex: bool) -> None:
        if "relname" in body:  # a RangeVar stored inline (the `relation` of a statement, ...)
            self.add_table(body)
        if "withClause" in body:  # visit WITH first, so tables are listed in reading order
            self.visit(body["withClause"], ex)
            body = {k: v for k, v in body.items() if k != "withClause"}
        for val in body.values():
            if type(val) is dict or type(val) is list:
                self.visit(val, ex)

    def node(self, kind: str, body: dict[str, Any], ex: bool) -> None:
        handler = _NODE_HANDLERS.get(kind)
        if handler is not None:
            handler(self, body, ex)
            return
        if kind in _STATEMENTS:
            self.statement(kind, body, ex)
            return
        if kind not in _PLAIN_NODES and self.rank < WRITE:
            self.flag(WRITE, f"the guard does not recognise the construct {kind}")
        self.fields(body, ex)

    def statement(self, kind: str, body: dict[str, Any], ex: bool) -> str:
        rule = _STATEMENTS.get(kind)
        if rule is None:
            self.flag(FORBIDDEN, f"the guard does not recognise {kind} statements")
            self.fields(body, False)
            return _words_of(kind)
        if callable(rule):
            return rule(self, body, ex)
        label, rank, reason = rule
        self.flag(rank, reason)
        self.fields(body, False)
        return label

    # -- function calls --------------------------------------------------------------------

    def call(self, body: dict[str, Any]) -> None:
        parts = [_sval(n) for n in body.get("funcname", ())]
        if len(parts) == 2 and parts[0] == "pg_catalog":
            parts = parts[1:]
        shown = ".".join(parts)
        if shown not in self.functions:
            self.functions.append(shown)
        rank, reason = function_verdict(tuple(parts), len(body.get("args", ())))
        if rank == WRITE and parts[-1] in ("nextval", "setval"):
            seq = _first_string_arg(body)
            if seq:
                reason = f"{parts[-1]} changes the sequence {seq} (the change survives ROLLBACK)"
        if rank or reason:
            self.flag(rank, reason)


# -- expression-level handlers -------------------------------------------------------------


def _n_funccall(w: _Walk, body: dict[str, Any], ex: bool) -> None:
    w.call(body)
    w.fields(body, ex)


def _n_rangevar(w: _Walk, body: dict[str, Any], ex: bool) -> None:
    w.add_table(body)


def _n_locking(w: _Walk, body: dict[str, Any], ex: bool) -> None:
    if ex:
        strength = _LOCK_WORDS.get(body.get("strength", ""), "FOR UPDATE")
        w.flag(WRITE, f"SELECT … {strength} locks the rows it reads (other sessions wait)")
    w.fields(body, ex)


def _n_cte(w: _Walk, body: dict[str, Any], ex: bool) -> None:
    name = body.get("ctename", "")
    w.ctes.add(name)
    query = body.get("ctequery", {})
    if ex and len(query) == 1:
        inner = next(iter(query))
        if inner in _DML_VERBS:
            w.flag(
                WRITE,
                f"the WITH query {name} runs a {_DML_VERBS[inner]} even if nothing reads its result",
            )
    w.fields(body, ex)


def _n_tablesample(w: _Walk, body: dict[str, Any], ex: bool) -> None:
    method = [_sval(n) for n in body.get("method", ())]
    if len(method) == 2 and method[0] == "pg_catalog":
        method = method[1:]
    if len(method) != 1 or method[0] not in TABLESAMPLE_METHODS:
        w.flag(WRITE, f"TABLESAMPLE {'.'.join(method)} is not a known read-only sampling method")
    w.fields(body, ex)


_JSON_FUNC_OPS = {"JSON_EXISTS_OP": "json_exists", "JSON_QUERY_OP": "json_query",
                  "JSON_VALUE_OP": "json_value", "JSON_TABLE_OP": "json_table"}  # fmt: skip


_BUILTIN_BEFORE_SQL_JSON = frozenset({"json_object"})  # json_object(text[]) since 9.4


def _n_sql_json(kind: str) -> Callable[[_Walk, dict[str, Any], bool], None]:
    """SQL/JSON syntax, which a server older than the guard's grammar reads as a plain call of
    a function with that name (possibly a user's): judged as that call."""
    since, name = SQL_JSON_SINCE[kind]

    def handler(w: _Walk, body: dict[str, Any], ex: bool) -> None:
        version = w.ctx.rules.server_version
        if version and version < since:
            fn = name or _JSON_FUNC_OPS.get(body.get("op", ""), "")
            major = version // 10000
            if not fn:
                w.flag(WRITE, f"PostgreSQL {major} does not read this SQL/JSON syntax as such")
            else:
                rank, why = function_verdict((fn,), 1)
                if fn not in _BUILTIN_BEFORE_SQL_JSON:  # not built in there: anyone's
                    rank, why = max(rank, WRITE), why or "that server has no such built-in"
                if rank > READ:
                    w.flag(rank, f"PostgreSQL {major} reads {fn.upper()}(…) as a call of a "
                                 f"function named {fn}: {why}")  # fmt: skip
        w.fields(body, ex)

    return handler


_NODE_HANDLERS: dict[str, Callable[[_Walk, dict[str, Any], bool], None]] = {
    **{kind: _n_sql_json(kind) for kind in SQL_JSON_SINCE},
    "FuncCall": _n_funccall,
    "RangeVar": _n_rangevar,
    "LockingClause": _n_locking,
    "CommonTableExpr": _n_cte,
    "RangeTableSample": _n_tablesample,
}

# Harmless nodes that hold nothing but names and constants: not visited further.
_LEAF_NODES: frozenset[str] = frozenset(
    "A_Const String Integer Float Boolean BitString ColumnRef A_Star ParamRef SQLValueFunction "
    "TypeName Alias SetToDefault".split()
)

# Nodes of the raw parse tree that are harmless in themselves (their children are still visited).
_PLAIN_NODES: frozenset[str] = frozenset(
    """
    A_ArrayExpr A_Const A_Expr A_Indices A_Indirection A_Star Alias BitString BoolExpr Boolean
    BooleanTest CTECycleClause CTESearchClause CaseExpr CaseWhen CoalesceExpr CollateClause
    ColumnRef CurrentOfExpr DefElem Float GroupingFunc GroupingSet Integer JoinExpr
    ColumnDef JsonAggConstructor JsonArgument JsonArrayAgg JsonArrayConstructor JsonArrayQueryConstructor
    JsonBehavior JsonFormat JsonFuncExpr JsonIsPredicate JsonKeyValue JsonObjectAgg
    JsonObjectConstructor JsonOutput JsonParseExpr JsonReturning JsonScalarExpr
    JsonSerializeExpr JsonTable JsonTableColumn JsonTablePathSpec JsonValueExpr List
    MergeSupportFunc MergeWhenClause MinMaxExpr MultiAssignRef NamedArgExpr NullTest
    OnConflictClause InferClause IndexElem ParamRef RangeFunction RangeSubselect
    RangeTableFunc RangeTableFuncCol ResTarget ReturningClause ReturningOption RowExpr
    SQLValueFunction SetToDefault SortBy String SubLink TypeCast TypeName WindowDef WithClause
    XmlExpr XmlSerialize IntoClause
    """.split()
)

_LOCK_WORDS = {
    "LCS_FORUPDATE": "FOR UPDATE",
    "LCS_FORNOKEYUPDATE": "FOR NO KEY UPDATE",
    "LCS_FORSHARE": "FOR SHARE",
    "LCS_FORKEYSHARE": "FOR KEY SHARE",
}

_DML_VERBS = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
}


# -- function knowledge ----------------------------------------------------------------------

_FUNCTION_CACHE: dict[tuple[tuple[str, ...], int], tuple[int, str]] = {}


def function_verdict(parts: tuple[str, ...], nargs: int) -> tuple[int, str]:
    key = (parts, nargs)
    found = _FUNCTION_CACHE.get(key)
    if found is None:
        found = _FUNCTION_CACHE[key] = _judge_function(parts, nargs)
    return found


def _judge_function(parts: tuple[str, ...], nargs: int) -> tuple[int, str]:
    name = parts[-1] if parts else ""
    shown = ".".join(parts)
    qualified = len(parts) > 1
    reason = FORBIDDEN_FUNCTIONS.get(name)
    if reason is None:
        for prefix, text in FORBIDDEN_PREFIXES:
            if name.startswith(prefix):
                reason = text
                break
    if reason is None and name == "ts_rewrite" and nargs == 2:
        reason = "ts_rewrite with two arguments runs a SQL query given as a string"
    if reason is not None:
        return FORBIDDEN, reason.format(name=shown)
    if name in WRITE_FUNCTIONS:
        return WRITE, WRITE_FUNCTIONS[name]
    if not qualified and (name in READ_ONLY_FUNCTIONS or name.startswith(READ_ONLY_PREFIXES)):
        return READ, ""
    if len(parts) <= 2 and (name in EXTENSION_FUNCTIONS or name.startswith(EXTENSION_PREFIXES)):
        return READ, ""
    if name == "ts_rewrite":
        return READ, ""
    return WRITE, (
        f"{shown} is not a known read-only function, so it may change data "
        "(user-defined functions count as writes)"
    )


def _first_string_arg(body: dict[str, Any]) -> str:
    args = body.get("args") or [{}]
    const = args[0].get("A_Const") or args[0].get("TypeCast", {}).get("arg", {}).get("A_Const")
    if const and "sval" in const:
        return const["sval"].get("sval", "")
    return ""


# =============================================================================================
# Statement rules
# =============================================================================================


def _s_select(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    label = "SELECT"
    if "valuesLists" in body and "targetList" not in body:
        label = "VALUES"
    elif _is_table_command(body):
        label = "TABLE"
    into = body.get("intoClause")
    if into is not None:
        label = "SELECT INTO"
        if ex:
            w.flag(DDL, f"SELECT … INTO creates the table {_relname(into.get('rel', {}))}")
    w.fields(body, ex)
    return label


def _is_table_command(body: dict[str, Any]) -> bool:
    targets = body.get("targetList", ())
    if len(targets) != 1:
        return False
    ref = targets[0].get("ResTarget", {}).get("val", {}).get("ColumnRef", {})
    return ref.get("location", 0) == -1 and ref.get("fields") == [{"A_Star": {}}]


def _s_insert(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    rel = body.get("relation", {})
    if ex:
        _check_catalog(w, rel, "INSERT")
        w.flag(WRITE, f"INSERT adds rows to {_relname(rel)}")
        if body.get("onConflictClause", {}).get("action") == "ONCONFLICT_UPDATE":
            w.flag(WRITE, f"ON CONFLICT DO UPDATE changes existing rows of {_relname(rel)}")
    w.fields(body, ex)
    return "INSERT"


def _s_update(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    if ex:
        _filtered_dml(w, body, "UPDATE", "changes")
    w.fields(body, ex)
    return "UPDATE"


def _s_delete(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    if ex:
        _filtered_dml(w, body, "DELETE", "removes")
    w.fields(body, ex)
    return "DELETE"


def _filtered_dml(w: _Walk, body: dict[str, Any], verb: str, does: str) -> None:
    rel = body.get("relation", {})
    target = _relname(rel)
    _check_catalog(w, rel, verb)
    where = body.get("whereClause")
    if where is None:
        w.destructive(f"{verb} without a WHERE clause {does} every row of {target}", target)
        return
    if "CurrentOfExpr" in where:
        w.flag(WRITE, f"{verb} {does} the row of {target} under cursor {_cursor_of(where)}")
        return
    names = _target_names(rel)
    truth = _truth(where)
    if truth is True:
        w.destructive(
            f"{verb} with an always-true WHERE condition {does} every row of {target}", target
        )
    elif truth is False or truth is None:
        w.flag(WRITE, f"{verb} on {target} has a WHERE condition that is never true")
    elif not _row_dependent(where, names):
        w.destructive(
            f"{verb} has a WHERE condition that does not refer to the rows of {target}, "
            f"so it {does} every row or none",
            target,
        )
    else:
        w.flag(WRITE, f"{verb} {does} the rows of {target} that match its WHERE clause")


def _cursor_of(where: dict[str, Any]) -> str:
    return str(where["CurrentOfExpr"].get("cursor_name", ""))


def _s_merge(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    if ex:
        rel = body.get("relation", {})
        target = _relname(rel)
        _check_catalog(w, rel, "MERGE")
        clauses = [c.get("MergeWhenClause", {}) for c in body.get("mergeWhenClauses", ())]
        changes = ("CMD_UPDATE", "CMD_DELETE")
        matched = any(
            c.get("matchKind") == "MERGE_WHEN_MATCHED" and c.get("commandType") in changes
            for c in clauses
        )
        by_source = [
            c
            for c in clauses
            if c.get("matchKind") == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE"
            and c.get("commandType") in changes
            and "condition" not in c
        ]
        cond = body.get("joinCondition", {})
        truth = _truth(cond)
        if matched and (truth is True or not _row_dependent(cond, _target_names(rel))):
            w.destructive(
                f"MERGE with an ON condition that matches every row of {target} "
                "updates or deletes all of them",
                target,
            )
        elif by_source:
            verb = "deletes" if by_source[0].get("commandType") == "CMD_DELETE" else "updates"
            w.destructive(
                f"MERGE … WHEN NOT MATCHED BY SOURCE {verb} every row of {target} "
                "that has no match in the source",
                target,
            )
        else:
            w.flag(WRITE, f"MERGE inserts, updates or deletes rows of {target}")
    w.fields(body, ex)
    return "MERGE"


def _check_catalog(w: _Walk, rel: dict[str, Any], verb: str) -> None:
    schema = rel.get("schemaname", "")
    name = rel.get("relname", "")
    if schema in ("pg_catalog", "information_schema", "pg_toast") or (
        not schema and name.startswith("pg_")
    ):
        extra = (
            " (writing pg_settings changes server settings, like SET)"
            if name == "pg_settings"
            else ""
        )
        w.flag(FORBIDDEN, f"{verb} on {_relname(rel)} modifies a PostgreSQL system catalog{extra}")


def _s_explain(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    analyze = False
    for opt in body.get("options", ()):
        d = opt.get("DefElem", {})
        if d.get("defname") == "analyze":
            analyze = _option_true(d.get("arg"))
    query = body.get("query", {})
    label = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
    if len(query) != 1:
        w.flag(FORBIDDEN, "EXPLAIN of an unrecognised statement")
        return label
    ((kind, inner),) = query.items()
    inner_label = w.statement(kind, inner, analyze and ex)
    if analyze:
        w.flag(READ, f"EXPLAIN ANALYZE runs the {inner_label} it explains")
    else:
        w.flag(READ, f"EXPLAIN only plans the {inner_label}; it does not run it")
    w.fields({k: v for k, v in body.items() if k != "query"}, ex)
    return label


def _option_true(arg: dict[str, Any] | None) -> bool:
    """A boolean option's value as PostgreSQL reads it; anything not plainly false is true."""
    if not arg:
        return True
    ((kind, val),) = arg.items() if len(arg) == 1 else (("", {}),)
    if kind == "String":
        return str(val.get("sval", "")).lower() not in ("false", "off", "0", "no", "n", "f", "of")
    if kind == "Integer":
        return val.get("ival", 0) != 0
    if kind == "Boolean":
        return bool(val.get("boolval", False))
    if kind == "A_Const":
        if "boolval" in val:
            return bool(val["boolval"].get("boolval", False))
        if "ival" in val:
            return val["ival"].get("ival", 0) != 0
        if "sval" in val:
            return _option_true({"String": val["sval"]})
    return True


def _s_copy(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    rel = body.get("relation")
    direction = "FROM" if body.get("is_from") else "TO"
    if body.get("is_program"):
        w.flag(FORBIDDEN, f"COPY … {direction} PROGRAM runs a shell command on the database server")
    elif "filename" in body:
        does = "reads" if direction == "FROM" else "writes"
        w.flag(
            FORBIDDEN,
            f"COPY … {direction} '{body['filename']}' {does} a file on the database server",
        )
    elif body.get("is_from"):
        if rel is not None:
            _check_catalog(w, rel, "COPY FROM")
            w.flag(WRITE, f"COPY … FROM STDIN inserts rows into {_relname(rel)}")
        else:
            w.flag(WRITE, "COPY … FROM STDIN inserts rows")
    w.fields(body, ex)
    return "COPY"


def _s_ctas(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    label = (
        "CREATE MATERIALIZED VIEW" if body.get("objtype") == "OBJECT_MATVIEW" else "CREATE TABLE AS"
    )
    if ex:
        name = _relname(body.get("into", {}).get("rel", {}))
        w.flag(DDL, f"{label} creates {name}")
    w.fields(body, ex)
    return label


def _s_view(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    w.flag(DDL, f"CREATE VIEW creates the view {_relname(body.get('view', {}))}")
    w.fields(body, False)
    return "CREATE VIEW"


def _s_create_table(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    rel = body.get("relation", {})
    temp = " temporary" if rel.get("relpersistence") == "t" else ""
    w.flag(DDL, f"CREATE TABLE creates the{temp} table {_relname(rel)}")
    w.fields(body, False)
    return "CREATE TABLE"


def _s_index(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    label = "CREATE UNIQUE INDEX" if body.get("unique") else "CREATE INDEX"
    if body.get("concurrent"):
        label += " CONCURRENTLY"
    idx = body.get("idxname", "")
    on = _relname(body.get("relation", {}))
    w.flag(DDL, f"{label} builds {'the index ' + idx + ' ' if idx else 'an index '}on {on}")
    w.fields(body, ex)
    return label


def _s_function(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    """CREATE FUNCTION / PROCEDURE is judged by its body: a forbidden body makes it forbidden,
    dynamic SQL (EXECUTE of a string) destructive (typed, naming the function)."""
    label = "CREATE PROCEDURE" if body.get("is_procedure") else "CREATE FUNCTION"
    language, text_body = "sql", None
    for opt in body.get("options", ()):
        d = opt.get("DefElem", {})
        if d.get("defname") == "language":
            language = _sval(d.get("arg", {})).lower()
        elif d.get("defname") == "as":
            items = d.get("arg", {}).get("List", {}).get("items", ())
            text_body = _sval(items[0]) if items else ""
    name = ".".join(_sval(n) for n in body.get("funcname", ()))
    if language not in ALLOWED_FUNCTION_LANGUAGES:
        why = (f"{label} {name} uses the language {language}, whose body the guard cannot read "
               "(untrusted languages reach the server's OS)")  # fmt: skip
        if w.ctx.rules.allow_untrusted_languages:
            w.destructive(why + "; allowed by [safety] allow_untrusted_languages", name)
        else:
            w.flag(FORBIDDEN, why + "; only sql and plpgsql are allowed "
                   "unless [safety] allow_untrusted_languages = true")  # fmt: skip
        return label
    w.flag(DDL, f"{label} creates {name} in {language}")
    if "sql_body" in body:  # BEGIN ATOMIC: already parsed
        inner = _Walk(_TextContext(w.ctx.rules))
        inner.visit(body["sql_body"], True)
        found = [(inner.rank, r) for _, r in inner.reasons]
    elif language == "plpgsql":
        found = _plpgsql_body(w.ctx)
    else:
        c = _classify(text_body or "", w.ctx.rules)
        found = (
            [(CLASSES.index(c.sql_class), r) for r in c.reasons] if c.sql_class != "invalid" else []
        )
    for rank, reason in found:
        if rank == FORBIDDEN:
            w.flag(FORBIDDEN, f"the body of {name}: {reason}")
        elif rank == DESTRUCTIVE:
            w.destructive(f"the body of {name}: {reason}", name)
    return label


_DYNAMIC_PLPGSQL = ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors")


def _plpgsql_body(ctx: _TextContext) -> list[tuple[int, str]]:
    """What a PL/pgSQL body does: each embedded statement or expression classified, and
    dynamic SQL (EXECUTE of a string, which the guard cannot see) as destructive."""
    import pglast  # parse_plpgsql is only needed for CREATE FUNCTION ... plpgsql

    try:
        tree = pglast.parse_plpgsql(ctx.text)
    except Exception as exc:
        return [(DESTRUCTIVE, f"its PL/pgSQL body could not be read ({exc})")]
    found: list[tuple[int, str]] = []

    def visit(obj: Any) -> None:
        if isinstance(obj, list):
            for item in obj:
                visit(item)
            return
        if not isinstance(obj, dict):
            return
        for key, val in obj.items():
            if (
                key in _DYNAMIC_PLPGSQL
                or key == "dynquery"
                or (key in ("PLpgSQL_stmt_open", "PLpgSQL_stmt_return_query") and "dynquery" in val)
            ):
                found.append((DESTRUCTIVE, "it runs dynamic SQL (EXECUTE of a string), "
                                           "which the guard cannot check"))  # fmt: skip
            if key == "PLpgSQL_expr" and isinstance(val, dict):
                query = str(val.get("query", ""))
                text = query if val.get("parseMode", 0) == 0 else f"SELECT {query}"
                c = _classify(text, ctx.rules)
                if c.sql_class not in ("read", "invalid"):
                    found.extend((CLASSES.index(c.sql_class), r) for r in c.reasons)
            visit(val)

    visit(tree)
    return found


def _s_extension(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("extname", "")
    if name in FORBIDDEN_EXTENSIONS:
        w.flag(FORBIDDEN, f"CREATE EXTENSION {name}: {FORBIDDEN_EXTENSIONS[name]}")
    else:
        w.flag(DDL, f"CREATE EXTENSION installs the extension {name}")
    w.fields(body, False)
    return "CREATE EXTENSION"


def _s_drop(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    what = _object_word(body.get("removeType", ""))
    names = [_object_name(o) for o in body.get("objects", ())]
    shown = ", ".join(n for n in names if n)
    cascade = body.get("behavior") == "DROP_CASCADE"
    if what in ("TABLE", "FOREIGN TABLE"):
        does = "deletes the table and all its rows"
    elif what == "SCHEMA":
        does = "deletes the schema" + (" and everything in it" if cascade else "")
    elif what in ("VIEW", "MATERIALIZED VIEW", "INDEX", "SEQUENCE"):
        does = f"removes the {what.lower()}"
    else:
        does = f"removes the {what.lower()}"
    if cascade and what != "SCHEMA":
        does += " and everything that depends on it"
    w.destructive(f"DROP {what} {shown} {does}".replace("  ", " "), names[0] if names else what)
    if what in ("TABLE", "FOREIGN TABLE", "VIEW", "MATERIALIZED VIEW", "SEQUENCE", "INDEX"):
        for n in names:
            if n and n not in w.tables:
                w.tables.append(n)
    return f"DROP {what}"


def _s_truncate(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    names = [_relname(r.get("RangeVar", {})) for r in body.get("relations", ())]
    w.destructive(f"TRUNCATE removes every row of {', '.join(names)}", names[0] if names else "")
    w.fields(body, False)
    return "TRUNCATE"


def _s_alter_table(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    what = _object_word(body.get("objtype", "OBJECT_TABLE"))
    rel = body.get("relation", {})
    target = _relname(rel)
    for cmd in body.get("cmds", ()):
        c = cmd.get("AlterTableCmd", {})
        subtype = c.get("subtype", "")
        col = c.get("name", "")
        rank, phrase = _ALTER_ACTIONS.get(subtype, (DESTRUCTIVE, ""))
        if not phrase:
            phrase = (
                f"performs {subtype or 'an unrecognised action'}, which the guard does not know"
            )
        text = f"ALTER {what} {target} {phrase.format(col=col)}"
        if rank == DESTRUCTIVE:
            w.destructive(text, target)
        else:
            w.flag(rank, text)
    w.fields(body, False)
    return f"ALTER {what}"


_ALTER_ACTIONS: dict[str, tuple[int, str]] = {
    "AT_AddColumn": (DDL, "adds a column"),
    "AT_AddColumnToView": (DDL, "adds a column"),
    "AT_ColumnDefault": (DDL, "changes the default of column {col}"),
    "AT_CookedColumnDefault": (DDL, "changes the default of column {col}"),
    "AT_DropNotNull": (DDL, "drops NOT NULL from column {col}"),
    "AT_AddConstraint": (DDL, "adds a constraint"),
    "AT_ValidateConstraint": (DDL, "validates constraint {col}"),
    "AT_AlterConstraint": (DDL, "alters a constraint"),
    "AT_AddIndex": (DDL, "adds an index"),
    "AT_AddIndexConstraint": (DDL, "adds a constraint using an index"),
    "AT_SetStatistics": (DDL, "sets the statistics target of column {col}"),
    "AT_SetOptions": (DDL, "sets options of column {col}"),
    "AT_ResetOptions": (DDL, "resets options of column {col}"),
    "AT_SetStorage": (DDL, "sets the storage of column {col}"),
    "AT_SetCompression": (DDL, "sets the compression of column {col}"),
    "AT_ClusterOn": (DDL, "marks an index for CLUSTER"),
    "AT_DropCluster": (DDL, "clears the CLUSTER index"),
    "AT_SetRelOptions": (DDL, "sets storage parameters"),
    "AT_ResetRelOptions": (DDL, "resets storage parameters"),
    "AT_ReplaceRelOptions": (DDL, "replaces storage parameters"),
    "AT_EnableTrig": (DDL, "enables a trigger"),
    "AT_EnableAlwaysTrig": (DDL, "enables a trigger"),
    "AT_EnableReplicaTrig": (DDL, "enables a trigger"),
    "AT_EnableTrigAll": (DDL, "enables all triggers"),
    "AT_EnableTrigUser": (DDL, "enables user triggers"),
    "AT_DisableTrig": (DDL, "disables a trigger"),
    "AT_DisableTrigAll": (DDL, "disables all triggers"),
    "AT_DisableTrigUser": (DDL, "disables user triggers"),
    "AT_EnableRule": (DDL, "enables a rule"),
    "AT_EnableAlwaysRule": (DDL, "enables a rule"),
    "AT_EnableReplicaRule": (DDL, "enables a rule"),
    "AT_DisableRule": (DDL, "disables a rule"),
    "AT_AddInherit": (DDL, "adds a parent table"),
    "AT_DropInherit": (DDL, "removes a parent table"),
    "AT_AddOf": (DDL, "binds the table to a type"),
    "AT_DropOf": (DDL, "unbinds the table from its type"),
    "AT_ReplicaIdentity": (DDL, "changes the replica identity"),
    "AT_EnableRowSecurity": (DDL, "enables row-level security"),
    "AT_ForceRowSecurity": (DDL, "forces row-level security"),
    "AT_GenericOptions": (DDL, "changes foreign-table options"),
    "AT_AlterColumnGenericOptions": (DDL, "changes foreign-table column options"),
    "AT_AttachPartition": (DDL, "attaches a partition"),
    "AT_DetachPartition": (DDL, "detaches a partition"),
    "AT_DetachPartitionFinalize": (DDL, "finishes detaching a partition"),
    "AT_AddIdentity": (DDL, "makes column {col} an identity column"),
    "AT_SetIdentity": (DDL, "changes identity column {col}"),
    "AT_DropExpression": (DDL, "drops the generation expression of column {col}"),
    "AT_DropColumn": (DESTRUCTIVE, "drops column {col} and all its data"),
    "AT_AlterColumnType": (
        DESTRUCTIVE,
        "changes the type of column {col} (rewrites the table; values can be lost)",
    ),
    "AT_SetNotNull": (
        DESTRUCTIVE,
        "sets column {col} NOT NULL (scans the table under an exclusive lock)",
    ),
    "AT_DropConstraint": (DESTRUCTIVE, "drops constraint {col}"),
    "AT_SetExpression": (
        DESTRUCTIVE,
        "changes the generation expression of {col} (rewrites the table)",
    ),
    "AT_DropIdentity": (DESTRUCTIVE, "drops the identity (and its sequence) of column {col}"),
    "AT_SetTableSpace": (
        DESTRUCTIVE,
        "moves the table to another tablespace (rewrite, exclusive lock)",
    ),
    "AT_SetLogged": (DESTRUCTIVE, "rewrites the table as LOGGED under an exclusive lock"),
    "AT_SetUnLogged": (DESTRUCTIVE, "makes the table UNLOGGED (its data is lost on a crash)"),
    "AT_SetAccessMethod": (DESTRUCTIVE, "changes the access method (rewrites the table)"),
    "AT_ChangeOwner": (FORBIDDEN, "changes the owner (a privilege change)"),
    "AT_DisableRowSecurity": (FORBIDDEN, "turns off row-level security"),
    "AT_NoForceRowSecurity": (FORBIDDEN, "stops forcing row-level security on the owner"),
}


def _s_rename(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    what = _object_word(body.get("renameType", ""))
    new = body.get("newname", "")
    if what in ("ROLE", "USER", "DATABASE"):
        w.flag(FORBIDDEN, f"ALTER {what} … RENAME changes a {what.lower()} (server administration)")
    else:
        w.flag(DDL, f"ALTER {what} … RENAME renames an object to {new}")
    w.fields(body, False)
    return f"ALTER {what} RENAME"


def _s_vacuum(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    names = [
        _relname(r.get("VacuumRelation", {}).get("relation", {})) for r in body.get("rels", ())
    ]
    shown = ", ".join(names) if names else "every table of the database"
    if not body.get("is_vacuumcmd"):
        w.flag(DDL, f"ANALYZE updates the planner statistics of {shown}")
        w.fields(body, False)
        return "ANALYZE"
    full = False
    for opt in body.get("options", ()):
        d = opt.get("DefElem", {})
        if d.get("defname") == "full":
            full = _option_true(d.get("arg"))
    if full:
        w.destructive(
            f"VACUUM FULL rewrites {shown} under an ACCESS EXCLUSIVE lock",
            names[0] if names else "VACUUM FULL",
        )
    else:
        w.flag(DDL, f"VACUUM reclaims space in {shown}")
    w.fields(body, False)
    return "VACUUM FULL" if full else "VACUUM"


def _s_cluster(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = _relname(body.get("relation", {})) if "relation" in body else ""
    w.destructive(
        f"CLUSTER rewrites {name or 'every clustered table'} under an ACCESS EXCLUSIVE lock",
        name or "CLUSTER",
    )
    w.fields(body, False)
    return "CLUSTER"


def _s_reindex(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = _relname(body.get("relation", {})) if "relation" in body else body.get("name", "")
    w.destructive(
        f"REINDEX rebuilds the indexes of {name or 'the database'} and blocks writes",
        name or "REINDEX",
    )
    w.fields(body, False)
    return "REINDEX"


def _s_dropdb(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("dbname", "")
    w.destructive(f"DROP DATABASE deletes the whole database {name}", name)
    return "DROP DATABASE"


def _s_set(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    kind = body.get("kind", "")
    name = body.get("name", "")
    low = name.lower()
    if kind in ("VAR_RESET", "VAR_RESET_ALL"):
        label = "RESET"
        reason = f"RESET {name or 'ALL'} changes session settings (pgask's own limits among them)"
    else:
        label = "SET LOCAL" if body.get("is_local") else "SET"
        if low == "role":
            reason = "SET ROLE changes the privileges the session runs with"
        elif low == "session_authorization":
            reason = "SET SESSION AUTHORIZATION changes the user the session runs as"
        elif low in ("transaction", "session characteristics", "transaction_read_only"):
            reason = f"SET {name} can turn pgask's read-only transaction into a read-write one"
        elif low == "session_replication_role":
            reason = "SET session_replication_role disables triggers and foreign-key checks"
        elif low == "search_path":
            reason = "SET search_path changes which tables and functions names resolve to"
        else:
            reason = f"SET {name} changes a session setting (it could lift pgask's own limits)"
    w.flag(FORBIDDEN, reason)
    w.fields(body, False)
    return label


_TRANSACTION_WORDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE SAVEPOINT",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO SAVEPOINT",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}


def _s_transaction(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    label = _TRANSACTION_WORDS.get(body.get("kind", ""), "transaction control")
    w.flag(
        FORBIDDEN,
        f"{label} is transaction control: it would end or reshape pgask's own transaction, "
        "and later statements would run outside it",
    )
    w.fields(body, False)
    return label


def _s_grant(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    label = "GRANT" if body.get("is_grant") else "REVOKE"
    w.flag(FORBIDDEN, f"{label} changes who may access what (privileges are not pgask's to change)")
    w.fields(body, False)
    return label


def _s_lock(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    names = [_relname(r.get("RangeVar", {})) for r in body.get("relations", ())]
    w.flag(FORBIDDEN, f"LOCK TABLE blocks other sessions from using {', '.join(names)}")
    w.fields(body, False)
    return "LOCK TABLE"


def _s_prepare(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    before = len(w.reasons)
    w.fields(body, True)  # classified as it will run when EXECUTEd
    name = body.get("name", "")
    w.ctx.prepared[name] = (w.rank, list(w.reasons[before:]))
    return "PREPARE"


def _s_execute(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("name", "")
    found = w.ctx.prepared.get(name)
    if found is None:
        w.flag(
            FORBIDDEN,
            f"EXECUTE {name} runs a statement prepared outside this text; the guard cannot see it",
        )
    else:
        rank, reasons = found
        for r, text in reasons:
            w.flag(r, text)
        w.flag(rank, f"EXECUTE {name} runs the statement prepared above")
    w.fields(body, ex)
    return "EXECUTE"


def _s_deallocate(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("name")
    if body.get("isall") or name is None or name not in w.ctx.prepared:
        w.flag(
            FORBIDDEN,
            "DEALLOCATE drops prepared statements of the session that the guard did not see",
        )
    return "DEALLOCATE"


def _s_declare(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("portalname", "")
    if body.get("options", 0) & 0x20:  # CURSOR_OPT_HOLD
        w.flag(
            WRITE, f"DECLARE {name} … WITH HOLD keeps the cursor open after the transaction ends"
        )
    w.ctx.cursors.add(name)
    w.fields(body, ex)
    return "DECLARE CURSOR"


def _s_fetch(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    label = "MOVE" if body.get("ismove") else "FETCH"
    name = body.get("portalname", "")
    if name not in w.ctx.cursors:
        w.flag(
            WRITE,
            f"{label} uses the cursor {name}, declared outside this text; the guard cannot see its query",
        )
    return label


def _s_call(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    call = body.get("funccall", {})
    parts = [_sval(n) for n in call.get("funcname", ())]
    shown = ".".join(parts)
    if shown not in w.functions:
        w.functions.append(shown)
    rank, reason = function_verdict(tuple(parts), len(call.get("args", ())))
    if rank == FORBIDDEN:
        w.flag(FORBIDDEN, reason)
    w.flag(WRITE, f"CALL runs the procedure {shown}, which can change data")
    w.fields(call, ex)
    return "CALL"


def _s_create_schema(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    w.flag(DDL, f"CREATE SCHEMA creates the schema {body.get('schemaname', '')}".rstrip())
    w.fields(body, ex)
    return "CREATE SCHEMA"


def _s_define(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    what = _object_word(body.get("kind", ""))
    w.flag(DDL, f"CREATE {what} adds a new {what.lower()} to the schema")
    w.fields(body, False)
    return f"CREATE {what}"


def _s_comment(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    what = _object_word(body.get("objtype", ""))
    w.flag(DDL, f"COMMENT ON {what} changes the comment stored in the catalog")
    w.fields(body, False)
    return "COMMENT"


def _s_refresh(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    name = _relname(body.get("relation", {}))
    w.flag(DDL, f"REFRESH MATERIALIZED VIEW recomputes {name}")
    w.fields(body, False)
    return "REFRESH MATERIALIZED VIEW"


def _s_rule(w: _Walk, body: dict[str, Any], ex: bool) -> str:
    w.flag(
        DDL,
        f"CREATE RULE {body.get('rulename', '')} rewrites future queries on {_relname(body.get('relation', {}))}",
    )
    w.fields(body, False)
    return "CREATE RULE"


_Rule = tuple[str, int, str] | Callable[[_Walk, dict[str, Any], bool], str]


def _ddl(label: str, reason: str) -> tuple[str, int, str]:
    return (label, DDL, reason)


def _forbid(label: str, reason: str) -> tuple[str, int, str]:
    return (label, FORBIDDEN, reason)


_SERVER_ADMIN = "is server administration, never run from pgask"

_STATEMENTS: dict[str, _Rule] = {
    # reads and writes
    "SelectStmt": _s_select,
    "InsertStmt": _s_insert,
    "UpdateStmt": _s_update,
    "DeleteStmt": _s_delete,
    "MergeStmt": _s_merge,
    "ExplainStmt": _s_explain,
    "CopyStmt": _s_copy,
    "VariableShowStmt": ("SHOW", READ, "SHOW reads a setting"),
    "DeclareCursorStmt": _s_declare,
    "FetchStmt": _s_fetch,
    "ClosePortalStmt": ("CLOSE", READ, "CLOSE closes a cursor"),
    "PrepareStmt": _s_prepare,
    "ExecuteStmt": _s_execute,
    "DeallocateStmt": _s_deallocate,
    "CallStmt": _s_call,
    # ddl
    "CreateStmt": _s_create_table,
    "CreateTableAsStmt": _s_ctas,
    "ViewStmt": _s_view,
    "IndexStmt": _s_index,
    "CreateSchemaStmt": _s_create_schema,
    "CreateSeqStmt": _ddl("CREATE SEQUENCE", "CREATE SEQUENCE creates a sequence"),
    "AlterSeqStmt": _ddl("ALTER SEQUENCE", "ALTER SEQUENCE changes a sequence"),
    "CompositeTypeStmt": _ddl("CREATE TYPE", "CREATE TYPE creates a composite type"),
    "CreateEnumStmt": _ddl("CREATE TYPE", "CREATE TYPE creates an enum type"),
    "CreateRangeStmt": _ddl("CREATE TYPE", "CREATE TYPE creates a range type"),
    "AlterEnumStmt": _ddl("ALTER TYPE", "ALTER TYPE changes an enum type"),
    "AlterTypeStmt": _ddl("ALTER TYPE", "ALTER TYPE changes a type"),
    "DefineStmt": _s_define,
    "CreateDomainStmt": _ddl("CREATE DOMAIN", "CREATE DOMAIN creates a domain"),
    "AlterDomainStmt": _ddl("ALTER DOMAIN", "ALTER DOMAIN changes a domain"),
    "CreateTrigStmt": _ddl(
        "CREATE TRIGGER", "CREATE TRIGGER makes a function run on future changes"
    ),
    "CreateExtensionStmt": _s_extension,
    "AlterExtensionStmt": _ddl("ALTER EXTENSION", "ALTER EXTENSION updates an extension"),
    "AlterExtensionContentsStmt": _ddl("ALTER EXTENSION", "ALTER EXTENSION changes its members"),
    "RuleStmt": _s_rule,
    "CreatePolicyStmt": _ddl("CREATE POLICY", "CREATE POLICY adds a row-level security policy"),
    "AlterPolicyStmt": _ddl("ALTER POLICY", "ALTER POLICY changes a row-level security policy"),
    "CreateStatsStmt": _ddl("CREATE STATISTICS", "CREATE STATISTICS adds extended statistics"),
    "AlterStatsStmt": _ddl("ALTER STATISTICS", "ALTER STATISTICS changes extended statistics"),
    "CreateCastStmt": _ddl("CREATE CAST", "CREATE CAST adds a type cast"),
    "CreateOpClassStmt": _ddl(
        "CREATE OPERATOR CLASS", "CREATE OPERATOR CLASS adds an operator class"
    ),
    "CreateOpFamilyStmt": _ddl(
        "CREATE OPERATOR FAMILY", "CREATE OPERATOR FAMILY adds an operator family"
    ),
    "AlterOpFamilyStmt": _ddl(
        "ALTER OPERATOR FAMILY", "ALTER OPERATOR FAMILY changes an operator family"
    ),
    "AlterOperatorStmt": _ddl("ALTER OPERATOR", "ALTER OPERATOR changes an operator"),
    "CreateConversionStmt": _ddl(
        "CREATE CONVERSION", "CREATE CONVERSION adds an encoding conversion"
    ),
    "CreateTransformStmt": _ddl("CREATE TRANSFORM", "CREATE TRANSFORM adds a type transform"),
    "CreateAmStmt": _ddl("CREATE ACCESS METHOD", "CREATE ACCESS METHOD adds an access method"),
    "CreatedbStmt": _ddl("CREATE DATABASE", "CREATE DATABASE creates a database"),
    "AlterObjectSchemaStmt": _ddl(
        "ALTER SET SCHEMA", "ALTER … SET SCHEMA moves an object to another schema"
    ),
    "AlterObjectDependsStmt": _ddl(
        "ALTER DEPENDS ON EXTENSION", "ALTER … DEPENDS ON EXTENSION marks a dependency"
    ),
    "AlterFunctionStmt": _ddl("ALTER FUNCTION", "ALTER FUNCTION changes a function's properties"),
    "CreateFunctionStmt": _s_function,
    "AlterCollationStmt": _ddl("ALTER COLLATION", "ALTER COLLATION refreshes a collation"),
    "AlterTSDictionaryStmt": _ddl(
        "ALTER TEXT SEARCH DICTIONARY", "changes a text search dictionary"
    ),
    "AlterTSConfigurationStmt": _ddl(
        "ALTER TEXT SEARCH CONFIGURATION", "changes a text search configuration"
    ),
    "CreateForeignTableStmt": _ddl(
        "CREATE FOREIGN TABLE", "CREATE FOREIGN TABLE adds a foreign table"
    ),
    "ImportForeignSchemaStmt": _ddl(
        "IMPORT FOREIGN SCHEMA", "IMPORT FOREIGN SCHEMA adds foreign tables"
    ),
    "SecLabelStmt": _ddl("SECURITY LABEL", "SECURITY LABEL changes an object's security label"),
    "CommentStmt": _s_comment,
    "RefreshMatViewStmt": _s_refresh,
    "VacuumStmt": _s_vacuum,
    "AlterTableStmt": _s_alter_table,
    "RenameStmt": _s_rename,
    # destructive
    "DropStmt": _s_drop,
    "TruncateStmt": _s_truncate,
    "DropdbStmt": _s_dropdb,
    "ClusterStmt": _s_cluster,
    "ReindexStmt": _s_reindex,
    "DropTableSpaceStmt": ("DROP TABLESPACE", DESTRUCTIVE, "DROP TABLESPACE removes a tablespace"),
    "AlterTableMoveAllStmt": (
        "ALTER TABLE ALL IN TABLESPACE",
        DESTRUCTIVE,
        "ALTER … ALL IN TABLESPACE rewrites every table it moves under an exclusive lock",
    ),
    # forbidden
    "VariableSetStmt": _s_set,
    "TransactionStmt": _s_transaction,
    "GrantStmt": _s_grant,
    "GrantRoleStmt": _forbid(
        "GRANT ROLE", "granting or revoking role membership changes privileges"
    ),
    "LockStmt": _s_lock,
    "DiscardStmt": _forbid(
        "DISCARD", "DISCARD throws away session state (prepared plans, temp tables …)"
    ),
    "ConstraintsSetStmt": _forbid(
        "SET CONSTRAINTS", "SET CONSTRAINTS changes when constraints are checked"
    ),
    "ListenStmt": _forbid("LISTEN", "LISTEN subscribes the session to notifications"),
    "UnlistenStmt": _forbid(
        "UNLISTEN", "UNLISTEN changes the session's notification subscriptions"
    ),
    "NotifyStmt": _forbid("NOTIFY", "NOTIFY sends a notification to other sessions"),
    "LoadStmt": _forbid("LOAD", "LOAD loads a shared library into the server process"),
    "CheckPointStmt": _forbid("CHECKPOINT", "CHECKPOINT forces a server-wide checkpoint"),
    "DoStmt": _forbid("DO", "DO runs an anonymous code block the guard cannot inspect"),
    "AlterSystemStmt": _forbid("ALTER SYSTEM", "ALTER SYSTEM changes the server configuration"),
    "AlterDatabaseStmt": _forbid("ALTER DATABASE", f"ALTER DATABASE {_SERVER_ADMIN}"),
    "AlterDatabaseSetStmt": _forbid(
        "ALTER DATABASE", "ALTER DATABASE … SET changes settings for every session"
    ),
    "AlterDatabaseRefreshCollStmt": _forbid("ALTER DATABASE", f"ALTER DATABASE {_SERVER_ADMIN}"),
    "AlterDefaultPrivilegesStmt": _forbid(
        "ALTER DEFAULT PRIVILEGES", "ALTER DEFAULT PRIVILEGES changes who may access future objects"
    ),
    "CreateRoleStmt": _forbid("CREATE ROLE", "CREATE ROLE/USER creates a login or role"),
    "AlterRoleStmt": _forbid("ALTER ROLE", "ALTER ROLE/USER changes a role's password or powers"),
    "AlterRoleSetStmt": _forbid(
        "ALTER ROLE", "ALTER ROLE … SET changes settings for a role's sessions"
    ),
    "DropRoleStmt": _forbid("DROP ROLE", "DROP ROLE/USER removes a role"),
    "ReassignOwnedStmt": _forbid("REASSIGN OWNED", "REASSIGN OWNED changes who owns objects"),
    "DropOwnedStmt": _forbid(
        "DROP OWNED", "DROP OWNED drops every object a role owns and its privileges"
    ),
    "AlterOwnerStmt": _forbid(
        "ALTER OWNER", "ALTER … OWNER TO changes who owns an object (a privilege change)"
    ),
    "CreatePLangStmt": _forbid("CREATE LANGUAGE", "CREATE LANGUAGE installs a procedural language"),
    "CreateTableSpaceStmt": _forbid(
        "CREATE TABLESPACE", "CREATE TABLESPACE uses a directory on the server"
    ),
    "AlterTableSpaceOptionsStmt": _forbid("ALTER TABLESPACE", f"ALTER TABLESPACE {_SERVER_ADMIN}"),
    "CreateEventTrigStmt": _forbid(
        "CREATE EVENT TRIGGER", "an event trigger runs a function on every DDL command"
    ),
    "AlterEventTrigStmt": _forbid(
        "ALTER EVENT TRIGGER", "ALTER EVENT TRIGGER changes database-wide DDL hooks"
    ),
    "CreateFdwStmt": _forbid(
        "CREATE FOREIGN DATA WRAPPER", "foreign data wrappers reach other servers or files"
    ),
    "AlterFdwStmt": _forbid(
        "ALTER FOREIGN DATA WRAPPER", "foreign data wrappers reach other servers or files"
    ),
    "CreateForeignServerStmt": _forbid(
        "CREATE SERVER", "CREATE SERVER configures a connection to another server"
    ),
    "AlterForeignServerStmt": _forbid(
        "ALTER SERVER", "ALTER SERVER changes a connection to another server"
    ),
    "CreateUserMappingStmt": _forbid(
        "CREATE USER MAPPING", "user mappings store credentials for other servers"
    ),
    "AlterUserMappingStmt": _forbid(
        "ALTER USER MAPPING", "user mappings store credentials for other servers"
    ),
    "DropUserMappingStmt": _forbid(
        "DROP USER MAPPING", "user mappings store credentials for other servers"
    ),
    "CreatePublicationStmt": _forbid(
        "CREATE PUBLICATION", "publications replicate data to other servers"
    ),
    "AlterPublicationStmt": _forbid(
        "ALTER PUBLICATION", "publications replicate data to other servers"
    ),
    "CreateSubscriptionStmt": _forbid(
        "CREATE SUBSCRIPTION", "subscriptions connect to another server"
    ),
    "AlterSubscriptionStmt": _forbid(
        "ALTER SUBSCRIPTION", "subscriptions connect to another server"
    ),
    "DropSubscriptionStmt": _forbid("DROP SUBSCRIPTION", "subscriptions connect to another server"),
}


# =============================================================================================
# Constant evaluation of WHERE / ON conditions (three-valued, conservative)
# =============================================================================================


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

_TRUE_WORDS = ("t", "tr", "tru", "true", "y", "ye", "yes", "on", "1")
_FALSE_WORDS = ("f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0")


def _as_bool(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE_WORDS:
            return True
        if s in _FALSE_WORDS:
            return False
    return UNKNOWN


def _truth(expr: dict[str, Any]) -> Any:
    """True / False / None (NULL) when a condition's value is the same for every row, else UNKNOWN.

    `True` is also returned for conditions that hold for every row whose columns are not NULL
    (`x = x`, `x LIKE '%'`): the guard treats those as matching every row.
    """
    try:
        return _as_bool(_value(expr, 0))
    except (ArithmeticError, ValueError, TypeError, OverflowError, RecursionError):
        return UNKNOWN


def _value(e: Any, depth: int) -> Any:
    if depth > 60 or type(e) is not dict or len(e) != 1:
        return UNKNOWN
    ((kind, b),) = e.items()
    d = depth + 1
    if kind == "A_Const":
        if b.get("isnull"):
            return None
        if "boolval" in b:
            return bool(b["boolval"].get("boolval", False))
        if "ival" in b:
            return int(b["ival"].get("ival", 0))
        if "fval" in b:
            return float(b["fval"].get("fval", "0"))
        if "sval" in b:
            return str(b["sval"].get("sval", ""))
        return UNKNOWN
    if kind == "TypeCast":
        return _cast(_value(b.get("arg"), d), b.get("typeName", {}))
    if kind == "BoolExpr":
        return _boolexpr(b, d)
    if kind == "A_Expr":
        return _aexpr(b, d)
    if kind == "NullTest":
        v = _value(b.get("arg"), d)
        if v is UNKNOWN:
            return UNKNOWN
        is_null = v is None
        return is_null if b.get("nulltesttype") == "IS_NULL" else not is_null
    if kind == "BooleanTest":
        v = _as_bool(_value(b.get("arg"), d))
        if v is UNKNOWN:
            return UNKNOWN
        test = b.get("booltesttype", "")
        return {
            "IS_TRUE": v is True,
            "IS_NOT_TRUE": v is not True,
            "IS_FALSE": v is False,
            "IS_NOT_FALSE": v is not False,
            "IS_UNKNOWN": v is None,
            "IS_NOT_UNKNOWN": v is not None,
        }.get(test, UNKNOWN)
    if kind == "CoalesceExpr":
        for arg in b.get("args", ()):
            v = _value(arg, d)
            if v is UNKNOWN:
                return UNKNOWN
            if v is not None:
                return v
        return None
    if kind == "SubLink" and b.get("subLinkType") == "EXISTS_SUBLINK":
        sub = b.get("subselect", {}).get("SelectStmt", {})
        plain = not any(
            k in sub for k in ("fromClause", "whereClause", "havingClause", "limitCount")
        )
        if plain and "targetList" in sub and sub.get("op", "SETOP_NONE") == "SETOP_NONE":
            return True
        return UNKNOWN
    return UNKNOWN


def _cast(v: Any, type_name: dict[str, Any]) -> Any:
    if v is UNKNOWN or v is None:
        return v
    names = [_sval(n) for n in type_name.get("names", ())]
    t = names[-1] if names else ""
    if t in ("bool", "boolean"):
        if isinstance(v, int) and not isinstance(v, bool):
            return v != 0
        return _as_bool(v)
    if t in ("int2", "int4", "int8", "integer", "bigint", "smallint"):
        if isinstance(v, str):
            return int(v.strip())
        return int(v)
    if t in ("numeric", "float4", "float8", "decimal", "real"):
        return float(v)
    if t in ("text", "varchar", "bpchar", "name", "char"):
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    return UNKNOWN


def _boolexpr(b: dict[str, Any], d: int) -> Any:
    op = b.get("boolop")
    args = b.get("args", ())
    vals = [_as_bool(_value(a, d)) for a in args]
    if op == "NOT_EXPR":
        v = vals[0] if vals else UNKNOWN
        return UNKNOWN if v is UNKNOWN else (None if v is None else not v)
    if op == "AND_EXPR":
        if any(v is False for v in vals):
            return False
        if all(v is True for v in vals):
            return True
        if all(v is True or v is None for v in vals):
            return None
        return UNKNOWN
    if op == "OR_EXPR":
        if any(v is True for v in vals) or _complementary(args):
            return True
        if all(v is False for v in vals):
            return False
        if all(v is False or v is None for v in vals):
            return None
        return UNKNOWN
    return UNKNOWN


_NEGATED_OPS = {"=": "<>", "<>": "=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def _complementary(args: list[dict[str, Any]]) -> bool:
    """Does an OR hold a condition and its negation (`x IS NULL OR x IS NOT NULL`, `p OR NOT p`,
    `a = b OR a <> b`)? Expressions are only compared when a partner of the right shape exists."""
    nulltests: dict[str, list[dict[str, Any]]] = {}
    comparisons: dict[str, list[dict[str, Any]]] = {}
    negations: list[dict[str, Any]] = []
    for a in args:
        if "NullTest" in a:
            n = a["NullTest"]
            nulltests.setdefault(n.get("nulltesttype", ""), []).append(n.get("arg", {}))
        elif "A_Expr" in a and a["A_Expr"].get("kind") == "AEXPR_OP":
            x = a["A_Expr"]
            comparisons.setdefault(_op_name(x), []).append(x)
        elif "BoolExpr" in a and a["BoolExpr"].get("boolop") == "NOT_EXPR":
            inner = a["BoolExpr"].get("args", ())
            if inner:
                negations.append(inner[0])
    if "IS_NULL" in nulltests and "IS_NOT_NULL" in nulltests:
        left = {_canon(e) for e in nulltests["IS_NULL"]}
        if any(_canon(e) in left for e in nulltests["IS_NOT_NULL"]):
            return True
    for op, exprs in comparisons.items():
        other = comparisons.get(_NEGATED_OPS.get(op, ""))
        if other:
            mine = {(_canon(x.get("lexpr")), _canon(x.get("rexpr"))) for x in exprs}
            if any((_canon(x.get("lexpr")), _canon(x.get("rexpr"))) in mine for x in other):
                return True
    if negations:
        kinds = {next(iter(n)) for n in negations if n}
        others = {_canon(a) for a in args if a and next(iter(a)) in kinds}
        if any(_canon(n) in others for n in negations):
            return True
    return False


def _op_name(x: dict[str, Any]) -> str:
    names = x.get("name", ())
    return _sval(names[-1]) if names else ""


def _aexpr(b: dict[str, Any], d: int) -> Any:
    kind = b.get("kind")
    op = _op_name(b)
    lexpr, rexpr = b.get("lexpr"), b.get("rexpr")
    if kind == "AEXPR_OP":
        if (
            lexpr is not None
            and rexpr is not None
            and op in ("=", "<=", ">=")
            and _same(lexpr, rexpr)
        ):
            return True
        if (
            lexpr is not None
            and rexpr is not None
            and op in ("<>", "!=", "<", ">")
            and _same(lexpr, rexpr)
        ):
            return False
        right = _value(rexpr, d)
        if lexpr is None:
            if right is UNKNOWN or right is None:
                return right
            if op == "-":
                return -right
            if op == "+":
                return +right
            return UNKNOWN
        left = _value(lexpr, d)
        return _binary(op, left, right)
    if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
        if _same(lexpr, rexpr):
            return kind == "AEXPR_NOT_DISTINCT"
        left, right = _value(lexpr, d), _value(rexpr, d)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if left is None or right is None:
            equal = left is None and right is None
        else:
            eq = _binary("=", left, right)
            if eq is UNKNOWN:
                return UNKNOWN
            equal = bool(eq)
        return equal if kind == "AEXPR_NOT_DISTINCT" else not equal
    if kind == "AEXPR_IN":
        items = rexpr.get("List", {}).get("items", ()) if isinstance(rexpr, dict) else ()
        if any(_same(lexpr, i) for i in items) and op == "=":
            return True
        left = _value(lexpr, d)
        vals = [_value(i, d) for i in items]
        if left is UNKNOWN or any(v is UNKNOWN for v in vals):
            return UNKNOWN
        hits = [_binary("=", left, v) for v in vals]
        if any(h is UNKNOWN for h in hits):
            return UNKNOWN
        found = any(h is True for h in hits)
        if op == "=":
            return True if found else (None if (left is None or None in vals) else False)
        return False if found else (None if (left is None or None in vals) else True)
    if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN", "AEXPR_BETWEEN_SYM", "AEXPR_NOT_BETWEEN_SYM"):
        items = rexpr.get("List", {}).get("items", ()) if isinstance(rexpr, dict) else ()
        if len(items) != 2:
            return UNKNOWN
        left = _value(lexpr, d)
        lo, hi = _value(items[0], d), _value(items[1], d)
        if kind.endswith("_SYM") and all(v is not UNKNOWN and v is not None for v in (lo, hi)):
            if _binary(">", lo, hi) is True:
                lo, hi = hi, lo
        inside = _boolexpr_vals([_binary(">=", left, lo), _binary("<=", left, hi)])
        if "NOT" in kind:
            return UNKNOWN if inside is UNKNOWN else (None if inside is None else not inside)
        return inside
    if kind in ("AEXPR_LIKE", "AEXPR_ILIKE"):
        pattern = _value(rexpr, d) if "A_Const" in (rexpr or {}) else _like_pattern(rexpr, d)
        if isinstance(pattern, str) and pattern and set(pattern) == {"%"}:
            return op in ("~~", "~~*")  # LIKE '%' matches every non-NULL value
        return UNKNOWN
    if kind == "AEXPR_NULLIF":
        return UNKNOWN
    return UNKNOWN


def _like_pattern(rexpr: Any, d: int) -> Any:
    """The pattern of LIKE … ESCAPE, which the parser wraps in like_escape()."""
    if isinstance(rexpr, dict) and "FuncCall" in rexpr:
        args = rexpr["FuncCall"].get("args", ())
        if args:
            return _value(args[0], d)
    return UNKNOWN


def _boolexpr_vals(vals: list[Any]) -> Any:
    if any(v is False for v in vals):
        return False
    if all(v is True for v in vals):
        return True
    if any(v is UNKNOWN for v in vals):
        return UNKNOWN
    return None


def _binary(op: str, left: Any, right: Any) -> Any:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if left is None or right is None:
        return None
    if isinstance(left, str) != isinstance(right, str):
        # an untyped literal next to a number is read as that number ('1' = 1)
        if isinstance(left, str):
            left = _number(left)
        else:
            right = _number(right)
    if isinstance(left, bool) != isinstance(right, bool) and op not in ("||",):
        left, right = _as_bool(left), _as_bool(right)
        if left is UNKNOWN or right is UNKNOWN or left is None or right is None:
            return UNKNOWN
    if op == "=":
        return left == right
    if op in ("<>", "!="):
        return left != right
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    if op == ">=":
        return left >= right
    if op == "||":
        return f"{left}{right}"
    if isinstance(left, str) or isinstance(right, str):
        return UNKNOWN
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if isinstance(left, int) and isinstance(right, int):
            q = abs(left) // abs(right)
            return q if (left >= 0) == (right >= 0) else -q
        return left / right
    if op == "%":
        return left % right
    return UNKNOWN


def _number(s: str) -> Any:
    s = s.strip()
    try:
        return int(s)
    except ValueError:
        return float(s)


def _same(a: Any, b: Any) -> bool:
    """Are two expressions the same text, ignoring positions (and not constants)?"""
    if a is None or b is None:
        return False
    if "A_Const" in a or a.keys() != b.keys():
        return False  # constants are compared by value instead
    return _canon(a) == _canon(b)


_LOCATION = re.compile(rb'"location":-?\d+,?')
_ENCODE = msgspec.json.Encoder().encode


def _canon(o: Any) -> bytes:
    """An expression's identity without its positions in the text."""
    return _LOCATION.sub(b"", _ENCODE(o))


def _target_names(rel: dict[str, Any]) -> frozenset[str]:
    names = {rel.get("relname", "")}
    alias = rel.get("alias", {}).get("aliasname")
    if alias:
        names.add(alias)
    return frozenset(names)


def _row_dependent(expr: Any, names: frozenset[str]) -> bool:
    """Could the condition's value differ between rows of the target table?

    A column reference counts when it is unqualified (it may name a target column) or
    qualified by the target's name or alias. References qualified by another table do not.
    """
    stack = [expr]
    while stack:
        o = stack.pop()
        if type(o) is dict:
            ref = o.get("ColumnRef")
            if type(ref) is dict and len(o) == 1:
                fields = ref.get("fields", ())
                if len(fields) <= 1:
                    return True
                qualifier = _sval(fields[-2])
                if qualifier in names:
                    return True
                continue
            if "CurrentOfExpr" in o:
                return True
            stack.extend(v for v in o.values() if type(v) is dict or type(v) is list)
        elif type(o) is list:
            stack.extend(o)
    return False


# =============================================================================================
# Small helpers
# =============================================================================================


def _sval(node: Any) -> str:
    if type(node) is dict:
        s = node.get("String")
        if s is not None:
            return str(s.get("sval", ""))
        if "sval" in node:
            return str(node.get("sval", ""))
    return ""


def _relname(rv: dict[str, Any]) -> str:
    name = rv.get("relname", "")
    if not name:
        return ""
    schema = rv.get("schemaname")
    catalog = rv.get("catalogname")
    if schema:
        name = f"{schema}.{name}"
    if catalog:
        name = f"{catalog}.{name}"
    return name


_OBJECT_WORDS = {
    "OBJECT_MATVIEW": "MATERIALIZED VIEW",
    "OBJECT_FOREIGN_TABLE": "FOREIGN TABLE",
    "OBJECT_TSCONFIGURATION": "TEXT SEARCH CONFIGURATION",
    "OBJECT_TSDICTIONARY": "TEXT SEARCH DICTIONARY",
    "OBJECT_TSPARSER": "TEXT SEARCH PARSER",
    "OBJECT_TSTEMPLATE": "TEXT SEARCH TEMPLATE",
    "OBJECT_FDW": "FOREIGN DATA WRAPPER",
    "OBJECT_FOREIGN_SERVER": "SERVER",
    "OBJECT_OPCLASS": "OPERATOR CLASS",
    "OBJECT_OPFAMILY": "OPERATOR FAMILY",
    "OBJECT_EVENT_TRIGGER": "EVENT TRIGGER",
    "OBJECT_ACCESS_METHOD": "ACCESS METHOD",
    "OBJECT_STATISTIC_EXT": "STATISTICS",
    "OBJECT_TABCONSTRAINT": "CONSTRAINT",
    "OBJECT_DOMCONSTRAINT": "CONSTRAINT",
    "OBJECT_LARGEOBJECT": "LARGE OBJECT",
    "OBJECT_USER_MAPPING": "USER MAPPING",
}


def _object_word(obj: str) -> str:
    if obj in _OBJECT_WORDS:
        return _OBJECT_WORDS[obj]
    return obj.removeprefix("OBJECT_").replace("_", " ") or "OBJECT"


def _object_name(o: Any) -> str:
    if type(o) is not dict or len(o) != 1:
        return ""
    ((kind, b),) = o.items()
    if kind == "String":
        return str(b.get("sval", ""))
    if kind == "List":
        return ".".join(_sval(i) for i in b.get("items", ()))
    if kind == "ObjectWithArgs":
        return ".".join(_sval(i) for i in b.get("objname", ()))
    if kind == "TypeName":
        return ".".join(_sval(i) for i in b.get("names", ()))
    return ""


def _words_of(node_kind: str) -> str:
    out = []
    for ch in node_kind.removesuffix("Stmt"):
        if ch.isupper() and out:
            out.append(" ")
        out.append(ch.upper())
    return "".join(out)


# =============================================================================================
# classify(): the whole text
# =============================================================================================

_DECODER = msgspec.json.Decoder()


def classify(sql: str, rules: Rules = TEXT_ONLY) -> Classification:
    """Classify a SQL text. Pure: no I/O, no database. Never raises for any str input.

    The cyclic garbage collector is paused meanwhile: the decoded tree is tens of thousands of
    small acyclic dicts that reference counting frees, and collections triggered by them
    tripled the p99 time of a 10 KB statement.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _classify(sql, rules)
    finally:
        if collecting:
            gc.enable()


def _classify(sql: str, rules: Rules = TEXT_ONLY) -> Classification:
    if not isinstance(sql, str):
        return _invalid(str(sql), "the SQL must be text", None)
    if "\x00" in sql:
        return _invalid(
            sql,
            "the text contains a NUL byte; PostgreSQL would silently ignore everything after it",
            sql.index("\x00"),
        )
    try:
        tree_json = _pg.parse_sql_json(sql)
    except _pg.ParseError as exc:
        message = str(exc.args[0]) if exc.args else "syntax error"
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        return _invalid(sql, message + _hint_for(sql), location)
    except (MemoryError, ValueError, UnicodeError) as exc:
        return _invalid(sql, f"the text could not be parsed ({type(exc).__name__})", None)
    try:
        return _classify_json(sql, tree_json, rules)
    except RecursionError:
        pass
    # Deeply nested expressions (`1 + 1 + … + 1`) are valid SQL: retry with room to recurse.
    # The walk and the decoder recurse once per tree level; CPython 3.11 keeps Python frames
    # off the C stack, and pglast itself refuses trees deeper than PostgreSQL's stack allows.
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, _DEEP_RECURSION_LIMIT))
    try:
        return _classify_json(sql, tree_json, rules)
    except RecursionError:
        return Classification(
            sql_class="forbidden",
            reasons=["the statement is nested too deeply for the guard to inspect"],
        )
    finally:
        sys.setrecursionlimit(old_limit)


_DEEP_RECURSION_LIMIT: Final = 40_000


def _classify_json(sql: str, tree_json: str, rules: Rules) -> Classification:
    stmts = _DECODER.decode(tree_json).get("stmts", ())
    if not stmts:
        return _invalid(
            sql, "there is no SQL statement here (the text is empty or only comments)", None
        )
    return _classify_tree(sql, stmts, rules)


def _classify_tree(sql: str, stmts: list[dict[str, Any]], rules: Rules) -> Classification:
    data = sql.encode("utf-8", "surrogatepass")
    ctx = _TextContext(rules)
    verdicts: list[StatementVerdict] = []
    top = READ
    confirm_name = ""
    for index, raw in enumerate(stmts):
        stmt = raw.get("stmt", {})
        start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)
        chunk = data[start : start + length] if length else data[start:]
        text = chunk.decode("utf-8", "replace").strip()
        ctx.text = text
        w = _Walk(ctx)
        if len(stmt) == 1:
            ((kind, body),) = stmt.items()
            label = w.statement(kind, body, True)
        else:
            w.flag(FORBIDDEN, "the guard does not recognise this statement")
            label = "UNKNOWN"
        reasons = [r for _, r in sorted(w.reasons, key=lambda e: -e[0])] or ["reads data only"]
        tables = [t for t in w.tables if "." in t or t not in w.ctes]
        verdicts.append(
            StatementVerdict(
                index=index,
                kind=label,
                sql_class=CLASSES[w.rank],
                reasons=reasons,
                tables=tables,
                functions=list(w.functions),
                text=text,
            )
        )
        if w.rank > top:
            top = w.rank
        if w.rank == DESTRUCTIVE and not confirm_name:
            confirm_name = w.confirm_name or label
    overall: list[str] = []
    for v in verdicts:
        if v.sql_class != "read" or top == READ:
            for r in v.reasons:
                if r not in overall:
                    overall.append(r)
    all_tables: list[str] = []
    for v in verdicts:
        for t in v.tables:
            if t not in all_tables:
                all_tables.append(t)
    try:
        normalized = _pg.normalize(sql)
    except _pg.ParseError:
        normalized = ""
    return Classification(
        sql_class=CLASSES[top],
        statements=verdicts,
        reasons=overall,
        tables=all_tables,
        confirm_name=confirm_name,
        normalized=normalized,
    )


def _hint_for(sql: str) -> str:
    for line in sql.splitlines():
        s = line.strip()
        if s.startswith("```"):
            return " (the text is wrapped in a markdown code fence: send only the SQL)"
        if s.startswith("\\"):
            word = s.split()[0]
            return f" ({word} is a psql meta-command, not SQL: pgask sends SQL to the server)"
    return ""


def _invalid(sql: str, message: str, location: int | None) -> Classification:
    error = _sql_error(sql, message, location)
    where = f" (line {error.line}, column {error.column})" if error.line else ""
    return Classification(sql_class="invalid", reasons=[message + where], error=error)


def _sql_error(sql: str, message: str, location: int | None) -> SqlError:
    """SqlError with a 1-based line and column and the offending line with a caret under it."""
    if location is None or location < 0:
        return SqlError(message=message)
    location = min(location, len(sql))
    line_start = sql.rfind("\n", 0, location) + 1
    line_end = sql.find("\n", location)
    if line_end == -1:
        line_end = len(sql)
    line_text = sql[line_start:line_end].rstrip("\r")
    line_no = sql.count("\n", 0, location) + 1
    col = location - line_start
    shown, caret_at = line_text, col
    if len(line_text) > 120:  # keep long lines readable: a window around the position
        lo = max(0, col - 60)
        shown = (
            ("…" if lo else "")
            + line_text[lo : lo + 120]
            + ("…" if lo + 120 < len(line_text) else "")
        )
        caret_at = col - lo + (1 if lo else 0)
    shown = shown.replace("\x00", "\u2400")  # show a NUL as the symbol ␀
    pad = "".join("\t" if ch == "\t" else " " for ch in shown[:caret_at])
    return SqlError(message=message, line=line_no, column=col + 1, snippet=f"{shown}\n{pad}^")


# =============================================================================================
# Confirmation, verdicts, the actor callback
# =============================================================================================

_READ_WRITE_CONFIRM: dict[str, Confirm] = {
    "write": "confirm",
    "ddl": "confirm",
    "destructive": "typed",
}


def confirmation_for(sql_class: SqlClass, mode: Mode, preview: bool = False) -> Confirm:
    """What the person must do before a statement of `sql_class` runs under `mode`."""
    if sql_class == "read":
        return "preview" if preview else "run"
    if mode != "read-write":  # read-only, and anything unexpected
        return "refuse"
    return _READ_WRITE_CONFIRM.get(sql_class, "refuse")


def verdict_for(
    c: Classification,
    sql: str,
    *,
    profile: str,
    mode: Mode,
    preview: bool,
    key: bytes | None,
    ttl_s: float = DEFAULT_TTL_S,
    catalog: str = "",
) -> Verdict:
    confirm = confirmation_for(c.sql_class, mode, preview)
    signature = None
    if confirm != "refuse" and key is not None:
        signature = sign(key, sql, c.sql_class, profile, mode, ttl_s=ttl_s, catalog=catalog)
    return Verdict(
        sql_class=c.sql_class,
        confirm=confirm,
        statements=c.statements,
        reasons=c.reasons,
        tables=c.tables,
        confirm_name=c.confirm_name if confirm == "typed" else "",
        normalized=c.normalized,
        error=c.error,
        signature=signature,
        catalog=catalog,
    )


def judge(
    sql: str,
    *,
    profile: str,
    mode: Mode,
    preview: bool = False,
    key: bytes,
    ttl_s: float = DEFAULT_TTL_S,
) -> Verdict:
    """classify() + confirmation_for() + signature (none when the verdict is a refusal)."""
    return verdict_for(
        classify(sql), sql, profile=profile, mode=mode, preview=preview, key=key, ttl_s=ttl_s
    )


def on_guard_check(request: GuardRequest, *, key: bytes, ttl_s: float = DEFAULT_TTL_S) -> Verdict:
    """Handler for `guard.check`; the runtime's loop calls it with the per-run key."""
    return judge(
        request.sql,
        profile=request.profile,
        mode=request.mode,
        preview=request.preview,
        key=key,
        ttl_s=ttl_s,
    )


# =============================================================================================
# `pgask check-sql`
# =============================================================================================


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would sys.exit(2); we return 2
        raise _UsageError(message)


# Judges texts for a profile through the running actor tree (the CLI provides it, so this
# module never imports the front end): (profile, texts, mode, preview) -> a reply per text.
RemoteJudge = Callable[[str | None, str, list[str], Mode, bool], list[Body]]


def _cli_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pgask check-sql",
        description=(
            "Classify SQL with pgask's guard. Without -p the text alone is judged (no "
            "database needed); with -p it is judged against that profile's catalog, as every "
            "run is (what its functions, operators, casts, views and policies really run)."
        ),
        epilog="Exit status: 0 whatever the verdicts, 1 when the profile cannot be reached, "
        "2 for usage errors.",
    )
    p.add_argument("sql", nargs="?", help="the SQL text (read from stdin when omitted)")
    p.add_argument("-p", "--profile", default="", help="judge against this profile's database")
    p.add_argument("--config", help="config file (with -p; default: $PGASK_CONFIG or the usual)")
    p.add_argument("--mode", choices=("read-only", "read-write"), default="read-only")
    p.add_argument("--preview", action="store_true", help="reads are previewed before they run")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument(
        "--batch",
        action="store_true",
        help='read one JSON object per line {"id": …, "sql": …}, write one JSON line each',
    )
    return p


def check_sql_main(
    argv: list[str], stdin: IO[str], stdout: IO[str], remote: RemoteJudge | None = None
) -> int:
    """`pgask check-sql [SQL] [-p PROFILE] [--mode read-only|read-write] [--json | --batch]`."""
    parser = _cli_parser()
    try:
        args = parser.parse_args(argv)
        if args.batch and args.sql is not None:
            raise _UsageError(
                "--batch reads its SQL texts from stdin; do not pass SQL as an argument"
            )
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"pgask check-sql: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    mode: Mode = args.mode
    if args.profile and remote is None:
        print("pgask check-sql: error: -p needs the pgask command", file=sys.stderr)
        return 2
    judge_texts = (
        _remote_judge(remote, args.config, args.profile) if args.profile else _judge_locally
    )
    if args.batch:
        return _run_batch(stdin, stdout, mode, args.preview, judge_texts)
    sql = args.sql if args.sql is not None else stdin.read()
    (verdict,) = judge_texts([sql], mode, args.preview)
    if isinstance(verdict, Failure):
        print(_failure_text(verdict), file=sys.stderr)
        return 1
    assert isinstance(verdict, Verdict)
    if args.json:
        data = msgspec.to_builtins(verdict)
        data.pop("signature", None)
        if args.profile:
            data["profile"] = redact_secrets(args.profile)
        stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        stdout.write(_human(verdict, mode))
        if args.profile:
            shown = redact_secrets(args.profile)  # a URL may carry a password
            stdout.write(f"  judged against the catalog of profile '{shown}'\n")
    return 0


_Judge = Callable[[list[str], Mode, bool], list[Body]]


def _judge_locally(texts: list[str], mode: Mode, preview: bool) -> list[Body]:
    return [
        verdict_for(classify(t), t, profile="", mode=mode, preview=preview, key=None) for t in texts
    ]


def _remote_judge(remote: RemoteJudge | None, config: str | None, profile: str) -> _Judge:
    assert remote is not None
    return lambda texts, mode, preview: remote(config, profile, texts, mode, preview)


def _failure_text(f: Failure) -> str:
    lines = [f"pgask check-sql: {f.message}"]
    lines += [f"  {text}" for text in (f.why, f.hint) if text]
    return "\n".join(lines)


def _run_batch(stdin: IO[str], stdout: IO[str], mode: Mode, preview: bool, judge: _Judge) -> int:
    items: list[tuple[Any, str | None, str]] = []  # (id, sql, error)
    for line_no, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            items.append((line_no, None, f"line {line_no} is not JSON: {exc}"))
            continue
        ident = item.get("id", line_no) if isinstance(item, dict) else line_no
        sql = item.get("sql") if isinstance(item, dict) else None
        if not isinstance(sql, str):
            items.append((ident, None, f'line {line_no} has no "sql" string'))
        else:
            items.append((ident, sql, ""))
    verdicts = iter(judge([sql for _i, sql, _e in items if sql is not None], mode, preview))
    failed = False
    for ident, sql, error in items:
        v = next(verdicts) if sql is not None else None
        if isinstance(v, Verdict):  # the keys of --json (one verdict), plus the line's id
            out: dict[str, Any] = {"id": ident, **msgspec.to_builtins(v)}
            out.pop("signature", None)
        elif isinstance(v, Failure):
            failed = True
            out = {"id": ident, "error": v.message, "why": v.why, "hint": v.hint}
        else:
            out = {"id": ident, "error": error}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 1 if failed else 0


def _human(v: Verdict, mode: Mode) -> str:
    what = {
        "run": "runs",
        "preview": "shown first, Enter runs it",
        "confirm": "asks yes/no first",
        "typed": f"you must type {v.confirm_name!r} to run it",
        "refuse": "refused",
    }[v.confirm]
    lines = [f"{v.sql_class}: {what} (mode {mode})"]
    if v.error is not None:
        e = v.error
        where = f" (line {e.line}, column {e.column})" if e.line else ""
        lines.append(f"  {e.message}{where}")
        if e.snippet:
            lines.extend("    " + s for s in e.snippet.split("\n"))
    for s in v.statements:
        lines.append(f"  {s.index + 1}. {s.kind} [{s.sql_class}]")
        for r in s.reasons:
            lines.append(f"       {r}")
        if s.tables:
            lines.append(f"       tables: {', '.join(s.tables)}")
    return "\n".join(lines) + "\n"
