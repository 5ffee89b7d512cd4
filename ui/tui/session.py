"""Profiles, panes and the connection: catalogs, passwords, /use, /split, /mode, /reload,
/history."""

from __future__ import annotations

import difflib

import msgspec

from protocol.config import (
    Config,
    ProfileConfig,
    check_profile,
    starting_mode,
    url_profile_name,
)
from protocol.errors import PgaskError
from protocol.messages import (
    ActorsRequest,
    Body,
    ConfigReload,
    ConfigReloaded,
    ConnectPassword,
    Failure,
    Mode,
    Pane,
    SessionGet,
    SessionSetPane,
)
from protocol.privacy import redact_secrets
from ui import keys as K
from ui.tui.model import (
    MAX_PANES,
    Connection,
    ModeModal,
    PaneState,
    PasswordModal,
    Pending,
    UiState,
    fetch_catalog,
    say,
    say_failure,
    send,
    target,
)


def start(state: UiState) -> None:
    """What the UI asks for as soon as it is connected: the session, and the tree's state,
    which also starts the panes' executors while the person types."""
    send(state, "supervisor", SessionGet(), purpose="session")
    profiles = sorted({p.profile for p in state.panes})
    send(state, "supervisor", ActorsRequest(ping=True, profiles=profiles), purpose="actors")
    for profile in profiles:
        fetch_catalog(state, profile)


def send_password(state: UiState, m: PasswordModal) -> None:
    """One message to the executor; the typed text leaves the UI's state at once."""
    password, m.typed = m.typed, ""
    state.passwords_sent.add(m.profile)
    state.conn[m.profile] = Connection("connecting")
    rid = send(state, f"executor:{m.profile}", ConnectPassword(password=password))
    state.pending[rid] = Pending(m.pane, "catalog", state.outbox[-1][0].trace, m.profile)


def password_key(state: UiState, m: PasswordModal, code: int) -> bool:
    if code in (K.ENTER, K.ENTER_CR):
        state.modal = None
        if m.typed:
            send_password(state, m)
        return True
    if code in (K.ESC, K.CTRL_C):
        state.modal, m.typed = None, ""
        pane = state.panes[m.pane] if m.pane < len(state.panes) else state.pane
        say(
            pane,
            "notice",
            f"Not connected to '{m.profile}': no password given. /use it again to be asked again.",
        )
        return True
    if code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        m.typed = m.typed[:-1]
    elif code == K.CTRL_U:
        m.typed = ""
    elif K.is_printable(code):
        m.typed += chr(code)
    return True


def warm(state: UiState, profile: str, *, then_catalog: str = "") -> None:
    """Start the profile's executor (`profile` may be a URL); `then_catalog`: fetch that
    profile's catalog once the supervisor has answered (a URL profile exists only then)."""
    rid = send(state, "supervisor", ActorsRequest(ping=False, profiles=[profile]), purpose="warm")
    state.pending[rid].profile = then_catalog


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
        say(
            pane,
            "error",
            f"There is no profile named '{redact_secrets(name)}'."
            + (f" Did you mean '{close[0]}'?" if close else ""),
        )
        say(
            pane,
            "hint",
            "Known profiles: "
            + ", ".join(sorted(state.config.profiles))
            + ". Added one to the config just now? /reload reads it again.",
        )
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
        parts.append(
            "changed: "
            + ", ".join(body.changed)
            + " (a connection already open keeps its old settings until pgask restarts)"
        )
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
    send(
        state,
        "supervisor",
        SessionSetPane(index=i, pane=Pane(profile=pane.profile, mode=pane.mode)),
        pane=i,
        purpose="session",
    )


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
        say(
            pane,
            "hint",
            f"Set read_write = true under [profiles.{pane.profile}] in "
            f"{state.config.source or 'the config file'} (pgask reloads it).",
        )
        return True
    state.modal = ModeModal(state.focus, "read-write")
    return True


def set_mode(state: UiState, pane_i: int, mode: Mode) -> None:
    pane = state.panes[pane_i]
    pane.mode = mode
    if mode == "read-write":
        say(
            pane,
            "notice",
            f"'{pane.profile}' is now READ-WRITE: writes run after you confirm "
            "each one. /mode read-only switches back.",
        )
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
