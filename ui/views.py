"""Drawing: every widget reads ui.state.UiState and paints a rectangle of the Screen.

The widgets are our own, drawn straight onto asciimatics' double-buffered Screen
(`print_at` then `refresh`, which sends only the changed cells). asciimatics' Frames,
Layouts and built-in widgets are not used: every key goes through state.handle_key, so
there is no widget focus to fight (asciimatics-ui.md §1, §3, §8 list the traps this
avoids), and a redraw costs one pass over the visible cells, whatever the row count.

    MainFrame      status bar, panes (side by side, or stacked when narrow), hint, input
      PaneView     title (when split), LogView (conversation), ResultsGrid
    dialogs (ui/dialogs.py), drawn with ui/paint.py's Painter:
    ConfirmDialog  the SQL (SqlView, highlighted), class, tables, reasons, estimate, buttons
    Palette        filter line and the matching actions with their keys
    Help           keys and slash commands
"""

from __future__ import annotations

from typing import Any, ClassVar

from ui.dialogs import AskDialog, ConfirmDialog, Help, ModeDialog, Palette, PasswordDialog
from ui.format import cell_text
from ui.paint import (
    Colour,
    Painter,
    Segment,
    clean,
    cut_cells,
    fit,
    sql_lines,
    theme_for,
    width_of,
    wrap,
)
from ui.state import (
    AskModal,
    ConfirmModal,
    HelpModal,
    LogEntry,
    ModeModal,
    PaletteModal,
    PaneState,
    PasswordModal,
    ResultView,
    UiState,
    activity,
    input_complete,
    target,
)


