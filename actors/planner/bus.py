"""What the planner asks other actors: the catalog, a guard verdict, the rows of a read it
needs itself."""

from __future__ import annotations

from typing import Any

import trio

from actors._runtime import Request
from actors.planner.state import PlannerState
from protocol.messages import (
    Catalog,
    CatalogRequest,
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


async def current_catalog(state: PlannerState, profile: str, req: Request) -> Catalog | Failure:
    """The profile's catalog from its executor; the one kept here when it is still current
    (then only its fingerprint travels)."""
    kept = state.catalogs.get(profile)
    reply = await req.runtime.request(
        f"executor:{profile}",
        CatalogRequest(known=kept.fingerprint if kept else ""),
        trace=req.header.trace,
        timeout=120,
    )
    if isinstance(reply, Failure):
        return reply
    assert isinstance(reply, Catalog)
    if reply.unchanged and kept is not None and kept.fingerprint == reply.fingerprint:
        return kept
    state.catalogs[profile] = reply
    return reply
