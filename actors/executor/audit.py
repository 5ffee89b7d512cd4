"""The executor's audit trail: every statement it runs is an intent record written before
and an outcome record after (`with audited(...)`), durable before a write runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from actors._runtime import Request
from actors.executor.state import ExecState
from protocol import signing
from protocol.errors import DatabaseError


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
    base = {
        "session": req.runtime.boot.session,
        "trace": req.header.trace,
        "profile": state.profile,
        "os_user": state.os_user,
        "db_role": state.role,
    }
    return int(state.audit.append({**base, **record}, durable=durable)["seq"])


@dataclass
class Audited:
    """The outcome record of one audited block: `ok(...)` says the block succeeded."""

    intent: int  # the intent record's sequence number
    started: float
    record: dict[str, Any]

    def ok(self, **fields: Any) -> None:
        self.record.update(outcome="ok", **fields)

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@contextmanager
def audited(
    state: ExecState,
    req: Request,
    intent: dict[str, Any],
    *,
    durable: bool = False,
    errors: type[BaseException] = DatabaseError,
) -> Iterator[Audited]:
    """Intent -> try -> outcome: the intent record is written before the block runs (on disk
    first when `durable`), and its outcome after it, whatever happens: `ok` when the block
    called .ok(), `error` (with the code) for an `errors` exception, else `cancelled`."""
    seq = write_audit(state, req, {"type": "intent", **intent}, durable=durable)
    block = Audited(seq, time.perf_counter(), {"type": "outcome", "intent": seq})
    block.record["outcome"] = "cancelled"
    try:
        yield block
    except errors as exc:
        block.record.update(outcome="error", error=getattr(exc, "code", type(exc).__name__))
        raise
    finally:
        block.record["ms"] = round(block.elapsed_ms, 3)
        write_audit(state, req, block.record, durable=durable)
