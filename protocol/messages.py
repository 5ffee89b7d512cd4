"""Every message pgask's processes exchange. This file is the protocol spec.

A message on the wire is two frames: a `Header` (see envelope.py) and a body, each
msgpack. The body is one of the `Body` subclasses below; its `kind` tag is the dotted
name that also appears in the header. Decoding validates the body against its class
(`forbid_unknown_fields`), so a malformed message becomes an `error` reply, never a
crash or an action.

Conventions
  * Requests are `<Thing>Request` (or a verb); replies are the noun delivered.
  * `EXPECTS_REPLY = True` marks requests: the supervisor tracks them in flight and
    answers them with `actor.restarted` if the serving actor dies.
  * A reply that is part of a stream carries `more=True` in its header; the last
    message of the stream (or a lone reply) has `more=False`.
  * Cells of result rows are wire values (protocol/values.py): msgpack primitives or
    ext types, so numeric, timestamptz, interval ... cross losslessly.

PROTOCOL_VERSION history
  1  initial.
A new field *with a default* is not a bump; renaming, removing or retyping one is.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, NewType

import msgspec

PROTOCOL_VERSION = 1

ProfileName = NewType("ProfileName", str)
ActorId = NewType("ActorId", str)
MsgId = NewType("MsgId", str)
TraceId = NewType("TraceId", str)

SqlClass = Literal["read", "write", "ddl", "destructive", "forbidden", "invalid"]
Mode = Literal["read-only", "read-write"]
PlannerChoice = Literal["auto", "model", "offline"]
# What the person must do before a statement runs under a mode:
#   run      nothing, it runs      preview  shown first, Enter runs it
#   confirm  yes/no                typed    type the object's name
#   refuse   it never runs under this mode
Confirm = Literal["run", "preview", "confirm", "typed", "refuse"]


class Body(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Base of every message body: plain data, no side effects."""

    EXPECTS_REPLY: ClassVar[bool] = False


# -- errors -------------------------------------------------------------------


class Failure(Body, tag="error"):
    """any -> requester: the request was not served. Rendered as three short lines.

    `code` is a stable dotted name (`db.auth_failed`, `guard.refused`,
    `actor.restarted`, `protocol.bad_message`, ...); see protocol/errors.py.
    """

    code: str
    message: str  # what happened, in the person's nouns
    hint: str = ""  # what to do next
    why: str = ""  # why it happened, when that is not obvious
    retryable: bool = False
    detail: str = ""  # original driver / model text, shown folded


# -- lifecycle ----------------------------------------------------------------


class Ready(Body, tag="actor.ready"):
    """actor -> supervisor: started, socket connected, serving."""

    actor: str
    pid: int
    incarnation: int


class Ping(Body, tag="actor.ping"):
    """any -> actor: are you serving? `hold_ms` keeps the request in flight that long
    (used by tests and benchmarks to have a request in flight on purpose)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    hold_ms: int = 0
    payload: bytes = b""
    echo: bool = True  # send the payload back in the Pong


class Pong(Body, tag="actor.pong"):
    """actor -> requester: reply to Ping."""

    actor: str
    pid: int
    incarnation: int
    payload: bytes = b""


class Stop(Body, tag="actor.stop"):
    """supervisor -> actor: finish in-flight work quickly and exit 0."""


class ActorExited(Body, tag="actor.exited"):
    """supervisor -> ui (event): an actor died. `restarted` says whether it is back
    (or coming back); `disabled` that its restart budget ran out."""

    actor: str
    exit_code: int
    restarted: bool
    disabled: bool = False
    message: str = ""


class ActorInfo(msgspec.Struct, frozen=True, kw_only=True):
    actor: str
    pid: int
    incarnation: int
    state: Literal["starting", "running", "restarting", "disabled", "stopped"]
    restarts: int = 0
    rtt_ms: float | None = None


class ActorsRequest(Body, tag="actors.list"):
    """any -> supervisor: list the actors (and ping each one when `ping`)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    ping: bool = True
    profiles: list[str] = []  # start these profiles' executors first


class ActorsStatus(Body, tag="actors.status"):
    """supervisor -> requester: reply to ActorsRequest."""

    actors: list[ActorInfo]


