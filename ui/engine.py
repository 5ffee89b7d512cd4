"""The workflow engine: one job, plan -> guard -> confirm -> run -> audit -> record the turn.

Written once, sans-IO, for every front end: the TUI (ui/state.py) drives it with keys and
dialogs, the headless driver (ui/drive.py) for `pgask ask/sql/explain` and the DBA commands,
and the MCP server for other agents. A front end feeds a `Job` the replies to what it sent
(`on_reply`) and the person's answer (`answer`); the job puts the messages to send on its
`outbox` and what happened on its `events`. How an event is shown, and how the person is
asked, is the front end's business; which step comes next, what is audited and what turn is
recorded are decided here, through the rules in ui/workflow.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol.messages import (
    AuditNote,
    Body,
    Clarification,
    Column,
    ExplainPlan,
    ExplainRequest,
    Exported,
    ExportProgress,
    ExportRequest,
    Failure,
    GuardRequest,
    Mode,
    Plan,
    PlannerNotice,
    PlanRequest,
    QueryCancelled,
    QueryColumns,
    QueryDone,
    QueryRequest,
    QueryRows,
    SessionAddTurn,
    SessionState,
    Turn,
    Verdict,
)
from ui import workflow

JobKind = Literal["ask", "sql", "explain", "export"]
Purpose = Literal["plan", "guard", "estimate", "query", "explain", "export", "session", "audit"]


@dataclass(frozen=True)
class JobRequest:
    """What a person (or an agent) asked of one profile."""

    kind: JobKind
    text: str  # the question (ask), or the SQL (sql, explain)
    profile: str
    mode: Mode  # the mode the front end is in (headless: protocol.config.starting_mode)
    analyze: bool = False  # explain: EXPLAIN ANALYZE (the guard decides what it needs)
    max_rows: int = 0  # 0: every row
    planner: str = ""  # ask: PlanRequest.planner
    via: str = ""  # who asked, for the audit trail (an MCP client's name)
    question: str = ""  # sql: the question the SQL answers, when there is one
    preview: bool = False  # [safety] preview: reads are shown before they run
    hold: bool = False  # stop when the statement may run (`ready`); `run()` then runs it
    turn: bool = True  # recorded as a turn of the conversation (DBA statements are not)
    several: bool = False  # the front end runs the statements as one unit (a migration)
    export: ExportSpec | None = None  # export: where the full result goes


@dataclass(frozen=True)
class ExportSpec:
    """Where an export writes the full result of a read (the exporter writes it atomically)."""

    path: str
    format: Literal["csv", "json", "jsonl"] = "csv"
    force: bool = False  # overwrite an existing file
    delimiter: str = ","


@dataclass(frozen=True)
class Ask:
    """The person must answer before the statement runs (preview, yes/no, typed name)."""

    verdict: Verdict
    sql: str
    estimate: str = ""  # rows a DML statement would touch, when the planner said (headless)


@dataclass(frozen=True)
class Send:
    """A message for the front end to send; replies come back to `Job.on_reply(purpose, ...)`."""

    dst: str
    body: Body
    purpose: Purpose


# -- events: what happened, for the front end to show ------------------------------------------


@dataclass(frozen=True)
class Planned:
    plan: Plan


@dataclass(frozen=True)
class Notice:
    text: str  # the planner's progress, or "asking the model to fix it"


@dataclass(frozen=True)
class Clarify:
    clarification: Clarification


@dataclass(frozen=True)
class Checked:
    verdict: Verdict  # every verdict, before anything else is decided on it


@dataclass(frozen=True)
class Stopped:
    """Nothing runs: `why` is invalid (does not parse), refused (policy), stacked (several
    statements in one text), declined (the person said no)."""

    why: Literal["invalid", "refused", "stacked", "declined"]
    verdict: Verdict
    failure: Failure | None = None  # an export kept its file: the exporter's "exists"


@dataclass(frozen=True)
class Asking:
    ask: Ask


@dataclass(frozen=True)
class Estimated:
    text: str  # rows a DML statement would touch, from the planner; or why there is none


@dataclass(frozen=True)
class Ready:
    verdict: Verdict  # `hold`: checked and confirmed; `Job.run()` runs it


@dataclass(frozen=True)
class Columns:
    columns: list[Column]


@dataclass(frozen=True)
class Rows:
    rows: list[list[Any]]


@dataclass(frozen=True)
class Done:
    done: QueryDone


@dataclass(frozen=True)
class Cancelled:
    pass


@dataclass(frozen=True)
class Progress:
    progress: ExportProgress


@dataclass(frozen=True)
class Written:
    exported: Exported


@dataclass(frozen=True)
class FileExists:
    path: str  # the export's file exists: `Job.overwrite(yes)` answers


@dataclass(frozen=True)
class Explained:
    plan: ExplainPlan


@dataclass(frozen=True)
class Failed:
    failure: Failure
    first: Failure | None = None  # after a re-ask: the failure that started it


@dataclass(frozen=True)
class Reasking:
    failure: Failure


@dataclass(frozen=True)
class Finished:
    outcome: str  # the recorded turn's outcome ("12 rows", "refused", "error db.syntax" ...)


Event = (
    Planned
    | Notice
    | Clarify
    | Checked
    | Stopped
    | Asking
    | Estimated
    | Ready
    | Columns
    | Rows
    | Done
    | Cancelled
    | Explained
    | Progress
    | Written
    | FileExists
    | Failed
    | Reasking
    | Finished
)


Stage = Literal["planning", "checking", "confirming", "ready", "running", "done"]


@dataclass
class Job:
    """One job's state. `start()`, then `on_reply` for each reply, `answer` when `Asking`."""

    request: JobRequest
    session: SessionState | None = None  # the conversation the question belongs to
    redact_literals: bool = False  # [privacy] redact_literals: turns keep the normalized SQL
    pane: int = 0
    trace: str = ""  # the headless driver's trace for the job's requests (the TUI keeps its own)
    wall: Callable[[], float] = time.time
    outbox: list[Send] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stage: Stage = "planning"
    sql: str = ""
    explanation: str = ""
    plan: Plan | None = None
    verdict: Verdict | None = None
    columns: list[Column] = field(default_factory=list)
    rows: int = 0  # rows received so far
    outcome: str = ""
    plan_request: PlanRequest | None = None
    first_failure: Failure | None = None  # set once the model was re-asked
    _confirmed: bool = False  # how the ready statement was accepted (hold)
    forced: bool = False  # export: the person said to write over the existing file
    pending_exists: Failure | None = None  # export: the exporter's "file exists", unanswered

    @property
    def question(self) -> str:
        return self.request.text if self.request.kind == "ask" else self.request.question

    @property
    def executor(self) -> str:
        return f"executor:{self.request.profile}"

    @property
    def done(self) -> bool:
        return self.stage == "done"

    # -- inputs ---------------------------------------------------------------------------

    def start(self) -> None:
        r = self.request
        if r.kind != "ask":
            self.sql = r.text
            self._check()
            return
        s = self.session
        self.plan_request = PlanRequest(
            question=r.text,
            profile=r.profile,
            mode=r.mode,
            recent=workflow.recent_turns(s, r.profile),
            pins=list(s.pins) if s else [],
            planner=r.planner or "auto",  # type: ignore[arg-type]
        )
        self._send("planner", self.plan_request, "plan")

    def on_reply(self, purpose: str, body: Body) -> None:
        """A reply to something this job sent, by the purpose it was sent for."""
        if self.done:
            return
        handler = {
            "plan": self._on_plan,
            "guard": self._on_verdict,
            "estimate": self._on_estimate,
            "query": self._on_query,
            "explain": self._on_explain,
            "export": self._on_export,
        }.get(purpose)
        if handler is not None:
            handler(body)

    def answer(self, *, yes: bool = False, typed: str | None = None) -> None:
        """The person's answer to `Asking`: yes/no, or the object's name typed."""
        v = self.verdict
        if self.stage != "confirming" or v is None:
            return
        if workflow.accepted(v, yes=yes, typed=typed):
            self._accepted(v, confirmed=True)
            return
        self._audit(v, "declined")
        self.events.append(Stopped("declined", v))
        self._finish("declined")

    def overwrite(self, yes: bool) -> None:
        """The answer to `FileExists`: write over the file, or keep it (the job ends)."""
        if self.stage != "confirming" or self.request.kind != "export" or self.verdict is None:
            return
        if yes:
            self.forced = True
            self._run(self.verdict, confirmed=False)
        else:
            self.events.append(Stopped("declined", self.verdict, self.pending_exists))
            self._finish("declined", store=False)

    def run(self) -> None:
        """`hold`: run the statement that is `ready`."""
        if self.stage == "ready" and self.verdict is not None:
            self._run(self.verdict, confirmed=self._confirmed)

    def ran(self, outcome: str) -> None:
        """`hold`: the front end ran the ready statement its own way (COPY); record it."""
        if self.stage in ("ready", "running"):
            self._finish(outcome)

    def abandon(self, outcome: str) -> None:
        """The front end stopped waiting (cancel before the run, edit at the dialog): no turn."""
        if not self.done:
            self.stage, self.outcome = "done", outcome

    def failed(self, failure: Failure) -> None:
        """The request could not be sent or its reply not read: the job ends with it."""
        if not self.done:
            self.events.append(Failed(failure, self.first_failure))
            self._finish(workflow.failure_outcome(failure))

    # -- steps ----------------------------------------------------------------------------

    def _send(self, dst: str, body: Body, purpose: Purpose) -> None:
        self.outbox.append(Send(dst, body, purpose))

    def _check(self) -> None:
        self.stage = "checking"
        r = self.request
        body = GuardRequest(
            sql=self.sql,
            profile=r.profile,
            mode=r.mode,
            preview=r.preview and r.kind in ("ask", "sql"),
        )
        self._send("guard", body, "guard")

    def _on_plan(self, body: Body) -> None:
        if isinstance(body, PlannerNotice):
            self.events.append(Notice(body.text))
        elif isinstance(body, Clarification):
            self.events.append(Clarify(body))
            self._finish("clarification")
        elif isinstance(body, Failure):
            self.failed(body)
        elif isinstance(body, Plan):
            self.plan, self.sql, self.explanation = body, body.sql, body.explanation
            self.events.append(Planned(body))
            self._check()

    def _on_verdict(self, body: Body) -> None:
        if isinstance(body, Failure):
            self.failed(body)
            return
        if not isinstance(body, Verdict):
            return
        self.verdict = v = body
        self.events.append(Checked(v))
        step = workflow.gate(v, several=self.request.several)
        if step in ("invalid", "refused"):
            if workflow.audited_refusal(v):
                self._audit(v, "refused")
            self.events.append(Stopped(step, v))
            self._finish(step)
        elif self.request.kind == "export" and (v.sql_class != "read" or step != "run"):
            self.events.append(Stopped("refused", v))  # only a read's result is exported
            self._finish("refused", store=False)
        elif step == "stacked":  # up front, never late; not a turn: nothing was asked
            self.events.append(Stopped("stacked", v))
            self._finish("refused", store=False)
        elif self.request.kind == "explain" and not self.request.analyze:
            self._accepted(v, confirmed=v.sql_class != "read")  # EXPLAIN alone runs nothing
        elif step == "run":
            self._accepted(v, confirmed=False)
        else:  # preview, confirm, typed: the person decides
            self.stage = "confirming"
            self.events.append(Asking(Ask(v, self.sql)))
            if workflow.needs_estimate(v):
                body = ExplainRequest(sql=self.sql, verdict=v.signature, confirmed=True)  # type: ignore[arg-type]
                self._send(self.executor, body, "estimate")

    def _on_estimate(self, body: Body) -> None:
        if isinstance(body, ExplainPlan):
            rows = workflow.plan_rows(body.plan)
            text = f"about {rows:,} rows (planner estimate)" if rows is not None else ""
            self.events.append(Estimated(text))
        elif isinstance(body, Failure):
            self.events.append(Estimated(f"no estimate: {body.message}"))

    def _accepted(self, v: Verdict, *, confirmed: bool) -> None:
        self._confirmed = confirmed
        if self.request.hold:
            self.stage = "ready"
            self.events.append(Ready(v))
            return
        self._run(v, confirmed=confirmed)

    def _run(self, v: Verdict, *, confirmed: bool) -> None:
        assert v.signature is not None
        self.stage = "running"
        r = self.request
        if r.kind == "export":
            assert r.export is not None
            e = r.export
            body: Body = ExportRequest(
                profile=r.profile,
                sql=self.sql,
                verdict=v.signature,
                format=e.format,
                path=e.path,
                delimiter=e.delimiter,
                force=e.force or self.forced,
            )
            self._send("exporter", body, "export")
            return
        if r.kind == "explain":
            body = ExplainRequest(
                sql=self.sql, verdict=v.signature, analyze=r.analyze, confirmed=confirmed
            )
            self._send(self.executor, body, "explain")
            return
        body = QueryRequest(
            sql=self.sql,
            verdict=v.signature,
            max_rows=r.max_rows,
            confirmed=confirmed,
            question=self.question,
            decision=workflow.query_decision(v),  # type: ignore[arg-type]
            normalized=v.normalized,
            reasons=v.reasons,
            via=r.via,
        )
        self._send(self.executor, body, "query")

    def _on_query(self, body: Body) -> None:
        if isinstance(body, QueryColumns):
            self.columns = list(body.columns)
            self.events.append(Columns(self.columns))
        elif isinstance(body, QueryRows):
            self.rows += len(body.rows)
            self.events.append(Rows(body.rows))
        elif isinstance(body, QueryDone):
            self.events.append(Done(body))
            self._finish(
                workflow.run_outcome(
                    has_columns=bool(self.columns),
                    rows=body.rows,
                    truncated=body.truncated,
                    command=body.command,
                )
            )
        elif isinstance(body, QueryCancelled):
            self.events.append(Cancelled())
            self._finish("cancelled")
        elif isinstance(body, Failure):
            if not self._reask(body):
                self.failed(body)

    def _reask(self, failure: Failure) -> bool:
        """A question's read failed before any row: the model gets the error, once."""
        v, plan = self.verdict, self.plan_request
        if self.request.kind != "ask" or plan is None or v is None:
            return False
        if not workflow.repairable(
            failure, v, repaired=self.first_failure is not None, rows_shown=self.rows
        ):
            return False
        self.first_failure = failure
        self.events.append(Reasking(failure))
        self.stage, self.columns, self.rows = "planning", [], 0
        self.plan_request = workflow.repair_request(plan, self.sql, failure)
        self._send("planner", self.plan_request, "plan")
        return True

    def _on_explain(self, body: Body) -> None:
        if isinstance(body, ExplainPlan):
            self.events.append(Explained(body))
            self._finish("explained")
        elif isinstance(body, Failure):
            self.failed(body)

    def _on_export(self, body: Body) -> None:
        if isinstance(body, ExportProgress):
            self.events.append(Progress(body))
        elif isinstance(body, Exported):
            self.events.append(Written(body))
            self._finish("exported")
        elif isinstance(body, QueryCancelled):
            self.events.append(Cancelled())
            self._finish("cancelled")
        elif isinstance(body, Failure) and body.code == "export.exists" and not self.forced:
            if self.request.export is not None and self.request.export.force:
                self.failed(body)
                return
            self.stage = "confirming"
            self.events.append(FileExists(self.request.export.path if self.request.export else ""))
            self.pending_exists = body
        elif isinstance(body, Failure):
            self.failed(body)

    def _audit(self, v: Verdict, decision: Literal["refused", "declined"]) -> None:
        """The audit trail records what did not run, too."""
        note = AuditNote(
            decision=decision,
            sql_class=v.sql_class,
            question=self.question,
            normalized=v.normalized,
            reasons=v.reasons,
            mode=self.request.mode,
            via=self.request.via,
        )
        self._send(self.executor, note, "audit")  # no reply

    def _finish(self, outcome: str, *, store: bool = True) -> None:
        """The job is over: record the turn (never rows)."""
        self.stage, self.outcome = "done", outcome
        if store and self.request.turn and self.request.kind in ("ask", "sql"):
            sql = workflow.stored_sql(self.sql, self.verdict, redact_literals=self.redact_literals)
            turn = Turn(
                pane=self.pane,
                profile=self.request.profile,
                question=self.question,
                sql=sql,
                explanation=self.explanation,
                outcome=outcome,
                at=self.wall(),
            )
            self._send("supervisor", SessionAddTurn(turn=turn), "session")
        self.events.append(Finished(outcome))
