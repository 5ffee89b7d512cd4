"""Statement rules for session and transaction control: SET, BEGIN/COMMIT, GRANT, LOCK,
PREPARE/EXECUTE/DEALLOCATE, cursors, CALL (registered in actors/guard/statements.py)."""

from __future__ import annotations

from typing import Any

from actors.guard.functions import function_verdict
from actors.guard.tree import FORBIDDEN, WRITE, relname, sval
from actors.guard.walk import Walk


def stmt_set(w: Walk, body: dict[str, Any], ex: bool) -> str:
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


def stmt_transaction(w: Walk, body: dict[str, Any], ex: bool) -> str:
    label = _TRANSACTION_WORDS.get(body.get("kind", ""), "transaction control")
    w.flag(
        FORBIDDEN,
        f"{label} is transaction control: it would end or reshape pgask's own transaction, "
        "and later statements would run outside it",
    )
    w.fields(body, False)
    return label


def stmt_grant(w: Walk, body: dict[str, Any], ex: bool) -> str:
    label = "GRANT" if body.get("is_grant") else "REVOKE"
    w.flag(FORBIDDEN, f"{label} changes who may access what (privileges are not pgask's to change)")
    w.fields(body, False)
    return label


def stmt_lock(w: Walk, body: dict[str, Any], ex: bool) -> str:
    names = [relname(r.get("RangeVar", {})) for r in body.get("relations", ())]
    w.flag(FORBIDDEN, f"LOCK TABLE blocks other sessions from using {', '.join(names)}")
    w.fields(body, False)
    return "LOCK TABLE"


def stmt_prepare(w: Walk, body: dict[str, Any], ex: bool) -> str:
    before = len(w.reasons)
    w.fields(body, True)  # classified as it will run when EXECUTEd
    name = body.get("name", "")
    w.ctx.prepared[name] = (w.rank, list(w.reasons[before:]))
    return "PREPARE"


def stmt_execute(w: Walk, body: dict[str, Any], ex: bool) -> str:
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


def stmt_deallocate(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("name")
    if body.get("isall") or name is None or name not in w.ctx.prepared:
        w.flag(
            FORBIDDEN,
            "DEALLOCATE drops prepared statements of the session that the guard did not see",
        )
    return "DEALLOCATE"


def stmt_declare(w: Walk, body: dict[str, Any], ex: bool) -> str:
    name = body.get("portalname", "")
    if body.get("options", 0) & 0x20:  # CURSOR_OPT_HOLD
        w.flag(
            WRITE, f"DECLARE {name} … WITH HOLD keeps the cursor open after the transaction ends"
        )
    w.ctx.cursors.add(name)
    w.fields(body, ex)
    return "DECLARE CURSOR"


def stmt_fetch(w: Walk, body: dict[str, Any], ex: bool) -> str:
    label = "MOVE" if body.get("ismove") else "FETCH"
    name = body.get("portalname", "")
    if name not in w.ctx.cursors:
        w.flag(
            WRITE,
            f"{label} uses the cursor {name}, declared outside this text; the guard cannot see its query",
        )
    return label


def stmt_call(w: Walk, body: dict[str, Any], ex: bool) -> str:
    call = body.get("funccall", {})
    parts = [sval(n) for n in call.get("funcname", ())]
    shown = ".".join(parts)
    if shown not in w.functions:
        w.functions.append(shown)
    rank, reason = function_verdict(tuple(parts), len(call.get("args", ())))
    if rank == FORBIDDEN:
        w.flag(FORBIDDEN, reason)
    w.flag(WRITE, f"CALL runs the procedure {shown}, which can change data")
    w.fields(call, ex)
    return "CALL"
