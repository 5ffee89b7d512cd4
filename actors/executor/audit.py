"""The executor's audit trail: every statement it runs is an intent record written before
and an outcome record after (`with audited(...)`), durable before a write runs."""

from __future__ import annotations

from typing import Any

from actors._runtime import Request
from actors.executor.state import ExecState
from protocol import signing
from protocol.errors import DatabaseError

# -- handlers ------------------------------------------------------------------------------


def audit_sql(state: ExecState, sql: str, normalized: str) -> str:
    if state.full_sql:
        return sql
    return (
        normalized
        or f"<{len(sql)} characters, literals not stored; sha256 {signing.sql_digest(sql)[:16]}>"
    )


def write_audit(
    state: ExecState, req: Request, record: dict[str, Any], *, durable: bool = False
) -> int:
    if state.audit is None:
        if state.audit_error:  # nothing runs unaudited
            raise DatabaseError(
                f"The executor for '{state.profile}' cannot write its audit trail, so it runs nothing.",
                why=state.audit_error,
                hint="Make the state directory writable (or free space), then run the statement again.",
                code="audit.unavailable",
            )
        return 0
    base = {"session": req.runtime.boot.session, "trace": req.header.trace, "profile": state.profile,
            "os_user": state.os_user, "db_role": state.role}  # fmt: skip
    return int(state.audit.append({**base, **record}, durable=durable)["seq"])
