"""The UI's reducer, keys and slash commands, without a terminal; plus the views drawn onto a
fake screen (the views only need width, height, colours and print_at)."""

from __future__ import annotations

import decimal
import itertools
import os
import random
import time
from typing import Any

import pytest

from protocol.config import Config, PrivacyConfig, ProfileConfig
from protocol.envelope import Header
from protocol.messages import (
    ActorExited,
    ActorsRequest,
    ActorsStatus,
    ArchiveInfo,
    ArchiveRequest,
    AuditNote,
    BackupDone,
    BackupRequest,
    Body,
    Clarification,
    Column,
    DbaProgress,
    ExplainPlan,
    ExplainRequest,
    Exported,
    ExportRequest,
    Failure,
    GuardRequest,
    Plan,
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
    SessionGet,
    SessionSetPane,
    SessionState,
    Signature,
    StatementVerdict,
    Verdict,
)
from ui import dialogs, paint, views
from ui import keys as K
from ui import state as S

# -- helpers ------------------------------------------------------------------------------


def config(**privacy: Any) -> Config:
    return Config(
        profiles={
            "demo": ProfileConfig(dsn="postgresql://me@db.example.com/shop", read_write=True),
            "other": ProfileConfig(dsn="postgresql://me@/warehouse?host=/tmp/sock", max_rows=50),
        },
        privacy=PrivacyConfig(**privacy),
    )


def new(*profiles: str, **privacy: Any) -> S.UiState:
    clock = itertools.count(100.0, 0.5)
    traces = (f"t{n}" for n in itertools.count(1))
    st = S.new_state(
        config(**privacy),
        list(profiles or ("demo",)),
        session="s1",
        model_label="fake",
        clock=lambda: next(clock),
        wall=lambda: 1_700_000_000.0,
        new_trace=lambda: next(traces),
    )
    return st


def take(st: S.UiState) -> list[tuple[Header, Body]]:
    out, st.outbox = st.outbox, []
    return out


def last(st: S.UiState, kind: type[Body]) -> tuple[Header, Any]:
    for header, body in reversed(st.outbox):
        if isinstance(body, kind):
            return header, body
    raise AssertionError(f"no {kind.__name__} in {[type(b).__name__ for _, b in st.outbox]}")


def reply(st: S.UiState, request: Header, body: Body, *, more: bool = False) -> bool:
    header = Header(
        id="x:1:1",
        kind="k",
        src=request.dst,
        dst="ui",
        reply_to=request.id,
        trace=request.trace,
        more=more,
    )
    return S.reduce(st, header, body)


def sig(sql_class: str = "read", mode: str = "read-only") -> Signature:
    return Signature(
        sql_sha256="0" * 64,
        sql_class=sql_class,
        profile="demo",
        mode=mode,  # type: ignore[arg-type]
        expires_at=2e9,
        mac="m",
    )


def verdict(confirm: str = "run", sql_class: str = "read", **kw: Any) -> Verdict:
    signed = confirm != "refuse"
    return Verdict(
        sql_class=sql_class,
        confirm=confirm,
        signature=sig(sql_class) if signed else None,  # type: ignore[arg-type]
        **kw,
    )


def keys(st: S.UiState, *codes: int | str) -> None:
    for c in codes:
        if isinstance(c, str):
            for ch in c:
                S.handle_key(st, ord(ch))
        else:
            S.handle_key(st, c)


def log_text(st: S.UiState, pane: int = 0) -> str:
    return "\n".join(e.text for e in st.panes[pane].log)


def run_sql_to_verdict(st: S.UiState, sql: str, v: Verdict) -> None:
    S.submit_input(st, f"/sql {sql}")
    h, body = last(st, GuardRequest)
    assert body.sql == sql
    take(st)
    reply(st, h, v)


# -- /sql: guard, executor, results, the turn ------------------------------------------------


def test_sql_goes_to_the_guard_then_the_executor_and_fills_the_grid() -> None:
    st = new()
    S.submit_input(st, "/sql select 1 as n")
    h, g = last(st, GuardRequest)
    assert (h.dst, g.profile, g.mode, h.src) == ("guard", "demo", "read-only", "ui")
    take(st)
    reply(st, h, verdict(normalized="select $1 as n"))
    qh, q = last(st, QueryRequest)
    assert qh.dst == "executor:demo" and q.sql == "select 1 as n" and q.confirmed is False
    assert q.max_rows == 10_000 and qh.trace == h.trace  # one trace per user action
    take(st)
    reply(
        st, qh, QueryColumns(columns=[Column(name="n", type_oid=23, type_name="int4")]), more=True
    )
    reply(st, qh, QueryRows(seq=0, rows=[[1], [None]]), more=True)
    assert S.activity(st, st.pane).startswith("running")
    reply(st, qh, QueryDone(command="SELECT 2", rows=2, elapsed_ms=3.0))
    r = st.pane.result
    assert r is not None and r.columns == ["n"] and r.rows == [[1], [None]] and r.numeric == [True]
    assert r.done and st.pane.job is None and "2 rows in 3 ms" in log_text(st)
    _, turn = last(st, SessionAddTurn)
    assert turn.turn.sql == "select $1 as n"  # redact_literals: the normalized text is stored
    assert turn.turn.outcome == "2 rows" and turn.turn.profile == "demo"


def test_without_redaction_the_turn_keeps_the_sql() -> None:
    st = new(redact_literals=False)
    run_sql_to_verdict(st, "select 7", verdict(normalized="select $1"))
    qh, _ = last(st, QueryRequest)
    reply(st, qh, QueryDone(command="SELECT 1", rows=1, elapsed_ms=1))
    assert last(st, SessionAddTurn)[1].turn.sql == "select 7"


def test_a_statement_without_rows_shows_its_command_tag() -> None:
    st = new()
    run_sql_to_verdict(st, "vacuum", verdict())
    qh, _ = last(st, QueryRequest)
    reply(st, qh, QueryDone(command="VACUUM", rows=0, elapsed_ms=2500))
    assert "VACUUM in 2.5 s" in log_text(st) and st.pane.result is None


def test_truncated_results_say_so() -> None:
    st = new("other")
    run_sql_to_verdict(st, "select g from t", verdict())
    qh, q = last(st, QueryRequest)
    assert q.max_rows == 50
    reply(
        st, qh, QueryColumns(columns=[Column(name="g", type_oid=23, type_name="int4")]), more=True
    )
    reply(st, qh, QueryRows(seq=0, rows=[[i] for i in range(50)]), more=True)
    reply(st, qh, QueryDone(command="SELECT 50", rows=50, elapsed_ms=1, truncated=True))
    assert st.pane.result is not None and st.pane.result.truncated
    text = log_text(st)
    assert "first 50 rows shown (max_rows = 50)" in text and "/export writes all of them" in text
    assert "50 rows in" not in text  # the shown count is never called the total


