"""The MCP side of `pgask mcp` (see ui/mcp_server.py): the tools and their schemas, the schema
resource, who is asking (the client's `initialize` name, for the audit trail) and asking the
person (MCP elicitation), on the official SDK's MCPServer. What each tool does is in
ui/mcp_tools.py; the workflow itself is the one engine's (ui/mcp_jobs.py)."""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, render_elicitation_schema
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, Field, ValidationError

from protocol.errors import PgaskError
from ui import format as fmt
from ui import mcp_tools as tools
from ui.mcp_jobs import Ask

SERVER_NAME = "pgask"
INSTRUCTIONS = """\
pgask runs SQL on PostgreSQL for you, checked by its guard (PostgreSQL's own parser, resolved
against the database's catalog) and recorded in an audit trail that names you.
Start with list_profiles, then list_tables / describe_table, or read the schema resource.
run_sql runs one statement: reads run at once (in a READ ONLY transaction); writes run only on
a profile whose mode allows them and only after the person confirms in your client (a
destructive statement needs the object's name typed by them); you cannot confirm for them.
check_sql says what the guard would decide without running anything. ask turns a question in
plain words into SQL with pgask's own planner. Results are capped; `truncated` says when rows
were left out, `row_count` is the true count (`row_count_exact` false: at least that many)."""

PROFILE = Annotated[
    str, Field(description="pgask profile (database) to use; empty = the first one served")
]
SQL = Annotated[str, Field(description="one PostgreSQL statement")]
MAX_ROWS = Annotated[
    int,
    Field(
        description=f"rows to return at most (default {tools.DEFAULT_ROWS}, "
        f"at most {tools.MAX_ROWS}); the true row count is always given"
    ),
]


# -- who asks, and asking the person ---------------------------------------------------------


def client_via(ctx: Any) -> str:
    """`mcp:<name> <version>` from the client's initialize (for the audit trail)."""
    info = None
    try:
        params = ctx.session.client_params
        info = params.client_info if params is not None else None
    except (AttributeError, ValueError):
        pass
    name = getattr(info, "name", "") or "unknown-client"
    version = getattr(info, "version", "") or ""
    text = re.sub(r"[^\w.@:/+ -]", "_", f"{name} {version}".strip())[:80]
    return f"mcp:{text}"


class RunIt(BaseModel):
    run: bool = Field(description="Run this statement now")


class TypeIt(BaseModel):
    name: str = Field(description="The object's name, typed exactly, to run this statement")


def ask_text(ask: Ask, profile: str, via: str) -> str:
    v = ask.verdict
    lines = [
        f"{via.removeprefix('mcp:')} asks pgask to run this on profile '{profile}':",
        "",
        ask.sql.strip(),
        "",
        f"Class: {v.sql_class}" + (f" ({'; '.join(v.reasons)})" if v.reasons else ""),
    ]
    if v.tables:
        lines.append("Touches: " + ", ".join(v.tables))
    if ask.estimate:
        lines.append(f"Rows: {ask.estimate}")
    if v.confirm == "typed":
        lines.append(f"This is destructive. Type '{v.confirm_name}' to run it.")
    else:
        lines.append("Run it?")
    return "\n".join(lines)


def can_elicit(ctx: Any) -> bool:
    caps = getattr(ctx, "client_capabilities", None)
    return caps is not None and getattr(caps, "elicitation", None) is not None


INPUT_KEY = "pgask_confirm"  # the input request of the 2026-07-28 multi-round-trip flow


