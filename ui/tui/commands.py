"""What happens on Enter: a question, SQL, a backslash meta-command or a slash command."""

from __future__ import annotations

import difflib
import re

from protocol.messages import (
    Body,
    Catalog,
    Failure,
    SessionClear,
    SessionPin,
    SessionUnpin,
)
from protocol.privacy import redact_secrets
from ui import approvals as A
from ui import keys as K
from ui import meta
from ui.tui.dba_jobs import dba_command
from ui.tui.editing import looks_like_sql
from ui.tui.jobs import export, start_job
from ui.tui.model import (
    MAX_HISTORY,
    Connection,
    HelpModal,
    Job,
    PasswordModal,
    ResultView,
    UiState,
    fetch_catalog,
    say,
    say_failure,
    send,
    server_label,
)
from ui.tui.session import ask_mode, close_pane, reload_config, show_history, split, use_profile
from ui.workflow import (
    password_configured,
)


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
                state.modal = PasswordModal(
                    profile,
                    pane_i,
                    message=("That password was not accepted; try again." if again else ""),
                )
            return True
        for i, pane in enumerate(state.panes):
            if pane.profile == profile and (i == 0 or waiting or profile not in state.catalogs):
                say_failure(pane, body)
                break
        return True
    return False


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
            say(
                pane,
                "ok",
                f"Expanded display is {'on' if on else 'off'}."
                + (" The results show the selected row; Up/Down move between rows." if on else ""),
            )
        else:
            state.timing = on
            say(pane, "ok", f"Timing is {'on' if on else 'off'}.")
        return True
    if cmd in meta.SQL_COMMANDS:
        job = Job("sql", meta.SQL_COMMANDS[cmd], state.new_trace(), state.clock())
        return start_job(state, pane_i, job)
    if cmd not in meta.CATALOG_COMMANDS:
        close = difflib.get_close_matches(cmd, sorted(meta.KNOWN), n=1)
        say(
            pane,
            "error",
            f"Unknown meta-command {cmd}." + (f" Did you mean {close[0]}?" if close else ""),
        )
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
        pane.result = ResultView(
            list(ans.columns),
            types or ["text"] * len(ans.columns),
            rows=ans.rows,
            done=True,
            command=cmd,
        )
    return True


def submit_input(state: UiState, text: str) -> bool:
    """What happens on Enter: a slash command, or a question for the planner."""
    text = text.strip()
    state.input, state.cursor, state.hist_pos, state.draft = "", 0, None, ""
    if not text:
        return True
    pane_i, pane = state.focus, state.pane
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
    if cmd in A.COMMANDS:  # agents' writes waiting for the person (ui/approvals.py)
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