def test_an_unreadable_reply_fails_the_query_and_cancels_it() -> None:
    from protocol.errors import ProtocolError

    st = new()
    run_sql_to_verdict(st, "select g from t", verdict())
    qh, _ = last(st, QueryRequest)
    reply(
        st, qh, QueryColumns(columns=[Column(name="g", type_oid=23, type_name="int4")]), more=True
    )
    reply(st, qh, QueryRows(seq=0, rows=[[1], [2]]), more=True)
    bad = Header(
        id="e:1:9",
        kind="query.rows",
        src=qh.dst,
        dst="ui",
        reply_to=qh.id,
        trace=qh.trace,
        more=True,
    )
    exc = ProtocolError(
        "A 'query.rows' message of 70000000 bytes was refused.", code="protocol.too_large"
    )
    assert S.on_unreadable(st, bad, exc.to_failure())
    assert "70000000 bytes was refused" in log_text(st)
    assert st.pane.job is None or st.pane.job.stage != "running"
    ch, cancel = last(st, QueryCancel)
    assert ch.dst == qh.dst and cancel.target == qh.id
    # the rest of that stream is ignored, not appended to a result that claims to be whole
    reply(st, qh, QueryRows(seq=1, rows=[[3]]), more=True)
    assert st.pane.result is None or [r[0] for r in st.pane.result.rows] == [1, 2]


def test_failures_render_as_what_why_next() -> None:
    st = new()
    run_sql_to_verdict(st, "select nope", verdict())
    qh, _ = last(st, QueryRequest)
    reply(
        st,
        qh,
        Failure(
            code="db.undefined_column",
            message="Column nope does not exist.",
            why="No table in FROM has it.",
            hint="Did you mean 'note'?",
        ),
    )
    styles = [(e.style, e.text) for e in st.pane.log[-3:]]
    assert styles == [
        ("error", "Column nope does not exist."),
        ("error_why", "No table in FROM has it."),
        ("hint", "Did you mean 'note'?"),
    ]
    assert st.pane.job is None


def test_invalid_sql_shows_the_parse_error() -> None:
    from protocol.messages import SqlError

    st = new()
    err = SqlError(
        message="syntax error at or near 'form'",
        line=1,
        column=10,
        snippet="select * form t\n         ^",
    )
    run_sql_to_verdict(st, "select * form t", verdict("refuse", "invalid", error=err))
    assert "does not parse: syntax error" in log_text(st)
    assert not any(isinstance(b, QueryRequest) for _, b in st.outbox)


# -- safety: refusals, mode, dialogs --------------------------------------------------------


def test_read_only_refusal_says_why_and_how_to_switch() -> None:
    st = new()
    run_sql_to_verdict(
        st,
        "delete from t where id = 1",
        verdict("refuse", "write", reasons=["DELETE removes rows from t"]),
    )
    text = log_text(st)
    assert "Refused: this write statement does not run in read-only mode." in text
    assert "Why: DELETE removes rows from t." in text
    assert "/mode read-write (asks first)" in text
    assert not any(isinstance(b, QueryRequest) for _, b in st.outbox)


def test_mode_switch_asks_first_and_only_where_the_profile_allows() -> None:
    st = new("other", "demo")
    S.submit_input(st, "/mode read-write")
    assert st.modal is None and "may not be switched to read-write" in log_text(st)
    assert "read_write = true under [profiles.other]" in log_text(st)
    S.do_action(st, "focus_next")
    S.submit_input(st, "/mode read-write")
    assert isinstance(st.modal, S.ModeModal)
    keys(st, K.ESC)
    assert st.modal is None and st.pane.mode == "read-only"
    S.submit_input(st, "/mode read-write")
    keys(st, "y")
    assert st.pane.mode == "read-write"
    _, sp = last(st, SessionSetPane)
    assert sp.index == 1 and sp.pane.mode == "read-write"
    S.submit_input(st, "/sql insert into t values (1)")
    assert last(st, GuardRequest)[1].mode == "read-write"


def confirm_flow(confirm: str, sql_class: str, sql: str, **kw: Any) -> S.UiState:
    st = new()
    st.pane.mode = "read-write"
    run_sql_to_verdict(st, sql, verdict(confirm, sql_class, **kw))
    assert isinstance(st.modal, S.ConfirmModal)
    return st


def test_a_write_opens_the_dialog_with_an_estimate_and_runs_on_yes() -> None:
    stmt = StatementVerdict(index=0, kind="UPDATE", sql_class="write", tables=["t"])
    st = confirm_flow(
        "confirm",
        "write",
        "update t set a = 1 where b = 2",
        statements=[stmt],
        tables=["t"],
        reasons=["UPDATE changes rows of t"],
    )
    eh, e = last(st, ExplainRequest)
    assert e.analyze is False and eh.dst == "executor:demo"
    take(st)
    plan = '[{"Plan": {"Node Type": "ModifyTable", "Plans": [{"Node Type": "Seq Scan", "Plan Rows": 42}]}}]'
    reply(st, eh, ExplainPlan(plan=plan))
    assert isinstance(st.modal, S.ConfirmModal) and st.modal.estimate.startswith("about 42 rows")
    assert S.activity(st, st.pane) == "waiting for you"
    keys(st, "y")
    _, q = last(st, QueryRequest)
    assert q.confirmed is True and st.modal is None


def test_the_dialog_can_edit_or_decline() -> None:
    st = confirm_flow("confirm", "ddl", "create table t(a int)")
    keys(st, "e")
    assert st.input == "/sql create table t(a int)" and st.pane.job is None
    assert not any(isinstance(b, QueryRequest) for _, b in st.outbox)
    st = confirm_flow("confirm", "ddl", "create table t(a int)")
    keys(st, K.ESC)
    assert "Not run: cancelled at the confirmation." in log_text(st)
    assert last(st, SessionAddTurn)[1].turn.outcome == "declined"