class ConfigReload(Body, tag="config.reload"):
    """ui -> supervisor: read the config file again (`/reload`, or the UI saw it change).
    New and changed profiles serve executors started from now on; URL and demo profiles
    made during the run are kept."""

    EXPECTS_REPLY: ClassVar[bool] = True


class ConfigReloaded(Body, tag="config.reloaded"):
    """supervisor -> requester: reply to ConfigReload."""

    config: bytes  # msgpack of protocol.config.Config, as now in force
    source: str  # the file read ("" = no file: defaults and environment only)
    added: list[str] = []
    changed: list[str] = []  # their running executors keep the old settings until restarted
    removed: list[str] = []


# -- session (owned by the supervisor) -----------------------------------------


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One exchange of the conversation. Never holds result rows."""

    pane: int = 0
    profile: str = ""
    question: str = ""
    sql: str = ""
    explanation: str = ""
    outcome: str = ""  # e.g. "20 rows", "refused", "error db.undefined_column"
    at: float = 0.0


class Pane(msgspec.Struct, frozen=True, kw_only=True):
    profile: str
    mode: Mode = "read-only"


class SessionState(Body, tag="session.state"):
    """supervisor -> requester: the whole session (reply to every session.* request)."""

    session: str
    turns: list[Turn] = []
    pins: list[str] = []
    panes: list[Pane] = []


class SessionGet(Body, tag="session.get"):
    EXPECTS_REPLY: ClassVar[bool] = True


class SessionAddTurn(Body, tag="session.turn.add"):
    EXPECTS_REPLY: ClassVar[bool] = True
    turn: Turn


class SessionPin(Body, tag="session.pin"):
    EXPECTS_REPLY: ClassVar[bool] = True
    text: str


class SessionUnpin(Body, tag="session.unpin"):
    """Remove pin number `index` (1-based, as shown to the person)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    index: int


class SessionClear(Body, tag="session.clear"):
    """Forget the conversation turns (pins stay unless `pins`)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    pins: bool = False


class SessionSetPane(Body, tag="session.pane.set"):
    EXPECTS_REPLY: ClassVar[bool] = True
    index: int
    pane: Pane


# -- guard --------------------------------------------------------------------


class SqlError(msgspec.Struct, frozen=True, kw_only=True):
    """Where a text failed to parse: 1-based line and column, and a caret snippet."""

    message: str
    line: int = 0
    column: int = 0
    snippet: str = ""


class StatementVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The guard's finding for one statement of a text."""

    index: int  # 0-based position in the text
    kind: str  # e.g. "SELECT", "DELETE", "CREATE INDEX", "EXPLAIN ANALYZE"
    sql_class: SqlClass
    reasons: list[str] = []  # plain words: "DELETE without WHERE removes every row"
    tables: list[str] = []  # schema-qualified when written so: "public.orders"
    functions: list[str] = []  # called functions, lower case, pg_catalog. stripped
    text: str = ""  # this statement's own text


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    """HMAC over (sha256 of the exact SQL, class, profile, mode, expiry); see signing.py."""

    sql_sha256: str
    sql_class: SqlClass
    profile: str
    mode: Mode
    expires_at: float
    mac: str
    # the safety fingerprint of the catalog a read was judged against ("" = not judged against a
    # catalog); the executor runs a read only while its database still has this fingerprint
    catalog: str = ""


class GuardRequest(Body, tag="guard.check"):
    """any -> guard: classify `sql` for `profile` under `mode`."""

    EXPECTS_REPLY: ClassVar[bool] = True
    sql: str
    profile: str = ""
    mode: Mode = "read-only"
    preview: bool = False  # [safety] preview: reads are shown before they run


class Verdict(Body, tag="guard.verdict"):
    """guard -> requester: reply to GuardRequest. A refusal is a Verdict, not an error."""

    sql_class: SqlClass
    confirm: Confirm
    statements: list[StatementVerdict] = []
    reasons: list[str] = []
    tables: list[str] = []
    confirm_name: str = ""  # for confirm == "typed": what the person must type
    normalized: str = ""  # literals replaced by $n, for logs under redaction
    error: SqlError | None = None  # set when sql_class == "invalid"
    signature: Signature | None = None  # absent when confirm == "refuse"
    catalog: str = (
        ""  # the safety fingerprint of the catalog it was judged against ("" = text only)
    )
    superuser: bool = False  # judged for a profile whose login role is a superuser


