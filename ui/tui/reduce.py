"""Messages from the tree: `reduce` routes each reply to the job or view that waits for it."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from protocol.envelope import Header
from protocol.messages import (
    ActorExited,
    ActorsStatus,
    ApprovalRequest,
    ApprovalWithdrawn,
    Body,
    Failure,
    QueryCancel,
    SessionState,
)
from ui import approvals as A
from ui.tui.commands import on_catalog
from ui.tui.dba_jobs import on_archive, on_backup, on_dba_verdict, on_restore
from ui.tui.jobs import ENGINE_PURPOSES, on_engine_reply
from ui.tui.model import (
    Job,
    PaneState,
    UiState,
    elapsed,
    executor,
    fetch_catalog,
    say,
    say_failure,
    send,
)
from ui.tui.session import on_reloaded


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
    if pending.purpose in ENGINE_PURPOSES:
        return on_engine_reply(state, pending.pane, job, pending.purpose, body)
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


_HANDLERS: dict[str, Callable[[UiState, int, Job, Body], bool]] = {
    "backup": on_backup,
    "archive": on_archive,
    "dba_guard": on_dba_verdict,
    "restore": on_restore,
}


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
    }.get(job.stage, job.stage)
    if job.stage == "running" and job.kind in ("backup", "restore", "export"):
        what = {"backup": "backing up", "restore": "restoring", "export": "exporting"}[job.kind]
    if job.cancelling:
        what = "cancelling"
    text = f"{what} {t:.1f}s" if job.stage != "confirming" else what
    if job.rows:
        text += f" · {job.rows:,} rows"
    return text


def busy(state: UiState) -> bool:
    return any(p.job is not None and p.job.stage != "confirming" for p in state.panes)
