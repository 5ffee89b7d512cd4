"""TEMPORARY stand-in for ui/engine.py + ui/drive.py (issue 18), with the same interface, so
`pgask mcp` runs before the engine lands. Deleted at the merge: it must not become a copy."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import trio

from protocol.messages import (
    AuditNote,
    Clarification,
    Column,
    ExplainPlan,
    ExplainRequest,
    Failure,
    GuardRequest,
    Plan,
    PlanRequest,
    QueryCancel,
    QueryCancelled,
    QueryColumns,
    QueryDone,
    QueryRequest,
    QueryRows,
    SessionAddTurn,
    Turn,
    Verdict,
)
from ui import workflow


@dataclass(frozen=True)
class JobRequest:
    kind: Literal["ask", "sql", "explain"]
    text: str
    profile: str
    mode: Any
    analyze: bool = False
    max_rows: int = 0
    planner: str = ""
    via: str = ""


@dataclass(frozen=True)
class Ask:
    verdict: Verdict
    sql: str
    estimate: str = ""


@dataclass
class JobResult:
    outcome: str = ""
    plan: Plan | None = None
    clarification: Clarification | None = None
    verdict: Verdict | None = None
    columns: list[Column] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    done: QueryDone | None = None
    explain: ExplainPlan | None = None
    failure: Failure | None = None


async def run_job(
    client: Any,
    config: Any,
    request: JobRequest,
    *,
    answer: Callable[[Ask], Awaitable[bool | str | None]],
    on_event: Any = None,
    cancel: trio.Event | None = None,
) -> JobResult:
    result = JobResult()
    sql = request.text
    if request.kind == "ask":
        plan = await client.request(
            "planner",
            PlanRequest(
                question=request.text,
                profile=request.profile,
                mode=request.mode,
                planner=request.planner or "auto",
            ),
            timeout=300,
        )
        if isinstance(plan, Failure):
            result.failure, result.outcome = plan, f"error {plan.code}"
            return result
        if isinstance(plan, Clarification):
            result.clarification, result.outcome = plan, "clarification"
            return result
        result.plan, sql = plan, plan.sql
    verdict = await client.request(
        "guard", GuardRequest(sql=sql, profile=request.profile, mode=request.mode), timeout=60
    )
    if isinstance(verdict, Failure):
        result.failure, result.outcome = verdict, f"error {verdict.code}"
        return result
    result.verdict = verdict
    step = workflow.gate(verdict)
    note = dict(
        sql_class=verdict.sql_class,
        normalized=verdict.normalized,
        reasons=verdict.reasons,
        mode=request.mode,
        via=request.via,
        question=request.text if request.kind == "ask" else "",
    )
    if step in ("invalid", "refused", "stacked"):
        if step == "refused":
            await client.send(f"executor:{request.profile}", AuditNote(decision="refused", **note))
        result.outcome = "invalid" if step == "invalid" else "refused"
        return await _record(client, request, sql, result)
    confirmed = False
    if request.kind == "explain" and not request.analyze:
        confirmed = verdict.sql_class != "read"  # EXPLAIN alone runs nothing
    elif step == "ask":
        said = await answer(Ask(verdict=verdict, sql=sql))
        typed = said if isinstance(said, str) else None
        if not workflow.accepted(verdict, yes=said is True, typed=typed):
            await client.send(f"executor:{request.profile}", AuditNote(decision="declined", **note))
            result.outcome = "declined"
            return await _record(client, request, sql, result)
        confirmed = verdict.confirm != "preview"
    assert verdict.signature is not None
    target = f"executor:{request.profile}"
    if request.kind == "explain":
        reply = await client.request(
            target,
            ExplainRequest(
                sql=sql, verdict=verdict.signature, analyze=request.analyze, confirmed=confirmed
            ),
            timeout=600,
        )
        if isinstance(reply, Failure):
            result.failure, result.outcome = reply, f"error {reply.code}"
        else:
            result.explain, result.outcome = reply, "explained"
        return result
    query = QueryRequest(
        sql=sql,
        verdict=verdict.signature,
        confirmed=confirmed,
        max_rows=request.max_rows,
        decision=workflow.query_decision(verdict),
        normalized=verdict.normalized,
        reasons=verdict.reasons,
        question=note["question"],
        via=request.via,
    )
    query_id = client.ids()
    async with trio.open_nursery() as nursery:
        if cancel is not None:

            async def watch() -> None:
                await cancel.wait()
                await client.send(target, QueryCancel(target=query_id))

            nursery.start_soon(watch)
        async for _h, body in client.stream(target, query, request_id=query_id):
            if isinstance(body, QueryColumns):
                result.columns = list(body.columns)
            elif isinstance(body, QueryRows):
                result.rows.extend(body.rows)
            elif isinstance(body, QueryDone):
                result.done = body
                result.outcome = workflow.run_outcome(
                    has_columns=bool(result.columns),
                    rows=body.rows,
                    truncated=body.truncated,
                    command=body.command,
                )
            elif isinstance(body, QueryCancelled):
                result.outcome = "cancelled"
            elif isinstance(body, Failure):
                result.failure, result.outcome = body, f"error {body.code}"
        nursery.cancel_scope.cancel()
    if cancel is not None and cancel.is_set() and result.done is None:
        result.outcome = "cancelled"
    return await _record(client, request, sql, result)


async def _record(client: Any, request: JobRequest, sql: str, result: JobResult) -> JobResult:
    turn = Turn(
        profile=request.profile,
        question=request.text if request.kind == "ask" else "",
        sql=sql,
        outcome=result.outcome,
        at=time.time(),
    )
    with trio.move_on_after(10):
        await client.request("supervisor", SessionAddTurn(turn=turn), timeout=10)
    return result