class ResolveRequest(Body, tag="guard.resolve"):
    """guard -> executor:<profile>: which server code would these reads invoke?

    Each query is the text of one SELECT the guard classified as a read. The executor lets
    PostgreSQL's own analyzer resolve it (a temporary view over it, never executed, always
    rolled back) and closes the set over views, policies, operators, aggregates, types and
    domain constraints; where temporary objects cannot be created it answers with the
    per-catalog closure instead (`method = "closure"`). See actors/executor_resolve.py.
    """

    EXPECTS_REPLY: ClassVar[bool] = True
    queries: list[str] = []
    closure: bool = False  # also send the per-catalog closure (for reads it cannot probe)


def probe_view_sql(query: str) -> str:
    """The statement the executor runs to resolve one read (the guard checks beforehand that
    it parses as a view over exactly that query). The newlines keep a trailing `--` comment
    of the query from swallowing the closing parenthesis."""
    return f"CREATE TEMP VIEW pgask_probe AS SELECT 1 FROM (\n{query}\n) AS pgask_q"


class Invoked(msgspec.Struct, frozen=True, kw_only=True):
    """One object a statement reaches on the server, found by the catalog resolution."""

    kind: Literal["function", "relation", "policy", "constraint", "cast"]
    what: str  # PostgreSQL's own description: "function public.lower(integer)", "view v"
    via: str = ""  # the first object the statement names on the way ("" = named directly)
    schema: str = ""
    name: str = ""
    builtin: bool = False  # oid < 16384 (FirstNormalObjectId)
    extension: str = ""  # the extension that owns it, if any
    detail: str = ""  # functions: language, "security definer"; relations: relkind; casts: context
    definition: str = ""  # views: their SELECT; policies / domain checks: their expression
    nargs: int = 0


class Resolution(Body, tag="guard.resolution"):
    """executor -> guard: reply to ResolveRequest.

    method "analyzer": `invoked[i]` lists what queries[i] reaches.
    method "closure": `unsafe` maps each name that may reach server code (a function, an
    operator, a type, a relation) to what it reaches; the guard refuses any read naming one.
    """

    method: Literal["analyzer", "closure"]
    fingerprint: str
    server_version: int
    invoked: list[list[Invoked]] = []
    unsafe: dict[str, list[Invoked]] = {}
    implicit_casts: list[Invoked] = []  # closure: casts that run code without being named
    superuser: bool = False  # the profile's login role is a superuser
    why_closure: str = ""  # why the analyzer could not be used


# The PostgreSQL major version whose grammar the guard parses with (pglast's libpg_query);
# tests/unit/test_guard.py keeps it equal to pglast's.
GUARD_GRAMMAR_MAJOR = 18


class DoctorRequest(Body, tag="doctor.check"):
    """any -> executor:<profile>: how much could this connection do, whatever pgask decides?"""

    EXPECTS_REPLY: ClassVar[bool] = True


class DoctorFinding(msgspec.Struct, frozen=True, kw_only=True):
    check: str  # "superuser", "pg_execute_server_program", "standard_conforming_strings" ...
    value: str
    level: Literal["ok", "warn", "bad"] = "ok"
    advice: str = ""  # what to do about a warn / bad


class DoctorReport(Body, tag="doctor.report"):
    role: str
    database: str
    server_version: int
    findings: list[DoctorFinding] = []


# -- executor -----------------------------------------------------------------


class QueryRequest(Body, tag="query.run"):
    """any -> executor:<profile>: run one guarded statement.

    Replies: query.columns, query.rows (0..n, `more=True`), then query.done; or error.
    """

    EXPECTS_REPLY: ClassVar[bool] = True
    sql: str
    verdict: Signature
    max_rows: int = 10_000
    confirmed: bool = False
    # for the audit trail (never rows): what was asked and how the person decided
    question: str = ""
    decision: Literal["auto", "preview", "confirmed", "typed"] = "auto"
    normalized: str = ""  # Verdict.normalized: the SQL with literals as $n
    reasons: list[str] = []
    via: str = ""  # who asked, for the audit trail: "" = this person; "mcp:<client> <version>"


