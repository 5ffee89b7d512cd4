"""Offline planner: deterministic English -> SQL for common question shapes, from the catalog.

Used when no model is configured or the model is unreachable. Pure: no I/O, no clock unless
`today` is omitted. It must work on any schema, so nothing here names a demo table; everything
is found through the catalog (table and column names split into words, comments, enum labels)
and the bounded index of distinct values of low-cardinality text columns that the executor
builds (`value_index_sql` / `parse_value_index`, only when privacy settings allow).

    offline_plan(question, catalog, *, recent=None, values=None, today=None)
        -> Plan(source="offline") | Clarification

It prefers asking to guessing: a content word it cannot place, two equally good tables or date
columns, or an ambiguous join all become a Clarification naming the options. It never raises.

How a read question is understood, in order:
  1. DDL / DBA intents by pattern (create / drop index, add column, explain, list tables).
  2. Phrases with fixed meaning are cut out of the text and replaced by markers: quoted values,
     time windows, limits and orderings, numeric comparisons, NULL tests, `by` / `per`
     groupings, aggregates.
  3. What is left is matched against the catalog, longest n-gram first: tables, columns,
     distinct values, boolean columns. Markers take their subject from neighbouring words.
     Negations are never dropped: "never <verb> <table>" / "without <table>" become NOT EXISTS
     along the key (a count of related rows = 0), "not yet delivered" an empty own date, and a
     'not' that nothing takes turns the whole question into a Clarification.
  4. The base table is chosen, the other tables are joined along the shortest foreign-key
     path (or matching key names when the database declares no foreign keys at all), and the
     SELECT is built with sqlglot's expression builder, so identifiers are quoted by the rules
     of PostgreSQL and every value is a literal.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlglot
from sqlglot import exp

from protocol.messages import Catalog, CatalogColumn, CatalogTable, Clarification, Plan, Turn

MODEL_HINT = (
    "configure a model ([model] model and base_url in config.toml, or PGASK_MODEL and "
    "PGASK_BASE_URL) for questions like this"
)

# PostgreSQL reserved key words (appendix C, "reserved" and "reserved (can be function or
# type)"): an identifier spelled like one of these must be quoted even when lower case.
_PG_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left
    like limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with""".split()
)

_SAFE_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def _ident(name: str) -> exp.Identifier:
    """An identifier that PostgreSQL reads back as exactly `name` (quoted only when needed)."""
    quoted = not _SAFE_IDENT.fullmatch(name) or name in _PG_RESERVED
    return exp.Identifier(this=name, quoted=quoted)


# -- words ------------------------------------------------------------------------------------

_IRREGULAR = {
    "people": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "data": "data",
    "series": "series",
    "indices": "index",
    "analyses": "analysis",
    "diagnoses": "diagnosis",
}


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


# Abbreviations seen in real identifiers (`sbTxAmount`, `crtd_ts`, `diag_id`), expanded on the
# catalog side only: a question says "transaction", the column says "tx".
_ABBREV = {
    "cust": "customer",
    "tx": "transaction",
    "txn": "transaction",
    "trx": "transaction",
    "amt": "amount",
    "qty": "quantity",
    "num": "number",
    "nbr": "number",
    "cnt": "count",
    "dt": "date",
    "ts": "timestamp",
    "crtd": "created",
    "addr": "address",
    "diag": "diagnosis",
    "doc": "doctor",
    "med": "medication",
    "ins": "insurance",
    "emp": "employee",
    "dept": "department",
    "mgr": "manager",
    "prod": "product",
    "acct": "account",
    "bal": "balance",
    "ccy": "currency",
    "usr": "user",
    "msg": "message",
    "desc": "description",
    "reg": "registration",
    "pct": "percent",
    "loc": "location",
    "tel": "phone",
    "yr": "year",
    "appr": "approval",
    "dos": "dose",
    "dob": "birth",
}

# Question-side synonyms, tried only when the word itself names nothing in the catalog.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "client": ("customer",),
    "buyer": ("customer",),
    "purchaser": ("customer",),
    "consumer": ("customer", "user"),
    "customer": ("client", "user"),
    "user": ("customer", "member"),
    "member": ("user", "customer"),
    "staff": ("employee", "salesperson"),
    "employee": ("staff", "salesperson"),
    "seller": ("salesperson", "vendor", "merchant"),
    "salesman": ("salesperson",),
    "saleswoman": ("salesperson",),
    "rep": ("salesperson",),
    "item": ("product",),
    "product": ("item",),
    "good": ("product",),
    "merchandise": ("product",),
    "vendor": ("supplier", "merchant"),
    "supplier": ("vendor",),
    "shop": ("merchant", "store"),
    "store": ("merchant", "shop"),
    "purchase": ("order", "sale", "transaction"),
    "order": ("sale", "purchase"),
    "sale": ("order", "transaction"),
    "trade": ("transaction",),
    "transaction": ("trade", "sale"),
    "town": ("city",),
    "nation": ("country",),
    "mail": ("email",),
    "telephone": ("phone",),
    "mobile": ("phone",),
    "cost": ("price",),
    "price": ("cost",),
    "kind": ("type", "category"),
    "type": ("kind", "category"),
    "category": ("type", "kind"),
    "zip": ("postal",),
    "postcode": ("postal", "zip"),
    "sex": ("gender",),
    "gender": ("sex",),
    "stock": ("ticker",),
    "ticker": ("symbol",),
    "symbol": ("ticker",),
    "car": ("vehicle",),
    "vehicle": ("car",),
    "physician": ("doctor",),
    "medicine": ("drug",),
    "paper": ("publication",),
    "publication": ("paper",),
    "article": ("publication", "paper"),
    "restaurant": ("business",),
    "signup": ("join", "registration", "created"),
}

# Words that name money: "total revenue", "sales by region", "average order value".
_MONEY_WORDS = frozenset(
    "revenue sale turnover income earning amount spend spending spent value money gmv payment "
    "paid worth".split()
)

_STOP = frozenset(
    """a an the of all me show list give get find display what which who whose is are was were
    be been being do does did have has had there their in on at for from to with and or that
    this these those every please can could would you i we our my us want need see tell
    how many much any some it its as than then rows row records record entries entry data info
    information details detail table tables where when also only just by per each across into
    out up named called whom them they he she his her both either within among let lets look
    return returned display displayed exist exists existing currently current currently so now
    here whats what's give me ones one""".split()
)

# Verbs and fillers that carry no filter: dropping them cannot change the answer.
_HARMLESS = frozenset(
    """placed made bought purchased sold happened occurred recorded logged done taken sent
    received created registered joined signed hired issued written booked got make come comes
    live lives living located based belong belongs published released reported ever happen
    total overall altogether together number count amount sorted ordered grouped broken down
    split listed shown value values distinct unique different""".split()
)

# Verb phrases that only say an event happened ("transactions that took place in March"):
# rewritten to a harmless word before the question is read.
_EVENT_PHRASES = re.compile(
    r"\b(?:took|take|takes|taking|taken|came|come|comes|coming) (?:place|out)\b", re.I
)

# "the highest number of citations" is "the most citations" (and the lowest, the fewest).
_MOST_NUMBER_OF = re.compile(
    r"\b(?:(highest|largest|greatest|biggest|most)|lowest|smallest|fewest|least) "
    r"(?:number|count|amount|total) of\b",
    re.I,
)


def _most_or_fewest(m: re.Match[str]) -> str:
    return "most" if m.group(1) else "fewest"


# "how many sales did each salesperson make": the verb at the end only says the rows belong to
# each one (left in, "make" would be read as cars.make). Read as "per salesperson", except that
# "each" may mean every salesperson, with 0 for those without sales: that is asked.
_EACH_VERB = re.compile(
    r"\b(?:did|do|does|has|have|had)\s+(?:each|every)\s+([a-z][a-z_ ]*?)\s+"
    r"(?:make|made|place|placed|write|wrote|written|receive|received|get|got|have|had|take|took|"
    r"taken|buy|bought|sell|sold|complete|completed|handle|handled|publish|published)\s*[?.!]*\s*$",
    re.I,
)

# Nouns for the data set as a whole ("how many authors are in the database"): no filter.
_CONTAINER_NOUNS = frozenset("database db dataset system".split())


def _names_the_database(word: str, database: str) -> bool:
    """`word` names the database itself ("brokerage" in `broker`, "wallet" in `ewallet`),
    which narrows nothing: every row is in it."""
    if word in _CONTAINER_NOUNS:
        return True
    if len(word) < 4:
        return False
    parts = _split_ident(database)  # defog_broker -> defog, broker
    names = {name for name in (*parts, "".join(parts)) if len(name) >= 4}
    return any(
        word == name or word.startswith(name) or (len(word) >= 5 and word in name) for name in names
    )


_NUM_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "hundred": 100,
    "dozen": 12,
}

_MONTHS = {
    name: i
    for i in range(1, 13)
    for name in (calendar.month_name[i].lower(), calendar.month_abbr[i].lower())
}
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))


