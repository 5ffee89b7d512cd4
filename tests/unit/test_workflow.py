"""The TUI and the headless front end decide alike (issue 18): the same verdict and the same
answers give the same steps (runs or not, confirmed, audit note, recorded turn), the same
re-ask after a failed read, and the same conversation window.

Both sides run the one workflow engine (ui/engine.py): the TUI side is the real reducer
(ui/state.py) driven with replies and keys; the headless side is the real driver (ui/drive.py)
with the answers `pgask ask --yes / --confirm NAME` gives (ui/cli_run.answer_from), over a
scripted bus that replies as the actors would. Each side's sent messages are compared."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pytest

from protocol.messages import (
    AuditNote,
    Column,
    Failure,
    GuardRequest,
    Plan,
    PlanRequest,
    QueryColumns,
    QueryDone,
    QueryRequest,
    QueryRows,
    SessionAddTurn,
    SessionState,
    StatementVerdict,
    Turn,
    Verdict,
)
from tests.unit.test_ui_state import keys, last, new, reply, take, verdict
from ui import cli_run, drive, workflow
from ui import keys as K
from ui import state as S
from ui.engine import JobRequest

SQL = "update orders set total = 1 where id = 10"


@dataclass(frozen=True)
class Steps:
    ran: bool
    confirmed: bool = False
    decision: str = ""  # QueryRequest.decision when it ran
    audit: str = ""  # AuditNote.decision when it did not
    outcome: str = ""  # the recorded turn when it did not run ("" when none)


def _sent(st: S.UiState, kind: type) -> list[Any]:
    return [b for _, b in st.outbox if isinstance(b, kind)]


def tui_steps(v: Verdict, *, mode: str, yes: bool, typed: str | None) -> Steps:
    """Ask a question in the TUI, its plan judged `v`; answer the dialog (if any) like a person."""
    st = new()
    st.pane.mode = mode  # type: ignore[assignment]
    S.submit_input(st, "set the total of order 10 to 1")
    ph, _ = last(st, PlanRequest)
    take(st)
    reply(st, ph, Plan(sql=SQL, explanation="One order."))
    gh, _ = last(st, GuardRequest)
    take(st)
    reply(st, gh, v)
    if isinstance(st.modal, S.ConfirmModal):
        if v.confirm == "preview":  # shown, then run (headless: shown on stderr, then run)
            keys(st, K.ENTER)
        elif v.confirm == "typed":
            keys(st, typed or "", K.ENTER)
            if isinstance(st.modal, S.ConfirmModal):  # a wrong name: the person gives up
                keys(st, K.ESC)
        else:
            keys(st, "y" if yes else K.ESC)
    queries = _sent(st, QueryRequest)
    audits = [a.decision for a in _sent(st, AuditNote)]
    turns = [t.turn.outcome for t in _sent(st, SessionAddTurn)]
    if queries:
        assert not audits and not turns
        return Steps(True, confirmed=queries[0].confirmed, decision=queries[0].decision)
    return Steps(False, audit=audits[0] if audits else "", outcome=turns[0] if turns else "")


class ScriptedBus:
    """The client's surface (ui/client.py), answering as the actors would from a script; it
    keeps every message the driver sent, in order."""

    def __init__(self, replies: dict[type, list[Any]]) -> None:
        self.replies, self.sent, self._n = replies, [], 0

    def ids(self) -> str:
        self._n += 1
        return f"r{self._n}"

    async def send(self, dst: str, body: Any, *, trace: str = "") -> str:
        self.sent.append(body)
        return self.ids()

    async def request(self, dst: str, body: Any, *, timeout: float = 30.0) -> Any:
        return [b async for _h, b in self.stream(dst, body)][-1]

    async def stream(self, dst: str, body: Any, *, trace: str = "", request_id: str = ""):
        self.sent.append(body)
        script = self.replies.get(type(body), [SessionState(session="s1")])
        if script and isinstance(script[0], list):  # one reply list per request, in order
            script = script.pop(0) if len(script) > 1 else script[0]
        for scripted in script:
            yield None, scripted


async def headless_steps(
    v: Verdict, *, yes: bool, typed: str | None, mode: str = "read-write"
) -> Steps:
    """What `pgask ask ... [--yes] [--confirm NAME]` does with the same verdict, through the
    real driver and the CLI's own answers."""
    bus = ScriptedBus(
        {
            PlanRequest: [Plan(sql=SQL, explanation="One order.")],
            GuardRequest: [v],
            QueryRequest: [QueryDone(command="UPDATE 1", rows=1, elapsed_ms=1)],
        }
    )
    args = argparse.Namespace(yes=yes, confirm=typed)
    request = JobRequest(
        kind="ask", text="set the total of order 10 to 1", profile="demo", mode=mode
    )  # type: ignore[arg-type]
    config = new().config
    await drive.run_job(bus, config, request, answer=cli_run.answer_from(args, "demo"))
    queries = [b for b in bus.sent if isinstance(b, QueryRequest)]
    audits = [a.decision for a in bus.sent if isinstance(a, AuditNote)]
    turns = [t.turn.outcome for t in bus.sent if isinstance(t, SessionAddTurn)]
    if queries:
        return Steps(True, confirmed=queries[0].confirmed, decision=queries[0].decision)
    return Steps(False, audit=audits[0] if audits else "", outcome=turns[0] if turns else "")


