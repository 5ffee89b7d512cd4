"""Stage 4, resolve: aggregates and superlatives ("how many", "total", "the most expensive")."""

from __future__ import annotations

from actors.planner.offline.clarify import MODEL_HINT, Unsure
from actors.planner.offline.columns import count_like, is_flag, is_key, money_score, tally_columns
from actors.planner.offline.lexicon import MONEY_WORDS
from actors.planner.offline.parse import Marker
from actors.planner.offline.query import Measure
from actors.planner.offline.resolve.state import ResolverState
from actors.planner.offline.schema import Column
from actors.planner.offline.understand import Mention


class MeasureRoles(ResolverState):
    """What the question measures and ranks by."""

    def do_agg(self, k: int, item: Marker) -> None:
        q = self.query
        fn, distinct = item.data["fn"], item.data["distinct"]
        run = [
            m for m in self.understood.run_after(k) if id(m) not in self.used or m.kind == "table"
        ]
        self.check(run, "")
        tables = [m for m in run if m.kind == "table"]
        cols = [
            m
            for m in run
            if m.kind == "col" and not all(is_flag(h[1]) for h in m.cands if h[0] == "col")
        ]
        money = [m for m in run if m.kind == "money"]
        self.use([*tables[:1], *cols[:1], *money[:1]])  # values and flags stay filters
        t = self.table_of(tables[0]) if tables else q.entity
        if tables and t not in self.mentioned and t is not q.entity:
            self.mentioned.append(t)
        if fn == "count":
            if cols:
                col = self.pick_col(cols[0], within=t)
                word = (
                    self.understood.tokens[cols[0].pos].text
                    if cols[0].pos < len(self.understood.tokens)
                    else ""
                )
                if (
                    not distinct
                    and col.kind in ("int", "num")
                    and not is_key(col)
                    and (count_like(col, word) or item.data.get("total"))
                ):
                    # "total number of citations": citation_num already counts; add it up
                    q.measure = Measure("sum", col, col.table)
                    self.assumptions.append(f"'number of {word}' adds up {col.label}")
                    return
                q.measure = Measure("count", col, col.table, distinct=distinct)
            elif t is not None:
                q.measure = Measure("count", None, t)
            else:
                raise Unsure("Count what? Name a table.", [x.full for x in self.schema.tables[:8]])
            return
        if cols:
            col = self.pick_phrase_col(
                run, cols[0], kinds=("num", "int") if fn in ("sum", "avg") else (), within=t
            )
        elif money or (tables and (set(tables[0].words) & MONEY_WORDS)):
            col = self.money_col(t if tables else None) if (tables or t) else self.money_col(None)
            self.assumptions.append(
                f"'{' '.join((money[0] if money else tables[0]).words)}' means {fn}({col.label})"
            )
        elif tables and fn == "sum" and (tallies := tally_columns(t)):
            # "total checkins" where checkin has a `count` column: each row tallies many
            if len(tallies) > 1:
                raise Unsure(
                    f"Which figure of {t.name} should I add up?", [c.label for c in tallies[:8]]
                )
            col = tallies[0]
            if col.words[-1] not in ("count", "cnt"):  # quantity: items, or rows of the table?
                raise Unsure(
                    f"Do you mean the number of {t.name} rows, or the sum of {col.label}?",
                    [f"count of {t.name}", f"sum of {col.label}"],
                )
            self.assumptions.append(f"'total {' '.join(tables[0].words)}' adds up {col.label}")
        elif tables and fn == "sum":
            q.measure = Measure("count", None, t)
            self.assumptions.append(
                f"'total {' '.join(tables[0].words)}' means the number of {t.name}"
            )
            return
        elif t is not None and fn in ("avg", "min", "max"):
            col = self.money_col(t)
            self.assumptions.append(f"'{fn} {t.name}' means {fn}({col.label})")
        else:
            raise Unsure(f"What should I take the {fn} of?")
        if is_key(col) and fn in ("sum", "avg"):
            raise Unsure(f"{col.label} is a key; adding it up means nothing. Which figure?")
        q.measure = Measure(fn, col, col.table)

    def do_super(self, k: int, item: Marker, entity_m: Mention | None) -> None:
        q = self.query
        desc = item.data["desc"]
        word = item.data["word"]
        run = [m for m in self.understood.run_after(k) if id(m) not in self.used]
        self.check(run[:1], "")
        pricey = word in ("most expensive", "cheapest", "least expensive")
        plural = self.entity_plural(entity_m)
        before_entity = entity_m is not None and entity_m.pos < k
        if pricey:
            self._rank_by_price(run, word, desc, plural)
            return
        if not run:
            raise self.rank_by_what(k, word)
        head = run[0]
        self.use(run[:1])
        if head.kind == "table" and q.entity is not None and self.table_of(head) is not q.entity:
            other = self.table_of(head)
            q.measure = Measure("count", None, other)
            q.groups.append(("entity", q.entity))
            q.order.append(("measure", None, desc))
            q.limit = q.limit or (10 if plural else 1)
            self.assumptions.append(
                f"'{word} {other.name}' counts {other.name} per {q.entity.name}"
            )
            return
        col = self._ranked_column(head, word)
        ms = self.understood.mentions
        nxt = next((ms[j + 1] for j, x in enumerate(ms) if x is head and j + 1 < len(ms)), None)
        if (
            nxt is not None
            and nxt.kind == "table"
            and q.entity is not None
            and self.table_of(nxt) is q.entity
        ):
            before_entity = True  # "the least cited paper": the word describes the rows
            plural = self.entity_plural(nxt)
        if before_entity and self._total_per_entity(col, head, word, desc, plural):
            return
        if before_entity:  # "products with the highest price": rank the rows
            q.order.append(("col", col, desc))
            q.limit = q.limit or (10 if plural else 1)
        else:  # "highest price of products": one figure
            q.measure = Measure("max" if desc else "min", col, col.table)
            self.assumptions.append(
                f"'{word} {' '.join(head.words)}' means {'max' if desc else 'min'}({col.label})"
            )

    def _rank_by_price(self, run: list[Mention], word: str, desc: bool, plural: bool) -> None:
        """ "the most expensive products", "the cheapest": order by the table's money column."""
        q = self.query
        self.use(run)
        t = q.entity or (self.table_of(run[0]) if run and run[0].kind == "table" else None)
        if t is None:
            raise Unsure(f"'{word}' what? Name a table.")
        if q.entity is None:
            q.entity = t
            plural = self.entity_plural(run[0])
        col = self.money_col(t)
        q.order.append(("col", col, desc))
        q.limit = q.limit or (10 if plural else 1)
        self.assumptions.append(f"'{word}' orders by {col.label}")

    def _ranked_column(self, head: Mention, word: str) -> Column:
        """The column the word after a superlative names ("highest price")."""
        q = self.query
        if head.kind == "money":
            return self.money_col(q.entity)
        if head.kind not in ("col", "table"):
            raise Unsure(f"I could not understand '{' '.join(head.words)}' after '{word}'.")
        col = self.pick_col(head, kinds=("num", "int", "date", "ts", "text"), within=q.entity)
        if is_key(col) or (head.kind == "table" and head.score < 2.0):
            # "the best selling product" is no order of product_id
            raise Unsure(
                f"I could not tell what '{word} {' '.join(head.words)}' ranks by; {MODEL_HINT}."
            )
        return col

    def _total_per_entity(
        self, col: Column, head: Mention, word: str, desc: bool, plural: bool
    ) -> bool:
        """ "which author has the most citations": many publications per author, so the figure
        is a sum per author, not one row's value. True when the measure was set so."""
        q = self.query
        if q.entity is None or col.table is q.entity:
            return False
        path = self.schema.path(q.entity, col.table)
        if path is None or all(e.source_refs_target for e in path):
            return False
        if word in ("most", "fewest", "least") and col.kind in ("int", "num"):
            q.measure = Measure("sum", col, col.table)
            q.groups.append(("entity", q.entity))
            q.order.append(("measure", None, desc))
            q.limit = q.limit or (10 if plural else 1)
            self.assumptions.append(
                f"'{word} {' '.join(head.words)}' adds up {col.label} per {q.entity.name}"
            )
            return True
        raise Unsure(
            f"Each {q.entity.name} has many {col.table.name}: do you mean the total of "
            f"{col.label} per {q.entity.name}, or its single {word} value?",
            [f"total {col.label} per {q.entity.name}", f"{word} {col.label}"],
        )

    def rank_by_what(self, k: int, word: str) -> Unsure:
        """ "which customer spent the most": the question names no figure after the word.
        Ask which one, offering the figures of this question's tables: money columns when a
        money word came before ("spent", "paid"), else their numeric columns."""
        q = self.query
        said = next((m for m in self.understood.mentions[:k] if m.kind == "money"), None)
        near = [q.entity] if q.entity is not None else self.involved()
        scored: list[tuple[float, Column]] = []
        for t in self.schema.tables:
            if near:
                path = self.schema.path(near[0], t) if t is not near[0] else []
                if path is None:
                    continue
                distance = len(path)
            else:
                distance = 0
            for c in t.cols:
                if said is not None:
                    score = money_score(c)
                else:
                    score = 1.0 if c.kind in ("num", "int") and not is_key(c) else 0.0
                if score > 0:
                    scored.append((score - 0.1 * distance, c))
        options = [c.label for _sc, c in sorted(scored, key=lambda x: -x[0])[:4]]
        what = f"{said.words[0]} the {word}" if said is not None else word
        noun = " ".join(q.entity.words) if q.entity is not None else ""
        per = f" per {noun}" if noun else ""
        if not options:
            return Unsure(f"'{what}' by which figure? None of this question's tables has one.")
        example = f"total {options[0]}{per}" if said is not None else f"{word} {options[0]}"
        ranks = f"ranks each {noun}" if noun else "ranks the rows"
        return Unsure(
            f"'{what}': which figure {ranks}? Say it, e.g. '{example}'.",
            [f"total {o}{per}" if said is not None else o for o in options],
        )

    def top_default(self, item: Marker) -> None:
        q = self.query
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
            self.assumptions.append(f"'top' ranks by {col.label}")
