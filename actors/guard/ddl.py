"""Statement rules for schema changes: views, tables, indexes, functions (and their bodies),
extensions, DROP, TRUNCATE, ALTER, maintenance (registered in actors/guard/statements.py)."""

from __future__ import annotations

from typing import Any

from actors.guard.dml import option_true
from actors.guard.functions import ALLOWED_FUNCTION_LANGUAGES, FORBIDDEN_EXTENSIONS
from actors.guard.tree import (
    CLASSES,
    DDL,
    DESTRUCTIVE,
    FORBIDDEN,
    object_name,
    object_word,
    relname,
    sval,
)
from actors.guard.walk import TextContext, Walk


def stmt_view(w: Walk, body: dict[str, Any], ex: bool) -> str:
    w.flag(DDL, f"CREATE VIEW creates the view {relname(body.get('view', {}))}")
    w.fields(body, False)
    return "CREATE VIEW"


def stmt_create_table(w: Walk, body: dict[str, Any], ex: bool) -> str:
    rel = body.get("relation", {})
    temp = " temporary" if rel.get("relpersistence") == "t" else ""
    w.flag(DDL, f"CREATE TABLE creates the{temp} table {relname(rel)}")
    w.fields(body, False)
    return "CREATE TABLE"


def stmt_index(w: Walk, body: dict[str, Any], ex: bool) -> str:
    label = "CREATE UNIQUE INDEX" if body.get("unique") else "CREATE INDEX"
    if body.get("concurrent"):
        label += " CONCURRENTLY"
    idx = body.get("idxname", "")
    on = relname(body.get("relation", {}))
    w.flag(DDL, f"{label} builds {'the index ' + idx + ' ' if idx else 'an index '}on {on}")
    w.fields(body, ex)
    return label


def stmt_function(w: Walk, body: dict[str, Any], ex: bool) -> str:
    """CREATE FUNCTION / PROCEDURE is judged by its body: a forbidden body makes it forbidden,
    dynamic SQL (EXECUTE of a string) destructive (typed, naming the function)."""
    label = "CREATE PROCEDURE" if body.get("is_procedure") else "CREATE FUNCTION"
    language, text_body = "sql", None
    for opt in body.get("options", ()):
        d = opt.get("DefElem", {})
        if d.get("defname") == "language":
            language = sval(d.get("arg", {})).lower()
        elif d.get("defname") == "as":
            items = d.get("arg", {}).get("List", {}).get("items", ())
            text_body = sval(items[0]) if items else ""
    name = ".".join(sval(n) for n in body.get("funcname", ()))
    if language not in ALLOWED_FUNCTION_LANGUAGES:
        why = (
            f"{label} {name} uses the language {language}, whose body the guard cannot read "
            "(untrusted languages reach the server's OS)"
        )
        if w.ctx.rules.allow_untrusted_languages:
            w.destructive(why + "; allowed by [safety] allow_untrusted_languages", name)
        else:
            w.flag(
                FORBIDDEN,
                why + "; only sql and plpgsql are allowed "
                "unless [safety] allow_untrusted_languages = true",
            )
        return label
    w.flag(DDL, f"{label} creates {name} in {language}")
    if "sql_body" in body:  # BEGIN ATOMIC: already parsed
        inner = Walk(w.ctx.fresh())
        inner.visit(body["sql_body"], True)
        found = [(inner.rank, r) for _, r in inner.reasons]
    elif language == "plpgsql":
        found = _plpgsql_body(w.ctx)
    else:
        c = w.ctx.classify(text_body or "", w.ctx.rules)
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


def _plpgsql_body(ctx: TextContext) -> list[tuple[int, str]]:
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
                found.append(
                    (
                        DESTRUCTIVE,
                        "it runs dynamic SQL (EXECUTE of a string), which the guard cannot check",
                    )
                )
            if key == "PLpgSQL_expr" and isinstance(val, dict):
                query = str(val.get("query", ""))
                text = query if val.get("parseMode", 0) == 0 else f"SELECT {query}"
                c = ctx.classify(text, ctx.rules)
                if c.sql_class not in ("read", "invalid"):
                    found.extend((CLASSES.index(c.sql_class), r) for r in c.reasons)
            visit(val)

    visit(tree)
    return found


