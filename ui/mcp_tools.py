"""What `pgask mcp`'s tools do, without MCP: each one a request over the bus or a job of the
one workflow (ui/mcp_jobs.py), its answer shaped as plain JSON data for a model to read.

ui/mcp_server.py registers these with the MCP SDK and supplies, per call, who is asking
(`via`, for the audit trail) and how to ask the person (`answer`). Nothing here can confirm a
statement: only `answer` can, and it asks a person (MCP elicitation, or a pgask TUI).
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import trio

from protocol.config import Config, starting_mode
from protocol.errors import PgaskError
from protocol.messages import (
    Catalog,
    CatalogRequest,
    CatalogTable,
    ContextRequest,
    Failure,
    GuardRequest,
    SchemaContextText,
    Verdict,
)
from ui import format as fmt
from ui.mcp_jobs import Ask, JobRequest, JobResult, run_cancellable
from ui.meta import find_table

# what a tool returns at most, unless the caller asks for less
DEFAULT_ROWS = 100
MAX_ROWS = 1000
MAX_BYTES = 64 * 1024  # the rows' JSON; a model's context is the scarce thing
# rows fetched to know the true count (the profile's max_rows, as the TUI shows); beyond them
# the count is "at least" (row_count_exact false)
FETCH_ROWS = 10_000

Answer = Callable[[Ask], Awaitable[bool | str | None]]


class ToolFailed(PgaskError):
    """A tool could not do what was asked; the model reads the message (what, why, next)."""


def failure_error(f: Failure) -> ToolFailed:
    return ToolFailed(f.message, why=f.why, hint=f.hint, code=f.code)


@dataclass
class Served:
    """What the server holds for every call: the bus, the config, the profiles it serves, and
    the nursery jobs run in (so a cancelled call can still cancel its query at the server)."""

    client: Any
    config: Config
    profiles: list[str]
    nursery: trio.Nursery

    def profile(self, name: str | None) -> str:
        if not name:
            return self.profiles[0]
        if name in self.profiles:
            return name
        close = difflib.get_close_matches(name, self.profiles, n=1)
        raise ToolFailed(
            f"pgask does not serve a profile named '{name}' here."
            + (f" Did you mean '{close[0]}'?" if close else ""),
            why="Profiles served: " + ", ".join(self.profiles) + ".",
            hint="Call list_profiles, then pass one of those names.",
            code="mcp.unknown_profile",
        )

    def mode(self, profile: str) -> str:
        return starting_mode(self.config, profile)

    def fetch_rows(self, profile: str) -> int:
        p = self.config.profiles.get(profile)
        return p.max_rows if p is not None and p.max_rows > 0 else FETCH_ROWS


# -- catalog ---------------------------------------------------------------------------------


def where(profile: Any) -> tuple[str, str]:
    """(database, host) as the config names them; never a password."""
    if profile is None:
        return "", ""
    database, host = profile.dbname, profile.host
    if profile.dsn.startswith(("postgresql://", "postgres://")):
        from urllib.parse import unquote, urlsplit

        try:
            parts = urlsplit(profile.dsn)
            database = database or unquote(parts.path.lstrip("/"))
            host = host or (parts.hostname or "")
        except ValueError:
            pass
    return database, host


def list_profiles(served: Served) -> dict[str, Any]:
    out = []
    for name in served.profiles:
        database, host = where(served.config.profiles.get(name))
        mode = served.mode(name)
        writes = (
            "run only after the person confirms each one"
            if mode == "read-write"
            else "refused (read-only profile)"
        )
        out.append(
            {"profile": name, "database": database, "host": host, "mode": mode, "writes": writes}
        )
    return {"profiles": out, "default": served.profiles[0]}


async def catalog(served: Served, profile: str) -> Catalog:
    reply = await served.client.request(f"executor:{profile}", CatalogRequest(), timeout=120)
    if isinstance(reply, Failure):
        raise failure_error(reply)
    assert isinstance(reply, Catalog)
    return reply


async def list_schemas(served: Served, profile: str) -> dict[str, Any]:
    cat = await catalog(served, profile)
    counts: dict[str, int] = {}
    for t in cat.tables:
        counts[t.schema] = counts.get(t.schema, 0) + 1
    schemas = [{"schema": s, "tables": n} for s, n in sorted(counts.items())]
    return {
        "profile": profile,
        "database": cat.database,
        "search_path": cat.search_path,
        "schemas": schemas,
    }


async def list_tables(served: Served, profile: str, schema: str = "") -> dict[str, Any]:
    cat = await catalog(served, profile)
    tables = [
        {
            "schema": t.schema,
            "name": t.name,
            "kind": t.kind,
            "est_rows": t.est_rows,
            "comment": t.comment,
        }
        for t in cat.tables
        if not schema or t.schema == schema
    ]
    if schema and not tables:
        known = sorted({t.schema for t in cat.tables})
        close = difflib.get_close_matches(schema, known, n=1)
        raise ToolFailed(
            f"There is no schema '{schema}' with tables in profile '{profile}'."
            + (f" Did you mean '{close[0]}'?" if close else ""),
            why="Schemas with tables: " + (", ".join(known) or "none") + ".",
            hint="Call list_schemas, or leave schema out for every table.",
            code="mcp.unknown_schema",
        )
    return {"profile": profile, "tables": tables}


def table_json(t: CatalogTable, cat: Catalog) -> dict[str, Any]:
    referenced_by = [
        {"table": f"{o.schema}.{o.name}", "constraint": fk.name, "columns": fk.columns}
        for o in cat.tables
        for fk in o.foreign_keys
        if fk.ref_schema == t.schema and fk.ref_table == t.name
    ]
    return {
        "schema": t.schema,
        "name": t.name,
        "kind": t.kind,
        "comment": t.comment,
        "est_rows": t.est_rows,
        "columns": [
            {
                "name": c.name,
                "type": c.type_name,
                "nullable": c.nullable,
                "default": c.default,
                "comment": c.comment,
                **({"enum_values": c.enum_values} if c.enum_values else {}),
            }
            for c in t.columns
        ],
        "primary_key": t.primary_key,
        "unique_keys": t.unique_keys,
        "foreign_keys": [msgspec.to_builtins(fk) for fk in t.foreign_keys],
        "referenced_by": referenced_by,
        "indexes": [
            {
                "name": i.name,
                "definition": i.definition,
                "unique": i.unique,
                "primary": i.primary,
                "valid": i.valid,
            }
            for i in t.indexes
        ],
    }


async def describe_table(served: Served, profile: str, table: str) -> dict[str, Any]:
    cat = await catalog(served, profile)
    t = find_table(cat, table)
    if t is None:
        names = [x.name for x in cat.tables] + [f"{x.schema}.{x.name}" for x in cat.tables]
        close = difflib.get_close_matches(table, names, n=1)
        raise ToolFailed(
            f"There is no table or view named '{table}' in profile '{profile}'."
            + (f" Did you mean '{close[0]}'?" if close else ""),
            hint="Call list_tables to see the names.",
            code="mcp.unknown_table",
        )
    return {"profile": profile, "table": table_json(t, cat)}


async def schema_context(served: Served, profile: str) -> str:
    """The schema as the planner gives it to its own model (the planner builds it)."""
    request = ContextRequest(
        question="", profile=profile, tokens=served.config.model.context_tokens
    )
    reply = await served.client.request("planner", request, timeout=120)
    if isinstance(reply, Failure):
        raise failure_error(reply)
    assert isinstance(reply, SchemaContextText)
    return reply.text


# -- the guard -------------------------------------------------------------------------------


def verdict_json(v: Verdict, mode: str) -> dict[str, Any]:
    needs = {
        "run": "nothing: it runs",
        "preview": "nothing: it runs (shown first)",
        "confirm": "a person's confirmation",
        "typed": f"a person typing '{v.confirm_name}'",
        "refuse": f"it is refused in {mode} mode",
    }[v.confirm]
    out: dict[str, Any] = {
        "sql_class": v.sql_class,
        "mode": mode,
        "allowed": v.confirm != "refuse",
        "needs": needs,
        "reasons": v.reasons,
        "tables": v.tables,
        "statements": [
            {
                "kind": s.kind,
                "sql_class": s.sql_class,
                "reasons": s.reasons,
                "tables": s.tables,
                "functions": s.functions,
            }
            for s in v.statements
        ],
        "judged_against_catalog": bool(v.catalog),
    }
    if v.error is not None:
        out["error"] = {
            "message": v.error.message,
            "line": v.error.line,
            "column": v.error.column,
            "snippet": v.error.snippet,
        }
    return out


async def check_sql(served: Served, profile: str, sql: str) -> dict[str, Any]:
    mode = served.mode(profile)
    reply = await served.client.request(
        "guard",
        GuardRequest(sql=sql, profile=profile, mode=mode),
        timeout=60,  # type: ignore[arg-type]
    )
    if isinstance(reply, Failure):
        raise failure_error(reply)
    assert isinstance(reply, Verdict)
    return {"profile": profile, **verdict_json(reply, mode)}


# -- jobs of the workflow ----------------------------------------------------------------------


def rows_json(result: JobResult, max_rows: int, max_bytes: int) -> dict[str, Any]:
    """Columns and the first rows, capped by count and by bytes, with the true count."""
    rows: list[Any] = []
    size = 0
    for row in result.rows[:max_rows]:
        item = [fmt.json_value(v) for v in row]
        size += len(fmt.json_dumps(item)) + 1
        if size > max_bytes and rows:
            break
        rows.append(item)
    done = result.done
    total = done.rows if done is not None else len(result.rows)
    exact = done is not None and not done.truncated
    return {
        "columns": [{"name": c.name, "type": c.type_name} for c in result.columns],
        "rows": rows,
        "returned": len(rows),
        "row_count": total,
        "row_count_exact": exact,  # False: the result has more rows than pgask fetched
        "truncated": len(rows) < total or not exact,
    }


def outcome_json(result: JobResult, mode: str, *, max_rows: int, max_bytes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": result.outcome}
    if result.verdict is not None:
        out["guard"] = verdict_json(result.verdict, mode)
    if result.failure is not None:
        f = result.failure
        out["error"] = {"code": f.code, "message": f.message, "why": f.why, "hint": f.hint}
    statements = (
        [st for st in result.verdict.statements if st.text.strip()] if result.verdict else []
    )
    if len(statements) > 1 and result.done is None and result.explain is None:
        out["outcome"] = "refused"
        out["message"] = (
            f"This text holds {len(statements)} statements; a call runs one. Nothing ran. "
            "Send each statement in its own call (each is checked on its own)."
        )
    elif result.outcome == "refused":
        reasons = "; ".join(result.verdict.reasons) if result.verdict else ""
        out["message"] = (
            f"pgask's guard refused this statement in {mode} mode; nothing ran. {reasons}"
        )
    if result.outcome == "declined":
        out["message"] = "Nobody confirmed this statement, so it did not run."
    if result.outcome == "cancelled":
        out["message"] = "The query was cancelled at the server."
    if result.done is not None:
        out["command"] = result.done.command
        out["elapsed_ms"] = round(result.done.elapsed_ms, 1)
        if result.columns:
            out.update(rows_json(result, max_rows, max_bytes))
        else:
            tail = result.done.command.rpartition(" ")[2]
            out["rows_affected"] = int(tail) if tail.isdigit() else result.done.rows
    return out


def caps(max_rows: int | None) -> int:
    return DEFAULT_ROWS if not max_rows or max_rows < 1 else min(max_rows, MAX_ROWS)


async def run_job(
    served: Served,
    kind: str,
    text: str,
    profile: str,
    via: str,
    answer: Answer,
    *,
    analyze: bool = False,
) -> Any:
    """One job through the workflow engine, in the profile's mode, named for the audit trail."""
    request = JobRequest(
        kind=kind,  # type: ignore[arg-type]
        text=text,
        profile=profile,
        mode=served.mode(profile),  # type: ignore[arg-type]
        max_rows=0 if kind == "explain" else served.fetch_rows(profile),
        analyze=analyze,
        via=via,
    )
    return await run_cancellable(
        served.nursery, served.client, served.config, request, answer=answer
    )