class NeedsInput(Exception):
    """Raised out of a job (protocol 2026-07-28+): the person's answer comes with the client's
    retry of the call; the tool returns an InputRequiredResult asking for it."""

    def __init__(self, result: InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


def state_of(profile: str, sql: str) -> str:
    """What the retry must echo (sealed by the SDK): the statement the person was shown."""
    return hashlib.sha256(f"{profile}\x1f{sql}".encode()).hexdigest()


class Asker:
    """How one tool call asks its person, and why it could not when it could not.

    Up to protocol 2025-11-25 the question is an elicitation request sent mid-call. From
    2026-07-28 a call cannot send requests: the first round ends with an InputRequiredResult
    holding the same elicitation, and the client's retry brings the answer, which counts only
    for the exact statement it was asked about (the state the retry echoes is sealed)."""

    def __init__(self, ctx: Any, profile: str, via: str, approve: str = "") -> None:
        self.ctx, self.profile, self.via = ctx, profile, via
        self.approve = approve  # [mcp] approve: "tui" = a pgask TUI answers for such clients
        self.why_not = ""

    def _schema(self, ask: Ask) -> type[BaseModel]:
        return TypeIt if ask.verdict.confirm == "typed" else RunIt

    async def __call__(self, ask: Ask) -> bool | str | None:
        if not can_elicit(self.ctx) and self.approve == "tui":
            return await self._from_tui(ask)
        if not can_elicit(self.ctx):
            self.why_not = (
                f"This {ask.verdict.sql_class} statement needs its person's confirmation, "
                f"and this MCP client ({self.via.removeprefix('mcp:')}) cannot ask them (it "
                "does not support MCP elicitation). Nothing ran. Ask the person to run it in "
                "pgask themselves, or use a client that supports elicitation."
            )
            return None
        if not self.ctx.session.can_send_request:  # 2026-07-28+: input_required rounds
            return self._from_retry(ask)
        try:
            reply = await self.ctx.elicit(ask_text(ask, self.profile, self.via), self._schema(ask))
        except (MCPError, ValueError) as exc:
            self.why_not = f"The client could not ask its person ({exc}). Nothing ran."
            return None
        if not isinstance(reply, AcceptedElicitation):
            self.why_not = f"The person declined ({reply.action}). Nothing ran."
            return None
        return self._accepted(reply.data)

    async def _from_tui(self, ask: Ask) -> bool | str | None:
        from protocol.messages import ApprovalRequest
        from ui.mcp_approvals import ask_tui

        v = ask.verdict
        request = ApprovalRequest(
            via=self.via,
            profile=self.profile,
            sql=ask.sql,
            sql_class=v.sql_class,
            confirm=v.confirm,
            confirm_name=v.confirm_name,
            reasons=v.reasons,
            tables=v.tables,
            estimate=ask.estimate,
        )
        approved, typed, why = await ask_tui(request)
        if not approved:
            self.why_not = why
            return None
        return typed if v.confirm == "typed" else True

    def _accepted(self, data: BaseModel) -> bool | str:
        if isinstance(data, TypeIt):
            return data.name
        assert isinstance(data, RunIt)
        if not data.run:
            self.why_not = "The person chose not to run it. Nothing ran."
        return data.run

    def _from_retry(self, ask: Ask) -> bool | str | None:
        state = state_of(self.profile, ask.sql)
        responses = self.ctx.input_responses or {}
        reply = responses.get(INPUT_KEY)
        if reply is None or self.ctx.request_state != state:  # first round, or another SQL
            schema = render_elicitation_schema(self._schema(ask))
            request = ElicitRequest(
                params=ElicitRequestFormParams(
                    message=ask_text(ask, self.profile, self.via), requested_schema=schema
                )
            )
            raise NeedsInput(
                InputRequiredResult(input_requests={INPUT_KEY: request}, request_state=state)
            )
        if not isinstance(reply, ElicitResult) or reply.action != "accept":
            self.why_not = f"The person declined ({getattr(reply, 'action', '?')}). Nothing ran."
            return None
        try:
            return self._accepted(self._schema(ask).model_validate(reply.content or {}))
        except ValidationError:
            self.why_not = "The client's answer did not match the question. Nothing ran."
            return None


# -- the server ------------------------------------------------------------------------------


def _result(data: dict[str, Any] | str, *, error: bool = False) -> Any:
    text = data if isinstance(data, str) else fmt.json_dumps(data)
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)


def _failed(exc: PgaskError) -> Any:
    return _result(
        {"error": {"code": exc.code, "message": exc.message, "why": exc.why, "hint": exc.hint}},
        error=True,
    )


READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)


def build_server(served: tools.Served) -> Any:
    """The MCP server: the catalog tools, the SQL tools and the schema resource."""
    app = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    tool = registrar(app)
    catalog_tools(tool, served)
    sql_tools(tool, served)

    @app.resource(
        "pgask://{profile}/schema",
        name="schema",
        title="Database schema",
        description="The schema of a profile's database as pgask's planner gives it "
        "to its model: tables, columns, keys, comments.",
        mime_type="text/plain",
    )
    async def schema(profile: str) -> str:
        return await tools.schema_context(served, served.profile(profile))

    return app


def registrar(app: Any) -> Any:
    """`@tool(name, title, description)`: a tool whose PgaskError is a readable error result
    and whose NeedsInput is the input_required round it asks for."""

    def tool(name: str, title: str, description: str, annotations: Any = READ_ONLY) -> Any:
        def register(fn: Any) -> Any:
            @functools.wraps(fn)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except PgaskError as exc:
                    return _failed(exc)
                except NeedsInput as need:
                    return need.result

            app.add_tool(
                guarded,
                name=name,
                title=title,
                description=description,
                annotations=annotations,
                structured_output=False,
            )
            return fn

        return register

    return tool