def stmt_extension(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("extname", "")
    if name in FORBIDDEN_EXTENSIONS:
        w.flag(FORBIDDEN, f"CREATE EXTENSION {name}: {FORBIDDEN_EXTENSIONS[name]}")
    else:
        w.flag(DDL, f"CREATE EXTENSION installs the extension {name}")
    w.fields(body, False)
    return "CREATE EXTENSION"


def stmt_drop(w: Walk, body: dict[str, Any], ex: bool) -> str:
    what = object_word(body.get("removeType", ""))
    names = [object_name(o) for o in body.get("objects", ())]
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


def stmt_truncate(w: Walk, body: dict[str, Any], ex: bool) -> str:
    names = [relname(r.get("RangeVar", {})) for r in body.get("relations", ())]
    w.destructive(f"TRUNCATE removes every row of {', '.join(names)}", names[0] if names else "")
    w.fields(body, False)
    return "TRUNCATE"


def stmt_alter_table(w: Walk, body: dict[str, Any], ex: bool) -> str:
    what = object_word(body.get("objtype", "OBJECT_TABLE"))
    rel = body.get("relation", {})
    target = relname(rel)
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


def stmt_rename(w: Walk, body: dict[str, Any], ex: bool) -> str:
    what = object_word(body.get("renameType", ""))
    new = body.get("newname", "")
    if what in ("ROLE", "USER", "DATABASE"):
        w.flag(FORBIDDEN, f"ALTER {what} … RENAME changes a {what.lower()} (server administration)")
    else:
        w.flag(DDL, f"ALTER {what} … RENAME renames an object to {new}")
    w.fields(body, False)
    return f"ALTER {what} RENAME"


def stmt_vacuum(w: Walk, body: dict[str, Any], ex: bool) -> str:
    names = [relname(r.get("VacuumRelation", {}).get("relation", {})) for r in body.get("rels", ())]
    shown = ", ".join(names) if names else "every table of the database"
    if not body.get("is_vacuumcmd"):
        w.flag(DDL, f"ANALYZE updates the planner statistics of {shown}")
        w.fields(body, False)
        return "ANALYZE"
    full = False
    for opt in body.get("options", ()):
        d = opt.get("DefElem", {})
        if d.get("defname") == "full":
            full = option_true(d.get("arg"))
    if full:
        w.destructive(
            f"VACUUM FULL rewrites {shown} under an ACCESS EXCLUSIVE lock",
            names[0] if names else "VACUUM FULL",
        )
    else:
        w.flag(DDL, f"VACUUM reclaims space in {shown}")
    w.fields(body, False)
    return "VACUUM FULL" if full else "VACUUM"


def stmt_cluster(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = relname(body.get("relation", {})) if "relation" in body else ""
    w.destructive(
        f"CLUSTER rewrites {name or 'every clustered table'} under an ACCESS EXCLUSIVE lock",
        name or "CLUSTER",
    )
    w.fields(body, False)
    return "CLUSTER"


def stmt_reindex(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = relname(body.get("relation", {})) if "relation" in body else body.get("name", "")
    w.destructive(
        f"REINDEX rebuilds the indexes of {name or 'the database'} and blocks writes",
        name or "REINDEX",
    )
    w.fields(body, False)
    return "REINDEX"


def stmt_dropdb(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("dbname", "")
    w.destructive(f"DROP DATABASE deletes the whole database {name}", name)
    return "DROP DATABASE"


def stmt_create_schema(w: Walk, body: dict[str, Any], ex: bool) -> str:
    w.flag(DDL, f"CREATE SCHEMA creates the schema {body.get('schemaname', '')}".rstrip())
    w.fields(body, ex)
    return "CREATE SCHEMA"


def stmt_define(w: Walk, body: dict[str, Any], ex: bool) -> str:
    what = object_word(body.get("kind", ""))
    w.flag(DDL, f"CREATE {what} adds a new {what.lower()} to the schema")
    w.fields(body, False)
    return f"CREATE {what}"


def stmt_comment(w: Walk, body: dict[str, Any], ex: bool) -> str:
    what = object_word(body.get("objtype", ""))
    w.flag(DDL, f"COMMENT ON {what} changes the comment stored in the catalog")
    w.fields(body, False)
    return "COMMENT"


def stmt_refresh(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = relname(body.get("relation", {}))
    w.flag(DDL, f"REFRESH MATERIALIZED VIEW recomputes {name}")
    w.fields(body, False)
    return "REFRESH MATERIALIZED VIEW"


def stmt_rule(w: Walk, body: dict[str, Any], ex: bool) -> str:
    w.flag(
        DDL,
        f"CREATE RULE {body.get('rulename', '')} rewrites future queries on {relname(body.get('relation', {}))}",
    )
    w.fields(body, False)
    return "CREATE RULE"
