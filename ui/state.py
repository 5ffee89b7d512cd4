"""The UI's whole state, and the functions that change it. No terminal, no sockets.

`reduce(state, header, body)` applies one incoming message; `submit_input(state, text)`
applies what the person typed; `handle_key(state, code)` applies one key. None of them does
I/O: messages to send go on `state.outbox` as (Header, Body) pairs, history lines to save on
`state.history_out`. They mutate `state` in place (a 1M-row result is not copied per batch)
and return whether the screen needs a redraw. app.py owns sockets, files and the terminal;
views.py only reads this state.

One user action (a question, /sql, /explain, /export) is a `Job` on its pane:
    ask:     plan.request -> plan.result -> guard.check -> verdict -> [dialog] -> query.run
    sql:     guard.check -> verdict -> [dialog] -> query.run -> query.columns/rows*/done
    explain: guard.check -> verdict -> [dialog for analyze of a write] -> query.explain
    export:  guard.check -> verdict -> export.start -> export.progress* -> export.done
    backup:  dba.backup -> dba.progress* -> dba.backup.done  [exists: dialog, again with force]
    restore: (read-write only) dba.archive.inspect -> summary -> [typed name] -> guard.check
             (CREATE DATABASE) -> verdict -> dba.restore -> dba.progress* -> dba.restore.done
/migrations lists the profile's migrations directory (a local file listing, ui/dba.py).
Every request of a job carries the job's trace; replies find their job by `reply_to`.
"""

from __future__ import annotations

import decimal
import difflib
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import msgspec

from protocol.columns import unique_names
from protocol.config import (
    Config,
    ProfileConfig,
    check_profile,
    profile_file_name,
    starting_mode,
    url_profile_name,
)
from protocol.envelope import Header, IdMaker
from protocol.errors import PgaskError
from protocol.messages import (
    ActorExited,
    ActorsRequest,
    ActorsStatus,
    ApprovalRequest,
    ApprovalWithdrawn,
    ArchiveInfo,
    ArchiveRequest,
    AuditNote,
    BackupDone,
    BackupRequest,
    Body,
    Catalog,
    CatalogRequest,
    Clarification,
    ConfigReload,
    ConfigReloaded,
    ConnectPassword,
    DbaProgress,
    ExplainPlan,
    ExplainRequest,
    ExportCancel,
    Exported,
    ExportProgress,
    ExportRequest,
    Failure,
    GuardRequest,
    Mode,
    Pane,
    Plan,
    PlannerNotice,
    PlanRequest,
    QueryCancel,
    QueryCancelled,
    QueryColumns,
    QueryDone,
    QueryRequest,
    QueryRows,
    Restored,
    RestoreRequest,
    SessionAddTurn,
    SessionClear,
    SessionGet,
    SessionPin,
    SessionSetPane,
    SessionState,
    SessionUnpin,
    Turn,
    Verdict,
    kind_of,
)
from protocol.privacy import MASK, redact_secrets, redacted_result_column
from ui import approvals as A
from ui import complete as C
from ui import dba, meta
from ui import keys as K
from ui.explain import explain_text
from ui.format import cell_text
from ui.workflow import (
    audited_refusal,
    gate,
    name_matches,
    password_configured,
    query_decision,
    recent_turns,
    repair_request,
    repairable,
    run_outcome,
    stored_sql,
)

NUMERIC_TYPES = frozenset(
    {"int2", "int4", "int8", "numeric", "float4", "float8", "money", "oid", "xid", "cid"}
)
MAX_HISTORY = 1000
MAX_LOG = 5000
MAX_PANES = 3

Style = Literal[
    "you", "sql", "info", "error", "error_why", "hint", "notice", "explain", "dim", "ok", "plan"
]


# -- pieces of state ---------------------------------------------------------------------


@dataclass
class ResultView:
    """One result in a results pane: the rows and where the person is looking."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)  # grow-only, fitted at draw time
    cur: int = 0
    top: int = 0
    left: int = 0  # first visible column (horizontal scroll)
    page_h: int = 1
    done: bool = False
    truncated: bool = False
    max_rows: int = 0
    command: str = ""
    elapsed_ms: float = 0.0
    sql: str = ""
    sort_col: int = -1  # client-side sort (`s`): the column, or -1 for the server's order
    sort_desc: bool = False
    original: list[list[Any]] | None = None  # the server's order, while sorted

    def __post_init__(self) -> None:
        if not self.numeric:
            self.numeric = [t in NUMERIC_TYPES for t in self.types]
        if not self.widths:
            self.widths = [max(1, min(40, len(c))) for c in self.columns]

    def move(self, delta: int = 0, to: int | None = None) -> None:
        n = len(self.rows)
        self.cur = max(0, min(n - 1, self.cur + delta if to is None else to)) if n else 0
        self.top = max(0, min(self.top, self.cur))
        self.top = max(self.top, self.cur - self.page_h + 1)

    def scroll(self, delta: int) -> None:
        self.left = max(0, min(len(self.columns) - 1, self.left + delta))

    @property
    def page(self) -> tuple[int, int]:
        pages = max(1, -(-len(self.rows) // max(1, self.page_h)))
        return min(pages, self.cur // max(1, self.page_h) + 1), pages  # the cursor's page


@dataclass
class LogEntry:
    style: Style
    text: str


@dataclass
class Job:
    """One user action on a pane, from what was typed to its outcome."""

    kind: Literal["ask", "sql", "explain", "export", "backup", "restore"]
    text: str  # the question, or the SQL
    trace: str
    started: float
    stage: str = "planning"  # planning, checking, confirming, running, exporting, done
    question: str = ""
    sql: str = ""
    explanation: str = ""
    verdict: Verdict | None = None
    analyze: bool = False
    fmt: str = ""
    path: str = ""
    target: str = ""  # restore: the new database
    force: bool = False  # export, backup: overwrite an existing file (confirmed)
    typed: str = ""  # restore: the name the person typed
    request_id: str = ""  # the request whose replies stream in now
    rows: int = 0
    cancelling: bool = False
    plan_request: PlanRequest | None = None  # ask: what the model was asked (a re-ask reuses it)
    repaired: bool = False  # ask: the model was re-asked once after a failed read


@dataclass
class PaneState:
    profile: str
    mode: Mode = "read-only"
    log: list[LogEntry] = field(default_factory=list)
    log_scroll: int = 0  # lines up from the bottom
    result: ResultView | None = None
    job: Job | None = None
    last: Job | None = None  # for F5
    last_sql: str = ""  # the last SQL that ran (or was refused), for /explain, /export
    notice: str = ""  # one line under the results, e.g. "Cancelled"
    superuser: bool = False  # the profile's login role is a superuser (learnt from verdicts)


@dataclass
class Pending:
    pane: int
    purpose: str  # plan, guard, query, explain, export, cancel, estimate, session, turn, catalog
    trace: str
    profile: str = ""  # catalog: whose


@dataclass
class Connection:
    """What the status bar says about a profile's database: the real state, learnt from the
    executor's catalog reply (it connects for it), never assumed."""

    state: Literal["connecting", "connected", "failed"] = "connecting"
    detail: str = ""  # connected: "PostgreSQL 17.2 · alice"; failed: the error's first line


@dataclass
class ConfirmModal:
    pane: int
    verdict: Verdict
    sql: str
    typed: str = ""  # for confirm == "typed"
    selected: int = 0  # 0 Run, 1 Edit, 2 Cancel
    estimate: str = ""  # rows affected, from EXPLAIN
    message: str = ""
    kind: Literal["confirm"] = "confirm"


@dataclass
class AskModal:
    """A yes/no question about a pane's job (overwrite an export or backup file), or, when `name` is set,
    a typed confirmation (restore: the target database's name)."""

    pane: int
    title: str
    lines: list[str]
    action: Literal["overwrite", "restore"]
    name: str = ""  # the text to type ("" = y/n)
    typed: str = ""
    message: str = ""
    kind: Literal["ask"] = "ask"


@dataclass
class ModeModal:
    pane: int
    mode: Mode
    kind: Literal["mode"] = "mode"


@dataclass
class PaletteItem:
    title: str
    key: str
    command: tuple[str, ...]  # ("action", name) | ("input", text) | ("use", profile) ...


@dataclass
class PaletteModal:
    items: list[PaletteItem]
    title: str = "Command palette"
    filter: str = ""
    selected: int = 0
    kind: Literal["palette"] = "palette"

    def matches(self) -> list[PaletteItem]:
        words = self.filter.lower().split()
        return [i for i in self.items if all(w in (i.title + " " + i.key).lower() for w in words)]


@dataclass
class PasswordModal:
    """The server asked for a password and none is configured: typed here, never shown,
    sent to the profile's executor once (memory only), never stored or logged."""

    profile: str
    pane: int
    typed: str = field(default="", repr=False)
    message: str = ""
    kind: Literal["password"] = "password"


@dataclass
class HelpModal:
    scroll: int = 0
    kind: Literal["help"] = "help"


Modal = ConfirmModal | ModeModal | PaletteModal | HelpModal | AskModal | PasswordModal


@dataclass
class UiState:
    config: Config
    profiles: list[str]  # the panes' profiles at start
    session: str = ""
    model_label: str = ""
    panes: list[PaneState] = field(default_factory=list)
    focus: int = 0  # focused pane
    area: Literal["input", "results", "log"] = "input"
    input: str = ""
    cursor: int = 0
    modal: Modal | None = None
    outbox: list[tuple[Header, Body]] = field(default_factory=list)
    pending: dict[str, Pending] = field(default_factory=dict)
    history: dict[str, list[str]] = field(default_factory=dict)
    history_out: list[tuple[str, str]] = field(default_factory=list)  # (profile, line) to append
    hist_pos: int | None = None
    draft: str = ""
    pasting: bool = False  # between the bracketed-paste markers: Enter is a line break
    swallow: bool = False  # after Alt (no dialog open): the next key was Alt+key, not typing
    catalogs: dict[str, Catalog] = field(default_factory=dict)  # profile -> cached catalog
    conn: dict[str, Connection] = field(default_factory=dict)  # profile -> connection state
    meta_waiting: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # for a catalog
    expanded: bool = False  # \x: the results show the selected row as column | value
    popup: C.Completion | None = None  # Tab's candidates, shown over the input; never modal
    search: str = ""  # the results' search text (`/` in the results, then n / N)
    searching: bool = False  # typing the search text
    popup_sel: int = 0
    timing: bool = False  # \timing: a "Time: ..." line after each statement
    passwords_sent: set[str] = field(default_factory=set)  # profiles given a typed password
    session_state: SessionState | None = None
    quit: bool = False
    connected: bool = False
    ready: bool = False  # every actor answered a ping once
    status: str = ""  # one global line, e.g. "Press Ctrl+Q to quit"
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    new_trace: Callable[[], str] = lambda: os.urandom(8).hex()
    ids: IdMaker = field(default_factory=lambda: IdMaker("ui", 1))
    crashes: int = 0  # reducer/key errors caught by app.py
    approvals: A.Queue = field(default_factory=A.Queue)  # agents' writes waiting (/approvals)

    def __post_init__(self) -> None:
        if not self.panes:
            self.panes = [PaneState(p, starting_mode(self.config, p)) for p in self.profiles]

    @property
    def pane(self) -> PaneState:
        return self.panes[self.focus]


