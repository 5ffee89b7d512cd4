"""A pane's job on the workflow engine (ui/engine.py): start it, send what it asks, show
what happens (plan, dialog, rows, refusal); and /export, Ctrl+C.

    ask:     plan.request -> plan.result -> guard.check -> verdict -> [dialog] -> query.run
    sql:     guard.check -> verdict -> [dialog] -> query.run -> query.columns/rows*/done
    explain: guard.check -> verdict -> [dialog for analyze of a write] -> query.explain
    export:  guard.check -> verdict -> export.start -> export.progress* -> export.done
The engine decides each step of ask, sql and explain, as it does for `pgask ask/sql`; this
module only shows them. Every request carries the job's trace; replies find their job by
`reply_to` (ui/tui/reduce.py)."""

from __future__ import annotations

import dataclasses
import os
import time

from protocol.columns import unique_names
from protocol.config import (
    ProfileConfig,
    profile_file_name,
)
from protocol.messages import (
    Body,
    ExplainPlan,
    ExportCancel,
    Failure,
    QueryCancel,
)
from protocol.privacy import MASK, redacted_result_column
from ui import engine
from ui.engine import ExportSpec
from ui.explain import explain_text
from ui.tui.model import (
    AskModal,
    ConfirmModal,
    Job,
    PaneState,
    ResultView,
    Script,
    UiState,
    executor,
    fetch_catalog,
    fmt_ms,
    say,
    say_failure,
    send,
)


def start_job(state: UiState, pane_i: int, job: Job) -> bool:
    pane = state.panes[pane_i]
    if pane.job is not None:
        say(pane, "error", f"'{pane.profile}' is still busy with the previous request.")
        say(pane, "hint", "Wait for it, or press Ctrl+C to cancel it (F6 moves to another pane).")
        return True
    pane.job, pane.last, pane.notice = job, job, ""
    if job.kind == "explain":
        say(pane, "you", f"/explain{' analyze' if job.analyze else ''} {job.text}")
    elif job.kind == "export":
        say(pane, "you", f"/export {job.fmt} {job.path}")
    else:
        say(pane, "you", job.text)
    pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
    request = engine.JobRequest(
        kind=job.kind,
        text=job.text,
        profile=pane.profile,
        mode=pane.mode,  # type: ignore[arg-type]
        analyze=job.analyze,
        max_rows=pcfg.max_rows,
        preview=state.config.safety.preview,
        export=ExportSpec(job.path, job.fmt) if job.kind == "export" else None,
    )  # type: ignore[arg-type]
    if job.kind == "sql":
        job.script = Script(texts=[])  # until the guard says the text holds several
    start_engine(state, pane_i, job, request)
    return advance(state, pane_i, job)


def advance(state: UiState, pane_i: int, job: Job) -> bool:
    """Send what the engine asked to send, then show what happened, in order."""
    eng = job.engine
    assert eng is not None
    pane = state.panes[pane_i]
    for out in eng.outbox:
        purpose = "" if out.purpose == "audit" else out.purpose  # an audit note has no reply
        rid = send(state, out.dst, out.body, pane=pane_i, purpose=purpose, trace=job.trace)
        if out.purpose in ("plan", "guard", "query", "explain", "export"):
            job.request_id = rid
        if out.purpose == "query":
            pane.last_sql = eng.sql
        elif out.purpose == "export":
            say(
                pane,
                "info",
                f"Exporting the full result of the last query (not only the rows "
                f"on screen) to {job.path} ...",
            )
    eng.outbox.clear()
    events, eng.events = eng.events, []
    job.sql, job.verdict = eng.sql, eng.verdict
    if eng.stage != "done":
        job.stage = eng.stage
    for event in events:
        if job.script is not None and script_event(state, pane_i, job, event):
            continue
        show_event(state, pane_i, job, event)
    if job.script is not None and job.engine is eng and eng.stage in ("done", "ready"):
        script_step(state, pane_i, job)
    return True


def start_engine(state: UiState, pane_i: int, job: Job, request: engine.JobRequest) -> None:
    """A new engine job on the pane's job (a question, a statement, one of a script)."""
    job.engine = engine.Job(
        request,
        session=state.session_state,
        pane=pane_i,
        wall=state.wall,
        redact_literals=state.config.privacy.redact_literals,
    )
    job.engine.start()


