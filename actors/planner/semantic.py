"""The semantic check of a read plan, whoever wrote it (offline planner or model) — issue 19.

SQL that parses and runs can still give a confident wrong number. `check_plan` looks at the plan's
single SELECT against the catalog's keys and join graph and either leaves it alone, rewrites it to
the safe form with an "assumes:" line in `Plan.assumptions` (shown beside the SQL), or turns it
into a clarifying question. Precision first: what it cannot reason about it leaves unchanged.

Findings:

* fan-out     SUM/AVG of a column of table P over a join to a table C that holds many rows per P
              row (C's join columns are not unique, P's are): each P value is counted once per C
              row. Rewritten to C's line-level measure (quantity x unit price) when C has one;
              otherwise the plan becomes a question.
* dropped     COUNT per group over an inner join from the counted table C to the group table G
              where C's join column may match nothing (no NOT NULL foreign key): those C rows
              vanish from the counts. Rewritten to `C LEFT JOIN G` (they count under an empty
              group). Groups with no C row are not added (the acceptance set's reading).
* measure     the question names a measure ("sales amount") of another table than the one the
              plan sums (payments_received.payment_amount): when the plan touches only that
              table's money and date columns it is moved to the named table's (sales.sale_price,
              sales.sale_date); otherwise the plan becomes a question.
* status      a money total over a table whose status-like enum has cancelled/refunded values and
              no filter on it: those rows are excluded, with an "assumes:" line.

Only sqlglot is used (it is the planner's SQL library); the check is pure and fast (see
bench/bench_answers.py for its cost per plan).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec
import sqlglot
from sqlglot import exp

from protocol.messages import Catalog, CatalogTable, Clarification, Plan

MONEY_WORDS = ("price", "amount", "total", "cost", "revenue", "value", "paid", "payment", "fee")
QUANTITY_WORDS = ("quantity", "qty", "units", "count")
UNIT_PRICE_WORDS = ("unit_price", "price", "unit_cost")
EXCLUDED_STATUSES = ("cancelled", "canceled", "refunded", "voided", "void")
EARNINGS_RE = re.compile(r"\b(?:revenue|sales|income|earn\w*|turnover|takings|made)\b")
MEASURE_NOUN_RE = re.compile(
    r"\b(?:total|sum of(?: the)?|average|avg)\s+(?P<before>[a-z_]+)\s+(?:amount|value|revenue|price)s?\b"
    r"|\b(?P<alone>[a-z_]+)\s+(?:amount|revenue)s?\b",
    re.IGNORECASE,
)


@dataclass
class _Source:
    alias: str
    table: CatalogTable
    node: exp.Table


@dataclass
class _Query:
    tree: exp.Select
    sources: dict[str, _Source] = field(default_factory=dict)  # alias (lower) -> source
    assumptions: list[str] = field(default_factory=list)


def check_plan(plan: Plan, catalog: Catalog, question: str = "") -> Plan | Clarification:
    """The plan, rewritten to its safe form with assumptions, or a clarifying question."""
    if plan.intent != "read" or not plan.sql.strip():
        return plan
    try:
        tree = sqlglot.parse_one(plan.sql, read="postgres")
    except Exception:
        return plan
    if not isinstance(tree, exp.Select) or tree.find(exp.Subquery, exp.With, exp.Union):
        return plan
    query = _Query(tree)
    if not _bind_sources(query, catalog):
        return plan
    for step in (_check_measure, _check_fan_out, _check_dropped_groups, _check_status):
        outcome = step(query, catalog, question)
        if isinstance(outcome, Clarification):
            return outcome
    if not query.assumptions:
        return plan
    return msgspec.structs.replace(
        plan,
        sql=query.tree.sql(dialect="postgres"),
        assumptions=[*plan.assumptions, *query.assumptions],
        tables=sorted({source.table.name for source in query.sources.values()})
        if not plan.tables
        else _tables_after(plan, query),
    )


def _tables_after(plan: Plan, query: _Query) -> list[str]:
    names = {f"{s.table.schema}.{s.table.name}" for s in query.sources.values()}
    kept = [t for t in plan.tables if t in names or t.split(".")[-1] in _bare(names)]
    for name in sorted(names):
        if name not in kept and name.split(".")[-1] not in _bare(set(kept)):
            kept.append(name)
    return kept


def _bare(names: set[str]) -> set[str]:
    return {name.split(".")[-1] for name in names}


# -- binding the query to the catalog -------------------------------------------------------------


def _find_table(catalog: Catalog, schema: str, name: str) -> CatalogTable | None:
    matches = [
        t
        for t in catalog.tables
        if t.name.lower() == name.lower() and (not schema or t.schema.lower() == schema.lower())
    ]
    if len(matches) > 1:
        path = [s.lower() for s in catalog.search_path] or ["public"]
        matches.sort(key=lambda t: path.index(t.schema.lower()) if t.schema.lower() in path else 99)
    return matches[0] if matches else None


def _bind_sources(query: _Query, catalog: Catalog) -> bool:
    for node in query.tree.find_all(exp.Table):
        table = _find_table(catalog, node.db, node.name)
        if table is None:
            return False
        alias = (node.alias_or_name or node.name).lower()
        query.sources[alias] = _Source(alias, table, node)
    return bool(query.sources)


def _source_of(query: _Query, column: exp.Column) -> _Source | None:
    if column.table:
        return query.sources.get(column.table.lower())
    owners = [
        s
        for s in query.sources.values()
        if any(c.name.lower() == column.name.lower() for c in s.table.columns)
    ]
    return owners[0] if len(owners) == 1 else None


def _is_unique(table: CatalogTable, columns: list[str]) -> bool:
    """Whether `columns` identify one row of `table`: a declared key, or a natural key by name."""
    wanted = {c.lower() for c in columns}
    keys = [table.primary_key, *table.unique_keys]
    keys += [ix.columns for ix in table.indexes if ix.unique and all(ix.columns)]
    if any(key and {k.lower() for k in key} <= wanted for key in keys):
        return True
    if table.primary_key or len(wanted) != 1:
        return False
    only = next(iter(wanted))
    stem = table.name.lower().rstrip("s")
    return only in {f"{stem}_name", f"{stem}_id", f"{stem}_code", f"{stem}id", "id"}


def _join_pairs(query: _Query) -> list[tuple[_Source, list[str], _Source, list[str], exp.Join]]:
    """(left source, its columns, right source, its columns, join) for each equi-join."""
    pairs = []
    for join in query.tree.args.get("joins") or []:
        on = join.args.get("on")
        if on is None:
            continue
        sides: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for eq in on.find_all(exp.EQ):
            left, right = eq.left, eq.right
            if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                continue
            a, b = _source_of(query, left), _source_of(query, right)
            if a is None or b is None or a is b:
                continue
            key = (a.alias, b.alias)
            cols = sides.setdefault(key, ([], []))
            cols[0].append(left.name)
            cols[1].append(right.name)
        for (a_alias, b_alias), (a_cols, b_cols) in sides.items():
            pairs.append((query.sources[a_alias], a_cols, query.sources[b_alias], b_cols, join))
    return pairs


def _many_per_row(query: _Query, measured: _Source) -> list[tuple[_Source, list[str], list[str]]]:
    """Tables joined to `measured` that hold many rows per `measured` row: (table, their join
    columns, measured's join columns)."""
    out = []
    for a, a_cols, b, b_cols, _join in _join_pairs(query):
        for mine, my_cols, other, other_cols in ((a, a_cols, b, b_cols), (b, b_cols, a, a_cols)):
            if mine is measured and _is_unique(mine.table, my_cols):
                if not _is_unique(other.table, other_cols):
                    out.append((other, other_cols, my_cols))
    return out


# -- fan-out --------------------------------------------------------------------------------------


def _column_like(table: CatalogTable, words: tuple[str, ...]) -> str | None:
    for word in words:
        for column in table.columns:
            if column.name.lower() == word and _numeric(column.type_name):
                return column.name
    return None


def _numeric(type_name: str) -> bool:
    return type_name.split("(")[0].strip() in (
        "numeric",
        "integer",
        "bigint",
        "smallint",
        "real",
        "double precision",
        "money",
        "decimal",
    )


def _check_fan_out(query: _Query, catalog: Catalog, question: str) -> Clarification | None:
    for agg in list(query.tree.find_all(exp.Sum, exp.Avg)):
        columns = list(agg.find_all(exp.Column))
        owners = {id(s): s for c in columns if (s := _source_of(query, c)) is not None}
        if len(owners) != 1:
            continue
        measured = next(iter(owners.values()))
        multipliers = _many_per_row(query, measured)
        if not multipliers:
            continue
        line, _cols, _mine = multipliers[0]
        quantity = _column_like(line.table, QUANTITY_WORDS)
        unit_price = _column_like(line.table, UNIT_PRICE_WORDS)
        measured_names = ", ".join(c.name for c in columns)
        if isinstance(agg, exp.Sum) and quantity and unit_price and len(multipliers) == 1:
            replacement = exp.Sum(
                this=exp.Mul(
                    this=exp.column(quantity, table=line.alias),
                    expression=exp.column(unit_price, table=line.alias),
                )
            )
            agg.replace(replacement)
            _drop_unused_join(query, measured)
            query.assumptions.append(
                f"assumes: {measured.table.name}.{measured_names} repeats once per "
                f"{line.table.name} row in this join, so the total is the line-level "
                f"{line.table.name}.{quantity} × {unit_price}"
            )
            continue
        names = ", ".join(sorted({m.table.name for m, _c, _m in multipliers}))
        return Clarification(
            question=(
                f"Joining {measured.table.name} to {names} repeats each {measured.table.name} row "
                f"once per {names} row, so a {agg.key.upper()} of {measured.table.name}."
                f"{measured_names} would count it several times. Which measure do you mean: "
                f"a {measured.table.name} figure, or one from {names}?"
            ),
            options=[
                f"{measured.table.name}.{measured_names}",
                *[m.table.name for m, _c, _m in multipliers],
            ],
        )
    return None


def _drop_unused_join(query: _Query, source: _Source) -> None:
    """Remove `source`'s join when nothing but the join condition refers to it any more."""
    joins = query.tree.args.get("joins") or []
    from_node = _from_of(query.tree)
    for join in joins:
        if join.this is not source.node:
            continue
        others = [
            c
            for c in query.tree.find_all(exp.Column)
            if c.table.lower() == source.alias and not _inside(c, join)
        ]
        if not others:
            join.pop()
            query.sources.pop(source.alias, None)
        return
    if from_node is not None and from_node.this is source.node and joins:
        # the measured table is FROM: promote the first join whose condition mentions it
        used = [
            c
            for c in query.tree.find_all(exp.Column)
            if c.table.lower() == source.alias
            and not any(_inside(c, j) for j in joins if _mentions(j, source.alias))
        ]
        if used:
            return
        first = next((j for j in joins if _mentions(j, source.alias)), None)
        if first is None:
            return
        first.pop()
        from_node.set("this", first.this)
        query.sources.pop(source.alias, None)


def _from_of(tree: exp.Select) -> exp.From | None:
    """The FROM clause (sqlglot names the arg `from_` in newer releases, `from` before)."""
    node = tree.args.get("from_") or tree.args.get("from")
    return node if isinstance(node, exp.From) else None


def _inside(node: exp.Expression, parent: exp.Expression) -> bool:
    current = node.parent
    while current is not None:
        if current is parent:
            return True
        current = current.parent
    return False


def _mentions(join: exp.Join, alias: str) -> bool:
    on = join.args.get("on")
    return on is not None and any(c.table.lower() == alias for c in on.find_all(exp.Column))


# -- inner joins dropping groups ------------------------------------------------------------------


def _check_dropped_groups(query: _Query, catalog: Catalog, question: str) -> None:
    tree = query.tree
    joins = tree.args.get("joins") or []
    group = tree.args.get("group")
    from_node = _from_of(tree)
    if len(joins) != 1 or group is None or from_node is None or len(query.sources) != 2:
        return
    join = joins[0]
    if join.side or join.kind not in ("", "INNER", None):
        return
    counts = [a for a in tree.find_all(exp.Count)]
    if not counts or tree.find(exp.Sum, exp.Avg, exp.Min, exp.Max) or tree.args.get("having"):
        return
    counted = next((s for s in query.sources.values() if s.node is from_node.this), None)
    grouped = next((s for s in query.sources.values() if s is not counted), None)
    if counted is None or grouped is None:
        return
    group_sources = {
        id(_source_of(query, c)) for g in group.expressions for c in g.find_all(exp.Column)
    }
    if group_sources != {id(grouped)}:
        return
    where = tree.args.get("where")
    if where is not None and any(
        _source_of(query, c) is counted for c in where.find_all(exp.Column)
    ):
        return
    pairs = _join_pairs(query)
    if len(pairs) != 1:
        return
    a, a_cols, _other, b_cols, _join = pairs[0]
    counted_cols, grouped_cols = (a_cols, b_cols) if a is counted else (b_cols, a_cols)
    if not _is_unique(grouped.table, grouped_cols) or _is_unique(counted.table, counted_cols):
        return
    if _always_matches(counted.table, counted_cols, grouped.table):
        return  # a NOT NULL foreign key: the inner join keeps every counted row already
    join.set("side", "LEFT")
    join.set("kind", None)
    query.assumptions.append(
        f"assumes: {counted.table.name} rows with no matching {grouped.table.name} are counted "
        f"too (LEFT JOIN; they show under an empty {grouped.table.name})"
    )


def _always_matches(table: CatalogTable, columns: list[str], target: CatalogTable) -> bool:
    wanted = {c.lower() for c in columns}
    declared = any(
        {c.lower() for c in fk.columns} == wanted and fk.ref_table.lower() == target.name.lower()
        for fk in table.foreign_keys
    )
    not_null = all(not c.nullable for c in table.columns if c.name.lower() in wanted)
    return declared and not_null


# -- the measure the question names ---------------------------------------------------------------


def _money_columns(table: CatalogTable) -> list[str]:
    return [
        c.name
        for c in table.columns
        if _numeric(c.type_name)
        and c.type_name.split("(")[0].strip() in ("numeric", "decimal", "money")
        and any(word in c.name.lower() for word in MONEY_WORDS)
    ]


def _date_columns(table: CatalogTable) -> list[str]:
    return [
        c.name
        for c in table.columns
        if c.type_name.startswith(("date", "timestamp")) and not c.name.lower().startswith("crtd")
    ]


def _named_tables(question: str, catalog: Catalog) -> list[CatalogTable]:
    named = []
    for match in MEASURE_NOUN_RE.finditer(question or ""):
        word = (match["before"] or match["alone"] or "").lower()
        if not word:
            continue
        for table in catalog.tables:
            name = table.name.lower()
            if word in (name, name.rstrip("s"), f"{name}s") and table not in named:
                named.append(table)
    return named


def _check_measure(query: _Query, catalog: Catalog, question: str) -> Clarification | None:
    named = [t for t in _named_tables(question, catalog) if len(_money_columns(t)) == 1]
    if len(named) != 1:
        return None
    target = named[0]
    aggs = list(query.tree.find_all(exp.Sum, exp.Avg))
    if not aggs:
        return None
    measured = {
        id(s): s
        for agg in aggs
        for c in agg.find_all(exp.Column)
        if (s := _source_of(query, c)) is not None
    }
    if not measured or any(s.table is target for s in measured.values()):
        return None
    if len(query.sources) != 1:
        source = next(iter(measured.values()))
        return Clarification(
            question=(
                f"Which measure do you mean: {target.name}.{_money_columns(target)[0]} or "
                f"{source.table.name}'s?"
            ),
            options=[f"{target.name}.{_money_columns(target)[0]}", source.table.name],
        )
    source = next(iter(query.sources.values()))
    money_from, dates_from = _money_columns(source.table), _date_columns(source.table)
    dates_to = _date_columns(target)
    aliases = {a.alias.lower() for a in query.tree.expressions if isinstance(a, exp.Alias)}
    used = {
        c.name.lower()
        for c in query.tree.find_all(exp.Column)
        if c.table or c.name.lower() not in aliases
    }
    allowed = {n.lower() for n in [*money_from, *dates_from]}
    if not used <= allowed or len(dates_to) != 1 or len(money_from) != 1:
        return Clarification(
            question=(
                f"Which measure do you mean: {target.name}.{_money_columns(target)[0]} or "
                f"{source.table.name}.{', '.join(money_from) or 'its amounts'}?"
            ),
            options=[f"{target.name}.{_money_columns(target)[0]}", source.table.name],
        )
    rename = {money_from[0].lower(): _money_columns(target)[0]}
    rename.update({d.lower(): dates_to[0] for d in dates_from})
    for column in list(query.tree.find_all(exp.Column)):
        if column.name.lower() not in rename:
            continue  # an output alias (ORDER BY month)
        column.set("this", exp.to_identifier(rename[column.name.lower()]))
        if column.table:
            column.set("table", exp.to_identifier(target.name))
    for alias_node in query.tree.find_all(exp.Alias):
        if alias_node.alias.lower().endswith(money_from[0].lower()):
            alias_node.set("alias", exp.to_identifier(f"total_{_money_columns(target)[0]}"))
    new_table = exp.table_(target.name, db=target.schema if target.schema != "public" else None)
    source.node.replace(new_table)
    query.sources = {target.name.lower(): _Source(target.name.lower(), target, new_table)}
    query.assumptions.append(
        f"assumes: the measure is {target.name}.{_money_columns(target)[0]} (not "
        f"{source.table.name}.{money_from[0]}), dated by {target.name}.{dates_to[0]}"
    )
    return None


# -- money totals and cancelled / refunded rows ---------------------------------------------------


def _check_status(query: _Query, catalog: Catalog, question: str) -> None:
    sums = list(query.tree.find_all(exp.Sum))
    if not sums:
        return
    measured = {
        id(s): s
        for agg in sums
        for c in agg.find_all(exp.Column)
        if (s := _source_of(query, c)) is not None
    }
    lowered = (question or "").lower()
    if not EARNINGS_RE.search(lowered):
        return  # "sum of order totals" is literal; "revenue" and "sales" mean money kept
    for source in measured.values():
        for column in source.table.columns:
            excluded = [v for v in column.enum_values if v.lower() in EXCLUDED_STATUSES]
            if not excluded:
                continue
            if any(v.lower() in lowered for v in column.enum_values):
                continue  # the question names a status: the planner filters as asked
            where = query.tree.args.get("where")
            if where is not None and any(
                c.name.lower() == column.name.lower() and _source_of(query, c) is source
                for c in where.find_all(exp.Column)
            ):
                continue
            condition = exp.not_(
                exp.In(
                    this=exp.column(column.name, table=source.alias),
                    expressions=[exp.Literal.string(v) for v in excluded],
                )
            )
            query.tree.where(condition, copy=False)
            query.assumptions.append(
                f"assumes: {', '.join(excluded)} {source.table.name} are left out of the total "
                f"({source.table.name}.{column.name})"
            )