async def run_sql(
    served: Served, profile: str, sql: str, *, max_rows: int | None, via: str, answer: Answer
) -> dict[str, Any]:
    mode = served.mode(profile)
    result = await run_job(served, "sql", sql, profile, via, answer)
    return {
        "profile": profile,
        **outcome_json(result, mode, max_rows=caps(max_rows), max_bytes=MAX_BYTES),
    }


async def explain(
    served: Served, profile: str, sql: str, *, analyze: bool, via: str, answer: Answer
) -> dict[str, Any]:
    from ui.explain import ExplainFormatError, diagnose, parse_plan, render_tree

    mode = served.mode(profile)
    result = await run_job(served, "explain", sql, profile, via, answer, analyze=analyze)
    out = {"profile": profile, **outcome_json(result, mode, max_rows=0, max_bytes=0)}
    if result.explain is not None:
        try:
            parsed = parse_plan(result.explain.plan)
        except ExplainFormatError:
            out["plan_json"] = result.explain.plan
        else:
            out["plan"] = render_tree(parsed)
            out["diagnosis"] = [
                {"rule": f.rule, "node": f.node, "finding": f.message, "suggestion": f.suggestion}
                for f in diagnose(parsed)
            ]
        out["analyzed"] = analyze
    return out


async def ask(
    served: Served, profile: str, question: str, *, max_rows: int | None, via: str, answer: Answer
) -> dict[str, Any]:
    mode = served.mode(profile)
    result = await run_job(served, "ask", question, profile, via, answer)
    out: dict[str, Any] = {"profile": profile, "question": question}
    if result.clarification is not None:
        out["clarification"] = {
            "question": result.clarification.question,
            "options": result.clarification.options,
        }
    if result.plan is not None:
        out["sql"] = result.plan.sql
        out["explanation"] = result.plan.explanation
        out["assumptions"] = result.plan.assumptions
        out["planned_by"] = result.plan.source
    out.update(outcome_json(result, mode, max_rows=caps(max_rows), max_bytes=MAX_BYTES))
    return out
