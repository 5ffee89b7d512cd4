"""Statement rules for queries and the statements that change rows: SELECT, INSERT, UPDATE,
DELETE, MERGE, EXPLAIN, COPY, CREATE TABLE AS (registered in actors/guard/statements.py)."""

from __future__ import annotations

from typing import Any

from actors.guard.conditions import row_dependent, target_names, truth_of
from actors.guard.tree import DDL, FORBIDDEN, READ, WRITE, relname
from actors.guard.walk import Walk

# Statement rules
# =============================================================================================


def stmt_select(w: Walk, body: dict[str, Any], ex: bool) -> str:
    label = "SELECT"
    if "valuesLists" in body and "targetList" not in body:
        label = "VALUES"
    elif _is_table_command(body):
        label = "TABLE"
    into = body.get("intoClause")
    if into is not None:
        label = "SELECT INTO"
        if ex:
            w.flag(DDL, f"SELECT … INTO creates the table {relname(into.get('rel', {}))}")
    w.fields(body, ex)
    return label


def _is_table_command(body: dict[str, Any]) -> bool:
    targets = body.get("targetList", ())
    if len(targets) != 1:
        return False
    ref = targets[0].get("ResTarget", {}).get("val", {}).get("ColumnRef", {})
    return ref.get("location", 0) == -1 and ref.get("fields") == [{"A_Star": {}}]


def stmt_insert(w: Walk, body: dict[str, Any], ex: bool) -> str:
    rel = body.get("relation", {})
    if ex:
        _check_catalog(w, rel, "INSERT")
        w.flag(WRITE, f"INSERT adds rows to {relname(rel)}")
        if body.get("onConflictClause", {}).get("action") == "ONCONFLICT_UPDATE":
            w.flag(WRITE, f"ON CONFLICT DO UPDATE changes existing rows of {relname(rel)}")
    w.fields(body, ex)
    return "INSERT"


def stmt_update(w: Walk, body: dict[str, Any], ex: bool) -> str:
    if ex:
        _filtered_dml(w, body, "UPDATE", "changes")
    w.fields(body, ex)
    return "UPDATE"


def stmt_delete(w: Walk, body: dict[str, Any], ex: bool) -> str:
    if ex:
        _filtered_dml(w, body, "DELETE", "removes")
    w.fields(body, ex)
    return "DELETE"


def _filtered_dml(w: Walk, body: dict[str, Any], verb: str, does: str) -> None:
    rel = body.get("relation", {})
    target = relname(rel)
    _check_catalog(w, rel, verb)
    where = body.get("whereClause")
    if where is None:
        w.destructive(f"{verb} without a WHERE clause {does} every row of {target}", target)
        return
    if "CurrentOfExpr" in where:
        w.flag(WRITE, f"{verb} {does} the row of {target} under cursor {_cursor_of(where)}")
        return
    names = target_names(rel)
    truth = truth_of(where)
    if truth is True:
        w.destructive(
            f"{verb} with an always-true WHERE condition {does} every row of {target}", target
        )
    elif truth is False or truth is None:
        w.flag(WRITE, f"{verb} on {target} has a WHERE condition that is never true")
    elif not row_dependent(where, names):
        w.destructive(
            f"{verb} has a WHERE condition that does not refer to the rows of {target}, "
            f"so it {does} every row or none",
            target,
        )
    else:
        w.flag(WRITE, f"{verb} {does} the rows of {target} that match its WHERE clause")


def _cursor_of(where: dict[str, Any]) -> str:
    return str(where["CurrentOfExpr"].get("cursor_name", ""))


def stmt_merge(w: Walk, body: dict[str, Any], ex: bool) -> str:
    if ex:
        rel = body.get("relation", {})
        target = relname(rel)
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
        truth = truth_of(cond)
        if matched and (truth is True or not row_dependent(cond, target_names(rel))):
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


def _check_catalog(w: Walk, rel: dict[str, Any], verb: str) -> None:
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
        w.flag(FORBIDDEN, f"{verb} on {relname(rel)} modifies a PostgreSQL system catalog{extra}")


def stmt_explain(w: Walk, body: dict[str, Any], ex: bool) -> str:
    analyze = False
    for opt in body.get("options", ()):
        d = opt.get("DefElem", {})
        if d.get("defname") == "analyze":
            analyze = option_true(d.get("arg"))
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


def option_true(arg: dict[str, Any] | None) -> bool:
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
            return option_true({"String": val["sval"]})
    return True


def stmt_copy(w: Walk, body: dict[str, Any], ex: bool) -> str:
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
            w.flag(WRITE, f"COPY … FROM STDIN inserts rows into {relname(rel)}")
        else:
            w.flag(WRITE, "COPY … FROM STDIN inserts rows")
    w.fields(body, ex)
    return "COPY"


def stmt_ctas(w: Walk, body: dict[str, Any], ex: bool) -> str:
    label = (
        "CREATE MATERIALIZED VIEW" if body.get("objtype") == "OBJECT_MATVIEW" else "CREATE TABLE AS"
    )
    if ex:
        name = relname(body.get("into", {}).get("rel", {}))
        w.flag(DDL, f"{label} creates {name}")
    w.fields(body, ex)
    return label
