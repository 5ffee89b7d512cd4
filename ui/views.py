"""Drawing: every widget reads ui.state.UiState and paints a rectangle of the Screen.

The widgets are our own, drawn straight onto asciimatics' double-buffered Screen
(`print_at` then `refresh`, which sends only the changed cells). asciimatics' Frames,
Layouts and built-in widgets are not used: every key goes through state.handle_key, so
there is no widget focus to fight (asciimatics-ui.md §1, §3, §8 list the traps this
avoids), and a redraw costs one pass over the visible cells, whatever the row count.

    MainFrame      status bar, panes (side by side, or stacked when narrow), hint, input
      PaneView     title (when split), LogView (conversation), ResultsGrid
    ConfirmDialog  the SQL (SqlView, highlighted), class, tables, reasons, estimate, buttons
    Palette        filter line and the matching actions with their keys
    Help           keys and slash commands
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from asciimatics.screen import Screen
from wcwidth import wcswidth, wcwidth

from ui import keys as K
from ui import meta
from ui.format import cell_text
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
from ui.workflow import needs_estimate

Colour = tuple[int, int, int]  # fg, attr, bg
Segment = tuple[str, str]  # text, style name

DEFAULT = Screen.COLOUR_DEFAULT
BOLD, NORMAL, REVERSE = Screen.A_BOLD, Screen.A_NORMAL, Screen.A_REVERSE

# One attribute per cell: asciimatics' attributes are not bit flags (asciimatics-ui.md §7).
THEME_256: dict[str, Colour] = {
    "text": (DEFAULT, 0, DEFAULT),
    "status": (255, 0, 24),
    "status_rw": (255, BOLD, 124),
    "status_busy": (226, 0, 24),
    "title": (250, 0, 237),
    "title_focus": (255, BOLD, 24),
    "header": (255, BOLD, 238),
    "cell": (DEFAULT, 0, DEFAULT),
    "num": (153, 0, DEFAULT),
    "null": (245, 0, DEFAULT),
    "cursor": (16, 0, 153),
    "cursor_dim": (255, 0, 238),
    "rule": (240, 0, DEFAULT),
    "footer": (250, 0, 236),
    "warn": (16, 0, 214),
    "you": (255, BOLD, DEFAULT),
    "sql": (252, 0, DEFAULT),
    "kw": (75, BOLD, DEFAULT),
    "str": (114, 0, DEFAULT),
    "numlit": (179, 0, DEFAULT),
    "comment": (244, 0, DEFAULT),
    "info": (252, 0, DEFAULT),
    "error": (203, BOLD, DEFAULT),
    "error_why": (210, 0, DEFAULT),
    "hint": (114, 0, DEFAULT),
    "notice": (214, 0, DEFAULT),
    "explain": (DEFAULT, 0, DEFAULT),
    "plan": (152, 0, DEFAULT),
    "dim": (245, 0, DEFAULT),
    "ok": (114, 0, DEFAULT),
    "prompt": (117, BOLD, DEFAULT),
    "prompt_rw": (203, BOLD, DEFAULT),
    "input": (DEFAULT, 0, DEFAULT),
    "caret": (16, 0, 252),
    "box": (250, 0, 236),
    "box_text": (252, 0, 236),
    "box_title": (255, BOLD, 236),
    "box_sel": (16, 0, 153),
    "box_key": (245, 0, 236),
    "button": (252, 0, 238),
    "button_sel": (16, BOLD, 153),
    "box_warn": (214, BOLD, 236),
}

_B, _R, _G, _Y, _BL, _M, _C, _W = range(8)
THEME_8: dict[str, Colour] = {
    **{k: (DEFAULT, 0, DEFAULT) for k in THEME_256},
    "status": (_W, 0, _BL),
    "status_rw": (_W, BOLD, _R),
    "status_busy": (_Y, BOLD, _BL),
    "title": (_W, 0, _B),
    "title_focus": (_W, BOLD, _BL),
    "header": (_W, BOLD, _BL),
    "num": (_C, 0, DEFAULT),
    "null": (_M, 0, DEFAULT),
    "cursor": (_B, 0, _C),
    "cursor_dim": (_W, REVERSE, DEFAULT),
    "rule": (_BL, 0, DEFAULT),
    "footer": (_B, 0, _W),
    "warn": (_B, 0, _Y),
    "you": (_W, BOLD, DEFAULT),
    "kw": (_BL, BOLD, DEFAULT),
    "str": (_G, 0, DEFAULT),
    "numlit": (_Y, 0, DEFAULT),
    "comment": (_C, 0, DEFAULT),
    "error": (_R, BOLD, DEFAULT),
    "error_why": (_R, 0, DEFAULT),
    "hint": (_G, 0, DEFAULT),
    "notice": (_Y, 0, DEFAULT),
    "plan": (_C, 0, DEFAULT),
    "dim": (_C, 0, DEFAULT),
    "ok": (_G, 0, DEFAULT),
    "prompt": (_C, BOLD, DEFAULT),
    "prompt_rw": (_R, BOLD, DEFAULT),
    "caret": (_B, 0, _W),
    "box": (_W, 0, _B),
    "box_text": (_W, 0, _B),
    "box_title": (_W, BOLD, _B),
    "box_sel": (_B, 0, _C),
    "box_key": (_C, 0, _B),
    "button": (_W, 0, _B),
    "button_sel": (_B, BOLD, _C),
    "box_warn": (_Y, BOLD, _B),
}


def theme_for(screen: Any) -> dict[str, Colour]:
    return THEME_256 if getattr(screen, "colours", 8) >= 256 else THEME_8


# -- text measuring ----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: str) -> str:
    """One screen line: newline as ↵, tab as a space, other control characters as ?."""
    if "\n" in text or "\t" in text or "\r" in text:
        text = text.replace("\r\n", "\u21b5").replace("\n", "\u21b5").replace("\t", " ")
        text = text.replace("\r", "\u21b5")
    if _CONTROL.search(text):
        text = _CONTROL.sub("?", text)
    return text


def width_of(text: str) -> int:
    if text.isascii():
        return len(text)
    w = wcswidth(text)
    return w if w >= 0 else sum(max(0, wcwidth(c)) for c in text)


def fit(text: str, w: int, right: bool = False) -> str:
    """Exactly `w` cells, wide-character aware, cut with '…'."""
    if w <= 0:
        return ""
    tw = width_of(text)
    if tw > w:
        if text.isascii():
            text, tw = text[: w - 1] + "\u2026", w
        else:
            out, used = [], 0
            for ch in text:
                cw = max(0, wcwidth(ch))
                if used + cw > w - 1:
                    break
                out.append(ch)
                used += cw
            text, tw = "".join(out) + "\u2026", used + 1
    pad = " " * (w - tw)
    return pad + text if right else text + pad


def cut_cells(text: str, skip: int, w: int) -> str:
    """The part of `text` from cell `skip`, at most `w` cells (for long input lines)."""
    if text.isascii():
        return text[skip : skip + w]
    out, pos, used = [], 0, 0
    for ch in text:
        cw = max(0, wcwidth(ch))
        if pos >= skip:
            if used + cw > w:
                break
            out.append(ch)
            used += cw
        pos += cw
    return "".join(out)


def wrap(text: str, w: int) -> list[str]:
    """Word-wrap one logical line to `w` cells (long words are cut)."""
    if w <= 1:
        return [text[:1]]
    out: list[str] = []
    for para in text.split("\n"):
        para = clean(para)
        while width_of(para) > w:
            if para.isascii():
                cut = para.rfind(" ", 0, w + 1)
                cut = cut if cut > w // 3 else w
                out.append(para[:cut].rstrip())
                para = para[cut:].lstrip(" ") if cut < len(para) else ""
            else:
                piece = cut_cells(para, 0, w)
                out.append(piece)
                para = para[len(piece) :]
        out.append(para)
    return out


# -- SQL highlighting --------------------------------------------------------------------

KEYWORDS = frozenset(
    """select from where group by order having limit offset join left right full inner outer
    cross on using as and or not in is null true false case when then else end distinct union
    all except intersect with recursive insert into values update set delete returning create
    table index view drop alter add column truncate cascade restrict primary key foreign
    references unique default check constraint begin commit rollback explain analyze asc desc
    nulls first last between like ilike exists any some lateral over partition window filter
    grant revoke schema if only vacuum materialized refresh sequence function returns language
    """.split()
)
_TOKEN = re.compile(
    r"(?P<comment>--[^\n]*|/\*.*?\*/)|(?P<str>'(?:[^']|'')*'?|\$\$.*?\$\$)"
    r"|(?P<ident>\"(?:[^\"]|\"\")*\"?)|(?P<num>\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)|(?P<other>\s+|.)",
    re.S,
)


def highlight(line: str) -> list[Segment]:
    """SqlView's tokens for one line: keywords, strings, numbers, comments."""
    out: list[Segment] = []
    for m in _TOKEN.finditer(line):
        kind, text = m.lastgroup, m.group()
        style = "sql"
        if kind == "comment":
            style = "comment"
        elif kind == "str":
            style = "str"
        elif kind == "num":
            style = "numlit"
        elif kind == "word" and text.lower() in KEYWORDS:
            style = "kw"
        if out and out[-1][1] == style:
            out[-1] = (out[-1][0] + text, style)
        else:
            out.append((text, style))
    return out


