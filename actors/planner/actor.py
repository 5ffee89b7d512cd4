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
1. The catalog comes from the executor (cached there); context.py picks the part of it that
   fits [model] context_tokens (all of it when it fits). serve.py runs the steps;
   model.py and tools.py step 3, llm.py step 4.
2. Without a model (no [model] model and no key in the variable) the offline planner answers
   (offline/). With a model that cannot be reached at all (connection refused,
   DNS) the offline planner is tried too, and says so in a notice; when it cannot answer, the
   person gets the llm.unreachable error rather than its clarification. A request may choose
   (`PlanRequest.planner`, `pgask ask --planner`): "offline" never calls the model, "model"
   never falls back to the offline planner (llm.not_configured when there is no model).
3. The model is called with tools (list_tables, describe_table, sample_values when privacy
   allows, answer); at most MAX_TOOL_ROUNDS rounds, then it must answer. A reply is read by
   prompt.parse_answer (JSON, fences, bare SQL). Unusable output gets one repair call,
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

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from actors._runtime import Actor, Request
from actors.planner.bus import current_catalog
from actors.planner.context import context_for_question
from actors.planner.llm import ModelNotFound, model_list, open_client
from actors.planner.serve import index_for, serve, without_private_values
from actors.planner.state import DEFAULT_MODEL, PlannerState, model_configured
from protocol.boot import Boot
from protocol.errors import PlannerError
from protocol.messages import (
    Clarification,
    ContextRequest,
    ContextTable,
    Failure,
    Plan,
    PlanRequest,
    SchemaContextText,
)
from protocol.tracing import log


@asynccontextmanager
async def open_state(boot: Boot) -> AsyncIterator[PlannerState]:
    config = boot.load_config()
    mc = config.model
    key = os.environ.get(mc.api_key_env, "")
    state = PlannerState(config=config, key_env=mc.api_key_env, key_set=bool(key))
    if model_configured(config):
        state.model = mc.model or DEFAULT_MODEL
        state.client = open_client(mc, key)
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


async def on_plan_request(
    state: PlannerState, msg: PlanRequest, req: Request
) -> Plan | Clarification | Failure:
    try:
        return await serve(state, msg, req)
    except ModelNotFound as exc:
        models = await model_list(state)
        raise PlannerError(
            f"The model endpoint at {state.endpoint} has no model named '{state.model}'.",
            why=("It offers: " + ", ".join(models) + ".")
            if models
            else "The endpoint answered HTTP 404.",
            hint="Set model under [model] in the config file (or PGASK_MODEL) to one it offers.",
            code="llm.model_not_found",
            detail=str(exc),
        ) from None


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
        index_for(state, catalog), msg.question, budget=budget, recent=list(msg.recent)
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