UPDATE = StatementVerdict(index=0, kind="UPDATE", sql_class="write", tables=["orders"], text=SQL)
DROP = StatementVerdict(index=0, kind="DROP TABLE", sql_class="destructive", tables=["orders"])
TWO = [
    StatementVerdict(index=0, kind="SELECT", sql_class="read", text="select 1"),
    StatementVerdict(index=1, kind="SELECT", sql_class="read", text="select 2"),
]

CASES = [
    # (name, verdict, mode, yes, typed, expected)
    ("read runs", verdict(), "read-only", False, None, Steps(True, decision="auto")),
    (
        "preview runs",
        verdict("preview"),
        "read-only",
        False,
        None,
        Steps(True, confirmed=True, decision="preview"),
    ),
    (
        "write, yes",
        verdict("confirm", "write", statements=[UPDATE]),
        "read-write",
        True,
        None,
        Steps(True, confirmed=True, decision="confirmed"),
    ),
    (
        "write, no",
        verdict("confirm", "write", statements=[UPDATE]),
        "read-write",
        False,
        None,
        Steps(False, audit="declined", outcome="declined"),
    ),
    (
        "drop, name typed",
        verdict("typed", "destructive", confirm_name="orders", statements=[DROP]),
        "read-write",
        False,
        "orders",
        Steps(True, confirmed=True, decision="typed"),
    ),
    (
        "drop, wrong name",
        verdict("typed", "destructive", confirm_name="orders", statements=[DROP]),
        "read-write",
        True,
        "order",
        Steps(False, audit="declined", outcome="declined"),
    ),
    (
        "write in read-only",
        verdict("refuse", "write", reasons=["UPDATE changes rows"]),
        "read-only",
        True,
        None,
        Steps(False, audit="refused", outcome="refused"),
    ),
    (
        "forbidden",
        verdict("refuse", "forbidden"),
        "read-write",
        True,
        "x",
        Steps(False, audit="refused", outcome="refused"),
    ),
    (
        "invalid SQL",
        verdict("refuse", "invalid"),
        "read-only",
        True,
        None,
        Steps(False, outcome="invalid"),
    ),
    ("two statements", verdict(statements=TWO), "read-only", True, None, Steps(False)),
]