def sql_lines(sql: str, w: int) -> list[list[Segment]]:
    """SqlView: the SQL's own lines, wrapped between words to `w`, as highlighted segments."""
    lines: list[list[Segment]] = []
    for raw in sql.replace("\t", "    ").splitlines() or [""]:
        lines.extend(highlight(piece) for piece in wrap(raw, w))
    return lines


# -- painting helpers --------------------------------------------------------------------


class Painter:
    def __init__(self, screen: Any, theme: dict[str, Colour]) -> None:
        self.screen, self.theme = screen, theme

    def text(self, text: str, x: int, y: int, style: str, bg: int | None = None) -> None:
        fg, attr, sbg = self.theme.get(style, self.theme["text"])
        self.screen.print_at(text, x, y, fg, attr, sbg if bg is None or sbg != DEFAULT else bg)

    def line(
        self,
        segments: Iterable[Segment],
        x: int,
        y: int,
        w: int,
        fill: str = "text",
        bg: int | None = None,
    ) -> None:
        """Segments left to right, clipped to `w` cells, the rest filled."""
        used = 0
        for text, style in segments:
            if used >= w:
                break
            tw = width_of(text)
            if used + tw > w:
                text = cut_cells(text, 0, w - used)
                tw = width_of(text)
            if text:
                self.text(text, x + used, y, style, bg)
            used += tw
        if used < w:
            self.text(" " * (w - used), x + used, y, fill)

    def fill(self, x: int, y: int, w: int, h: int, style: str) -> None:
        blank = " " * max(0, w)
        for row in range(y, y + h):
            self.text(blank, x, row, style)

    def box(self, x: int, y: int, w: int, h: int, title: str, style: str = "box") -> None:
        self.text("\u250c" + "\u2500" * (w - 2) + "\u2510", x, y, style)
        for row in range(y + 1, y + h - 1):
            self.text("\u2502", x, row, style)
            self.text(" " * (w - 2), x + 1, row, "box_text")
            self.text("\u2502", x + w - 1, row, style)
        self.text("\u2514" + "\u2500" * (w - 2) + "\u2518", x, y + h - 1, style)
        if title:
            self.text(fit(f" {title} ", min(w - 4, width_of(title) + 2)), x + 2, y, "box_title")


