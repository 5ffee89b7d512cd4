"""`pgask ask --batch` and `pgask context --batch`: many questions through one actor tree.

Input, on stdin: one JSON object a line, `{"id": ..., "question": "..."}` (`id` is echoed
as given: any JSON value). Blank lines are skipped. Output, on stdout, one line per input
line, in input order:

  ask --batch      {"id", "sql", "columns", "rows"}      the plan ran (rows are lists of
                                                           JSON values, numeric exact;
                                                           "truncated": true when --max-rows cut it)
                   {"id", "clarify", "options"}          the planner asks back; nothing ran
                   {"id", "error"}                       the plan was not a read, or failed
  context --batch  {"id", "context", "tables", "tokens"} the schema context for the question

Every question stands alone: no conversation is sent with it and none is recorded, so a
line's answer does not depend on the lines before it. Only reads run: the session is
read-only whatever [safety] default_mode says, and a plan the guard does not pass as a read
is an `error` line saying it was not run (refusals are audited, as for `pgask ask`). A read
that fails before returning rows is sent back to the planner once, as `pgask ask` does
(ui/workflow.py decides both).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TextIO

from ui import workflow
from ui.format import json_dumps, json_value
from ui.headless import EXIT_BROKEN_PIPE, EXIT_OK, EXIT_USAGE, decide, request_plan


@dataclass(frozen=True)
class BatchItem:
    """One input line: its id and question, or why it cannot be asked."""

    id: Any
    question: str = ""
    problem: str = ""


def parse_line(number: int, line: str) -> BatchItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return BatchItem(None, problem=f"line {number} is not JSON ({exc.msg}).")
    if not isinstance(obj, dict):
        return BatchItem(None, problem=f'line {number} is not a JSON object {{"id", "question"}}.')
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        return BatchItem(
            obj.get("id"), problem=f'line {number} has no "question" (a non-empty string).'
        )
    return BatchItem(obj.get("id"), question=question.strip())


async def read_items(lines: TextIO) -> AsyncIterator[BatchItem]:
    """The input's items, read in a thread: the tree this process hosts keeps running while
    stdin is slow (a person typing, a producer still writing)."""
    import trio

    number = 0
    while line := await trio.to_thread.run_sync(lines.readline):
        number += 1
        if line.strip():
            yield parse_line(number, line)


def _emit(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json_dumps(obj) + "\n")
    out.flush()


def _failure_line(failure: Any) -> str:
    from protocol.errors import failure_text

    return " ".join(failure_text(failure).split())


async def answer_one(
    client: Any,
    profile: str,
    question: str,
    *,
    planner: str,
    pins: list[str],
    plan_timeout: float,
    max_rows: int,
) -> dict[str, Any]:
    """The answer line (without its id) for one question: plan, guard, run a read."""
    from protocol.messages import (
        Clarification,
        Failure,
        GuardRequest,
        Plan,
        PlanRequest,
        QueryColumns,
        QueryDone,
        QueryRequest,
        QueryRows,
        Verdict,
    )  # fmt: skip

    request = PlanRequest(question=question, profile=profile, mode="read-only", pins=pins,
                          planner=planner)  # type: ignore[arg-type]  # fmt: skip
    first_failure: Any = None
    while True:
        plan = await request_plan(client, request, timeout=plan_timeout)
        if isinstance(plan, Failure):
            return {"error": _failure_line(first_failure or plan)}
        if isinstance(plan, Clarification):
            return {"clarify": plan.question, "options": list(plan.options)}
        assert isinstance(plan, Plan)
        guard = GuardRequest(sql=plan.sql, profile=profile, mode="read-only")
        verdict = await client.request("guard", guard, timeout=60)
        if isinstance(verdict, Failure):
            return {"error": _failure_line(verdict)}
        assert isinstance(verdict, Verdict)
        decision = decide(verdict, yes=False, typed=None)
        if decision.audit:
            from protocol.messages import AuditNote

            note = AuditNote(decision=decision.audit, sql_class=verdict.sql_class,  # type: ignore[arg-type]
                             normalized=verdict.normalized, reasons=verdict.reasons,
                             mode="read-only", question=question)  # fmt: skip
            await client.send(f"executor:{profile}", note)
        if (
            decision.code is not None
            or verdict.sql_class != "read"
            or (workflow.gate(verdict) == "stacked")
        ):
            why = "; ".join(verdict.reasons) or verdict.sql_class
            if verdict.sql_class == "invalid":
                text = f"the planned SQL cannot be run ({why}); it was not run."
            else:
                text = (
                    f"the plan is not a read ({verdict.sql_class}: {why}); --batch runs reads "
                    "only, so it was not run."
                )
            return {"error": text, "sql": plan.sql}
        query = QueryRequest(sql=plan.sql, verdict=verdict.signature, max_rows=max_rows,  # type: ignore[arg-type]
                             decision="auto", normalized=verdict.normalized,
                             reasons=verdict.reasons, question=question)  # fmt: skip
        columns: list[str] = []
        rows: list[list[Any]] = []
        failure: Any = None
        done: Any = None
        async for _header, body in client.stream(f"executor:{profile}", query):
            if isinstance(body, QueryColumns):
                columns = [c.name for c in body.columns]
            elif isinstance(body, QueryRows):
                rows.extend([json_value(v) for v in row] for row in body.rows)
            elif isinstance(body, QueryDone):
                done = body
            elif isinstance(body, Failure):
                failure = body
        if failure is not None:
            if workflow.repairable(
                failure, verdict, repaired=first_failure is not None, rows_shown=len(rows)
            ):
                first_failure = failure
                request = workflow.repair_request(request, plan.sql, failure)
                continue
            return {"error": _failure_line(first_failure or failure), "sql": plan.sql}
        answer: dict[str, Any] = {"sql": plan.sql, "columns": columns, "rows": rows}
        if done is not None and done.truncated:
            answer["truncated"] = True
        return answer


def cmd_ask_batch(args: argparse.Namespace) -> int:
    """`pgask ask --batch`: every stdin line answered by one tree, one stdout line each."""
    from protocol.config import load_config
    from protocol.messages import SessionGet, SessionState
    from ui.headless import default_profile
    from ui.host import run_with_tree

    if args.question is not None:
        print("pgask: ask --batch reads its questions from stdin; give no QUESTION.",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)
    mc = config.model
    plan_timeout = max(120.0, (mc.timeout_s + 5) * (mc.max_retries + 1) * 4)

    async def run_batch(_sup: Any, client: Any, profile: str) -> int:
        session = await client.request("supervisor", SessionGet(), timeout=10)
        pins = list(session.pins) if isinstance(session, SessionState) else []
        async for item in read_items(sys.stdin):
            if item.problem:
                line: dict[str, Any] = {"id": item.id, "error": item.problem}
            else:
                answer = await answer_one(client, profile, item.question, planner=args.planner,
                                          pins=pins, plan_timeout=plan_timeout,
                                          max_rows=max(0, args.max_rows))  # fmt: skip
                line = {"id": item.id, **answer}
            try:
                _emit(sys.stdout, line)
            except BrokenPipeError:
                return EXIT_BROKEN_PIPE
        return EXIT_OK

    return run_with_tree(args.config, [profile_arg], run_batch)


def cmd_context_batch(args: argparse.Namespace) -> int:
    """`pgask context --batch`: the schema context of every stdin question, one tree."""
    from protocol.config import load_config
    from protocol.messages import ContextRequest, Failure, SchemaContextText
    from ui.headless import default_profile
    from ui.host import run_with_tree

    if args.question is not None:
        print("pgask: context --batch reads its questions from stdin; give no QUESTION.",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)
    budget = args.tokens or config.model.context_tokens

    async def run_batch(_sup: Any, client: Any, profile: str) -> int:
        async for item in read_items(sys.stdin):
            line: dict[str, Any] = {"id": item.id}
            if item.problem:
                line["error"] = item.problem
            else:
                request = ContextRequest(question=item.question, profile=profile, tokens=budget)
                ctx = await client.request("planner", request, timeout=120)
                if isinstance(ctx, Failure):
                    line["error"] = _failure_line(ctx)
                else:
                    assert isinstance(ctx, SchemaContextText)
                    line["context"] = ctx.text
                    line["tables"] = [f"{t.schema}.{t.name}" for t in ctx.tables]
                    line["tokens"] = ctx.tokens
            try:
                _emit(sys.stdout, line)
            except BrokenPipeError:
                return EXIT_BROKEN_PIPE
        return EXIT_OK

    return run_with_tree(args.config, [profile_arg], run_batch)