def test_a_destructive_statement_needs_the_typed_name() -> None:
    stmt = StatementVerdict(index=0, kind="DROP TABLE", sql_class="destructive", tables=["orders"])
    st = confirm_flow(
        "typed", "destructive", "drop table orders", confirm_name="orders", statements=[stmt]
    )
    assert not any(isinstance(b, ExplainRequest) for _, b in st.outbox)  # DROP has no EXPLAIN
    keys(st, K.ENTER)  # Cancel is the default of a destructive dialog
    assert st.modal is None and not any(isinstance(b, QueryRequest) for _, b in st.outbox)
    st = confirm_flow("typed", "destructive", "drop table orders", confirm_name="orders")
    keys(st, "order", K.ENTER)
    assert isinstance(st.modal, S.ConfirmModal) and "exactly" in st.modal.message
    keys(st, "y")  # typed characters go into the name, never mean "yes"
    keys(st, K.BACK, "s", K.ENTER)
    _, q = last(st, QueryRequest)
    assert q.confirmed is True and q.sql == "drop table orders"


def test_preview_runs_a_read_on_enter() -> None:
    st = new()
    st.config.safety.preview = True
    S.submit_input(st, "/sql select 1")
    h, g = last(st, GuardRequest)
    assert g.preview is True
    reply(st, h, verdict("preview"))
    assert isinstance(st.modal, S.ConfirmModal)
    keys(st, K.ENTER)
    assert last(st, QueryRequest)[1].confirmed is True


# -- cancel and restarts ----------------------------------------------------------------------


def test_cancel_sends_query_cancel_for_the_running_request() -> None:
    st = new()
    run_sql_to_verdict(st, "select big", verdict())
    qh, _ = last(st, QueryRequest)
    take(st)
    keys(st, K.CTRL_C)
    ch, c = last(st, QueryCancel)
    assert c.target == qh.id and ch.dst == "executor:demo"
    assert S.activity(st, st.pane).startswith("cancelling")
    reply(st, ch, QueryCancelled(target=qh.id))
    reply(st, qh, QueryCancelled(target=qh.id))
    assert "Cancelled: the server stopped the query." in log_text(st) and st.pane.job is None


def test_ctrl_c_on_idle_says_how_to_quit() -> None:
    st = new()
    keys(st, K.CTRL_C)
    assert st.status == "Nothing is running. To quit press Ctrl+Q or type /quit."
    assert not st.quit
    keys(st, K.CTRL_Q)
    assert st.quit


def test_esc_abandons_a_model_call_and_its_late_plan_is_ignored() -> None:
    st = new()
    S.submit_input(st, "how many orders")
    ph, p = last(st, PlanRequest)
    assert ph.dst == "planner" and p.question == "how many orders" and p.profile == "demo"
    keys(st, K.ESC)
    assert "stopped waiting for the model" in log_text(st) and st.pane.job is None
    take(st)
    assert reply(st, ph, Plan(sql="select count(*) from orders")) is False
    assert st.outbox == []


def test_question_plan_guard_run() -> None:
    st = new()
    S.submit_input(st, "top customers")
    ph, _ = last(st, PlanRequest)
    take(st)
    reply(st, ph, Plan(sql="select name from customers limit 10", explanation="The ten first."))
    gh, g = last(st, GuardRequest)
    assert g.sql == "select name from customers limit 10" and gh.trace == ph.trace
    reply(st, gh, verdict())
    qh, _ = last(st, QueryRequest)
    reply(st, qh, QueryDone(command="SELECT 0", rows=0, elapsed_ms=1))
    turn = last(st, SessionAddTurn)[1].turn
    assert turn.question == "top customers" and turn.explanation == "The ten first."
    assert "The ten first." in log_text(st)


def test_clarification_is_shown_with_options() -> None:
    st = new()
    S.submit_input(st, "sales")
    ph, _ = last(st, PlanRequest)
    reply(st, ph, Clarification(question="Which year?", options=["2024", "2025"]))
    assert "Which year?" in log_text(st) and "2. 2025" in log_text(st) and st.pane.job is None


def test_executor_restart_offers_f5_which_runs_it_again() -> None:
    st = new()
    run_sql_to_verdict(st, "select 1", verdict())
    qh, _ = last(st, QueryRequest)
    take(st)
    reply(
        st,
        qh,
        Failure(code="actor.restarted", message="The executor for 'demo' stopped.", retryable=True),
    )
    assert "Press F5 to run it again." in log_text(st)
    keys(st, K.F5)
    _, g = last(st, GuardRequest)
    assert g.sql == "select 1"


def test_actor_exited_event_is_a_notice() -> None:
    st = new()
    S.reduce(
        st,
        Header(id="supervisor:1:9", kind="actor.exited", src="supervisor", dst="ui"),
        ActorExited(
            actor="executor:demo",
            exit_code=-9,
            restarted=True,
            message="The executor for 'demo' stopped unexpectedly and was restarted.",
        ),
    )
    assert st.pane.log[-1].style == "notice" and "restarted" in st.pane.log[-1].text


def test_start_asks_for_the_session_and_warms_the_executors() -> None:
    st = new("demo", "other")
    S.start(st)
    assert isinstance(st.outbox[0][1], SessionGet)
    h, a = last(st, ActorsRequest)
    assert a.profiles == ["demo", "other"] and not st.ready
    reply(st, h, ActorsStatus(actors=[]))
    assert st.ready


# -- panes, palette, history, commands --------------------------------------------------------


def test_split_runs_two_jobs_at_once_and_f6_moves_focus() -> None:
    st = new()
    S.submit_input(st, "/split other")
    assert [p.profile for p in st.panes] == ["demo", "other"] and st.focus == 1
    S.submit_input(st, "/sql select slow")
    h2, _ = last(st, GuardRequest)
    keys(st, K.F6)
    assert st.focus == 0
    S.submit_input(st, "/sql select fast")
    h1, _ = last(st, GuardRequest)
    reply(st, h2, verdict())
    reply(st, h1, verdict())
    dsts = [h.dst for h, b in st.outbox if isinstance(b, QueryRequest)]
    assert dsts == ["executor:other", "executor:demo"]
    assert all(p.job is not None for p in st.panes)


def test_palette_filters_and_switches_database() -> None:
    st = new()
    keys(st, K.CTRL_P)
    assert isinstance(st.modal, S.PaletteModal)
    keys(st, "switch oth")
    assert [i.title for i in st.modal.matches()] == [
        "Switch database: other (warehouse@local socket)"
    ]
    keys(st, K.ENTER)
    assert st.modal is None and st.pane.profile == "other" and "Now using 'other'" in log_text(st)


def test_palette_lists_the_issue_actions_with_keys() -> None:
    st = new()
    titles = " | ".join(f"{i.title} [{i.key}]" for i in S.palette_items(st))
    for want in (
        "Switch database",
        "Export results as CSV",
        "History",
        "Help",
        "Explain the last",
        "Pin",
        "Clear the conversation",
        "Split pane",
        "Change mode",
        "Cancel",
    ):
        assert want in titles
    assert "[F1]" in titles and "[Ctrl+C / Esc]" in titles