# -- widgets -----------------------------------------------------------------------------


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
                segs.append((f" not connected: {fit(conn.detail, max(20, room * 2)).rstrip()} ",
                             "status_rw"))  # fmt: skip
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
        p.line([(f" \\x on: one row · Up/Down row · Enter or \\x back to the table{more} ", "footer")],
               x, y + h - 1, w, "footer")  # fmt: skip


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
        return [(" search the results: /" + clean(state.search), "notice"),
                ("\u2588 Enter find \u00b7 Esc cancel", "dim")]  # fmt: skip
    if state.status:
        return [(" " + state.status, "notice")]
    if pane.notice:
        return [(" " + pane.notice, "notice")]
    if pane.job is not None and pane.job.stage in ("planning", "running", "exporting", "checking"):
        return [(" Ctrl+C cancel \u00b7 F6 other pane \u00b7 Ctrl+P commands", "dim")]
    if "\n" in state.input:
        done = input_complete(state.input)
        return [(" Enter run" if done else " the statement goes on: end it with ; and Enter", "dim"),
                (" \u00b7 Alt+Enter new line \u00b7 Ctrl+C clear", "dim")]  # fmt: skip
    where = {
        "input": "",
        "results": " \u00b7 arrows move \u00b7 / search, n/N \u00b7 s sort \u00b7 Enter record",
        "log": " \u00b7 arrows scroll",
    }
    return [
        (" Enter run \u00b7 /sql SQL \u00b7 Ctrl+P commands \u00b7 F1 help \u00b7 Tab focus"
         f" \u00b7 PgUp/PgDn page{where[state.area]} \u00b7 Ctrl+Q quit", "dim")
    ]  # fmt: skip


