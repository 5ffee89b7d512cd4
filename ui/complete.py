"""Tab completion for the input line: slash commands, psql meta-commands, profiles after
`/use`, and for SQL (after `/sql`, or raw SQL) table names after FROM/JOIN/INTO/UPDATE,
columns after `table.` or `alias.`, schema-qualified names after `schema.`, else the
columns of the tables the statement names, keywords and functions.

Pure (pgcli keeps its completion classifier pure too): text, cursor and a Catalog in, a
`Completion` out; ui/state.py shows it as a popup that never takes the keyboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocol.messages import Catalog, CatalogTable

KEYWORDS = (
    "select from where group by order having limit offset join left right inner outer full "
    "cross on using as and or not null is in between like ilike exists distinct union all "
    "intersect except case when then else end insert into values update set delete returning "
    "with recursive create table view index drop alter add column primary key references "
    "default asc desc nulls first last explain analyze count sum avg min max coalesce "
    "true false interval date timestamp now lateral window over partition filter"
).split()

TABLE_BEFORE = frozenset({"from", "join", "into", "update", "table", "\\d", "\\d+", "truncate"})
_WORD = re.compile(r'[\w$."]*$')
_TABLE_REF = re.compile(
    r'(?:from|join|update|into)\s+((?:"?[\w$]+"?\.)?"?[\w$]+"?)(?:\s+(?:as\s+)?("?[\w$]+"?))?',
    re.I,
)


@dataclass
class Completion:
    start: int  # where the word being completed begins in the text
    word: str  # what is typed of it
    items: list[str]  # candidates, best first
    kind: str  # "command", "table", "column", "keyword", "profile"


def _unquote(name: str) -> str:
    return name.strip('"')


def _tables(catalog: Catalog | None) -> list[CatalogTable]:
    return list(catalog.tables) if catalog is not None else []


def _table_names(catalog: Catalog | None) -> list[str]:
    if catalog is None:
        return []
    path = {s.strip().strip('"') for s in catalog.search_path} or {"public"}
    out = []
    for t in catalog.tables:
        out.append(t.name if t.schema in path else f"{t.schema}.{t.name}")
    return sorted(set(out))


def _find(catalog: Catalog | None, ref: str) -> CatalogTable | None:
    schema, _, name = _unquote(ref).rpartition(".")
    name = _unquote(name)
    for t in _tables(catalog):
        if t.name.lower() == name.lower() and (not schema or t.schema.lower() == schema.lower()):
            return t
    return None


def _match(items: list[str], word: str) -> list[str]:
    w = word.lower().strip('"')
    starts = [i for i in items if i.lower().startswith(w)]
    inner = [i for i in items if w and w in i.lower() and i not in starts]
    return starts + inner


def complete(
    text: str,
    cursor: int,
    *,
    catalog: Catalog | None,
    commands: list[str],
    meta: list[str],
    profiles: list[str],
) -> Completion | None:
    """What Tab offers at `cursor`; None when nothing fits."""
    before = text[:cursor]
    if before.startswith("/") and " " not in before:
        return _result(0, before, commands, "command")
    if before.startswith("\\") and " " not in before:
        return _result(0, before, meta, "command")
    if re.match(r"/(use|split)\s", before):
        word = before.split(None, 1)[1] if len(before.split(None, 1)) > 1 else ""
        return _result(cursor - len(word), word, profiles, "profile")
    word = _WORD.search(before).group(0)  # type: ignore[union-attr]
    start = cursor - len(word)
    head = before[:start]
    prev = re.findall(r"[\w\\+]+", head.lower())
    last = prev[-1] if prev else ""
    if "." in word:
        qual, _, part = word.rpartition(".")
        schemas = {t.schema.lower() for t in _tables(catalog)}
        if _unquote(qual).lower() in schemas and last in TABLE_BEFORE:
            names = [t.name for t in _tables(catalog) if t.schema.lower() == _unquote(qual).lower()]
            return _result(cursor - len(part), part, sorted(names), "table")
        table = _resolve_alias(text, qual, catalog)
        if table is not None:
            return _result(cursor - len(part), part, [c.name for c in table.columns], "column")
        if _unquote(qual).lower() in schemas:
            names = [t.name for t in _tables(catalog) if t.schema.lower() == _unquote(qual).lower()]
            return _result(cursor - len(part), part, sorted(names), "table")
        return None
    if last in TABLE_BEFORE:
        return _result(start, word, _table_names(catalog), "table")
    if not word:
        return None
    columns: list[str] = []
    for m in _TABLE_REF.finditer(text):
        t = _find(catalog, m.group(1))
        if t is not None:
            columns += [c.name for c in t.columns if c.name not in columns]
    functions = sorted({f.name for f in catalog.functions}) if catalog is not None else []
    keywords = [k.upper() if word[:1].isupper() else k for k in KEYWORDS]
    items = _match(columns, word) + _match(_table_names(catalog), word)
    items += [k for k in _match(keywords, word) if k not in items]
    items += [f for f in _match(functions, word) if f not in items]
    if not items:
        return None
    return Completion(start, word, items, "column" if columns else "keyword")


def _resolve_alias(text: str, qual: str, catalog: Catalog | None) -> CatalogTable | None:
    q = _unquote(qual).lower()
    for m in _TABLE_REF.finditer(text):
        ref, alias = m.group(1), m.group(2) or ""
        if _unquote(alias).lower() == q or _unquote(ref).rpartition(".")[2].lower() == q:
            found = _find(catalog, ref)
            if found is not None:
                return found
    return _find(catalog, qual)


def _result(start: int, word: str, items: list[str], kind: str) -> Completion | None:
    found = _match(items, word)
    return Completion(start, word, found, kind) if found else None


def common_prefix(items: list[str]) -> str:
    if not items:
        return ""
    first, last = min(items), max(items)
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    return first[:n]