def new_state(config: Config, profiles: list[str], welcome: str = "", **kw: Any) -> UiState:
    state = UiState(config=config, profiles=profiles, **kw)
    if welcome:
        say(state.panes[0], "info", welcome)
    for pane in state.panes:
        say(pane, "info", f"Connecting to '{pane.profile}' ({target(config, pane.profile)}) ...")
    say(
        state.panes[0],
        "dim",
        "Ask a question in plain words, or /sql SELECT ... · Ctrl+P commands · F1 help",
    )
    return state


def target(config: Config, profile: str) -> str:
    """database@host for the status bar, from the profile's DSN or fields."""
    p = config.profiles.get(profile) or ProfileConfig()
    db, host = p.dbname, p.host
    if p.dsn:
        try:
            parts = urlsplit(p.dsn)
            query = parse_qs(parts.query)
            db = db or parts.path.lstrip("/") or (parts.username or "")
            host = host or parts.hostname or query.get("host", [""])[0]
        except ValueError:
            pass
    env = os.environ  # what libpq (and the driver) fill in for the parts a profile leaves out
    db = db or env.get("PGDATABASE", "") or (p.user or env.get("PGUSER", "") if p.dsn else "")
    host = host or env.get("PGHOST", "")
    if host.startswith("/"):
        host = "local socket"  # a unix socket directory says little and takes the whole bar
    if p.service and not host:
        host = f"service={p.service}"
    return f"{db or '?'}@{host or 'localhost'}"


def say(pane: PaneState, style: Style, text: str) -> None:
    pane.log.append(LogEntry(style, text))
    if len(pane.log) > MAX_LOG:
        del pane.log[: len(pane.log) - MAX_LOG]
    pane.log_scroll = 0  # new output brings the view back to the bottom


def say_failure(pane: PaneState, f: Failure) -> None:
    say(pane, "error", f.message)
    if f.why:
        say(pane, "error_why", f.why)
    if f.hint:
        say(pane, "hint", f.hint)


# -- sending -----------------------------------------------------------------------------


def send(
    state: UiState, dst: str, body: Body, *, pane: int = 0, purpose: str = "", trace: str = ""
) -> str:
    header = Header(
        id=state.ids(), kind=kind_of(body), src="ui", dst=dst, trace=trace or state.new_trace(),
        session=state.session, sent_at=state.wall(),
    )  # fmt: skip
    state.outbox.append((header, body))
    if purpose:
        state.pending[header.id] = Pending(pane, purpose, header.trace)
    return header.id


def executor(pane: PaneState) -> str:
    return f"executor:{pane.profile}"


def start(state: UiState) -> None:
    """What the UI asks for as soon as it is connected: the session, and the tree's state,
    which also starts the panes' executors while the person types."""
    send(state, "supervisor", SessionGet(), purpose="session")
    profiles = sorted({p.profile for p in state.panes})
    send(state, "supervisor", ActorsRequest(ping=True, profiles=profiles), purpose="actors")
    for profile in profiles:
        fetch_catalog(state, profile)


def fetch_catalog(state: UiState, profile: str, *, refresh: bool = False) -> None:
    """Ask the profile's executor for its catalog: it connects to answer, so the reply (or the
    failure) is also what the status bar says about the connection."""
    if any(p.purpose == "catalog" and p.profile == profile for p in state.pending.values()):
        return
    if profile not in state.catalogs:
        state.conn[profile] = Connection("connecting")
    pane_i = next((i for i, p in enumerate(state.panes) if p.profile == profile), 0)
    rid = send(state, f"executor:{profile}", CatalogRequest(refresh=refresh))
    state.pending[rid] = Pending(pane_i, "catalog", state.outbox[-1][0].trace, profile)


def on_catalog(state: UiState, profile: str, body: Body) -> bool:
    waiting = state.meta_waiting.pop(profile, [])
    if isinstance(body, Catalog):
        first = state.conn.get(profile) is None or state.conn[profile].state != "connected"
        state.catalogs[profile] = body
        state.conn[profile] = Connection("connected", server_label(state, profile, body))
        for pane in state.panes if first else ():
            if pane.profile == profile:
                say(pane, "ok", f"Connected to '{profile}': {state.conn[profile].detail}.")
        for pane_i, text in waiting:
            if pane_i < len(state.panes) and state.panes[pane_i].profile == profile:
                run_meta(state, pane_i, text)
        return True
    if isinstance(body, Failure):
        state.conn[profile] = Connection("failed", body.message)
        if body.code == "db.auth_failed" and not password_configured(state.config, profile):
            pane_i = next((i for i, p in enumerate(state.panes) if p.profile == profile), 0)
            again = profile in state.passwords_sent
            if not isinstance(state.modal, PasswordModal):
                state.modal = PasswordModal(profile, pane_i, message=(
                    "That password was not accepted; try again." if again else ""))  # fmt: skip
            return True
        for i, pane in enumerate(state.panes):
            if pane.profile == profile and (i == 0 or waiting or profile not in state.catalogs):
                say_failure(pane, body)
                break
        return True
    return False


def send_password(state: UiState, m: PasswordModal) -> None:
    """One message to the executor; the typed text leaves the UI's state at once."""
    password, m.typed = m.typed, ""
    state.passwords_sent.add(m.profile)
    state.conn[m.profile] = Connection("connecting")
    rid = send(state, f"executor:{m.profile}", ConnectPassword(password=password))
    state.pending[rid] = Pending(m.pane, "catalog", state.outbox[-1][0].trace, m.profile)


def _password_key(state: UiState, m: PasswordModal, code: int) -> bool:
    if code in (K.ENTER, K.ENTER_CR):
        state.modal = None
        if m.typed:
            send_password(state, m)
        return True
    if code in (K.ESC, K.CTRL_C):
        state.modal, m.typed = None, ""
        pane = state.panes[m.pane] if m.pane < len(state.panes) else state.pane
        say(pane, "notice", f"Not connected to '{m.profile}': no password given. "
            "/use it again to be asked again.")  # fmt: skip
        return True
    if code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        m.typed = m.typed[:-1]
    elif code == K.CTRL_U:
        m.typed = ""
    elif K.is_printable(code):
        m.typed += chr(code)
    return True


def server_label(state: UiState, profile: str, catalog: Catalog) -> str:
    v = catalog.server_version
    version = f"PostgreSQL {v // 10000}.{v % 100}" if v >= 100000 else f"PostgreSQL {v}"
    user = profile_user(state.config, profile)
    return f"{version} \u00b7 {user}" if user else version


def profile_user(config: Config, profile: str) -> str:
    p = config.profiles.get(profile) or ProfileConfig()
    user = p.user
    if not user and p.dsn:
        try:
            parts = urlsplit(p.dsn)
            user = parts.username or parse_qs(parts.query).get("user", [""])[0]
        except ValueError:
            user = ""
        if not user and "://" not in p.dsn:
            m = re.search(r"(?:^|\s)user\s*=\s*(\S+)", p.dsn)
            user = m.group(1) if m else ""
    return user or os.environ.get("PGUSER", "")


# -- psql's meta-commands ----------------------------------------------------------------


def run_meta(state: UiState, pane_i: int, text: str) -> bool:
    """`\\dt`, `\\d NAME`, `\\x` ...: from the cached catalog or state; `\\l`, `\\du` as SQL."""
    pane = state.panes[pane_i]
    cmd, arg = meta.split(text)
    if cmd in ("\\?", "\\h"):
        say(pane, "info", "psql meta-commands pgask answers:")
        for line in meta.help_lines():
            say(pane, "dim", "  " + line)
        return True
    if cmd == "\\q":
        state.quit = True
        return True
    if cmd in ("\\x", "\\timing"):
        current = state.expanded if cmd == "\\x" else state.timing
        on = meta.switch(arg, current)
        if on is None:
            say(pane, "error", f"{cmd} takes on or off (or nothing, to switch), not '{arg}'.")
            return True
        if cmd == "\\x":
            state.expanded = on
            say(pane, "ok", f"Expanded display is {'on' if on else 'off'}."
                + (" The results show the selected row; Up/Down move between rows." if on else ""))  # fmt: skip
        else:
            state.timing = on
            say(pane, "ok", f"Timing is {'on' if on else 'off'}.")
        return True
    if cmd in meta.SQL_COMMANDS:
        job = Job("sql", meta.SQL_COMMANDS[cmd], state.new_trace(), state.clock())
        return start_job(state, pane_i, job)
    if cmd not in meta.CATALOG_COMMANDS:
        close = difflib.get_close_matches(cmd, sorted(meta.KNOWN), n=1)
        say(pane, "error", f"Unknown meta-command {cmd}."
            + (f" Did you mean {close[0]}?" if close else ""))  # fmt: skip
        say(pane, "hint", "\\? lists the psql meta-commands pgask knows.")
        return True
    catalog = state.catalogs.get(pane.profile)
    if catalog is None:
        state.meta_waiting.setdefault(pane.profile, []).append((pane_i, text))
        fetch_catalog(state, pane.profile)
        say(pane, "dim", f"Reading the catalog of '{pane.profile}' ...")
        return True
    ans = meta.answer(catalog, cmd, arg)
    if ans.error:
        say(pane, "error", ans.error)
        if ans.hint:
            say(pane, "hint", ans.hint)
        return True
    say(pane, "info", f"{ans.title} (from the cached catalog)")
    for line in ans.lines:
        say(pane, "dim", line)
    if ans.columns:
        types = [
            "int8" if isinstance(v, int) else "text" for v in (ans.rows[0] if ans.rows else [])
        ]
        pane.result = ResultView(list(ans.columns), types or ["text"] * len(ans.columns),
                                 rows=ans.rows, done=True, command=cmd)  # fmt: skip
    return True


def warm(state: UiState, profile: str, *, then_catalog: str = "") -> None:
    """Start the profile's executor (`profile` may be a URL); `then_catalog`: fetch that
    profile's catalog once the supervisor has answered (a URL profile exists only then)."""
    rid = send(state, "supervisor", ActorsRequest(ping=False, profiles=[profile]), purpose="warm")
    state.pending[rid].profile = then_catalog


def elapsed(state: UiState, job: Job) -> float:
    return state.clock() - job.started


# -- input -------------------------------------------------------------------------------


