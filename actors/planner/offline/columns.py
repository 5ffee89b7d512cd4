"""What a column is for: money, the row's date, a label, a key, a flag, a tally."""

from __future__ import annotations

import re

from actors.planner.offline.clarify import Unsure
from actors.planner.offline.lexicon import HINT_NOUNS
from actors.planner.offline.schema import Column, Table
from actors.planner.words import singular

_MONEY_RANK = (
    ("revenue", 5.0),
    ("total", 4.1),
    ("amount", 4.0),
    ("paid", 3.0),
    ("payment", 3.0),
    ("price", 3.0),
    ("value", 2.5),
    ("cost", 2.0),
    ("balance", 1.5),
    ("fare", 2.0),
)


_NOT_MONEY = {
    "id",
    "count",
    "quantity",
    "qty",
    "number",
    "tax",
    "discount",
    "rate",
    "percent",
    "limit",
    "min",
    "max",
    "score",
    "year",
    "credit",
}


def money_score(col: Column) -> float:
    if col.kind not in ("num", "int") or (col.words and col.words[-1] in _NOT_MONEY):
        return 0.0
    if col.kind == "int" and not (
        {"price", "amount", "total", "cost", "revenue", "fare"} & col.all_words
    ):
        return 0.0
    best = 0.0
    for word, score in _MONEY_RANK:
        if word in col.all_words:
            best = max(best, score)
    if best and col.kind == "num":
        best += 0.2
    if best and col.table.words and col.table.words[-1] in col.words:
        best += 0.3  # sales.sale_price over sales.other_price
    return best


def in_cents(col: Column) -> bool:
    """Money, whose average is shown to the cent: a money-like name or a numeric(p, 2)."""
    t = col.catalog_column.type_name.lower().replace(" ", "")
    return (
        money_score(col) > 0 or t == "money" or bool(re.fullmatch(r"(numeric|decimal)\(\d+,2\)", t))
    )


def date_score(col: Column) -> float:
    if col.kind not in ("date", "ts"):
        return 0.0
    w = set(col.words)
    # a row's "when" is its creation or its own event; these are later or side dates
    if w & {
        "updated",
        "modified",
        "deleted",
        "changed",
        "last",
        "expire",
        "expiry",
        "due",
        "termination",
        "read",
        "verified",
        "completed",
        "birth",
        "approval",
        "approved",
    }:
        return 0.5
    if set(col.table.words) & w:
        return 3.0  # sales.sale_date, orders.order_date, payments_made.payment_date
    if (
        w & {"created", "create", "creation", "placed", "ordered", "datetime", "timestamp"}
        or w == {"date"}
        or w == {"ts"}
    ):
        return 2.5 if w & {"created", "create", "creation"} else 2.7
    return 1.0  # start vs end and the like: equal, so the person is asked


def quiet_date_column(t: Table) -> Column | None:
    cols = sorted((c for c in t.cols if c.kind in ("date", "ts")), key=lambda c: -date_score(c))
    if len(cols) > 1 and date_score(cols[0]) - date_score(cols[1]) < 0.1:
        raise Unsure(f"Which date of {t.name} do you mean?", [c.label for c in cols[:2]])
    return cols[0] if cols else None


def label_columns(t: Table) -> list[Column]:
    """Columns that name a row of t for a person: name, title, first+last name, symbol ..."""
    for want in (("name",), ("title",), ("username",), ("user", "name")):
        for col in t.cols:
            if col.words == want and col.kind == "text":
                return [col]
    firsts = [
        c for c in t.cols if c.words in (("first", "name"), ("firstname",)) and c.kind == "text"
    ]
    lasts = [c for c in t.cols if c.words in (("last", "name"), ("lastname",)) and c.kind == "text"]
    if firsts and lasts:
        return [firsts[0], lasts[0]]
    named = [
        c
        for c in t.cols
        if c.kind == "text"
        and c.words
        and c.words[-1] in ("name", "title")
        and c.words[0] in t.words
    ]
    if len(named) == 1:
        return named
    named = [c for c in t.cols if c.kind == "text" and c.words and c.words[-1] in ("name", "title")]
    if len(named) == 1:
        return named
    for want in ("symbol", "code", "email"):
        for col in t.cols:
            if col.words and col.words[-1] == want and col.kind == "text":
                return [col]
    return [t.by_name[k] for k in t.catalog_table.primary_key if k in t.by_name]


def hint_stems(word: str) -> frozenset[str]:
    stems = {word, *HINT_NOUNS.get(word, ())}
    if word.endswith("ed") and len(word) > 4:
        stems |= {word[:-2], word[:-1]}
    return frozenset(x for x in stems if len(x) >= 3)


def hint_match(col: Column, stems: frozenset[str]) -> bool:
    if stems & col.all_words:
        return True
    return len(col.words) == 1 and any(len(x) >= 4 and col.compact.startswith(x) for x in stems)


_COUNT_WORDS = frozenset({"count", "number", "num", "quantity", "qty", "cnt", "total"})


def count_like(col: Column, word: str) -> bool:
    """An integer that counts things: `stops`, `num_beds`, `engine_count` ("no stops" = 0)."""
    if col.kind != "int" or col.words[-1:] == ("id",) or is_flag(col):
        return False
    if set(col.words) & (_COUNT_WORDS - {"total"}):
        return True
    name = col.name.lower()
    return word != singular(word) and name.endswith("s") and not name.endswith("ss")


def tally_columns(t: Table | None) -> list[Column]:
    """Columns that say how many things a row stands for: `count`, `quantity`, `num_visits`."""
    if t is None:
        return []
    return [
        c
        for c in t.cols
        if c.kind in ("int", "num")
        and not is_key(c)
        and c.words
        and c.words[-1] in ("count", "quantity", "qty", "cnt")
        and (len(c.words) == 1 or c.words[:-1] == t.words)  # not business.review_count
    ]


def is_key(col: Column) -> bool:
    """A key: the primary key, a foreign key, or a column named *id."""
    t = col.table.catalog_table
    return (
        col.words[-1:] == ("id",)
        or col.name in t.primary_key
        or any(col.name in fk.columns for fk in t.foreign_keys)
    )


def is_flag(col: Column) -> bool:
    """A yes/no column: boolean, or an integer named is_* / has_* (yelp's is_open)."""
    return col.kind == "bool" or (col.kind == "int" and col.words[:1] in (("is",), ("has",)))
