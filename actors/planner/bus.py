"""What the planner asks other actors: a guard verdict, the rows of a read it needs itself."""

from __future__ import annotations

from typing import Any

import trio

from actors._runtime import Request
from protocol.messages import (
    Failure,
    GuardRequest,
    PlanRequest,
    QueryRequest,
    QueryRows,
    Verdict,
)


async def check_sql(req: Request, msg: PlanRequest, sql: str) -> Verdict | Failure | None:
    """The guard's verdict (it parses with PostgreSQL's grammar); None when it cannot answer."""
    try:
        reply = await req.runtime.request(
            "guard",
            GuardRequest(sql=sql, profile=msg.profile, mode=msg.mode),
            trace=req.header.trace,
            timeout=30,
        )
    except trio.TooSlowError:
        return None
    return reply if isinstance(reply, Verdict | Failure) else None


async def read_rows(req: Request, msg: PlanRequest, sql: str) -> list[Any] | None:
    """Every row of a read the planner needs itself (guard-checked); None when it cannot run."""
    check = PlanRequest(question="", profile=msg.profile, mode="read-only")
    verdict = await check_sql(req, check, sql)
    if not isinstance(verdict, Verdict) or verdict.signature is None or verdict.sql_class != "read":
        return None
    rows: list[Any] = []
    async for _h, body in req.runtime.stream(
        f"executor:{msg.profile}",
        QueryRequest(sql=sql, verdict=verdict.signature, question="(offline planner value index)"),
        trace=req.header.trace,
    ):
        if isinstance(body, QueryRows):
            rows.extend(body.rows)
        elif isinstance(body, Failure):
            return None
    return rows