class StatusBar:
    """Profile, database@host, model, mode (read-write in red), activity per pane."""

    @staticmethod
    def draw(p: Painter, state: UiState, y: int, w: int) -> None:
        segs: list[Segment] = [(" pgask ", "status")]
        if not state.connected:  # first, so a narrow screen still shows it
            segs.append(("\u2502 connecting ", "status_busy"))
        elif not state.ready:
            segs.append(("\u2502 starting ", "status_busy"))
        rw = any(pane.mode == "read-write" for pane in state.panes)
        room = max(12, (w - 40) // len(state.panes) - 30)
        for i, pane in enumerate(state.panes):
            num = f"[{i + 1}] " if len(state.panes) > 1 else ""
            mark = "\u25b8" if i == state.focus and len(state.panes) > 1 else "\u2502"
            where = fit(target(state.config, pane.profile), room).rstrip()
            segs.append((f"{mark} {num}{pane.profile} \u00b7 {where} ", "status"))
            conn = state.conn.get(pane.profile)
            if conn is not None and conn.state == "connecting":
                segs.append((" connecting\u2026 ", "status_busy"))
            elif conn is not None and conn.state == "failed":
                segs.append(
                    (
                        f" not connected: {fit(conn.detail, max(20, room * 2)).rstrip()} ",
                        "status_rw",
                    )
                )
            segs.append((f" {pane.mode} ", "status_rw" if pane.mode == "read-write" else "status"))
            if pane.superuser:  # read-only mode does not stop what a superuser's code can do
                segs.append((" superuser ", "status_rw"))
            act = activity(state, pane)
            segs.append((f" {act} ", "status" if act == "idle" else "status_busy"))
            if conn is not None and conn.state == "connected" and len(state.panes) == 1:
                segs.append((f"\u2502 {conn.detail} ", "status"))
        segs.append((f"\u2502 model {state.model_label or 'offline'} ", "status"))
        p.line(segs, 0, y, w, "status_rw" if rw and len(state.panes) == 1 else "status")


class LogView:
    """The conversation: wraps only the entries it shows, from the bottom up."""

    PREFIX: ClassVar[dict[str, str]] = {"you": "\u203a ", "sql": "  ", "plan": "  "}
    _cache: ClassVar[dict[tuple[int, int], tuple[LogEntry, list[list[Segment]]]]] = {}

    @classmethod
    def lines_of(cls, entry: LogEntry, w: int) -> list[list[Segment]]:
        key = (id(entry), w)
        hit = cls._cache.get(key)
        if hit is not None and hit[0] is entry:
            return hit[1]
        prefix = cls.PREFIX.get(entry.style, "")
        inner = max(1, w - len(prefix))
        if entry.style == "sql":
            lines = [[(prefix, "sql"), *segs] for segs in sql_lines(entry.text, inner)]
        else:
            pad = " " * len(prefix)
            lines = [
                [(prefix if n == 0 else pad, entry.style), (text, entry.style)]
                for n, text in enumerate(wrap(entry.text, inner))
            ]
        if len(cls._cache) > 20_000:
            cls._cache.clear()
        cls._cache[key] = (entry, lines)
        return lines

    @classmethod
    def height_needed(cls, pane: PaneState, w: int, cap: int) -> int:
        n = 0
        for entry in reversed(pane.log):
            n += len(cls.lines_of(entry, w - 1))
            if n >= cap:
                return cap
        return max(2, n)

    @classmethod
    def draw(
        cls, p: Painter, pane: PaneState, x: int, y: int, w: int, h: int, focused: bool
    ) -> None:
        if h <= 0:
            return
        want = h + pane.log_scroll
        lines: list[list[Segment]] = []
        for entry in reversed(pane.log):
            lines[:0] = cls.lines_of(entry, w - 1)
            if len(lines) >= want:
                break
        pane.log_scroll = max(0, min(pane.log_scroll, len(lines) - h))
        end = len(lines) - pane.log_scroll
        shown = lines[max(0, end - h) : end]
        for row in range(h):
            segs = shown[row] if row < len(shown) else []
            p.line(segs, x, y + row, w - 1)
        mark = "\u2503" if focused else " "
        for row in range(h):
            p.text(mark if focused else " ", x + w - 1, y + row, "rule")
        if pane.log_scroll:
            p.text(
                f" \u2191 {pane.log_scroll} more below ", x + max(0, w - 22), y + h - 1, "footer"
            )


class ResultsGrid:
    """The results table: header, visible page, footer with position, paging, truncation."""

    @staticmethod
    def draw(p: Painter, v: ResultView, x: int, y: int, w: int, h: int, focused: bool) -> None:
        if h < 3 or w < 4:
            return
        v.page_h = max(1, h - 2)
        v.move(0)  # re-clamp after a resize
        page = v.rows[v.top : v.top + v.page_h]
        cols: list[tuple[int, int, int]] = []  # (column, x offset, width)
        cx = 0
        for i in range(v.left, len(v.columns)):
            need = max((width_of(clean(cell_text(r[i]))) for r in page if i < len(r)), default=0)
            v.widths[i] = min(40, max(v.widths[i], need))  # grow-only: a number is never cut later
            cw = min(v.widths[i], w - cx)
            if cw <= 0:
                break
            cols.append((i, cx, cw))
            cx += cw + 1
        p.fill(x, y, w, 1, "header")
        for i, ox, cw in cols:
            p.text(fit(clean(v.columns[i]), cw, v.numeric[i]), x + ox, y, "header")
        for r in range(v.page_h):
            ri = v.top + r
            row_y = y + 1 + r
            if ri >= len(v.rows):
                p.text(" " * w, x, row_y, "cell")
                continue
            row = v.rows[ri]
            is_cur = ri == v.cur
            base = "cursor" if is_cur and focused else "cursor_dim" if is_cur else "cell"
            p.text(" " * w, x, row_y, base)
            for i, ox, cw in cols:
                val = row[i] if i < len(row) else None
                if val is None:  # NULL in its own colour and as text; '' stays blank
                    style = base if is_cur else "null"
                    p.text(fit("NULL", cw, v.numeric[i]), x + ox, row_y, style)
                else:
                    style = base if is_cur else ("num" if v.numeric[i] else "cell")
                    p.text(fit(clean(cell_text(val)), cw, v.numeric[i]), x + ox, row_y, style)
                if ox + cw < w and i != cols[-1][0]:  # between columns, the selected row too
                    p.text("\u2502", x + ox + cw, row_y, base if is_cur else "rule")
        n = len(v.rows)
        first, last = (v.top + 1, min(n, v.top + v.page_h)) if n else (0, 0)
        pg, pages = v.page
        more_cols = (
            f" \u00b7 cols {v.left + 1}-{cols[-1][0] + 1 if cols else 0} of {len(v.columns)}"
        )
        if cols and cols[-1][0] + 1 < len(v.columns):
            more_cols += " \u2192"
        if v.left:
            more_cols = more_cols.replace(" cols", " \u2190 cols")
        status = "" if v.done else " \u00b7 loading\u2026"
        text = f" rows {first:,}-{last:,} of {n:,} \u00b7 page {pg} of {pages}{more_cols}{status}"
        if v.done and v.elapsed_ms:
            text += f" \u00b7 {v.elapsed_ms / 1000:.2f} s"
        segs: list[Segment] = [(text + " ", "footer")]
        if v.truncated:
            segs.append((f" first {n:,} rows shown; /export writes all of them ", "warn"))
        p.line(segs, x, y + h - 1, w, "footer")


class RecordView:
    """\\x (or Enter on the results): the selected row as column | value, long values wrapped;
    Up/Down still move between rows."""

    @staticmethod
    def draw(p: Painter, v: ResultView, x: int, y: int, w: int, h: int, focused: bool) -> None:
        if h < 3 or w < 10:
            return
        v.page_h = max(1, h - 2)
        v.move(0)
        n = len(v.rows)
        p.fill(x, y, w, 1, "header")
        p.text(fit(f" record {v.cur + 1 if n else 0:,} of {n:,}", w), x, y, "header")
        name_w = min(max((width_of(c) for c in v.columns), default=1), max(8, w // 3))
        lines: list[tuple[str, str, str]] = []
        row = v.rows[v.cur] if n else []
        for i, col in enumerate(v.columns):
            val = row[i] if i < len(row) else None
            text = "NULL" if val is None else cell_text(val)
            parts = wrap(text, max(1, w - name_w - 3)) or [""]
            for k, part in enumerate(parts):
                lines.append((col if k == 0 else "", part, "null" if val is None else "cell"))
        for r in range(v.page_h):
            row_y = y + 1 + r
            p.text(" " * w, x, row_y, "cell")
            if r < len(lines):
                name, part, style = lines[r]
                p.text(fit(clean(name), name_w), x, row_y, "header")
                p.text("\u2502", x + name_w + 1, row_y, "rule")
                p.text(fit(clean(part), w - name_w - 3), x + name_w + 3, row_y, style)
        more = f" \u00b7 {len(lines) - v.page_h} more lines" if len(lines) > v.page_h else ""
        p.line(
            [(f" \\x on: one row · Up/Down row · Enter or \\x back to the table{more} ", "footer")],
            x,
            y + h - 1,
            w,
            "footer",
        )


class InputLine:
    """The prompt and the text being typed, with a drawn caret (no blinking: no idle redraws).
    A multi-line input (a paste, Alt+Enter, an unfinished statement) takes up to
    MAX_ROWS rows, scrolled to keep the caret's line in view."""

    MAX_ROWS = 8

    @classmethod
    def rows(cls, state: UiState, h: int) -> int:
        return max(1, min(state.input.count("\n") + 1, cls.MAX_ROWS, max(1, h // 3)))

    @classmethod
    def draw(cls, p: Painter, state: UiState, y: int, w: int, rows: int = 1) -> None:
        pane = state.pane
        prompt = f"{pane.profile}{' [rw]' if pane.mode == 'read-write' else ''}\u203a "
        x0 = width_of(prompt)
        room = max(1, w - x0 - 1)
        lines = state.input.split("\n")
        line_i = state.input.count("\n", 0, state.cursor)
        col = state.cursor - (state.input.rfind("\n", 0, state.cursor) + 1)
        first = max(0, min(line_i - rows + 1, len(lines) - rows))
        for r in range(rows):
            n = first + r
            if r == 0:
                p.text(prompt, 0, y, "prompt_rw" if pane.mode == "read-write" else "prompt")
            else:
                p.text(fit("\u2026 " if n else prompt, x0), 0, y + r, "prompt")
            text = lines[n] if n < len(lines) else ""
            before = width_of(text[:col]) if n == line_i else 0
            skip = max(0, before - room + 1) if n == line_i else 0
            p.text(fit(cut_cells(text, skip, room), room + 1), x0, y + r, "input")
            if n == line_i and state.area == "input" and state.modal is None:
                under = text[col] if col < len(text) else " "
                p.text(clean(under), x0 + before - skip, y + r, "caret")


class CompletionPopup:
    """Tab's candidates just above the input, under the word being completed; drawn over the
    panes, never modal: typing goes on (and re-filters), Tab/Up/Down choose, Enter takes."""

    ROWS = 8

    @classmethod
    def draw(cls, p: Painter, state: UiState, input_y: int, w: int) -> None:
        found = state.popup
        if found is None or not found.items:
            return
        n = len(found.items)
        sel = min(state.popup_sel, n - 1)
        first = max(0, min(sel - cls.ROWS + 1, n - cls.ROWS)) if sel >= cls.ROWS else 0
        shown = found.items[first : first + cls.ROWS]
        bw = min(w, max(26, max(width_of(i) for i in shown) + 4))
        pane = state.pane
        prompt_w = width_of(f"{pane.profile}{' [rw]' if pane.mode == 'read-write' else ''}\u203a ")
        line_start = state.input.rfind("\n", 0, found.start) + 1
        x = min(max(0, prompt_w + width_of(state.input[line_start : found.start]) - 1), w - bw)
        y = max(1, input_y - len(shown) - 1)
        for r, item in enumerate(shown):
            style = "box_sel" if first + r == sel else "box_text"
            p.line([(" " + fit(clean(item), bw - 2) + " ", style)], x, y + r, bw, style)
        more = f" {sel + 1}/{n} \u00b7 Tab next \u00b7 Enter take "
        p.line([(fit(more, bw), "box_key")], x, y + len(shown), bw, "box_text")


def hint_line(state: UiState) -> list[Segment]:
    pane = state.pane
    if state.searching:
        return [
            (" search the results: /" + clean(state.search), "notice"),
            ("\u2588 Enter find \u00b7 Esc cancel", "dim"),
        ]
    if state.status:
        return [(" " + state.status, "notice")]
    if pane.notice:
        return [(" " + pane.notice, "notice")]
    if pane.job is not None and pane.job.stage in ("planning", "running", "checking"):
        return [(" Ctrl+C cancel \u00b7 F6 other pane \u00b7 Ctrl+P commands", "dim")]
    if "\n" in state.input:
        done = input_complete(state.input)
        return [
            (" Enter run" if done else " the statement goes on: end it with ; and Enter", "dim"),
            (" \u00b7 Alt+Enter new line \u00b7 Ctrl+C clear", "dim"),
        ]
    where = {
        "input": "",
        "results": " \u00b7 arrows move \u00b7 / search, n/N \u00b7 s sort \u00b7 y/Y copy \u00b7 Enter record",
        "log": " \u00b7 arrows scroll",
    }
    return [
        (
            " Enter run \u00b7 /sql SQL \u00b7 Ctrl+P commands \u00b7 F1 help \u00b7 Tab focus"
            f" \u00b7 PgUp/PgDn page{where[state.area]} \u00b7 Ctrl+Q quit",
            "dim",
        )
    ]


class MainFrame:
    """The whole screen; panes side by side when each gets 50+ columns, else stacked."""

    @staticmethod
    def pane_rects(state: UiState, w: int, h: int) -> list[tuple[int, int, int, int]]:
        n = len(state.panes)
        top, avail = 1, max(1, h - 2 - InputLine.rows(state, h))
        if n == 1:
            return [(0, top, w, avail)]
        if w // n >= 50:
            each = (w - (n - 1)) // n
            return [
                (i * (each + 1), top, each if i < n - 1 else w - i * (each + 1), avail)
                for i in range(n)
            ]
        each = avail // n
        return [(0, top + i * each, w, each if i < n - 1 else avail - i * each) for i in range(n)]

    @classmethod
    def draw(cls, p: Painter, state: UiState, w: int, h: int) -> None:
        StatusBar.draw(p, state, 0, w)
        rects = cls.pane_rects(state, w, h)
        for i, (x, y, pw, ph) in enumerate(rects):
            cls.draw_pane(p, state, i, x, y, pw, ph)
            if x > 0:
                for row in range(y, y + ph):
                    p.text("\u2502", x - 1, row, "rule")
        rows = InputLine.rows(state, h)
        if h >= 3:
            p.line(hint_line(state), 0, h - 1 - rows, w, "text")
        InputLine.draw(p, state, h - rows, w, rows)
        if state.popup is not None and state.modal is None:
            CompletionPopup.draw(p, state, h - rows, w)

    @staticmethod
    def draw_pane(p: Painter, state: UiState, i: int, x: int, y: int, w: int, h: int) -> None:
        pane = state.panes[i]
        focused = i == state.focus
        if len(state.panes) > 1 and h > 2:
            style = "title_focus" if focused else "title"
            mode = "READ-WRITE" if pane.mode == "read-write" else pane.mode
            p.line(
                [(f" {i + 1} {pane.profile} \u00b7 {mode} \u00b7 {activity(state, pane)}", style)],
                x,
                y,
                w,
                style,
            )
            y, h = y + 1, h - 1
        v = pane.result
        if v is None or h < 8:
            LogView.draw(p, pane, x, y, w, h, focused and state.area == "log")
            return
        log_h = LogView.height_needed(pane, w, max(2, min(h // 3, 12)))
        LogView.draw(p, pane, x, y, w, log_h, focused and state.area == "log")
        grid = RecordView if state.expanded else ResultsGrid
        grid.draw(p, v, x, y + log_h, w, h - log_h, focused and state.area == "results")


def draw(screen: Any, state: UiState, theme: dict[str, Colour] | None = None) -> None:
    """Paint the whole screen from `state` into the Screen's buffer (refresh sends it)."""
    p = Painter(screen, theme or theme_for(screen))
    w, h = screen.width, screen.height
    if w < 20 or h < 6:
        p.fill(0, 0, w, h, "text")
        p.text(fit("pgask: window too small", w), 0, 0, "notice")
        return
    MainFrame.draw(p, state, w, h)
    m = state.modal
    if isinstance(m, ConfirmModal):
        ConfirmDialog.draw(p, state, m, w, h)
    elif isinstance(m, ModeModal):
        ModeDialog.draw(p, state, m, w, h)
    elif isinstance(m, PaletteModal):
        Palette.draw(p, state, m, w, h)
    elif isinstance(m, HelpModal):
        Help.draw(p, state, m, w, h)
    elif isinstance(m, AskModal):
        AskDialog.draw(p, state, m, w, h)
    elif isinstance(m, PasswordModal):
        PasswordDialog.draw(p, state, m, w, h)
