"""The offline planner's value index: distinct values of category-like columns, read through the guard and the executor, kept per profile."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import trio

from actors._runtime import Request
from actors.planner.bus import read_rows
from actors.planner.state import PlannerState, ValueIndex
from protocol.messages import (
    Catalog,
    PlanRequest,
)
from protocol.privacy import redacted
from protocol.tracing import log

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
    from actors.planner.offline import parse_value_index, value_index_sql

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
                got = await read_rows(req, msg, "\nUNION ALL\n".join(part))
                if got is None:
                    complete = False
                    break
                rows.extend(got)
        if scope.cancelled_caught:
            complete = False
        index = parse_value_index(rows)
        log.info(
            "planner.values.built",
            profile=msg.profile,
            columns=len(index),
            complete=complete,
            ms=round((time.monotonic() - now) * 1000, 1),
        )
    state.values[msg.profile] = (catalog.fingerprint, now, index)
    return index
