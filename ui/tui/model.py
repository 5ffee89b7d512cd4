"""The TUI's state: panes, jobs, dialogs, results; and the small helpers every part uses
(say, send). No terminal, no sockets."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from protocol.config import (
    Config,
    ProfileConfig,
    starting_mode,
)
from protocol.envelope import Header, IdMaker, make_header
from protocol.messages import (
    Body,
    Catalog,
    CatalogRequest,
    Failure,
    Mode,
    SessionState,
    Verdict,
)
from ui import approvals as A
from ui import complete as C
from ui import engine

NUMERIC_TYPES = frozenset(
    {"int2", "int4", "int8", "numeric", "float4", "float8", "money", "oid", "xid", "cid"}
)


MAX_HISTORY = 1000


MAX_LOG = 5000


MAX_PANES = 3


Style = Literal[
    "you", "sql", "info", "error", "error_why", "hint", "notice", "explain", "dim", "ok", "plan"
]


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
    engine: engine.Job | None = None  # ask, sql, explain: the workflow engine's job
    script: Script | None = None  # sql: a text of several statements, run in order


@dataclass
class Script:
    """Several statements typed (or pasted) at once, as psql runs them: each is checked and
    confirmed first (a refusal comes before anything ran), then they run in order, each in
    its own transaction, stopping at the first that fails."""

    texts: list[str]
    ready: list[engine.Job] = field(default_factory=list)  # checked and confirmed, in order
    running: int = -1  # the statement that runs now; -1 while they are being checked
    ok: bool = False  # the running statement finished with its result


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
    clipboard_out: list[str] = field(default_factory=list)  # texts to copy (OSC 52, app.py)
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


def send(
    state: UiState, dst: str, body: Body, *, pane: int = 0, purpose: str = "", trace: str = ""
) -> str:
    header = make_header(
        body,
        msg_id=state.ids(),
        src="ui",
        dst=dst,
        trace=trace or state.new_trace(),
        session=state.session,
        sent_at=state.wall(),
    )
    state.outbox.append((header, body))
    if purpose:
        state.pending[header.id] = Pending(pane, purpose, header.trace)
    return header.id


def executor(pane: PaneState) -> str:
    return f"executor:{pane.profile}"


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


def elapsed(state: UiState, job: Job) -> float:
    return state.clock() - job.started


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def fmt_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
