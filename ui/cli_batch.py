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

from ui.format import json_dumps, json_value
from ui.headless import EXIT_BROKEN_PIPE, EXIT_OK, EXIT_USAGE


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
    config: Any,
    profile: str,
    question: str,
    *,
    planner: str,
    pins: list[str],
    max_rows: int,
) -> dict[str, Any]:
    """The answer line (without its id) for one question: the workflow engine plans, checks
    and runs it in read-only mode; anything that would need a person is declined (reads
    only). Each question stands alone: the session's pins, no earlier turns, none recorded."""
    from protocol.messages import SessionState
    from ui import drive
    from ui.engine import Ask, JobRequest

    async def reads_only(ask: Ask) -> bool:
        return ask.verdict.sql_class == "read"  # a preview of a read runs; nothing else

    request = JobRequest(
        kind="ask",
        text=question,
        profile=profile,
        mode="read-only",
        max_rows=max_rows,
        planner=planner,
        turn=False,
    )
    session = SessionState(session="", pins=pins)
    driver = drive.start(client, config, request, session, answer=reads_only)
    r = await driver.run()
    sql = r.plan.sql if r.plan is not None else ""
    if r.clarification is not None:
        return {"clarify": r.clarification.question, "options": list(r.clarification.options)}
    if r.failure is not None:
        line = {"error": _failure_line(r.first_failure or r.failure)}
        return {**line, "sql": sql} if r.verdict is not None else line
    v = r.verdict
    if r.stopped and v is not None:
        why = "; ".join(v.reasons) or v.sql_class
        if v.sql_class == "invalid":
            text = f"the planned SQL cannot be run ({why}); it was not run."
        else:
            text = (
                f"the plan is not a read ({v.sql_class}: {why}); --batch runs reads "
                "only, so it was not run."
            )
        return {"error": text, "sql": sql}
    rows = [[json_value(v) for v in row] for row in r.rows]
    answer: dict[str, Any] = {"sql": sql, "columns": [c.name for c in r.columns], "rows": rows}
    if r.done is not None and r.done.truncated:
        answer["truncated"] = True
    return answer


def cmd_ask_batch(args: argparse.Namespace) -> int:
    """`pgask ask --batch`: every stdin line answered by one tree, one stdout line each."""
    from protocol.config import load_config
    from protocol.messages import SessionGet, SessionState
    from ui.headless import default_profile
    from ui.host import run_with_tree

    if args.question is not None:
        print(
            "pgask: ask --batch reads its questions from stdin; give no QUESTION.", file=sys.stderr
        )
        return EXIT_USAGE
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)

    async def run_batch(_sup: Any, client: Any, profile: str) -> int:
        session = await client.request("supervisor", SessionGet(), timeout=10)
        pins = list(session.pins) if isinstance(session, SessionState) else []
        async for item in read_items(sys.stdin):
            if item.problem:
                line: dict[str, Any] = {"id": item.id, "error": item.problem}
            else:
                answer = await answer_one(
                    client,
                    config,
                    profile,
                    item.question,
                    planner=args.planner,
                    pins=pins,
                    max_rows=max(0, args.max_rows),
                )
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
        print(
            "pgask: context --batch reads its questions from stdin; give no QUESTION.",
            file=sys.stderr,
        )
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