def test_history_up_down_per_profile_with_draft() -> None:
    st = new()
    for t in ("/sql select 1", "/sql select 2"):
        S.submit_input(st, t)
        st.pane.job = None
    assert st.history_out == [("demo", "/sql select 1"), ("demo", "/sql select 2")]
    keys(st, "dra")
    keys(st, K.UP)
    assert st.input == "/sql select 2"
    keys(st, K.UP, K.UP)
    assert st.input == "/sql select 1"
    keys(st, K.DOWN, K.DOWN)
    assert st.input == "dra"
    S.submit_input(st, "/use other")
    assert st.history["demo"][-1] == "/use other"
    keys(st, K.UP)
    assert st.input == ""  # the pane is on `other` now, which has its own (empty) history


def test_a_password_typed_in_use_reaches_neither_history_nor_the_screen() -> None:
    st = new()
    S.submit_input(st, "/use postgresql://bob:hunter2@db.example.com/shop")
    assert st.history_out == [("demo", "/use postgresql://bob:***@db.example.com/shop")]
    shown = " ".join(str(entry) for entry in st.pane.log)
    assert "hunter2" not in shown and "Now using 'bob@db.example.com:5432/shop'" in shown
    assert st.pane.profile == "bob@db.example.com:5432/shop"  # a URL works as a profile does
    _, warm = last(st, ActorsRequest)  # the supervisor learns the URL profile from the UI
    assert warm.profiles == ["postgresql://bob:hunter2@db.example.com/shop"]


def test_unknown_command_suggests_the_nearest() -> None:
    st = new()
    S.submit_input(st, "/explian")
    assert "Unknown command /explian. Did you mean /explain?" in log_text(st)


def test_export_checks_the_last_query_then_asks_the_exporter() -> None:
    st = new()
    S.submit_input(st, "/export csv")
    assert "no result to export yet" in log_text(st)
    run_sql_to_verdict(st, "select 1", verdict())
    qh, _ = last(st, QueryRequest)
    reply(st, qh, QueryDone(command="SELECT 1", rows=1, elapsed_ms=1))
    take(st)
    S.submit_input(st, "/export jsonl /tmp/out.jsonl")
    gh, g = last(st, GuardRequest)
    assert g.sql == "select 1"
    reply(st, gh, verdict())
    eh, e = last(st, ExportRequest)
    assert (eh.dst, e.format, e.path, e.profile) == ("exporter", "jsonl", "/tmp/out.jsonl", "demo")
    reply(st, eh, Exported(path="/tmp/out.jsonl", rows=1, bytes=10, elapsed_ms=2))
    assert "Exported 1 row (10 bytes) to /tmp/out.jsonl" in log_text(st)


def test_export_onto_an_existing_file_asks_then_forces_or_keeps_it() -> None:
    st = new()
    run_sql_to_verdict(st, "select 1", verdict())
    qh, _ = last(st, QueryRequest)
    reply(st, qh, QueryDone(command="SELECT 1", rows=1, elapsed_ms=1))
    for answer in ("n", "y"):
        take(st)
        S.submit_input(st, "/export csv /tmp/out.csv")
        gh, _ = last(st, GuardRequest)
        reply(st, gh, verdict())
        eh, e = last(st, ExportRequest)
        assert e.force is False
        reply(
            st,
            eh,
            Failure(
                code="export.exists", message="/tmp/out.csv already exists; it was not overwritten."
            ),
        )
        assert isinstance(st.modal, S.AskModal) and st.modal.title == "Overwrite the file?"
        keys(st, answer)
        assert st.modal is None
    assert "Not exported: /tmp/out.csv was kept as it is." in log_text(st)
    fh, f = last(st, ExportRequest)
    assert f.force is True and f.path == "/tmp/out.csv" and fh.id != eh.id
    reply(st, fh, Exported(path="/tmp/out.csv", rows=1, bytes=6, elapsed_ms=2))
    assert "Exported 1 row (6 bytes) to /tmp/out.csv" in log_text(st) and st.pane.job is None


def test_explain_shows_the_plan_tree() -> None:
    st = new()
    S.submit_input(st, "/explain select * from t")
    gh, _ = last(st, GuardRequest)
    reply(st, gh, verdict())
    eh, e = last(st, ExplainRequest)
    assert e.analyze is False
    plan = (
        '[{"Plan": {"Node Type": "Hash Join", "Total Cost": 9.5, "Plan Rows": 3, "Plans": '
        '[{"Node Type": "Seq Scan", "Relation Name": "t", "Plan Rows": 10}]}}]'
    )
    reply(st, eh, ExplainPlan(plan=plan))
    text = log_text(st)
    assert "Hash Join  [rows est 3" in text and "\u2514\u2500 Seq Scan on t" in text
    assert "Diagnosis:" in text and "[expensive] Hash Join" in text  # ui/explain.py's rules


def test_session_replies_update_pins_and_history_command() -> None:
    st = new()
    S.submit_input(st, "/pin fiscal year starts in April")
    h, _ = st.outbox[-1]
    reply(st, h, SessionState(session="s1", pins=["fiscal year starts in April"]))
    S.submit_input(st, "/history")
    assert "1. fiscal year starts in April" in log_text(st)


def test_grid_paging_and_scrolling() -> None:
    v = S.ResultView(
        ["a", "b", "c"], ["int4", "text", "numeric"], rows=[[i, "x", None] for i in range(100)]
    )
    v.page_h = 10
    assert v.numeric == [True, False, True]
    S.grid_key(v, K.PAGE_DOWN)
    assert (v.cur, v.page) == (10, (2, 10))
    S.grid_key(v, K.END)
    assert (v.cur, v.page) == (99, (10, 10)) and v.top == 90
    S.grid_key(v, K.HOME)
    assert (v.cur, v.top) == (0, 0)
    S.grid_key(v, K.RIGHT)
    S.grid_key(v, K.RIGHT)
    S.grid_key(v, K.RIGHT)
    assert v.left == 2


def test_escape_sequences_curses_missed_become_keys() -> None:
    E = K.ESC
    assert K.decode([E, ord("["), ord("4"), ord("~")]) == [K.END]
    assert K.decode([E]) == [K.ESC]
    assert K.decode([E, ord("x")]) == [K.ALT, ord("x")]  # Alt+x, or Esc then x typed fast
    assert K.decode([E, K.ENTER]) == [K.NEWLINE]  # Alt+Enter
    assert K.decode([E, ord("["), ord("2"), ord("0"), ord("0"), ord("~"), ord("a")]) == [
        K.PASTE_START,
        ord("a"),
    ]
    assert K.decode([E, ord("["), ord("1"), ord(";"), ord("2"), ord("A"), ord("b")]) == [ord("b")]


