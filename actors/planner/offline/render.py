"""Stage 5, render: a Query becomes one sqlglot SELECT, joined along the shortest key paths."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from actors.planner.offline.clarify import MODEL_HINT, Unsure
from actors.planner.offline.columns import in_cents, label_columns, quiet_date_column
from actors.planner.offline.identifiers import date_literal, ident, number_literal
from actors.planner.offline.lexicon import DATEPARTS
from actors.planner.offline.query import Compare, Equals, FlagIs, InWindow, IsNull, Measure, Query
from actors.planner.offline.schema import Column, Edge, Schema, Table

_OPS = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE, "eq": exp.EQ}


class Renderer:
    """Query -> one sqlglot SELECT, joined along the shortest key paths."""

    def __init__(self, s: Schema, q: Query, assume: list[str]) -> None:
        self.schema, self.query, self.assumptions = s, q, assume
        root = q.measure.table if q.measure else q.entity
        assert root is not None
        self.root = root
        self.tables: list[Table] = [root]
        self.joins: list[Edge] = []
        self.fanout = False

    def need(self, t: Table) -> None:
        if t in self.tables:
            return
        path = None
        for start in self.tables:  # shortest path from anything already joined
            p = self.schema.path(start, t)
            if p is not None and (path is None or len(p) < len(path)):
                path = p
        if path is None:
            raise Unsure(
                f"I could not find how {self.root.name} relates to {t.name} "
                "(no foreign key or matching key column)."
            )
        for e in path:
            if e.target in self.tables:
                continue
            twins = [x for x in self.schema.adj.get(id(e.source), []) if x.target is e.target]
            if len(twins) > 1:
                raise Unsure(
                    f"{e.source.name} relates to {e.target.name} in more than one way; which one?",
                    [
                        f"{e.source.name}.{', '.join(x.source_cols)} = {e.target.name}.{', '.join(x.target_cols)}"
                        for x in twins
                    ],
                )
            if not e.source_refs_target:
                self.fanout = True
            self.joins.append(e)
            self.tables.append(e.target)
        if len(path) > 1:
            self.assumptions.append(
                f"joins {self.root.name} to {t.name} through "
                + ", ".join(e.target.name for e in path[:-1])
            )

    def col(self, c: Column) -> exp.Column:
        if len(self.tables) > 1:
            return exp.Column(this=ident(c.name), table=ident(c.table.name))
        return exp.Column(this=ident(c.name))

    def table_expr(self, t: Table) -> exp.Table:
        return exp.Table(this=ident(t.name), db=ident(t.schema) if t.qualify else None)

    def cond(self, f: Any) -> exp.Expression:
        if isinstance(f, Compare):
            c = self.col(f.col)
            if f.op == "between":
                lo, hi = sorted([f.value, f.upper if f.upper is not None else f.value])
                return exp.Between(this=c, low=number_literal(lo), high=number_literal(hi))
            return _OPS[f.op](this=c, expression=number_literal(f.value))
        if isinstance(f, IsNull):
            test = exp.Is(this=self.col(f.col), expression=exp.Null())
            return test if f.null else exp.Not(this=test)
        if isinstance(f, Equals):
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
        if isinstance(f, FlagIs):
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
        if isinstance(f, InWindow):
            c = self.col(f.col)
            parts: list[exp.Expression] = []
            if f.window.start is not None:
                parts.append(exp.GTE(this=c, expression=date_literal(f.window.start)))
            if f.window.end is not None:
                parts.append(exp.LT(this=c.copy(), expression=date_literal(f.window.end)))
            return exp.and_(*parts)
        raise TypeError(type(f))

    def render(self) -> exp.Select:
        q = self.query
        part_col = self._join_all()
        select, group_by, order = self._groups(part_col)
        alias = None
        if q.measure is not None:
            alias = measure_alias(q.measure)
            select.append(self._aggregate(q.measure).as_(ident(alias)))
        for kind, c, desc in q.order:
            if kind == "measure" and alias:
                order.append(exp.Ordered(this=exp.Column(this=ident(alias)), desc=desc))
            elif kind == "col":
                order.append(exp.Ordered(this=self.col(c), desc=desc, nulls_first=False))
        if q.groups and alias and not any(k == "measure" for k, _, _ in q.order):
            if not order:
                order.append(exp.Ordered(this=exp.Column(this=ident(alias)), desc=True))
        query = self._from_and_joins(select or self._plain_columns())
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

    def _join_all(self) -> Column | None:
        """Join every table the query names; the date column a `by month` grouping uses."""
        q = self.query
        if q.entity is not None:
            self.need(q.entity)
        part_col: Column | None = None
        for kind, g in q.groups:
            if kind == "entity":
                self.need(g)
            elif kind == "col":
                self.need(g.table)
            elif kind == "part":
                for t in [self.root, *(x for x in self.tables if x is not self.root)]:
                    part_col = quiet_date_column(t)
                    if part_col is not None:
                        break
                if part_col is None:
                    raise Unsure(f"Grouping by {g} needs a date column, and I found none here.")
        for t, _f in q.filters:
            self.need(t)
        for c in q.select:
            self.need(c.table)
        for kind, c, _desc in q.order:
            if kind == "col":
                self.need(c.table)
        return part_col

    def _groups(
        self, part_col: Column | None
    ) -> tuple[list[exp.Expression], list[exp.Expression], list[exp.Expression]]:
        """The SELECT, GROUP BY and ORDER BY terms of the groupings."""
        select: list[exp.Expression] = []
        group_by: list[exp.Expression] = []
        order: list[exp.Expression] = []
        for kind, g in self.query.groups:
            if kind == "entity":
                labels = label_columns(g)
                for c in labels:
                    select.append(self.col(c))
                keys = [g.by_name[k] for k in g.catalog_table.primary_key if k in g.by_name]
                for c in [*keys, *labels]:
                    e = self.col(c)
                    if e not in group_by:
                        group_by.append(e)
            elif kind == "col":
                select.append(self.col(g))
                group_by.append(self.col(g))
                if g.words and g.words[-1] in DATEPARTS:  # "by year": in time order
                    order.append(exp.Ordered(this=self.col(g), desc=False))
            elif kind == "part":
                assert part_col is not None
                trunc = exp.Cast(
                    this=exp.Anonymous(
                        this="date_trunc", expressions=[exp.Literal.string(g), self.col(part_col)]
                    ),
                    to=exp.DataType.build("date"),
                )
                select.append(trunc.as_(ident(g)))
                group_by.append(trunc.copy())
                order.append(exp.Ordered(this=exp.Column(this=ident(g)), desc=False))
                self.assumptions.append(f"'by {g}' groups {part_col.label} by calendar {g}")
        return select, group_by, order

    def _aggregate(self, m: Measure) -> exp.Expression:
        """The measure as an aggregate; a count across a fan-out join counts distinct keys."""
        if m.fn == "count" and m.col is None:
            if not self.fanout:
                return exp.Count(this=exp.Star())
            keys = [
                self.root.by_name[k]
                for k in self.root.catalog_table.primary_key
                if k in self.root.by_name
            ]
            if not keys:  # no declared key: the one it owns by name (publication.pid)
                keys = [self.root.by_name[k] for k in Schema._owned_keys(self.root)[:1]]
            if len(keys) != 1:
                raise Unsure(
                    f"Counting {self.root.name} across that join could count rows twice, and "
                    f"{self.root.name} has no single-column key to count distinct."
                )
            return exp.Count(this=exp.Distinct(expressions=[self.col(keys[0])]))
        assert m.col is not None
        if m.fn == "count":
            arg: exp.Expression = self.col(m.col)
            return exp.Count(this=exp.Distinct(expressions=[arg]) if m.distinct else arg)
        if self.fanout and m.fn in ("sum", "avg") and not self.per_link_entity():
            raise Unsure(
                f"Adding up {m.col.label} across that join would count rows more than once; "
                "ask per " + m.table.name + " instead, or " + MODEL_HINT + "."
            )
        fn = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[m.fn]
        agg: exp.Expression = fn(this=self.col(m.col))
        if m.fn == "avg" and in_cents(m.col):
            # money to cents; any other average is shown exactly as PostgreSQL gives it
            if m.col.catalog_column.type_name.startswith(
                ("numeric", "decimal", "integer", "bigint", "smallint")
            ):
                agg = exp.Anonymous(this="round", expressions=[agg, exp.Literal.number(2)])
        return agg

    def _plain_columns(self) -> list[exp.Expression]:
        """What a listing shows: the asked-for columns, else every column of the root."""
        if self.query.select:
            return [self.col(c) for c in self.query.select]
        if len(self.tables) > 1:
            return [exp.Column(this=exp.Star(), table=ident(self.root.name))]
        return [exp.Star()]

    def _from_and_joins(self, select: list[exp.Expression]) -> exp.Select:
        q = self.query
        query = exp.Select(expressions=select).from_(self.table_expr(self.root))
        if self.fanout and q.measure is None and not q.groups:
            query = query.distinct()  # a joined filter must not repeat rows
            shown = set(map(id, q.select)) if q.select else {id(c) for c in self.root.cols}
            if any(kind == "col" and id(c) not in shown for kind, c, _d in q.order):
                # PostgreSQL rejects it, and the order would be of another table's many rows
                raise Unsure(
                    f"Each {self.root.name} has many rows to order by there; which one counts "
                    f"(the total, the largest)? {MODEL_HINT[0].upper()}{MODEL_HINT[1:]}."
                )
        for e in self.joins:
            on = exp.and_(
                *(
                    exp.EQ(
                        this=exp.Column(this=ident(a), table=ident(e.source.name)),
                        expression=exp.Column(this=ident(b), table=ident(e.target.name)),
                    )
                    for a, b in zip(e.source_cols, e.target_cols, strict=False)
                )
            )
            query = query.join(self.table_expr(e.target), on=on, join_type="inner")
        return query

    def per_link_entity(self) -> bool:
        """Summing root rows per E through a link table (publication <- writes -> author) counts
        each root row once per E it belongs to, which is what "per author" means."""
        groups = self.query.groups
        if len(groups) != 1 or groups[0][0] != "entity":
            return False
        ent = groups[0][1]
        fan = [e for e in self.joins if not e.source_refs_target]
        if len(fan) != 1 or fan[0].source is not self.root:
            return False
        link = fan[0].target
        return any(
            e.source is link and e.target is ent and e.source_refs_target for e in self.joins
        )

    def count_subquery(self, other: Table, op: str, a: float, b: float | None) -> exp.Expression:
        ent = self.root
        edges = [
            e
            for e in self.schema.adj.get(id(other), [])
            if e.target is ent and e.source_refs_target
        ]
        if len(edges) != 1:
            raise Unsure(f"I could not find one direct link from {other.name} to {ent.name}.")
        e = edges[0]
        inner_on = exp.and_(
            *(
                exp.EQ(
                    this=exp.Column(this=ident(x), table=ident(other.name)),
                    expression=exp.Column(this=ident(y), table=ident(ent.name)),
                )
                for x, y in zip(e.source_cols, e.target_cols, strict=False)
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
            return exp.Between(this=sub, low=number_literal(lo), high=number_literal(hi))
        return _OPS[op](this=sub, expression=number_literal(a))


def measure_alias(m: Measure) -> str:
    if m.fn == "count" and m.col is None:
        return "count"
    assert m.col is not None
    prefix = {"count": "count", "sum": "total", "avg": "avg", "min": "min", "max": "max"}[m.fn]
    if m.distinct:
        prefix = "distinct"
    if prefix == "total" and "total" in m.col.name.lower():
        return m.col.name
    return f"{prefix}_{m.col.name}"[:63]
