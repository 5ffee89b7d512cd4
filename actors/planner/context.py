"""context: which part of the schema the model sees for a question (pure, no I/O).

Receives: nothing (a library of the planner actor).  Replies: nothing.
Restart: not an actor.  Resources: none; a SchemaIndex is built once per catalog fingerprint.

The planner never sends a whole 3,000-table catalog to a model. `SchemaIndex(catalog)` tokenises
every identifier once (`sbTxAmount` -> sb tx amount, `order_items` -> order item, plurals folded).
Names the server folded to lower case are split with the catalog's own words: a prefix most
tables of a schema share (`sb` of `sbcustomer`), a prefix all columns of a table share (`cust` of
`sbcustname`), and words seen apart elsewhere in names, comments and enum values (`sbdailyprice`
-> daily price). `index.select(question, budget=...)` then:

1. sends everything, in catalog order, when the whole schema fits the token budget;
2. otherwise scores each table against the question's terms (idf-weighted matches on the table
   name, column names, enum values and comments, with a few abbreviations, prefix matches and,
   failing those, folded words that contain the term; a table the question names exactly beats
   `customer_2020`; tables of the schema that covers the question best gain), keeps the best
   ones, adds the tables on the foreign-key paths that join them (or, without foreign keys, a
   table with columns named like both tables' keys: `writes(aid, pid)`), then, when the catalog
   has several schemas, the other good matches and tables of the best matches' schema (all of
   a small one), then the other matches and direct neighbours, and fills the budget in that
   order.

Rendering is one line per table::

    orders(id int PK, customer_id int ->customers.id, status order_status{new|paid},
           total numeric(12,2) [in cents]) -- Customer orders; ~12k rows

Names are schema-qualified when the catalog spans more than one schema (or its only schema is not
on the search_path). Tokens are estimated as characters / 4 (no tokenizer dependency).

Words come from words.py (the model the offline planner uses too), question terms from
terms.py, the splitting of folded names from folding.py, the rendering from schema_text.py.
"""

from __future__ import annotations

import gc
import math
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from actors.planner.folding import Folding
from actors.planner.schema_text import describe_table, qualified_name, render_table, trim
from actors.planner.terms import ABBREVIATIONS, question_terms
from actors.planner.words import split_identifier
from protocol.messages import Catalog, CatalogTable, Turn

DEFAULT_BUDGET = 4000
MAX_COLUMNS_RANKED = 30  # a wide table shows its keys and matching columns first, then "+N more"
MAX_MISSES = 25  # stop filling the budget after this many tables in a row did not fit
CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters per token."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# -- words ----------------------------------------------------------------------------------------


# -- splitting folded names with the catalog's own words -------------------------------------------


# -- rendering ------------------------------------------------------------------------------------


# -- the index ------------------------------------------------------------------------------------

# weights of where a term was found in a table
W_NAME, W_COLUMN, W_ENUM, W_COMMENT, W_COLUMN_COMMENT, W_SCHEMA = 3.0, 2.0, 1.5, 1.0, 0.7, 0.5
PREFIX_FACTOR, SYNONYM_FACTOR, SUBSTRING_FACTOR = 0.6, 0.8, 0.45
COHERENCE = 0.5  # a match in the schema that best covers the question gains up to this share
COHERENCE_POWER = 8
W_EXACT = 2.0  # of the idf, for a table the question names (shared among the name's words)
HOME_SHARE = 0.6  # a second schema is "home" too when its anchors weigh this share of the first
HOME_MIN = 0.5  # of the best score, for a match of a home schema to go before other matches
MAX_SCHEMA_FILL = 50  # a home schema up to this size is shown whole when the budget allows
NEIGHBOUR_BONUS = (0.6, 0.3, 0.3)  # of its own score, for a match joined to the 1st/2nd/3rd best


@dataclass
class ContextTable:
    """A table in the context: what was shown and why."""

    schema: str
    name: str
    columns: list[str]
    score: float = 0.0
    reason: str = "match"  # match | join path | same schema | neighbour | recent | whole schema