def test_no_key_in_any_state_raises() -> None:
    rng = random.Random(7)
    codes = [*range(-320, 0), *range(0, 300), 0x4E2D, -10337]
    for setup in range(6):
        st = new("demo", "other")
        if setup == 1:
            run_sql_to_verdict(st, "select 1", verdict())
        elif setup == 2:
            run_sql_to_verdict(
                st, "drop table t", verdict("typed", "destructive", confirm_name="t")
            )
        elif setup == 3:
            keys(st, K.CTRL_P)
        elif setup == 4:
            keys(st, K.F1)
        elif setup == 5:
            st.panes[0].result = S.ResultView(["a"], ["int4"], rows=[[1]])
        for code in rng.sample(codes, 250):
            S.handle_key(st, code)
        st.quit = False


# -- views on a fake screen ---------------------------------------------------------------


class FakeScreen:
    def __init__(self, w: int, h: int, colours: int = 256) -> None:
        self.width, self.height, self.colours = w, h, colours
        self.cells = [[" "] * w for _ in range(h)]
        self.styles: dict[tuple[int, int], tuple[int, int, int]] = {}

    def print_at(self, text: str, x: int, y: int, fg: int = 7, attr: int = 0, bg: int = 0) -> None:
        if not 0 <= y < self.height:
            return
        for i, ch in enumerate(text):
            if 0 <= x + i < self.width:
                self.cells[y][x + i] = ch
                self.styles[(x + i, y)] = (fg, attr, bg)

    def text(self) -> str:
        return "\n".join("".join(r).rstrip() for r in self.cells)


def grid_state(w: int = 120, h: int = 40) -> tuple[S.UiState, FakeScreen]:
    st = new()
    cols = [
        Column(name="id", type_oid=23, type_name="int4"),
        Column(name="note", type_oid=25, type_name="text"),
        Column(name="amount", type_oid=1700, type_name="numeric"),
    ]
    rows = [
        [i, "" if i % 2 else None, decimal.Decimal("1234.50") if i % 3 else None]
        for i in range(1, 301)
    ]
    run_sql_to_verdict(st, "select * from t", verdict())
    qh, _ = last(st, QueryRequest)
    reply(st, qh, QueryColumns(columns=cols), more=True)
    reply(st, qh, QueryRows(seq=0, rows=rows), more=True)
    reply(st, qh, QueryDone(command="SELECT 300", rows=300, elapsed_ms=5))
    screen = FakeScreen(w, h)
    views.draw(screen, st)
    return st, screen


def test_grid_shows_null_apart_from_empty_and_right_aligns_numbers() -> None:
    _, screen = grid_state()
    text = screen.text()
    assert "rows 1-" in text and "of 300 · page 1 of" in text
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.lstrip().startswith("id"))
    row2 = next(ln for ln in lines if ln.startswith(" 2"))  # id 2: note NULL, amount 1234.50
    assert "NULL" in row2 and "1234.50" in row2
    row3 = next(ln for ln in lines if ln.startswith(" 3"))  # id 3: note '', amount NULL
    assert row3.replace("\u2502", " ").split()[:2] == ["3", "NULL"]  # '' is blank
    assert header.index("amount") + len("amount") == row2.index("1234.50") + len("1234.50")
    y = lines.index(row2)
    x = row2.index("NULL")
    assert screen.styles[(x, y)][0] == paint.THEME_256["null"][0]


def test_layout_fits_80x24_and_tiny_screens() -> None:
    st, screen = grid_state(80, 24)
    text = screen.text().splitlines()
    assert len(text) == 24 and text[-1].startswith("demo\u203a") and "page 1 of" in "\n".join(text)
    for w, h in ((30, 8), (10, 3), (200, 60)):
        views.draw(FakeScreen(w, h), st)
    S.submit_input(st, "/split other")
    for w, h in ((80, 24), (120, 40)):
        scr = FakeScreen(w, h, colours=8)
        views.draw(scr, st)
        assert "2 other" in scr.text()


@pytest.mark.parametrize("modal", ["palette", "help", "confirm", "mode"])
def test_dialogs_draw(modal: str) -> None:
    st, _ = grid_state(80, 24)
    if modal == "palette":
        keys(st, K.CTRL_P, "export")
    elif modal == "help":
        keys(st, K.F1)
    elif modal == "mode":
        S.submit_input(st, "/mode read-write")
    else:
        st.pane.mode = "read-write"
        run_sql_to_verdict(
            st,
            "drop table orders",
            verdict(
                "typed", "destructive", confirm_name="orders", reasons=["DROP TABLE deletes orders"]
            ),
        )
    screen = FakeScreen(80, 24)
    views.draw(screen, st)
    want = {
        "palette": "Export results as CSV",
        "help": "/explain",
        "confirm": "Type 'orders' to run it",
        "mode": "Switch 'demo' to read-write?",
    }[modal]
    assert want in screen.text()


def test_sql_highlighting_marks_keywords_strings_numbers() -> None:
    segs = paint.highlight("select 'a''b', 42 from t -- note")
    assert ("select", "kw") in segs and ("'a''b'", "str") in segs and ("42", "numlit") in segs
    assert ("-- note", "comment") in segs


