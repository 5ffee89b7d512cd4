"""Stage 4, resolve: the resolver's state and the choices every role makes (which table, column, amount, date)."""

from __future__ import annotations

from collections.abc import Iterable

from actors.planner.offline.clarify import Unsure, not_understood
from actors.planner.offline.columns import date_score, money_score
from actors.planner.offline.parse import Parser
from actors.planner.offline.query import Equals, Measure, Query
from actors.planner.offline.schema import Column, Table
from actors.planner.offline.understand import Mention, Understanding
from actors.planner.words import singular


class ResolverState:
    """One question's mentions and markers on their way to a Query."""

    def __init__(self, parser: Parser, und: Understanding) -> None:
        self.parser = parser
        self.schema = parser.schema
        self.understood = und
        self.used: set[int] = set()
        self.query = Query()
        self.assumptions = parser.assumptions
        self.mentioned: list[Table] = []

    def use(self, ms: Iterable[Mention]) -> None:
        for m in ms:
            self.used.add(id(m))

    def table_of(self, m: Mention) -> Table:
        tables = [h[1] for h in m.cands if h[0] == "table"]
        best = max((h[2] for h in m.cands if h[0] == "table"), default=0)
        tables = [h[1] for h in m.cands if h[0] == "table" and h[2] >= best]
        uniq = list(dict.fromkeys(tables))
        if len(uniq) > 1:
            preferred = [t for t in uniq if t in self.involved()]
            if len(preferred) == 1:
                return preferred[0]
            raise Unsure(
                f"Which table do you mean by '{' '.join(m.words)}'?", [t.full for t in uniq[:8]]
            )
        return uniq[0]

    def involved(self) -> list[Table]:
        out: list[Table] = []
        for t in [
            self.query.entity,
            self.query.measure.table if self.query.measure else None,
            *self.mentioned,
        ]:
            if t is not None and t not in out:
                out.append(t)
        return out

    def involved_by_query(self) -> list[Table]:
        q = self.query
        out = [t for t in (q.entity, q.measure.table if q.measure else None) if t is not None]
        out += [g if k == "entity" else g.table for k, g in q.groups if k in ("entity", "col")]
        out += [t for t, _f in q.filters]
        out += [c.table for c in q.select]
        out += [c.table for k, c, _d in q.order if k == "col"]
        out += q.extra_tables
        return out

    def pick_col(
        self, m: Mention, kinds: tuple[str, ...] = (), within: Table | None = None
    ) -> Column:
        """The column a mention names, preferring tables the question already involves."""
        cands = [(h[1], h[2]) for h in m.cands if h[0] == "col"]
        if m.kind == "table":  # "price" can be a table and a column; here it must be a column
            cands = [(h[1], h[2]) for h in self.schema.lookup(m.words) if h[0] == "col"]
        if kinds:
            cands = [(c, sc) for c, sc in cands if c.kind in kinds]
        if within is not None:
            inside = [(c, sc) for c, sc in cands if c.table is within]
            cands = inside or cands
        if not cands:
            raise Unsure(f"I could not find a column for '{' '.join(m.words)}'.")
        inv = self.involved()
        scored = []
        for c, sc in cands:
            bonus = 0.0
            if c.table in inv:
                bonus = 2.0 - 0.1 * inv.index(c.table)
            elif inv:
                path = self.schema.path(inv[0], c.table)
                bonus = -5.0 if path is None else 1.0 - 0.2 * len(path)
            scored.append((sc + bonus, c))
        scored.sort(key=lambda x: -x[0])
        top = [c for sc, c in scored if sc >= scored[0][0] - 0.01]
        if len(top) > 1:
            if m.words in (("name",),) and len({c.table.full for c in top}) == 1:
                return top[0]
            raise Unsure(
                f"Which column do you mean by '{' '.join(m.words)}'?", [c.label for c in top[:8]]
            )
        return top[0]

    def pick_phrase_col(
        self, run: list[Mention], head: Mention, kinds: tuple[str, ...], within: Table | None
    ) -> Column:
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

    def money_col(self, table: Table | None) -> Column:
        if table is None:
            return self.money_col_global()
        tables = [table]
        best: list[tuple[float, Column]] = []
        for t in tables:
            for c in t.cols:
                sc = money_score(c)
                if sc > 0:
                    best.append((sc, c))
        if not best and table is None and self.involved():
            return self.money_col_global()
        if not best:
            where = f" in {table.name}" if table else ""
            raise Unsure(f"I could not find an amount column{where} to add up.")
        best.sort(key=lambda x: -x[0])
        top = [c for sc, c in best if sc >= best[0][0] - 0.01]
        if len(top) > 1:
            raise Unsure("Which amount do you mean?", [c.label for c in top[:8]])
        return top[0]

    def money_col_global(self) -> Column:
        inv = self.involved()
        scored = []
        for t in self.schema.tables:
            penalty = 0.0
            if inv:  # nearer the tables already named is likelier
                path = self.schema.path(inv[0], t)
                if path is None:
                    continue
                penalty = 0.05 * len(path)
            for c in t.cols:
                if (sc := money_score(c)) > 0:
                    scored.append((sc - penalty, c))
        best = sorted(scored, key=lambda x: -x[0])
        if not best:
            raise Unsure("I could not find an amount column to add up.")
        top = [c for sc, c in best if sc >= best[0][0] - 0.01]
        if len(top) > 1:
            raise Unsure("Which amount do you mean?", [c.label for c in top[:8]])
        return top[0]

    def date_col(self, t: Table, hint: str | None = None, strict: bool = True) -> Column | None:
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
        scored = sorted(((date_score(c), c) for c in cols), key=lambda x: -x[0])
        if scored[0][0] - scored[1][0] < 0.1 and strict:
            raise Unsure(
                f"Which date of {t.name} do you mean?",
                [c.label for sc, c in scored if sc >= scored[0][0] - 0.1],
            )
        return scored[0][1]

    def entity_plural(self, m: Mention | None) -> bool:
        if m is None:
            return True
        tok = self.understood.tokens[m.pos].text if m.pos < len(self.understood.tokens) else ""
        return singular(tok) != tok

    def check(self, run: list[Mention], where: str) -> None:
        bad = [m.words[0] for m in run if m.kind == "unknown"]
        if bad:
            raise Unsure(not_understood(bad))

    def listing(self) -> bool:
        return self.query.measure is None and not self.query.groups

    def add_value(self, col: Column, value: str, negate: bool) -> None:
        for i, (t, f) in enumerate(self.query.filters):
            if isinstance(f, Equals) and f.col is col and f.negate == negate:
                self.query.filters[i] = (t, Equals(col, [*f.values, value], negate))
                return
        self.query.filters.append((col.table, Equals(col, [value], negate)))

    def pick_value(self, cands: list[tuple[Column, str]], text: str) -> tuple[Column, str]:
        inv = self.involved()
        inside = [(c, v) for c, v in cands if c.table in inv]
        pool = inside or cands
        if inv and not inside:
            reach = [(c, v) for c, v in pool if self.schema.path(inv[0], c.table) is not None]
            pool = reach or pool
        if len(inside) > 1 and inv:
            first = [(c, v) for c, v in inside if c.table is inv[0]]
            pool = first or inside
        cols = list(dict.fromkeys(c for c, _ in pool))
        if len(cols) > 1:
            raise Unsure(
                f"'{text}' appears in several columns; which one?", [c.label for c in cols[:8]]
            )
        return pool[0]

    def count_if_listing(self) -> None:
        """A grouping without an aggregate counts the rows: "orders by status"."""
        q = self.query
        if q.measure is None and q.entity is not None:
            q.measure = Measure("count", None, q.entity)

    def per_own_row(self, t: Table, run_length: int) -> bool:
        """ "average tax per transaction": an average over the measured table's own rows is
        already one per row; grouping by its key would give each row back."""
        m = self.query.measure
        if m is None or m.fn != "avg" or m.table is not t or run_length != 1:
            return False
        self.assumptions.append(f"'per {' '.join(t.words)}': the average over {t.name} rows")
        return True

    def measure_for_top(self, col: Column, m: Mention) -> None:
        q = self.query
        if q.entity is not None and col.table is q.entity:
            q.order.append(("col", col, True))
            return
        q.measure = Measure("sum", col, col.table)
        if q.entity is not None:
            q.groups.append(("entity", q.entity))
        q.order.append(("measure", None, True))
        self.assumptions.append(f"'{' '.join(m.words)}' means sum({col.label})")