def submit_input(state: UiState, text: str) -> bool:
    """What happens on Enter: a slash command, or a question for the planner."""
    text = text.strip()
    state.input, state.cursor, state.hist_pos, state.draft = "", 0, None, ""
    if not text:
        return True
    pane_i = state.focus
    pane = state.pane
    if text.split(" ", 1)[0].lower() not in ("/quit", "/exit", "/q", "/help"):
        remember(state, pane.profile, text)
    if text.startswith("\\"):
        return run_meta(state, pane_i, text)
    if not text.startswith("/") and looks_like_sql(text):  # raw SQL ended by `;`, as in psql
        return start_job(state, pane_i, Job("sql", text, state.new_trace(), state.clock()))
    if not text.startswith("/"):
        return start_job(state, pane_i, Job("ask", text, state.new_trace(), state.clock()))
    cmd, _, arg = _split_cmd(text)
    cmd, arg = cmd.lower(), arg.strip()
    if cmd == "/sql":
        if not arg:
            say(pane, "error", "/sql needs the SQL to run, e.g. /sql SELECT now()")
            return True
        return start_job(state, pane_i, Job("sql", arg, state.new_trace(), state.clock()))
    if cmd == "/explain":
        analyze = False
        if arg.lower() == "analyze" or arg.lower().startswith("analyze "):
            analyze, arg = True, arg[7:].strip()
        sql = arg or pane.last_sql
        if not sql:
            say(pane, "error", "There is no query to explain yet.")
            say(pane, "hint", "Run one first, or give it: /explain SELECT ...")
            return True
        job = Job("explain", sql, state.new_trace(), state.clock(), analyze=analyze)
        return start_job(state, pane_i, job)
    if cmd == "/export":
        return export(state, arg)
    if cmd in ("/backup", "/restore", "/migrations"):
        return dba_command(state, cmd, arg)
    if cmd == "/use":
        return use_profile(state, arg)
    if cmd == "/reload":
        return reload_config(state)
    if cmd in A.COMMANDS:
        return A.command(state, cmd, arg, say)
    if cmd == "/split":
        return split(state, arg or pane.profile)
    if cmd == "/close":
        return close_pane(state)
    if cmd == "/pin":
        if not arg:
            say(pane, "error", "/pin needs the text to keep, e.g. /pin fiscal year starts in April")
            return True
        send(state, "supervisor", SessionPin(text=arg), pane=pane_i, purpose="session")
        say(pane, "ok", f"Pinned: {arg}")
        return True
    if cmd == "/unpin":
        if not arg.isdigit():
            say(pane, "error", "/unpin needs the pin's number, e.g. /unpin 1 (see /history)")
            return True
        send(state, "supervisor", SessionUnpin(index=int(arg)), pane=pane_i, purpose="session")
        return True
    if cmd == "/clear":
        send(state, "supervisor", SessionClear(), pane=pane_i, purpose="session")
        pane.log.clear()
        pane.result = None
        say(pane, "ok", "Context cleared: the model no longer sees earlier questions.")
        return True
    if cmd == "/history":
        return show_history(state)
    if cmd == "/mode":
        return ask_mode(state, arg)
    if cmd == "/help":
        state.modal = HelpModal()
        return True
    if cmd in ("/quit", "/exit", "/q"):
        state.quit = True
        return True
    close = difflib.get_close_matches(cmd, list(K.SLASH_COMMANDS), n=1)
    say(pane, "error", f"Unknown command {cmd}." + (f" Did you mean {close[0]}?" if close else ""))
    say(pane, "hint", "F1 lists the commands.")
    return True


def _split_cmd(text: str) -> tuple[str, str, str]:
    """'/sql\nselect 1' splits like '/sql select 1': any whitespace ends the command."""
    m = re.match(r"(\S+)(\s*)(.*)", text, re.S)
    return (m.group(1), m.group(2), m.group(3)) if m else (text, "", "")


def remember(state: UiState, profile: str, text: str) -> None:
    text = redact_secrets(text)  # a password typed in a URL never reaches the history file
    items = state.history.setdefault(profile, [])
    if items and items[-1] == text:
        return
    items.append(text)
    del items[:-MAX_HISTORY]
    state.history_out.append((profile, text))


def start_job(state: UiState, pane_i: int, job: Job) -> bool:
    pane = state.panes[pane_i]
    if pane.job is not None:
        say(pane, "error", f"'{pane.profile}' is still busy with the previous request.")
        say(pane, "hint", "Wait for it, or press Ctrl+C to cancel it (F6 moves to another pane).")
        return True
    pane.job, pane.last, pane.notice = job, job, ""
    if job.kind == "ask":
        say(pane, "you", job.text)
        job.question = job.text
        session = state.session_state
        body = PlanRequest(question=job.text, profile=pane.profile, mode=pane.mode,
                           recent=recent_turns(session, pane.profile),
                           pins=list(session.pins) if session else [])  # fmt: skip
        job.stage, job.plan_request = "planning", body
        job.request_id = send(state, "planner", body, pane=pane_i, purpose="plan", trace=job.trace)
        return True
    if job.kind == "sql":
        say(pane, "you", job.text)
    elif job.kind == "explain":
        say(pane, "you", f"/explain{' analyze' if job.analyze else ''} {job.text}")
    job.sql = job.text
    check(state, pane_i, job)
    return True


def check(state: UiState, pane_i: int, job: Job) -> None:
    pane = state.panes[pane_i]
    job.stage = "checking"
    preview = state.config.safety.preview and job.kind in ("ask", "sql")
    body = GuardRequest(sql=job.sql, profile=pane.profile, mode=pane.mode, preview=preview)
    job.request_id = send(state, "guard", body, pane=pane_i, purpose="guard", trace=job.trace)


def finish(state: UiState, pane_i: int, outcome: str, *, store: bool = True) -> None:
    """The job is over: record the turn (never rows) and free the pane."""
    pane = state.panes[pane_i]
    job = pane.job
    pane.job = None
    if job is None:
        return
    job.stage = "done"
    if not store or job.kind in ("export", "explain", "backup", "restore"):
        return
    sql = stored_sql(job.sql, job.verdict, redact_literals=state.config.privacy.redact_literals)
    turn = Turn(pane=pane_i, profile=pane.profile, question=job.question, sql=sql,
                explanation=job.explanation, outcome=outcome, at=state.wall())  # fmt: skip
    send(state, "supervisor", SessionAddTurn(turn=turn), pane=pane_i, purpose="session",
         trace=job.trace)  # fmt: skip


def run_query(state: UiState, pane_i: int, job: Job, *, confirmed: bool) -> None:
    pane = state.panes[pane_i]
    verdict = job.verdict
    assert verdict is not None and verdict.signature is not None
    pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
    if job.kind == "explain":
        job.stage = "running"
        body: Body = ExplainRequest(sql=job.sql, verdict=verdict.signature, analyze=job.analyze,
                                    confirmed=confirmed)  # fmt: skip
        job.request_id = send(
            state, executor(pane), body, pane=pane_i, purpose="explain", trace=job.trace
        )
        return
    if job.kind == "export":
        send_export(state, pane_i, job)
        say(pane, "info", f"Exporting the full result of the last query (not only the rows "
            f"on screen) to {job.path} ...")  # fmt: skip
        return
    job.stage = "running"
    pane.last_sql = job.sql
    decision = query_decision(verdict)
    body = QueryRequest(sql=job.sql, verdict=verdict.signature, max_rows=pcfg.max_rows,
                        confirmed=confirmed, question=job.question, decision=decision,  # type: ignore[arg-type]
                        normalized=verdict.normalized, reasons=verdict.reasons)  # fmt: skip
    job.request_id = send(
        state, executor(pane), body, pane=pane_i, purpose="query", trace=job.trace
    )


def send_export(state: UiState, pane_i: int, job: Job) -> None:
    """The exporter checks the exact COPY text with the guard; the signature names the query."""
    assert job.verdict is not None and job.verdict.signature is not None
    job.stage = "exporting"
    body = ExportRequest(profile=state.panes[pane_i].profile, sql=job.sql,
                         verdict=job.verdict.signature, format=job.fmt, path=job.path,  # type: ignore[arg-type]
                         force=job.force)  # fmt: skip
    job.request_id = send(state, "exporter", body, pane=pane_i, purpose="export", trace=job.trace)


def cancel(state: UiState) -> bool:
    """Ctrl+C / Esc: stop what the focused pane is doing, or say how to quit."""
    pane_i, pane = state.focus, state.pane
    job = pane.job
    if job is None:
        state.status = "Nothing is running. To quit press Ctrl+Q or type /quit."
        return True
    if job.stage in ("running", "exporting") and job.request_id:
        if job.cancelling:
            return True
        job.cancelling = True
        if job.stage == "exporting":
            send(state, "exporter", ExportCancel(target=job.request_id), pane=pane_i,
                 purpose="cancel", trace=job.trace)  # fmt: skip
        else:
            send(state, executor(pane), QueryCancel(target=job.request_id), pane=pane_i,
                 purpose="cancel", trace=job.trace)  # fmt: skip
        pane.notice = "Cancelling ..."
        return True
    # planning or checking: nothing runs on the database yet, so stop waiting for it
    for rid in [k for k, p in state.pending.items() if p.trace == job.trace]:
        del state.pending[rid]
    what = "the model" if job.stage == "planning" else "the check"
    say(pane, "notice", f"Cancelled: stopped waiting for {what}. Nothing ran.")
    finish(state, pane_i, "cancelled", store=False)
    return True


def export(state: UiState, arg: str) -> bool:
    pane_i, pane = state.focus, state.pane
    fmt, _, path = arg.partition(" ")
    fmt, path = fmt.lower() or "csv", path.strip()
    if fmt not in ("csv", "json", "jsonl"):
        say(pane, "error", f"Cannot export as '{fmt}'.")
        say(pane, "hint", "Use /export csv, /export json or /export jsonl, then a path.")
        return True
    if not pane.last_sql:
        say(pane, "error", "There is no result to export yet.")
        say(pane, "hint", "Run a query first; /export writes its full result (no row cap).")
        return True
    if not path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(state.wall()))
        path = os.path.join(os.getcwd(), f"{profile_file_name(pane.profile)}-{stamp}.{fmt}")
    path = os.path.abspath(os.path.expanduser(path))
    job = Job("export", pane.last_sql, state.new_trace(), state.clock(), fmt=fmt, path=path)
    job.sql = pane.last_sql
    if pane.job is not None:
        return start_job(state, pane_i, job)  # says it is busy
    pane.job, pane.notice = job, ""
    say(pane, "you", f"/export {fmt} {path}")
    check(state, pane_i, job)
    return True


def use_profile(state: UiState, name: str) -> bool:
    pane = state.pane
    if not name:
        say(pane, "error", "/use needs a profile: " + ", ".join(sorted(state.config.profiles)))
        return True
    from_url = name.startswith(("postgresql://", "postgres://"))
    if from_url:  # a URL works wherever a profile does
        url = name
        try:
            check_profile("", ProfileConfig(dsn=url))
        except PgaskError as exc:
            say_failure(pane, exc.to_failure())
            return True
        name = url_profile_name(url)
        # typed by the person: no config forbids writes; it still starts read-only
        state.config.profiles.setdefault(name, ProfileConfig(dsn=url, read_write=True))
        if name not in state.catalogs:
            state.conn[name] = Connection("connecting")
        if pane.job is None:  # the supervisor learns the URL profile the same way
            warm(state, url, then_catalog=name if name not in state.catalogs else "")
    if name not in state.config.profiles:
        close = difflib.get_close_matches(name, list(state.config.profiles), n=1)
        say(pane, "error", f"There is no profile named '{redact_secrets(name)}'."
            + (f" Did you mean '{close[0]}'?" if close else ""))  # fmt: skip
        say(pane, "hint", "Known profiles: " + ", ".join(sorted(state.config.profiles))
            + ". Added one to the config just now? /reload reads it again.")  # fmt: skip
        return True
    if pane.job is not None:
        say(pane, "error", "Wait for the running request (or Ctrl+C) before switching.")
        return True
    pane.profile, pane.mode, pane.result, pane.last_sql = (
        name,
        starting_mode(state.config, name),
        None,
        "",
    )
    say(pane, "info", f"Now using '{name}' ({target(state.config, name)}), {pane.mode}.")
    save_pane(state, state.focus)
    if not from_url:
        warm(state, name)
        if name not in state.catalogs:
            fetch_catalog(state, name)
    return True


