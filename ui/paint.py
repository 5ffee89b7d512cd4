"""Painting primitives: the themes, text cut to display cells, SQL highlighting, and the
Painter every widget draws with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from asciimatics.screen import Screen
from wcwidth import wcswidth, wcwidth

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
