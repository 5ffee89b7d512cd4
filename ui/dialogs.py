"""The dialogs drawn over the panes: confirm (the SQL, its class, reasons, estimate),
ask, mode, password, the palette and help."""

from __future__ import annotations

from ui import keys as K
from ui import meta
from ui.paint import Painter, Segment, clean, fit, sql_lines, width_of, wrap
from ui.state import (
    AskModal,
    ConfirmModal,
    HelpModal,
    ModeModal,
    PaletteModal,
    PasswordModal,
    UiState,
    target,
)
from ui.workflow import needs_estimate


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
        what = {
            "preview": "Run this query?",
            "confirm": "This changes data. Run it?",
            "typed": "This is destructive. Run it?",
        }.get(v.confirm, "Run it?")
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
            rows.append(
                [(f"Type '{m.name}' to go ahead: ", "box_warn"), (m.typed + "\u2588", "box_text")]
            )
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
            p.line(
                [
                    (fit(clean(item.title), title_w), style),
                    (" ", style),
                    (key, style if style == "box_sel" else "box_key"),
                ],
                bx + 2,
                by + 2 + n,
                inner,
                style,
            )
        p.line(
            [(f"{len(items)} of {len(m.items)} \u00b7 Enter run \u00b7 Esc close", "box_key")],
            bx + 2,
            by + bh - 2,
            inner,
            "box_text",
        )


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
            "  y / Y          copy the selected cell / row to the clipboard (OSC 52)",
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
            p.line(
                [(t, "box_title" if not t.startswith(" ") and t else "box_text")],
                bx + 2,
                by + 1 + n,
                bw - 4,
                "box_text",
            )
        more = " \u2193 more" if m.scroll + room < len(lines) else ""
        p.line(
            [(f"Esc close \u00b7 Up/Down scroll{more}", "box_key")],
            bx + 2,
            by + bh - 2,
            bw - 4,
            "box_text",
        )