def reload_config(state: UiState, *, auto: bool = False) -> bool:
    """`/reload`, or the config file changed on disk: the supervisor reads it again (so new
    profiles can be used at once) and sends back what is now in force."""
    if any(p.purpose == "reload" for p in state.pending.values()):
        return True
    rid = send(state, "supervisor", ConfigReload(), pane=state.focus, purpose="reload")
    state.pending[rid].profile = "auto" if auto else ""
    return True


def on_reloaded(state: UiState, pane: PaneState, body: Body, auto: bool) -> bool:
    if isinstance(body, Failure):
        say_failure(pane, body)
        say(pane, "hint", "The settings in use are unchanged; fix the file and /reload.")
        state.status = "The config file changed but cannot be read; see the conversation."
        return True
    if not isinstance(body, ConfigReloaded):
        return False
    state.config = msgspec.msgpack.decode(body.config, type=Config)
    parts = []
    if body.added:
        parts.append("new: " + ", ".join(body.added))
    if body.changed:
        parts.append("changed: " + ", ".join(body.changed)
                     + " (a connection already open keeps its old settings until pgask restarts)")  # fmt: skip
    if body.removed:
        parts.append("removed: " + ", ".join(body.removed))
    where = body.source or "defaults and environment"
    what = "; ".join(parts) if parts else "no profile changed"
    say(
        pane,
        "ok",
        f"Config {'changed on disk and was ' if auto else ''}reloaded from {where}: {what}.",
    )
    state.status = f"Config reloaded: {what}." if auto else ""
    return True


def split(state: UiState, name: str) -> bool:
    if name not in state.config.profiles:
        return use_profile(state, name)  # same wording for an unknown profile
    if len(state.panes) >= MAX_PANES:
        say(state.pane, "error", f"At most {MAX_PANES} panes; /close one first.")
        return True
    state.panes.append(PaneState(name, starting_mode(state.config, name)))
    state.focus = len(state.panes) - 1
    say(state.pane, "info", f"Pane {state.focus + 1}: '{name}' ({target(state.config, name)}).")
    save_pane(state, state.focus)
    warm(state, name)
    if name not in state.catalogs:
        fetch_catalog(state, name)
    return True


def close_pane(state: UiState) -> bool:
    if len(state.panes) == 1:
        say(state.pane, "error", "This is the only pane. /quit leaves pgask.")
        return True
    if state.pane.job is not None:
        say(state.pane, "error", "Cancel the running request (Ctrl+C) before closing the pane.")
        return True
    del state.panes[state.focus]
    state.focus = min(state.focus, len(state.panes) - 1)
    return True


def save_pane(state: UiState, i: int) -> None:
    pane = state.panes[i]
    send(state, "supervisor", SessionSetPane(index=i, pane=Pane(profile=pane.profile, mode=pane.mode)),
         pane=i, purpose="session")  # fmt: skip


def ask_mode(state: UiState, arg: str) -> bool:
    pane = state.pane
    if arg not in ("read-only", "read-write"):
        say(pane, "error", f"/mode needs read-only or read-write (now: {pane.mode}).")
        return True
    if arg == pane.mode:
        say(pane, "info", f"'{pane.profile}' is already {arg}.")
        return True
    if arg == "read-only":
        set_mode(state, state.focus, "read-only")
        return True
    pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
    if not pcfg.read_write:
        say(pane, "error", f"Profile '{pane.profile}' may not be switched to read-write.")
        say(pane, "error_why", "Its configuration does not allow writes (read_write = false).")
        say(pane, "hint", f"Set read_write = true under [profiles.{pane.profile}] in "
            f"{state.config.source or 'the config file'}, then restart pgask.")  # fmt: skip
        return True
    state.modal = ModeModal(state.focus, "read-write")
    return True


def set_mode(state: UiState, pane_i: int, mode: Mode) -> None:
    pane = state.panes[pane_i]
    pane.mode = mode
    if mode == "read-write":
        say(pane, "notice", f"'{pane.profile}' is now READ-WRITE: writes run after you confirm "
            "each one. /mode read-only switches back.")  # fmt: skip
    else:
        say(pane, "ok", f"'{pane.profile}' is now read-only: writes are refused.")
    save_pane(state, pane_i)


def show_history(state: UiState) -> bool:
    pane = state.pane
    session = state.session_state
    turns = [t for t in (session.turns if session else []) if t.profile == pane.profile]
    say(pane, "info", f"History of '{pane.profile}' ({len(turns)} turns):")
    for t in turns[-20:]:
        what = t.question or t.sql
        say(pane, "dim", f"  {what}  -> {t.outcome}")
    pins = session.pins if session else []
    if pins:
        say(pane, "info", "Pins:")
        for i, p in enumerate(pins, 1):
            say(pane, "dim", f"  {i}. {p}")
    return True


# -- incoming messages -------------------------------------------------------------------


def reduce(state: UiState, header: Header, body: Body) -> bool:
    """Apply one message from the tree. Returns True when the screen should change."""
    if isinstance(body, ActorExited):
        return on_actor_exited(state, body)
    if isinstance(body, ApprovalRequest | ApprovalWithdrawn):  # an agent asks (ui/approvals.py)
        return A.on_message(state, header, body, say)
    pending = state.pending.get(header.reply_to)
    if pending is None:
        if isinstance(body, SessionState):
            state.session_state = body
        return False  # a late reply to something abandoned
    if not header.more:
        del state.pending[header.reply_to]
    if pending.pane >= len(state.panes):
        return False
    pane = state.panes[pending.pane]
    if pending.purpose == "catalog":
        return on_catalog(state, pending.profile, body)
    if pending.purpose == "reload":
        return on_reloaded(state, pane, body, pending.profile == "auto")
    if pending.purpose in ("actors", "warm"):
        if isinstance(body, ActorsStatus):
            state.ready = state.ready or pending.purpose == "actors"
            if pending.profile:
                fetch_catalog(state, pending.profile)
        elif isinstance(body, Failure):
            state.ready = True
            say_failure(pane, body)
        return True
    if pending.purpose == "session":
        if isinstance(body, SessionState):
            state.session_state = body
        elif isinstance(body, Failure):
            say_failure(pane, body)
        return True
    job = pane.job
    if pending.purpose == "cancel":
        if isinstance(body, Failure) and job is not None:
            job.cancelling = False
            pane.notice = body.message  # e.g. it just finished
        return True
    if job is None or job.trace != pending.trace:
        return False
    handler = _HANDLERS.get(pending.purpose)
    return handler(state, pending.pane, job, body) if handler else False


def on_unreadable(state: UiState, header: Header, failure: Failure) -> bool:
    """A reply that could not be read ends its request with `failure` (its stream is
    cancelled at the executor): a result is never shown with a part missing."""
    pending = state.pending.get(header.reply_to)
    if pending is None:
        return False
    if header.src.startswith("executor:"):
        send(state, header.src, QueryCancel(target=header.reply_to), trace=header.trace)
    final = msgspec.structs.replace(header, more=False, kind="error")
    return reduce(state, final, failure)


def on_actor_exited(state: UiState, body: ActorExited) -> bool:
    for pane in state.panes:
        mine = body.actor == executor(pane) or (
            body.actor in ("planner", "guard", "exporter") and pane.job is not None
        )
        if mine or pane is state.pane:
            say(
                pane, "notice", body.message or f"The {body.actor} stopped (exit {body.exit_code})."
            )
    return True


def _on_plan(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, PlannerNotice):
        pane.notice = body.text
        return True
    if isinstance(body, Clarification):
        say(pane, "explain", body.question)
        for n, opt in enumerate(body.options, 1):
            say(pane, "dim", f"  {n}. {opt}")
        finish(state, i, "clarification")
        return True
    if _failed(state, i, body):
        return True
    if isinstance(body, Plan):
        pane.notice = ""
        job.sql, job.explanation = body.sql, body.explanation
        if body.explanation:
            say(pane, "explain", body.explanation)
        for a in body.assumptions:
            say(pane, "dim", f"  assumes: {a}")
        say(pane, "sql", body.sql)
        check(state, i, job)
        return True
    return False


def _failed(state: UiState, i: int, body: Body) -> bool:
    """A Failure ends the pane's job: the error is shown in three lines."""
    if not isinstance(body, Failure):
        return False
    say_failure(state.panes[i], body)
    finish(state, i, f"error {body.code}")
    return True


def _on_verdict(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if _failed(state, i, body):
        return True
    if not isinstance(body, Verdict):
        return False
    job.verdict = body
    if body.catalog:  # judged against the profile's database: it says who we are there
        pane.superuser = body.superuser
    if job.kind == "export":
        if body.sql_class != "read" or body.signature is None:
            say(pane, "error", "Only the result of a read query can be exported.")
            say(pane, "error_why", f"The last statement is {body.sql_class}.")
            finish(state, i, "refused", store=False)
            return True
        run_query(state, i, job, confirmed=False)
        return True
    step = gate(body)
    if step in ("invalid", "refused"):
        if audited_refusal(body):
            audit_note(state, i, job, body, "refused")
        refused(state, i, job, body)
        return True
    if step == "stacked":  # up front, never late
        pane.last_sql = job.sql
        say(pane, "error", f"That text holds {len(body.statements)} statements; here each "
            "runs on its own.")  # fmt: skip
        say(pane, "error_why", "Nothing was run. Each statement is checked, confirmed and run "
            "in its own transaction, so a text of several would not be one unit.")  # fmt: skip
        say(pane, "hint", "Run them one at a time, or all in order from a shell with "
            "`pgask sql \"...\"` (results one after another, as psql shows them).")  # fmt: skip
        finish(state, i, "refused", store=False)
        return True
    if job.kind == "explain" and not job.analyze:
        run_query(state, i, job, confirmed=body.sql_class != "read")  # EXPLAIN alone runs nothing
        return True
    if step == "run":
        run_query(state, i, job, confirmed=False)
        return True
    # preview, confirm, typed: the person decides in a dialog
    job.stage = "confirming"
    state.modal = ConfirmModal(i, body, job.sql, selected=2 if body.confirm == "typed" else 0)
    if needs_estimate(body):
        send(state, executor(pane), ExplainRequest(sql=job.sql, verdict=body.signature,
             confirmed=True), pane=i, purpose="estimate", trace=job.trace)  # fmt: skip
    return True


def audit_note(state: UiState, i: int, job: Job, verdict: Verdict, decision: str) -> None:
    """The audit trail records what did not run, too (refused by policy, declined by the person)."""
    pane = state.panes[i]
    note = AuditNote(decision=decision, sql_class=verdict.sql_class, question=job.question,  # type: ignore[arg-type]
                     normalized=verdict.normalized, reasons=verdict.reasons, mode=pane.mode)  # fmt: skip
    send(state, executor(pane), note, pane=i, trace=job.trace)  # no reply: nothing pending


DML = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})


