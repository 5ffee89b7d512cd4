"""The tools the model may call: list_tables, describe_table, sample_values (when privacy allows)."""

from __future__ import annotations

from typing import Any

from actors._runtime import Request
from actors.planner.bus import check_sql
from actors.planner.context import SchemaIndex
from actors.planner.state import PlannerState
from protocol.messages import (
    Failure,
    PlanRequest,
    QueryRequest,
    QueryRows,
    Verdict,
)
from protocol.privacy import redacted
from protocol.sqltext import quote_always


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
        f"SELECT DISTINCT {quote_always(col.name)} FROM {quote_always(t.schema)}.{quote_always(t.name)} "
        f"WHERE {quote_always(col.name)} IS NOT NULL LIMIT 20"
    )
    verdict = await check_sql(req, msg, sql)
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