def show_event(state: UiState, i: int, job: Job, event: engine.Event) -> None:
    """One step of the workflow, as the TUI shows it."""
    pane = state.panes[i]
    if isinstance(event, engine.Notice):
        pane.notice = event.text
    elif isinstance(event, engine.Planned):
        pane.notice = ""
        if event.plan.explanation:
            say(pane, "explain", event.plan.explanation)
        for a in event.plan.assumptions:
            say(pane, "dim", f"  assumes: {a}")
        say(pane, "sql", event.plan.sql)
    elif isinstance(event, engine.Clarify):
        say(pane, "explain", event.clarification.question)
        for n, opt in enumerate(event.clarification.options, 1):
            say(pane, "dim", f"  {n}. {opt}")
    elif isinstance(event, engine.Checked):
        if event.verdict.catalog:  # judged against the profile's database: who we are there
            pane.superuser = event.verdict.superuser
    elif isinstance(event, engine.Stopped):
        stopped(state, i, job, event)
    elif isinstance(event, engine.Asking):
        v = event.ask.verdict
        state.modal = ConfirmModal(i, v, event.ask.sql, selected=2 if v.confirm == "typed" else 0)
    elif isinstance(event, engine.Estimated):
        modal = state.modal
        if isinstance(modal, ConfirmModal) and modal.pane == i:
            modal.estimate = event.text
    elif isinstance(event, engine.Columns | engine.Rows | engine.Done | engine.Cancelled):
        show_result(state, i, job, event)
    elif isinstance(event, engine.Reasking):
        pane.notice = ""
        say_failure(pane, event.failure)
        say(pane, "notice", f"The query failed ({event.failure.code}); asking the model to fix it.")
    elif isinstance(event, engine.Explained):
        show_plan(pane, job, event.plan)
    elif isinstance(event, engine.Progress):
        job.rows = event.progress.rows
        pane.notice = (
            f"Exporting: about {event.progress.rows:,} rows, {event.progress.bytes / 1e6:.1f} MB"
        )
    elif isinstance(event, engine.Written):
        e = event.exported
        pane.notice = ""
        say(
            pane,
            "ok",
            f"Exported {e.rows:,} row{'s' if e.rows != 1 else ''} ({e.bytes:,} bytes) "
            f"to {e.path} in {fmt_ms(e.elapsed_ms)}.",
        )
    elif isinstance(event, engine.FileExists):
        pane.notice = ""
        state.modal = AskModal(
            i,
            "Overwrite the file?",
            [f"{event.path} already exists.", "Replace it with the full result of the last query?"],
            "overwrite",
        )
    elif isinstance(event, engine.Failed):
        pane.notice = ""
        say_failure(pane, event.failure)
        if event.failure.code == "actor.restarted" and job.stage == "running":
            say(
                pane,
                "hint",
                f"The executor for '{pane.profile}' stopped unexpectedly and was "
                "restarted; your query did not run. Press F5 to run it again.",
            )
    elif isinstance(event, engine.Finished):
        finish(state, i, event.outcome)  # the engine recorded the turn


def finish(state: UiState, pane_i: int, outcome: str) -> None:
    """The job is over: free the pane. The engine records a turn for the jobs that make one
    (a question, /sql); export, explain, backup and restore are not turns."""
    pane = state.panes[pane_i]
    job = pane.job
    pane.job = None
    if job is None:
        return
    job.stage = "done"
    if job.engine is not None and not job.engine.done:
        job.engine.abandon(outcome)  # stopped by the person before it ended (cancel, edit)


def cancel(state: UiState) -> bool:
    """Ctrl+C / Esc: stop what the focused pane is doing, or say how to quit."""
    pane_i, pane = state.focus, state.pane
    job = pane.job
    if job is None:
        state.status = "Nothing is running. To quit press Ctrl+Q or type /quit."
        return True
    if job.stage == "running" and job.request_id:
        if job.cancelling:
            return True
        job.cancelling = True
        if job.kind == "export":
            send(
                state,
                "exporter",
                ExportCancel(target=job.request_id),
                pane=pane_i,
                purpose="cancel",
                trace=job.trace,
            )
        else:
            send(
                state,
                executor(pane),
                QueryCancel(target=job.request_id),
                pane=pane_i,
                purpose="cancel",
                trace=job.trace,
            )
        pane.notice = "Cancelling ..."
        return True
    # planning or checking: nothing runs on the database yet, so stop waiting for it
    for rid in [k for k, p in state.pending.items() if p.trace == job.trace]:
        del state.pending[rid]
    what = "the model" if job.stage == "planning" else "the check"
    say(pane, "notice", f"Cancelled: stopped waiting for {what}. Nothing ran.")
    finish(state, pane_i, "cancelled")
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
    return start_job(state, pane_i, job)