def needs_estimate(v: Verdict) -> bool:
    """Rows affected come from EXPLAIN, which only DML has (EXPLAIN of DROP is an error)."""
    return v.confirm in ("confirm", "typed") and any(s.kind in DML for s in v.statements)


def refused(state: UiState, i: int, job: Job, v: Verdict) -> None:
    pane = state.panes[i]
    pane.last_sql = job.sql
    if v.sql_class == "invalid":
        err = v.error
        say(pane, "error", "The SQL does not parse" + (f": {err.message}" if err else "."))
        if err and err.snippet:
            say(pane, "sql", err.snippet)
        say(pane, "hint", "Fix it and run it again (Up brings it back).")
        finish(state, i, "invalid")
        return
    reasons = "; ".join(v.reasons) or f"it is a {v.sql_class} statement"
    say(pane, "error", f"Refused: this {v.sql_class} statement does not run in {pane.mode} mode.")
    say(pane, "error_why", f"Why: {reasons}.")
    if pane.mode == "read-only" and v.sql_class in ("write", "ddl", "destructive"):
        say(pane, "hint", "To allow it: /mode read-write (asks first), then run it again (F5).")
    elif v.sql_class == "forbidden":
        say(pane, "hint", "pgask never runs this kind of statement; use psql if you must.")
    finish(state, i, "refused")


def _on_estimate(state: UiState, i: int, job: Job, body: Body) -> bool:
    modal = state.modal
    if not isinstance(modal, ConfirmModal) or modal.pane != i:
        return False
    if isinstance(body, ExplainPlan):
        rows = plan_rows(body.plan)
        modal.estimate = f"about {rows:,} rows (planner estimate)" if rows is not None else ""
    elif isinstance(body, Failure):
        modal.estimate = f"no estimate: {body.message}"
    return True


def _on_query(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, QueryColumns):
        pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
        pane.result = ResultView(unique_names([c.name for c in body.columns]), [c.type_name for c in body.columns],
                                 max_rows=pcfg.max_rows, sql=job.sql)  # fmt: skip
        if state.area == "log" and state.focus == i:
            state.area = "results"
        return True
    if isinstance(body, QueryRows):
        if pane.result is not None:
            masked = [i for i, c in enumerate(pane.result.columns)
                      if redacted_result_column(state.config.privacy.redact_columns, c)]  # fmt: skip
            for row in body.rows if masked else ():
                for c in masked:
                    if row[c] is not None:
                        row[c] = MASK
            pane.result.rows.extend(body.rows)
            job.rows = len(pane.result.rows)
        return True
    if isinstance(body, QueryDone):
        r = pane.result
        if r is not None and r.sql == job.sql and r.columns:
            r.done, r.truncated, r.command, r.elapsed_ms = (
                True,
                body.truncated,
                body.command,
                body.elapsed_ms,
            )
            outcome = run_outcome(has_columns=True, rows=body.rows, truncated=body.truncated,
                                  command=body.command)  # fmt: skip
            text = f"{body.rows:,} row{'s' if body.rows != 1 else ''} in {fmt_ms(body.elapsed_ms)}"
            if body.truncated:  # the shown count is never called the total
                text = (
                    f"first {body.rows:,} rows shown (max_rows = {r.max_rows:,}); the result has "
                    f"more; /export writes all of them ({fmt_ms(body.elapsed_ms)})"
                )
        else:
            outcome = run_outcome(has_columns=False, rows=body.rows, truncated=False,
                                  command=body.command)  # fmt: skip
            text = f"{body.command} in {fmt_ms(body.elapsed_ms)}"
            pane.result = None
        say(pane, "ok", text)
        if state.timing:
            say(pane, "dim", f"Time: {body.elapsed_ms:.3f} ms")
        if job.verdict is not None and job.verdict.sql_class in ("ddl", "destructive"):
            fetch_catalog(state, pane.profile, refresh=True)  # \d and completion see the change
        finish(state, i, outcome)
        return True
    if isinstance(body, QueryCancelled):
        say(pane, "notice", "Cancelled: the server stopped the query.")
        pane.notice = ""
        if pane.result is not None:
            pane.result.done = True
        finish(state, i, "cancelled")
        return True
    if isinstance(body, Failure):
        pane.notice = ""
        say_failure(pane, body)
        if _reask(state, i, job, body):
            return True
        if body.code == "actor.restarted":
            say(pane, "hint", f"The executor for '{pane.profile}' stopped unexpectedly and was "
                "restarted; your query did not run. Press F5 to run it again.")  # fmt: skip
        finish(state, i, f"error {body.code}")
        return True
    return False


def _reask(state: UiState, i: int, job: Job, failure: Failure) -> bool:
    """A question's read failed before any row: the model gets the error and tries once more."""
    if job.kind != "ask" or job.plan_request is None or job.verdict is None:
        return False
    if not repairable(failure, job.verdict, repaired=job.repaired, rows_shown=job.rows):
        return False
    say(state.panes[i], "notice", f"The query failed ({failure.code}); asking the model to fix it.")
    job.repaired, job.stage = True, "planning"
    job.plan_request = repair_request(job.plan_request, job.sql, failure)
    job.request_id = send(state, "planner", job.plan_request, pane=i, purpose="plan",
                          trace=job.trace)  # fmt: skip
    return True


def _on_explain(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, ExplainPlan):
        say(pane, "info", f"Plan{' (analyzed)' if job.analyze else ''} for: {job.sql}")
        try:
            text = explain_text(body.plan)
        except (ValueError, KeyError, TypeError, IndexError):  # not a plan we can read: show it raw
            text = body.plan
        for line in text.rstrip("\n").splitlines():
            say(pane, "plan", line)
        finish(state, i, "explained")
        return True
    if _failed(state, i, body):
        return True
    return False


def _on_export(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, ExportProgress):
        job.rows = body.rows
        pane.notice = f"Exporting: about {body.rows:,} rows, {body.bytes / 1e6:.1f} MB"
        return True
    if isinstance(body, QueryCancelled):
        pane.notice = ""
        say(pane, "notice", "Export cancelled; no file was written.")
        finish(state, i, "cancelled")
        return True
    if isinstance(body, Exported):
        pane.notice = ""
        say(pane, "ok", f"Exported {body.rows:,} row{'s' if body.rows != 1 else ''} "
            f"({body.bytes:,} bytes) to {body.path} "
            f"in {fmt_ms(body.elapsed_ms)}.")  # fmt: skip
        finish(state, i, "exported")
        return True
    if isinstance(body, Failure):
        pane.notice = ""
        if body.code == "export.exists" and not job.force:
            job.stage = "confirming"
            state.modal = AskModal(
                i, "Overwrite the file?",
                [f"{job.path} already exists.",
                 "Replace it with the full result of the last query?"],
                "overwrite",
            )  # fmt: skip
            return True
        say_failure(pane, body)
        finish(state, i, f"error {body.code}")
        return True
    return False


# -- dba: /backup, /restore, /migrations ----------------------------------------------------


def dba_command(state: UiState, cmd: str, arg: str) -> bool:
    if cmd == "/backup":
        return backup(state, arg)
    if cmd == "/restore":
        return restore(state, arg)
    return show_migrations(state)


def _words(pane: PaneState, arg: str) -> list[str] | None:
    try:
        return shlex.split(arg)
    except ValueError as exc:
        say(pane, "error", f"Cannot read the path: {exc}.")
        say(pane, "hint", "Quote a path with spaces: /restore 'my backup.dump'")
        return None


def _begin(state: UiState, pane_i: int, job: Job, shown: str) -> bool:
    """Make `job` the pane's job (or say the pane is busy); False when it is busy."""
    pane = state.panes[pane_i]
    if pane.job is not None:
        start_job(state, pane_i, job)  # says it is busy
        return False
    pane.job, pane.last, pane.notice = job, job, ""
    say(pane, "you", shown)
    return True


def backup(state: UiState, arg: str) -> bool:
    """`/backup [PATH]`: pg_dump -Fc of the pane's profile (no verdict: it only reads)."""
    pane_i, pane = state.focus, state.pane
    words = _words(pane, arg) if arg else []
    if words is None:
        return True
    if len(words) > 1:
        say(pane, "error", "/backup takes one path.")
        say(pane, "hint", "Quote a path with spaces: /backup 'my backup.dump'")
        return True
    if words:
        path = words[0]
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(state.wall()))
        path = os.path.join(os.getcwd(), f"{profile_file_name(pane.profile)}-{stamp}.dump")
    path = os.path.abspath(os.path.expanduser(path))
    text = f"/backup {arg}" if arg else "/backup"
    job = Job("backup", text, state.new_trace(), state.clock(), path=path)
    if _begin(state, pane_i, job, f"/backup {path}"):
        send_backup(state, pane_i, job)
    return True


def send_backup(state: UiState, pane_i: int, job: Job) -> None:
    pane = state.panes[pane_i]
    job.stage = "running"
    body = BackupRequest(path=job.path, force=job.force)
    job.request_id = send(state, executor(pane), body, pane=pane_i, purpose="backup",
                          trace=job.trace)  # fmt: skip
    what = "Replacing" if job.force else "Writing"
    say(pane, "info", f"{what} a backup of '{pane.profile}' ({target(state.config, pane.profile)})"
        f" to {job.path} ...")  # fmt: skip


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _on_backup(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, DbaProgress):
        if body.objects == 0:
            say(pane, "dim", body.text)
        else:
            pane.notice = (f"Backing up: {body.objects:,} tables, {size_text(body.bytes)} "
                           f"\u00b7 {body.text}")  # fmt: skip
        return True
    pane.notice = ""
    if isinstance(body, BackupDone):
        say(pane, "ok", f"Backed up {body.database or pane.profile} to {body.path}: "
            f"{size_text(body.bytes)} ({body.bytes:,} bytes), {body.tables:,} tables, "
            f"in {fmt_ms(body.elapsed_ms)}.")  # fmt: skip
        finish(state, i, "backed up")
        return True
    if isinstance(body, QueryCancelled):
        say(pane, "notice", "Backup cancelled; no file was written.")
        finish(state, i, "cancelled")
        return True
    if isinstance(body, Failure):
        if body.code == "dba.backup_exists" and not job.force:
            job.stage = "confirming"
            state.modal = AskModal(
                i, "Overwrite the backup file?",
                [f"{job.path} already exists.",
                 f"Replace it with a new backup of '{pane.profile}'?"],
                "overwrite",
            )  # fmt: skip
            return True
        say_failure(pane, body)
        finish(state, i, f"error {body.code}")
        return True
    return False


