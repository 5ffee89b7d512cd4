"""The guard against one database: what the reads of a text reach there, judged by the
guard's own rules (actors/guard/classifier.py judges the text; this module judges what the server
resolves it to).

For a profile, the guard asks the profile's executor to resolve every read (ResolveRequest;
the server side is actors/executor/resolve.py) and judges what comes back: a function that
is neither a built-in nor a member of a known, installed extension makes the read a write;
a view, a policy or a domain CHECK is judged by its definition (built-ins inside it are
"pinned", never recorded in pg_depend, so only their names show them); credentials and
server files stay refused. Where the server could not resolve a statement (no temporary
objects there, or a statement a view cannot wrap), every name it contains is checked
against the per-catalog closure instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from pglast import parser as _pg

from actors.guard.classifier import classify
from actors.guard.functions import (
    FORBIDDEN_EXTENSIONS,
    SENSITIVE_RELATIONS,
    WRITE_FUNCTIONS,
    function_verdict,
)
from actors.guard.tree import CLASSES, FORBIDDEN, WRITE, Classification, Rules
from protocol.messages import Invoked, Resolution, probe_view_sql

__all__ = ["CatalogPlan", "against_catalog", "judge_invoked", "plan_resolution"]

_DECODER = msgspec.json.Decoder()

_SIMPLE_READS = frozenset({"SELECT", "VALUES", "TABLE"})
_NOTHING_TO_RESOLVE = frozenset({"SHOW", "CLOSE", "FETCH", "MOVE", "DEALLOCATE", "EXECUTE"})


@dataclass
class CatalogPlan:
    """Which reads of a text go to the analyzer (with the query text to resolve) and which
    are judged by the per-catalog closure (by the names they contain)."""

    probes: dict[int, str]  # statement index -> SELECT text whose probe view is safe to build
    # statement index -> every name the statement contains (None: they could not be listed)
    by_name: dict[int, set[str] | None]

    @property
    def queries(self) -> list[str]:
        return list(self.probes.values())


def plan_resolution(c: Classification) -> CatalogPlan | None:
    """None when nothing in `c` runs as a read (everything else needs confirmation anyway)."""
    if c.sql_class != "read":
        return None
    plan = CatalogPlan({}, {})
    for v in c.statements:
        if v.kind in _NOTHING_TO_RESOLVE:
            continue
        query = v.text if v.kind in _SIMPLE_READS else _inner_select(v.text)
        if query is not None and _probe_is_exact(query):
            plan.probes[v.index] = query
        else:
            plan.by_name[v.index] = _names_in(v.text)
    return plan


def _inner_select(text: str) -> str | None:
    """The SELECT an EXPLAIN / COPY / DECLARE / PREPARE runs, deparsed; None if it has none."""
    import pglast
    from pglast.stream import RawStream

    try:
        (raw,) = pglast.parse_sql(text)
    except Exception:
        return None
    stmt = raw.stmt
    inner = getattr(stmt, "query", None)
    if inner is None and type(stmt).__name__ == "CopyStmt" and stmt.relation is not None:
        return "SELECT * FROM " + RawStream()(stmt.relation)
    if type(inner).__name__ != "SelectStmt":
        return None
    return str(RawStream()(inner))


def _strip_locations(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: _strip_locations(v)
            for k, v in obj.items()
            if k not in ("location", "stmt_location", "stmt_len")
        }
    if isinstance(obj, list):
        return [_strip_locations(v) for v in obj]
    return obj


def _probe_is_exact(query: str) -> bool:
    """The probe view wraps exactly this query: parsed alone and inside the wrapper, the trees
    are the same (so the server resolves what will run, not some other reading of the text)."""
    try:
        alone = _DECODER.decode(_pg.parse_sql_json(query))["stmts"]
        wrapped = _DECODER.decode(_pg.parse_sql_json(probe_view_sql(query)))["stmts"]
    except Exception:
        return False
    if len(alone) != 1 or len(wrapped) != 1:
        return False
    try:
        view = wrapped[0]["stmt"]["ViewStmt"]["query"]["SelectStmt"]
        sub = view["fromClause"][0]["RangeSubselect"]["subquery"]
        return _strip_locations(sub) == _strip_locations(alone[0]["stmt"])
    except (KeyError, IndexError, TypeError, RecursionError):
        return False  # then it is judged by name instead


def _names_in(text: str) -> set[str] | None:
    """Every identifier of a statement (functions, operators, types, relations, columns, which
    may be attribute notation for a function), but not its literals; None when they cannot be
    listed (the statement is then not a read: fail closed)."""
    names: set[str] = set()
    try:
        tree = _DECODER.decode(_pg.parse_sql_json(text))
    except Exception:
        return None

    def visit(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, val in obj.items():
                if key == "A_Const":
                    continue
                if key in ("sval", "relname", "name", "schemaname") and isinstance(val, str):
                    names.add(val)
                visit(val)
        elif isinstance(obj, list):
            for item in obj:
                visit(item)

    try:
        visit(tree)
    except RecursionError:
        return None
    return names


def _fn_shown(what: str) -> str:
    for prefix in ("function ", "aggregate ", "procedure "):
        if what.startswith(prefix):
            return what[len(prefix) :]
    return what


_DEFINITIONS: dict[tuple[str, Rules], Classification] = {}


def _classify_definition(text: str, rules: Rules) -> Classification:
    key = (text, rules)
    found = _DEFINITIONS.get(key)
    if found is None:
        if len(_DEFINITIONS) > 4096:
            _DEFINITIONS.clear()
        found = _DEFINITIONS[key] = classify(text, rules)
    return found


def judge_invoked(item: Invoked, rules: Rules) -> list[tuple[int, str]]:
    """What reaching `item` makes of a read: (rank, reason) pairs, empty when harmless."""
    via = "" if not item.via or item.via == item.what else f"{item.via} "
    if item.kind == "function":
        fn = _fn_shown(item.what)
        if item.builtin:  # built-in code: only what the guard knows to act does
            rank, why = function_verdict((item.name,), item.nargs)
            if rank == FORBIDDEN or item.name in WRITE_FUNCTIONS:
                return [(rank, f"{via}calls {fn}: {why}")]
            return []
        if item.extension:
            if item.extension in FORBIDDEN_EXTENSIONS:
                return [
                    (
                        FORBIDDEN,
                        f"{via}calls {fn} of the extension {item.extension}: "
                        f"{FORBIDDEN_EXTENSIONS[item.extension]}",
                    )
                ]
            # an installed extension's own code: its types' I/O, operators and aggregates are
            # the extension's work; a call by name is judged by the text walk (its tables of
            # extension functions), and a call inside a view by that view's definition
            return []
        definer = ", SECURITY DEFINER: it runs as its owner" if "definer" in item.detail else ""
        return [
            (
                WRITE,
                f"{via}calls {fn}, a user-defined function (it can do anything, "
                f"whatever volatility it declares{definer})",
            )
        ]
    if item.kind == "relation":
        if item.builtin:
            if item.name in SENSITIVE_RELATIONS and not rules.allow_sensitive_catalogs:
                return [
                    (
                        FORBIDDEN,
                        f"{via}reads {item.name}, which holds "
                        f"{SENSITIVE_RELATIONS[item.name]} (allowed only with "
                        "[safety] allow_sensitive_catalogs = true)",
                    )
                ]
            return []
        if item.detail == "f":
            return [
                (
                    WRITE,
                    f"{via}reads {item.what}, whose foreign-data wrapper reaches "
                    "another server or files",
                )
            ]
        if item.definition:
            c = _classify_definition(item.definition, rules)
            if c.sql_class != "read":
                rank = CLASSES.index(c.sql_class) if c.sql_class in CLASSES else WRITE
                return [(rank, f"{item.what}: {r}") for r in c.reasons]
        return []
    if item.kind in ("policy", "constraint") and item.definition:
        c = _classify_definition(f"SELECT {item.definition}", rules)
        if c.sql_class != "read":
            rank = CLASSES.index(c.sql_class) if c.sql_class in CLASSES else WRITE
            return [(rank, f"{via}{item.what}: {r}") for r in c.reasons]
        return []
    if item.kind == "cast":
        if item.extension and item.extension not in FORBIDDEN_EXTENSIONS:
            return []
        return [
            (
                WRITE,
                f"{item.what} runs {item.schema}.{item.name}(), a user-defined "
                f"function ({item.detail} cast)",
            )
        ]
    return []


def against_catalog(
    c: Classification, plan: CatalogPlan, res: Resolution, rules: Rules
) -> Classification:
    """`c` with every read statement judged by what it reaches in the resolved database."""
    found: dict[int, list[tuple[int, str]]] = {}
    by_name = dict(plan.by_name)
    if res.method == "analyzer":
        for (index, _query), invoked in zip(plan.probes.items(), res.invoked, strict=False):
            for item in invoked:
                found.setdefault(index, []).extend(judge_invoked(item, rules))
    else:  # no analyzer here: every read is judged by the names it contains
        for index, query in plan.probes.items():
            by_name[index] = _names_in(query)
    if by_name:
        casts = [p for item in res.implicit_casts for p in judge_invoked(item, rules)]
        for index, names in by_name.items():
            hits = found.setdefault(index, [])
            if casts:
                why = res.why_closure or "this statement cannot be resolved by the analyzer"
                hits.extend(
                    (
                        r,
                        f"{t}; it may run without being named, and pgask cannot tell "
                        f"whether this statement uses it ({why})",
                    )
                    for r, t in casts
                )
            if names is None:
                hits.append(
                    (
                        WRITE,
                        "the guard could not list the names this statement uses, "
                        "so it cannot tell what it runs on this database",
                    )
                )
                continue
            for name in sorted(names & res.unsafe.keys()):
                for item in res.unsafe[name]:
                    hits.extend((r, f"it names {name}: {t}") for r, t in judge_invoked(item, rules))
    if not any(found.values()):
        return c
    statements = []
    for v in c.statements:
        hits = found.get(v.index) or []
        if not hits:
            statements.append(v)
            continue
        rank = max(CLASSES.index(v.sql_class), *(r for r, _ in hits))
        reasons = [t for _, t in sorted(hits, key=lambda h: -h[0])]
        reasons += [r for r in v.reasons if r != "reads data only"]
        statements.append(msgspec.structs.replace(v, sql_class=CLASSES[rank], reasons=reasons))
    top = max(CLASSES.index(v.sql_class) for v in statements)
    overall: list[str] = []
    for v in statements:
        if v.sql_class != "read":
            overall.extend(r for r in v.reasons if r not in overall)
    return msgspec.structs.replace(
        c, sql_class=CLASSES[top], statements=statements, reasons=overall
    )
