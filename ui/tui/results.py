"""Keys in the results and the log: move, page, search (/ n N), sort (s), copy (y Y)."""

from __future__ import annotations

import decimal
from typing import Any

from ui import keys as K
from ui.format import cell_text
from ui.tui.model import (
    PaneState,
    ResultView,
    UiState,
)


def search_key(state: UiState, v: ResultView, code: int) -> bool:
    """Typing the search text (shown in the hint line): Enter finds, Esc gives up."""
    if code in (K.ENTER, K.ENTER_CR):
        state.searching = False
        return find_next(state, v, 1, include_current=True) if state.search else True
    if code in (K.ESC, K.CTRL_C):
        state.searching, state.search = False, ""
        return True
    if code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
        state.search = state.search[:-1]
    elif K.is_printable(code):
        state.search += chr(code)
    return True


def row_has(row: list[Any], needle: str) -> bool:
    return any(v is not None and needle in cell_text(v).lower() for v in row)


def find_next(state: UiState, v: ResultView, step: int, *, include_current: bool = False) -> bool:
    """The next (step 1) or previous (-1) row holding the search text in any cell, on any
    page, wrapping around; the cursor moves there (and the page with it)."""
    n = len(v.rows)
    needle = state.search.lower()
    if not n:
        return True
    begin = v.cur if include_current else v.cur + step
    for k in range(n):
        raw = begin + step * k
        i = raw % n
        if row_has(v.rows[i], needle):
            wrapped = raw >= n or raw < 0
            v.move(to=i)
            total = sum(1 for r in v.rows if row_has(r, needle)) if n <= 200_000 else 0
            where = f" ({total:,} {'row matches' if total == 1 else 'rows match'})" if total else ""
            state.status = (
                f"'{state.search}': row {i + 1:,}{where}"
                + (" · wrapped around" if wrapped else "")
                + " · n next, N previous"
            )
            return True
    state.status = f"'{state.search}' is in none of the {n:,} rows shown."
    return True


def sort_results(state: UiState, v: ResultView) -> bool:
    """`s` in the results: sort the rows shown by the first visible column (Left/Right pick
    it), ascending, then descending, then back to the server's order. Client-side only."""
    if v.sort_col != v.left:
        v.sort_col, v.sort_desc = v.left, False
        if v.original is None:
            v.original = list(v.rows)
    elif not v.sort_desc:
        v.sort_desc = True
    else:
        v.rows[:] = v.original or v.rows
        v.original, v.sort_col = None, -1
        v.move(to=0)
        state.status = "Back to the order the server sent."
        return True
    col = v.sort_col
    numeric = v.numeric[col] if col < len(v.numeric) else False

    def key(row: list[Any]) -> tuple[int, Any]:
        val = row[col] if col < len(row) else None
        if val is None:
            return (1, 0 if numeric else "")
        if numeric and isinstance(val, int | float | decimal.Decimal):
            return (0, val)
        return (0, cell_text(val).lower()) if not numeric else (0, float("inf"))

    try:
        v.rows.sort(key=key, reverse=v.sort_desc)
    except TypeError:
        v.rows.sort(key=lambda r: cell_text(r[col]) if col < len(r) else "", reverse=v.sort_desc)
    v.move(to=0)
    scope = "all the rows" if v.done and not v.truncated else f"the {len(v.rows):,} rows shown"
    state.status = (
        f"Sorted by '{v.columns[col]}' {'descending' if v.sort_desc else 'ascending'}"
        f" here in pgask, over {scope} (not by the server) · s again to change"
    )
    return True


COPY_LIMIT = 100_000  # characters: terminals drop longer OSC 52 payloads


def copy_selection(state: UiState, v: ResultView, *, whole_row: bool) -> bool:
    """`y` copies the selected cell, `Y` the selected row (tab-separated, as a spreadsheet
    pastes it), to the terminal's clipboard with OSC 52 where the terminal allows it."""
    if not v.rows:
        state.status = "Nothing to copy: the result has no rows."
        return True
    row = v.rows[v.cur]
    cells = row if whole_row else [row[min(v.left, len(row) - 1)]]
    text = "\t".join(cell_text(c) for c in cells)
    if len(text) > COPY_LIMIT:
        state.status = f"Not copied: {len(text):,} characters is more than a terminal takes."
        return True
    state.clipboard_out.append(text)
    what = "row" if whole_row else f"cell ({v.columns[min(v.left, len(v.columns) - 1)]})"
    chars = f"{len(text):,} character{'s' if len(text) != 1 else ''}"
    state.status = f"Copied the {what}, {chars}, to the clipboard (if the terminal allows OSC 52)."
    return True


def grid_key(v: ResultView, code: int) -> bool:
    if code == K.DOWN:
        v.move(1)
    elif code == K.UP:
        v.move(-1)
    elif code == K.PAGE_DOWN:
        v.move(v.page_h)
        v.top = max(0, min(v.cur, len(v.rows) - v.page_h))
    elif code == K.PAGE_UP:
        v.move(-v.page_h)
        v.top = max(0, v.cur)
        v.move(0)
    elif code == K.HOME:
        v.move(to=0)
    elif code == K.END:
        v.move(to=len(v.rows) - 1)
    elif code == K.RIGHT:
        v.scroll(1)
    elif code == K.LEFT:
        v.scroll(-1)
    else:
        return False
    return True


def log_key(pane: PaneState, code: int) -> bool:
    step = {K.UP: 1, K.DOWN: -1, K.PAGE_UP: 10, K.PAGE_DOWN: -10}.get(code)
    if code == K.HOME:
        pane.log_scroll = 10**9  # clamped by the view
    elif code == K.END:
        pane.log_scroll = 0
    elif step is None:
        return False
    else:
        pane.log_scroll = max(0, pane.log_scroll + step)
    return True
