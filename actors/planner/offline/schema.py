"""Stage 1, the schema: a catalog read once into tables, columns, words and join edges."""

from __future__ import annotations

import functools
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from actors.planner.offline.lexicon import ABBREVIATIONS, STOP_WORDS, SYNONYMS
from actors.planner.words import common_prefix, singular, split_words
from protocol.messages import Catalog, CatalogColumn, CatalogTable


@functools.lru_cache(maxsize=65536)
def normalized_words(name: str) -> tuple[str, ...]:
    return tuple(singular(ABBREVIATIONS.get(w, w)) for w in split_words(name))


@dataclass(eq=False)
class Column:
    """A column as the offline planner reads it: its words, its kind, its enum labels."""

    table: Table
    catalog_column: CatalogColumn
    name: str
    words: tuple[str, ...]  # normalized words of the name, the table's column prefix removed
    all_words: frozenset[str]  # every word that names it: raw, expanded, comment words
    compact: str  # words joined: "joindate" for sbCustJoinDate
    kind: str  # text | num | int | date | ts | bool | time | other
    enum: list[str]

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.name}"


@dataclass(eq=False)
class Table:
    """A table as the offline planner reads it: its words and columns, how it is named."""

    catalog_table: CatalogTable
    schema: str
    name: str
    words: tuple[str, ...]
    compact: str
    comment_words: frozenset[str]
    cols: list[Column] = field(default_factory=list)
    by_name: dict[str, Column] = field(default_factory=dict)
    qualify: bool = False
    col_prefix: str = ""
    table_prefix: str = ""

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}" if self.qualify else self.name

    @property
    def full(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, eq=False)
class Edge:
    """One way to join: walking from `source` to `target` on these columns."""

    source: Table
    source_cols: tuple[str, ...]
    target: Table
    target_cols: tuple[str, ...]
    # the source holds the reference: walking source -> target never multiplies source's rows
    source_refs_target: bool = True


def kind_of(type_name: str, enum: list[str]) -> str:
    t = type_name.lower()
    if enum:
        return "text"
    if t.startswith(("timestamp",)):
        return "ts"
    if t == "date":
        return "date"
    if t.startswith(("time", "interval")):
        return "time"
    if t in ("boolean", "bool"):
        return "bool"
    if t.startswith(("integer", "bigint", "smallint", "int")):
        return "int"
    if t.startswith(("numeric", "decimal", "real", "double", "money", "float")):
        return "num"
    if t.startswith(("character", "varchar", "text", "char", "citext", "name")):
        return "text"
    return "other"


def comment_words(text: str) -> frozenset[str]:
    return frozenset(
        singular(w)
        for w in re.findall(r"[a-z]+", text.lower())
        if w not in STOP_WORDS and len(w) > 2
    )


