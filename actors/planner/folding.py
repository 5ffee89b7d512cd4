"""Folded names split with the catalog's own words (`sbdailyprice` -> sb daily price).

Names the server folded to lower case are split with the catalog's own words: a prefix most
tables of a schema share (`sb` of `sbcustomer`), a prefix all columns of a table share (`cust` of
`sbcustname`), and words seen apart elsewhere in names, comments and enum values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from operator import attrgetter

from actors.planner.terms import ABBREVIATIONS, STOPWORDS, question_terms
from actors.planner.words import common_prefix, singular, split_identifier
from protocol.messages import CatalogTable

# short words a folded name may be made of (`sbtxid` -> sb tx id, `isactive` -> is active)
_SHORT_PARTS = frozenset(
    {"id", "no", "tx", "dt", "ts", "is", "ms", "pk", "fk"}
    | {a for abbrevs in ABBREVIATIONS.values() for a in abbrevs if len(a) == 2}
)


_NAME, _COMMENT, _ENUM_VALUES = attrgetter("name"), attrgetter("comment"), attrgetter("enum_values")


_MIN_FOLDED = 5  # shorter single words are never split


_MAX_FOLDED = 40


def segment(
    word: str, known: set[str] | frozenset[str], *, exclude: str = ""
) -> tuple[str, ...] | None:
    """`dailyprice` -> (daily, price) when every part is a known word (plurals folded), with as
    few parts as possible; None when the word cannot be covered (it stays one word)."""
    n = len(word)
    if n < _MIN_FOLDED or n > _MAX_FOLDED:
        return None
    # best[k]: fewest parts covering word[:k], and where the last part starts
    best: list[tuple[int, int]] = [(0, 0)] + [(n + 1, -1)] * n
    for end in range(2, n + 1):
        for start in range(max(0, end - 24), end - 1):
            if best[start][0] > n:
                continue
            piece = word[start:end]
            if piece == exclude:
                continue
            if (
                piece in known
                or piece in _SHORT_PARTS
                or (piece[-1] == "s" and len(piece) > 3 and piece[:-1] in known)
            ) and best[start][0] + 1 < best[end][0]:
                best[end] = (best[start][0] + 1, start)
    if best[n][0] < 2 or best[n][0] > n:
        return None
    parts: list[str] = []
    end = n
    while end > 0:
        start = best[end][1]
        parts.append(singular(word[start:end]))
        end = start
    return tuple(parts[::-1])


def schema_prefix(names: Sequence[str], known: set[str], own: set[str] | None = None) -> str:
    """A short prefix most table names of a schema fold into their first word and no known word
    begins with (`sb` of `sbcustomer`, `sbticker`, ...), or "". Words of the schema's own names
    (`own`) may begin with it."""
    if len(names) < 3:
        return ""
    firsts = [(split_identifier(n) or ("",))[0] for n in names]
    for size in (4, 3, 2):
        counts: dict[str, int] = defaultdict(int)
        for w in firsts:
            if len(w) > size + 2 and w[:size].isalpha():
                counts[w[:size]] += 1
        if not counts:
            continue
        p, c = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if c < 0.75 * len(names) or p in known:
            continue
        mine = own or set()
        if any(w.startswith(p) for w in known if len(w) > size and w not in mine):
            continue  # `ord` of orderitems / orderlines begins a word: not a prefix
        return p
    return ""


class Folding:
    """The catalog's vocabulary and each schema's folded prefix; splits folded names."""

    def __init__(self, tables: Sequence[CatalogTable], by_schema: dict[str, list[int]]) -> None:
        """The catalog's vocabulary (words seen apart: in `snake_case`/`camelCase` names, comments,
        enum values, single-word table names) and each schema's common folded prefix."""
        known: set[str] = {w for w in ABBREVIATIONS if len(w) >= 3}
        known.update(a for abbrevs in ABBREVIATIONS.values() for a in abbrevs if len(a) >= 3)

        def learn(terms: Iterable[str]) -> None:
            for w in terms:
                if len(w) >= 3 and (len(w) >= 4 or w not in STOPWORDS):
                    known.add(w)

        strong: set[str] = set()  # words seen apart, never split themselves
        idents: dict[str, set[str]] = defaultdict(set)  # schema -> its distinct names
        for t in tables:
            names = idents[t.schema]
            names.add(t.name)
            names.update(map(_NAME, t.columns))
            if t.comment:
                strong.update(question_terms(t.comment))
            if any(map(_COMMENT, t.columns)) or any(map(_ENUM_VALUES, t.columns)):
                for c in t.columns:
                    if c.comment:
                        strong.update(question_terms(c.comment))
                    for v in c.enum_values:
                        strong.update(split_identifier(v))
        own: dict[str, set[str]] = {}  # schema -> the words apart in its names (`sbtickerdb2x`)
        for schema, names in idents.items():
            words = own[schema] = set()
            for ident in names:
                terms = split_identifier(ident)
                if len(terms) > 1:
                    words.update(terms)
            strong |= words
        learn(strong)
        self.strong = {w for w in strong if len(w) >= 3}
        self.prefix: dict[str, str] = {}
        for schema, idxs in by_schema.items():
            p = schema_prefix([tables[i].name for i in idxs], known, own[schema])
            if p:
                self.prefix[schema] = p
        # single-word table names are words, and so is what is left of them after the prefix
        # (`sbticker` -> ticker) unless the rest is made of known words (`sbdailyprice`)
        singles: list[str] = []
        for t in tables:
            terms = split_identifier(t.name)
            if len(terms) == 1:
                word, p = terms[0], self.prefix.get(t.schema, "")
                if p and word.startswith(p) and len(word) > len(p) + 2:
                    word = word[len(p) :]
                singles.append(word)
        learn(w for w in singles if w in known or segment(w, known) is None)
        self.known = known
        self.folded: dict[str, tuple[str, ...] | None] = {}

    def fold(self, word: str) -> tuple[str, ...]:
        if word in self.strong:
            return (word,)
        if word not in self.folded:
            self.folded[word] = segment(word, self.known, exclude=word)
        return self.folded[word] or (word,)

    def words(self, ident: str, sp: str, tp: str) -> tuple[tuple[str, ...], str]:
        """The words of an identifier (its schema prefix left out) and, when they come from
        splitting one folded word, that word: `sbcustname` -> ((cust, name), "sbcustname")."""
        terms = split_identifier(ident)
        if len(terms) != 1:
            if sp and terms and terms[0] == sp and len(terms) > 1:
                return terms[1:], ""
            return terms, ""
        word = terms[0]
        rest = word
        if sp and rest.startswith(sp) and len(rest) > len(sp) + 1:
            rest = rest[len(sp) :]
        head: tuple[str, ...] = ()
        if tp and rest.startswith(tp) and len(rest) > len(tp) + 1:
            head, rest = (tp,), rest[len(tp) :]
        words = (*head, *self.fold(rest))
        return (words, word) if words != (word,) else (words, "")

    def table_prefix(self, t: CatalogTable, sp: str) -> str:
        """What every folded column name of a table begins with after the schema prefix (`cust`
        of `sbcustid`, `sbcustname`, ...), when it is a word or the schema has a prefix."""
        if len(t.columns) < 2 or not all(c.name.isalnum() and c.name.islower() for c in t.columns):
            return ""
        lows = [c.name.lower() for c in t.columns]
        if sp:
            if not all(w.startswith(sp) for w in lows):
                return ""
            lows = [w[len(sp) :] for w in lows]
        tp = common_prefix(lows)
        if len(tp) < 2 or not tp.isalpha() or sum(len(w) > len(tp) + 1 for w in lows) < 2:
            return ""
        if sp or tp in self.known or tp in _SHORT_PARTS:
            return tp
        return ""
