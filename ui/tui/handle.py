"""Keys: the key map, dialogs' keys, the result grid (search, sort), the log, the palette."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ui import keys as K
from ui.tui.commands import submit_input
from ui.tui.dba_jobs import ask_key, dba_command
from ui.tui.editing import (
    WORD,
    accept,
    completion,
    history_key,
    input_complete,
    sql_complete,
    tab_complete,
)
from ui.tui.jobs import advance, cancel, export, finish, start_job
from ui.tui.model import (
    ConfirmModal,
    HelpModal,
    Job,
    ModeModal,
    PaletteItem,
    PaletteModal,
    UiState,
    say,
    target,
)
from ui.tui.results import copy_selection, find_next, grid_key, log_key, search_key, sort_results
from ui.tui.session import ask_mode, close_pane, password_key, set_mode, split, use_profile
from ui.workflow import (
    name_matches,
)


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
        if code in (ord("y"), ord("Y")):
            return copy_selection(state, state.pane.result, whole_row=code == ord("Y"))
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
        if job.engine is not None:
            job.engine.answer(yes=True, typed=m.typed if typed else None)
            advance(state, m.pane, job)
    elif choice == 1:
        state.modal = None
        state.input, state.area = f"/sql {m.sql}", "input"
        state.cursor = len(state.input)
        say(pane, "info", "Not run: the SQL is in the input line to edit.")
        finish(state, m.pane, "edited")
    else:
        state.modal = None
        if job.engine is not None:
            job.engine.answer(yes=False)
            advance(state, m.pane, job)
    return True


_MODAL_KEYS: dict[str, Callable[[UiState, Any, int], bool]] = {
    "palette": _palette_key,
    "help": _help_key,
    "mode": _mode_key,
    "confirm": _confirm_key,
    "ask": ask_key,
    "password": password_key,
}


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
        m = WORD.search(text[:cur])
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
