"""Key codes, the actions they trigger, and the default keymap.

No asciimatics import: the codes are asciimatics' `KeyboardEvent.key_code` values (see
../shared/notes/asciimatics-ui.md §3), written out so that ui/state.py and its tests can
use them without a terminal. Ctrl+Q, Ctrl+C and Ctrl+\\ arrive only after app.py's
terminal fix-up (IXON off, raw mode).
"""

from __future__ import annotations

from dataclasses import dataclass

# asciimatics key codes (Screen.KEY_*), plus control characters
ESC = -1
F1, F2, F3, F4, F5, F6, F7, F8, F9, F10 = -2, -3, -4, -5, -6, -7, -8, -9, -10, -11
INSERT, DELETE = -101, -102
HOME, END = -200, -201
PAGE_UP, PAGE_DOWN = -207, -208
BACK = -300
TAB, BACK_TAB = -301, -302
LEFT, UP, RIGHT, DOWN = -203, -204, -205, -206
CTRL_A, CTRL_C, CTRL_E, CTRL_K, CTRL_L = 1, 3, 5, 11, 12
CTRL_H, CTRL_P, CTRL_Q, CTRL_U, CTRL_W = 8, 16, 17, 21, 23
CTRL_BACKSLASH = 28
ENTER = 10
ENTER_CR = 13
BACKSPACE_DEL = 127
CTRL_D = 4
# Pseudo keys made by `decode` from sequences curses passes through as bytes (far from
# asciimatics' codes and app.py's -10000-k range for unmapped curses keys).
NEWLINE = -20001  # Alt+Enter (Esc then Enter): a line break in the input, not a submission
PASTE_START, PASTE_END = -20200, -20201  # bracketed paste markers (\e[200~ ... \e[201~)
ALT = -20002  # Esc then a character in one read: Alt+x, or Esc typed quickly before x


@dataclass(frozen=True)
class Action:
    name: str
    title: str  # what the palette and help show
    key: str = ""  # the key label shown beside it
    palette: bool = True  # listed in the command palette


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("palette", "Command palette", "Ctrl+P", palette=False),
        Action("help", "Help: keys and commands", "F1"),
        Action("cancel", "Cancel the running query or model call", "Ctrl+C / Esc"),
        Action("rerun", "Run the last request again", "F5"),
        Action("focus_next", "Next pane", "F6"),
        Action("focus_cycle", "Cycle focus: input, results, conversation", "Tab"),
        Action("quit", "Quit pgask", "Ctrl+Q"),
        Action("clear_input", "Clear the input line", "Ctrl+U", palette=False),
        Action("redraw", "Redraw the screen", "Ctrl+L", palette=False),
        Action("history", "History: pick a question or query to run again", "Up / Down"),
        Action("explain", "Explain the last query", "/explain"),
        Action("explain_analyze", "Explain analyze the last query", "/explain analyze"),
        Action("export_csv", "Export results as CSV", "/export csv"),
        Action("export_json", "Export results as JSON", "/export json"),
        Action("export_jsonl", "Export results as JSON Lines", "/export jsonl"),
        Action("backup", "Backup database", "/backup"),
        Action("restore", "Restore from archive", "/restore PATH"),
        Action("migrations", "Migrations", "/migrations"),
        Action("pin", "Pin a fact for the model (types /pin)", "/pin"),
        Action("clear", "Clear the conversation context", "/clear"),
        Action("mode_rw", "Change mode: read-write", "/mode read-write"),
        Action("mode_ro", "Change mode: read-only", "/mode read-only"),
        Action("close_pane", "Close this pane", "/close"),
    )
}

# Global bindings: work everywhere except inside a dialog's own keys.
KEYMAP: dict[int, str] = {
    CTRL_P: "palette",
    F1: "help",
    CTRL_C: "cancel",
    ESC: "cancel",
    F5: "rerun",
    F6: "focus_next",
    TAB: "focus_cycle",
    BACK_TAB: "focus_cycle_back",
    CTRL_Q: "quit",
    CTRL_BACKSLASH: "quit",
    CTRL_U: "clear_input",
    CTRL_L: "redraw",
}