def restore(state: UiState, arg: str) -> bool:
    """`/restore PATH [DB]`: read-write only; the archive's summary, the typed name of the new
    database, the guard's verdict for its CREATE DATABASE, then pg_restore (executor)."""
    pane_i, pane = state.focus, state.pane
    words = _words(pane, arg)
    if words is None:
        return True
    if not words or len(words) > 2:
        say(pane, "error", "/restore needs the archive's path, e.g. /restore shop.dump shop_copy")
        say(pane, "hint", "It restores into a new database: the second word names it "
            "(default: the profile's database name, which must not exist yet).")  # fmt: skip
        return True
    path = os.path.abspath(os.path.expanduser(words[0]))
    new_db = words[1] if len(words) > 1 else ""
    job = Job("restore", f"/restore {arg}", state.new_trace(), state.clock(), path=path,
              target=new_db)  # fmt: skip
    if pane.mode != "read-write":
        if pane.job is None:
            pane.last = job  # F5 after switching the mode runs it again
        say(pane, "you", job.text)
        say(pane, "error", f"Refused: /restore does not run in {pane.mode} mode.")
        say(pane, "error_why", "Why: a restore creates a database and writes everything in the "
            "archive into it.")  # fmt: skip
        pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
        if pcfg.read_write:
            say(pane, "hint", "To allow it: /mode read-write (asks first), then run it again (F5).")
        else:
            say(pane, "hint", f"Profile '{pane.profile}' does not allow read-write: set "
                f"read_write = true under [profiles.{pane.profile}] in "
                f"{state.config.source or 'the config file'}, then restart pgask.")  # fmt: skip
        return True
    if _begin(state, pane_i, job, job.text):
        job.stage = "checking"
        job.request_id = send(state, executor(pane), ArchiveRequest(path=path, target=new_db),
                              pane=pane_i, purpose="archive", trace=job.trace)  # fmt: skip
    return True