def test_ui_imports_stay_light() -> None:
    """The prompt must not wait for openai, sqlglot, asyncpg, pglast or trio (startup-budget.md);
    protocol.transport (zmq + trio) is imported by app.py only after the first paint."""
    import subprocess
    import sys

    code = (
        "import sys, ui.app, ui.state, ui.views, ui.keys; "
        "print(sorted(m for m in ('openai', 'sqlglot', 'asyncpg', 'pglast', 'trio', "
        "'trio_asyncio', 'zmq') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_redacted_columns_are_masked_on_screen_and_null_stays_null() -> None:
    st = new(redact_columns=["email", "customers.phone"])
    S.submit_input(st, "/sql select name, email, phone from customers")
    h, _g = last(st, GuardRequest)
    take(st)
    reply(st, h, verdict())
    qh, _q = last(st, QueryRequest)
    cols = [Column(name=n, type_oid=25, type_name="text") for n in ("name", "email", "phone")]
    reply(st, qh, QueryColumns(columns=cols), more=True)
    reply(
        st,
        qh,
        QueryRows(seq=0, rows=[["Ada", "ada@example.com", "+47 1234"], ["Bo", None, None]]),
        more=True,
    )
    reply(st, qh, QueryDone(command="SELECT 2", rows=2, elapsed_ms=1.0))
    r = st.pane.result
    assert r is not None
    assert r.rows == [
        ["Ada", "\u2022\u2022\u2022\u2022", "\u2022\u2022\u2022\u2022"],
        ["Bo", None, None],
    ]


# -- dba: /backup, /restore, /migrations -----------------------------------------------------


def test_backup_defaults_to_a_dated_file_and_shows_progress_and_the_summary() -> None:
    st = new()
    S.submit_input(st, "/backup")
    bh, b = last(st, BackupRequest)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(1_700_000_000.0))
    assert bh.dst == "executor:demo" and not b.force
    assert b.path == os.path.join(os.getcwd(), f"demo-{stamp}.dump")
    assert S.activity(st, st.pane).startswith("backing up")
    reply(st, bh, DbaProgress(text="Using /usr/bin/pg_dump (18.1): matches the server"), more=True)
    reply(st, bh, DbaProgress(text="public.orders", objects=2, bytes=2_500_000), more=True)
    assert st.pane.notice == "Backing up: 2 tables, 2.5 MB \u00b7 public.orders"
    reply(
        st, bh, BackupDone(path=b.path, bytes=1_500_000, tables=3, elapsed_ms=2100, database="shop")
    )
    text = log_text(st)
    assert "Using /usr/bin/pg_dump" in text
    assert f"Backed up shop to {b.path}: 1.5 MB (1,500,000 bytes), 3 tables, in 2.1 s." in text
    assert st.pane.job is None and st.pane.notice == ""
    assert not [b for _, b in take(st) if isinstance(b, SessionAddTurn)]  # no turn for the model


def test_backup_over_an_existing_file_asks_and_sends_force_only_on_yes() -> None:
    st = new()
    S.submit_input(st, "/backup /tmp/shop.dump")
    bh, _ = last(st, BackupRequest)
    exists = Failure(
        code="dba.backup_exists",
        message="/tmp/shop.dump already exists.",
        hint="Choose another path, or pass --force to replace it.",
    )
    reply(st, bh, exists)
    assert isinstance(st.modal, S.AskModal) and st.modal.action == "overwrite"
    assert "/tmp/shop.dump already exists." in st.modal.lines
    take(st)
    keys(st, "n")
    assert st.modal is None and st.pane.job is None and not take(st)
    assert "Not backed up: /tmp/shop.dump was kept as it is." in log_text(st)
    keys(st, K.F5)  # again: the same path, the same question
    bh, b = last(st, BackupRequest)
    assert (b.path, b.force) == ("/tmp/shop.dump", False)
    reply(st, bh, exists)
    keys(st, "y")
    bh2, b2 = last(st, BackupRequest)
    assert (b2.path, b2.force, bh2.trace) == ("/tmp/shop.dump", True, bh.trace)
    reply(st, bh2, BackupDone(path="/tmp/shop.dump", bytes=10, tables=1, elapsed_ms=5))
    assert "Backed up demo to /tmp/shop.dump: 10 bytes (10 bytes), 1 tables" in log_text(st)


def test_backup_failure_and_cancel() -> None:
    st = new()
    S.submit_input(st, "/backup 'a b.dump' extra")
    assert "/backup takes one path." in log_text(st) and not st.outbox
    S.submit_input(st, "/backup /nowhere/x.dump")
    bh, _ = last(st, BackupRequest)
    reply(
        st,
        bh,
        Failure(
            code="dba.backup_path",
            message="Cannot write the backup to /nowhere/x.dump: the directory does not exist.",
            hint="Create the directory first, or choose another path.",
        ),
    )
    assert "the directory does not exist" in log_text(st) and st.modal is None
    assert st.pane.job is None
    S.submit_input(st, "/backup /tmp/y.dump")
    bh, _ = last(st, BackupRequest)
    keys(st, K.CTRL_C)
    ch, c = last(st, QueryCancel)
    assert (ch.dst, c.target) == ("executor:demo", bh.id)
    reply(st, bh, QueryCancelled(target=bh.id))
    assert "Backup cancelled; no file was written." in log_text(st) and st.pane.job is None


def test_restore_is_refused_in_read_only_mode_with_how_to_switch() -> None:
    st = new("demo", "other")
    take(st)
    S.submit_input(st, "/restore /tmp/shop.dump shop_copy")
    text = log_text(st)
    assert "Refused: /restore does not run in read-only mode." in text
    assert "a restore creates a database" in text and "/mode read-write" in text
    assert not take(st) and st.pane.job is None
    st.focus = 1  # `other` may not be switched to read-write at all
    S.submit_input(st, "/restore /tmp/shop.dump shop_copy")
    assert "read_write = true under [profiles.other]" in log_text(st, 1)


def archive(**kw: Any) -> ArchiveInfo:
    base: dict[str, Any] = dict(
        path="/tmp/shop.dump",
        database="shop",
        dumped_from="18.1",
        dumped_by="18.1",
        created="2025-01-02 03:04:05",
        entries={"TABLE": 3, "INDEX": 2},
        tables=["public.customers", "public.orders", "public.items"],
        target="shop_copy",
        tool="/usr/bin/pg_restore (18.1)",
    )
    base.update(kw)
    return ArchiveInfo(**base)


def rw_restore(st: S.UiState, arg: str = "/tmp/shop.dump shop_copy") -> Header:
    st.pane.mode = "read-write"
    S.submit_input(st, f"/restore {arg}")
    ah, _ = last(st, ArchiveRequest)
    return ah


