"""Stage 2, parse: phrases with a fixed meaning are cut out of the question as markers."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from actors.planner.offline.columns import is_key
from actors.planner.offline.dates import (
    DATE_RE,
    Window,
    between_window,
    month_window,
    quarter_window,
    relative_window,
    since_window,
    year_window,
)
from actors.planner.offline.lexicon import (
    AGGREGATES,
    DATEPARTS,
    HARMLESS_WORDS,
    MONTH_RE,
    NUMBER_WORDS,
    STOP_WORDS,
)
from actors.planner.offline.schema import Column, Schema
from actors.planner.words import singular


@dataclass
class Marker:
    kind: str  # value | window | limit | order | cmp | null | notnull | group | agg | sort
    data: dict[str, Any]


LEAD_RE = re.compile(
    r"^(?:(?:please|can you|could you|would you|kindly|i want to|i'd like to|i would like to|"
    r"let me|lets|let's)\s+)*(?:(?:show|list|give|get|find|display|fetch|return|tell|see|pull)"
    r"(?:\s+(?:me|us))?\s+)?",
    re.IGNORECASE,
)


def number(text: str) -> float | None:
    t = text.replace(",", "").replace("$", "").replace("€", "").replace("£", "").strip()
    if t in NUMBER_WORDS:
        return float(NUMBER_WORDS[t])
    mult = 1.0
    if t.endswith("k"):
        mult, t = 1_000.0, t[:-1]
    elif t.endswith("m") and t[:-1].replace(".", "").isdigit():
        mult, t = 1_000_000.0, t[:-1]
    try:
        return float(t) * mult
    except ValueError:
        return None


NUMBER_RE = r"(?:[$€£]?\d[\d,]*(?:\.\d+)?[km]?|" + "|".join(NUMBER_WORDS) + ")"


COMPARISONS = [
    (r"more than|greater than|over|above|exceeding|bigger than|larger than|higher than|>", "gt"),
    (r"at least|no less than|minimum of|>=", "gte"),
    (r"less than|fewer than|under|below|lower than|smaller than|cheaper than|<", "lt"),
    (r"at most|no more than|maximum of|up to|<=", "lte"),
    (r"equal to|equals|exactly|=", "eq"),
]


def window_marker(window: Window | None) -> Marker | None:
    return None if window is None else Marker("window", {"window": window, "hint": None})


class Parser:
    """One question against one schema. State lives here; every method is deterministic."""

    def __init__(
        self,
        question: str,
        schema: Schema,
        values: dict[tuple[str, str, str], list[str]] | None,
        today: dt.date,
    ) -> None:
        self.original = question
        self.schema = schema
        self.today = today
        self.items: list[Marker] = []
        self.assumptions: list[str] = []
        self.values = self._value_map(values or {})

    def _value_map(
        self, values: dict[tuple[str, str, str], list[str]]
    ) -> dict[str, list[tuple[Column, str]]]:
        out: dict[str, list[tuple[Column, str]]] = {}
        for t in self.schema.tables:
            for col in t.cols:
                for v in col.enum:
                    out.setdefault(v.lower().strip(), []).append((col, v))
        for (schema, table, column), vals in values.items():
            t = self.schema.by_full.get(f"{schema}.{table}")
            col = t.by_name.get(column) if t else None
            if col is None:
                continue
            for v in vals:
                key = str(v).lower().strip()
                if key and (col, v) not in out.get(key, []):
                    out.setdefault(key, []).append((col, str(v)))
        return out

    def _mark(self, text: str, pattern: str, make: Any) -> str:
        def repl(m: re.Match[str]) -> str:
            item = make(m)
            if item is None:
                return m.group(0)
            self.items.append(item)
            return f" §{len(self.items) - 1} "

        return re.sub(pattern, repl, text)

    def extract(self, text: str) -> str:
        text = text.replace("§", " ")  # the marker sign is ours alone
        # quoted values keep their case
        text = self._mark(
            text,
            r"'([^']+)'|\"([^\"]+)\"|‘([^’]+)’|“([^”]+)”",
            lambda m: Marker("value", {"text": next(g for g in m.groups() if g is not None)}),
        )
        text = text.lower()
        text = re.sub(r"[?!;]+", " ", text)
        text = re.sub(r"(?<=\w)'s\b", "", text)
        text = re.sub(r"(\w)\.(\s|$)", r"\1 ", text)
        for stage in (
            self._mark_windows,
            self._mark_orderings,
            self._mark_comparisons,
            self._mark_negations,
            self._mark_groupings,
        ):
            text = stage(text)
        return text

    def _mark_windows(self, text: str) -> str:
        """Time windows: between, since, the last N days, this month, Q3 2024, in March, in 2023."""
        today = self.today
        date = DATE_RE
        text = self._mark(
            text,
            rf"\b(?:between|from)\s+(?P<a>{date})\s+(?:and|to|until|till|through|-)\s+(?P<b>{date})\b",
            lambda m: window_marker(between_window(m, self.today)),
        )
        text = self._mark(
            text,
            rf"\b(?P<op>since|after|before|until|on|as of)\s+(?P<d>{date})\b",
            lambda m: window_marker(since_window(m, self.today)),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|over|within)?\s*(?:the\s+)?(?:last|past|previous|prior)\s+"
            r"(?P<n>\d+|" + "|".join(NUMBER_WORDS) + r")\s+(?P<nunit>day|week|month|year)s?\b",
            lambda m: window_marker(relative_window(m, today)),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|over)?\s*(?P<rel>this|last|previous|past|prior|the\s+last|"
            r"the\s+previous|the\s+past|current|the\s+current)\s+(?P<unit>week|month|quarter|year)\b",
            lambda m: window_marker(relative_window(m, today)),
        )
        text = self._mark(
            text,
            r"\b(?P<day>today|yesterday|ytd|year to date|mtd|month to date)\b",
            lambda m: window_marker(relative_window(m, today)),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|of)?\s*q(?P<q>[1-4])\s+(?:of\s+)?(?P<y>\d{4})\b",
            lambda m: window_marker(quarter_window(int(m["q"]), int(m["y"]))),
        )
        text = self._mark(
            text,
            rf"\b(?:in|during|for|of)\s+(?P<m>{MONTH_RE})(?:\s+(?:of\s+)?(?P<y>\d{{4}}))?\b",
            lambda m: window_marker(month_window(m["m"], m["y"], self.today)),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|of|from)\s+(?:the\s+year\s+)?(?P<y>(?:19|20)\d{2})\b",
            lambda m: window_marker(year_window(int(m["y"]))),
        )
        return text

    def _mark_orderings(self, text: str) -> str:
        """Orderings and limits: top 5, the 3 most, latest, sorted by, descending."""
        # orderings and limits
        text = self._mark(
            text,
            rf"\b(?P<dir>top|bottom)\s+(?P<n>{NUMBER_RE})\b",
            lambda m: Marker(
                "limit",
                {
                    "n": row_count(m["n"]),
                    "dir": "desc" if m["dir"] == "top" else "asc",
                    "top": True,
                },
            ),
        )
        # "the 5 most expensive products", "the 3 most recent notifications"
        text = self._mark(
            text,
            rf"\b(?P<n>{NUMBER_RE})\s+(?=(?:most|least|cheapest|highest|lowest|largest|smallest|"
            r"biggest|best|worst|latest|newest|oldest|earliest|longest|shortest|fewest)\b)",
            lambda m: Marker("limit", {"n": row_count(m["n"]), "dir": None, "top": False}),
        )
        text = self._mark(
            text,
            rf"\b(?:the\s+)?(?P<w>latest|newest|most recent|last|recent|oldest|earliest|first)"
            rf"(?:\s+(?P<n>{NUMBER_RE}))?\b",
            lambda m: Marker(
                "order",
                {
                    "what": "pk" if m["w"] == "first" else "date",
                    "desc": m["w"] in ("latest", "newest", "most recent", "last", "recent"),
                    "n": row_count(m["n"]) if m["n"] else None,
                    "word": m["w"],
                },
            ),
        )
        text = self._mark(
            text,
            rf"\b(?:limit(?:ed)?\s+(?:to\s+)?|only\s+)(?P<n>{NUMBER_RE})\b(?:\s+rows?)?",
            lambda m: Marker("limit", {"n": row_count(m["n"]), "dir": None, "top": False}),
        )
        text = self._mark(
            text,
            r"\b(?:sorted|ordered|sort|order|rank|ranked)\s+by\s+",
            lambda m: Marker("sort", {}),
        )
        text = self._mark(
            text,
            r"\b(?P<d>ascending|descending|asc|desc|in\s+ascending\s+order|in\s+descending\s+order)\b",
            lambda m: Marker("dir", {"desc": "desc" in m["d"]}),
        )
        return text

    def _mark_comparisons(self, text: str) -> str:
        """Numeric comparisons (over 100, between 2 and 5, 4 engines) and superlatives."""
        # numeric comparisons
        text = self._mark(
            text,
            rf"\bbetween\s+(?P<a>{NUMBER_RE})\s+and\s+(?P<b>{NUMBER_RE})\b",
            lambda m: Marker(
                "cmp", {"op": "between", "value": number(m["a"]), "upper": number(m["b"])}
            ),
        )
        for words, op in COMPARISONS:
            text = self._mark(
                text,
                rf"(?:\b|(?<=\s))(?:is\s+|are\s+|of\s+)?(?:{words})\s+(?P<n>{NUMBER_RE})(?![\w-])",
                lambda m, op=op: Marker("cmp", {"op": op, "value": number(m["n"])}),
            )
        # "aircraft with 4 engines": a bare number before a numeric column's name compares it
        text = self._mark(
            text,
            r"(?<![\w.,§$€£-])(?P<n>\d+(?:\.\d+)?)\s+(?=(?P<w>[a-z][a-z_]*)\b)",
            lambda m: self._count_cmp(m),
        )
        text = self._mark(
            text,
            r"\b(?P<w>most expensive|cheapest|least expensive|most|highest|largest|biggest|greatest|"
            r"fewest|least|lowest|smallest|longest|shortest|best|worst)\b",
            lambda m: Marker(
                "super",
                {
                    "desc": m["w"]
                    in (
                        "most expensive",
                        "most",
                        "highest",
                        "largest",
                        "biggest",
                        "greatest",
                        "longest",
                        "best",
                    ),
                    "word": m["w"],
                },
            ),
        )
        return text

    def _mark_negations(self, text: str) -> str:
        """Negations and NULL tests: never, don't have, without, with a."""
        # negations: "customers who don't have an email" is a NULL test; "cars that were never
        # sold" and "shipments not yet delivered" are read against the catalog later
        text = text.replace("\u2019", "'")
        text = self._mark(
            text,
            r"\b(?:(?:do|does|did)\s+not|don't|doesn't|didn't|(?:has|have|had)\s+(?:not|never)|"
            r"hasn't|haven't|hadn't|never)\s+(?:ever\s+|yet\s+)?(?:have|has|had)\s+(?:an?\s+|any\s+)?",
            lambda m: Marker("null", {"null": True}),
        )
        text = self._mark(
            text,
            r"\b(?:never|not\s+(?:yet|ever)|(?:do|does|did)\s+not|don't|doesn't|didn't|"
            r"(?:has|have|had)\s+(?:not|never)|hasn't|haven't|hadn't)"
            r"(?:\s+(?:yet|ever|been|once))*\s+",
            lambda m: Marker("never", {"word": m.group(0).strip()}),
        )
        # NULL tests
        text = self._mark(
            text,
            r"\b(?:without|with\s+no|missing|lacking|that\s+lacks?|(?:that\s+)?(?:has|have)\s+no|"
            r"having\s+no|(?:with|has|have)\s+(?:an?\s+)?(?:empty|null|blank)|no)\s+(?:an?\s+|any\s+)?",
            lambda m: Marker("null", {"null": True}),
        )
        text = self._mark(
            text,
            r"\b(?:with|(?:that\s+)?(?:has|have)|having)\s+(?:an?\s+|some\s+)(?=[a-z])",
            lambda m: Marker("null", {"null": False}),
        )
        return text

    def _mark_groupings(self, text: str) -> str:
        """Groupings (by, per, each) and aggregates (how many, total, average)."""
        # groupings
        text = self._mark(
            text,
            r"\b(?:grouped\s+by|broken\s+down\s+by|split\s+by|break\s+down\s+by|by|per|for\s+each|"
            r"for\s+every|each|every|across(?!\s+(?:all|the\s+whole|the\s+entire)\b))\s+",
            lambda m: Marker("group", {}),
        )
        # aggregates
        text = self._mark(
            text,
            r"\b(?P<p>how\s+many|number\s+of|count\s+of|count|total\s+number\s+of|no\.\s+of)\s+"
            r"(?:(?P<d>distinct|unique|different)\s+)?",
            lambda m: Marker(
                "agg", {"fn": "count", "distinct": bool(m["d"]), "total": "total" in m["p"]}
            ),
        )
        text = self._mark(
            text,
            r"\b(?:what\s+is\s+the\s+|the\s+)?(?P<f>total|sum\s+of|sum|average|avg|mean|minimum|min|"
            r"maximum|max)\s+(?:of\s+)?(?:the\s+)?",
            lambda m: Marker("agg", {"fn": AGGREGATES[m["f"].split()[0]], "distinct": False}),
        )
        return text

    def _count_cmp(self, m: re.Match[str]) -> Marker | None:
        w = singular(m["w"])
        if w in STOP_WORDS or w in DATEPARTS or w in HARMLESS_WORDS or m["w"] in NUMBER_WORDS:
            return None
        prev = re.search(r"([a-z]+)\s*$", m.string[: m.start()])
        if prev is not None:  # "day 100 pasi score" is day100_pasi_score: the number is a name
            glued = prev[1] + m["n"]
            if any(
                glued in c.compact or glued in c.name.lower()
                for t in self.schema.tables
                for c in t.cols
            ):
                return None
        hits = self.schema.lookup((w,))
        best = max((h[2] for h in hits), default=0.0)
        if any(h[0] == "table" and h[2] >= best for h in hits):
            return None  # "customers with 2 orders": a count of rows, not a column
        cols = [h[1] for h in hits if h[0] == "col" and h[2] >= best - 0.01]
        if not cols or not all(c.kind in ("int", "num") and not is_key(c) for c in cols):
            return None
        return Marker("cmp", {"op": "eq", "value": float(m["n"]), "after": True})


def row_count(text: str | None) -> int:
    n = number(text or "") or 10
    return max(1, min(int(n), 100_000))