class Column(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type_oid: int
    type_name: str


class AuditNote(Body, tag="audit.note"):
    """any -> executor:<profile>: record a decision that ran nothing (refused by policy,
    declined by the person), so the audit trail shows it too."""

    decision: Literal["refused", "declined"]
    sql_class: SqlClass
    question: str = ""
    normalized: str = ""
    sql_sha256: str = ""
    reasons: list[str] = []
    mode: Mode = "read-only"
    via: str = ""  # who asked (QueryRequest.via)


class QueryColumns(Body, tag="query.columns"):
    columns: list[Column]


class QueryDescribe(Body, tag="query.describe"):
    """any -> executor:<profile>: the result columns of a guarded read, without running it
    (Parse and Describe in a READ ONLY transaction that is rolled back).

    Reply: query.columns (empty for a statement without a result); or error.
    """

    EXPECTS_REPLY: ClassVar[bool] = True
    sql: str
    verdict: Signature


class QueryRows(Body, tag="query.rows"):
    seq: int
    rows: list[list[Any]]  # wire values, see protocol/values.py


class QueryDone(Body, tag="query.done"):
    command: str  # the server's command tag, e.g. "SELECT 20"
    rows: int
    elapsed_ms: float
    truncated: bool = False


class QueryCancel(Body, tag="query.cancel"):
    """any -> executor: cancel the request whose message id is `target`."""

    EXPECTS_REPLY: ClassVar[bool] = True
    target: str


class QueryCancelled(Body, tag="query.cancelled"):
    target: str


# -- catalog (executor) -------------------------------------------------------


class CatalogColumn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type_name: str  # format_type(): "numeric(12,2)", "timestamp with time zone", "order_status"
    nullable: bool = True
    default: str = ""
    comment: str = ""
    enum_values: list[str] = []  # when the type is an enum


class CatalogForeignKey(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]


class CatalogIndex(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    definition: str  # pg_get_indexdef()
    columns: list[str] = []  # plain column keys in order ("" for expressions)
    unique: bool = False
    primary: bool = False
    valid: bool = True
    size_bytes: int = 0
    constraint: str = ""  # the constraint it backs, if any


class CatalogTable(msgspec.Struct, frozen=True, kw_only=True):
    schema: str
    name: str
    kind: Literal["table", "view", "matview", "foreign", "partitioned"] = "table"
    comment: str = ""
    est_rows: int = -1  # pg_class.reltuples; -1 = never analyzed
    columns: list[CatalogColumn] = []
    primary_key: list[str] = []
    unique_keys: list[list[str]] = []
    foreign_keys: list[CatalogForeignKey] = []
    indexes: list[CatalogIndex] = []


class CatalogFunction(msgspec.Struct, frozen=True, kw_only=True):
    schema: str
    name: str
    arguments: str
    result: str
    volatility: Literal["immutable", "stable", "volatile"]
    kind: Literal["function", "procedure", "aggregate", "window"] = "function"


class CatalogRequest(Body, tag="catalog.get"):
    """any -> executor:<profile>: the cached catalog (`refresh` forces a reload)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    refresh: bool = False
    # the fingerprint of a catalog the asker holds: while it is current, the reply is that
    # catalog's header with `unchanged` set and no tables (a 3,000-table catalog is ~2 MB)
    known: str = ""


class ConnectPassword(Body, tag="connect.password"):
    """ui -> executor:<profile>: the password the person typed when the server asked for one
    and none was configured. Held in the executor's memory only (never logged, never written),
    used for its new connections; the reply is the catalog, as for CatalogRequest."""

    EXPECTS_REPLY: ClassVar[bool] = True
    password: str


class Catalog(Body, tag="catalog.result"):
    """executor -> requester: every user schema's tables, views, columns, keys, indexes."""

    profile: str
    database: str
    server_version: int  # server_version_num, e.g. 180006
    fingerprint: str  # changes when the schema changes
    search_path: list[str] = []
    tables: list[CatalogTable] = []
    functions: list[CatalogFunction] = []
    loaded_ms: float = 0.0
    unchanged: bool = False  # the reply to CatalogRequest(known=fingerprint): use yours


class ExplainRequest(Body, tag="query.explain"):
    """any -> executor: EXPLAIN (FORMAT JSON) of a guarded statement; `analyze` executes it
    (a write is rolled back afterwards, and its verdict must carry confirmation)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    sql: str
    verdict: Signature
    analyze: bool = False
    confirmed: bool = False


class ExplainPlan(Body, tag="query.plan"):
    plan: str  # the server's JSON plan text, exactly
    elapsed_ms: float = 0.0


# -- export (exporter <-> executor) -------------------------------------------------


class CopyRequest(Body, tag="query.copy"):
    """exporter -> executor: run `sql`, a guarded `COPY (...) TO STDOUT ...` text, unbounded
    by the row cap, and write its output to the exporter's stream socket at `sink`
    (`unix:<path>` or `tcp:127.0.0.1:<port>`), first presenting `token` (protocol/copystream.py).

    Reply: query.copy.done, sent once the stream is closed after its last byte."""

    EXPECTS_REPLY: ClassVar[bool] = True
    sql: str
    verdict: Signature
    sink: str
    token: bytes
    normalized: str = ""  # the guard's text with literals as $n, for the audit trail
    # "statement": a query printed to stdout, bounded like any query by statement_timeout;
    # "export": a file export, bounded by export_timeout_s (0 = as long as it needs)
    timeout: Literal["export", "statement"] = "export"


class CopyDone(Body, tag="query.copy.done"):
    rows: int
    bytes: int  # written to the stream: the exporter checks it received as many
    elapsed_ms: float


class ExportRequest(Body, tag="export.start"):
    """ui -> exporter: write the full result of `sql` to `path` (atomic; refuses to
    overwrite unless `force`). Replies: export.progress (more=True) ..., export.done."""

    EXPECTS_REPLY: ClassVar[bool] = True
    profile: str
    sql: str
    verdict: Signature
    format: Literal["csv", "json", "jsonl"]
    path: str
    force: bool = False
    delimiter: str = ","


class ExportProgress(Body, tag="export.progress"):
    rows: int  # estimated from the bytes so far; export.done has the exact count
    bytes: int
    rows_per_s: float
    elapsed_s: float


class Exported(Body, tag="export.done"):
    path: str
    rows: int
    bytes: int
    elapsed_ms: float


class ExportCancel(Body, tag="export.cancel"):
    """ui -> exporter: stop the export whose request id is `target`; the temp file goes."""

    EXPECTS_REPLY: ClassVar[bool] = True
    target: str


# -- planner ------------------------------------------------------------------


class PlanRequest(Body, tag="plan.request"):
    """ui -> planner: turn `question` into one SQL text for `profile`.

    `recent` and `pins` come from the session; `feedback` carries the server's error for
    a self-repair attempt of the previous plan (then `previous_sql` is set). `planner`:
    "auto" uses the configured model (the offline planner without one, or when it cannot be
    reached), "model" only the model (llm.not_configured without one; no offline fallback),
    "offline" only the offline planner (`pgask ask --planner`)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    question: str
    profile: str
    mode: Mode = "read-only"
    recent: list[Turn] = []
    pins: list[str] = []
    previous_sql: str = ""
    feedback: str = ""
    planner: PlannerChoice = "auto"


class ContextRequest(Body, tag="plan.context"):
    """ui -> planner: the schema context the model would get for `question` (`pgask context`;
    no model call). `tokens` 0: the configured [model] context_tokens."""

    EXPECTS_REPLY: ClassVar[bool] = True
    question: str
    profile: str
    tokens: int = 0
    recent: list[Turn] = []


class ContextTable(msgspec.Struct, frozen=True, kw_only=True):
    schema: str
    name: str
    columns: list[str] = []


class SchemaContextText(Body, tag="plan.context_result"):
    """planner -> requester: that context, as the model would read it, and its size."""

    text: str
    tables: list[ContextTable] = []
    tokens: int = 0
    budget: int = 0
    whole: bool = False
    total_tables: int = 0


class Plan(Body, tag="plan.result"):
    """planner -> requester: the SQL to check and run, and why."""

    sql: str
    explanation: str = ""
    intent: Literal["read", "write", "ddl", "explain", "other"] = "read"
    assumptions: list[str] = []
    tables: list[str] = []
    source: Literal["model", "offline"] = "model"
    model: str = ""
    down_sql: str = ""  # for migrations: how to undo `sql`


class Clarification(Body, tag="plan.clarify"):
    """planner -> requester: the question is ambiguous; ask the person."""

    question: str
    options: list[str] = []


class PlannerNotice(Body, tag="plan.notice"):
    """planner -> requester, streamed before the Plan: progress such as a retry."""

    text: str


# -- approvals (an agent's write, approved by the person in a pgask TUI) --------------------
# `pgask mcp` with [mcp] approve = "tui", for a client that cannot ask its person (no MCP
# elicitation), sends the statement to a running pgask TUI found through
# <state dir>/approvals/<pid>.json; the TUI lists it under /approvals and the person answers.


class ApprovalRequest(Body, tag="approval.request"):
    """mcp front end -> ui (through the ui's supervisor): may this statement run? The reply is
    ApprovalAnswer, sent when the person answers (`/approve N [NAME]`, `/deny N`)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    via: str  # who asks: "mcp:<client> <version>"
    profile: str
    sql: str
    sql_class: SqlClass
    confirm: Confirm  # "confirm": yes/no; "typed": the person types `confirm_name`
    confirm_name: str = ""
    reasons: list[str] = []
    tables: list[str] = []
    estimate: str = ""  # "about 1,200 rows (planner estimate)"


class ApprovalAnswer(Body, tag="approval.answer"):
    """ui -> mcp front end: reply to ApprovalRequest; `typed` is what the person typed."""

    approved: bool
    typed: str = ""


class ApprovalWithdrawn(Body, tag="approval.withdrawn"):
    """mcp front end -> ui: the agent's call was cancelled or it went away; forget `target`."""

    target: str  # the ApprovalRequest's message id


# -- dba ---------------------------------------------------------------------------
# Index validation, migrations, backup and restore. The executor holds the credentials, so
# pg_dump / pg_restore run in its process (password in the child's environment, never on
# its command line). SQL that changes anything still arrives with a signed guard verdict.


class IndexCheckRequest(Body, tag="dba.index.check"):
    """any -> executor:<profile>: validate an index change before anything runs.

    The executor runs only its own catalog queries (read only) and replies with IndexCheck:
    for `create`, the table and columns exist, no equivalent index exists, and the table's
    size decides CONCURRENTLY; for `drop`, the index exists and backs no constraint; for
    `status`, whether the index is valid (after a concurrent build). The proposed SQL then
    goes through the guard and a confirmation like any other statement."""

    EXPECTS_REPLY: ClassVar[bool] = True
    action: Literal["create", "drop", "status"]
    table: str = ""  # create: [schema.]table
    columns: list[str] = []  # create: column names, in order
    unique: bool = False
    name: str = ""  # create: the new index's name ("" = generated); drop/status: [schema.]index
    method: str = "btree"
    concurrently: Literal["auto", "yes", "no"] = "auto"


class IndexCheck(Body, tag="dba.index.result"):
    """executor -> requester: the validated proposal (a refusal is an error reply)."""

    action: Literal["create", "drop", "status"]
    sql: str = ""  # the statement to check with the guard and run ("" for status)
    down_sql: str = ""  # how to undo it
    index: str = ""  # schema-qualified index name
    table: str = ""  # schema-qualified table name
    concurrently: bool = False
    table_rows: int = 0  # pg_class.reltuples (or a count when never analyzed)
    table_bytes: int = 0
    valid: bool = True  # pg_index.indisvalid
    idx_scan: int = -1  # pg_stat_user_indexes.idx_scan (-1 = unknown)
    last_idx_scan: str = ""  # ISO time of the last scan (PostgreSQL 16+), "" = unknown/never
    reasons: list[str] = []  # how the decisions were made
    warnings: list[str] = []  # things the person should read before confirming


class MigrationApply(Body, tag="dba.migration.apply"):
    """any -> executor:<profile>: run `statements` in ONE transaction (lock_timeout set), each
    with its own guard verdict; all or nothing. A lone statement that cannot run in a
    transaction (CREATE INDEX CONCURRENTLY) runs by itself outside one."""

    EXPECTS_REPLY: ClassVar[bool] = True
    statements: list[str]
    verdicts: list[Signature]
    confirmed: bool = False
    name: str = ""  # the migration's file name, for the audit trail
    direction: Literal["up", "down"] = "up"
    question: str = ""


class MigrationApplied(Body, tag="dba.migration.applied"):
    commands: list[str]  # the server's command tag per statement
    elapsed_ms: float


class BackupRequest(Body, tag="dba.backup"):
    """any -> executor:<profile>: `pg_dump -Fc` of the profile's database to `path` (written to
    a temporary name, renamed when complete). Replies: dba.progress (more=True) ...,
    dba.backup.done."""

    EXPECTS_REPLY: ClassVar[bool] = True
    path: str
    force: bool = False  # overwrite an existing file


class DbaProgress(Body, tag="dba.progress"):
    """executor -> requester, streamed during a backup or restore."""

    text: str
    objects: int = 0  # table contents dumped / restored so far
    bytes: int = 0
    elapsed_s: float = 0.0


class BackupDone(Body, tag="dba.backup.done"):
    path: str
    bytes: int
    tables: int
    elapsed_ms: float
    database: str = ""
    server_version: int = 0
    tool: str = ""  # the pg_dump used and why, e.g. "/usr/bin/pg_dump (18.6): ..."


class ArchiveRequest(Body, tag="dba.archive.inspect"):
    """any -> executor:<profile>: what a custom-format archive holds (`pg_restore -l`) and
    whether it can be restored into `target` (default: the profile's database)."""

    EXPECTS_REPLY: ClassVar[bool] = True
    path: str
    target: str = ""


class ArchiveInfo(Body, tag="dba.archive.info"):
    path: str
    database: str  # the database it was dumped from
    dumped_from: str  # server version, e.g. "18.6"
    dumped_by: str  # pg_dump version
    created: str = ""
    entries: dict[str, int] = {}  # TOC entry type -> count, e.g. {"TABLE": 5, "INDEX": 3}
    tables: list[str] = []  # schema.table of each table
    target: str = ""
    target_exists: bool = False
    target_version: int = 0  # server_version_num of the target server
    problems: list[str] = []  # why it cannot be restored there ([] = it can)
    tool: str = ""


class RestoreRequest(Body, tag="dba.restore"):
    """any -> executor:<profile>: create database `target` and `pg_restore` the archive into it.

    `verdict` is the guard's signed verdict for `CREATE DATABASE "<target>"` (the exact text of
    executor_dba.create_database_sql), so the mode is read-write and the person confirmed;
    `confirm_name` is what they typed and must equal `target`. Replies: dba.progress ...,
    dba.restore.done."""

    EXPECTS_REPLY: ClassVar[bool] = True
    path: str
    target: str
    verdict: Signature
    confirmed: bool = False
    confirm_name: str = ""


class Restored(Body, tag="dba.restore.done"):
    database: str
    tables: int
    elapsed_ms: float
    tool: str = ""
    warnings: list[str] = []


Message = (
    Failure
    | Ready
    | Ping
    | Pong
    | Stop
    | ActorExited
    | ActorsRequest
    | ActorsStatus
    | ConfigReload
    | ConfigReloaded
    | ConnectPassword
    | SessionState
    | SessionGet
    | SessionAddTurn
    | SessionPin
    | SessionUnpin
    | SessionClear
    | SessionSetPane
    | GuardRequest
    | Verdict
    | ResolveRequest
    | Resolution
    | DoctorRequest
    | DoctorReport
    | QueryRequest
    | QueryColumns
    | QueryDescribe
    | QueryRows
    | QueryDone
    | QueryCancel
    | QueryCancelled
    | AuditNote
    | CatalogRequest
    | Catalog
    | ExplainRequest
    | ExplainPlan
    | CopyRequest
    | CopyDone
    | ExportRequest
    | ExportProgress
    | Exported
    | ExportCancel
    | PlanRequest
    | Plan
    | Clarification
    | PlannerNotice
    | ContextRequest
    | SchemaContextText
    | IndexCheckRequest
    | IndexCheck
    | MigrationApply
    | MigrationApplied
    | BackupRequest
    | DbaProgress
    | BackupDone
    | ArchiveRequest
    | ArchiveInfo
    | RestoreRequest
    | Restored
    | ApprovalRequest
    | ApprovalAnswer
    | ApprovalWithdrawn
)


def _kinds() -> dict[str, type[Body]]:
    out: dict[str, type[Body]] = {}
    for cls in Message.__args__:  # type: ignore[attr-defined]
        out[cls.__struct_config__.tag] = cls
    return out


KINDS: dict[str, type[Body]] = _kinds()


def kind_of(body: Body) -> str:
    return type(body).__struct_config__.tag  # type: ignore[return-value]