def test_restore_shows_the_archive_then_needs_the_typed_name_then_guards_and_runs() -> None:
    st = new()
    st.pane.mode = "read-write"
    S.submit_input(st, "/restore /tmp/shop.dump shop_copy")
    ah, a = last(st, ArchiveRequest)
    assert (ah.dst, a.path, a.target) == ("executor:demo", "/tmp/shop.dump", "shop_copy")
    reply(st, ah, archive())
    text = log_text(st)
    assert "Archive /tmp/shop.dump" in text and "contains: 2 index, 3 table" in text
    assert "tables: public.customers, public.orders, public.items" in text
    m = st.modal
    assert isinstance(m, S.AskModal) and m.name == "shop_copy" and m.action == "restore"
    take(st)
    keys(st, "shop_cop", K.ENTER)
    assert m.message == "Type 'shop_copy' exactly to go ahead (Esc cancels)." and not st.outbox
    keys(st, "y", K.ENTER)
    assert st.modal is None
    gh, g = last(st, GuardRequest)
    assert (g.sql, g.mode, g.profile, gh.trace) == (
        "CREATE DATABASE shop_copy",
        "read-write",
        "demo",
        ah.trace,
    )
    reply(st, gh, verdict("confirm", "ddl"))
    rh, r = last(st, RestoreRequest)
    assert rh.dst == "executor:demo"
    assert (r.path, r.target, r.confirmed, r.confirm_name) == (
        "/tmp/shop.dump",
        "shop_copy",
        True,
        "shop_copy",
    )
    assert r.verdict.sql_class == "ddl"
    assert S.activity(st, st.pane).startswith("restoring")
    reply(st, rh, DbaProgress(text="public.orders", objects=2), more=True)
    assert st.pane.notice == "Restoring: 2 tables \u00b7 public.orders"
    reply(st, rh, Restored(database="shop_copy", tables=3, elapsed_ms=900))
    assert "Restored 3 tables into the new database 'shop_copy' in 900 ms." in log_text(st)
    assert st.pane.job is None and st.pane.notice == ""


def test_restore_refuses_an_existing_target_and_the_typed_name_can_be_declined() -> None:
    st = new()
    ah = rw_restore(st, "/tmp/shop.dump")  # default target: the profile's own database
    problem = "the database shop already exists; pgask restores only into a new database"
    reply(st, ah, archive(target="shop", target_exists=True, problems=[problem]))
    text = log_text(st)
    assert "pgask will not restore into 'shop'." in text and problem in text
    assert "Name a new database: /restore /tmp/shop.dump NEW_NAME" in text
    assert st.modal is None and st.pane.job is None
    ah = rw_restore(st)
    reply(st, ah, archive())
    take(st)
    keys(st, "shop_copy", K.ESC)
    assert st.modal is None and st.pane.job is None
    [(nh, note)] = take(st)  # nothing runs, but the audit trail records the declined restore
    assert nh.dst == "executor:demo" and isinstance(note, AuditNote)
    assert (note.decision, note.sql_class) == ("declined", "ddl")
    assert "shop_copy" in note.normalized and "/tmp/shop.dump" in note.reasons[0]
    assert "Not restored: cancelled at the confirmation." in log_text(st)


def test_restore_guard_refusal_and_executor_failure_are_shown() -> None:
    st = new()
    ah = rw_restore(st)
    reply(st, ah, archive())
    keys(st, "shop_copy", K.ENTER)
    gh, _ = last(st, GuardRequest)
    reply(st, gh, verdict("refuse", "ddl", reasons=["CREATE DATABASE is not allowed here"]))
    text = log_text(st)
    assert "Refused: CREATE DATABASE shop_copy does not run in read-write mode." in text
    assert "CREATE DATABASE is not allowed here" in text and st.pane.job is None
    take(st)
    ah = rw_restore(st)
    reply(
        st,
        ah,
        Failure(
            code="dba.archive_unreadable",
            message="pg_restore could not read /tmp/shop.dump.",
            why="input file is too short",
            hint="Is the file complete?",
        ),
    )
    assert "input file is too short" in log_text(st) and st.pane.job is None
    assert not [b for _, b in st.outbox if isinstance(b, RestoreRequest)]


def test_migrations_lists_what_pgask_wrote_and_applied(tmp_path: Any) -> None:
    st = new()
    st.config.profiles["demo"].migrations_dir = str(tmp_path)
    S.submit_input(st, "/migrations")
    assert f"No migrations for 'demo' in {tmp_path} yet." in log_text(st)
    up = "-- migrate:up\nALTER TABLE orders ADD COLUMN discount numeric;\n\n-- migrate:down\n"
    (tmp_path / "20250101000000_add_discount.sql").write_text(up + "ALTER TABLE orders DROP ...;")
    (tmp_path / "20250102000000_reviews.sql").write_text(
        "-- migrate:up\nCREATE TABLE reviews (id int);\n\n-- migrate:down\nDROP TABLE reviews;\n"
    )
    (tmp_path / "pgask-migrations.jsonl").write_text(
        '{"file": "20250101000000_add_discount.sql", "direction": "up", "profile": "demo", '
        '"at": "2025-01-01T00:00:01+00:00"}\n'
    )
    S.submit_input(st, "/migrations")
    lines = log_text(st).splitlines()
    assert f"Migrations for 'demo' in {tmp_path} (2 files):" in lines
    applied = next(ln for ln in lines if "add_discount" in ln)
    assert "applied" in applied and "2025-01-01T00:00:01+00:00" in applied
    assert "ALTER TABLE orders ADD COLUMN discount numeric;" in applied
    written = next(ln for ln in lines if "_reviews.sql" in ln)
    assert "written" in written and "CREATE TABLE reviews" in written
    assert not st.outbox or all(not isinstance(b, BackupRequest) for _, b in st.outbox)


def test_palette_and_help_have_the_dba_commands() -> None:
    st = new()
    titles = [i.title for i in S.palette_items(st)]
    for want in ("Backup database", "Restore from archive", "Migrations"):
        assert want in titles
    help_text = "\n".join(dialogs.Help.lines())
    assert "/backup [PATH]" in help_text and "/restore PATH" in help_text
    assert "/migrations" in help_text
    keys(st, K.CTRL_P, "backup database", K.ENTER)
    _, b = last(st, BackupRequest)
    assert b.path.endswith(".dump")
    st.pane.job = None
    keys(st, K.CTRL_P, "restore from", K.ENTER)
    assert st.input == "/restore " and st.area == "input"


def test_ask_dialogs_draw_and_survive_any_key() -> None:
    st = new()
    ah = rw_restore(st)
    reply(st, ah, archive())
    keys(st, "shop")
    screen = FakeScreen(80, 24)
    views.draw(screen, st)
    assert "Type 'shop_copy' to go ahead: shop" in screen.text()
    assert "Restore into 'shop_copy'" in screen.text()
    views.draw(FakeScreen(30, 8), st)
    rng = random.Random(3)
    for code in rng.sample([*range(-320, 0), *range(0, 300)], 250):
        S.handle_key(st, code)
    st2 = new()
    S.submit_input(st2, "/backup /tmp/shop.dump")
    bh, _ = last(st2, BackupRequest)
    reply(st2, bh, Failure(code="dba.backup_exists", message="exists"))
    screen = FakeScreen(80, 24)
    views.draw(screen, st2)
    assert "Overwrite the backup file?" in screen.text() and "y / Enter: yes" in screen.text()