SLASH_COMMANDS: dict[str, str] = {
    "/sql": "/sql TEXT           run SQL directly (checked by the guard first)",
    "/explain": "/explain [analyze] [SQL]  show the plan of the last query (or SQL)",
    "/export": "/export csv|json|jsonl [PATH]  write the last result to a file",
    "/backup": "/backup [PATH]      pg_dump this database to a file (default PROFILE-DATE.dump)",
    "/restore": "/restore PATH [DB]  restore an archive into a new database (read-write mode)",
    "/migrations": "/migrations         list the migrations pgask wrote and applied here",
    "/use": "/use PROFILE|URL    switch this pane to another database",
    "/reload": "/reload             read the config file again (also done when it changes)",
    "/approvals": '/approvals          agents\' writes waiting for you (pgask mcp, approve = "tui")',
    "/approve": "/approve N [NAME]   run approval N (a destructive one: type its object's name)",
    "/deny": "/deny N             refuse approval N; nothing runs",
    "/split": "/split [PROFILE]    open a second pane",
    "/close": "/close              close the focused pane",
    "/pin": "/pin TEXT           keep a fact in the model's context",
    "/unpin": "/unpin N            remove pin N",
    "/clear": "/clear              forget the conversation context",
    "/history": "/history            show the conversation and the pins",
    "/mode": "/mode read-only|read-write  change the safety mode (asks first)",
    "/help": "/help               keys and commands",
    "/quit": "/quit               leave pgask",
}


def key_label(name: str) -> str:
    action = ACTIONS.get(name)
    return action.key if action else ""


def is_printable(code: int) -> bool:
    return code >= 32 and code != BACKSPACE_DEL and not (0xD800 <= code <= 0xDFFF)


# Escape sequences curses did not decode (the terminal and TERM disagree, e.g. tmux sends
# \e[4~ for End while xterm's terminfo says \eOF). Undecoded, they would arrive as Esc
# (cancel!) followed by typed text "[4~".
_SEQUENCES: dict[str, int] = {
    "[A": UP,
    "[B": DOWN,
    "[C": RIGHT,
    "[D": LEFT,
    "OA": UP,
    "OB": DOWN,
    "OC": RIGHT,
    "OD": LEFT,
    "[H": HOME,
    "[F": END,
    "OH": HOME,
    "OF": END,
    "[1~": HOME,
    "[7~": HOME,
    "[4~": END,
    "[8~": END,
    "[2~": INSERT,
    "[3~": DELETE,
    "[5~": PAGE_UP,
    "[6~": PAGE_DOWN,
    "[Z": BACK_TAB,
    "OP": F1,
    "OQ": F2,
    "OR": F3,
    "OS": F4,
    "[11~": F1,
    "[12~": F2,
    "[13~": F3,
    "[14~": F4,
    "[15~": F5,
    "[17~": F6,
    "[18~": F7,
    "[19~": F8,
    "[20~": F9,
    "[21~": F10,
    "[200~": PASTE_START,
    "[201~": PASTE_END,
}


def decode(codes: list[int]) -> list[int]:
    """Keys of one read: known escape sequences become keys, unknown ones and Alt+x vanish."""
    out: list[int] = []
    i, n = 0, len(codes)
    while i < n:
        c = codes[i]
        if c != ESC or i + 1 >= n or codes[i + 1] < 0:
            out.append(c)
            i += 1
            continue
        intro = codes[i + 1]
        if intro not in (ord("["), ord("O")):
            if intro == ESC:  # Esc Esc: one Esc (the second may start a sequence)
                out.append(ESC)
                i += 1
            elif intro in (ENTER, ENTER_CR):  # Alt+Enter: a newline in the input
                out.append(NEWLINE)
                i += 2
            else:  # Alt+x, or Esc then x typed fast: state.py decides (a dialog closes, x is kept)
                out.append(ALT)
                i += 1
            continue
        j = i + 2
        seq = chr(intro)
        while j < n and codes[j] >= 0:
            ch = codes[j]
            seq += chr(ch)
            j += 1
            if intro == ord("O") or 0x40 <= ch <= 0x7E:  # SS3 takes one; CSI ends at a final
                break
        if seq in _SEQUENCES:
            out.append(_SEQUENCES[seq])
        i = j
    return out