@dataclass
class SchemaContext:
    """What the model gets: the text, the tables in it, its estimated size."""

    text: str
    tables: list[ContextTable]
    tokens: int
    budget: int
    whole: bool
    total_tables: int
    qualified: bool

    def to_json(self) -> dict[str, object]:
        return {
            "tables": [
                {"schema": t.schema, "name": t.name, "columns": t.columns} for t in self.tables
            ],
            "tokens": self.tokens,
            "budget": self.budget,
            "whole": self.whole,
            "total_tables": self.total_tables,
            "text": self.text,
        }


@dataclass
class _Entry:
    table: CatalogTable
    key: str  # schema.name
    name_terms: tuple[str, ...]
    line: str = ""  # full rendering, made lazily
    col_terms: list[tuple[str, ...]] = field(default_factory=list)
    name_len: int = 1  # pieces of the name for "how much of it the question names" (digits: +1)
    name_whole: str = ""  # the folded name the words were split from (`sbcustomer`)
    keys: frozenset[str] = frozenset()  # lower-case names other tables would join it by


class SchemaIndex:
    """The catalog, tokenised once: build one per catalog fingerprint and reuse it."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        tables = catalog.tables
        schemas = {t.schema for t in tables}
        on_path = set(catalog.search_path) or {"public"}
        self.qualified = len(schemas) > 1 or bool(schemas - on_path)
        self.entries: list[_Entry] = []
        self.by_key: dict[str, int] = {}
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.by_schema: dict[str, list[int]] = defaultdict(list)
        # term -> {table index: best weight}
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        # term -> {table index: [column positions]}
        self.col_hits: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        # (schema, id-like column name) -> tables having it, to find junction tables without FKs
        self.id_columns: dict[tuple[str, str], set[int]] = defaultdict(set)

        def post(term: str, i: int, w: float) -> None:
            p = postings[term]
            if p.get(i, 0.0) < w:
                p[i] = w

        gc_was_enabled = gc.isenabled()
        gc.disable()  # a build allocates many small containers and frees none of them
        try:
            for i, t in enumerate(tables):
                self.by_schema[t.schema].append(i)
            self.folding = Folding(tables, self.by_schema)
            # (schema prefix, table prefix) -> column name -> (its words, its lower case if id-like)
            col_words: dict[tuple[str, str], dict[str, tuple[tuple[str, ...], str]]] = defaultdict(
                dict
            )
            self._min_chars = 0  # a lower bound of the whole rendering, to skip it when hopeless
            for i, t in enumerate(tables):
                self._index_table(i, t, post, col_words)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.postings = dict(postings)
        n = max(1, len(tables))
        self.idf = {term: math.log(1.0 + n / len(p)) for term, p in self.postings.items()}
        self._vocab_by_prefix: dict[str, list[str]] | None = None
        self._long_terms: list[str] | None = None
        # undirected FK graph between table indexes
        self.graph: dict[int, set[int]] = defaultdict(set)
        for i, t in enumerate(tables):
            for fk in t.foreign_keys:
                j = self.by_key.get(f"{fk.ref_schema}.{fk.ref_table}".lower())
                if j is not None and j != i:
                    self.graph[i].add(j)
                    self.graph[j].add(i)
        self._whole_chars: int | None = None

    def _index_table(
        self,
        i: int,
        t: CatalogTable,
        post: Callable[[str, int, float], None],
        col_words: dict[tuple[str, str], dict[str, tuple[tuple[str, ...], str]]],
    ) -> None:
        """Post the terms of table i: its name, schema, comment, and each column's words."""
        self._min_chars += len(t.name) + 3 + sum(len(c.name) + 4 for c in t.columns)
        sp = self.folding.prefix.get(t.schema, "")
        words, whole = self.folding.words(t.name, sp, "")
        entry = _Entry(t, f"{t.schema}.{t.name}", words)
        entry.name_len = len(set(words)) + (1 if re.search(r"\d", t.name) else 0)
        entry.name_whole = whole
        self.entries.append(entry)
        self.by_key[entry.key.lower()] = i
        self.by_name[t.name.lower()].append(i)
        for term in words:
            post(term, i, W_NAME)
        if whole:
            post(whole, i, W_NAME)
        if sp:
            post(sp, i, W_SCHEMA)
        if t.schema not in ("public",):
            for term in split_identifier(t.schema):
                post(term, i, W_SCHEMA)
        if t.comment:
            for term in question_terms(t.comment):
                post(term, i, W_COMMENT)
        tp = self.folding.table_prefix(t, sp)
        words_of = col_words[(sp, tp)]
        for j, c in enumerate(t.columns):
            hit = words_of.get(c.name)
            if hit is None:
                terms, whole = self.folding.words(c.name, sp, tp)
                low = c.name.lower()
                hit = words_of[c.name] = (
                    (*terms, whole) if whole else terms,
                    low if low.endswith("id") else "",
                )
            terms, id_like = hit
            entry.col_terms.append(terms)
            if id_like:
                self.id_columns[(t.schema, id_like)].add(i)
            col_hits = self.col_hits
            for term in terms:
                post(term, i, W_COLUMN)
                col_hits[term][i].append(j)
            for v in c.enum_values:
                for term in split_identifier(v):
                    post(term, i, W_ENUM)
                    col_hits[term][i].append(j)
            if c.comment:
                for term in question_terms(c.comment):
                    post(term, i, W_COLUMN_COMMENT)
                    col_hits[term][i].append(j)
        entry.keys = self._keys(t)

    # -- folded names --

    @staticmethod
    def _keys(t: CatalogTable) -> frozenset[str]:
        """Column names another table would use to join this one: its key columns (or its id-like
        columns when it has no primary key), and `customer_id` / `customerid` for an `id` key."""
        keys = [c.lower() for c in t.primary_key] or [
            c.name.lower() for c in t.columns if c.name.lower().endswith("id")
        ]
        out = set(keys)
        if "id" in out:
            base = "_".join(split_identifier(t.name))
            if base:
                out.update({f"{base}_id", f"{base.replace('_', '')}id"})
        return frozenset(out)

    # -- lookups --
    def find(self, name: str) -> CatalogTable | None:
        """A table by `name` or `schema.name` (case-insensitive, quotes ignored)."""
        key = name.replace('"', "").strip().lower()
        if key in self.by_key:
            return self.entries[self.by_key[key]].table
        hits = self.by_name.get(key.rsplit(".", 1)[-1], [])
        if len(hits) >= 1:
            return self.entries[hits[0]].table
        return None

    def close_names(self, name: str, n: int = 3) -> list[str]:
        import difflib

        names = [e.key if self.qualified else e.table.name for e in self.entries]
        return difflib.get_close_matches(name, names, n=n, cutoff=0.6)

    def line(self, i: int) -> str:
        e = self.entries[i]
        if not e.line:
            e.line = render_table(e.table, qualified=self.qualified)
        return e.line

    def whole_chars(self, limit: int | None = None) -> int:
        """Characters of the whole rendering (a lower bound when that already exceeds `limit`)."""
        if limit is not None and self._whole_chars is None and self._min_chars > limit:
            return self._min_chars
        if self._whole_chars is None:
            self._whole_chars = sum(len(self.line(i)) + 1 for i in range(len(self.entries)))
        return self._whole_chars

    # -- ranking --
    def _expand(self, term: str) -> list[tuple[str, float]]:
        """The index terms a question term may mean: itself, abbreviations, prefixes, and
        (failing those) the folded words that contain it."""
        out: list[tuple[str, float]] = []
        if term in self.postings:
            out.append((term, 1.0))
        for alt in ABBREVIATIONS.get(term, ()):
            if alt in self.postings:
                out.append((alt, SYNONYM_FACTOR))
        for full, abbrevs in ABBREVIATIONS.items():
            if term in abbrevs and full in self.postings:
                out.append((full, SYNONYM_FACTOR))
        if not out and len(term) >= 4:
            for cand in self._prefix_candidates(term):
                out.append((cand, PREFIX_FACTOR))
            if not out:
                for cand in self._substring_candidates(term):
                    out.append((cand, SUBSTRING_FACTOR))
        return out

    def _prefix_candidates(self, term: str) -> list[str]:
        if self._vocab_by_prefix is None:
            vocab: dict[str, list[str]] = defaultdict(list)
            for t in self.postings:
                if len(t) >= 4:
                    vocab[t[:4]].append(t)
            self._vocab_by_prefix = dict(vocab)
        return [
            v
            for v in self._vocab_by_prefix.get(term[:4], ())
            if v != term and (v.startswith(term) or term.startswith(v))
        ][:8]

    def _substring_candidates(self, term: str) -> list[str]:
        """Folded index words holding the term (`customer` in `tblcustomerx`), at most 8."""
        if self._long_terms is None:
            self._long_terms = sorted(t for t in self.postings if len(t) >= 7)
        if len(term) < 4:
            return []
        return [v for v in self._long_terms if term in v and len(v) >= len(term) + 2][:8]

    def score(self, text: str, *, weight: float = 1.0) -> dict[int, float]:
        """Table index -> relevance of the tables to `text`."""
        scores: dict[int, float] = defaultdict(float)
        named_by: set[int] = set()  # tables a question word names
        # schema -> the best value of each term there, for how well a schema covers the question
        cover: dict[str, float] = defaultdict(float)
        entries = self.entries
        for term in question_terms(text):
            best: dict[int, float] = {}  # a term counts once per table, by its best reading
            named: dict[int, float] = {}  # the term names the table: "orders" names `orders`
            own_idf = self.idf.get(term)
            for cand, factor in self._expand(term):
                # "price" read as the rare `cost` is no rarer a word than "price" itself
                idf = self.idf[cand] if own_idf is None else min(own_idf, self.idf[cand])
                for i, w in self.postings[cand].items():
                    value = factor * idf * w
                    if value > best.get(i, 0.0):
                        best[i] = value
                    if w == W_NAME and factor == 1.0:
                        e = entries[i]
                        # better than `order_items`, `orders_2020` or `order_archive`
                        share = 1.0 if cand == e.name_whole else 1.0 / e.name_len
                        named[i] = max(named.get(i, 0.0), W_EXACT * idf * share)
            in_schema: dict[str, float] = {}
            named_by.update(named)
            for i, value in best.items():
                value += named.get(i, 0.0)
                scores[i] += weight * value
                sch = entries[i].table.schema
                if value > in_schema.get(sch, 0.0):
                    in_schema[sch] = value
            for sch, value in in_schema.items():
                cover[sch] += value
        # a match in the schema that covers the question best is likelier meant than a lookalike
        if len(self.by_schema) > 1 and cover:
            top_cover = max(cover.values())
            for i in scores:
                rel = cover[entries[i].table.schema] / top_cover
                if rel > 0.5:
                    scores[i] *= 1.0 + COHERENCE * rel**COHERENCE_POWER
        # a table the question names, joined to one of the best matches, is likelier meant than
        # a lookalike (a table that merely has an `order_id` is not)
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        bonus: dict[int, float] = {}
        for rank, (i, _s) in enumerate(best):
            for j in self.graph.get(i, ()):
                if j in named_by:
                    bonus[j] = max(bonus.get(j, 0.0), scores[j] * NEIGHBOUR_BONUS[rank])
        for j, b in bonus.items():
            scores[j] += b
        return scores

    def select(
        self,
        question: str,
        *,
        budget: int = DEFAULT_BUDGET,
        context_text: str = "",
        must_include: Iterable[str] = (),
        max_seeds: int = 8,
    ) -> SchemaContext:
        """The schema context for `question` within `budget` tokens.

        `context_text` (earlier questions) counts at half weight; `must_include` names tables
        the conversation already uses (they go first)."""
        whole = self._whole_schema(budget)
        if whole is not None:
            return whole
        scores, order = self._ranked(question, context_text, must_include, max_seeds)
        return self._fill(order, scores, question + " " + context_text, budget)

    def _whole_schema(self, budget: int) -> SchemaContext | None:
        """Every table, in catalog order, when the whole schema fits the budget."""
        n = len(self.entries)
        header_whole = f"-- PostgreSQL schema: all {n} tables/views"
        if (
            n
            and estimate_tokens(header_whole)
            + math.ceil(self.whole_chars(budget * 4) / CHARS_PER_TOKEN)
            <= budget
        ):
            lines = [self.line(i) for i in range(n)]
            text = "\n".join([header_whole, *lines])
            tables = [
                ContextTable(
                    e.table.schema,
                    e.table.name,
                    [c.name for c in e.table.columns],
                    0.0,
                    "whole schema",
                )
                for e in self.entries
            ]
            return SchemaContext(
                text, tables, estimate_tokens(text), budget, True, n, self.qualified
            )
        return None

    def _ranked(
        self, question: str, context_text: str, must_include: Iterable[str], max_seeds: int
    ) -> tuple[dict[int, float], list[tuple[int, str]]]:
        """The tables in the order they go into the context, each with why: the recent ones,
        the best matches, the join paths between them, their schema, the rest, the neighbours."""
        scores = self.score(question)
        if context_text:
            for i, s in self.score(context_text, weight=0.5).items():
                scores[i] += s
        order: list[tuple[int, str]] = []  # (table index, reason)
        seen: set[int] = set()

        def add(i: int, reason: str) -> None:
            if i not in seen:
                seen.add(i)
                order.append((i, reason))

        for name in must_include:
            t = self.find(name)
            if t is not None:
                add(self.by_key[f"{t.schema}.{t.name}".lower()], "recent")
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        top = ranked[0][1] if ranked else 0.0
        seeds = [i for i, s in ranked[:max_seeds] if s >= 0.35 * top]
        for i in seeds:
            add(i, "match")
        # foreign-key paths joining the seeds (and recent tables); failing one, a table holding
        # columns named like both tables' keys (`writes(aid, pid)` of `author` and `publication`)
        anchors = [i for i, _ in order]
        for a_pos, a in enumerate(anchors):
            for b in anchors[a_pos + 1 :]:
                if b in self.graph.get(a, ()):
                    continue
                path = self._path(a, b, max_edges=3)
                for mid in path or self._junctions(a, b):
                    add(mid, "join path")
        rest = [(i, s) for i, s in ranked[len(seeds) :] if s > 0]
        if len(self.by_schema) > 1:
            # the schema(s) of the anchors first: their other matches, then their other tables
            # (foreign-key neighbours first, all of a small schema), then the rest of the catalog
            home = self._home_schemas(anchors, scores)
            for i, s in rest:
                if s >= HOME_MIN * top and self.entries[i].table.schema in home:
                    add(i, "match")
            near = {j for i, _ in order for j in self.graph.get(i, ())}
            for schema in home:
                members = self.by_schema[schema]
                small = len(members) <= MAX_SCHEMA_FILL
                for j in sorted(members, key=lambda j: (j not in near, j)):
                    if small or j in near:
                        add(j, "same schema")
        for i, _s in rest:
            add(i, "match")
        neighbours = sorted(
            {j for i, _ in order[: max_seeds * 2] for j in self.graph.get(i, ())} - seen,
            key=lambda j: (-scores.get(j, 0.0), j),
        )
        for j in neighbours:
            add(j, "neighbour")
        return scores, order

    def _fill(
        self, order: list[tuple[int, str]], scores: dict[int, float], said: str, budget: int
    ) -> SchemaContext:
        """Render tables in `order` while they fit the budget (a too-wide best match shows its
        keys and matching columns only)."""
        n = len(self.entries)
        shown = sum(1 for _ in order)
        header = f"-- PostgreSQL schema: {{k}} of {n} tables, chosen for this question; call list_tables / describe_table for others"
        used = estimate_tokens(header.format(k=shown)) + 1
        lines: list[str] = []
        tables: list[ContextTable] = []
        terms = question_terms(said)
        misses = 0
        for i, reason in order:
            entry = self.entries[i]
            cols = self._columns_for(i, terms)
            line = (
                self.line(i)
                if cols is None
                else render_table(entry.table, qualified=self.qualified, columns=cols)
            )
            cost = estimate_tokens(line) + 1
            if used + cost > budget:
                if reason in ("match", "recent") and not lines:
                    # the best table alone is too wide: show its keys and matching columns only
                    cols = self._columns_for(i, terms, limit=8) or [
                        c.name for c in entry.table.columns[:8]
                    ]
                    line = render_table(entry.table, qualified=self.qualified, columns=cols)
                    cost = estimate_tokens(line) + 1
                    if used + cost > budget:
                        continue
                else:
                    misses += 1
                    if misses >= MAX_MISSES:  # the budget is as good as full
                        break
                    continue
            misses = 0
            used += cost
            lines.append(line)
            col_names = cols if cols is not None else [c.name for c in entry.table.columns]
            tables.append(
                ContextTable(
                    entry.table.schema,
                    entry.table.name,
                    list(col_names),
                    round(scores.get(i, 0.0), 3),
                    reason,
                )
            )
            if budget - used < 12:
                break
        text = "\n".join([header.format(k=len(lines)), *lines])
        return SchemaContext(text, tables, estimate_tokens(text), budget, False, n, self.qualified)

    def _columns_for(
        self, i: int, terms: Sequence[str], limit: int = MAX_COLUMNS_RANKED
    ) -> list[str] | None:
        """None (all columns) for a narrow table; else keys, matching columns, then the first."""
        t = self.entries[i].table
        if len(t.columns) <= limit:
            return None
        keep: dict[str, None] = {}
        for c in t.primary_key:
            keep[c] = None
        for fk in t.foreign_keys:
            for c in fk.columns:
                keep[c] = None
        for term in terms:
            for cand, _ in self._expand(term):
                for j in self.col_hits.get(cand, {}).get(i, ()):
                    keep[t.columns[j].name] = None
        for c in t.columns:
            if len(keep) >= limit:
                break
            keep[c.name] = None
        names = list(keep)[: max(limit, len(t.primary_key))]
        position = {c.name: k for k, c in enumerate(t.columns)}
        return sorted((n for n in names if n in position), key=position.__getitem__)

    def _home_schemas(self, anchors: Sequence[int], scores: dict[int, float]) -> list[str]:
        """The schemas of the anchor tables, strongest first: at most two, the second only when
        about as strong as the first."""
        weight: dict[str, float] = defaultdict(float)
        top = max(scores.values(), default=0.0) or 1.0
        for i in anchors:
            weight[self.entries[i].table.schema] += scores.get(i, 0.0) or top
        ranked = sorted(weight.items(), key=lambda kv: -kv[1])[:2]
        return [s for s, w in ranked if w >= HOME_SHARE * ranked[0][1]]

    def _junctions(self, a: int, b: int, limit: int = 2) -> list[int]:
        """Tables of a's schema with a column named like a key of a and another named like a key
        of b, narrowest first, when a and b do not join directly by column names."""
        ea, eb = self.entries[a], self.entries[b]
        schema = ea.table.schema
        if eb.table.schema != schema or not ea.keys or not eb.keys:
            return []
        if {c.name.lower() for c in ea.table.columns} & eb.keys or {
            c.name.lower() for c in eb.table.columns
        } & ea.keys:
            return []
        found: dict[int, None] = {}
        for ka in ea.keys:
            with_a = self.id_columns.get((schema, ka))
            if not with_a:
                continue
            for kb in eb.keys:
                with_b = self.id_columns.get((schema, kb)) if kb != ka else None
                if with_b:
                    found.update(dict.fromkeys(j for j in with_a & with_b if j not in (a, b)))
        return sorted(found, key=lambda j: (len(self.entries[j].table.columns), j))[:limit]

    def _path(self, a: int, b: int, *, max_edges: int) -> list[int]:
        """Intermediate tables of a shortest FK path from a to b (empty if none or direct)."""
        if b in self.graph.get(a, ()):
            return []
        prev: dict[int, int] = {a: a}
        frontier: deque[tuple[int, int]] = deque([(a, 0)])
        while frontier:
            node, depth = frontier.popleft()
            if depth >= max_edges:
                continue
            for nxt in self.graph.get(node, ()):
                if nxt in prev:
                    continue
                prev[nxt] = node
                if nxt == b:
                    path: list[int] = []
                    cur = prev[b]
                    while cur != a:
                        path.append(cur)
                        cur = prev[cur]
                    return path[::-1]
                frontier.append((nxt, depth + 1))
        return []

    # -- tools --
    def list_tables(self, pattern: str = "", limit: int = 200) -> str:
        """`name -- comment` lines for tables whose name or comment contains the pattern words."""
        terms = question_terms(pattern) if pattern else []
        if terms:
            scores = self.score(pattern)
            hits = [i for i, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
        else:
            hits = list(range(len(self.entries)))
        out = []
        for i in hits[:limit]:
            t = self.entries[i].table
            name = qualified_name(t, self.qualified)
            out.append(
                f"{name} ({len(t.columns)} columns)"
                + (f" -- {trim(t.comment, 60)}" if t.comment else "")
            )
        more = len(hits) - limit
        if more > 0:
            out.append(f"... and {more} more; pass a pattern to narrow the list")
        if not out:
            out.append("no table matches; call list_tables with no pattern to see them all")
        return "\n".join(out)

    def describe(self, name: str) -> str:
        t = self.find(name)
        if t is None:
            close = self.close_names(name)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            return f"There is no table named {name!r}.{hint}"
        return describe_table(t, qualified=self.qualified)


def select_context(
    catalog: Catalog | SchemaIndex, question: str, *, budget: int = DEFAULT_BUDGET, **kw: object
) -> SchemaContext:
    index = catalog if isinstance(catalog, SchemaIndex) else SchemaIndex(catalog)
    return index.select(question, budget=budget, **kw)  # type: ignore[arg-type]


_IDENT_IN_SQL = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


def tables_in_sql(index: SchemaIndex, sql: str) -> list[str]:
    """Names of catalog tables that a SQL text mentions (a cheap scan, no parser)."""
    found: dict[str, None] = {}
    words = [m.group(1) or m.group(2) for m in _IDENT_IN_SQL.finditer(sql)]
    k = 0
    while k < len(words):
        low = words[k].lower()
        if k + 1 < len(words) and f"{low}.{words[k + 1].lower()}" in index.by_key:
            found[f"{low}.{words[k + 1].lower()}"] = None
            k += 2
            continue
        if low in index.by_name:
            found[low] = None
        k += 1
    return list(found)


def context_for_question(
    index: SchemaIndex,
    question: str,
    *,
    budget: int = DEFAULT_BUDGET,
    recent: Sequence[Turn] = (),
    previous_sql: str = "",
) -> SchemaContext:
    """The context the planner sends: the tables of the last turns' SQL first, the last
    questions at half weight (so "now only for 2023" keeps the tables it refines)."""
    last = list(recent)[-3:]
    must: list[str] = []
    for turn in reversed(last):
        must.extend(t for t in tables_in_sql(index, turn.sql) if t not in must)
    if previous_sql:
        must.extend(t for t in tables_in_sql(index, previous_sql) if t not in must)
    earlier = " ".join(t.question for t in last)
    return index.select(question, budget=budget, context_text=earlier, must_include=must)