def failed(state: UiState, i: int, body: Body) -> bool:
    """A Failure ends the pane's job: the error is shown in three lines."""
    if not isinstance(body, Failure):
        return False
    say_failure(state.panes[i], body)
    finish(state, i, f"error {body.code}")
    return True


def on_engine_reply(state: UiState, i: int, job: Job, purpose: str, body: Body) -> bool:
    if job.engine is None:
        return False
    job.engine.on_reply(purpose, body)
    return advance(state, i, job)


def stopped(state: UiState, i: int, job: Job, event: engine.Stopped) -> None:
    """Nothing runs: say why, and what to do instead."""
    pane, v = state.panes[i], event.verdict
    if job.kind == "export":
        if event.why == "declined":
            say(pane, "notice", f"Not exported: {job.path} was kept as it is.")
        else:
            say(pane, "error", "Only the result of a read query can be exported.")
            say(pane, "error_why", f"The last statement is {v.sql_class}.")
        return
    pane.last_sql = job.sql
    if event.why == "declined":
        say(pane, "notice", "Not run: cancelled at the confirmation.")
    elif event.why == "stacked":
        say(
            pane,
            "error",
            f"That text holds {len(v.statements)} statements; here each runs on its own.",
        )
        say(
            pane,
            "error_why",
            "Nothing was run. Each statement is checked, confirmed and run "
            "in its own transaction, so a text of several would not be one unit.",
        )
        say(
            pane,
            "hint",
            "Run them one at a time, or all in order from a shell with "
            '`pgask sql "..."` (results one after another, as psql shows them).',
        )
    elif event.why == "invalid":
        err = v.error
        say(pane, "error", "The SQL does not parse" + (f": {err.message}" if err else "."))
        if err and err.snippet:
            say(pane, "sql", err.snippet)
        say(pane, "hint", "Fix it and run it again (Up brings it back).")
    else:
        reasons = "; ".join(v.reasons) or f"it is a {v.sql_class} statement"
        say(
            pane,
            "error",
            f"Refused: this {v.sql_class} statement does not run in {pane.mode} mode.",
        )
        say(pane, "error_why", f"Why: {reasons}.")
        if pane.mode == "read-only" and v.sql_class in ("write", "ddl", "destructive"):
            say(pane, "hint", "To allow it: /mode read-write (asks first), then run it again (F5).")
        elif v.sql_class == "forbidden":
            say(pane, "hint", "pgask never runs this kind of statement; use psql if you must.")


def show_result(state: UiState, i: int, job: Job, event: engine.Event) -> None:
    """Rows as they stream in, and the line that ends them."""
    pane = state.panes[i]
    if isinstance(event, engine.Columns):
        pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
        pane.result = ResultView(
            unique_names([c.name for c in event.columns]),
            [c.type_name for c in event.columns],
            max_rows=pcfg.max_rows,
            sql=job.sql,
        )
        if state.area == "log" and state.focus == i:
            state.area = "results"
    elif isinstance(event, engine.Rows):
        if pane.result is not None:
            masked = [
                i
                for i, c in enumerate(pane.result.columns)
                if redacted_result_column(state.config.privacy.redact_columns, c)
            ]
            for row in event.rows if masked else ():
                for c in masked:
                    if row[c] is not None:
                        row[c] = MASK
            pane.result.rows.extend(event.rows)
            job.rows = len(pane.result.rows)
    elif isinstance(event, engine.Done):
        body, r = event.done, pane.result
        if r is not None and r.sql == job.sql and r.columns:
            r.done, r.truncated, r.command, r.elapsed_ms = (
                True,
                body.truncated,
                body.command,
                body.elapsed_ms,
            )
            text = f"{body.rows:,} row{'s' if body.rows != 1 else ''} in {fmt_ms(body.elapsed_ms)}"
            if body.truncated:  # the shown count is never called the total
                text = (
                    f"first {body.rows:,} rows shown (max_rows = {r.max_rows:,}); the result has "
                    f"more; /export writes all of them ({fmt_ms(body.elapsed_ms)})"
                )
        else:
            text = f"{body.command} in {fmt_ms(body.elapsed_ms)}"
            pane.result = None
        say(pane, "ok", text)
        if state.timing:
            say(pane, "dim", f"Time: {body.elapsed_ms:.3f} ms")
        if job.verdict is not None and job.verdict.sql_class in ("ddl", "destructive"):
            fetch_catalog(state, pane.profile, refresh=True)  # \d and completion see the change
    elif isinstance(event, engine.Cancelled) and job.kind == "export":
        pane.notice = ""
        say(pane, "notice", "Export cancelled; no file was written.")
    elif isinstance(event, engine.Cancelled):
        say(pane, "notice", "Cancelled: the server stopped the query.")
        pane.notice = ""
        if pane.result is not None:
            pane.result.done = True


