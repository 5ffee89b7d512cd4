"""How a plan request is served: the catalog, the model or the offline planner (or the one after the other), then the semantic check."""

from __future__ import annotations

import time

import msgspec

from actors._runtime import Request
from actors.planner.bus import current_catalog
from actors.planner.context import SchemaIndex
from actors.planner.model import plan_with_model
from actors.planner.state import PlannerState, ValueIndex
from actors.planner.values import value_index
from protocol.errors import PlannerError
from protocol.messages import (
    Catalog,
    Clarification,
    Failure,
    Plan,
    PlannerNotice,
    PlanRequest,
)
from protocol.privacy import redacted
from protocol.tracing import log


def without_private_values(catalog: Catalog, patterns: list[str]) -> Catalog:
    """The catalog minus the enum values of `[privacy] redact_columns` (the model sees the
    column, never its values)."""
    if not patterns:
        return catalog
    tables = []
    for t in catalog.tables:
        cols = [
            msgspec.structs.replace(c, enum_values=[])
            if c.enum_values and redacted(patterns, c.name, t.name, t.schema)
            else c
            for c in t.columns
        ]
        tables.append(msgspec.structs.replace(t, columns=cols))
    return msgspec.structs.replace(catalog, tables=tables)


async def serve(
    state: PlannerState, msg: PlanRequest, req: Request
) -> Plan | Clarification | Failure:
    started = time.perf_counter()
    catalog = await current_catalog(state, msg.profile, req)
    if isinstance(catalog, Failure):
        return catalog
    catalog = without_private_values(catalog, state.config.privacy.redact_columns)
    index = index_for(state, catalog)
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
        result = offline_answer(msg, catalog, values, reason="none")
    else:
        try:
            result = await plan_with_model(state, msg, req, index, catalog)
        except PlannerError as exc:
            timed_out = getattr(exc, "code", "") == "llm.timeout"
            if msg.planner == "model" or not (getattr(exc, "connect_failed", False) or timed_out):
                raise
            values = await value_index(state, msg, req, catalog)
            fallback = offline_answer(msg, catalog, values, reason="unreachable", quiet=True)
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
        from actors.planner.semantic import check_plan

        result = check_plan(result, catalog, msg.question)
    log.info(
        "planner.plan.finished",
        kind=type(result).__name__,
        source=getattr(result, "source", ""),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return result


def index_for(state: PlannerState, catalog: Catalog) -> SchemaIndex:
    cached = state.indexes.get(catalog.profile)
    if cached and cached[0] == catalog.fingerprint and catalog.fingerprint:
        return cached[1]
    index = SchemaIndex(catalog)
    state.indexes[catalog.profile] = (catalog.fingerprint, index)
    return index


def offline_answer(
    msg: PlanRequest, catalog: Catalog, values: ValueIndex, *, reason: str, quiet: bool = False
) -> Plan | Clarification | None:
    try:
        from actors.planner.offline import offline_plan
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