def catalog_tools(tool: Any, served: tools.Served) -> None:
    @tool(
        "list_profiles",
        "List databases",
        "The pgask profiles (databases) this server offers, each with its safety mode: "
        "read-only profiles refuse every write; read-write ones run a write only after the "
        "person confirms it.",
    )
    async def list_profiles() -> Any:
        return _result(tools.list_profiles(served))

    @tool(
        "list_schemas",
        "List schemas",
        "The schemas of a profile's database that hold tables or views, with how many each.",
    )
    async def list_schemas(profile: PROFILE = "") -> Any:
        return _result(await tools.list_schemas(served, served.profile(profile)))

    @tool(
        "list_tables",
        "List tables",
        "Tables and views (with kind, estimated rows and comment), in one schema or all.",
    )
    async def list_tables(
        profile: PROFILE = "",
        schema: Annotated[str, Field(description="only this schema; empty = every schema")] = "",
    ) -> Any:
        return _result(await tools.list_tables(served, served.profile(profile), schema))

    @tool(
        "describe_table",
        "Describe a table",
        "A table's or view's columns (types, nullability, defaults, comments, enum values), "
        "primary and unique keys, foreign keys both ways, indexes and estimated row count.",
    )
    async def describe_table(
        table: Annotated[str, Field(description="table name, or schema.table")],
        profile: PROFILE = "",
    ) -> Any:
        return _result(await tools.describe_table(served, served.profile(profile), table))


def sql_tools(tool: Any, served: tools.Served) -> None:
    @tool(
        "check_sql",
        "Check SQL (runs nothing)",
        "What pgask's guard decides about SQL on a profile, without running it: its class "
        "(read, write, ddl, destructive, forbidden, invalid), whether it may run in the "
        "profile's mode and what it would need (nothing, a person's confirmation, the "
        "object's name typed), and why.",
    )
    async def check_sql(sql: SQL, profile: PROFILE = "") -> Any:
        return _result(await tools.check_sql(served, served.profile(profile), sql))

    @tool(
        "run_sql",
        "Run SQL (guarded)",
        "Run one SQL statement on a profile through pgask's guard. Reads run at once, in a "
        "READ ONLY transaction. A write, DDL or destructive statement runs only on a "
        "read-write profile and only after the person confirms it in your client (pgask "
        "asks them; destructive ones need the object's name typed); forbidden ones never "
        "run. Returns columns and the first rows (capped by rows and bytes), the true "
        "row_count and `truncated`, or the command tag and rows affected.",
        WRITES,
    )
    async def run_sql(
        sql: SQL, ctx: Context, profile: PROFILE = "", max_rows: MAX_ROWS = tools.DEFAULT_ROWS
    ) -> Any:
        name = served.profile(profile)
        asker = Asker(ctx, name, client_via(ctx), served.config.mcp.approve)
        out = await tools.run_sql(served, name, sql, max_rows=max_rows, via=asker.via, answer=asker)
        if asker.why_not:
            out["message"] = asker.why_not
        return _result(out)

    @tool(
        "explain",
        "Explain a query plan",
        "PostgreSQL's plan for one statement (EXPLAIN, FORMAT JSON) as a tree, with pgask's "
        "diagnosis (sequential scans on big tables, misestimates, spills, nested loops) and "
        "what to do. analyze=true executes it (EXPLAIN ANALYZE): a read inside a READ ONLY "
        "transaction; anything else only as the guard allows, after the person confirms, "
        "and rolled back.",
        WRITES,
    )
    async def explain(
        sql: SQL,
        ctx: Context,
        profile: PROFILE = "",
        analyze: Annotated[bool, Field(description="run it (EXPLAIN ANALYZE)")] = False,
    ) -> Any:
        name = served.profile(profile)
        asker = Asker(ctx, name, client_via(ctx), served.config.mcp.approve)
        out = await tools.explain(served, name, sql, analyze=analyze, via=asker.via, answer=asker)
        if asker.why_not:
            out["message"] = asker.why_not
        return _result(out)

    @tool(
        "ask",
        "Ask in plain words",
        "pgask's planner turns a question in plain words into SQL for the profile's schema, "
        "then the guard checks it. Returns the SQL, its explanation and assumptions, and, "
        "when it is a read, the rows; a write planned from a question is confirmed by the "
        "person like run_sql. The planner may answer with a clarifying question instead.",
        WRITES,
    )
    async def ask(
        question: Annotated[str, Field(description="the question, in plain words")],
        ctx: Context,
        profile: PROFILE = "",
        max_rows: MAX_ROWS = tools.DEFAULT_ROWS,
    ) -> Any:
        name = served.profile(profile)
        asker = Asker(ctx, name, client_via(ctx), served.config.mcp.approve)
        out = await tools.ask(
            served, name, question, max_rows=max_rows, via=asker.via, answer=asker
        )
        if asker.why_not:
            out["message"] = asker.why_not
        return _result(out)