def _script(st: S.UiState, verdicts: dict[str, Verdict]) -> list[str]:
    """Answer each statement's GuardRequest with its verdict; the texts checked, in order."""
    checked = []
    while True:
        pending = [(h, b) for h, b in st.outbox if isinstance(b, GuardRequest)]
        if not pending:
            return checked
        h, body = pending[-1]
        take(st)
        checked.append(body.sql)
        reply(st, h, verdicts[body.sql])


def test_several_statements_are_all_checked_first_then_run_in_order() -> None:
    st = new()
    stmts = [
        StatementVerdict(index=0, kind="SELECT", sql_class="read", text="select 1"),
        StatementVerdict(index=1, kind="SELECT", sql_class="read", text="select 2"),
    ]
    run_sql_to_verdict(st, "select 1; select 2", verdict(statements=stmts))
    assert _script(st, {"select 1": verdict(), "select 2": verdict()}) == ["select 1", "select 2"]
    ran = []
    for _ in range(2):
        qh, q = last(st, QueryRequest)
        take(st)
        ran.append(q.sql)
        reply(
            st,
            qh,
            QueryColumns(columns=[Column(name="n", type_oid=23, type_name="int4")]),
            more=True,
        )
        reply(st, qh, QueryRows(seq=0, rows=[[len(ran)]]), more=True)
        reply(st, qh, QueryDone(command="SELECT 1", rows=1, elapsed_ms=1))
    assert ran == ["select 1", "select 2"] and st.pane.job is None
    assert st.pane.result is not None and st.pane.result.rows == [[2]]  # the grid keeps the last
    assert "2 statements: each is checked" in log_text(st)


def test_a_refused_statement_of_several_runs_none_of_them() -> None:
    st = new()
    stmts = [
        StatementVerdict(index=0, kind="SELECT", sql_class="read", text="select 1"),
        StatementVerdict(index=1, kind="DELETE", sql_class="write", text="delete from t"),
    ]
    run_sql_to_verdict(st, "select 1; delete from t", verdict(statements=stmts))
    refused = verdict("refuse", "write", reasons=["DELETE changes rows"])
    assert _script(st, {"select 1": verdict(), "delete from t": refused}) == [
        "select 1",
        "delete from t",
    ]
    assert not [b for _, b in st.outbox if isinstance(b, QueryRequest)]  # nothing runs
    assert "Nothing was run (statement 2 of 2)" in log_text(st) and st.pane.job is None


def test_a_failing_statement_stops_the_ones_after_it() -> None:
    st = new()
    stmts = [
        StatementVerdict(index=i, kind="SELECT", sql_class="read", text=f"select {i}")
        for i in range(3)
    ]
    run_sql_to_verdict(st, "select 0; select 1; select 2", verdict(statements=stmts))
    _script(st, {f"select {i}": verdict() for i in range(3)})
    qh, q = last(st, QueryRequest)
    take(st)
    reply(st, qh, QueryDone(command="SELECT 0", rows=0, elapsed_ms=1))
    qh, q = last(st, QueryRequest)
    take(st)
    assert q.sql == "select 1"
    reply(st, qh, Failure(code="db.division_by_zero", message="division by zero"))
    assert not [b for _, b in st.outbox if isinstance(b, QueryRequest)]
    assert "Stopped at statement 2 of 3" in log_text(st) and st.pane.job is None


def paste(st: S.UiState, text: str) -> None:
    keys(st, K.PASTE_START, *[K.ENTER if ch == "\n" else ord(ch) for ch in text], K.PASTE_END)


def test_a_bracketed_multi_line_paste_is_one_submission() -> None:
    st = new()
    paste(st, "select 1 as a,\n  2 as b\nfrom generate_series(1, 3);\n")
    guards = [b for _, b in st.outbox if isinstance(b, GuardRequest)]
    assert [g.sql for g in guards] == ["select 1 as a,\n  2 as b\nfrom generate_series(1, 3);"]
    assert st.input == ""


def test_a_paste_without_a_final_semicolon_waits_in_the_input() -> None:
    st = new()
    paste(st, "/sql select 1\nfrom t\n")
    assert not st.outbox and st.input == "/sql select 1\nfrom t"
    keys(st, K.ENTER)  # the statement goes on, as psql's continuation prompt
    assert not st.outbox and st.input.endswith("\n")
    keys(st, ";", K.ENTER)
    assert [b.sql for _, b in st.outbox if isinstance(b, GuardRequest)] == ["select 1\nfrom t\n;"]


def test_alt_enter_breaks_the_line_and_a_one_line_sql_runs_on_enter() -> None:
    st = new()
    keys(st, "/sql select 1", K.NEWLINE, "+ 1")
    assert st.input == "/sql select 1\n+ 1" and not st.outbox
    st2 = new()
    keys(st2, "/sql select 1", K.ENTER)  # one line: Enter runs it (pgcli's habit)
    assert any(isinstance(b, GuardRequest) for _, b in st2.outbox)


def test_sql_complete_ignores_semicolons_in_quotes_comments_and_dollar_quotes() -> None:
    assert S.sql_complete("select 1;")
    assert not S.sql_complete("select ';'")
    assert not S.sql_complete("select 1 -- done;")
    assert not S.sql_complete("select $$;$$")
    assert S.sql_complete("select $f$;$f$ ;  ")
    assert not S.sql_complete("select 1 /* ; */")
    assert S.sql_complete("select 'it''s';")


def test_ctrl_c_clears_a_line_and_ctrl_d_on_an_empty_line_quits() -> None:
    st = new()
    keys(st, "half typed", K.CTRL_C)
    assert st.input == "" and not st.quit
    keys(st, "x", K.CTRL_D)
    assert not st.quit and st.input == "x"
    keys(st, K.CTRL_U, K.CTRL_D)
    assert st.quit


def test_keys_typed_right_after_esc_closes_the_palette_are_kept() -> None:
    st = new()
    keys(st, K.CTRL_P)
    assert isinstance(st.modal, S.PaletteModal)
    for code in K.decode([K.ESC, ord("s"), ord("h")]):  # Esc, then "sh" in the same read
        S.handle_key(st, code)
    assert st.modal is None and st.input == "sh"
    for code in K.decode([K.ESC, ord("b")]):  # Alt+b on a typed line neither clears nor types
        S.handle_key(st, code)
    assert st.input == "sh"
    st.input, st.cursor, st.area = "", 0, "results"
    for code in K.decode([K.ESC, ord("\\"), ord("l")]):  # Esc out of the results, typing on
        S.handle_key(st, code)
    assert st.area == "input" and st.input == "\\l"