class Schema:
    """Everything offline_plan needs from a catalog, computed once per catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        on_path = set(catalog.search_path or ["public"])
        seen_names: dict[str, int] = {}
        for t in catalog.tables:
            seen_names[t.name] = seen_names.get(t.name, 0) + 1
        by_schema: dict[str, list[str]] = {}
        for t in catalog.tables:
            by_schema.setdefault(t.schema, []).append(t.name)
        # A prefix every table name of a schema shares ("sb" in sbCustomer, sbTicker ...) says
        # nothing about any one of them.
        prefixes = {}
        for schema, names in by_schema.items():
            p = common_prefix(names) if len(names) >= 3 else ""
            prefixes[schema] = (
                p if 2 <= len(p) <= 4 and all(len(n) - len(p) >= 3 for n in names) else ""
            )
        self.tables: list[Table] = []
        for t in catalog.tables:
            short = t.name[len(prefixes[t.schema]) :]
            words = normalized_words(short) or normalized_words(t.name)
            tab = Table(
                catalog_table=t,
                schema=t.schema,
                name=t.name,
                words=words,
                compact="".join(words),
                comment_words=comment_words(t.comment),
                qualify=t.schema not in on_path or seen_names[t.name] > 1,
                table_prefix=prefixes[t.schema],
            )
            names = [c.name for c in t.columns]
            cp = common_prefix(names) if len(names) >= 3 else ""
            if len(cp) < 2 or any(len(n) - len(cp) < 2 for n in names):
                cp = ""
            tab.col_prefix = cp
            # sbTxAmount: the prefix "sbTx" says the column belongs to transactions
            prefix_words = set(normalized_words(cp[len(tab.table_prefix) :])) if cp else set()
            for c in t.columns:
                short_c = c.name[len(cp) :]
                cw = normalized_words(short_c) or normalized_words(c.name)
                raw = set(split_words(c.name)) | set(normalized_words(c.name)) | set(cw)
                raw |= prefix_words
                col = Column(
                    table=tab,
                    catalog_column=c,
                    name=c.name,
                    words=cw,
                    all_words=frozenset(raw | comment_words(c.comment)),
                    compact="".join(cw),
                    kind=kind_of(c.type_name, c.enum_values),
                    enum=list(c.enum_values),
                )
                tab.cols.append(col)
                tab.by_name[c.name] = col
            self.tables.append(tab)
        self.by_full = {t.full: t for t in self.tables}
        self.has_fks = any(t.catalog_table.foreign_keys for t in self.tables)
        self.edges = self._edges()
        self.adj: dict[int, list[Edge]] = {}
        for e in self.edges:
            self.adj.setdefault(id(e.source), []).append(e)
            self.adj.setdefault(id(e.target), []).append(
                Edge(e.target, e.target_cols, e.source, e.source_cols, False)
            )
        self._word_cache: dict[str, list[tuple[str, Any, float]]] = {}

    # -- joins --

    def _edges(self) -> list[Edge]:
        out: list[Edge] = []
        if self.has_fks:
            for t in self.tables:
                for fk in t.catalog_table.foreign_keys:
                    ref = self.by_full.get(f"{fk.ref_schema or t.schema}.{fk.ref_table}")
                    if ref is not None:
                        out.append(Edge(t, tuple(fk.columns), ref, tuple(fk.ref_columns)))
            return out
        # No declared foreign keys: a column joins the one table that owns a key of that name
        # (customer_id -> customers.id / customers.customer_id; aid -> author.aid).
        owners: dict[str, list[tuple[Table, str]]] = {}
        for t in self.tables:
            for key in self._owned_keys(t):
                for form in self._key_forms_owner(t, key):
                    owners.setdefault(form, []).append((t, key))
        for t in self.tables:
            for col in t.cols:
                if col.kind not in ("int", "text", "num"):
                    continue
                targets: dict[int, tuple[Table, str]] = {}
                for form in self._key_forms_ref(t, col.name):
                    for owner, key in owners.get(form, []):
                        if owner is not t:
                            targets[id(owner)] = (owner, key)
                if len(targets) == 1:  # unambiguous only
                    owner, key = next(iter(targets.values()))
                    if t.catalog_table.primary_key == [
                        col.name
                    ] and owner.catalog_table.primary_key == [key]:
                        continue  # two tables sharing a key name: not a reference
                    out.append(Edge(t, (col.name,), owner, (key,)))
        return out

    @staticmethod
    def _owned_keys(t: Table) -> list[str]:
        keys = list(t.catalog_table.primary_key) if len(t.catalog_table.primary_key) == 1 else []
        stems = {t.compact, t.words[-1] if t.words else ""}
        for i, col in enumerate(t.cols):
            if col.name in keys:
                continue
            w = col.words
            if w and w[-1] == "id" and "".join(w[:-1]) in stems and col.name not in keys:
                keys.append(col.name)
            elif len(t.words) == 1 and col.compact == t.name[:1].lower() + "id":
                keys.append(col.name)  # academic's aid / pid / cid: first letter + id
            elif i == 0 and not t.catalog_table.primary_key and len(w) >= 2 and w[0] == t.compact:
                keys.append(col.name)  # state.state_name, city.city_name
        return keys

    def _key_forms_owner(self, t: Table, key: str) -> set[str]:
        col = t.by_name[key]
        forms = {key.lower(), "".join(normalized_words(key))}
        if t.table_prefix and key.lower().startswith(t.table_prefix.lower()):
            forms.add(key.lower()[len(t.table_prefix) :])  # sbCustId -> custid
        if col.words == ("id",):
            forms.add(t.compact + "id")
        return {f for f in forms if len(f) >= 3}

    def _key_forms_ref(self, t: Table, name: str) -> set[str]:
        col = t.by_name[name]
        forms = {name.lower(), "".join(normalized_words(name)), col.compact}
        return {f for f in forms if len(f) >= 3}

    def path(self, start: Table, goal: Table) -> list[Edge] | None:
        """Shortest join path from start to goal (BFS); None when not connected."""
        if start is goal:
            return []
        prev: dict[int, Edge | None] = {id(start): None}
        todo = deque([start])
        while todo:
            cur = todo.popleft()
            for e in self.adj.get(id(cur), []):
                if id(e.target) in prev:
                    continue
                prev[id(e.target)] = e
                if e.target is goal:
                    out = [e]
                    while (p := prev[id(out[-1].source)]) is not None:
                        out.append(p)
                    return out[::-1]
                todo.append(e.target)
        return None

    # -- word lookup --

    def lookup(self, phrase: tuple[str, ...]) -> list[tuple[str, Any, float]]:
        """Candidates a phrase of normalized words names: ("table"|"col", obj, score)."""
        key = " ".join(phrase)
        hit = self._word_cache.get(key)
        if hit is not None:
            return hit
        out = self._lookup(phrase)
        if not out and len(phrase) == 1:
            w = phrase[0]
            stems = (
                (w[:-3] + "e", w[:-3])
                if w.endswith("ing")
                else (w[:-2], w[:-1])
                if w.endswith("ed")
                else ()
            )
            tried = [self._lookup((x,)) for x in stems if len(x) >= 3]
            tried = [t for t in tried if t]
            if tried:  # the stem that names something best: "closing" -> close, "hired" -> hire
                out = max(tried, key=lambda hits: max(h[2] for h in hits))
        if not out and len(phrase) == 1:
            for syn in SYNONYMS.get(phrase[0], ()):
                out = [(k, o, s - 0.5) for k, o, s in self._lookup(tuple(syn.split()))]
                if out:
                    break
        self._word_cache[key] = out
        return out

    def _lookup(self, phrase: tuple[str, ...]) -> list[tuple[str, Any, float]]:
        compact = "".join(phrase)
        out: list[tuple[str, Any, float]] = []
        for t in self.tables:
            if t.words == phrase or t.compact == compact or singular(t.name.lower()) == compact:
                out.append(("table", t, 3.0))
            elif (
                len(phrase) == 1
                and len(t.words) > 1
                and phrase[0] in t.words
                and len(phrase[0]) > 2
            ):
                # "transactions" -> wallet_transactions_daily: above a column that merely
                # contains the word, below a column named exactly so
                out.append(("table", t, 2.2 if phrase[0] == t.words[-1] else 2.1))
            elif len(phrase) == 1 and phrase[0] in t.comment_words and len(phrase[0]) > 3:
                out.append(("table", t, 1.0))
            for col in t.cols:
                if col.words == phrase or col.compact == compact or col.name.lower() == compact:
                    out.append(("col", col, 3.0))
                elif len(phrase) == 1 and phrase[0] in col.all_words:
                    out.append(("col", col, 2.0))
                elif len(phrase) == 2 and len(col.words) >= 2 and set(phrase) <= set(col.all_words):
                    out.append(("col", col, 2.5))
                elif len(col.words) == 1 and len(compact) >= 4 and compact in col.compact:
                    out.append(("col", col, 1.5))  # "date" in "joindate"
        return out


SCHEMA_CACHE: dict[tuple[Any, ...], Schema] = {}


def schema_for(catalog: Catalog) -> Schema:
    key = (
        catalog.profile,
        catalog.database,
        catalog.fingerprint or id(catalog),
        len(catalog.tables),
    )
    cached = SCHEMA_CACHE.get(key)
    if cached is not None and (catalog.fingerprint or cached.catalog is catalog):
        return cached
    if len(SCHEMA_CACHE) > 16:
        SCHEMA_CACHE.clear()
    schema = Schema(catalog)
    SCHEMA_CACHE[key] = schema
    return schema
