"""`/approvals` in the TUI: an agent's write waits here for the person (issue 22).

`pgask mcp` with `[mcp] approve = "tui"` serves clients that cannot ask their person (no MCP
elicitation): it finds a running pgask TUI through the file each TUI writes at start,

    <state dir>/approvals/<pid>.json    {"endpoint", "identity", "pid"}   (0600, in a 0700 dir)

and sends it an ApprovalRequest over that TUI's own bus. The TUI shows that an agent is
waiting; `/approvals` lists what waits, `/approve N` (a destructive statement: `/approve N
NAME`, the object's name typed) or `/deny N` answers. Only the TUI's own window answers: the
reply goes out on its socket, from its identity, which the supervisor vouches for.

The reducer part (`on_request`, `on_withdrawn`, `command`) is pure, like ui/state.py, which
hooks it in; `announce` / `withdraw_file` are the app's, at connect and close.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.config import state_dir
from protocol.envelope import Header
from protocol.messages import ApprovalAnswer, ApprovalRequest, ApprovalWithdrawn, kind_of
from ui.workflow import name_matches

COMMANDS = ("/approvals", "/approve", "/deny")

Say = Callable[[Any, str, str], None]  # ui.state.say(pane, style, text), handed in by the reducer


@dataclass
class Waiting:
    number: int
    header: Header  # the request's: who to answer (src) and what (id)
    request: ApprovalRequest


@dataclass
class Queue:
    """What waits for the person in this TUI (UiState.approvals)."""

    waiting: list[Waiting] = field(default_factory=list)
    seq: int = 0


# -- discovery --------------------------------------------------------------------------------


def folder() -> Path:
    return state_dir() / "approvals"


def announce(endpoint: str, identity: str) -> Path | None:
    """This TUI can approve: write where `pgask mcp` finds it (None when it cannot be written)."""
    try:
        path = folder()
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        file = path / f"{os.getpid()}.json"
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"endpoint": endpoint, "identity": identity, "pid": os.getpid()}, f)
        return file
    except OSError:
        return None


def withdraw_file(file: Path | None) -> None:
    if file is not None:
        try:
            file.unlink()
        except OSError:
            pass


def running_tuis() -> list[dict[str, Any]]:
    """The TUIs that announced themselves and still run, most recent first."""
    found = []
    try:
        files = sorted(folder().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    for file in files:
        try:
            data = json.loads(file.read_text())
            os.kill(int(data["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # gone (a crash left its file), or not ours to read
        found.append(data)
    return found


# -- the reducer's part -----------------------------------------------------------------------


def on_message(
    state: Any, header: Header, body: ApprovalRequest | ApprovalWithdrawn, say: Say
) -> bool:
    """An agent asks (or gives up asking); True: the screen changes."""
    if isinstance(body, ApprovalWithdrawn):
        return on_withdrawn(state, body, say)
    return on_request(state, header, body, say)


def on_request(state: Any, header: Header, body: ApprovalRequest, say: Say) -> bool:
    queue = state.approvals
    queue.seq += 1
    queue.waiting.append(Waiting(queue.seq, header, body))
    who = body.via.removeprefix("mcp:")
    say(
        state.pane,
        "notice",
        f"{who} asks to run a {body.sql_class} statement on "
        f"'{body.profile}'. /approvals shows it; /approve {queue.seq} or "
        f"/deny {queue.seq} answers.",
    )
    return True


def on_withdrawn(state: Any, body: ApprovalWithdrawn, say: Say) -> bool:
    for w in list(state.approvals.waiting):
        if w.header.id == body.target:
            state.approvals.waiting.remove(w)
            say(state.pane, "dim", f"Approval {w.number} was withdrawn by the agent; nothing ran.")
            return True
    return False


def command(state: Any, cmd: str, arg: str, say: Say) -> bool:
    pane = state.pane
    if cmd == "/approvals":
        if not state.approvals.waiting:
            say(pane, "info", "No agent is waiting for an approval.")
            return True
        for w in state.approvals.waiting:
            r = w.request
            say(
                pane,
                "info",
                f"#{w.number}  {r.via.removeprefix('mcp:')} on '{r.profile}': "
                f"{r.sql_class}" + (f" ({'; '.join(r.reasons)})" if r.reasons else ""),
            )
            say(pane, "sql", r.sql.strip())
            if r.tables:
                say(pane, "dim", "touches " + ", ".join(r.tables))
            if r.estimate:
                say(pane, "dim", r.estimate)
            how = (
                f"/approve {w.number} {r.confirm_name}"
                if r.confirm == "typed"
                else f"/approve {w.number}"
            )
            say(pane, "hint", f"{how} runs it; /deny {w.number} refuses it.")
        return True
    number, _, typed = arg.partition(" ")
    waiting = next((w for w in state.approvals.waiting if str(w.number) == number.strip()), None)
    if waiting is None:
        say(pane, "error", f"There is no approval {number or '(no number)'} waiting.")
        say(pane, "hint", "/approvals lists them with their numbers.")
        return True
    r = waiting.request
    typed = typed.strip()
    if cmd == "/approve" and r.confirm == "typed" and not name_matches(typed, r.confirm_name):
        say(pane, "error", "This statement is destructive: type its object's name to run it.")
        say(pane, "hint", f"/approve {waiting.number} {r.confirm_name}")
        return True
    approved = cmd == "/approve"
    answer(state, waiting, ApprovalAnswer(approved=approved, typed=typed if approved else ""))
    state.approvals.waiting.remove(waiting)
    if approved:
        say(pane, "ok", f"Approved #{waiting.number}: pgask mcp runs it on '{r.profile}'.")
    else:
        say(pane, "ok", f"Refused #{waiting.number}: nothing runs.")
    return True


def answer(state: Any, waiting: Waiting, body: ApprovalAnswer) -> None:
    """The reply to the agent's request, from this window (the app sets our bus identity)."""
    header = Header(
        id=state.ids(),
        kind=kind_of(body),
        src="ui",
        dst=waiting.header.src,
        reply_to=waiting.header.id,
        trace=waiting.header.trace,
        session=state.session,
        sent_at=state.wall(),
    )
    state.outbox.append((header, body))
