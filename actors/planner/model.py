"""Planning with the model: the schema context, the conversation with its tool rounds and repair turns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from actors._runtime import Request
from actors.planner.bus import check_sql
from actors.planner.context import SchemaContext, SchemaIndex, context_for_question
from actors.planner.llm import MALFORMED, ContextTooLong, ToolsRejected, complete
from actors.planner.prompt import (
    INVALID_SQL_PROMPT,
    REPAIR_PROMPT,
    Answer,
    answer_from_object,
    build_messages,
    parse_answer,
    tool_specs,
)
from actors.planner.state import PlannerState
from actors.planner.tools import run_tool
from protocol.errors import PlannerError
from protocol.messages import (
    Catalog,
    Clarification,
    Failure,
    Plan,
    PlannerNotice,
    PlanRequest,
    Verdict,
)
from protocol.tracing import log, redact

MAX_TOOL_ROUNDS = 4


TOOL_RESULT_CHARS = 6000


MIN_BUDGET = 600


def context_for(index: SchemaIndex, msg: PlanRequest, budget: int) -> SchemaContext:
    return context_for_question(
        index, msg.question, budget=budget, recent=list(msg.recent), previous_sql=msg.previous_sql
    )


async def plan_with_model(
    state: PlannerState, msg: PlanRequest, req: Request, index: SchemaIndex, catalog: Catalog
) -> Plan | Clarification:
    budget = max(MIN_BUDGET, state.config.model.context_tokens)
    shrunk, use_tools = False, True
    while True:
        ctx = context_for(index, msg, budget)
        messages = build_messages(
            question=msg.question,
            schema_text=ctx.text,
            mode=msg.mode,
            server_version=catalog.server_version,
            recent=list(msg.recent),
            pins=list(msg.pins),
            previous_sql=msg.previous_sql,
            feedback=msg.feedback,
            tools=use_tools,
        )
        log.info(  # `pgask logs --model` shows this: what the model is told (never rows)
            "planner.context.selected",
            tables=len(ctx.tables),
            of=ctx.total_tables,
            tokens=ctx.tokens,
            whole=ctx.whole,
            model=state.model,
            context=ctx.text,
        )
        try:
            return await _converse(state, msg, req, index, messages, use_tools)
        except ContextTooLong as exc:
            if shrunk or budget <= MIN_BUDGET:
                raise PlannerError(
                    f"The question and schema context are too long for the model '{state.model}'.",
                    why=f"The endpoint refused a {ctx.tokens}-token schema context even after halving it.",
                    hint="Lower context_tokens under [model], or use a model with a larger context window.",
                    code="llm.context_too_long",
                    detail=redact(exc.detail),
                ) from None
            shrunk = True
            budget = max(MIN_BUDGET, budget // 2)
            await req.send(
                PlannerNotice(
                    text=f"The model's context is full; retrying with {budget} tokens of schema."
                )
            )
        except ToolsRejected:
            if not use_tools:
                raise PlannerError(
                    "The model endpoint rejected the request.", code="llm.bad_request"
                ) from None
            use_tools = False
            log.info("planner.tools.rejected")


async def _converse(
    state: PlannerState,
    msg: PlanRequest,
    req: Request,
    index: SchemaIndex,
    messages: list[dict[str, Any]],
    use_tools: bool,
) -> Plan | Clarification:
    return await _Conversation(state, msg, req, index, messages, use_tools).run()


@dataclass
class _Conversation:
    """One request's turns with the model: tool rounds, at most one repair of unusable output
    and one of SQL the guard cannot parse, then a plan or a question back."""

    state: PlannerState
    msg: PlanRequest
    req: Request
    index: SchemaIndex
    messages: list[dict[str, Any]]
    use_tools: bool
    repairs_left: int = 1
    invalid_left: int = 1
    rounds: int = 0

    async def run(self) -> Plan | Clarification:
        samples = self.state.config.privacy.send_sample_values
        specs = tool_specs(samples=samples) if self.use_tools else None
        while True:
            tools = specs if specs is not None and self.rounds < MAX_TOOL_ROUNDS else None
            response = await complete(self.state, self.req, self.messages, tools=tools)
            if response is MALFORMED:
                self._repair_garbled()
                continue
            choice = response.choices[0] if response.choices else None
            message = choice.message if choice is not None else None
            calls = list(getattr(message, "tool_calls", None) or [])
            content = getattr(message, "content", None) or ""
            answer: Answer | None = None
            if calls:
                final = next((c for c in calls if _call_name(c) == "answer"), None)
                if final is None:
                    await self._tool_round(content, calls)
                    continue
                answer = answer_from_object(_call_args(final) or {}, content)
            if answer is None:
                answer = parse_answer(content)
            if answer.kind == "clarify":
                return Clarification(
                    question=answer.clarify_question, options=answer.clarify_options
                )
            if answer.kind == "sql":
                result = await self._on_sql(answer, content)
            else:
                result = self._on_prose(answer, content)
            if result is not None:
                return result

    def _repair_garbled(self) -> None:
        if not self.repairs_left:
            raise PlannerError(
                f"The model at {self.state.endpoint} sent a reply pgask could not read, twice.",
                why="The HTTP response body was not valid JSON.",
                hint="Check that base_url under [model] points at an OpenAI-compatible /v1 endpoint.",
                code="llm.unparseable",
            )
        self.repairs_left -= 1
        problem = "Your last reply arrived garbled (not valid JSON over HTTP)."
        self.messages.append({"role": "user", "content": REPAIR_PROMPT.format(problem=problem)})

    async def _tool_round(self, content: str, calls: list[Any]) -> None:
        self.rounds += 1
        self.messages.append(_assistant_tool_message(content, calls))
        for call in calls:
            result = await run_tool(
                self.state, self.msg, self.req, self.index, _call_name(call), _call_args(call)
            )
            self.messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": result[:TOOL_RESULT_CHARS]}
            )
        log.info("planner.tools.answered", round=self.rounds, calls=[_call_name(c) for c in calls])
        if self.rounds >= MAX_TOOL_ROUNDS:
            self.messages.append(
                {"role": "user", "content": "No more tool calls: answer now with the JSON object."}
            )

    async def _on_sql(self, answer: Answer, content: str) -> Plan | Clarification | None:
        """The plan, a question back, or None after asking for a repair of invalid SQL."""
        verdict = await check_sql(self.req, self.msg, answer.sql)
        if not (isinstance(verdict, Verdict) and verdict.sql_class == "invalid"):
            return _plan_from(self.state, answer, verdict)
        error = verdict.error.message if verdict.error else "syntax error"
        if self.invalid_left:
            self.invalid_left -= 1
            self.messages.append(
                {"role": "assistant", "content": content or json.dumps({"sql": answer.sql})}
            )
            self.messages.append(
                {"role": "user", "content": INVALID_SQL_PROMPT.format(error=error)}
            )
            log.info("planner.answer.repair_requested", reason="invalid_sql")
            return None
        return Clarification(
            question=f"I could not write valid SQL for that (PostgreSQL would say: {error}). "
            "Could you rephrase it, naming the tables or columns you mean?",
            options=table_options(self.index, self.msg.question),
        )

    def _on_prose(self, answer: Answer, content: str) -> Clarification | None:
        """Prose or nothing: one repair request, then a question back quoting the model."""
        if self.repairs_left:
            self.repairs_left -= 1
            if content:
                self.messages.append({"role": "assistant", "content": content})
            self.messages.append(
                {"role": "user", "content": REPAIR_PROMPT.format(problem=answer.problem)}
            )
            log.info("planner.answer.repair_requested", reason=answer.kind)
            return None
        said = " ".join((answer.text or content).split())
        said = said if len(said) <= 400 else said[:399] + "…"
        question = "I could not turn that question into SQL."
        if said:
            question += f" The model said: “{said}”"
        question += " Could you rephrase it, naming the tables or columns you mean?"
        return Clarification(
            question=question, options=table_options(self.index, self.msg.question)
        )


def table_options(index: SchemaIndex, question: str) -> list[str]:
    ctx = index.select(question, budget=400)
    return [t.name for t in ctx.tables if t.reason == "match"][:4]


def _plan_from(state: PlannerState, answer: Answer, verdict: Verdict | Failure | None) -> Plan:
    intent = answer.intent if answer.intent in ("read", "write", "ddl", "explain") else ""
    tables: list[str] = []
    if isinstance(verdict, Verdict):
        tables = list(verdict.tables)
        if not intent:
            intent = {"read": "read", "write": "write", "ddl": "ddl", "destructive": "ddl"}.get(
                verdict.sql_class, "other"
            )
    if answer.sql.lstrip().lower().startswith("explain"):
        intent = "explain"
    return Plan(
        sql=answer.sql,
        explanation=answer.explanation,
        intent=intent or "read",  # type: ignore[arg-type]
        assumptions=answer.assumptions,
        tables=tables,
        source="model",
        model=state.model,
    )


def _call_name(call: Any) -> str:
    fn = getattr(call, "function", None)
    return str(getattr(fn, "name", "") or "")


def _call_args(call: Any) -> dict[str, Any] | None:
    raw = getattr(getattr(call, "function", None), "arguments", "") or "{}"
    try:
        args = json.loads(raw)
    except ValueError:
        return None
    return args if isinstance(args, dict) else None


def _assistant_tool_message(content: str, calls: list[Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": _call_name(c),
                    "arguments": getattr(c.function, "arguments", "") or "{}",
                },
            }
            for c in calls
        ],
    }