@pytest.mark.parametrize(
    ("v", "mode", "yes", "typed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_tui_and_headless_take_the_same_steps(v, mode, yes, typed, expected):
    assert tui_steps(v, mode=mode, yes=yes, typed=typed) == expected
    assert await headless_steps(v, yes=yes, typed=typed, mode=mode) == expected


def _ask_until_query(session: SessionState | None = None) -> tuple[S.UiState, PlanRequest, Any]:
    st = new()
    if session is not None:
        st.session_state = session
    S.submit_input(st, "totals of order 10")
    ph, asked = last(st, PlanRequest)
    take(st)
    reply(st, ph, Plan(sql="select totl from orders where id = 10"))
    gh, _ = last(st, GuardRequest)
    reply(st, gh, verdict())
    qh, _ = last(st, QueryRequest)
    take(st)
    return st, asked, qh


MISSING = Failure(
    code="db.undefined_column",
    message='column "totl" does not exist',
    hint="Perhaps you meant total.",
    detail="at character 8",
)


def test_a_failed_read_is_reasked_once_with_the_request_the_cli_would_send():
    st, asked, qh = _ask_until_query()
    reply(st, qh, MISSING)
    _, reasked = last(st, PlanRequest)
    cli_request = workflow.repair_request(asked, "select totl from orders where id = 10", MISSING)
    assert reasked == cli_request
    assert reasked.previous_sql == "select totl from orders where id = 10"
    assert (
        'column "totl" does not exist' in reasked.feedback and "at character 8" in reasked.feedback
    )
    assert "asking the model to fix it" in "\n".join(e.text for e in st.pane.log)
    assert not _sent(st, SessionAddTurn)  # the question is still being answered
    # the repaired plan fails too: no third try; the turn records the error, as the CLI does
    ph = next(h for h, b in reversed(st.outbox) if isinstance(b, PlanRequest))
    take(st)
    reply(st, ph, Plan(sql="select tot from orders where id = 10"))
    gh, _ = last(st, GuardRequest)
    reply(st, gh, verdict())
    qh, _ = last(st, QueryRequest)
    take(st)
    reply(st, qh, MISSING)
    assert not _sent(st, PlanRequest)
    assert [t.turn.outcome for t in _sent(st, SessionAddTurn)] == [
        workflow.failure_outcome(MISSING)
    ]
    assert not workflow.repairable(MISSING, verdict(), repaired=True, rows_shown=0)


async def test_the_headless_driver_reasks_exactly_as_the_tui_does():
    st, asked, qh = _ask_until_query()
    reply(st, qh, MISSING)
    _, tui_reasked = last(st, PlanRequest)
    ok = [
        QueryColumns(columns=[Column(name="total", type_oid=1700, type_name="numeric")]),
        QueryRows(seq=0, rows=[[1]]),
        QueryDone(command="SELECT 1", rows=1, elapsed_ms=1),
    ]
    bus = ScriptedBus(
        {
            PlanRequest: [
                [Plan(sql="select totl from orders where id = 10")],
                [Plan(sql="select total from orders where id = 10")],
            ],
            GuardRequest: [verdict()],
            QueryRequest: [[MISSING], ok],
        }
    )
    request = JobRequest(kind="ask", text="totals of order 10", profile="demo", mode="read-only")
    result = await drive.run_job(
        bus,
        new().config,
        request,
        answer=cli_run.answer_from(argparse.Namespace(yes=False, confirm=None), "demo"),
    )
    plans = [b for b in bus.sent if isinstance(b, PlanRequest)]
    assert plans == [asked, tui_reasked]  # the same question, then the same repair request
    assert result.outcome == "1 rows" and result.rows == [[1]] and result.first_failure == MISSING
    assert [t.turn.outcome for t in bus.sent if isinstance(t, SessionAddTurn)] == ["1 rows"]


@pytest.mark.parametrize(
    ("failure", "rows_first"),
    [(Failure(code="db.connection_lost", message="gone"), False), (MISSING, True)],
    ids=["the connection, not the SQL", "rows already shown"],
)
def test_no_reask_where_the_cli_would_not_either(failure, rows_first):
    st, _asked, qh = _ask_until_query()
    if rows_first:
        reply(
            st,
            qh,
            QueryColumns(columns=[Column(name="total", type_oid=1700, type_name="numeric")]),
            more=True,
        )
        reply(st, qh, QueryRows(seq=0, rows=[[1]]), more=True)
    reply(st, qh, failure)
    assert not _sent(st, PlanRequest)
    assert not workflow.repairable(failure, verdict(), repaired=False, rows_shown=int(rows_first))
    assert [t.turn.outcome for t in _sent(st, SessionAddTurn)] == [f"error {failure.code}"]


def test_a_finished_read_records_the_turn_the_cli_records():
    st, _asked, qh = _ask_until_query()
    reply(
        st,
        qh,
        QueryColumns(columns=[Column(name="total", type_oid=1700, type_name="numeric")]),
        more=True,
    )
    reply(st, qh, QueryRows(seq=0, rows=[[1], [2]]), more=True)
    reply(st, qh, QueryDone(command="SELECT 2", rows=2, elapsed_ms=1, truncated=True))
    tui = [t.turn.outcome for t in _sent(st, SessionAddTurn)]
    cli = workflow.run_outcome(has_columns=True, rows=2, truncated=True, command="SELECT 2")
    assert tui == [cli] == ["first 2 rows (more not fetched)"]


def test_both_send_the_same_conversation_window():
    turns = [Turn(profile="demo" if n % 3 else "other", question=f"q{n}") for n in range(30)]
    session = SessionState(session="s1", turns=turns)
    _st, asked, _qh = _ask_until_query(session)
    assert asked.recent == workflow.recent_turns(session, "demo")
    assert len(asked.recent) == workflow.RECENT_TURNS == 10
    assert all(t.profile == "demo" for t in asked.recent) and asked.recent[-1].question == "q29"


def test_a_typed_name_may_leave_out_public_but_no_other_schema() -> None:
    from ui.workflow import accepted, name_matches

    assert name_matches("orders_idx", "public.orders_idx")
    assert name_matches("public.orders_idx", "public.orders_idx")
    assert not name_matches("orders_idx", "sales.orders_idx")
    assert not name_matches("orders", "public.orders_idx")
    v = verdict("typed", "destructive", confirm_name="public.orders_idx", statements=[DROP])
    assert accepted(v, yes=False, typed="orders_idx") and not accepted(v, yes=True, typed=None)
