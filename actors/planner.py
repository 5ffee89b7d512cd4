"""planner: turns a question plus the session's context into a plan (DESIGN §4).

Receives: plan.request.
Replies:  plan.result (Plan) or plan.clarify (Clarification), after 0..n plan.notice parts
          (PlannerNotice: "model busy, retrying in 2 s (attempt 2 of 3)"); or error llm.*.
Asks:     executor:<profile> for the catalog; guard to check that a candidate parses; with
          [privacy] send_sample_values, guard + executor for a column's distinct values.
Restart:  permanent. Stateless between requests but for caches (catalog index per fingerprint);
          the conversation lives in the supervisor's session and arrives in each request.
Resources: one openai.AsyncOpenAI client (httpx under trio, no asyncio bridge), built at start
          from [model]; its API key is read from the environment variable [model] api_key_env
          names and is never logged, stored or echoed.

How a request is served
1. The catalog comes from the executor (cached there); planner_context picks the part of it that
   fits [model] context_tokens (all of it when it fits).
2. Without a model (no [model] model and no key in the variable) the offline planner answers
   (actors/planner_offline.py). With a model that cannot be reached at all (connection refused,
   DNS) the offline planner is tried too, and says so in a notice; when it cannot answer, the
   person gets the llm.unreachable error rather than its clarification. A request may choose
   (`PlanRequest.planner`, `pgask ask --planner`): "offline" never calls the model, "model"
   never falls back to the offline planner (llm.not_configured when there is no model).
3. The model is called with tools (list_tables, describe_table, sample_values when privacy
   allows, answer); at most MAX_TOOL_ROUNDS rounds, then it must answer. A reply is read by
   planner_prompt.parse_answer (JSON, fences, bare SQL). Unusable output gets one repair call,
   SQL the guard cannot parse gets one repair call, and after that the person gets a
   Clarification, never a guess.
4. Transient failures (429, 408/409, 5xx, timeouts, connection errors) are retried here, not
   by the client (max_retries=0 there), so each retry is announced: exponential backoff from
   0.5 s with jitter, or the server's Retry-After when it gives one (up to 60 s), for
   [model] max_retries retries. Context-length errors shrink the schema context by half and
   retry once; an endpoint that rejects tool definitions is asked again without them.

Error codes: llm.rate_limited (429 after the retries, or Retry-After > 60 s), llm.unreachable
(connection failures and 5xx after the retries), llm.timeout, llm.auth_failed (401/403),
llm.bad_request (other 4xx), llm.model_not_found (404, with the endpoint's model list),
llm.unparseable, llm.context_too_long, llm.not_configured (no model and no offline planner).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from actors._runtime import Actor, Request, main
from actors.planner_context import SchemaContext, SchemaIndex, context_for_question
from actors.planner_prompt import (
    INVALID_SQL_PROMPT,
    REPAIR_PROMPT,
    Answer,
    answer_from_object,
    build_messages,
    parse_answer,
    tool_specs,
)
from protocol.boot import Boot
from protocol.config import Config
from protocol.errors import PlannerError
from protocol.messages import (
    Catalog,
    CatalogRequest,
    Clarification,
    ContextRequest,
    ContextTable,
    Failure,
    GuardRequest,
    Plan,
    PlannerNotice,
    PlanRequest,
    QueryRequest,
    QueryRows,
    SchemaContextText,
    Verdict,
)
from protocol.privacy import redacted
from protocol.tracing import log, redact

DEFAULT_MODEL = "gpt-4o-mini"  # when only a key is configured (matches ui.cli.model_label)
MAX_TOOL_ROUNDS = 4
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
MAX_RETRY_AFTER_S = 60.0
TOOL_RESULT_CHARS = 6000
MIN_BUDGET = 600

_CONTEXT_TOO_LONG = re.compile(
    r"context.length|maximum context|context window|too many tokens|prompt is too long|"
    r"reduce the length|token limit",
    re.I,
)


@dataclass
class PlannerState:
    config: Config
    client: Any = None  # openai.AsyncOpenAI, or None: offline
    model: str = ""
    key_env: str = "OPENAI_API_KEY"
    key_set: bool = False
    indexes: dict[str, tuple[str, SchemaIndex]] = field(default_factory=dict)
    catalogs: dict[str, Catalog] = field(default_factory=dict)  # the last one, per profile
    # profile -> (catalog fingerprint, built at (monotonic s), the offline planner's value index)
    values: dict[str, tuple[str, float, ValueIndex]] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return redact(self.config.model.base_url or "https://api.openai.com/v1")


def model_configured(config: Config) -> bool:
    return bool(config.model.model or os.environ.get(config.model.api_key_env))


@asynccontextmanager
async def open_state(boot: Boot) -> AsyncIterator[PlannerState]:
    config = boot.load_config()
    mc = config.model
    key = os.environ.get(mc.api_key_env, "")
    state = PlannerState(config=config, key_env=mc.api_key_env, key_set=bool(key))
    if model_configured(config):
        import openai

        state.model = mc.model or DEFAULT_MODEL
        state.client = openai.AsyncOpenAI(
            base_url=mc.base_url or None,
            api_key=key or "no-key",  # local servers (Ollama, llama.cpp) accept any key
            max_retries=0,  # retried here, so each retry can be announced
            timeout=mc.timeout_s,
        )
    del key
    log.info(
        "planner.model.configured",
        model=state.model or "offline",
        endpoint=state.endpoint if state.client else "",
        key_env=state.key_env,
        key_set=state.key_set,
    )
    try:
        yield state
    finally:
        if state.client is not None:
            with trio.CancelScope(shield=True):
                await state.client.close()


# -- the handler ----------------------------------------------------------------------------------


async def on_plan_request(
    state: PlannerState, msg: PlanRequest, req: Request
) -> Plan | Clarification | Failure:
    try:
        return await _serve(state, msg, req)
    except _ModelNotFound as exc:
        models = await _model_list(state)
        raise PlannerError(
            f"The model endpoint at {state.endpoint} has no model named '{state.model}'.",
            why=("It offers: " + ", ".join(models) + ".")
            if models
            else "The endpoint answered HTTP 404.",
            hint="Set model under [model] in the config file (or PGASK_MODEL) to one it offers.",
            code="llm.model_not_found",
            detail=str(exc),
        ) from None


def without_private_values(catalog: Catalog, patterns: list[str]) -> Catalog:
    """The catalog minus the enum values of `[privacy] redact_columns` (the model sees the
    column, never its values)."""
    if not patterns:
        return catalog
    tables = []
    for t in catalog.tables:
        cols = [msgspec.structs.replace(c, enum_values=[]) if c.enum_values and redacted(patterns, c.name, t.name, t.schema) else c
                for c in t.columns]  # fmt: skip
        tables.append(msgspec.structs.replace(t, columns=cols))
    return msgspec.structs.replace(catalog, tables=tables)


async def _serve(
    state: PlannerState, msg: PlanRequest, req: Request
) -> Plan | Clarification | Failure:
    started = time.perf_counter()
    catalog = await current_catalog(state, msg.profile, req)
    if isinstance(catalog, Failure):
        return catalog
    catalog = without_private_values(catalog, state.config.privacy.redact_columns)
    index = _index_for(state, catalog)
    if msg.planner == "model" and state.client is None:
        raise PlannerError(
            "--planner model was asked for, but no model is configured.",
            why=f"[model] model is empty and ${state.key_env} is not set.",
            hint="Set model (and base_url for a local server) under [model] in the config file, "
            "or use --planner offline.",
            code="llm.not_configured",
        )
    if state.client is None or msg.planner == "offline":
        values = await value_index(state, msg, req, catalog)
        result = _offline(msg, catalog, values, reason="none")
    else:
        try:
            result = await _plan_with_model(state, msg, req, index, catalog)
        except PlannerError as exc:
            timed_out = getattr(exc, "code", "") == "llm.timeout"
            if msg.planner == "model" or not (getattr(exc, "connect_failed", False) or timed_out):
                raise
            values = await value_index(state, msg, req, catalog)
            fallback = _offline(msg, catalog, values, reason="unreachable", quiet=True)
            if not isinstance(fallback, Plan):
                raise
            why = (
                f"did not answer within {state.config.model.timeout_s:g} s"
                if timed_out
                else "is unreachable"
            )
            await req.send(
                PlannerNotice(
                    text=f"The model at {state.endpoint} {why}; the offline planner answered."
                )
            )
            result = msgspec.structs.replace(
                fallback,
                assumptions=[
                    *fallback.assumptions,
                    "Answered offline: the model "
                    + ("did not answer in time." if timed_out else "could not be reached."),
                ],
            )
    if isinstance(result, Plan) and result.intent == "read":
        from actors.planner_semantic import check_plan

        result = check_plan(result, catalog, msg.question)
    log.info(
        "planner.plan.finished",
        kind=type(result).__name__,
        source=getattr(result, "source", ""),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return result


async def current_catalog(state: PlannerState, profile: str, req: Request) -> Catalog | Failure:
    """The profile's catalog from its executor; the one kept here when it is still current
    (then only its fingerprint travels)."""
    kept = state.catalogs.get(profile)
    reply = await req.runtime.request(
        f"executor:{profile}", CatalogRequest(known=kept.fingerprint if kept else ""),
        trace=req.header.trace, timeout=120,
    )  # fmt: skip
    if isinstance(reply, Failure):
        return reply
    assert isinstance(reply, Catalog)
    if reply.unchanged and kept is not None and kept.fingerprint == reply.fingerprint:
        return kept
    state.catalogs[profile] = reply
    return reply


def _index_for(state: PlannerState, catalog: Catalog) -> SchemaIndex:
    cached = state.indexes.get(catalog.profile)
    if cached and cached[0] == catalog.fingerprint and catalog.fingerprint:
        return cached[1]
    index = SchemaIndex(catalog)
    state.indexes[catalog.profile] = (catalog.fingerprint, index)
    return index


def _offline(
    msg: PlanRequest, catalog: Catalog, values: ValueIndex, *, reason: str, quiet: bool = False
) -> Plan | Clarification | None:
    try:
        from actors.planner_offline import offline_plan
    except ImportError as exc:
        if quiet:
            return None
        raise PlannerError(
            "No model is configured and the offline planner is not available.",
            why=f"pgask could not import the offline planner ({exc}).",
            hint="Set model (and base_url for a local server) under [model] in the config file, "
            "or export OPENAI_API_KEY.",
            code="llm.not_configured",
        ) from exc
    return offline_plan(msg.question, catalog, recent=list(msg.recent), values=values or None)


# -- the offline planner's value index --------------------------------------------------------

ValueIndex = dict[tuple[str, str, str], list[str]]
VALUE_INDEX_MAX_TABLES = 300  # a larger catalog plans without one (bounded first-question cost)
VALUE_INDEX_TTL_S = 600.0  # data changes without the catalog changing: rebuilt after this
VALUE_INDEX_BUDGET_S = 10.0  # the whole build; past it, the question is planned without one
VALUE_INDEX_TABLES_PER_QUERY = 40


def indexable_catalog(catalog: Catalog, patterns: list[str]) -> Catalog:
    """The catalog minus every column `[privacy] redact_columns` names: their values are
    never read into the index."""
    tables = []
    for t in catalog.tables:
        cols = [c for c in t.columns if not redacted(patterns, c.name, t.name, t.schema)]
        tables.append(msgspec.structs.replace(t, columns=cols))
    return msgspec.structs.replace(catalog, tables=tables)


async def value_index(
    state: PlannerState, msg: PlanRequest, req: Request, catalog: Catalog
) -> ValueIndex:
    """The distinct values of the database's category-like text columns, so the offline planner
    can read "customers in region Alps" as a filter on regions.name. Built on first need per
    profile and catalog (every query checked by the guard and run read-only by the executor,
    like any read), kept for VALUE_INDEX_TTL_S. The values stay in this process: they are
    matched against the question, never sent to a model. Empty when the catalog is large,
    the build is slow, or a query fails: the planner then asks instead."""
    from actors.planner_offline import parse_value_index, value_index_sql

    cached = state.values.get(msg.profile)
    now = time.monotonic()
    if cached and cached[0] == catalog.fingerprint and now - cached[1] < VALUE_INDEX_TTL_S:
        return cached[2]
    index: ValueIndex = {}
    if len(catalog.tables) <= VALUE_INDEX_MAX_TABLES:
        safe = indexable_catalog(catalog, state.config.privacy.redact_columns)
        queries = value_index_sql(safe)
        rows: list[Any] = []
        complete = True
        with trio.move_on_after(VALUE_INDEX_BUDGET_S) as scope:
            for start in range(0, len(queries), VALUE_INDEX_TABLES_PER_QUERY):
                part = queries[start : start + VALUE_INDEX_TABLES_PER_QUERY]
                got = await _read_rows(req, msg, "\nUNION ALL\n".join(part))
                if got is None:
                    complete = False
                    break
                rows.extend(got)
        if scope.cancelled_caught:
            complete = False
        index = parse_value_index(rows)
        log.info("planner.values.built", profile=msg.profile, columns=len(index),
                 complete=complete, ms=round((time.monotonic() - now) * 1000, 1))  # fmt: skip
    state.values[msg.profile] = (catalog.fingerprint, now, index)
    return index


async def _read_rows(req: Request, msg: PlanRequest, sql: str) -> list[Any] | None:
    """Every row of a read the planner needs itself (guard-checked); None when it cannot run."""
    check = PlanRequest(question="", profile=msg.profile, mode="read-only")
    verdict = await _check(req, check, sql)
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


# -- talking to the model -------------------------------------------------------------------------


class _ContextTooLong(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _ToolsRejected(Exception):
    pass


_MALFORMED = object()


def context_for(index: SchemaIndex, msg: PlanRequest, budget: int) -> SchemaContext:
    return context_for_question(
        index, msg.question, budget=budget, recent=list(msg.recent), previous_sql=msg.previous_sql
    )


async def _plan_with_model(
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
        except _ContextTooLong as exc:
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
        except _ToolsRejected:
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
    samples = state.config.privacy.send_sample_values
    specs = tool_specs(samples=samples) if use_tools else None
    repairs_left, invalid_left, rounds = 1, 1, 0
    last_text = ""
    while True:
        tools = specs if specs is not None and rounds < MAX_TOOL_ROUNDS else None
        response = await complete(state, req, messages, tools=tools)
        if response is _MALFORMED:
            if repairs_left:
                repairs_left -= 1
                messages.append(
                    {
                        "role": "user",
                        "content": REPAIR_PROMPT.format(
                            problem="Your last reply arrived garbled (not valid JSON over HTTP)."
                        ),
                    }
                )
                continue
            raise PlannerError(
                f"The model at {state.endpoint} sent a reply pgask could not read, twice.",
                why="The HTTP response body was not valid JSON.",
                hint="Check that base_url under [model] points at an OpenAI-compatible /v1 endpoint.",
                code="llm.unparseable",
            )
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice is not None else None
        calls = list(getattr(message, "tool_calls", None) or [])
        content = getattr(message, "content", None) or ""
        answer: Answer | None = None
        if calls:
            final = next((c for c in calls if _call_name(c) == "answer"), None)
            if final is not None:
                answer = answer_from_object(_call_args(final) or {}, content)
            else:
                rounds += 1
                messages.append(_assistant_tool_message(content, calls))
                for call in calls:
                    result = await run_tool(
                        state, msg, req, index, _call_name(call), _call_args(call)
                    )
                    messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.id,
                            "content": result[:TOOL_RESULT_CHARS],
                        }
                    )
                log.info(
                    "planner.tools.answered", round=rounds, calls=[_call_name(c) for c in calls]
                )
                if rounds >= MAX_TOOL_ROUNDS:
                    messages.append(
                        {
                            "role": "user",
                            "content": "No more tool calls: answer now with the JSON object.",
                        }
                    )
                continue
        if answer is None:
            answer = parse_answer(content)
        last_text = answer.text or content
        if answer.kind == "clarify":
            return Clarification(question=answer.clarify_question, options=answer.clarify_options)
        if answer.kind == "sql":
            verdict = await _check(req, msg, answer.sql)
            if isinstance(verdict, Verdict) and verdict.sql_class == "invalid":
                error = verdict.error.message if verdict.error else "syntax error"
                if invalid_left:
                    invalid_left -= 1
                    messages.append(
                        {"role": "assistant", "content": content or json.dumps({"sql": answer.sql})}
                    )
                    messages.append(
                        {"role": "user", "content": INVALID_SQL_PROMPT.format(error=error)}
                    )
                    log.info("planner.answer.repair_requested", reason="invalid_sql")
                    continue
                return Clarification(
                    question=f"I could not write valid SQL for that (PostgreSQL would say: {error}). "
                    "Could you rephrase it, naming the tables or columns you mean?",
                    options=_table_options(index, msg.question),
                )
            return _plan_from(state, answer, verdict)
        # prose or empty
        if repairs_left:
            repairs_left -= 1
            if content:
                messages.append({"role": "assistant", "content": content})
            messages.append(
                {"role": "user", "content": REPAIR_PROMPT.format(problem=answer.problem)}
            )
            log.info("planner.answer.repair_requested", reason=answer.kind)
            continue
        said = " ".join(last_text.split())
        said = said if len(said) <= 400 else said[:399] + "…"
        question = "I could not turn that question into SQL."
        if said:
            question += f" The model said: “{said}”"
        question += " Could you rephrase it, naming the tables or columns you mean?"
        return Clarification(question=question, options=_table_options(index, msg.question))


def _table_options(index: SchemaIndex, question: str) -> list[str]:
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


async def _check(req: Request, msg: PlanRequest, sql: str) -> Verdict | Failure | None:
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


# -- tools ----------------------------------------------------------------------------------------


async def run_tool(
    state: PlannerState,
    msg: PlanRequest,
    req: Request,
    index: SchemaIndex,
    name: str,
    args: dict[str, Any] | None,
) -> str:
    """A tool call answered from the catalog (sample_values: from the database, when allowed)."""
    if args is None:
        return "error: the arguments were not valid JSON; call the tool again with a JSON object."
    if name == "list_tables":
        return index.list_tables(str(args.get("pattern") or ""))
    if name == "describe_table":
        return index.describe(str(args.get("name") or args.get("table") or ""))
    if name == "sample_values":
        if not state.config.privacy.send_sample_values:
            return "error: sample values are not shared with the model ([privacy] send_sample_values = false)."
        return await _sample_values(
            state, msg, req, index, str(args.get("table") or ""), str(args.get("column") or "")
        )
    return f"error: there is no tool named {name!r}; the tools are list_tables, describe_table, answer."


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _sample_values(
    state: PlannerState, msg: PlanRequest, req: Request, index: SchemaIndex, table: str, column: str
) -> str:
    t = index.find(table)
    if t is None:
        return index.describe(table)
    col = next((c for c in t.columns if c.name.lower() == column.lower()), None)
    if col is None:
        return f"error: {t.name} has no column {column!r}; its columns: {', '.join(c.name for c in t.columns)}"
    if redacted(state.config.privacy.redact_columns, col.name, t.name, t.schema):
        return f"error: the values of {t.name}.{col.name} are private ([privacy] redact_columns)."
    if col.enum_values:
        return ", ".join(col.enum_values)
    sql = (
        f"SELECT DISTINCT {_quote_ident(col.name)} FROM {_quote_ident(t.schema)}.{_quote_ident(t.name)} "
        f"WHERE {_quote_ident(col.name)} IS NOT NULL LIMIT 20"
    )
    verdict = await _check(req, msg, sql)
    if not isinstance(verdict, Verdict) or verdict.signature is None or verdict.sql_class != "read":
        return "error: the sample query could not be checked."
    rows: list[Any] = []
    async for _h, body in req.runtime.stream(
        f"executor:{msg.profile}",
        QueryRequest(sql=sql, verdict=verdict.signature, max_rows=20),
        trace=req.header.trace,
    ):
        if isinstance(body, QueryRows):
            rows.extend(r[0] for r in body.rows)
        elif isinstance(body, Failure):
            return f"error: {body.message}"
    return ", ".join(str(v)[:80] for v in rows) or "(no values)"


# -- one call, with retries -------------------------------------------------------------------------


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait (retry-after-ms, retry-after seconds or HTTP date)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Retry-After when given, else 0.5 s * 2^(attempt-1), capped, with 25 % jitter."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return base * (1 - 0.25 * random.random())


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


async def complete(
    state: PlannerState,
    req: Request,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None,
) -> Any:
    """One chat completion with retries; returns the response, or _MALFORMED."""
    import openai

    mc = state.config.model
    attempts = 1 + max(0, mc.max_retries)
    kwargs: dict[str, Any] = {
        "model": state.model,
        "messages": messages,
        "temperature": mc.temperature,
    }
    if tools:
        kwargs["tools"] = tools
        kwargs["tool_choice"] = "auto"
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            response = await state.client.chat.completions.create(**kwargs)
        except json.JSONDecodeError:
            log.warning("planner.model.malformed", attempt=attempt)
            return _MALFORMED
        except openai.APIStatusError as exc:
            status = exc.status_code
            detail = redact(f"HTTP {status}: {_error_message(exc)}")
            log.warning("planner.model.failed", status=status, attempt=attempt, detail=detail)
            _raise_for_status(state, exc, status, detail, tools=bool(tools))
            wait = _retry_after(exc.response.headers)
            if wait is not None and wait > MAX_RETRY_AFTER_S:
                raise PlannerError(
                    f"The model at {state.endpoint} is rate-limiting pgask.",
                    why=f"It asks to wait {wait:.0f} s before the next request.",
                    hint="Try again later, or use another model or key under [model].",
                    code="llm.rate_limited",
                    retryable=True,
                    detail=detail,
                ) from None
            what = "model busy" if status == 429 else f"model endpoint error (HTTP {status})"
            final = _final_status_error(state, status, attempts, detail)
        except openai.APITimeoutError as exc:
            log.warning(
                "planner.model.timed_out",
                attempt=attempt,
                ms=round((time.perf_counter() - started) * 1000),
            )
            wait, what = None, "model slow to answer"
            final = PlannerError(
                f"The model at {state.endpoint} did not answer within {mc.timeout_s:g} s"
                + (f" ({attempts} attempts)." if attempts > 1 else "."),
                why="The request timed out; local models can take long on a first request.",
                hint="Raise timeout_s under [model], or use a smaller or faster model.",
                code="llm.timeout",
                retryable=True,
                detail=redact(str(exc)),
            )
        except openai.APIConnectionError as exc:
            cause = redact(str(exc.__cause__ or exc))
            log.warning("planner.model.unreachable", attempt=attempt, detail=cause)
            wait, what = None, "model unreachable"
            final = _ConnectFailed(
                f"Could not reach the model endpoint at {state.endpoint}.",
                why=f"The connection failed ({cause})"
                + (f" on {attempts} attempts." if attempts > 1 else "."),
                hint="Check that the server is running (for Ollama: `ollama serve`) and base_url under "
                "[model] (or PGASK_BASE_URL / OPENAI_BASE_URL).",
                code="llm.unreachable",
                retryable=True,
                detail=cause,
            )
        except openai.OpenAIError as exc:  # validation of an odd response, and the like
            raise PlannerError(
                f"The model at {state.endpoint} sent a reply pgask could not read.",
                why=redact(str(exc))[:300],
                hint="Check that base_url under [model] points at an OpenAI-compatible /v1 endpoint.",
                code="llm.unparseable",
            ) from None
        else:
            log.info(
                "planner.model.answered",
                attempt=attempt,
                ms=round((time.perf_counter() - started) * 1000, 1),
                tools=bool(tools),
            )
            return response
        if attempt == attempts:
            raise final
        delay = backoff_delay(attempt, wait)
        await req.send(
            PlannerNotice(
                text=f"{what}, retrying in {_seconds(delay)} (attempt {attempt + 1} of {attempts})"
            )
        )
        await trio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if body.get("message"):
            return str(body["message"])
    return str(getattr(exc, "message", "") or exc)


def _raise_for_status(
    state: PlannerState, exc: Any, status: int, detail: str, *, tools: bool
) -> None:
    """Raise for statuses that are not worth retrying; return for the transient ones."""
    cfg_file = state.config.source or "the config file"
    if status in (401, 403):
        why = (
            f"The key was read from the environment variable {state.key_env}."
            if state.key_set
            else f"No key was sent: the environment variable {state.key_env} is not set."
        )
        raise PlannerError(
            f"The model endpoint at {state.endpoint} rejected the API key (HTTP {status}).",
            why=why,
            hint=f"Export a valid key in {state.key_env}, or name another variable with "
            f"api_key_env under [model] in {cfg_file}.",
            code="llm.auth_failed",
            detail=detail,
        ) from None
    if status == 404:
        raise _ModelNotFound(detail)
    message = _error_message(exc)
    code = str(getattr(exc, "code", "") or "")
    if status in (400, 413, 422):
        if code == "context_length_exceeded" or status == 413 or _CONTEXT_TOO_LONG.search(message):
            raise _ContextTooLong(detail)
        if tools and re.search(r"\btools?\b|function", message, re.I):
            raise _ToolsRejected()
    if status in (408, 409, 429) or status >= 500:
        return
    raise PlannerError(
        f"The model endpoint at {state.endpoint} refused the request (HTTP {status}).",
        why=redact(message)[:300],
        hint=f"Check model and base_url under [model] in {cfg_file}.",
        code="llm.bad_request",
        detail=detail,
    ) from None


class _ModelNotFound(Exception):
    pass


class _ConnectFailed(PlannerError):
    """llm.unreachable because nothing answered at all (the offline planner may step in)."""

    connect_failed = True


def _final_status_error(
    state: PlannerState, status: int, attempts: int, detail: str
) -> PlannerError:
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if status == 429:
        return PlannerError(
            f"The model at {state.endpoint} is busy: it kept answering 'too many requests'{tries}.",
            why="The endpoint rate-limits this key or model (HTTP 429).",
            hint="Wait a minute and ask again, raise max_retries under [model], or check the plan's quota.",
            code="llm.rate_limited",
            retryable=True,
            detail=detail,
        )
    return PlannerError(
        f"The model at {state.endpoint} failed{tries}: HTTP {status}.",
        why="The endpoint reported a server error each time.",
        hint="Try again later; if it persists, check the endpoint's status or logs, or raise max_retries under [model].",
        code="llm.unreachable",
        retryable=True,
        detail=detail,
    )


async def _model_list(state: PlannerState) -> list[str]:
    try:
        with trio.move_on_after(5):
            page = await state.client.models.list()
            return sorted(m.id for m in page.data)[:20]
    except Exception:  # the list is a courtesy: any failure just leaves it out
        pass
    return []


async def on_context_request(
    state: PlannerState, msg: ContextRequest, req: Request
) -> SchemaContextText | Failure:
    """`pgask context`: the schema part a plan for `msg.question` would send (no model call)."""
    catalog = await current_catalog(state, msg.profile, req)
    if isinstance(catalog, Failure):
        return catalog
    catalog = without_private_values(catalog, state.config.privacy.redact_columns)
    budget = msg.tokens or state.config.model.context_tokens
    ctx = context_for_question(
        _index_for(state, catalog), msg.question, budget=budget, recent=list(msg.recent)
    )
    tables = [ContextTable(schema=t.schema, name=t.name, columns=t.columns) for t in ctx.tables]
    return SchemaContextText(
        text=ctx.text,
        tables=tables,
        tokens=ctx.tokens,
        budget=ctx.budget,
        whole=ctx.whole,
        total_tables=ctx.total_tables,
    )


ACTOR = Actor(
    "planner",
    handlers={PlanRequest: on_plan_request, ContextRequest: on_context_request},
    open_state=open_state,
)

if __name__ == "__main__":
    main(ACTOR)
