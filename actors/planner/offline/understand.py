"""Stage 3, understand: the words left between the markers, matched against the catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from actors.planner.offline.columns import is_flag
from actors.planner.offline.lexicon import (
    CONTAINER_NOUNS,
    DATE_UNIT_ADJECTIVES,
    DATEPARTS,
    HARMLESS_WORDS,
    MONEY_WORDS,
    NEGATORS,
    NUMBER_WORDS,
    STOP_WORDS,
)
from actors.planner.offline.parse import Parser, number
from actors.planner.words import singular, split_words


@dataclass
class Mention:
    kind: str  # table | col | value | bool | money | datepart | number | unknown
    obj: Any
    words: tuple[str, ...]
    pos: int
    score: float = 0.0
    cands: list[Any] = field(default_factory=list)


def names_the_database(word: str, database: str) -> bool:
    """`word` names the database itself ("brokerage" in `broker`, "wallet" in `ewallet`),
    which narrows nothing: every row is in it."""
    if word in CONTAINER_NOUNS:
        return True
    if len(word) < 4:
        return False
    parts = split_words(database)  # defog_broker -> defog, broker
    names = {name for name in (*parts, "".join(parts)) if len(name) >= 4}
    return any(
        word == name or word.startswith(name) or (len(word) >= 5 and word in name) for name in names
    )


_TOKEN_RE = re.compile(r"§\d+|[a-z0-9$€£][a-z0-9_'’\-.@+/&]*")


_BOUNDARY = {
    "and",
    "or",
    "with",
    "where",
    "whose",
    "that",
    "which",
    "who",
    "in",
    "from",
    "for",
    "of",
    "on",
    "at",
    "to",
    "than",
    "is",
    "are",
    "was",
    "were",
    "has",
    "have",
    "having",
    "had",
    "their",
    "its",
}


@dataclass
class Token:
    text: str
    marker: int | None = None


def _clean_word(w: str) -> str:
    return w.strip("'’-.@+/&").replace("’", "'")


class Understanding:
    """The mentions of one question with the roles the markers gave them."""

    def __init__(self, parser: Parser, text: str) -> None:
        self.parser = parser
        self.schema = parser.schema
        toks: list[Token] = []
        for raw in _TOKEN_RE.findall(text):
            if raw.startswith("§"):
                toks.append(Token(raw, int(raw[1:])))
            else:
                w = _clean_word(raw)
                if w:
                    toks.append(Token(w))
        self.tokens = toks
        self.mentions: list[Mention] = []
        self._scan()

    def _scan(self) -> None:
        i = 0
        while i < len(self.tokens):
            tok = self.tokens[i]
            if tok.marker is not None:
                item = self.parser.items[tok.marker]
                self.mentions.append(Mention("marker", item, (), i))
                i += 1
                continue
            phrase = self._catalog_phrase(i)
            if phrase is not None:
                found, length = phrase
                self.mentions.append(found)
                i += length
                continue
            self.mentions.append(self._single_word(tok.text, i))
            i += 1

    def _catalog_phrase(self, i: int) -> tuple[Mention, int] | None:
        """The longest phrase at token i (4 words down to 1) that names a table, a column or a
        value, with its length in tokens."""
        toks, s, values = self.tokens, self.schema, self.parser.values
        found: Mention | None = None
        for n in (4, 3, 2, 1):
            gram = toks[i : i + n]
            if len(gram) < n or any(g.marker is not None for g in gram):
                continue
            raw = tuple(g.text for g in gram)
            low = " ".join(raw)
            vals = values.get(low)
            edge_stop = raw[0] in STOP_WORDS or raw[-1] in STOP_WORDS
            words = tuple(singular(w) for w in raw)
            if n == 1 and raw[0] in STOP_WORDS:
                hits = []
            elif edge_stop and n > 1:
                # "student records" names student_record, though 'records' alone is filler:
                # only a table named by exactly these words counts
                hits = [h for h in s.lookup(words) if h[0] == "table" and h[2] >= 3.0]
                hits = [h for h in hits if h[1].words == words]
            else:
                hits = s.lookup(words)
            table_hits = [h for h in hits if h[0] == "table" and h[2] >= 3.0]
            # a word that is part of a table's name ("transactions") is the table, even
            # when some column also holds it as a value (notifications.type 'transaction')
            partial = [h for h in hits if h[0] == "table" and h[2] >= 2.0]
            if table_hits:
                found = Mention("table", None, words, i, 3.0, table_hits)
            elif partial and max(h[2] for h in hits) <= max(h[2] for h in partial):
                found = Mention("table", vals, words, i, 2.0, sorted(hits, key=lambda h: -h[2]))
            elif vals and not (n == 1 and raw[0] in STOP_WORDS):
                found = Mention("value", hits, words, i, 2.5, list(vals))
            elif hits:
                best = max(h[2] for h in hits)
                if n > 1 and best < 2.5:
                    continue
                kind = "table" if any(h[0] == "table" and h[2] >= best for h in hits) else "col"
                found = Mention(
                    kind,
                    None,
                    words,
                    i,
                    best,
                    # weaker column hits stay as candidates: "active customers" is
                    # customers.is_active, though products.active matches the word better
                    [h for h in hits if h[2] >= best - 0.01 or (h[0] == "col" and h[2] >= 2.0)],
                )
            if found:
                found.words = words
                return found, n
        return None

    def _single_word(self, w: str, i: int) -> Mention:
        """A word that names nothing in the catalog: money, a date unit, a number, filler."""
        if w in MONEY_WORDS or singular(w) in MONEY_WORDS:
            found = Mention("money", None, (w,), i)
        elif w in DATE_UNIT_ADJECTIVES:
            found = Mention("datepart", DATE_UNIT_ADJECTIVES[w], (w,), i)
        elif singular(w) in DATEPARTS:
            found = Mention("datepart", singular(w), (w,), i)
        elif number(w) is not None and w not in NUMBER_WORDS:
            found = Mention("number", number(w), (w,), i)
        elif w in STOP_WORDS or w in NEGATORS:
            found = Mention("stop", None, (w,), i)
        elif w in HARMLESS_WORDS:
            found = Mention("harmless", None, (w,), i)
        elif neg := self._negated_bool(w):
            found = neg
        elif names_the_database(w, self.schema.catalog.database):
            found = Mention("harmless", None, (w,), i)
            self.parser.assumptions.append(
                f"'{w}' is taken to mean the whole database "
                f"({self.schema.catalog.database}), not a filter"
            )
        else:
            found = Mention("unknown", None, (w,), i)
        return found

    def _negated_bool(self, w: str) -> Mention | None:
        for pre in ("non-", "non", "un", "in"):
            if w.startswith(pre) and len(w) - len(pre) >= 4:
                hits = [
                    h
                    for h in self.schema.lookup((w[len(pre) :],))
                    if h[0] == "col" and is_flag(h[1])
                ]
                if hits:
                    return Mention("negbool", None, (w,), 0, 2.0, hits)
        return None

    def run_after(self, k: int) -> list[Mention]:
        """Content mentions right after position k (skipping articles), up to a boundary."""
        out: list[Mention] = []
        for m in self.mentions[k + 1 :]:
            if m.kind == "marker":
                break
            if m.kind == "stop":
                if m.words[0] in ("the", "a", "an", "of") and not out:
                    continue
                if m.words[0] in _BOUNDARY or out:
                    break
                continue
            if m.kind == "harmless" and not out:
                continue
            out.append(m)
        return out

    def run_before(self, k: int) -> list[Mention]:
        out: list[Mention] = []
        for m in reversed(self.mentions[:k]):
            if m.kind == "marker":
                break
            if m.kind == "stop":
                if (
                    m.words[0]
                    in (
                        "is",
                        "are",
                        "was",
                        "were",
                        "of",
                        "with",
                        "a",
                        "an",
                        "the",
                        "has",
                        "have",
                        "had",
                        "whose",
                        "where",
                        "that",
                    )
                    and not out
                ):
                    continue
                break
            if m.kind == "harmless" and not out:
                continue
            out.insert(0, m)
        return out
