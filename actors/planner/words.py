"""The planner's one English word model: identifiers split into words, plurals made singular.

Both readers of a question use it, so they agree on what a word is: the schema context
(context.py, which tables a model sees) and the offline planner (offline/, which column a word
names). Pure, cached, no I/O.

    split_words("sbCustName")        -> ("sb", "cust", "name")
    split_words("day7_tewl")         -> ("day", "7", "tewl")
    split_identifier("order_items")  -> ("order", "item")     singular, digits dropped
    singular("statuses")             -> "status"
    singular("people")               -> "person"

`singular` is a small rule set, not a dictionary: irregular plurals first, then the English
endings (-ies, -ches/-shes/-sses/-xes/-zes, -uses, -s). A word it cannot tell is left as it is
(`series`, `status`, `analysis`), so both sides of a match fold the same way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

# Plurals no ending rule gets right (and words that only look plural).
IRREGULAR = {
    "people": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "data": "data",
    "series": "series",
    "species": "species",
    "indices": "index",
    "analyses": "analysis",
    "diagnoses": "diagnosis",
    "theses": "thesis",
    "crises": "crisis",
    "excuses": "excuse",
    "abuses": "abuse",
    "fuses": "fuse",
    "movies": "movie",
    "cookies": "cookie",
}

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_ALNUM = re.compile(r"[A-Za-z0-9]+")


@functools.lru_cache(maxsize=100_000)
def singular(word: str) -> str:
    """The singular of an English noun, lower case: categories -> category, boxes -> box,
    statuses -> status, purchases -> purchase, people -> person; status, analysis stay."""
    w = word.lower()
    if w in IRREGULAR:
        return IRREGULAR[w]
    if len(w) <= 3 or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes", "zes")):
        return w[:-2]
    if w.endswith("uses") and len(w) > 4 and not w.endswith(("ouses", "auses")):
        return w[:-2]  # statuses, bonuses, buses (houses, causes: below)
    if w.endswith("s"):
        return w[:-1]
    return w


@functools.lru_cache(maxsize=65536)  # catalogs repeat names (id, status, created_at) a lot
def split_words(name: str) -> tuple[str, ...]:
    """The lower-case words of an identifier: camelCase, snake_case and digits apart.

    `sbCustName` -> (sb, cust, name); `crtd_ts` -> (crtd, ts); `day7tewl` -> (day, 7, tewl);
    `HTTPServer` -> (http, server). Characters other than ASCII letters and digits separate."""
    return tuple(piece.lower() for part in _ALNUM.findall(name) for piece in _CAMEL.findall(part))


@functools.lru_cache(maxsize=200_000)
def split_identifier(name: str) -> tuple[str, ...]:
    """The words of an identifier made singular, digits left out: `sbTxAmount` -> (sb, tx,
    amount); `order_items` -> (order, item)."""
    return tuple(singular(w) for w in split_words(name) if not w.isdigit())


def common_prefix(names: Sequence[str]) -> str:
    """The longest prefix all `names` share ("" for none)."""
    if not names:
        return ""
    lo, hi = min(names), max(names)
    n = 0
    while n < len(lo) and lo[n] == hi[n]:
        n += 1
    return lo[:n]
