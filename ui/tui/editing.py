"""The input line: editing, completion, history, paste; when typed text is complete SQL."""

from __future__ import annotations

import re

from protocol.sqltext import quote_qualified
from ui import complete as C
from ui import keys as K
from ui import meta
from ui.tui.model import UiState, fetch_catalog

WORD = re.compile(r"\w+\W*$")


SQL_START = frozenset(
    "select with insert update delete merge create alter drop truncate explain table values "
    "show grant revoke comment vacuum analyze reindex cluster refresh call do begin".split()
)


def looks_like_sql(text: str) -> bool:
    """Raw SQL typed or pasted as psql users do: a statement keyword first, `;` last."""
    words = text.split(None, 1)
    return bool(words) and words[0].lower() in SQL_START and text.rstrip().endswith(";")


def sql_complete(text: str) -> bool:
    """psql's rule for a statement: it ends at a `;` outside quotes, comments and dollar quotes."""
    i, n, last = 0, len(text), ""
    while i < n:
        c = text[i]
        if c == "'" or c == '"':
            j = text.find(c, i + 1)
            while j != -1 and j + 1 < n and text[j + 1] == c:  # doubled quote inside
                j = text.find(c, j + 2)
            if j == -1:
                return False
            i, last = j + 1, c
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            if j == -1:
                break
            i = j + 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j == -1:
                return False
            i = j + 2
            continue
        if c == "$":
            m = re.match(r"\$(?:[A-Za-z_]\w*)?\$", text[i:])
            if m:
                j = text.find(m.group(0), i + len(m.group(0)))
                if j == -1:
                    return False
                i, last = j + len(m.group(0)), "$"
                continue
        if not c.isspace():
            last = c
        i += 1
    return last == ";"


def input_complete(text: str) -> bool:
    """Whether Enter submits the input. One line always does (pgcli's single-line habit); a
    multi-line /sql or raw SQL does once it ends at `;` (psql's); other input always does."""
    body = text.strip()
    if "\n" not in body:
        return True
    if body.lower().startswith("/sql"):
        return sql_complete(body[4:])
    if body.startswith("/"):
        return True
    words = body.split(None, 1)
    if words and words[0].lower() in SQL_START:
        return sql_complete(body)
    return True


def completion(state: UiState) -> C.Completion | None:
    return C.complete(
        state.input,
        state.cursor,
        catalog=state.catalogs.get(state.pane.profile),
        commands=[c + " " for c in K.SLASH_COMMANDS],
        meta=sorted(meta.KNOWN),
        profiles=sorted(state.config.profiles),
    )


def tab_complete(state: UiState) -> bool:
    """Tab in the input: one candidate is inserted; several open the popup (and their common
    start is inserted); none says so. Without a catalog yet, asks for it."""
    if state.pane.profile not in state.catalogs:
        fetch_catalog(state, state.pane.profile)
    found = completion(state)
    if found is None:
        state.status = "Nothing to complete here."
        return True
    if len(found.items) == 1:
        accept(state, found, found.items[0])
        return True
    prefix = C.common_prefix([i for i in found.items if i.lower().startswith(found.word.lower())])
    if len(prefix) > len(found.word):
        state.input = state.input[: found.start] + prefix + state.input[state.cursor :]
        state.cursor = found.start + len(prefix)
        found = completion(state) or found
    state.popup, state.popup_sel = found, 0
    return True


def _quoted(name: str) -> str:
    return quote_qualified(*name.split("."))


def accept(state: UiState, found: C.Completion, item: str) -> None:
    text = item if found.kind in ("command", "keyword", "profile") else _quoted(item)
    rest = re.match(r'[\w$"]*', state.input[state.cursor :])
    end = state.cursor + (len(rest.group(0)) if rest and found.kind != "command" else 0)
    state.input = state.input[: found.start] + text + state.input[end:]
    state.cursor = found.start + len(text)
    state.popup = None


def history_key(state: UiState, step: int) -> bool:
    items = state.history.get(state.pane.profile, [])
    if not items:
        return False
    if state.hist_pos is None:
        if step > 0:
            return False
        state.draft, state.hist_pos = state.input, len(items)
    pos = state.hist_pos + step
    if pos >= len(items):
        state.hist_pos, state.input = None, state.draft
    else:
        state.hist_pos = max(0, pos)
        state.input = items[state.hist_pos]
    state.cursor = len(state.input)
    return True
