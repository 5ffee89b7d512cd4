"""The per-statement walk: every node of a statement's tree is visited, so a function call, a
row lock or a data-modifying statement counts wherever it sits. Expression-level nodes are
judged here; statements by the table in actors/guard/statements.py, which the walk reaches
through its TextContext (so this module need not import the statement rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.guard.functions import (
    SENSITIVE_RELATIONS,
    SQL_JSON_SINCE,
    TABLESAMPLE_METHODS,
    function_verdict,
)
from actors.guard.tree import (
    DESTRUCTIVE,
    FORBIDDEN,
    READ,
    WRITE,
    Classification,
    Rules,
    relname,
    sval,
    words_of,
)

# A statement rule: a fixed (label, rank, reason), or a function of the walk that decides.
Rule = tuple[str, int, str] | Callable[["Walk", dict[str, Any], bool], str]
# classify() of a whole text, for the texts a statement carries (function bodies)
ClassifyText = Callable[[str, Rules], Classification]


class TextContext:
    """What earlier statements of the same text declared (prepared statements, cursors), the
    rules in force, and the text of the statement being walked; with the statement table and
    the text classifier, which the walk and the statement rules reach through it."""

    __slots__ = ("classify", "cursors", "prepared", "rules", "statements", "text")

    def __init__(self, rules: Rules, statements: dict[str, Rule], classify: ClassifyText) -> None:
        self.prepared: dict[str, tuple[int, list[tuple[int, str]]]] = {}
        self.cursors: set[str] = set()
        self.rules = rules
        self.statements = statements
        self.classify = classify
        self.text = ""

    def fresh(self) -> TextContext:
        """A context for a text of its own (a function body) under the same rules."""
        return TextContext(self.rules, self.statements, self.classify)


class Walk:
    """Accumulates one statement's class, reasons, tables and functions while visiting it."""

    __slots__ = (
        "confirm_name",
        "ctes",
        "ctx",
        "functions",
        "rank",
        "reasons",
        "statements",
        "tables",
    )

    def __init__(self, ctx: TextContext) -> None:
        self.ctx = ctx
        self.statements = ctx.statements
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
        name = relname(rv)
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
        if kind in self.statements:
            self.statement(kind, body, ex)
            return
        if kind not in _PLAIN_NODES and self.rank < WRITE:
            self.flag(WRITE, f"the guard does not recognise the construct {kind}")
        self.fields(body, ex)

    def statement(self, kind: str, body: dict[str, Any], ex: bool) -> str:
        rule = self.statements.get(kind)
        if rule is None:
            self.flag(FORBIDDEN, f"the guard does not recognise {kind} statements")
            self.fields(body, False)
            return words_of(kind)
        if callable(rule):
            return rule(self, body, ex)
        label, rank, reason = rule
        self.flag(rank, reason)
        self.fields(body, False)
        return label

    # -- function calls --------------------------------------------------------------------

    def call(self, body: dict[str, Any]) -> None:
        parts = [sval(n) for n in body.get("funcname", ())]
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


def _n_funccall(w: Walk, body: dict[str, Any], ex: bool) -> None:
    w.call(body)
    w.fields(body, ex)


def _n_rangevar(w: Walk, body: dict[str, Any], ex: bool) -> None:
    w.add_table(body)


def _n_locking(w: Walk, body: dict[str, Any], ex: bool) -> None:
    if ex:
        strength = _LOCK_WORDS.get(body.get("strength", ""), "FOR UPDATE")
        w.flag(WRITE, f"SELECT … {strength} locks the rows it reads (other sessions wait)")
    w.fields(body, ex)


def _n_cte(w: Walk, body: dict[str, Any], ex: bool) -> None:
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


def _n_tablesample(w: Walk, body: dict[str, Any], ex: bool) -> None:
    method = [sval(n) for n in body.get("method", ())]
    if len(method) == 2 and method[0] == "pg_catalog":
        method = method[1:]
    if len(method) != 1 or method[0] not in TABLESAMPLE_METHODS:
        w.flag(WRITE, f"TABLESAMPLE {'.'.join(method)} is not a known read-only sampling method")
    w.fields(body, ex)


_JSON_FUNC_OPS = {
    "JSON_EXISTS_OP": "json_exists",
    "JSON_QUERY_OP": "json_query",
    "JSON_VALUE_OP": "json_value",
    "JSON_TABLE_OP": "json_table",
}


_BUILTIN_BEFORE_SQL_JSON = frozenset({"json_object"})  # json_object(text[]) since 9.4


def _n_sql_json(kind: str) -> Callable[[Walk, dict[str, Any], bool], None]:
    """SQL/JSON syntax, which a server older than the guard's grammar reads as a plain call of
    a function with that name (possibly a user's): judged as that call."""
    since, name = SQL_JSON_SINCE[kind]

    def handler(w: Walk, body: dict[str, Any], ex: bool) -> None:
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
                    w.flag(
                        rank,
                        f"PostgreSQL {major} reads {fn.upper()}(…) as a call of a "
                        f"function named {fn}: {why}",
                    )
        w.fields(body, ex)

    return handler


_NODE_HANDLERS: dict[str, Callable[[Walk, dict[str, Any], bool], None]] = {
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


def _first_string_arg(body: dict[str, Any]) -> str:
    args = body.get("args") or [{}]
    const = args[0].get("A_Const") or args[0].get("TypeCast", {}).get("arg", {}).get("A_Const")
    if const and "sval" in const:
        return const["sval"].get("sval", "")
    return ""


# =============================================================================================
