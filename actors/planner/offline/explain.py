"""The plan's one-sentence explanation, in the person's words."""

from __future__ import annotations

from actors.planner.offline.query import Compare, Equals, FlagIs, InWindow, IsNull, Query
from actors.planner.offline.render import Renderer

_OP_WORDS = {
    "gt": "over",
    "gte": "at least",
    "lt": "under",
    "lte": "at most",
    "eq": "=",
    "between": "between",
}


def explain(q: Query, r: Renderer) -> str:
    parts: list[str] = []
    m = q.measure
    if m is None:
        what = ", ".join(c.name for c in q.select) if q.select else "rows"
        parts.append(f"Lists {what} of {r.root.name}")
    elif m.fn == "count" and m.col is None:
        parts.append(f"Counts {m.table.name}")
    else:
        assert m.col is not None
        word = {
            "count": "Counts",
            "sum": "Adds up",
            "avg": "Averages",
            "min": "Finds the smallest",
            "max": "Finds the largest",
        }[m.fn]
        parts.append(f"{word} {'distinct ' if m.distinct else ''}{m.col.label}")
    for kind, g in q.groups:
        if kind == "entity":
            parts.append(f"per {g.name}")
        elif kind == "col":
            parts.append(f"per {g.name}")
        else:
            parts.append(f"per {g}")
    conds = []
    for _t, f in q.filters:
        if isinstance(f, InWindow):
            sep = (
                ""
                if f.window.label.startswith(
                    ("since", "before", "from", "on", "today", "yesterday")
                )
                else "in "
            )
            conds.append(f"{f.col.name} {sep}{f.window.label}")
        elif isinstance(f, Equals):
            conds.append(f"{f.col.name} {'not ' if f.negate else ''}{' or '.join(f.values)}")
        elif isinstance(f, Compare):
            op = _OP_WORDS[f.op]
            conds.append(
                f"{f.col.name} {op} {f.value:g}"
                + (f" and {f.upper:g}" if f.upper is not None else "")
            )
        elif isinstance(f, IsNull):
            conds.append(f"{f.col.name} {'missing' if f.null else 'present'}")
        elif isinstance(f, FlagIs):
            conds.append(f"{'' if f.value else 'not '}{f.col.name}")
    if conds:
        parts.append("where " + " and ".join(conds))
    if (q.order and m is None) or any(k == "measure" for k, _, _ in q.order):
        kind, c, desc = q.order[0]
        by = c.name if kind == "col" else "that figure"
        parts.append(f"ordered by {by} {'descending' if desc else 'ascending'}")
    if q.limit:
        parts.append(f"limited to {q.limit} rows")
    return " ".join(parts) + "."