_CAMEL1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_DIGITS = re.compile(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


@functools.lru_cache(maxsize=65536)  # catalogs repeat names (id, status, created_at) a lot
def _split_ident(name: str) -> tuple[str, ...]:
    """`sbCustName` -> [sb, cust, name]; `crtd_ts` -> [crtd, ts]; `day7_tewl` -> [day, 7, tewl]."""
    parts = _CAMEL1.sub(r"\1 \2", name)
    parts = _CAMEL2.sub(r"\1 \2", parts)
    parts = _DIGITS.sub(r"\1\3 \2\4", parts)
    return tuple(p for p in _NON_ALNUM.split(parts.lower()) if p)


@functools.lru_cache(maxsize=65536)
def _norm_ident_words(name: str) -> tuple[str, ...]:
    return tuple(_singular(_ABBREV.get(w, w)) for w in _split_ident(name))


def _common_prefix(names: Sequence[str]) -> str:
    if not names:
        return ""
    lo, hi = min(names), max(names)
    n = 0
    while n < len(lo) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


# -- the schema index -------------------------------------------------------------------------


@dataclass(eq=False)
class _Col:
    table: _Table
    c: CatalogColumn
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
class _Table:
    t: CatalogTable
    schema: str
    name: str
    words: tuple[str, ...]
    compact: str
    comment_words: frozenset[str]
    cols: list[_Col] = field(default_factory=list)
    by_name: dict[str, _Col] = field(default_factory=dict)
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
class _Edge:
    a: _Table
    a_cols: tuple[str, ...]
    b: _Table
    b_cols: tuple[str, ...]
    a_refs_b: bool = True  # a holds the reference: walking a -> b never multiplies a's rows


def _kind_of(type_name: str, enum: list[str]) -> str:
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


def _comment_words(text: str) -> frozenset[str]:
    return frozenset(
        _singular(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 2
    )


class _Schema:
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
            p = _common_prefix(names) if len(names) >= 3 else ""
            prefixes[schema] = (
                p if 2 <= len(p) <= 4 and all(len(n) - len(p) >= 3 for n in names) else ""
            )
        self.tables: list[_Table] = []
        for t in catalog.tables:
            short = t.name[len(prefixes[t.schema]) :]
            words = _norm_ident_words(short) or _norm_ident_words(t.name)
            tab = _Table(
                t=t,
                schema=t.schema,
                name=t.name,
                words=words,
                compact="".join(words),
                comment_words=_comment_words(t.comment),
                qualify=t.schema not in on_path or seen_names[t.name] > 1,
                table_prefix=prefixes[t.schema],
            )
            names = [c.name for c in t.columns]
            cp = _common_prefix(names) if len(names) >= 3 else ""
            if len(cp) < 2 or any(len(n) - len(cp) < 2 for n in names):
                cp = ""
            tab.col_prefix = cp
            # sbTxAmount: the prefix "sbTx" says the column belongs to transactions
            prefix_words = set(_norm_ident_words(cp[len(tab.table_prefix) :])) if cp else set()
            for c in t.columns:
                short_c = c.name[len(cp) :]
                cw = _norm_ident_words(short_c) or _norm_ident_words(c.name)
                raw = set(_split_ident(c.name)) | set(_norm_ident_words(c.name)) | set(cw)
                raw |= prefix_words
                col = _Col(
                    table=tab,
                    c=c,
                    name=c.name,
                    words=cw,
                    all_words=frozenset(raw | _comment_words(c.comment)),
                    compact="".join(cw),
                    kind=_kind_of(c.type_name, c.enum_values),
                    enum=list(c.enum_values),
                )
                tab.cols.append(col)
                tab.by_name[c.name] = col
            self.tables.append(tab)
        self.by_full = {t.full: t for t in self.tables}
        self.has_fks = any(t.t.foreign_keys for t in self.tables)
        self.edges = self._edges()
        self.adj: dict[int, list[_Edge]] = {}
        for e in self.edges:
            self.adj.setdefault(id(e.a), []).append(e)
            self.adj.setdefault(id(e.b), []).append(_Edge(e.b, e.b_cols, e.a, e.a_cols, False))
        self._word_cache: dict[str, list[tuple[str, Any, float]]] = {}

    # -- joins --

    def _edges(self) -> list[_Edge]:
        out: list[_Edge] = []
        if self.has_fks:
            for t in self.tables:
                for fk in t.t.foreign_keys:
                    ref = self.by_full.get(f"{fk.ref_schema or t.schema}.{fk.ref_table}")
                    if ref is not None:
                        out.append(_Edge(t, tuple(fk.columns), ref, tuple(fk.ref_columns)))
            return out
        # No declared foreign keys: a column joins the one table that owns a key of that name
        # (customer_id -> customers.id / customers.customer_id; aid -> author.aid).
        owners: dict[str, list[tuple[_Table, str]]] = {}
        for t in self.tables:
            for key in self._owned_keys(t):
                for form in self._key_forms_owner(t, key):
                    owners.setdefault(form, []).append((t, key))
        for t in self.tables:
            for col in t.cols:
                if col.kind not in ("int", "text", "num"):
                    continue
                targets: dict[int, tuple[_Table, str]] = {}
                for form in self._key_forms_ref(t, col.name):
                    for owner, key in owners.get(form, []):
                        if owner is not t:
                            targets[id(owner)] = (owner, key)
                if len(targets) == 1:  # unambiguous only
                    owner, key = next(iter(targets.values()))
                    if t.t.primary_key == [col.name] and owner.t.primary_key == [key]:
                        continue  # two tables sharing a key name: not a reference
                    out.append(_Edge(t, (col.name,), owner, (key,)))
        return out

    @staticmethod
    def _owned_keys(t: _Table) -> list[str]:
        keys = list(t.t.primary_key) if len(t.t.primary_key) == 1 else []
        stems = {t.compact, t.words[-1] if t.words else ""}
        for i, col in enumerate(t.cols):
            if col.name in keys:
                continue
            w = col.words
            if w and w[-1] == "id" and "".join(w[:-1]) in stems and col.name not in keys:
                keys.append(col.name)
            elif len(t.words) == 1 and col.compact == t.name[:1].lower() + "id":
                keys.append(col.name)  # academic's aid / pid / cid: first letter + id
            elif i == 0 and not t.t.primary_key and len(w) >= 2 and w[0] == t.compact:
                keys.append(col.name)  # state.state_name, city.city_name
        return keys

    def _key_forms_owner(self, t: _Table, key: str) -> set[str]:
        col = t.by_name[key]
        forms = {key.lower(), "".join(_norm_ident_words(key))}
        if t.table_prefix and key.lower().startswith(t.table_prefix.lower()):
            forms.add(key.lower()[len(t.table_prefix) :])  # sbCustId -> custid
        if col.words == ("id",):
            forms.add(t.compact + "id")
        return {f for f in forms if len(f) >= 3}

    def _key_forms_ref(self, t: _Table, name: str) -> set[str]:
        col = t.by_name[name]
        forms = {name.lower(), "".join(_norm_ident_words(name)), col.compact}
        return {f for f in forms if len(f) >= 3}

    def path(self, start: _Table, goal: _Table) -> list[_Edge] | None:
        """Shortest join path from start to goal (BFS); None when not connected."""
        if start is goal:
            return []
        prev: dict[int, _Edge | None] = {id(start): None}
        todo = deque([start])
        while todo:
            cur = todo.popleft()
            for e in self.adj.get(id(cur), []):
                if id(e.b) in prev:
                    continue
                prev[id(e.b)] = e
                if e.b is goal:
                    out = [e]
                    while (p := prev[id(out[-1].a)]) is not None:
                        out.append(p)
                    return out[::-1]
                todo.append(e.b)
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
            for syn in _SYNONYMS.get(phrase[0], ()):
                out = [(k, o, s - 0.5) for k, o, s in self._lookup(tuple(syn.split()))]
                if out:
                    break
        self._word_cache[key] = out
        return out

    def _lookup(self, phrase: tuple[str, ...]) -> list[tuple[str, Any, float]]:
        compact = "".join(phrase)
        out: list[tuple[str, Any, float]] = []
        for t in self.tables:
            if t.words == phrase or t.compact == compact or _singular(t.name.lower()) == compact:
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


_SCHEMA_CACHE: dict[tuple[Any, ...], _Schema] = {}


def _schema_for(catalog: Catalog) -> _Schema:
    key = (
        catalog.profile,
        catalog.database,
        catalog.fingerprint or id(catalog),
        len(catalog.tables),
    )
    cached = _SCHEMA_CACHE.get(key)
    if cached is not None and (catalog.fingerprint or cached.catalog is catalog):
        return cached
    if len(_SCHEMA_CACHE) > 16:
        _SCHEMA_CACHE.clear()
    schema = _Schema(catalog)
    _SCHEMA_CACHE[key] = schema
    return schema


# -- value index --------------------------------------------------------------------------------

_SKIP_VALUE_COLS = re.compile(
    r"(^|_)(e?mail|phone|tel|address|addr|street|password|passwd|hash|token|secret|key|api|"
    r"url|uri|ip|ssn|iban|card|description|desc|comment|note|notes|text|body|message|uuid|guid)"
    r"($|_)|id$",
    re.IGNORECASE,
)


def value_index_sql(
    catalog: Catalog, max_distinct: int = 50, sample_rows: int = 10_000
) -> list[str]:
    """Read-only queries whose rows feed `parse_value_index`: one per table with text columns.

    Each row is (schema, table, column, text[] of up to max_distinct+1 distinct values), read
    from at most `sample_rows` rows so a huge table costs a bounded scan. Columns whose names
    suggest personal or free text (email, phone, address, description, ...) and enum columns
    (their labels are in the catalog already) are left out. Run these only when the profile's
    privacy settings allow sampling values.
    """
    out: list[str] = []
    for t in catalog.tables:
        if t.kind not in ("table", "view", "matview", "partitioned"):
            continue
        cols = [
            c
            for c in t.columns
            if _kind_of(c.type_name, c.enum_values) == "text"
            and not c.enum_values
            and not _SKIP_VALUE_COLS.search(_camel_to_snake(c.name))
        ]
        if not cols:
            continue
        table = exp.Table(this=_ident(t.name), db=_ident(t.schema))
        parts = []
        for c in cols:
            inner = (
                sqlglot.select(exp.Column(this=_ident(c.name)).as_("v"))
                .from_(table.copy())
                .where(
                    exp.Not(
                        this=exp.Is(this=exp.Column(this=_ident(c.name)), expression=exp.Null())
                    )
                )
                .limit(sample_rows)
                .subquery("s")
            )
            distinct = (
                sqlglot.select(exp.Cast(this=exp.column("v"), to=exp.DataType.build("text")))
                .distinct()
                .from_(inner)
                .limit(max_distinct + 1)
            )
            parts.append(
                sqlglot.select(
                    exp.Literal.string(t.schema).as_("schema_name"),
                    exp.Literal.string(t.name).as_("table_name"),
                    exp.Literal.string(c.name).as_("column_name"),
                    exp.Anonymous(this="ARRAY", expressions=[distinct]).as_("vals"),
                )
            )
        query: exp.Expression = parts[0]
        for p in parts[1:]:
            query = exp.union(query, p, distinct=False)
        out.append(query.sql(dialect="postgres"))
    return out


def _camel_to_snake(name: str) -> str:
    return "_".join(_split_ident(name))


def parse_value_index(
    rows: Iterable[Sequence[Any]], max_distinct: int = 50
) -> dict[tuple[str, str, str], list[str]]:
    """Rows of the `value_index_sql` queries -> {(schema, table, column): values}.

    Columns with more than `max_distinct` values are dropped: they are not categories.
    """
    out: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        schema, table, column, vals = row[0], row[1], row[2], list(row[3] or [])
        if 0 < len(vals) <= max_distinct:
            out[(str(schema), str(table), str(column))] = [str(v) for v in vals if v is not None]
    return out


# -- time windows -----------------------------------------------------------------------------


@dataclass
class _Window:
    start: dt.date | None
    end: dt.date | None  # exclusive
    label: str
    year_only: int | None = None  # "in 2023": a plain integer `year` column can take it


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.month - 1 + n
    return dt.date(d.year + m // 12, m % 12 + 1, 1)


def _parse_date(text: str, today: dt.date) -> dt.date | None:
    text = text.strip().replace(",", " ")
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"\s+", " ", text)
    try:
        if m := re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            return dt.date(int(m[3]), int(m[1]), int(m[2]))  # US order, as most people type
        if m := re.fullmatch(rf"({_MONTH_RE}) (\d{{1,2}})(?: (\d{{4}}))?", text):
            return dt.date(int(m[3] or today.year), _MONTHS[m[1]], int(m[2]))
        if m := re.fullmatch(rf"(\d{{1,2}}) ({_MONTH_RE})(?: (\d{{4}}))?", text):
            return dt.date(int(m[3] or today.year), _MONTHS[m[2]], int(m[1]))
        if m := re.fullmatch(rf"({_MONTH_RE}) (\d{{4}})", text):
            return dt.date(int(m[2]), _MONTHS[m[1]], 1)
        if m := re.fullmatch(r"(\d{4})", text):
            return dt.date(int(m[1]), 1, 1)
    except ValueError:
        return None
    return None


_DATE_RE = (
    rf"(?:\d{{4}}[-/]\d{{1,2}}[-/]\d{{1,2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|"
    rf"(?:{_MONTH_RE})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH_RE})(?:,?\s+\d{{4}})?|(?:{_MONTH_RE})\s+\d{{4}}|\d{{4}})"
)
_UNIT_DAYS = {"day": 1, "week": 7}


def _relative_window(m: re.Match[str], today: dt.date) -> _Window | None:
    g = m.groupdict()
    tomorrow = today + dt.timedelta(days=1)
    if g.get("rel"):
        rel = "this" if g["rel"] in ("this", "current", "the current") else "last"
        unit = g["unit"]
        week0 = today - dt.timedelta(days=today.weekday())
        month0 = today.replace(day=1)
        q0 = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        year0 = dt.date(today.year, 1, 1)
        starts = {
            "week": (week0, week0 + dt.timedelta(days=7), week0 - dt.timedelta(days=7)),
            "month": (month0, _add_months(month0, 1), _add_months(month0, -1)),
            "quarter": (q0, _add_months(q0, 3), _add_months(q0, -3)),
            "year": (year0, dt.date(today.year + 1, 1, 1), dt.date(today.year - 1, 1, 1)),
        }
        cur, nxt, prev = starts[unit]
        if rel == "this":
            return _Window(cur, nxt, f"this {unit} ({cur} to {nxt - dt.timedelta(days=1)})")
        return _Window(prev, cur, f"last {unit} ({prev} to {cur - dt.timedelta(days=1)})")
    if g.get("n"):
        n = int(g["n"]) if g["n"].isdigit() else _NUM_WORDS.get(g["n"], 1)
        unit = g["nunit"]
        if unit in _UNIT_DAYS:
            start = today - dt.timedelta(days=n * _UNIT_DAYS[unit])
        elif unit == "month":
            first = _add_months(today.replace(day=1), -n)
            start = first.replace(
                day=min(today.day, calendar.monthrange(first.year, first.month)[1])
            )
        else:
            start = today.replace(year=today.year - n, day=min(today.day, 28))
        return _Window(start, tomorrow, f"the last {n} {unit}s (since {start})")
    word = g.get("day")
    if word == "today":
        return _Window(today, tomorrow, f"today ({today})")
    if word == "yesterday":
        y = today - dt.timedelta(days=1)
        return _Window(y, today, f"yesterday ({y})")
    if word in ("ytd", "year to date"):
        y0 = dt.date(today.year, 1, 1)
        return _Window(y0, tomorrow, f"year to date (since {y0})")
    if word in ("mtd", "month to date"):
        return _Window(
            today.replace(day=1), tomorrow, f"month to date (since {today.replace(day=1)})"
        )
    return None


# -- the parse --------------------------------------------------------------------------------


@dataclass
class _Item:
    kind: str  # value | window | limit | order | cmp | null | notnull | group | agg | sort
    data: dict[str, Any]


@dataclass
class _Mention:
    kind: str  # table | col | value | bool | money | datepart | number | unknown
    obj: Any
    words: tuple[str, ...]
    pos: int
    score: float = 0.0
    cands: list[Any] = field(default_factory=list)


class _Unsure(Exception):
    """Raised inside the planner to turn into a Clarification (never escapes offline_plan)."""

    def __init__(self, question: str, options: Sequence[str] = ()) -> None:
        super().__init__(question)
        self.question = question
        self.options = list(options)


_LEAD_RE = re.compile(
    r"^(?:(?:please|can you|could you|would you|kindly|i want to|i'd like to|i would like to|"
    r"let me|lets|let's)\s+)*(?:(?:show|list|give|get|find|display|fetch|return|tell|see|pull)"
    r"(?:\s+(?:me|us))?\s+)?",
    re.IGNORECASE,
)


def _number(text: str) -> float | None:
    t = text.replace(",", "").replace("$", "").replace("€", "").replace("£", "").strip()
    if t in _NUM_WORDS:
        return float(_NUM_WORDS[t])
    mult = 1.0
    if t.endswith("k"):
        mult, t = 1_000.0, t[:-1]
    elif t.endswith("m") and t[:-1].replace(".", "").isdigit():
        mult, t = 1_000_000.0, t[:-1]
    try:
        return float(t) * mult
    except ValueError:
        return None


_NUM = r"(?:[$€£]?\d[\d,]*(?:\.\d+)?[km]?|" + "|".join(_NUM_WORDS) + ")"

_CMP_OPS = [
    (r"more than|greater than|over|above|exceeding|bigger than|larger than|higher than|>", "gt"),
    (r"at least|no less than|minimum of|>=", "gte"),
    (r"less than|fewer than|under|below|lower than|smaller than|cheaper than|<", "lt"),
    (r"at most|no more than|maximum of|up to|<=", "lte"),
    (r"equal to|equals|exactly|=", "eq"),
]


class _Parser:
    """One question against one schema. State lives here; every method is deterministic."""

    def __init__(
        self,
        question: str,
        schema: _Schema,
        values: dict[tuple[str, str, str], list[str]] | None,
        today: dt.date,
    ) -> None:
        self.original = question
        self.s = schema
        self.today = today
        self.items: list[_Item] = []
        self.assumptions: list[str] = []
        self.values = self._value_map(values or {})

    def _value_map(
        self, values: dict[tuple[str, str, str], list[str]]
    ) -> dict[str, list[tuple[_Col, str]]]:
        out: dict[str, list[tuple[_Col, str]]] = {}
        for t in self.s.tables:
            for col in t.cols:
                for v in col.enum:
                    out.setdefault(v.lower().strip(), []).append((col, v))
        for (schema, table, column), vals in values.items():
            t = self.s.by_full.get(f"{schema}.{table}")
            col = t.by_name.get(column) if t else None
            if col is None:
                continue
            for v in vals:
                key = str(v).lower().strip()
                if key and (col, v) not in out.get(key, []):
                    out.setdefault(key, []).append((col, str(v)))
        return out

    # -- step 2: cut fixed phrases into markers --

    def _mark(self, text: str, pattern: str, make: Any) -> str:
        def repl(m: re.Match[str]) -> str:
            item = make(m)
            if item is None:
                return m.group(0)
            self.items.append(item)
            return f" §{len(self.items) - 1} "

        return re.sub(pattern, repl, text)

    def extract(self, text: str) -> str:
        today = self.today
        text = text.replace("§", " ")  # the marker sign is ours alone
        # quoted values keep their case
        text = self._mark(
            text,
            r"'([^']+)'|\"([^\"]+)\"|‘([^’]+)’|“([^”]+)”",
            lambda m: _Item("value", {"text": next(g for g in m.groups() if g is not None)}),
        )
        text = text.lower()
        text = re.sub(r"[?!;]+", " ", text)
        text = re.sub(r"(?<=\w)'s\b", "", text)
        text = re.sub(r"(\w)\.(\s|$)", r"\1 ", text)

        def window(w: _Window | None, m: re.Match[str]) -> _Item | None:
            if w is None:
                return None
            return _Item("window", {"w": w, "hint": None})

        date = _DATE_RE
        text = self._mark(
            text,
            rf"\b(?:between|from)\s+(?P<a>{date})\s+(?:and|to|until|till|through|-)\s+(?P<b>{date})\b",
            lambda m: self._between(m),
        )
        text = self._mark(
            text,
            rf"\b(?P<op>since|after|before|until|on|as of)\s+(?P<d>{date})\b",
            lambda m: self._since(m),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|over|within)?\s*(?:the\s+)?(?:last|past|previous|prior)\s+"
            r"(?P<n>\d+|" + "|".join(_NUM_WORDS) + r")\s+(?P<nunit>day|week|month|year)s?\b",
            lambda m: window(_relative_window(m, today), m),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|over)?\s*(?P<rel>this|last|previous|past|prior|the\s+last|"
            r"the\s+previous|the\s+past|current|the\s+current)\s+(?P<unit>week|month|quarter|year)\b",
            lambda m: window(_relative_window(m, today), m),
        )
        text = self._mark(
            text,
            r"\b(?P<day>today|yesterday|ytd|year to date|mtd|month to date)\b",
            lambda m: window(_relative_window(m, today), m),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|of)?\s*q(?P<q>[1-4])\s+(?:of\s+)?(?P<y>\d{4})\b",
            lambda m: self._quarter(int(m["q"]), int(m["y"])),
        )
        text = self._mark(
            text,
            rf"\b(?:in|during|for|of)\s+(?P<m>{_MONTH_RE})(?:\s+(?:of\s+)?(?P<y>\d{{4}}))?\b",
            lambda m: self._month(m["m"], m["y"]),
        )
        text = self._mark(
            text,
            r"\b(?:in|during|for|of|from)\s+(?:the\s+year\s+)?(?P<y>(?:19|20)\d{2})\b",
            lambda m: self._year(int(m["y"])),
        )

        # orderings and limits
        text = self._mark(
            text,
            rf"\b(?P<dir>top|bottom)\s+(?P<n>{_NUM})\b",
            lambda m: _Item(
                "limit",
                {"n": _int(m["n"]), "dir": "desc" if m["dir"] == "top" else "asc", "top": True},
            ),
        )
        # "the 5 most expensive products", "the 3 most recent notifications"
        text = self._mark(
            text,
            rf"\b(?P<n>{_NUM})\s+(?=(?:most|least|cheapest|highest|lowest|largest|smallest|"
            r"biggest|best|worst|latest|newest|oldest|earliest|longest|shortest|fewest)\b)",
            lambda m: _Item("limit", {"n": _int(m["n"]), "dir": None, "top": False}),
        )
        text = self._mark(
            text,
            rf"\b(?:the\s+)?(?P<w>latest|newest|most recent|last|recent|oldest|earliest|first)"
            rf"(?:\s+(?P<n>{_NUM}))?\b",
            lambda m: _Item(
                "order",
                {
                    "what": "pk" if m["w"] == "first" else "date",
                    "desc": m["w"] in ("latest", "newest", "most recent", "last", "recent"),
                    "n": _int(m["n"]) if m["n"] else None,
                    "word": m["w"],
                },
            ),
        )
        text = self._mark(
            text,
            rf"\b(?:limit(?:ed)?\s+(?:to\s+)?|only\s+)(?P<n>{_NUM})\b(?:\s+rows?)?",
            lambda m: _Item("limit", {"n": _int(m["n"]), "dir": None, "top": False}),
        )
        text = self._mark(
            text,
            r"\b(?:sorted|ordered|sort|order|rank|ranked)\s+by\s+",
            lambda m: _Item("sort", {}),
        )
        text = self._mark(
            text,
            r"\b(?P<d>ascending|descending|asc|desc|in\s+ascending\s+order|in\s+descending\s+order)\b",
            lambda m: _Item("dir", {"desc": "desc" in m["d"]}),
        )
        # numeric comparisons
        text = self._mark(
            text,
            rf"\bbetween\s+(?P<a>{_NUM})\s+and\s+(?P<b>{_NUM})\b",
            lambda m: _Item("cmp", {"op": "between", "a": _number(m["a"]), "b": _number(m["b"])}),
        )
        for words, op in _CMP_OPS:
            text = self._mark(
                text,
                rf"(?:\b|(?<=\s))(?:is\s+|are\s+|of\s+)?(?:{words})\s+(?P<n>{_NUM})(?![\w-])",
                lambda m, op=op: _Item("cmp", {"op": op, "a": _number(m["n"])}),
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
            lambda m: _Item(
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

        # negations: "customers who don't have an email" is a NULL test; "cars that were never
        # sold" and "shipments not yet delivered" are read against the catalog later
        text = text.replace("\u2019", "'")
        text = self._mark(
            text,
            r"\b(?:(?:do|does|did)\s+not|don't|doesn't|didn't|(?:has|have|had)\s+(?:not|never)|"
            r"hasn't|haven't|hadn't|never)\s+(?:ever\s+|yet\s+)?(?:have|has|had)\s+(?:an?\s+|any\s+)?",
            lambda m: _Item("null", {"null": True}),
        )
        text = self._mark(
            text,
            r"\b(?:never|not\s+(?:yet|ever)|(?:do|does|did)\s+not|don't|doesn't|didn't|"
            r"(?:has|have|had)\s+(?:not|never)|hasn't|haven't|hadn't)"
            r"(?:\s+(?:yet|ever|been|once))*\s+",
            lambda m: _Item("never", {"word": m.group(0).strip()}),
        )
        # NULL tests
        text = self._mark(
            text,
            r"\b(?:without|with\s+no|missing|lacking|that\s+lacks?|(?:that\s+)?(?:has|have)\s+no|"
            r"having\s+no|(?:with|has|have)\s+(?:an?\s+)?(?:empty|null|blank)|no)\s+(?:an?\s+|any\s+)?",
            lambda m: _Item("null", {"null": True}),
        )
        text = self._mark(
            text,
            r"\b(?:with|(?:that\s+)?(?:has|have)|having)\s+(?:an?\s+|some\s+)(?=[a-z])",
            lambda m: _Item("null", {"null": False}),
        )
        # groupings
        text = self._mark(
            text,
            r"\b(?:grouped\s+by|broken\s+down\s+by|split\s+by|break\s+down\s+by|by|per|for\s+each|"
            r"for\s+every|each|every|across(?!\s+(?:all|the\s+whole|the\s+entire)\b))\s+",
            lambda m: _Item("group", {}),
        )
        # aggregates
        text = self._mark(
            text,
            r"\b(?P<p>how\s+many|number\s+of|count\s+of|count|total\s+number\s+of|no\.\s+of)\s+"
            r"(?:(?P<d>distinct|unique|different)\s+)?",
            lambda m: _Item(
                "agg", {"fn": "count", "distinct": bool(m["d"]), "total": "total" in m["p"]}
            ),
        )
        text = self._mark(
            text,
            r"\b(?:what\s+is\s+the\s+|the\s+)?(?P<f>total|sum\s+of|sum|average|avg|mean|minimum|min|"
            r"maximum|max)\s+(?:of\s+)?(?:the\s+)?",
            lambda m: _Item("agg", {"fn": _AGG_FN[m["f"].split()[0]], "distinct": False}),
        )
        return text

    def _count_cmp(self, m: re.Match[str]) -> _Item | None:
        w = _singular(m["w"])
        if w in _STOP or w in _DATEPARTS or w in _HARMLESS or m["w"] in _NUM_WORDS:
            return None
        prev = re.search(r"([a-z]+)\s*$", m.string[: m.start()])
        if prev is not None:  # "day 100 pasi score" is day100_pasi_score: the number is a name
            glued = prev[1] + m["n"]
            if any(glued in c.compact or glued in c.name.lower() for t in self.s.tables
                   for c in t.cols):  # fmt: skip
                return None
        hits = self.s.lookup((w,))
        best = max((h[2] for h in hits), default=0.0)
        if any(h[0] == "table" and h[2] >= best for h in hits):
            return None  # "customers with 2 orders": a count of rows, not a column
        cols = [h[1] for h in hits if h[0] == "col" and h[2] >= best - 0.01]
        if not cols or not all(c.kind in ("int", "num") and not _is_key(c) for c in cols):
            return None
        return _Item("cmp", {"op": "eq", "a": float(m["n"]), "after": True})

    def _between(self, m: re.Match[str]) -> _Item | None:
        a, b = _parse_date(m["a"], self.today), _parse_date(m["b"], self.today)
        if a is None or b is None:
            return None
        if re.fullmatch(r"\d{4}", m["a"].strip()) and re.fullmatch(r"\d{4}", m["b"].strip()):
            end = dt.date(b.year + 1, 1, 1)
        elif re.fullmatch(rf"(?:{_MONTH_RE})\s+\d{{4}}", m["b"].strip()):
            end = _add_months(b, 1)
        else:
            end = b + dt.timedelta(days=1)
        if end <= a:
            return None
        return _Item(
            "window", {"w": _Window(a, end, f"{a} to {end - dt.timedelta(days=1)}"), "hint": None}
        )

    def _since(self, m: re.Match[str]) -> _Item | None:
        d = _parse_date(m["d"], self.today)
        if d is None:
            return None
        op = m["op"]
        if re.fullmatch(r"\d{4}", m["d"].strip()):
            if op in ("after",):
                d = dt.date(d.year + 1, 1, 1)
            if op == "on":
                return None
        if op in ("since", "as of"):
            return _Item("window", {"w": _Window(d, None, f"since {d}"), "hint": None})
        if op == "after":
            if not re.fullmatch(r"\d{4}", m["d"].strip()):
                d = d + dt.timedelta(days=1)
            return _Item("window", {"w": _Window(d, None, f"from {d} on"), "hint": None})
        if op == "on":
            return _Item(
                "window", {"w": _Window(d, d + dt.timedelta(days=1), f"on {d}"), "hint": None}
            )
        return _Item("window", {"w": _Window(None, d, f"before {d}"), "hint": None})

    def _quarter(self, q: int, y: int) -> _Item:
        start = dt.date(y, 3 * (q - 1) + 1, 1)
        end = _add_months(start, 3)
        return _Item(
            "window",
            {
                "w": _Window(start, end, f"Q{q} {y} ({start} to {end - dt.timedelta(days=1)})"),
                "hint": None,
            },
        )

    def _month(self, month: str, year: str | None) -> _Item:
        mi = _MONTHS[month]
        if year:
            y = int(year)
        else:  # the latest such month that has begun
            y = self.today.year if mi <= self.today.month else self.today.year - 1
        start = dt.date(y, mi, 1)
        end = _add_months(start, 1)
        label = f"{calendar.month_name[mi]} {y}"
        if not year:
            label += " (the most recent one)"
        return _Item("window", {"w": _Window(start, end, label), "hint": None})

    def _year(self, y: int) -> _Item:
        return _Item(
            "window",
            {
                "w": _Window(dt.date(y, 1, 1), dt.date(y + 1, 1, 1), f"{y}", year_only=y),
                "hint": None,
            },
        )


_AGG_FN = {
    "total": "sum",
    "sum": "sum",
    "average": "avg",
    "avg": "avg",
    "mean": "avg",
    "minimum": "min",
    "min": "min",
    "maximum": "max",
    "max": "max",
}


def _int(text: str | None) -> int:
    n = _number(text or "") or 10
    return max(1, min(int(n), 100_000))


# -- step 3: words -> mentions ------------------------------------------------------------------

_TOKEN_RE = re.compile(r"§\d+|[a-z0-9$€£][a-z0-9_'’\-.@+/&]*")
_DATEPARTS = {"hour", "day", "week", "month", "quarter", "year"}
_DATE_UNITS_ADJ = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter",
                   "yearly": "year", "annually": "year", "annual": "year"}  # fmt: skip
_NEGATORS = {"not", "non", "excluding", "except", "isn't", "aren't", "never"}
_BOUNDARY = {"and", "or", "with", "where", "whose", "that", "which", "who", "in", "from", "for",
             "of", "on", "at", "to", "than", "is", "are", "was", "were", "has", "have", "having",
             "had", "their", "its"}  # fmt: skip


@dataclass
class _Tok:
    text: str
    marker: int | None = None


def _clean_word(w: str) -> str:
    return w.strip("'’-.@+/&").replace("’", "'")


class _Understanding:
    """The mentions of one question with the roles the markers gave them."""

    def __init__(self, parser: _Parser, text: str) -> None:
        self.p = parser
        self.s = parser.s
        toks: list[_Tok] = []
        for raw in _TOKEN_RE.findall(text):
            if raw.startswith("§"):
                toks.append(_Tok(raw, int(raw[1:])))
            else:
                w = _clean_word(raw)
                if w:
                    toks.append(_Tok(w))
        self.toks = toks
        self.mentions: list[_Mention] = []
        self._scan()

    def _scan(self) -> None:
        toks, s, values = self.toks, self.s, self.p.values
        i = 0
        while i < len(toks):
            tok = toks[i]
            if tok.marker is not None:
                item = self.p.items[tok.marker]
                self.mentions.append(_Mention("marker", item, (), i))
                i += 1
                continue
            found: _Mention | None = None
            for n in (4, 3, 2, 1):
                gram = toks[i : i + n]
                if len(gram) < n or any(g.marker is not None for g in gram):
                    continue
                raw = tuple(g.text for g in gram)
                low = " ".join(raw)
                vals = values.get(low)
                edge_stop = raw[0] in _STOP or raw[-1] in _STOP
                words = tuple(_singular(w) for w in raw)
                if n == 1 and raw[0] in _STOP:
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
                    found = _Mention("table", None, words, i, 3.0, table_hits)
                elif partial and max(h[2] for h in hits) <= max(h[2] for h in partial):
                    found = _Mention(
                        "table", vals, words, i, 2.0, sorted(hits, key=lambda h: -h[2])
                    )
                elif vals and not (n == 1 and raw[0] in _STOP):
                    found = _Mention("value", hits, words, i, 2.5, list(vals))
                elif hits:
                    best = max(h[2] for h in hits)
                    if n > 1 and best < 2.5:
                        continue
                    kind = "table" if any(h[0] == "table" and h[2] >= best for h in hits) else "col"
                    found = _Mention(
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
                    i += n
                    break
            if found is None:
                w = tok.text
                if w in _MONEY_WORDS or _singular(w) in _MONEY_WORDS:
                    found = _Mention("money", None, (w,), i)
                elif w in _DATE_UNITS_ADJ:
                    found = _Mention("datepart", _DATE_UNITS_ADJ[w], (w,), i)
                elif _singular(w) in _DATEPARTS:
                    found = _Mention("datepart", _singular(w), (w,), i)
                elif _number(w) is not None and w not in _NUM_WORDS:
                    found = _Mention("number", _number(w), (w,), i)
                elif w in _STOP or w in _NEGATORS:
                    found = _Mention("stop", None, (w,), i)
                elif w in _HARMLESS:
                    found = _Mention("harmless", None, (w,), i)
                elif neg := self._negated_bool(w):
                    found = neg
                elif _names_the_database(w, self.s.catalog.database):
                    found = _Mention("harmless", None, (w,), i)
                    self.p.assumptions.append(
                        f"'{w}' is taken to mean the whole database "
                        f"({self.s.catalog.database}), not a filter"
                    )
                else:
                    found = _Mention("unknown", None, (w,), i)
                i += 1
            self.mentions.append(found)

    def _negated_bool(self, w: str) -> _Mention | None:
        for pre in ("non-", "non", "un", "in"):
            if w.startswith(pre) and len(w) - len(pre) >= 4:
                hits = [
                    h for h in self.s.lookup((w[len(pre) :],)) if h[0] == "col" and _is_flag(h[1])
                ]
                if hits:
                    return _Mention("negbool", None, (w,), 0, 2.0, hits)
        return None

    # -- runs around markers --

    def run_after(self, k: int) -> list[_Mention]:
        """Content mentions right after position k (skipping articles), up to a boundary."""
        out: list[_Mention] = []
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

    def run_before(self, k: int) -> list[_Mention]:
        out: list[_Mention] = []
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


# -- step 4: the query --------------------------------------------------------------------------


@dataclass
class _Measure:
    fn: str  # count | sum | avg | min | max
    col: _Col | None  # None: count(*)
    table: _Table
    distinct: bool = False
    expr: exp.Expression | None = None


@dataclass
class _Query:
    entity: _Table | None = None
    measure: _Measure | None = None
    groups: list[tuple[str, Any]] = field(
        default_factory=list
    )  # ("col", _Col) | ("entity", _Table) | ("part", (unit, _Col))
    filters: list[tuple[_Table, exp.Expression]] = field(default_factory=list)
    select: list[_Col] = field(default_factory=list)
    order: list[tuple[str, Any, bool]] = field(
        default_factory=list
    )  # ("col", _Col, desc) | ("measure", None, desc) | ("pk"...)
    limit: int | None = None
    extra_tables: list[_Table] = field(default_factory=list)
    having: list[tuple[str, float, float | None]] = field(default_factory=list)


_MONEY_RANK = (("revenue", 5.0), ("total", 4.1), ("amount", 4.0), ("paid", 3.0), ("payment", 3.0),
               ("price", 3.0), ("value", 2.5), ("cost", 2.0), ("balance", 1.5), ("fare", 2.0))  # fmt: skip
_NOT_MONEY = {"id", "count", "quantity", "qty", "number", "tax", "discount", "rate", "percent",
              "limit", "min", "max", "score", "year", "credit"}  # fmt: skip


def _money_score(col: _Col) -> float:
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


def _cents(col: _Col) -> bool:
    """Money, whose average is shown to the cent: a money-like name or a numeric(p, 2)."""
    t = col.c.type_name.lower().replace(" ", "")
    return (
        _money_score(col) > 0
        or t == "money"
        or bool(re.fullmatch(r"(numeric|decimal)\(\d+,2\)", t))
    )


def _date_score(col: _Col) -> float:
    if col.kind not in ("date", "ts"):
        return 0.0
    w = set(col.words)
    # a row's "when" is its creation or its own event; these are later or side dates
    if w & {"updated", "modified", "deleted", "changed", "last", "expire", "expiry", "due",
            "termination", "read", "verified", "completed", "birth", "approval", "approved"}:  # fmt: skip
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


def _labels(t: _Table) -> list[_Col]:
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
    return [t.by_name[k] for k in t.t.primary_key if k in t.by_name]


class _Resolver:
    """Mentions + markers -> _Query -> sqlglot SELECT."""

    def __init__(self, parser: _Parser, und: _Understanding) -> None:
        self.p = parser
        self.s = parser.s
        self.u = und
        self.used: set[int] = set()
        self.q = _Query()
        self.assume = parser.assumptions
        self.mentioned: list[_Table] = []

    # -- small helpers --

    def use(self, ms: Iterable[_Mention]) -> None:
        for m in ms:
            self.used.add(id(m))

    def table_of(self, m: _Mention) -> _Table:
        tables = [h[1] for h in m.cands if h[0] == "table"]
        best = max((h[2] for h in m.cands if h[0] == "table"), default=0)
        tables = [h[1] for h in m.cands if h[0] == "table" and h[2] >= best]
        uniq = list(dict.fromkeys(tables))
        if len(uniq) > 1:
            preferred = [t for t in uniq if t in self.involved()]
            if len(preferred) == 1:
                return preferred[0]
            raise _Unsure(
                f"Which table do you mean by '{' '.join(m.words)}'?", [t.full for t in uniq[:8]]
            )
        return uniq[0]

    def involved(self) -> list[_Table]:
        out: list[_Table] = []
        for t in [self.q.entity, self.q.measure.table if self.q.measure else None, *self.mentioned]:
            if t is not None and t not in out:
                out.append(t)
        return out

    def pick_col(
        self, m: _Mention, kinds: tuple[str, ...] = (), within: _Table | None = None
    ) -> _Col:
        """The column a mention names, preferring tables the question already involves."""
        cands = [(h[1], h[2]) for h in m.cands if h[0] == "col"]
        if m.kind == "table":  # "price" can be a table and a column; here it must be a column
            cands = [(h[1], h[2]) for h in self.s.lookup(m.words) if h[0] == "col"]
        if kinds:
            cands = [(c, sc) for c, sc in cands if c.kind in kinds]
        if within is not None:
            inside = [(c, sc) for c, sc in cands if c.table is within]
            cands = inside or cands
        if not cands:
            raise _Unsure(f"I could not find a column for '{' '.join(m.words)}'.")
        inv = self.involved()
        scored = []
        for c, sc in cands:
            bonus = 0.0
            if c.table in inv:
                bonus = 2.0 - 0.1 * inv.index(c.table)
            elif inv:
                path = self.s.path(inv[0], c.table)
                bonus = -5.0 if path is None else 1.0 - 0.2 * len(path)
            scored.append((sc + bonus, c))
        scored.sort(key=lambda x: -x[0])
        top = [c for sc, c in scored if sc >= scored[0][0] - 0.01]
        if len(top) > 1:
            if m.words in (("name",),) and len({c.table.full for c in top}) == 1:
                return top[0]
            raise _Unsure(
                f"Which column do you mean by '{' '.join(m.words)}'?", [c.label for c in top[:8]]
            )
        return top[0]

    def pick_phrase_col(
        self, run: list[_Mention], head: _Mention, kinds: tuple[str, ...], within: _Table | None
    ) -> _Col:
        """One column for a noun phrase: "closing price" is sbdailyprice.sbdpclose, whose table
        name carries "price", not sbtransaction.sbtxprice."""
        others = [m for m in run if m is not head and m.kind in ("col", "table")]
        if not others:
            return self.pick_col(head, kinds=kinds, within=within)
        cands = [h for h in head.cands if h[0] == "col" and (not kinds or h[1].kind in kinds)]
        fits = [
            h
            for h in cands
            if all(
                set(o.words) <= set(h[1].table.words) | h[1].all_words
                or "".join(o.words) in h[1].table.compact
                for o in others
            )
        ]
        if len(fits) == 1:
            self.use(others)
            return fits[0][1]
        return self.pick_col(head, kinds=kinds, within=within)

    def money_col(self, table: _Table | None) -> _Col:
        if table is None:
            return self.money_col_global()
        tables = [table]
        best: list[tuple[float, _Col]] = []
        for t in tables:
            for c in t.cols:
                sc = _money_score(c)
                if sc > 0:
                    best.append((sc, c))
        if not best and table is None and self.involved():
            return self.money_col_global()
        if not best:
            where = f" in {table.name}" if table else ""
            raise _Unsure(f"I could not find an amount column{where} to add up.")
        best.sort(key=lambda x: -x[0])
        top = [c for sc, c in best if sc >= best[0][0] - 0.01]
        if len(top) > 1:
            raise _Unsure("Which amount do you mean?", [c.label for c in top[:8]])
        return top[0]

    def money_col_global(self) -> _Col:
        inv = self.involved()
        scored = []
        for t in self.s.tables:
            penalty = 0.0
            if inv:  # nearer the tables already named is likelier
                path = self.s.path(inv[0], t)
                if path is None:
                    continue
                penalty = 0.05 * len(path)
            for c in t.cols:
                if (sc := _money_score(c)) > 0:
                    scored.append((sc - penalty, c))
        best = sorted(scored, key=lambda x: -x[0])
        if not best:
            raise _Unsure("I could not find an amount column to add up.")
        top = [c for sc, c in best if sc >= best[0][0] - 0.01]
        if len(top) > 1:
            raise _Unsure("Which amount do you mean?", [c.label for c in top[:8]])
        return top[0]

    def date_col(self, t: _Table, hint: str | None = None, strict: bool = True) -> _Col | None:
        cols = [c for c in t.cols if c.kind in ("date", "ts")]
        if not cols:
            return None
        if hint:
            stems = {
                hint,
                hint[:-2] if hint.endswith("ed") else hint,
                hint[:-1] if hint.endswith("d") else hint,
            }
            named = [
                c
                for c in cols
                if stems & c.all_words or any(s in c.compact for s in stems if len(s) >= 4)
            ]
            if len(named) == 1:
                return named[0]
        if len(cols) == 1:
            return cols[0]
        scored = sorted(((_date_score(c), c) for c in cols), key=lambda x: -x[0])
        if scored[0][0] - scored[1][0] < 0.1 and strict:
            raise _Unsure(
                f"Which date of {t.name} do you mean?",
                [c.label for sc, c in scored if sc >= scored[0][0] - 0.1],
            )
        return scored[0][1]

    def entity_plural(self, m: _Mention | None) -> bool:
        if m is None:
            return True
        tok = self.u.toks[m.pos].text if m.pos < len(self.u.toks) else ""
        return _singular(tok) != tok

    # -- the walk --

    def resolve(self) -> _Query:
        u, q = self.u, self.q
        ms = u.mentions
        items = [(k, m.obj) for k, m in enumerate(ms) if m.kind == "marker"]
        # entity: the first table named outside a marker's subject, decided up front because
        # every other role prefers its columns
        subj: set[int] = set()
        for k, item in items:
            if item.kind in ("group", "null", "sort", "agg"):
                subj.update(id(m) for m in u.run_after(k))
            if item.kind == "super":
                subj.update(
                    id(m)
                    for m in u.run_after(k)
                    if m.kind != "table"
                    or item.data["word"] in ("most expensive", "cheapest", "least expensive")
                )
        entity_m = next((m for m in ms if m.kind == "table" and id(m) not in subj), None)
        agg = next(((k, it) for k, it in items if it.kind == "agg"), None)
        if agg is not None:
            run_tables = [m for m in u.run_after(agg[0]) if m.kind == "table"]
            if agg[1].data["fn"] == "count" and run_tables:
                entity_m = run_tables[0]
        if entity_m is not None:
            q.entity = self.table_of(entity_m)
            self.use([entity_m])
        for m in ms:
            if m.kind == "table" and id(m) not in self.used:
                try:
                    t = self.table_of(m)
                except _Unsure:
                    continue
                if t not in self.mentioned:
                    self.mentioned.append(t)
        top = next((it for _, it in items if it.kind == "limit" and it.data["top"]), None)

        if agg is not None:
            self.do_agg(agg[0], agg[1])
        for k, item in items:
            if item.kind == "super":
                self.do_super(k, item, entity_m)
        for k, item in items:
            if item.kind == "group":
                self.do_group(k, top)
            elif item.kind == "sort":
                self.do_sort(k, items)
        for k, item in items:
            if item.kind == "cmp":
                self.do_cmp(k, item)
            elif item.kind == "null":
                self.do_null(k, item)
            elif item.kind == "never":
                self.do_never(k, item)
            elif item.kind == "value":
                self.do_quoted(k, item)
        self.window_hints(items)
        self.do_free()
        if q.entity is None and q.measure is None:
            raise _Unsure("Which table is this about?", [t.full for t in self.mentioned[:8]])
        for k, item in items:
            if item.kind == "window":
                self.do_window(k, item)
        for _k, item in items:
            if item.kind == "order":
                self.do_order(item, entity_m)
            elif item.kind == "limit":
                q.limit = item.data["n"]
                if item.data["top"] and not q.order:
                    self.top_default(item)
        self.check_tables()
        self.check_negations()
        filtered = {id(f.col) for _t, f in q.filters if hasattr(f, "col")}
        if q.select and all(id(c) in filtered for c in q.select):
            # a column that only filters is no answer on its own ("tickers on NYSE" must not
            # list 'NYSE' over and over): show the rows
            q.select.clear()
        return q

    def check_tables(self) -> None:
        """A table named but given no part ("cars in inventory") must not be dropped silently."""
        q = self.q
        have = {id(t) for t in self.involved_by_query()}
        for m in self.u.mentions:
            if m.kind != "table" or id(m) in self.used:
                continue
            t = self.table_of(m)
            if id(t) in have:
                continue
            flags = [h[1] for h in m.cands if h[0] == "col" and _is_flag(h[1])]
            if len(flags) == 1:
                q.filters.append((flags[0].table, _Bool(flags[0], True)))  # type: ignore[arg-type]
                self.use([m])
                continue
            raise _Unsure(
                f"I am not sure what '{' '.join(m.words)}' ({t.name}) should do in this question; "
                f"{MODEL_HINT}."
            )

    def check_negations(self) -> None:
        """A 'not' or 'never' that nothing took must not be dropped: the answer would be the
        opposite of the question."""
        for m in self.u.mentions:
            if m.kind == "stop" and m.words[0] in _NEGATORS and id(m) not in self.used:
                raise _Unsure(
                    f"I could not tell what '{m.words[0]}' applies to here, and I will not "
                    f"answer without it; {MODEL_HINT}."
                )

    def involved_by_query(self) -> list[_Table]:
        q = self.q
        out = [t for t in (q.entity, q.measure.table if q.measure else None) if t is not None]
        out += [g if k == "entity" else g.table for k, g in q.groups if k in ("entity", "col")]
        out += [t for t, _f in q.filters]
        out += [c.table for c in q.select]
        out += [c.table for k, c, _d in q.order if k == "col"]
        out += q.extra_tables
        return out

    def do_agg(self, k: int, item: _Item) -> None:
        q = self.q
        fn, distinct = item.data["fn"], item.data["distinct"]
        run = [m for m in self.u.run_after(k) if id(m) not in self.used or m.kind == "table"]
        self.check(run, "")
        tables = [m for m in run if m.kind == "table"]
        cols = [
            m
            for m in run
            if m.kind == "col" and not all(_is_flag(h[1]) for h in m.cands if h[0] == "col")
        ]
        money = [m for m in run if m.kind == "money"]
        self.use([*tables[:1], *cols[:1], *money[:1]])  # values and flags stay filters
        t = self.table_of(tables[0]) if tables else q.entity
        if tables and t not in self.mentioned and t is not q.entity:
            self.mentioned.append(t)
        if fn == "count":
            if cols:
                col = self.pick_col(cols[0], within=t)
                word = self.u.toks[cols[0].pos].text if cols[0].pos < len(self.u.toks) else ""
                if (
                    not distinct
                    and col.kind in ("int", "num")
                    and not _is_key(col)
                    and (_count_like(col, word) or item.data.get("total"))
                ):
                    # "total number of citations": citation_num already counts; add it up
                    q.measure = _Measure("sum", col, col.table)
                    self.assume.append(f"'number of {word}' adds up {col.label}")
                    return
                q.measure = _Measure("count", col, col.table, distinct=distinct)
            elif t is not None:
                q.measure = _Measure("count", None, t)
            else:
                raise _Unsure("Count what? Name a table.", [x.full for x in self.s.tables[:8]])
            return
        if cols:
            col = self.pick_phrase_col(
                run, cols[0], kinds=("num", "int") if fn in ("sum", "avg") else (), within=t
            )
        elif money or (tables and (set(tables[0].words) & _MONEY_WORDS)):
            col = self.money_col(t if tables else None) if (tables or t) else self.money_col(None)
            self.assume.append(
                f"'{' '.join((money[0] if money else tables[0]).words)}' means {fn}({col.label})"
            )
        elif tables and fn == "sum" and (tallies := _tally_cols(t)):
            # "total checkins" where checkin has a `count` column: each row tallies many
            if len(tallies) > 1:
                raise _Unsure(
                    f"Which figure of {t.name} should I add up?", [c.label for c in tallies[:8]]
                )
            col = tallies[0]
            if col.words[-1] not in ("count", "cnt"):  # quantity: items, or rows of the table?
                raise _Unsure(
                    f"Do you mean the number of {t.name} rows, or the sum of {col.label}?",
                    [f"count of {t.name}", f"sum of {col.label}"],
                )
            self.assume.append(f"'total {' '.join(tables[0].words)}' adds up {col.label}")
        elif tables and fn == "sum":
            q.measure = _Measure("count", None, t)
            self.assume.append(f"'total {' '.join(tables[0].words)}' means the number of {t.name}")
            return
        elif t is not None and fn in ("avg", "min", "max"):
            col = self.money_col(t)
            self.assume.append(f"'{fn} {t.name}' means {fn}({col.label})")
        else:
            raise _Unsure(f"What should I take the {fn} of?")
        if _is_key(col) and fn in ("sum", "avg"):
            raise _Unsure(f"{col.label} is a key; adding it up means nothing. Which figure?")
        q.measure = _Measure(fn, col, col.table)

    def do_super(self, k: int, item: _Item, entity_m: _Mention | None) -> None:
        q = self.q
        desc = item.data["desc"]
        word = item.data["word"]
        run = [m for m in self.u.run_after(k) if id(m) not in self.used]
        self.check(run[:1], "")
        pricey = word in ("most expensive", "cheapest", "least expensive")
        plural = self.entity_plural(entity_m)
        before_entity = entity_m is not None and entity_m.pos < k
        if pricey:
            self.use(run)
            t = q.entity or (self.table_of(run[0]) if run and run[0].kind == "table" else None)
            if t is None:
                raise _Unsure(f"'{word}' what? Name a table.")
            if q.entity is None:
                q.entity = t
                plural = self.entity_plural(run[0])
            col = self.money_col(t)
            q.order.append(("col", col, desc))
            q.limit = q.limit or (10 if plural else 1)
            self.assume.append(f"'{word}' orders by {col.label}")
            return
        if not run:
            raise self.rank_by_what(k, word)
        head = run[0]
        self.use(run[:1])
        if head.kind == "table" and q.entity is not None and self.table_of(head) is not q.entity:
            other = self.table_of(head)
            q.measure = _Measure("count", None, other)
            q.groups.append(("entity", q.entity))
            q.order.append(("measure", None, desc))
            q.limit = q.limit or (10 if plural else 1)
            self.assume.append(f"'{word} {other.name}' counts {other.name} per {q.entity.name}")
            return
        if head.kind == "money":
            col = self.money_col(q.entity)
        elif head.kind in ("col", "table"):
            col = self.pick_col(head, kinds=("num", "int", "date", "ts", "text"), within=q.entity)
            if _is_key(col) or (head.kind == "table" and head.score < 2.0):
                # "the best selling product" is no order of product_id
                raise _Unsure(
                    f"I could not tell what '{word} {' '.join(head.words)}' ranks by; {MODEL_HINT}."
                )
        else:
            raise _Unsure(f"I could not understand '{' '.join(head.words)}' after '{word}'.")
        ms = self.u.mentions
        nxt = next((ms[j + 1] for j, x in enumerate(ms) if x is head and j + 1 < len(ms)), None)
        if (
            nxt is not None
            and nxt.kind == "table"
            and q.entity is not None
            and self.table_of(nxt) is q.entity
        ):
            before_entity = True  # "the least cited paper": the word describes the rows
            plural = self.entity_plural(nxt)
        if before_entity and q.entity is not None and col.table is not q.entity:
            path = self.s.path(q.entity, col.table)
            if path is not None and not all(e.a_refs_b for e in path):
                # "which author has the most citations (in total)": many publications per
                # author, so the figure is a sum per author, not one row's value
                if word in ("most", "fewest", "least") and col.kind in ("int", "num"):
                    q.measure = _Measure("sum", col, col.table)
                    q.groups.append(("entity", q.entity))
                    q.order.append(("measure", None, desc))
                    q.limit = q.limit or (10 if plural else 1)
                    self.assume.append(
                        f"'{word} {' '.join(head.words)}' adds up {col.label} per {q.entity.name}"
                    )
                    return
                raise _Unsure(
                    f"Each {q.entity.name} has many {col.table.name}: do you mean the total of "
                    f"{col.label} per {q.entity.name}, or its single {word} value?",
                    [f"total {col.label} per {q.entity.name}", f"{word} {col.label}"],
                )
        if before_entity:  # "products with the highest price": rank the rows
            q.order.append(("col", col, desc))
            q.limit = q.limit or (10 if plural else 1)
        else:  # "highest price of products": one figure
            q.measure = _Measure("max" if desc else "min", col, col.table)
            self.assume.append(
                f"'{word} {' '.join(head.words)}' means {'max' if desc else 'min'}({col.label})"
            )

    def rank_by_what(self, k: int, word: str) -> _Unsure:
        """ "which customer spent the most": the question names no figure after the word.
        Ask which one, offering the figures of this question's tables: money columns when a
        money word came before ("spent", "paid"), else their numeric columns."""
        q = self.q
        said = next((m for m in self.u.mentions[:k] if m.kind == "money"), None)
        near = [q.entity] if q.entity is not None else self.involved()
        scored: list[tuple[float, _Col]] = []
        for t in self.s.tables:
            if near:
                path = self.s.path(near[0], t) if t is not near[0] else []
                if path is None:
                    continue
                distance = len(path)
            else:
                distance = 0
            for c in t.cols:
                if said is not None:
                    score = _money_score(c)
                else:
                    score = 1.0 if c.kind in ("num", "int") and not _is_key(c) else 0.0
                if score > 0:
                    scored.append((score - 0.1 * distance, c))
        options = [c.label for _sc, c in sorted(scored, key=lambda x: -x[0])[:4]]
        what = f"{said.words[0]} the {word}" if said is not None else word
        noun = " ".join(q.entity.words) if q.entity is not None else ""
        per = f" per {noun}" if noun else ""
        if not options:
            return _Unsure(f"'{what}' by which figure? None of this question's tables has one.")
        example = f"total {options[0]}{per}" if said is not None else f"{word} {options[0]}"
        ranks = f"ranks each {noun}" if noun else "ranks the rows"
        return _Unsure(
            f"'{what}': which figure {ranks}? Say it, e.g. '{example}'.",
            [f"total {o}{per}" if said is not None else o for o in options],
        )

    def do_group(self, k: int, top: _Item | None) -> None:
        q = self.q
        run = [m for m in self.u.run_after(k) if id(m) not in self.used]
        if not run:
            return
        self.check(run, "after 'by'")
        self.use(run)
        if top is not None:  # "top 5 customers by revenue": the words rank, they do not group
            within = next((self.table_of(m) for m in run if m.kind == "table"), None)
            for m in run:
                if m.kind == "money":
                    self.measure_for_top(self.money_col(within), m)
                    return
                if m.kind == "col":
                    col = self.pick_col(m, within=within)
                    if col.kind in ("num", "int") and col.words[-1:] != ("id",):
                        self.measure_for_top(col, m)
                        return
        i = 0
        while i < len(run):
            m = run[i]
            i += 1
            if m.kind == "datepart":
                self.count_if_listing()
                q.groups.append(("part", m.obj))
            elif m.kind == "table":
                t = self.table_of(m)
                nxt = run[i] if i < len(run) else None
                if nxt is not None and nxt.kind == "col":  # "by customer country"
                    col = self.pick_col(nxt, within=t)
                    i += 1
                    self.count_if_listing()
                    q.groups.append(("col", col))
                    continue
                if nxt is not None and nxt.kind == "table":  # "per product category"
                    t2 = self.table_of(nxt)
                    if not any(e.b is t2 and e.a_refs_b for e in self.s.adj.get(id(t), [])):
                        raise _Unsure(
                            f"Group by {t.name} and {t2.name}, or by the {t2.name} of each "
                            f"{t.name}?",
                            [f"{t.name}, {t2.name}", t2.name],
                        )
                    root = q.measure.table if q.measure else q.entity
                    path = self.s.path(root, t2) if root is not None else None
                    if (
                        root is not None
                        and root is not t
                        and (path is None or t not in [e.b for e in path])
                    ):
                        raise _Unsure(f"How should {root.name} reach the {t2.name} of {t.name}?")
                    i += 1
                    self.count_if_listing()
                    q.groups.append(("entity", t2))  # the category of the product
                    if t not in self.mentioned:
                        self.mentioned.append(t)
                    continue
                if t is q.entity and q.measure is None:
                    raise _Unsure(f"Group {t.name} by what?")
                if self.per_own_row(t, len(run)):
                    continue
                self.count_if_listing()
                q.groups.append(("entity", t))
            elif m.kind == "col":
                col = self.pick_col(m)
                if col.name in col.table.t.primary_key and self.per_own_row(col.table, len(run)):
                    continue
                self.count_if_listing()
                q.groups.append(("col", col))
            elif m.kind == "value":  # "payments by card": a filter, not a grouping
                col, value = self.pick_value(m.cands, " ".join(m.words))
                self.add_value(col, value, False)
            else:
                raise _Unsure(f"I could not tell how to group by '{' '.join(m.words)}'.")
            if len(q.groups) > 3:
                raise _Unsure(
                    "That is more groupings than I can handle offline; " + MODEL_HINT + "."
                )

    def per_own_row(self, t: _Table, run_length: int) -> bool:
        """ "average tax per transaction": an average over the measured table's own rows is
        already one per row; grouping by its key would give each row back."""
        m = self.q.measure
        if m is None or m.fn != "avg" or m.table is not t or run_length != 1:
            return False
        self.assume.append(f"'per {' '.join(t.words)}': the average over {t.name} rows")
        return True

    def count_if_listing(self) -> None:
        """A grouping without an aggregate counts the rows: "orders by status"."""
        q = self.q
        if q.measure is None and q.entity is not None:
            q.measure = _Measure("count", None, q.entity)

    def check(self, run: list[_Mention], where: str) -> None:
        bad = [m.words[0] for m in run if m.kind == "unknown"]
        if bad:
            raise _Unsure(_not_understood(bad))

    def measure_for_top(self, col: _Col, m: _Mention) -> None:
        q = self.q
        if q.entity is not None and col.table is q.entity:
            q.order.append(("col", col, True))
            return
        q.measure = _Measure("sum", col, col.table)
        if q.entity is not None:
            q.groups.append(("entity", q.entity))
        q.order.append(("measure", None, True))
        self.assume.append(f"'{' '.join(m.words)}' means sum({col.label})")

    def do_sort(self, k: int, items: list[tuple[int, _Item]]) -> None:
        run = [m for m in self.u.run_after(k) if id(m) not in self.used]
        if not run:
            raise _Unsure("Sort by what?")
        self.check(run[:1], "")
        self.use(run[:1])
        desc = any(it.kind == "dir" and it.data["desc"] for _, it in items)
        m = run[0]
        if m.kind == "money":
            col = self.money_col(self.q.entity)
        elif m.kind in ("col", "table"):
            col = self.pick_col(m, within=self.q.entity)
        else:
            raise _Unsure(f"I could not understand '{' '.join(m.words)}' to sort by.")
        self.q.order.append(("col", col, desc))

    def do_cmp(self, k: int, item: _Item) -> None:
        q = self.q
        before = [m for m in self.u.run_before(k) if m.kind != "harmless"]
        after = [m for m in self.u.run_after(k) if id(m) not in self.used]
        op, a, b = item.data["op"], item.data["a"], item.data.get("b")
        if a is None:
            raise _Unsure("I could not read the number in that comparison.")
        if (
            after
            and after[0].kind == "table"
            and q.entity is not None
            and self.table_of(after[0]) is not q.entity
        ):
            other = self.table_of(after[0])
            self.use(after[:1])
            q.having.append((op, a, b))
            q.extra_tables.append(other)
            self.assume.append(f"counts {other.name} per {q.entity.name}")
            return
        subject = before[-1] if before else None
        if item.data.get("after"):
            subject = after[0] if after and after[0].kind == "col" else None
            if subject is None:
                raise _Unsure(f"I could not tell what the number {a:g} refers to.")
        if subject is not None and id(subject) in self.used and subject.kind == "table":
            col = self.money_col(self.table_of(subject))
            self.assume.append(f"'{' '.join(subject.words)} over/under N' compares {col.label}")
        elif subject is not None and subject.kind in ("col", "table"):
            self.use([subject])
            col = self.pick_col(subject, kinds=("num", "int"), within=q.entity)
        elif subject is not None and subject.kind == "money":
            self.use([subject])
            col = self.money_col(q.entity)
        elif q.entity is not None:
            col = self.money_col(q.entity)
            self.assume.append(f"the number compares {col.label}")
        else:
            raise _Unsure("Which column should I compare with that number?")
        self.q.filters.append((col.table, _Cmp(col, op, a, b)))  # type: ignore[arg-type]

    def do_null(self, k: int, item: _Item) -> None:
        q = self.q
        run = [m for m in self.u.run_after(k) if id(m) not in self.used]
        if not run:
            if item.data["null"]:
                raise _Unsure("Without what?")
            return
        m = run[0]
        self.check(run[:1], "")
        if m.kind == "table" and q.entity is not None and self.table_of(m) is not q.entity:
            other = self.table_of(m)
            self.use([m])
            up = [e for e in self.s.adj.get(id(q.entity), []) if e.b is other and e.a_refs_b]
            if len(up) == 1 and len(up[0].a_cols) == 1:
                # "products without a category": the product's own reference is empty
                col = q.entity.by_name[up[0].a_cols[0]]
                q.filters.append((q.entity, _IsNull(col, item.data["null"])))  # type: ignore[arg-type]
                return
            if up:
                raise _Unsure(
                    f"{q.entity.name} refers to {other.name} in more than one way; which one?",
                    [f"{q.entity.name}.{', '.join(e.a_cols)}" for e in up],
                )
            q.having.append(("eq" if item.data["null"] else "gt", 0, None))
            q.extra_tables.append(other)
            return
        if m.kind not in ("col", "table"):
            if not item.data["null"]:
                return  # "with a" before something else: not a NULL test
            raise _Unsure(f"I could not find a column for '{' '.join(m.words)}'.")
        col = self.pick_col(m, within=q.entity)
        self.use([m])
        null = item.data["null"]
        ms = self.u.mentions
        j = next(i for i, x in enumerate(ms) if x is m) + 1
        if j < len(ms) and ms[j].kind == "stop" and ms[j].words[0] == "of":
            j += 1
        if (
            not null
            and col.kind in ("int", "num")
            and j < len(ms)
            and ms[j].kind in ("number", "value")
            and _number(ms[j].words[0]) is not None
            and id(ms[j]) not in self.used
        ):
            # "reviews with a rating of 5": rating = 5
            n = _number(ms[j].words[0])
            assert n is not None
            self.use([ms[j]])
            self.q.filters.append((col.table, _Cmp(col, "eq", n, None)))  # type: ignore[arg-type]
            return
        if _is_flag(col):  # "courses with a lab": has_lab IS TRUE, not IS NOT NULL
            self.q.filters.append((col.table, _Bool(col, not null)))  # type: ignore[arg-type]
            return
        if col.kind in ("int", "num"):
            word = self.u.toks[m.pos].text if m.pos < len(self.u.toks) else ""
            if _count_like(col, word):  # "flights with no stops": stops = 0
                op = "eq" if null else "gt"
                self.q.filters.append((col.table, _Cmp(col, op, 0.0, None)))  # type: ignore[arg-type]
                self.assume.append(f"'{'no' if null else 'with'} {word}' means {col.label} "
                                   f"{'= 0' if null else '> 0'}")  # fmt: skip
                return
            if null and not col.c.nullable:
                raise _Unsure(
                    f"{col.label} is never empty; do you mean {col.label} = 0?",
                    [f"{col.label} = 0"],
                )
        self.q.filters.append((col.table, _IsNull(col, null)))  # type: ignore[arg-type]

    def do_never(self, k: int, item: _Item) -> None:
        """ "cars that were never sold", "customers who never placed an order": rows of the
        entity with no related row (NOT EXISTS along the key); "shipments not yet delivered":
        the entity's own date of that event is empty. Anything else is asked, never dropped."""
        q = self.q
        word = item.data["word"]
        ent = q.entity
        after: list[_Mention] = []
        for m in self.u.mentions[k + 1 :]:
            if m.kind == "marker" or len(after) >= 3:
                break
            if m.kind == "stop" and m.words[0] in ("a", "an", "any", "the", "to", "by", "with"):
                continue
            if m.kind == "stop":
                break
            after.append(m)
        if ent is None or not after:
            raise _Unsure(f"I could not tell what '{word}' applies to here; {MODEL_HINT}.")
        first = after[0]
        second = after[1] if len(after) > 1 and after[1].kind == "table" else None
        verbish = (
            self.u.toks[first.pos].text in _HARMLESS if first.pos < len(self.u.toks) else False
        )
        if first.kind == "table" and not (verbish and second is not None):
            if self.table_of(first) is not ent:  # "customers without orders", "never ordered"
                self.not_exists(self.table_of(first), [first])
                return
        verb = self.u.toks[first.pos].text if first.pos < len(self.u.toks) else ""
        stems = _hint_stems(verb)
        own = [c for c in ent.cols if c.kind in ("date", "ts", "bool") and _hint_match(c, stems)]
        if len(own) == 1:
            col = own[0]
            self.use([first])
            if col.kind == "bool":
                q.filters.append((ent, _Bool(col, False)))  # type: ignore[arg-type]
            else:
                q.filters.append((ent, _IsNull(col, True)))  # type: ignore[arg-type]
            self.assume.append(f"'{word} {verb}' means {col.label} is empty")
            return
        if second is not None and self.table_of(second) is not ent:
            self.not_exists(self.table_of(second), after[:2])
            return
        linked = list(dict.fromkeys(e.b for e in self.s.adj.get(id(ent), [])
                                    if not e.a_refs_b and set(e.b.words) & stems))  # fmt: skip
        if len(linked) == 1 and first.kind in ("harmless", "col", "unknown", "table"):
            self.not_exists(linked[0], [first])
            return
        raise _Unsure(f"I could not tell what '{word} {verb}' means here; {MODEL_HINT}.")

    def not_exists(self, other: _Table, ms: list[_Mention]) -> None:
        q = self.q
        assert q.entity is not None
        ent = q.entity

        def refs(a: _Table, b: _Table) -> int:
            return sum(1 for e in self.s.adj.get(id(a), []) if e.b is b and e.a_refs_b)

        if refs(other, ent) != 1:
            # "products never ordered": order_items links products to orders; a product with
            # no order_items row is one nobody ordered
            bridges = [t for t in self.s.tables if refs(t, ent) == 1 and refs(t, other) == 1]
            if len(bridges) == 1:
                self.assume.append(f"through {bridges[0].name}")
                other = bridges[0]
        if refs(other, ent) != 1:
            raise _Unsure(
                f"I could not find one direct link from {other.name} to {q.entity.name} to tell "
                f"which {q.entity.name} have none; {MODEL_HINT}."
            )
        self.use(ms)
        q.having.append(("eq", 0, None))
        q.extra_tables.append(other)
        self.assume.append(f"{q.entity.name} with no row in {other.name}")

    def do_quoted(self, k: int, item: _Item) -> None:
        text = item.data["text"]
        before = [m for m in self.u.run_before(k) if m.kind not in ("harmless",)]
        cands = self.p.values.get(text.lower().strip(), [])
        col: _Col | None = None
        value = text
        subject = before[-1] if before else None
        if subject is not None and subject.kind in ("col",) and id(subject) not in self.used:
            self.use([subject])
            col = self.pick_col(subject, kinds=("text",), within=self.q.entity)
        elif cands:
            col, value = self.pick_value(cands, text)
        else:
            named = (
                self.u.toks[max(0, self.u.mentions[k].pos - 1)].text
                if self.u.mentions[k].pos
                else ""
            )
            t = self.q.entity or (self.involved()[0] if self.involved() else None)
            if named in ("named", "called") and t is not None:
                col = _labels(t)[0]
            else:
                raise _Unsure(f"Which column should equal '{text}'?")
        self.q.filters.append((col.table, _Eq(col, [value], False)))  # type: ignore[arg-type]

    def pick_value(self, cands: list[tuple[_Col, str]], text: str) -> tuple[_Col, str]:
        inv = self.involved()
        inside = [(c, v) for c, v in cands if c.table in inv]
        pool = inside or cands
        if inv and not inside:
            reach = [(c, v) for c, v in pool if self.s.path(inv[0], c.table) is not None]
            pool = reach or pool
        if len(inside) > 1 and inv:
            first = [(c, v) for c, v in inside if c.table is inv[0]]
            pool = first or inside
        cols = list(dict.fromkeys(c for c, _ in pool))
        if len(cols) > 1:
            raise _Unsure(
                f"'{text}' appears in several columns; which one?", [c.label for c in cols[:8]]
            )
        return pool[0]

    def do_free(self) -> None:
        q = self.q
        ms = self.u.mentions
        order = sorted(range(len(ms)), key=lambda i: (ms[i].kind not in ("value", "number"), i))
        for idx in order:
            m = ms[idx]
            if id(m) in self.used or m.kind in ("marker", "harmless", "stop", "table"):
                continue  # tables left over are checked once everything else has its place
            negators = [
                x for x in ms[max(0, idx - 2) : idx] if x.kind == "stop" and x.words[0] in _NEGATORS
            ]
            pending_neg = bool(negators)
            if m.kind in ("value", "negbool") or (
                m.kind == "col" and any(h[0] == "col" and _is_flag(h[1]) for h in m.cands)
            ):
                self.use(negators)  # the negation has its place; see check_negations
            if m.kind == "value":
                inv = self.involved()
                bools = [
                    h[1]
                    for h in m.obj or []
                    if h[0] == "col" and _is_flag(h[1]) and h[1].table in inv
                ]
                own = (
                    self.own_event_col(m) if not any(c.table in inv for c, _v in m.cands) else None
                )
                if len(bools) == 1 and not any(c.table in inv for c, _v in m.cands):
                    q.filters.append((bools[0].table, _Bool(bools[0], not pending_neg)))  # type: ignore[arg-type]
                elif own is not None:
                    # "shipments not delivered": shipments.delivered_at, not orders.status
                    if own.kind == "bool":
                        q.filters.append((own.table, _Bool(own, not pending_neg)))  # type: ignore[arg-type]
                    else:
                        q.filters.append((own.table, _IsNull(own, pending_neg)))  # type: ignore[arg-type]
                    self.assume.append(
                        f"'{' '.join(m.words)}' means {own.label} is "
                        f"{'empty' if pending_neg else 'set'}"
                    )
                else:
                    col, value = self.pick_value(m.cands, " ".join(m.words))
                    self.add_value(col, value, pending_neg)
                    self.drop_subject(idx, col)
            elif m.kind == "negbool":
                col = self.pick_col(m, kinds=("bool", "int"))
                q.filters.append((col.table, _Bool(col, pending_neg)))  # type: ignore[arg-type]
            elif m.kind == "col":
                bools = [h for h in m.cands if h[0] == "col" and _is_flag(h[1])]
                if bools and (
                    len(bools) == len([h for h in m.cands if h[0] == "col"]) or not self.listing()
                ):
                    col = self.pick_col(
                        _Mention("col", None, m.words, m.pos, m.score, bools), kinds=("bool", "int")
                    )
                    q.filters.append((col.table, _Bool(col, not pending_neg)))  # type: ignore[arg-type]
                elif self.listing():
                    col = self.pick_col(m, within=q.entity)
                    if m.words == ("name",) and q.entity is not None and col.table is q.entity:
                        q.select.extend(x for x in _labels(q.entity) if x not in q.select)
                    elif col not in q.select:
                        q.select.append(col)
                else:
                    raise _Unsure(
                        f"I am not sure what '{' '.join(m.words)}' is for in this question."
                    )
            elif m.kind == "money":
                if q.measure is None:
                    col = self.money_col(q.entity)
                    q.measure = _Measure("sum", col, col.table)
                    self.assume.append(f"'{m.words[0]}' means sum({col.label})")
            elif m.kind == "number":
                prev = ms[idx - 1] if idx else None
                if prev is not None and prev.kind == "table" and id(prev) in self.used:
                    t = self.table_of(prev)
                    if len(t.t.primary_key) == 1:
                        col = t.by_name[t.t.primary_key[0]]
                        q.filters.append((t, _Cmp(col, "eq", m.obj, None)))  # type: ignore[arg-type]
                        continue
                j = idx - 1
                if j > 0 and ms[j].kind == "stop" and ms[j].words[0] in ("of", "is", "equal"):
                    j -= 1
                prev = ms[j] if j >= 0 else None
                if prev is not None and prev.kind == "col" and q.entity is not None:
                    nums = [h for h in prev.cands if h[0] == "col" and h[1].kind in ("int", "num")]
                    if nums:  # "order items with quantity 2": quantity = 2
                        col = self.pick_col(prev, kinds=("int", "num"), within=q.entity)
                        if not _is_key(col):
                            self.use([prev])
                            if col in q.select:
                                q.select.remove(col)
                            q.filters.append((col.table, _Cmp(col, "eq", m.obj, None)))  # type: ignore[arg-type]
                            self.use([m])
                            continue
                raise _Unsure(f"I could not tell what the number {m.words[0]} refers to.")
            elif m.kind == "datepart":
                raise _Unsure(
                    f"I could not tell what '{m.words[0]}' means here; try 'by {m.words[0]}'."
                )
            elif m.kind == "unknown":
                raise _Unsure(_not_understood([m.words[0]]))
            self.use([m])

    def own_event_col(self, m: _Mention) -> _Col | None:
        """The entity's own date or flag a participle names ("delivered" -> delivered_at)."""
        ent = self.q.entity
        if ent is None or len(m.words) != 1 or m.pos >= len(self.u.toks):
            return None
        word = self.u.toks[m.pos].text
        if not word.endswith("ed"):
            return None
        stems = _hint_stems(word)
        own = [c for c in ent.cols if c.kind in ("date", "ts", "bool") and _hint_match(c, stems)]
        return own[0] if len(own) == 1 else None

    def drop_subject(self, idx: int, col: _Col) -> None:
        """ "status active": the column word just before a value names the value's column."""
        for j in range(idx - 1, max(-1, idx - 3), -1):
            prev = self.u.mentions[j]
            if prev.kind == "col" and any(h[1] is col for h in prev.cands if h[0] == "col"):
                self.use([prev])
                if col in self.q.select:
                    self.q.select.remove(col)
                return
            if prev.kind not in ("stop", "harmless"):
                break
        # "tickers on the NYSE exchange", "courses in the Mathematics department": the column
        # word right after a value names its column too
        nxt = self.u.mentions[idx + 1] if idx + 1 < len(self.u.mentions) else None
        if (
            nxt is not None
            and id(nxt) not in self.used
            and nxt.kind in ("col", "table")
            and any(h[1] is col for h in nxt.cands if h[0] == "col")
        ):
            self.use([nxt])

    def listing(self) -> bool:
        return self.q.measure is None and not self.q.groups

    def add_value(self, col: _Col, value: str, negate: bool) -> None:
        for i, (t, f) in enumerate(self.q.filters):
            if isinstance(f, _Eq) and f.col is col and f.negate == negate:
                self.q.filters[i] = (t, _Eq(col, [*f.values, value], negate))  # type: ignore[arg-type]
                return
        self.q.filters.append((col.table, _Eq(col, [value], negate)))  # type: ignore[arg-type]

    def window_hints(self, items: list[tuple[int, _Item]]) -> None:
        """'hired since 2020', 'sold in 2023': the word before a window picks the date column.

        Runs before the free words are read, so the hint word is not taken for a column to show.
        """
        for k, item in items:
            if item.kind != "window" or k == 0:
                continue
            j = k - 1
            while (
                j > 0
                and self.u.mentions[j].kind == "stop"
                and self.u.mentions[j].words[0] in ("was", "were", "is", "are", "been", "up", "out")
            ):
                j -= 1
            m = self.u.mentions[j]
            if m.kind not in ("col", "harmless", "unknown", "value", "table") or id(m) in self.used:
                continue
            word = self.u.toks[m.pos].text
            stems = _hint_stems(word)
            cols = [
                c
                for t in self.s.tables
                for c in t.cols
                if c.kind in ("date", "ts") and _hint_match(c, stems)
            ]
            if not cols:  # "customers who ordered last month": the date of the orders
                for t in self.s.tables:
                    if set(t.words) & stems and (c := _date_col_quiet(t)) is not None:
                        cols.append(c)
            if not cols:
                # an event verb with no date of its own: do not guess; joining is the row's
                # own creation, which the default date choice already prefers
                if (
                    word in _HINT_NOUNS
                    and word not in ("joined", "registered", "signed")
                    and m.kind != "value"
                ):
                    raise _Unsure(f"I could not tell which date '{word}' refers to here.")
                continue
            item.data["hint"] = (stems, cols)
            if m.kind != "table":
                self.use([m])

    def do_window(self, k: int, item: _Item) -> None:
        q = self.q
        w: _Window = item.data["w"]
        order = [t for t in [q.measure.table if q.measure else None, q.entity] if t is not None]
        order += [t for t in self.mentioned if t not in order]
        if w.year_only is not None and not item.data.get("hint"):
            for t in order:
                col = t.by_name.get("year")
                if (
                    col is not None
                    and col.kind in ("int", "num")
                    and not any(c.kind in ("date", "ts") for c in t.cols)
                ):
                    q.filters.append((t, _Cmp(col, "eq", float(w.year_only), None)))  # type: ignore[arg-type]
                    return
        chosen: _Col | None = None
        if item.data.get("hint"):
            _stems, cols = item.data["hint"]
            for t in order:  # the hinted column of a table already in the question
                mine = [c for c in cols if c.table is t]
                if len(mine) == 1:
                    chosen = mine[0]
                    break
            if chosen is None and order:
                reach = [c for c in cols if self.s.path(order[0], c.table) is not None]
                by_table = [c for c in reach if set(c.table.words) & _stems]
                pick = by_table if len(by_table) == 1 else reach
                if len(pick) == 1:
                    chosen = pick[0]
                elif len(pick) > 1:
                    raise _Unsure("Which date do you mean?", [c.label for c in pick[:8]])
        if chosen is None:
            for t in order:
                chosen = self.date_col(t)
                if chosen is not None:
                    break
        if chosen is not None:
            q.filters.append((chosen.table, _Range(chosen, w)))  # type: ignore[arg-type]
            self.assume.append(f"{w.label} applies to {chosen.label}")
            return
        for t in order:  # a plain integer year column, when nothing has a date
            col = t.by_name.get("year")
            if col is not None and w.year_only is not None:
                q.filters.append((t, _Cmp(col, "eq", float(w.year_only), None)))  # type: ignore[arg-type]
                return
        raise _Unsure(
            f"I understood the time window ({w.label}) but found no date column in "
            f"{', '.join(t.name for t in order) or 'the tables named'}."
        )

    def do_order(self, item: _Item, entity_m: _Mention | None) -> None:
        q = self.q
        t = q.entity or (q.measure.table if q.measure else None)
        if t is None:
            raise _Unsure(f"'{item.data['word']}' what? Name a table.")
        n = item.data["n"]
        plural = self.entity_plural(entity_m)
        if item.data["what"] == "pk":
            keys = [t.by_name[k] for k in t.t.primary_key if k in t.by_name]
            if not keys:
                raise _Unsure(f"{t.name} has no primary key to say which rows come first.")
            for col in keys:
                q.order.append(("col", col, False))
            self.assume.append(f"'first' means lowest {', '.join(c.name for c in keys)}")
        else:
            col = self.date_col(t)
            if col is None:
                raise _Unsure(
                    f"'{item.data['word']}' needs a date, and {t.name} has no date column."
                )
            q.order.append(("col", col, item.data["desc"]))
            self.assume.append(
                f"'{item.data['word']}' means {'newest' if item.data['desc'] else 'oldest'} {col.name}"
            )
        if n is None and q.limit:
            n = q.limit  # "the 3 most recent notifications"
        if n is None:
            n = 10 if plural else 1
            if plural:
                self.assume.append("shows 10 rows")
        q.limit = n

    def top_default(self, item: _Item) -> None:
        q = self.q
        if (
            q.measure is not None
            and q.entity is not None
            and q.measure.table is not q.entity
            and not q.groups
        ):
            q.groups.append(("entity", q.entity))  # "top 3 salespersons by total sales"
        if q.measure is not None and q.groups:
            q.order.append(("measure", None, item.data["dir"] == "desc"))
        elif q.entity is not None:
            col = self.money_col(q.entity)
            q.order.append(("col", col, item.data["dir"] == "desc"))
            self.assume.append(f"'top' ranks by {col.label}")


_HINT_NOUNS = {
    "sold": ("sale",),
    "bought": ("purchase", "order"),
    "purchased": ("purchase", "order"),
    "ordered": ("order",),
    "paid": ("payment", "paid"),
    "shipped": ("ship", "shipping", "shipment"),
    "hired": ("hire",),
    "joined": ("join",),
    "registered": ("registration", "register"),
    "signed": ("signup",),
    "delivered": ("delivery",),
    "placed": ("order", "placed"),
    "started": ("start",),
    "ended": ("end",),
    "finished": ("end", "completed"),
    "completed": ("completed", "complete"),
    "reported": ("reported", "report"),
    "approved": ("approval", "approved"),
    "updated": ("updated", "update"),
    "modified": ("modified",),
    "born": ("birth",),
    "assessed": ("assess", "assessment"),
    "logged": ("login",),
}


def _hint_stems(word: str) -> frozenset[str]:
    stems = {word, *_HINT_NOUNS.get(word, ())}
    if word.endswith("ed") and len(word) > 4:
        stems |= {word[:-2], word[:-1]}
    return frozenset(x for x in stems if len(x) >= 3)


def _hint_match(col: _Col, stems: frozenset[str]) -> bool:
    if stems & col.all_words:
        return True
    return len(col.words) == 1 and any(len(x) >= 4 and col.compact.startswith(x) for x in stems)


# -- filters, rendered late because column references depend on the join ----------------------


@dataclass
class _Cmp:
    col: _Col
    op: str
    a: float
    b: float | None


@dataclass
class _IsNull:
    col: _Col
    null: bool


@dataclass
class _Eq:
    col: _Col
    values: list[str]
    negate: bool


@dataclass
class _Bool:
    col: _Col
    value: bool


_COUNT_WORDS = frozenset({"count", "number", "num", "quantity", "qty", "cnt", "total"})


def _count_like(col: _Col, word: str) -> bool:
    """An integer that counts things: `stops`, `num_beds`, `engine_count` ("no stops" = 0)."""
    if col.kind != "int" or col.words[-1:] == ("id",) or _is_flag(col):
        return False
    if set(col.words) & (_COUNT_WORDS - {"total"}):
        return True
    name = col.name.lower()
    return word != _singular(word) and name.endswith("s") and not name.endswith("ss")


def _tally_cols(t: _Table | None) -> list[_Col]:
    """Columns that say how many things a row stands for: `count`, `quantity`, `num_visits`."""
    if t is None:
        return []
    return [
        c
        for c in t.cols
        if c.kind in ("int", "num")
        and not _is_key(c)
        and c.words
        and c.words[-1] in ("count", "quantity", "qty", "cnt")
        and (len(c.words) == 1 or c.words[:-1] == t.words)  # not business.review_count
    ]


def _is_key(col: _Col) -> bool:
    """A key: the primary key, a foreign key, or a column named *id."""
    t = col.table.t
    return (
        col.words[-1:] == ("id",)
        or col.name in t.primary_key
        or any(col.name in fk.columns for fk in t.foreign_keys)
    )


def _is_flag(col: _Col) -> bool:
    """A yes/no column: boolean, or an integer named is_* / has_* (yelp's is_open)."""
    return col.kind == "bool" or (col.kind == "int" and col.words[:1] in (("is",), ("has",)))


@dataclass
class _Range:
    col: _Col
    w: _Window


def _num_lit(x: float) -> exp.Literal:
    return exp.Literal.number(int(x) if float(x).is_integer() else x)


def _date_lit(d: dt.date) -> exp.Expression:
    return exp.Cast(this=exp.Literal.string(d.isoformat()), to=exp.DataType.build("date"))


_OPS = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE, "eq": exp.EQ}


class _Renderer:
    """_Query -> one sqlglot SELECT, joined along the shortest key paths."""

    def __init__(self, s: _Schema, q: _Query, assume: list[str]) -> None:
        self.s, self.q, self.assume = s, q, assume
        root = q.measure.table if q.measure else q.entity
        assert root is not None
        self.root = root
        self.tables: list[_Table] = [root]
        self.joins: list[_Edge] = []
        self.fanout = False

    def need(self, t: _Table) -> None:
        if t in self.tables:
            return
        path = None
        for start in self.tables:  # shortest path from anything already joined
            p = self.s.path(start, t)
            if p is not None and (path is None or len(p) < len(path)):
                path = p
        if path is None:
            raise _Unsure(
                f"I could not find how {self.root.name} relates to {t.name} "
                "(no foreign key or matching key column)."
            )
        for e in path:
            if e.b in self.tables:
                continue
            twins = [x for x in self.s.adj.get(id(e.a), []) if x.b is e.b]
            if len(twins) > 1:
                raise _Unsure(
                    f"{e.a.name} relates to {e.b.name} in more than one way; which one?",
                    [
                        f"{e.a.name}.{', '.join(x.a_cols)} = {e.b.name}.{', '.join(x.b_cols)}"
                        for x in twins
                    ],
                )
            if not e.a_refs_b:
                self.fanout = True
            self.joins.append(e)
            self.tables.append(e.b)
        if len(path) > 1:
            self.assume.append(
                f"joins {self.root.name} to {t.name} through "
                + ", ".join(e.b.name for e in path[:-1])
            )

    def col(self, c: _Col) -> exp.Column:
        if len(self.tables) > 1:
            return exp.Column(this=_ident(c.name), table=_ident(c.table.name))
        return exp.Column(this=_ident(c.name))

    def table_expr(self, t: _Table) -> exp.Table:
        return exp.Table(this=_ident(t.name), db=_ident(t.schema) if t.qualify else None)

    def cond(self, f: Any) -> exp.Expression:
        if isinstance(f, _Cmp):
            c = self.col(f.col)
            if f.op == "between":
                lo, hi = sorted([f.a, f.b if f.b is not None else f.a])
                return exp.Between(this=c, low=_num_lit(lo), high=_num_lit(hi))
            return _OPS[f.op](this=c, expression=_num_lit(f.a))
        if isinstance(f, _IsNull):
            test = exp.Is(this=self.col(f.col), expression=exp.Null())
            return test if f.null else exp.Not(this=test)
        if isinstance(f, _Eq):
            c = self.col(f.col)
            lits = [exp.Literal.string(v) for v in f.values]
            if len(lits) == 1:
                return (
                    exp.NEQ(this=c, expression=lits[0])
                    if f.negate
                    else exp.EQ(this=c, expression=lits[0])
                )
            e = exp.In(this=c, expressions=lits)
            return exp.Not(this=e) if f.negate else e
        if isinstance(f, _Bool):
            c = self.col(f.col)
            if f.col.kind == "int":
                zero = exp.Literal.number(0)
                return (
                    exp.NEQ(this=c, expression=zero) if f.value else exp.EQ(this=c, expression=zero)
                )
            return (
                exp.Is(this=c, expression=exp.true())
                if f.value
                else exp.Not(this=exp.paren(exp.Is(this=c, expression=exp.true())))
            )
        if isinstance(f, _Range):
            c = self.col(f.col)
            parts: list[exp.Expression] = []
            if f.w.start is not None:
                parts.append(exp.GTE(this=c, expression=_date_lit(f.w.start)))
            if f.w.end is not None:
                parts.append(exp.LT(this=c.copy(), expression=_date_lit(f.w.end)))
            return exp.and_(*parts)
        raise TypeError(type(f))

    def render(self) -> exp.Select:
        q = self.q
        if q.entity is not None:
            self.need(q.entity)
        part_col: _Col | None = None
        for kind, g in q.groups:
            if kind == "entity":
                self.need(g)
            elif kind == "col":
                self.need(g.table)
            elif kind == "part":
                for t in [self.root, *(x for x in self.tables if x is not self.root)]:
                    part_col = _date_col_quiet(t)
                    if part_col is not None:
                        break
                if part_col is None:
                    raise _Unsure(f"Grouping by {g} needs a date column, and I found none here.")
        for t, _f in q.filters:
            self.need(t)
        for c in q.select:
            self.need(c.table)
        for kind, c, _desc in q.order:
            if kind == "col":
                self.need(c.table)

        select: list[exp.Expression] = []
        group_by: list[exp.Expression] = []
        order: list[exp.Expression] = []
        for kind, g in q.groups:
            if kind == "entity":
                labels = _labels(g)
                for c in labels:
                    select.append(self.col(c))
                keys = [g.by_name[k] for k in g.t.primary_key if k in g.by_name]
                for c in [*keys, *labels]:
                    e = self.col(c)
                    if e not in group_by:
                        group_by.append(e)
            elif kind == "col":
                select.append(self.col(g))
                group_by.append(self.col(g))
                if g.words and g.words[-1] in _DATEPARTS:  # "by year": in time order
                    order.append(exp.Ordered(this=self.col(g), desc=False))
            elif kind == "part":
                assert part_col is not None
                trunc = exp.Cast(
                    this=exp.Anonymous(
                        this="date_trunc", expressions=[exp.Literal.string(g), self.col(part_col)]
                    ),
                    to=exp.DataType.build("date"),
                )
                select.append(trunc.as_(_ident(g)))
                group_by.append(trunc.copy())
                order.append(exp.Ordered(this=exp.Column(this=_ident(g)), desc=False))
                self.assume.append(f"'by {g}' groups {part_col.label} by calendar {g}")
        alias = None
        if q.measure is not None:
            m = q.measure
            alias = _measure_alias(m)
            if m.fn == "count" and m.col is None:
                agg: exp.Expression = exp.Count(this=exp.Star())
                if self.fanout:
                    keys = [
                        self.root.by_name[k]
                        for k in self.root.t.primary_key
                        if k in self.root.by_name
                    ]
                    if not keys:  # no declared key: the one it owns by name (publication.pid)
                        keys = [self.root.by_name[k] for k in _Schema._owned_keys(self.root)[:1]]
                    if len(keys) != 1:
                        raise _Unsure(
                            f"Counting {self.root.name} across that join could count rows twice, and "
                            f"{self.root.name} has no single-column key to count distinct."
                        )
                    agg = exp.Count(this=exp.Distinct(expressions=[self.col(keys[0])]))
            elif m.fn == "count":
                assert m.col is not None
                arg: exp.Expression = self.col(m.col)
                agg = exp.Count(this=exp.Distinct(expressions=[arg]) if m.distinct else arg)
            else:
                assert m.col is not None
                if self.fanout and m.fn in ("sum", "avg") and not self.per_link_entity():
                    raise _Unsure(
                        f"Adding up {m.col.label} across that join would count rows more than once; "
                        "ask per " + m.table.name + " instead, or " + MODEL_HINT + "."
                    )
                fn = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[m.fn]
                agg = fn(this=self.col(m.col))
                if m.fn == "avg" and _cents(m.col):
                    # money to cents; any other average is shown exactly as PostgreSQL gives it
                    if m.col.c.type_name.startswith(
                        ("numeric", "decimal", "integer", "bigint", "smallint")
                    ):
                        agg = exp.Anonymous(this="round", expressions=[agg, exp.Literal.number(2)])
            select.append(agg.as_(_ident(alias)))
        for kind, c, desc in q.order:
            if kind == "measure" and alias:
                order.append(exp.Ordered(this=exp.Column(this=_ident(alias)), desc=desc))
            elif kind == "col":
                order.append(exp.Ordered(this=self.col(c), desc=desc, nulls_first=False))
        if q.groups and alias and not any(k == "measure" for k, _, _ in q.order):
            if not order:
                order.append(exp.Ordered(this=exp.Column(this=_ident(alias)), desc=True))
        if not select:
            if q.select:
                select = [self.col(c) for c in q.select]
            elif len(self.tables) > 1:
                select = [exp.Column(this=exp.Star(), table=_ident(self.root.name))]
            else:
                select = [exp.Star()]
        query = exp.Select(expressions=select).from_(self.table_expr(self.root))
        if self.fanout and q.measure is None and not q.groups:
            query = query.distinct()  # a joined filter must not repeat rows
            shown = set(map(id, q.select)) if q.select else {id(c) for c in self.root.cols}
            if any(kind == "col" and id(c) not in shown for kind, c, _d in q.order):
                # PostgreSQL rejects it, and the order would be of another table's many rows
                raise _Unsure(
                    f"Each {self.root.name} has many rows to order by there; which one counts "
                    f"(the total, the largest)? {MODEL_HINT[0].upper()}{MODEL_HINT[1:]}."
                )
        for e in self.joins:
            on = exp.and_(
                *(
                    exp.EQ(
                        this=exp.Column(this=_ident(a), table=_ident(e.a.name)),
                        expression=exp.Column(this=_ident(b), table=_ident(e.b.name)),
                    )
                    for a, b in zip(e.a_cols, e.b_cols, strict=False)
                )
            )
            query = query.join(self.table_expr(e.b), on=on, join_type="inner")
        conds = [self.cond(f) for _t, f in q.filters]
        for (op, a, b), other in zip(q.having, q.extra_tables, strict=False):
            conds.append(self.count_subquery(other, op, a, b))
        if conds:
            query = query.where(exp.and_(*conds))
        if group_by:
            query = query.group_by(*group_by)
        if order:
            query = query.order_by(*order)
        if q.limit:
            query = query.limit(q.limit)
        return query

    def per_link_entity(self) -> bool:
        """Summing root rows per E through a link table (publication <- writes -> author) counts
        each root row once per E it belongs to, which is what "per author" means."""
        groups = self.q.groups
        if len(groups) != 1 or groups[0][0] != "entity":
            return False
        ent = groups[0][1]
        fan = [e for e in self.joins if not e.a_refs_b]
        if len(fan) != 1 or fan[0].a is not self.root:
            return False
        link = fan[0].b
        return any(e.a is link and e.b is ent and e.a_refs_b for e in self.joins)

    def count_subquery(self, other: _Table, op: str, a: float, b: float | None) -> exp.Expression:
        ent = self.root
        edges = [e for e in self.s.adj.get(id(other), []) if e.b is ent and e.a_refs_b]
        if len(edges) != 1:
            raise _Unsure(f"I could not find one direct link from {other.name} to {ent.name}.")
        e = edges[0]
        inner_on = exp.and_(
            *(
                exp.EQ(
                    this=exp.Column(this=_ident(x), table=_ident(other.name)),
                    expression=exp.Column(this=_ident(y), table=_ident(ent.name)),
                )
                for x, y in zip(e.a_cols, e.b_cols, strict=False)
            )
        )
        sub = exp.Subquery(
            this=exp.Select(expressions=[exp.Count(this=exp.Star())])
            .from_(self.table_expr(other))
            .where(inner_on)
        )
        self.tables.append(other)  # columns must be qualified from here on
        if op == "between":
            lo, hi = sorted([a, b if b is not None else a])
            return exp.Between(this=sub, low=_num_lit(lo), high=_num_lit(hi))
        return _OPS[op](this=sub, expression=_num_lit(a))


def _date_col_quiet(t: _Table) -> _Col | None:
    cols = sorted((c for c in t.cols if c.kind in ("date", "ts")), key=lambda c: -_date_score(c))
    if len(cols) > 1 and _date_score(cols[0]) - _date_score(cols[1]) < 0.1:
        raise _Unsure(f"Which date of {t.name} do you mean?", [c.label for c in cols[:2]])
    return cols[0] if cols else None


def _measure_alias(m: _Measure) -> str:
    if m.fn == "count" and m.col is None:
        return "count"
    assert m.col is not None
    prefix = {"count": "count", "sum": "total", "avg": "avg", "min": "min", "max": "max"}[m.fn]
    if m.distinct:
        prefix = "distinct"
    if prefix == "total" and "total" in m.col.name.lower():
        return m.col.name
    return f"{prefix}_{m.col.name}"[:63]


_OP_WORDS = {
    "gt": "over",
    "gte": "at least",
    "lt": "under",
    "lte": "at most",
    "eq": "=",
    "between": "between",
}


def _explain(q: _Query, r: _Renderer) -> str:
    parts: list[str] = []
    m = q.measure
    if m is None:
        what = ", ".join(c.name for c in q.select) if q.select else "rows"
        parts.append(f"Lists {what} of {r.root.name}")
    elif m.fn == "count" and m.col is None:
        parts.append(f"Counts {m.table.name}")
    else:
        assert m.col is not None
        word = {"count": "Counts", "sum": "Adds up", "avg": "Averages", "min": "Finds the smallest",
                "max": "Finds the largest"}[m.fn]  # fmt: skip
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
        if isinstance(f, _Range):
            sep = (
                ""
                if f.w.label.startswith(("since", "before", "from", "on", "today", "yesterday"))
                else "in "
            )
            conds.append(f"{f.col.name} {sep}{f.w.label}")
        elif isinstance(f, _Eq):
            conds.append(f"{f.col.name} {'not ' if f.negate else ''}{' or '.join(f.values)}")
        elif isinstance(f, _Cmp):
            op = _OP_WORDS[f.op]
            conds.append(
                f"{f.col.name} {op} {f.a:g}" + (f" and {f.b:g}" if f.b is not None else "")
            )
        elif isinstance(f, _IsNull):
            conds.append(f"{f.col.name} {'missing' if f.null else 'present'}")
        elif isinstance(f, _Bool):
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


# -- DDL and DBA intents -------------------------------------------------------------------------

_TYPES = {
    "text": "text",
    "string": "text",
    "varchar": "varchar",
    "integer": "integer",
    "int": "integer",
    "bigint": "bigint",
    "smallint": "smallint",
    "number": "numeric",
    "numeric": "numeric",
    "decimal": "numeric",
    "boolean": "boolean",
    "bool": "boolean",
    "flag": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "datetime": "timestamp",
    "json": "jsonb",
    "jsonb": "jsonb",
    "uuid": "uuid",
    "float": "double precision",
    "double": "double precision",
    "real": "real",
}
_NEW_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _find_table(s: _Schema, name: str) -> _Table:
    name = name.strip().strip('"')
    schema, _, bare = name.rpartition(".")
    exact = [
        t for t in s.tables if t.name == bare and (not schema or t.schema == schema.strip('"'))
    ]
    if not exact:
        exact = [
            t
            for t in s.tables
            if t.name.lower() == bare.lower() and (not schema or t.schema.lower() == schema.lower())
        ]
    if not exact:
        hits = [
            h[1]
            for h in s.lookup(tuple(_singular(w) for w in _split_ident(bare)))
            if h[0] == "table" and h[2] >= 3
        ]
        exact = list(dict.fromkeys(hits))
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise _Unsure(f"Which table '{name}'?", [t.full for t in exact])
    raise _Unsure(f"There is no table '{name}'.{_did_you_mean(bare, [t.name for t in s.tables])}")


def _find_column(t: _Table, name: str) -> _Col:
    name = name.strip().strip('"')
    col = t.by_name.get(name) or next((c for c in t.cols if c.name.lower() == name.lower()), None)
    if col is None:
        raise _Unsure(
            f"{t.name} has no column '{name}'.{_did_you_mean(name, [c.name for c in t.cols])}"
        )
    return col


def _did_you_mean(word: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(close)}?" if close else ""


_IDX_RE = re.compile(
    r"^(?:please\s+)?(?:create|add|make|build)\s+(?:an?\s+)?(?P<u>unique\s+)?index\s+(?:on|for)\s+"
    r"(?:table\s+)?(?P<t>[\w.\"]+)\s*\(\s*(?P<c>[\w\",\s]+)\)\s*$|"
    r"^(?:please\s+)?(?:create|add|make|build)\s+(?:an?\s+)?(?P<u2>unique\s+)?index\s+(?:on|for)\s+"
    r"(?:column\s+)?(?P<c2>[\w\"]+)\s+(?:of|on|in)\s+(?:table\s+)?(?P<t2>[\w.\"]+)\s*$|"
    r"^(?:please\s+)?(?:create|add|make|build)\s+(?:an?\s+)?(?P<u3>unique\s+)?index\s+(?:on|for)\s+"
    r"(?P<t3>[\w\"]+)\.(?P<c3>[\w\"]+)\s*$",
    re.IGNORECASE,
)
_DROP_IDX_RE = re.compile(
    r"^(?:please\s+)?(?:drop|delete|remove)\s+(?:the\s+)?index\s+(?:if\s+exists\s+)?(?P<n>[\w.\"]+)\s*$",
    re.I,
)
_ADD_COL_RE = re.compile(
    r"^(?:please\s+)?add\s+(?:an?\s+)?(?:new\s+)?(?:(?P<ty1>\w+)\s+)?column\s+(?P<c>[\w\"]+)"
    r"(?:\s+(?:of\s+type\s+|as\s+|with\s+type\s+)?(?P<ty>\w+(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?))?"
    r"\s+(?:to|on|in)\s+(?:table\s+)?(?P<t>[\w.\"]+)\s*$",
    re.I,
)
_EXPLAIN_RE = re.compile(
    r"^(?:explain|why is|why's)\s+(?P<a>analy[sz]e\s+)?(?P<rest>.+?)(?:\s+(?:slow|so slow))?$",
    re.I | re.S,
)


def _ddl(s: _Schema, question: str) -> Plan | None:
    text = re.sub(r"\s+", " ", question.strip().rstrip(".;?!"))
    if m := _IDX_RE.match(text):
        t = _find_table(s, m["t"] or m["t2"] or m["t3"])
        names = [c.strip() for c in (m["c"] or m["c2"] or m["c3"]).split(",") if c.strip()]
        cols = [_find_column(t, c) for c in names]
        unique = bool(m["u"] or m["u2"] or m["u3"])
        existing = {i.name for tt in s.tables for i in tt.t.indexes}
        base = f"{t.name}_{'_'.join(c.name for c in cols)}_{'key' if unique else 'idx'}"[:60]
        name, n = base, 1
        while name in existing:
            n += 1
            name = f"{base[:58]}{n}"
        same = [i.name for i in t.t.indexes if i.columns[: len(cols)] == [c.name for c in cols]]
        create = exp.Create(
            kind="INDEX",
            unique=unique,
            this=exp.Index(
                this=_ident(name),
                table=_table_ident(t),
                params=exp.IndexParameters(
                    columns=[exp.Ordered(this=exp.Column(this=_ident(c.name))) for c in cols]
                ),
            ),
        )
        drop = exp.Drop(
            kind="INDEX", tables=[exp.Table(this=_ident(name), db=_ident(t.schema))], exists=True
        )
        assumptions = [
            f"index name {name}",
            "plain CREATE INDEX (locks writes while it builds; CONCURRENTLY cannot run in a transaction)",
        ]
        if same:
            assumptions.append(f"{', '.join(same)} already covers these columns")
        return Plan(
            sql=create.sql(dialect="postgres"),
            explanation=f"Creates {'a unique' if unique else 'an'} index on {t.name}({', '.join(c.name for c in cols)}).",
            intent="ddl",
            assumptions=assumptions,
            tables=[t.full],
            source="offline",
            down_sql=_drop_sql(drop),
        )
    if m := _DROP_IDX_RE.match(text):
        raw = m["n"].strip('"')
        schema, _, bare = raw.rpartition(".")
        found = [
            (t, i)
            for t in s.tables
            for i in t.t.indexes
            if i.name == bare and (not schema or t.schema == schema)
        ]
        if not found:
            names = [i.name for t in s.tables for i in t.t.indexes]
            raise _Unsure(f"There is no index '{raw}'.{_did_you_mean(bare, names)}")
        if len(found) > 1:
            raise _Unsure(f"Which index '{raw}'?", [f"{t.schema}.{i.name}" for t, i in found])
        t, idx = found[0]
        if idx.primary or idx.constraint:
            raise _Unsure(
                f"Index {idx.name} backs constraint {idx.constraint or 'the primary key'} of {t.name}; "
                "drop the constraint instead (ALTER TABLE … DROP CONSTRAINT) if you mean it."
            )
        drop = exp.Drop(
            kind="INDEX", tables=[exp.Table(this=_ident(idx.name), db=_ident(t.schema))]
        )
        return Plan(
            sql=_drop_sql(drop),
            explanation=f"Drops index {idx.name} on {t.name}.",
            intent="ddl",
            assumptions=[f"was: {idx.definition}"] if idx.definition else [],
            tables=[t.full],
            source="offline",
            down_sql=idx.definition,
        )
    if m := _ADD_COL_RE.match(text):
        t = _find_table(s, m["t"])
        name = m["c"].strip('"')
        if not _NEW_IDENT.fullmatch(name):
            raise _Unsure(f"'{name}' is not a usable column name.")
        if name in t.by_name:
            raise _Unsure(f"{t.name} already has a column {name}.")
        ty_text = (m["ty"] or m["ty1"] or "").lower().replace(" ", "")
        base_ty = re.sub(r"\(.*", "", ty_text)
        assumptions = []
        if not ty_text:
            ty = exp.DataType.build("text")
            assumptions.append("type text (none given)")
        elif base_ty in _TYPES:
            args = re.findall(r"\d+", ty_text)
            spec = _TYPES[base_ty] + (
                f"({','.join(args)})"
                if args and base_ty in ("varchar", "numeric", "decimal")
                else ""
            )
            ty = exp.DataType.build(spec, dialect="postgres")
        else:
            raise _Unsure(f"I do not know the type '{ty_text}'.", sorted(set(_TYPES.values())))
        alter = exp.Alter(
            this=_table_ident(t), kind="TABLE", actions=[exp.ColumnDef(this=_ident(name), kind=ty)]
        )
        down = exp.Alter(
            this=_table_ident(t), kind="TABLE", actions=[exp.Drop(this=_ident(name), kind="COLUMN")]
        )
        return Plan(
            sql=alter.sql(dialect="postgres"),
            explanation=f"Adds column {name} ({ty.sql(dialect='postgres')}) to {t.name}.",
            intent="ddl",
            assumptions=assumptions,
            tables=[t.full],
            source="offline",
            down_sql=down.sql(dialect="postgres"),
        )
    return None


def _table_ident(t: _Table) -> exp.Table:
    return exp.Table(this=_ident(t.name), db=_ident(t.schema) if t.qualify else None)


def _drop_sql(drop: exp.Drop) -> str:
    return drop.sql(dialect="postgres")


_LIST_TABLES_RE = re.compile(
    r"^(?:list|show|what are)(?: me)?(?: all)?(?: the)? tables(?: are there| in (?:the|this) database)?$|^what tables (?:are there|exist|do (?:we|i) have)$",
    re.I,
)
_DESCRIBE_RE = re.compile(
    r"^(?:describe|(?:show|list)(?: me)? (?:the )?columns (?:of|in|for)|what columns (?:does|do) (?P<t2>[\w.\"]+) have|structure of)\s*(?P<t>[\w.\"]+)?$",
    re.I,
)
_INDEXES_RE = re.compile(
    r"^(?:show|list)(?: me)?(?: the| all)? indexes (?:on|of|for) (?:table )?(?P<t>[\w.\"]+)$", re.I
)
_ACTIVITY_RE = re.compile(
    r"^(?:show|list)?(?: me)?(?: the| all)? ?(?:running|active|current) (?:queries|connections|sessions)$",
    re.I,
)


def _dba(s: _Schema, question: str) -> Plan | None:
    text = re.sub(r"\s+", " ", question.strip().rstrip(".;?!")).lower()
    if _LIST_TABLES_RE.match(text):
        q = (
            sqlglot.select("table_schema", "table_name", "table_type")
            .from_(exp.Table(this=_ident("tables"), db=_ident("information_schema")))
            .where(
                exp.Not(
                    this=exp.In(
                        this=exp.column("table_schema"),
                        expressions=[
                            exp.Literal.string("pg_catalog"),
                            exp.Literal.string("information_schema"),
                        ],
                    )
                )
            )
            .order_by("table_schema", "table_name")
        )
        return Plan(
            sql=q.sql(dialect="postgres"),
            explanation="Lists the tables and views of this database.",
            intent="read",
            tables=["information_schema.tables"],
            source="offline",
        )
    m = _DESCRIBE_RE.match(question.strip().rstrip(".;?!"))
    if m and (m["t"] or m["t2"]):
        t = _find_table(s, m["t"] or m["t2"])
        q = (
            sqlglot.select("column_name", "data_type", "is_nullable", "column_default")
            .from_(exp.Table(this=_ident("columns"), db=_ident("information_schema")))
            .where(
                exp.and_(
                    exp.column("table_schema").eq(exp.Literal.string(t.schema)),
                    exp.column("table_name").eq(exp.Literal.string(t.name)),
                )
            )
            .order_by("ordinal_position")
        )
        return Plan(
            sql=q.sql(dialect="postgres"),
            explanation=f"Lists the columns of {t.full}.",
            intent="read",
            tables=["information_schema.columns"],
            source="offline",
        )
    m = _INDEXES_RE.match(question.strip().rstrip(".;?!"))
    if m:
        t = _find_table(s, m["t"])
        q = (
            sqlglot.select("indexname", "indexdef")
            .from_(exp.Table(this=_ident("pg_indexes"), db=_ident("pg_catalog")))
            .where(
                exp.and_(
                    exp.column("schemaname").eq(exp.Literal.string(t.schema)),
                    exp.column("tablename").eq(exp.Literal.string(t.name)),
                )
            )
            .order_by("indexname")
        )
        return Plan(
            sql=q.sql(dialect="postgres"),
            explanation=f"Lists the indexes of {t.full}.",
            intent="read",
            tables=["pg_catalog.pg_indexes"],
            source="offline",
        )
    if _ACTIVITY_RE.match(text):
        q = (
            sqlglot.select("pid", "usename", "state", "query_start", "query")
            .from_(exp.Table(this=_ident("pg_stat_activity"), db=_ident("pg_catalog")))
            .where(
                exp.and_(
                    exp.column("state").neq(exp.Literal.string("idle")),
                    exp.column("pid").neq(exp.Anonymous(this="pg_backend_pid", expressions=[])),
                )
            )
            .order_by("query_start")
        )
        return Plan(
            sql=q.sql(dialect="postgres"),
            explanation="Lists the sessions that are running a statement now.",
            intent="read",
            tables=["pg_catalog.pg_stat_activity"],
            source="offline",
        )
    return None


# -- entry point ----------------------------------------------------------------------------------

_FOLLOW_UP_RE = re.compile(r"^(?:and|what about|how about|now|only|just|same|but)\b", re.I)


def offline_plan(
    question: str,
    catalog: Catalog,
    *,
    recent: list[Turn] | None = None,
    values: dict[tuple[str, str, str], list[str]] | None = None,
    today: dt.date | None = None,
) -> Plan | Clarification:
    """Plan `question` against `catalog` without a model; never raises.

    `values` maps (schema, table, column) to the distinct values of low-cardinality text columns
    (see value_index_sql); `today` fixes "last month" and friends (default: the local date).
    `recent` lets a short follow-up ("and by month?") continue the previous question.
    """
    try:
        return _plan(question, catalog, recent or [], values, today or dt.date.today())
    except _Unsure as exc:
        return Clarification(question=exc.question, options=exc.options)
    except Exception as exc:  # a bug here must not cost the person their question
        return Clarification(
            question=f"I could not plan this offline ({type(exc).__name__}); {MODEL_HINT}.",
            options=[],
        )


def _plan(
    question: str,
    catalog: Catalog,
    recent: list[Turn],
    values: dict[tuple[str, str, str], list[str]] | None,
    today: dt.date,
) -> Plan | Clarification:
    question = (question or "").strip()[:2000]
    if not question:
        return Clarification(question="What would you like to know?")
    s = _schema_for(catalog)
    if not s.tables:
        return Clarification(
            question="This database has no tables I can see, so there is nothing to ask about yet."
        )
    ddl = _ddl(s, question) or _dba(s, question)
    if ddl is not None:
        return ddl
    if m := _EXPLAIN_RE.match(question.strip()):
        rest = m["rest"].strip()
        inner = _explain_target(rest, catalog, recent, values, today)
        if isinstance(inner, Clarification):
            return inner
        return Plan(
            sql=inner.sql,
            explanation=f"Shows the query plan{' with actual timings' if m['a'] else ''} of: {inner.explanation}",
            intent="explain",
            assumptions=[
                *inner.assumptions,
                *(["EXPLAIN ANALYZE runs the query"] if m["a"] else []),
            ],
            tables=inner.tables,
            source="offline",
        )
    try:
        return _plan_read(question, s, values, today)
    except _Unsure as exc:
        previous = next((t for t in reversed(recent) if t.question and t.sql), None)
        if previous is not None and _FOLLOW_UP_RE.match(question):
            rest = _FOLLOW_UP_RE.sub("", question, count=1)
            try:
                plan = _plan_read(f"{previous.question} {rest}", s, values, today)
            except _Unsure:
                raise exc from None
            return _with_assumptions(plan, [f"continues '{previous.question}'", *plan.assumptions])
        raise


def _with_assumptions(plan: Plan, assumptions: list[str]) -> Plan:
    return msgspec.structs.replace(plan, assumptions=assumptions)


def _explain_target(
    rest: str,
    catalog: Catalog,
    recent: list[Turn],
    values: dict[tuple[str, str, str], list[str]] | None,
    today: dt.date,
) -> Plan | Clarification:
    if re.match(r"^(?:select|with)\b", rest, re.I):
        try:
            tree = sqlglot.parse_one(rest, read="postgres")
        except Exception:
            return Clarification(question="I could not parse that SQL to explain it.")
        if not isinstance(tree, (exp.Select, exp.Union, exp.With)) and not isinstance(
            tree, exp.Query
        ):
            return Clarification(question="I only explain SELECT queries offline.")
        return Plan(
            sql=tree.sql(dialect="postgres"),
            explanation="the query you gave.",
            intent="read",
            source="offline",
        )
    if rest.lower() in ("it", "that", "this", "the last query", "the previous query", "last query"):
        previous = next((t for t in reversed(recent) if t.sql), None)
        if previous is None:
            return Clarification(question="Explain which query? There is no previous one.")
        return Plan(
            sql=previous.sql, explanation="the previous query.", intent="read", source="offline"
        )
    result = offline_plan(rest, catalog, recent=recent, values=values, today=today)
    if isinstance(result, Plan) and result.intent != "read":
        return Clarification(question="I only explain read queries offline.")
    return result


def _plan_read(
    question: str, s: _Schema, values: dict[tuple[str, str, str], list[str]] | None, today: dt.date
) -> Plan:
    parser = _Parser(question, s, values, today)
    text = (
        _LEAD_RE.sub("", question.strip(), count=1)
        if not question.strip().startswith(("'", '"'))
        else question
    )
    text = _MOST_NUMBER_OF.sub(_most_or_fewest, _EVENT_PHRASES.sub("happened", text))
    each_verb = _EACH_VERB.search(text)
    if each_verb:
        text = text[: each_verb.start()] + f"per {each_verb.group(1)}"
    text = parser.extract(" " + text)
    und = _Understanding(parser, text)
    unknown = [m.words[0] for m in und.mentions if m.kind == "unknown"]
    resolver = _Resolver(parser, und)
    try:
        q = resolver.resolve()
    except _Unsure as exc:
        if unknown and not exc.options:
            raise _Unsure(_not_understood(unknown)) from None
        raise
    measured = q.measure.table if q.measure else q.entity
    every = [g for kind, g in q.groups if kind == "entity" and g is not measured]
    if each_verb and every:
        group = " ".join(every[0].words)
        what = " ".join(measured.words) if measured else "row"
        what = what if what.endswith("s") else what + "s"
        raise _Unsure(
            f"Every {group} (0 where it has no {what}), or only those with {what}? "
            f"'number of {what} per {group}' asks for the second.",
            [f"every {group}, with 0", f"only each {group} with {what}"],
        )
    r = _Renderer(s, q, parser.assumptions)
    tree = r.render()
    sql = tree.sql(dialect="postgres")
    return Plan(
        sql=sql,
        explanation=_explain(q, r),
        intent="read",
        assumptions=list(dict.fromkeys(parser.assumptions)),
        tables=[t.full for t in r.tables],
        source="offline",
    )


def _not_understood(words: list[str]) -> str:
    quoted = ", ".join(f"'{w}'" for w in dict.fromkeys(words))
    return f"I could not understand {quoted} from this database's tables and columns; {MODEL_HINT}."
