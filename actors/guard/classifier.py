"""classify(): the class of every statement of a SQL text. Pure, no I/O, never raises.

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
    read-only tables of actors/guard/functions.py is a `write` (user-defined functions can do
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

import gc
import sys
from typing import Any, Final

import msgspec
from pglast import parser as _pg

from actors.guard.statements import STATEMENTS
from actors.guard.tree import (
    CLASSES,
    DESTRUCTIVE,
    FORBIDDEN,
    READ,
    TEXT_ONLY,
    Classification,
    Rules,
)
from actors.guard.walk import TextContext, Walk
from protocol.messages import SqlError, StatementVerdict

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
    ctx = TextContext(rules, STATEMENTS, _classify)
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
        w = Walk(ctx)
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