def _on_archive(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if _failed(state, i, body):
        return True
    if not isinstance(body, ArchiveInfo):
        return False
    summary = dba.archive_summary(body).splitlines()
    for n, line in enumerate(summary):
        say(pane, "info" if n == 0 else "dim", line)
    if body.problems:
        say(pane, "error", f"pgask will not restore into '{body.target}'.")
        say(pane, "error_why", "Why: " + "; ".join(body.problems) + ".")
        if body.target_exists:
            say(pane, "hint", f"Name a new database: /restore {shlex.quote(job.path)} NEW_NAME")
        else:
            say(pane, "hint", "Restore it on a server at least as new as the archive's.")
        finish(state, i, "refused")
        return True
    job.target, job.stage = body.target, "confirming"
    where = f"profile '{pane.profile}' ({target(state.config, pane.profile)})"
    lines = [f"Restore {body.path}", f"into the NEW database '{body.target}' on {where}.",
             *[s.strip() for s in summary[1:3]],
             "It creates the database, then restores the archive in one transaction."]  # fmt: skip
    state.modal = AskModal(i, f"Restore into '{body.target}'", lines, "restore", name=body.target)
    return True


def _guard_restore(state: UiState, i: int, job: Job) -> None:
    from protocol.sqltext import create_database_sql

    pane = state.panes[i]
    job.sql, job.stage = create_database_sql(job.target), "checking"
    body = GuardRequest(sql=job.sql, profile=pane.profile, mode=pane.mode)
    job.request_id = send(state, "guard", body, pane=i, purpose="dba_guard", trace=job.trace)


def _on_dba_verdict(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if _failed(state, i, body):
        return True
    if not isinstance(body, Verdict):
        return False
    job.verdict = body
    if body.confirm == "refuse" or body.signature is None:
        say(pane, "error", f"Refused: {job.sql} does not run in {pane.mode} mode.")
        say(pane, "error_why", f"Why: {'; '.join(body.reasons) or body.sql_class}.")
        if pane.mode == "read-only":
            say(pane, "hint", "To allow it: /mode read-write (asks first), then run it again (F5).")
        finish(state, i, "refused")
        return True
    job.stage = "running"
    request = RestoreRequest(path=job.path, target=job.target, verdict=body.signature,
                             confirmed=True, confirm_name=job.typed)  # fmt: skip
    job.request_id = send(state, executor(pane), request, pane=i, purpose="restore",
                          trace=job.trace)  # fmt: skip
    say(pane, "info", f"Restoring {job.path} into the new database '{job.target}' ...")
    return True


def _on_restore(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, DbaProgress):
        if body.objects == 0:
            say(pane, "dim", body.text)
        else:
            pane.notice = f"Restoring: {body.objects:,} tables \u00b7 {body.text}"
        return True
    pane.notice = ""
    if isinstance(body, Restored):
        say(pane, "ok", f"Restored {body.tables:,} tables into the new database '{body.database}'"
            f" in {fmt_ms(body.elapsed_ms)}.")  # fmt: skip
        for w in body.warnings:
            say(pane, "notice", f"warning: {w}")
        finish(state, i, "restored")
        return True
    if isinstance(body, QueryCancelled):
        say(pane, "notice", "Restore cancelled: pg_restore ran in one transaction, so nothing was "
            f"restored; the database '{job.target}' may exist, empty.")  # fmt: skip
        finish(state, i, "cancelled")
        return True
    if _failed(state, i, body):
        return True
    return False


def _ask_key(state: UiState, m: AskModal, code: int) -> bool:
    """y/n (or the typed name and Enter) for a dba job; Esc / Ctrl+C answers no."""
    pane = state.panes[m.pane]
    job = pane.job
    if job is None:
        state.modal = None
        return True
    answer: bool | None = None
    if code in (K.ESC, K.CTRL_C):
        answer = False
    elif m.name:
        if code in (K.ENTER, K.ENTER_CR):
            if m.typed == m.name:
                answer = True
            else:
                m.message = f"Type '{m.name}' exactly to go ahead (Esc cancels)."
        elif code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
            m.typed, m.message = m.typed[:-1], ""
        elif K.is_printable(code):
            m.typed, m.message = m.typed + chr(code), ""
    elif code in (ord("y"), ord("Y"), K.ENTER, K.ENTER_CR):
        answer = True
    elif code in (ord("n"), ord("N")):
        answer = False
    if answer is None:
        return True
    state.modal = None
    if m.action == "overwrite":
        if answer:
            job.force = True
            (send_export if job.kind == "export" else send_backup)(state, m.pane, job)
        else:
            what = "Not exported" if job.kind == "export" else "Not backed up"
            say(pane, "notice", f"{what}: {job.path} was kept as it is.")
            finish(state, m.pane, "declined")
    elif answer:
        job.typed = m.typed
        _guard_restore(state, m.pane, job)
    else:
        from protocol.sqltext import create_database_sql

        # no verdict yet (the guard sees the CREATE DATABASE after the typed name), but the
        # audit trail records the declined restore all the same
        note = AuditNote(decision="declined", sql_class="ddl", normalized=create_database_sql(job.target),
                         reasons=[f"restore of {job.path} declined at the typed-name confirmation"],
                         mode=pane.mode)  # fmt: skip
        send(state, executor(pane), note, pane=m.pane, trace=job.trace)
        say(pane, "notice", "Not restored: cancelled at the confirmation.")
        finish(state, m.pane, "declined")
    return True


def show_migrations(state: UiState) -> bool:
    """What pgask wrote and applied for the pane's profile (`pgask migrate --list`)."""
    from protocol.config import state_dir

    pane = state.pane
    say(pane, "you", "/migrations")
    pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
    directory = dba.migrations_dir(pane.profile, pcfg.migrations_dir, state_dir())
    try:
        rows = dba.list_migrations(directory)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        say(pane, "error", f"Cannot read the migrations in {directory}.")
        say(pane, "error_why", f"Why: {exc}")
        say(pane, "hint", "Check the directory (migrations_dir in the profile) and its ledger "
            f"{dba.LEDGER}.")  # fmt: skip
        return True
    if not rows:
        say(pane, "info", f"No migrations for '{pane.profile}' in {directory} yet.")
        say(pane, "hint", f"pgask writes one when it applies a change: pgask migrate \"INTENT\" "
            f"-p {pane.profile} --mode read-write")  # fmt: skip
        return True
    n = len(rows)
    say(pane, "info", f"Migrations for '{pane.profile}' in {directory} ({n} file{'s' * (n != 1)}):")
    w = max(len(r["file"]) for r in rows)
    for r in rows:
        style: Style = "ok" if r["state"] == "applied" else "dim"
        say(pane, style, f"  {r['file']:<{w}}  {r['state']:<11}  {r['at'] or '-':<25}  "
            f"{r['up'][:70]}")  # fmt: skip
    return True


_HANDLERS: dict[str, Callable[[UiState, int, Job, Body], bool]] = {
    "plan": _on_plan,
    "guard": _on_verdict,
    "estimate": _on_estimate,
    "query": _on_query,
    "explain": _on_explain,
    "export": _on_export,
    "backup": _on_backup,
    "archive": _on_archive,
    "dba_guard": _on_dba_verdict,
    "restore": _on_restore,
}


def fmt_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def plan_rows(plan_json: str) -> int | None:
    """Rows a DML statement would touch: the estimate of the node under ModifyTable."""
    try:
        top = msgspec.json.decode(plan_json)[0]["Plan"]
    except (msgspec.DecodeError, KeyError, IndexError, TypeError):
        return None
    node = top
    if node.get("Node Type") == "ModifyTable" and node.get("Plans"):
        node = node["Plans"][0]
    rows = node.get("Plan Rows")
    return int(rows) if isinstance(rows, int | float) else None


def handle_key(state: UiState, code: int) -> bool:
    """One key press. Dialogs get their keys first; then global bindings; then the focus."""
    state.status = ""
    if code in (K.PASTE_START, K.PASTE_END):
        return paste_mark(state, code == K.PASTE_START)
    if state.swallow:
        state.swallow = False
        if K.is_printable(code):
            return False  # Alt+x: neither a cancel nor a typed x
    modal = state.modal
    if code == K.ALT:  # Esc and a key in one read: Alt+key, or a person typing fast after Esc
        if modal is not None:  # Esc closed the dialog; what was typed next goes on
            return _MODAL_KEYS[modal.kind](state, modal, K.ESC)  # type: ignore[arg-type]
        if state.area != "input":  # Esc leaves the results; the key is typed into the input
            state.area = "input"
            return True
        if state.input:  # Alt+key on a line being typed: neither clear it nor type the key
            state.swallow = True
        return False
    if modal is not None:
        if state.pasting and code in (K.ENTER, K.ENTER_CR, K.NEWLINE, K.TAB):
            return False  # a paste never answers a dialog
        return _MODAL_KEYS[modal.kind](state, modal, code)  # type: ignore[arg-type]
    if state.pasting:
        state.area = "input"
        if code in (K.ENTER, K.ENTER_CR, K.NEWLINE):
            return insert_text(state, "\n")
        if code == K.TAB:
            return insert_text(state, "    ")
        return edit_key(state, code) if K.is_printable(code) else False
    if code == K.NEWLINE:
        state.area = "input"
        return insert_text(state, "\n")
    if state.popup is not None:
        handled = popup_key(state, code)
        if handled is not None:
            return handled
    if code == K.TAB and state.area == "input" and state.input.strip():
        return tab_complete(state)
    action = K.KEYMAP.get(code)
    if action == "cancel" and state.pane.job is None:
        if code == K.ESC and state.area != "input":
            state.area = "input"
            return True
        if state.input:  # Ctrl+C or Esc on a line being typed: clear it, as a shell does
            state.input, state.cursor, state.hist_pos = "", 0, None
            return True
    if code == K.CTRL_D and state.area == "input" and not state.input and state.pane.job is None:
        state.quit = True  # Ctrl+D on an empty line: end of input, as in psql
        return True
    if action is not None:
        return do_action(state, action)
    if state.area == "results" and state.pane.result is not None:
        if state.searching:
            return search_key(state, state.pane.result, code)
        if code in (K.ENTER, K.ENTER_CR):  # the selected row as column | value, and back
            state.expanded = not state.expanded
            return True
        if code == ord("/"):
            state.searching, state.search = True, ""
            return True
        if code in (ord("n"), ord("N")) and state.search:
            return find_next(state, state.pane.result, 1 if code == ord("n") else -1)
        if code == ord("s"):
            return sort_results(state, state.pane.result)
        if grid_key(state.pane.result, code):
            return True
    if state.area == "log" and log_key(state.pane, code):
        return True
    if code in (K.PAGE_UP, K.PAGE_DOWN) and state.pane.result is not None:
        return grid_key(state.pane.result, code)  # paging works from the input line too
    if state.area != "input" and (K.is_printable(code) or code in (K.ENTER, K.ENTER_CR)):
        state.area = "input"
    return edit_key(state, code)


def do_action(state: UiState, action: str) -> bool:
    pane = state.pane
    if action == "palette":
        state.modal = PaletteModal(palette_items(state))
    elif action == "help":
        state.modal = HelpModal()
    elif action == "cancel":
        return cancel(state)
    elif action == "rerun":
        last = pane.last
        if last is None:
            state.status = "Nothing to run again yet."
        elif last.kind == "export":
            export(state, f"{last.fmt} {last.path}")
        elif last.kind in ("backup", "restore"):
            cmd, _, arg = last.text.partition(" ")
            dba_command(state, cmd, arg)
        else:
            job = Job(last.kind, last.text, state.new_trace(), state.clock(), analyze=last.analyze)
            start_job(state, state.focus, job)
    elif action == "focus_next":
        state.focus = (state.focus + 1) % len(state.panes)
    elif action in ("focus_cycle", "focus_cycle_back"):
        stops = [("input", 0)] + [
            (a, i) for i in range(len(state.panes)) for a in ("results", "log")
        ]
        cur = stops.index((state.area, state.focus)) if state.area != "input" else 0
        step = 1 if action == "focus_cycle" else -1
        area, pane_i = stops[(cur + step) % len(stops)]
        state.area = area  # type: ignore[assignment]
        if area != "input":
            state.focus = pane_i
    elif action == "quit":
        state.quit = True
    elif action == "clear_input":
        state.input, state.cursor = "", 0
    elif action == "redraw":
        pass
    elif action == "history":
        items = [
            PaletteItem(h, "", ("input", h)) for h in reversed(state.history.get(pane.profile, []))
        ]
        state.modal = PaletteModal(items, title=f"History of '{pane.profile}': Enter runs it again")
    elif action == "explain":
        submit_input(state, "/explain")
    elif action == "explain_analyze":
        submit_input(state, "/explain analyze")
    elif action.startswith("export_"):
        submit_input(state, f"/export {action.removeprefix('export_')}")
    elif action == "pin":
        state.input, state.area = "/pin ", "input"
        state.cursor = len(state.input)
    elif action == "backup":
        submit_input(state, "/backup")
    elif action == "restore":
        state.input, state.area = "/restore ", "input"
        state.cursor = len(state.input)
    elif action == "migrations":
        submit_input(state, "/migrations")
    elif action == "clear":
        submit_input(state, "/clear")
    elif action == "mode_rw":
        ask_mode(state, "read-write")
    elif action == "mode_ro":
        ask_mode(state, "read-only")
    elif action == "close_pane":
        close_pane(state)
    return True


def palette_items(state: UiState) -> list[PaletteItem]:
    items: list[PaletteItem] = []
    for name in sorted(state.config.profiles):
        label = f"Switch database: {name} ({target(state.config, name)})"
        items.append(PaletteItem(label, "/use", ("use", name)))
    for name in sorted(state.config.profiles):
        items.append(PaletteItem(f"Split pane: {name}", "/split", ("split", name)))
    for a in K.ACTIONS.values():
        if a.palette:
            items.append(PaletteItem(a.title, a.key, ("action", a.name)))
    return items


def run_palette_item(state: UiState, item: PaletteItem) -> None:
    what, arg = item.command[0], item.command[1] if len(item.command) > 1 else ""
    if what == "use":
        use_profile(state, arg)
    elif what == "split":
        split(state, arg)
    elif what == "input":
        submit_input(state, arg)
    elif what == "action":
        do_action(state, arg)


def _palette_key(state: UiState, m: PaletteModal, code: int) -> bool:
    items = m.matches()
    if code in (K.ESC, K.CTRL_C, K.CTRL_P):
        state.modal = None
    elif code in (K.ENTER, K.ENTER_CR):
        state.modal = None
        if items:
            run_palette_item(state, items[min(m.selected, len(items) - 1)])
    elif code == K.UP:
        m.selected = max(0, m.selected - 1)
    elif code in (K.DOWN, K.TAB):
        m.selected = min(max(0, len(items) - 1), m.selected + 1)
    elif code == K.PAGE_UP:
        m.selected = max(0, m.selected - 10)
    elif code == K.PAGE_DOWN:
        m.selected = min(max(0, len(items) - 1), m.selected + 10)
    elif code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        m.filter, m.selected = m.filter[:-1], 0
    elif code == K.CTRL_Q:
        state.quit = True
    elif K.is_printable(code):
        m.filter, m.selected = m.filter + chr(code), 0
    return True


def _help_key(state: UiState, m: HelpModal, code: int) -> bool:
    if code in (K.DOWN, K.PAGE_DOWN):
        m.scroll += 1 if code == K.DOWN else 10
    elif code in (K.UP, K.PAGE_UP):
        m.scroll = max(0, m.scroll - (1 if code == K.UP else 10))
    elif code == K.CTRL_Q:
        state.quit = True
    else:
        state.modal = None
    return True


def _mode_key(state: UiState, m: ModeModal, code: int) -> bool:
    if code in (ord("y"), ord("Y"), K.ENTER, K.ENTER_CR):
        state.modal = None
        set_mode(state, m.pane, m.mode)
    elif code in (ord("n"), ord("N"), K.ESC, K.CTRL_C):
        state.modal = None
        say(state.panes[m.pane], "info", "Mode unchanged.")
    return True


def _confirm_key(state: UiState, m: ConfirmModal, code: int) -> bool:
    pane = state.panes[m.pane]
    job = pane.job
    typed = m.verdict.confirm == "typed"
    if job is None:
        state.modal = None
        return True
    choice = None
    if code in (K.ESC, K.CTRL_C):
        choice = 2
    elif code in (K.ENTER, K.ENTER_CR):
        choice = m.selected if not typed or m.selected != 0 or m.typed else 0
        if typed and m.typed and m.selected == 2:
            choice = 0  # typing the name and pressing Enter means Run
    elif code in (K.TAB, K.RIGHT):
        m.selected = (m.selected + 1) % 3
    elif code in (K.BACK_TAB, K.LEFT):
        m.selected = (m.selected - 1) % 3
    elif code == K.CTRL_E:
        choice = 1
    elif typed:
        if code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
            m.typed = m.typed[:-1]
        elif K.is_printable(code):
            m.typed += chr(code)
        m.message = ""
    elif code in (ord("y"), ord("Y"), ord("r"), ord("R")):
        choice = 0
    elif code in (ord("e"), ord("E")):
        choice = 1
    elif code in (ord("n"), ord("N"), ord("c"), ord("C")):
        choice = 2
    if choice is None:
        return True
    if choice == 0:
        if typed and not name_matches(m.typed, m.verdict.confirm_name):
            m.message = f"Type '{m.verdict.confirm_name}' exactly to run it."
            m.selected = 0
            return True
        state.modal = None
        run_query(state, m.pane, job, confirmed=True)
    elif choice == 1:
        state.modal = None
        state.input, state.area = f"/sql {m.sql}", "input"
        state.cursor = len(state.input)
        say(pane, "info", "Not run: the SQL is in the input line to edit.")
        finish(state, m.pane, "edited", store=False)
    else:
        state.modal = None
        say(pane, "notice", "Not run: cancelled at the confirmation.")
        if job.verdict is not None:
            audit_note(state, m.pane, job, job.verdict, "declined")
        finish(state, m.pane, "declined")
    return True


_MODAL_KEYS: dict[str, Callable[[UiState, Any, int], bool]] = {
    "palette": _palette_key,
    "help": _help_key,
    "mode": _mode_key,
    "confirm": _confirm_key,
    "ask": _ask_key,
    "password": _password_key,
}


def search_key(state: UiState, v: ResultView, code: int) -> bool:
    """Typing the search text (shown in the hint line): Enter finds, Esc gives up."""
    if code in (K.ENTER, K.ENTER_CR):
        state.searching = False
        return find_next(state, v, 1, include_current=True) if state.search else True
    if code in (K.ESC, K.CTRL_C):
        state.searching, state.search = False, ""
        return True
    if code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        state.search = state.search[:-1]
    elif K.is_printable(code):
        state.search += chr(code)
    return True


def _row_has(row: list[Any], needle: str) -> bool:
    return any(v is not None and needle in cell_text(v).lower() for v in row)


def find_next(state: UiState, v: ResultView, step: int, *, include_current: bool = False) -> bool:
    """The next (step 1) or previous (-1) row holding the search text in any cell, on any
    page, wrapping around; the cursor moves there (and the page with it)."""
    n = len(v.rows)
    needle = state.search.lower()
    if not n:
        return True
    begin = v.cur if include_current else v.cur + step
    for k in range(n):
        raw = begin + step * k
        i = raw % n
        if _row_has(v.rows[i], needle):
            wrapped = raw >= n or raw < 0
            v.move(to=i)
            total = sum(1 for r in v.rows if _row_has(r, needle)) if n <= 200_000 else 0
            where = f" ({total:,} {'row matches' if total == 1 else 'rows match'})" if total else ""
            state.status = (f"'{state.search}': row {i + 1:,}{where}"
                            + (" · wrapped around" if wrapped else "") + " · n next, N previous")  # fmt: skip
            return True
    state.status = f"'{state.search}' is in none of the {n:,} rows shown."
    return True


def sort_results(state: UiState, v: ResultView) -> bool:
    """`s` in the results: sort the rows shown by the first visible column (Left/Right pick
    it), ascending, then descending, then back to the server's order. Client-side only."""
    if v.sort_col != v.left:
        v.sort_col, v.sort_desc = v.left, False
        if v.original is None:
            v.original = list(v.rows)
    elif not v.sort_desc:
        v.sort_desc = True
    else:
        v.rows[:] = v.original or v.rows
        v.original, v.sort_col = None, -1
        v.move(to=0)
        state.status = "Back to the order the server sent."
        return True
    col = v.sort_col
    numeric = v.numeric[col] if col < len(v.numeric) else False

    def key(row: list[Any]) -> tuple[int, Any]:
        val = row[col] if col < len(row) else None
        if val is None:
            return (1, 0 if numeric else "")
        if numeric and isinstance(val, int | float | decimal.Decimal):
            return (0, val)
        return (0, cell_text(val).lower()) if not numeric else (0, float("inf"))

    try:
        v.rows.sort(key=key, reverse=v.sort_desc)
    except TypeError:
        v.rows.sort(key=lambda r: cell_text(r[col]) if col < len(r) else "", reverse=v.sort_desc)
    v.move(to=0)
    scope = "all the rows" if v.done and not v.truncated else f"the {len(v.rows):,} rows shown"
    state.status = (f"Sorted by '{v.columns[col]}' {'descending' if v.sort_desc else 'ascending'}"
                    f" here in pgask, over {scope} (not by the server) · s again to change")  # fmt: skip
    return True


def grid_key(v: ResultView, code: int) -> bool:
    if code == K.DOWN:
        v.move(1)
    elif code == K.UP:
        v.move(-1)
    elif code == K.PAGE_DOWN:
        v.move(v.page_h)
        v.top = max(0, min(v.cur, len(v.rows) - v.page_h))
    elif code == K.PAGE_UP:
        v.move(-v.page_h)
        v.top = max(0, v.cur)
        v.move(0)
    elif code == K.HOME:
        v.move(to=0)
    elif code == K.END:
        v.move(to=len(v.rows) - 1)
    elif code == K.RIGHT:
        v.scroll(1)
    elif code == K.LEFT:
        v.scroll(-1)
    else:
        return False
    return True


def log_key(pane: PaneState, code: int) -> bool:
    step = {K.UP: 1, K.DOWN: -1, K.PAGE_UP: 10, K.PAGE_DOWN: -10}.get(code)
    if code == K.HOME:
        pane.log_scroll = 10**9  # clamped by the view
    elif code == K.END:
        pane.log_scroll = 0
    elif step is None:
        return False
    else:
        pane.log_scroll = max(0, pane.log_scroll + step)
    return True


_WORD = re.compile(r"\w+\W*$")


SQL_START = frozenset(
    "select with insert update delete merge create alter drop truncate explain table values "
    "show grant revoke comment vacuum analyze reindex cluster refresh call do begin".split()
)


def looks_like_sql(text: str) -> bool:
    """Raw SQL typed or pasted as psql users do: a statement keyword first, `;` last."""
    words = text.split(None, 1)
    return bool(words) and words[0].lower() in SQL_START and text.rstrip().endswith(";")


def sql_complete(text: str) -> bool:
    """psql's rule for a statement: it ends at a `;` outside quotes, comments and dollar quotes."""
    i, n, last = 0, len(text), ""
    while i < n:
        c = text[i]
        if c == "'" or c == '"':
            j = text.find(c, i + 1)
            while j != -1 and j + 1 < n and text[j + 1] == c:  # doubled quote inside
                j = text.find(c, j + 2)
            if j == -1:
                return False
            i, last = j + 1, c
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            if j == -1:
                break
            i = j + 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j == -1:
                return False
            i = j + 2
            continue
        if c == "$":
            m = re.match(r"\$(?:[A-Za-z_]\w*)?\$", text[i:])
            if m:
                j = text.find(m.group(0), i + len(m.group(0)))
                if j == -1:
                    return False
                i, last = j + len(m.group(0)), "$"
                continue
        if not c.isspace():
            last = c
        i += 1
    return last == ";"


def input_complete(text: str) -> bool:
    """Whether Enter submits the input. One line always does (pgcli's single-line habit); a
    multi-line /sql or raw SQL does once it ends at `;` (psql's); other input always does."""
    body = text.strip()
    if "\n" not in body:
        return True
    if body.lower().startswith("/sql"):
        return sql_complete(body[4:])
    if body.startswith("/"):
        return True
    words = body.split(None, 1)
    if words and words[0].lower() in SQL_START:
        return sql_complete(body)
    return True


# -- completion --------------------------------------------------------------------------


def completion(state: UiState) -> C.Completion | None:
    return C.complete(
        state.input, state.cursor, catalog=state.catalogs.get(state.pane.profile),
        commands=[c + " " for c in K.SLASH_COMMANDS], meta=sorted(meta.KNOWN),
        profiles=sorted(state.config.profiles),
    )  # fmt: skip


def tab_complete(state: UiState) -> bool:
    """Tab in the input: one candidate is inserted; several open the popup (and their common
    start is inserted); none says so. Without a catalog yet, asks for it."""
    if state.pane.profile not in state.catalogs:
        fetch_catalog(state, state.pane.profile)
    found = completion(state)
    if found is None:
        state.status = "Nothing to complete here."
        return True
    if len(found.items) == 1:
        accept(state, found, found.items[0])
        return True
    prefix = C.common_prefix([i for i in found.items if i.lower().startswith(found.word.lower())])
    if len(prefix) > len(found.word):
        state.input = state.input[: found.start] + prefix + state.input[state.cursor :]
        state.cursor = found.start + len(prefix)
        found = completion(state) or found
    state.popup, state.popup_sel = found, 0
    return True


def _quoted(name: str) -> str:
    parts = name.split(".")
    return ".".join(p if re.fullmatch(r"[a-z_][a-z0-9_$]*", p) else '"' + p.replace('"', '""') + '"'
                    for p in parts)  # fmt: skip


def accept(state: UiState, found: C.Completion, item: str) -> None:
    text = item if found.kind in ("command", "keyword", "profile") else _quoted(item)
    rest = re.match(r'[\w$"]*', state.input[state.cursor :])
    end = state.cursor + (len(rest.group(0)) if rest and found.kind != "command" else 0)
    state.input = state.input[: found.start] + text + state.input[end:]
    state.cursor = found.start + len(text)
    state.popup = None


def popup_key(state: UiState, code: int) -> bool | None:
    """Keys while the popup shows: Tab/Up/Down choose, Enter takes, Esc closes; any other
    key closes it and does what it always does (typing goes on, and re-filters)."""
    found = state.popup
    assert found is not None
    n = len(found.items)
    if code in (K.TAB, K.DOWN):
        state.popup_sel = (state.popup_sel + 1) % n
        return True
    if code in (K.BACK_TAB, K.UP):
        state.popup_sel = (state.popup_sel - 1) % n
        return True
    if code in (K.ENTER, K.ENTER_CR):
        accept(state, found, found.items[min(state.popup_sel, n - 1)])
        return True
    state.popup = None
    if code in (K.ESC, K.CTRL_C):
        return True
    if K.is_printable(code) or code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        edit_key(state, code)
        again = completion(state) if state.input.strip() else None
        if again is not None and not (len(again.items) == 1 and again.items[0] == again.word):
            state.popup, state.popup_sel = again, 0
        return True
    return None


def paste_mark(state: UiState, start: bool) -> bool:
    """The bracketed-paste markers: text between them is typed, its line breaks kept. A paste
    that ends with a line break and completes the input is submitted once, as psql runs a
    pasted statement ended with `;`."""
    if start:
        state.pasting = True
        return False
    state.pasting = False
    if state.modal is not None:
        return True
    if state.input.endswith("\n"):
        body = state.input.rstrip()
        if body and input_complete(body) and ("\n" not in body or sql_complete(_sql_part(body))):
            return submit_input(state, body)
        state.input = state.input.rstrip("\n")
        state.cursor = min(state.cursor, len(state.input))
    return True


def _sql_part(text: str) -> str:
    return text[4:] if text.lower().startswith("/sql") else text


def insert_text(state: UiState, text: str) -> bool:
    cur = state.cursor
    state.input = state.input[:cur] + text + state.input[cur:]
    state.cursor = cur + len(text)
    return True


def edit_key(state: UiState, code: int) -> bool:
    text, cur = state.input, state.cursor
    if code in (K.ENTER, K.ENTER_CR):
        if not input_complete(text):
            return insert_text(state, "\n")  # psql's continuation: the statement goes on
        return submit_input(state, text)
    if code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        if cur:
            text, cur = text[: cur - 1] + text[cur:], cur - 1
    elif code == K.DELETE:
        text = text[:cur] + text[cur + 1 :]
    elif code == K.LEFT:
        cur = max(0, cur - 1)
    elif code == K.RIGHT:
        cur = min(len(text), cur + 1)
    elif code in (K.HOME, K.CTRL_A):
        cur = 0
    elif code in (K.END, K.CTRL_E):
        cur = len(text)
    elif code == K.CTRL_K:
        text = text[:cur]
    elif code == K.CTRL_W:
        m = _WORD.search(text[:cur])
        start_at = m.start() if m else 0
        text, cur = text[:start_at] + text[cur:], start_at
    elif code in (K.UP, K.DOWN):
        return history_key(state, -1 if code == K.UP else 1)
    elif K.is_printable(code):
        text, cur = text[:cur] + chr(code) + text[cur:], cur + 1
    else:
        return False  # an unmapped key: ignore it rather than type garbage
    state.input, state.cursor = text, cur
    return True


def history_key(state: UiState, step: int) -> bool:
    items = state.history.get(state.pane.profile, [])
    if not items:
        return False
    if state.hist_pos is None:
        if step > 0:
            return False
        state.draft, state.hist_pos = state.input, len(items)
    pos = state.hist_pos + step
    if pos >= len(items):
        state.hist_pos, state.input = None, state.draft
    else:
        state.hist_pos = max(0, pos)
        state.input = items[state.hist_pos]
    state.cursor = len(state.input)
    return True


# -- status ------------------------------------------------------------------------------


def activity(state: UiState, pane: PaneState) -> str:
    job = pane.job
    if job is None:
        return "idle"
    t = elapsed(state, job)
    what = {
        "planning": "asking the model",
        "checking": "checking",
        "confirming": "waiting for you",
        "running": "running",
        "exporting": "exporting",
    }.get(job.stage, job.stage)
    if job.stage == "running" and job.kind in ("backup", "restore"):
        what = "backing up" if job.kind == "backup" else "restoring"
    if job.cancelling:
        what = "cancelling"
    text = f"{what} {t:.1f}s" if job.stage != "confirming" else what
    if job.rows:
        text += f" · {job.rows:,} rows"
    return text


def busy(state: UiState) -> bool:
    return any(p.job is not None and p.job.stage != "confirming" for p in state.panes)