# -- frames ------------------------------------------------------------------------------


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
            p.line([(f" {i + 1} {pane.profile} \u00b7 {mode} \u00b7 {activity(state, pane)}", style)],
                   x, y, w, style)  # fmt: skip
            y, h = y + 1, h - 1
        v = pane.result
        if v is None or h < 8:
            LogView.draw(p, pane, x, y, w, h, focused and state.area == "log")
            return
        log_h = LogView.height_needed(pane, w, max(2, min(h // 3, 12)))
        LogView.draw(p, pane, x, y, w, log_h, focused and state.area == "log")
        grid = RecordView if state.expanded else ResultsGrid
        grid.draw(p, v, x, y + log_h, w, h - log_h, focused and state.area == "results")


class ConfirmDialog:
    """Run / Edit / Cancel for a verdict that needs the person (preview, confirm, typed)."""

    @staticmethod
    def draw(p: Painter, state: UiState, m: ConfirmModal, w: int, h: int) -> None:
        v = m.verdict
        pane = state.panes[m.pane]
        bw = max(20, min(w - 2, 100))
        inner = bw - 4
        lines: list[list[Segment]] = []
        sql_rows = sql_lines(m.sql, inner)
        info: list[list[Segment]] = []
        what = {"preview": "Run this query?", "confirm": "This changes data. Run it?",
                "typed": "This is destructive. Run it?"}.get(v.confirm, "Run it?")  # fmt: skip
        info.append([(what, "box_warn")])
        info.append(
            [
                (
                    f"class {v.sql_class} \u00b7 profile '{pane.profile}' \u00b7 {pane.mode}",
                    "box_text",
                )
            ]
        )
        if v.tables:
            info.append([("tables: " + ", ".join(v.tables), "box_text")])
        for r in v.reasons:
            for t in wrap("\u2022 " + r, inner):
                info.append([(t, "box_text")])
        if needs_estimate(v):
            info.append([("rows affected: " + (m.estimate or "estimating\u2026"), "box_text")])
        if v.confirm == "typed":
            info.append(
                [
                    (f"Type '{v.confirm_name}' to run it: ", "box_warn"),
                    (m.typed + "\u2588", "box_text"),
                ]
            )
        if m.message:
            info.append([(m.message, "box_warn")])
        room = max(1, h - 4 - len(info) - 2)
        if len(sql_rows) > room:
            sql_rows = [*sql_rows[: room - 1], [("\u2026", "dim")]]
        lines = [*sql_rows, [("\u2500" * inner, "box")], *info]
        bh = min(h, len(lines) + 4)
        bx, by = (w - bw) // 2, max(0, (h - bh) // 2)
        p.box(bx, by, bw, bh, f"Confirm: {v.sql_class} on '{pane.profile}'")
        for n, segs in enumerate(lines[: bh - 4]):
            p.line(segs, bx + 2, by + 1 + n, inner, "box_text", bg=p.theme["box_text"][2])
        buttons = [("Run", "Enter/y"), ("Edit", "e"), ("Cancel", "Esc")]
        if v.confirm == "typed":
            buttons = [("Run", "Enter"), ("Edit", "Ctrl+E"), ("Cancel", "Esc")]
        segs: list[Segment] = []
        for n, (label, key) in enumerate(buttons):
            segs.append((f" {label} ({key}) ", "button_sel" if n == m.selected else "button"))
            segs.append(("  ", "box_text"))
        p.line(segs, bx + 2, by + bh - 2, inner, "box_text")


class AskDialog:
    """A yes/no question about a DBA job, or the typed name a restore needs."""

    @staticmethod
    def draw(p: Painter, state: UiState, m: AskModal, w: int, h: int) -> None:
        bw = max(20, min(w - 2, 90))
        inner = bw - 4
        rows: list[list[Segment]] = []
        for n, t in enumerate(m.lines):
            for part in wrap(t, inner):
                rows.append([(part, "box_warn" if n == 0 else "box_text")])
        rows.append([("", "box_text")])
        if m.name:
            rows.append([(f"Type '{m.name}' to go ahead: ", "box_warn"),
                         (m.typed + "\u2588", "box_text")])  # fmt: skip
            keys = "Enter: go ahead      Esc: cancel"
        else:
            keys = "y / Enter: yes      n / Esc: no"
        if m.message:
            rows.append([(m.message, "box_warn")])
        rows.append([(keys, "box_key")])
        bh = min(h, len(rows) + 2)
        bx, by = (w - bw) // 2, max(0, (h - bh) // 2)
        p.box(bx, by, bw, bh, m.title)
        shown = rows if len(rows) <= bh - 2 else [*rows[: bh - 4], *rows[-2:]]
        for n, segs in enumerate(shown[: max(0, bh - 2)]):
            p.line(segs, bx + 2, by + 1 + n, inner, "box_text")


class ModeDialog:
    @staticmethod
    def draw(p: Painter, state: UiState, m: ModeModal, w: int, h: int) -> None:
        pane = state.panes[m.pane]
        bw = max(20, min(w - 2, 72))
        lines = [
            f"Switch '{pane.profile}' to {m.mode}?",
            "Writes and DDL will be possible; each one still asks before it runs,",
            "and destructive statements need the object's name typed.",
            "",
            "y / Enter: switch      n / Esc: keep read-only",
        ]
        bh = len(lines) + 2
        bx, by = (w - bw) // 2, max(0, (h - bh) // 2)
        p.box(bx, by, bw, bh, "Change mode")
        for n, t in enumerate(lines):
            p.line(
                [(t, "box_warn" if n == 0 else "box_text")], bx + 2, by + 1 + n, bw - 4, "box_text"
            )


class PasswordDialog:
    """Asks for the password the server wants; what is typed is never drawn (not even its
    length), as psql's prompt."""

    @staticmethod
    def draw(p: Painter, state: UiState, m: PasswordModal, w: int, h: int) -> None:
        bw = max(20, min(w - 2, 72))
        lines = [
            f"The server of '{m.profile}' asks for a password.",
            f"{target(state.config, m.profile)}",
            m.message,
            "Password: (typing is not shown)",
            "",
            "Enter: connect      Esc: not now      (kept in memory only, never saved)",
        ]
        bh = len(lines) + 2
        bx, by = (w - bw) // 2, max(0, (h - bh) // 2)
        p.box(bx, by, bw, bh, "Password")
        for n, t in enumerate(lines):
            style = "box_warn" if n == 2 else "box_text"
            p.line([(t, style)], bx + 2, by + 1 + n, bw - 4, "box_text")


class Palette:
    @staticmethod
    def draw(p: Painter, state: UiState, m: PaletteModal, w: int, h: int) -> None:
        bw = max(20, min(w - 2, 84))
        items = m.matches()
        list_h = max(1, min(len(items) or 1, h - 6, 16))
        bh = list_h + 4
        bx, by = (w - bw) // 2, 1
        inner = bw - 4
        p.box(bx, by, bw, bh, m.title)
        p.line(
            [("> ", "box_title"), (m.filter, "box_text"), (" ", "caret")],
            bx + 2,
            by + 1,
            inner,
            "box_text",
        )
        sel = min(m.selected, max(0, len(items) - 1))
        first = max(0, sel - list_h + 1)
        if not items:
            p.line([("no match", "box_key")], bx + 2, by + 2, inner, "box_text")
        for n, item in enumerate(items[first : first + list_h]):
            style = "box_sel" if first + n == sel else "box_text"
            key = item.key
            title_w = inner - width_of(key) - 1
            p.line([(fit(clean(item.title), title_w), style), (" ", style),
                    (key, style if style == "box_sel" else "box_key")], bx + 2, by + 2 + n, inner, style)  # fmt: skip
        p.line([(f"{len(items)} of {len(m.items)} \u00b7 Enter run \u00b7 Esc close", "box_key")],
               bx + 2, by + bh - 2, inner, "box_text")  # fmt: skip


class Help:
    @staticmethod
    def lines() -> list[str]:
        out = ["Keys"]
        for a in K.ACTIONS.values():
            if a.key and not a.key.startswith("/"):
                out.append(f"  {a.key:<14} {a.title}")
        out += [
            "  PgUp/PgDn      page the results (also from the input line)",
            "  arrows         move in the results or conversation (Tab to focus them)",
            "  Home/End       first/last row; Left/Right scroll wide results",
            "",
            "Commands (anything else is a question for the model)",
        ]
        out += [f"  {t}" for t in K.SLASH_COMMANDS.values()]
        out += [
            "",
            "More keys",
            "  Enter or \\x    the selected row as a record (in the results), and back",
            "  / n N          search the results (all pages); next, previous match",
            "  s              sort by the first visible column here (again: descending, then off)",
            "  Tab            complete commands, tables, columns, keywords (in the input line)",
            "  Alt+Enter      a new line in the input; a multi-line SQL runs once it ends with ;",
            "  Ctrl+C         clear the line (nothing running); Ctrl+D on an empty line quits",
            "",
            "psql meta-commands (from the cached catalog)",
            *[f"  {line}" for line in meta.help_lines()],
        ]
        return out

    @classmethod
    def draw(cls, p: Painter, state: UiState, m: HelpModal, w: int, h: int) -> None:
        lines = cls.lines()
        bw = max(20, min(w - 2, 90))
        bh = max(5, min(h - 2, len(lines) + 3))
        room = bh - 3
        m.scroll = max(0, min(m.scroll, len(lines) - room))
        bx, by = (w - bw) // 2, max(0, (h - bh) // 2)
        p.box(bx, by, bw, bh, "Help")
        for n, t in enumerate(lines[m.scroll : m.scroll + room]):
            p.line([(t, "box_title" if not t.startswith(" ") and t else "box_text")],
                   bx + 2, by + 1 + n, bw - 4, "box_text")  # fmt: skip
        more = " \u2193 more" if m.scroll + room < len(lines) else ""
        p.line(
            [(f"Esc close \u00b7 Up/Down scroll{more}", "box_key")],
            bx + 2,
            by + bh - 2,
            bw - 4,
            "box_text",
        )


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