def show_plan(pane: PaneState, job: Job, plan: ExplainPlan) -> None:
    say(pane, "info", f"Plan{' (analyzed)' if job.analyze else ''} for: {job.sql}")
    try:
        text = explain_text(plan.plan)
    except (ValueError, KeyError, TypeError, IndexError):  # not a plan we can read: show it raw
        text = plan.plan
    for line in text.rstrip("\n").splitlines():
        say(pane, "plan", line)


ENGINE_PURPOSES = frozenset({"plan", "guard", "estimate", "query", "explain", "export"})


# -- several statements in one input, as psql runs a pasted script ----------------------------


def script_event(state: UiState, i: int, job: Job, event: engine.Event) -> bool:
    """Events a script shows its own way; False: the pane shows it as usual."""
    assert job.script is not None
    sc, pane = job.script, state.panes[i]
    if isinstance(event, engine.Stopped) and event.why == "stacked" and not sc.texts:
        sc.texts = [st.text for st in event.verdict.statements if st.text.strip()]
        say(
            pane,
            "info",
            f"{len(sc.texts)} statements: each is checked (and confirmed) first; "
            "then they run in order, each in its own transaction, stopping at the first error.",
        )
        return True
    if isinstance(event, engine.Ready):
        sc.ready.append(job.engine)  # type: ignore[arg-type]
        return True
    if isinstance(event, engine.Done):
        sc.ok = True
        return False
    if isinstance(event, engine.Finished):
        return True  # next_step decides whether the pane's job ends
    return False


def script_step(state: UiState, i: int, job: Job) -> None:
    """After the current engine job stopped or got ready: check the next statement, run the
    next ready one, or end the pane's job."""
    sc, eng, pane = job.script, job.engine, state.panes[i]
    assert sc is not None and eng is not None
    n = len(sc.texts)
    if not sc.texts:  # one statement after all: the whole text ran (or stopped) as usual
        job.script = None
        finish(state, i, eng.outcome)
        return
    checking = sc.running < 0
    if checking and eng.stage == "ready" and len(sc.ready) < n:
        request = dataclasses.replace(eng.request, text=sc.texts[len(sc.ready)])
        start_engine(state, i, job, request)
        advance(state, i, job)
        return
    if checking and eng.stage == "done":
        if eng.request.hold:  # refused, declined or invalid at the check
            say(pane, "notice", f"Nothing was run (statement {len(sc.ready) + 1} of {n}).")
            finish(state, i, eng.outcome)
            return
        first = dataclasses.replace(eng.request, text=sc.texts[0], hold=True)
        start_engine(state, i, job, first)  # the whole text was stacked: check the first
        advance(state, i, job)
        return
    if eng.stage == "done" and not sc.ok:  # a statement failed or was cancelled
        if sc.running + 1 < n:
            say(
                pane,
                "notice",
                f"Stopped at statement {sc.running + 1} of {n}; the statements "
                "after it were not run.",
            )
        finish(state, i, eng.outcome)
        return
    if sc.running + 1 >= n:
        finish(state, i, eng.outcome)
        return
    sc.running, sc.ok = sc.running + 1, False
    job.engine = sc.ready[sc.running]
    job.engine.run()
    advance(state, i, job)
