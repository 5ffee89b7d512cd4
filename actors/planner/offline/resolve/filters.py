"""Stage 4, resolve: comparisons, empty values, negations and quoted values."""

from __future__ import annotations

from actors.planner.offline.clarify import MODEL_HINT, Unsure
from actors.planner.offline.columns import (
    count_like,
    hint_match,
    hint_stems,
    is_flag,
    label_columns,
)
from actors.planner.offline.lexicon import HARMLESS_WORDS
from actors.planner.offline.parse import Marker, number
from actors.planner.offline.query import Compare, Equals, FlagIs, IsNull
from actors.planner.offline.resolve.state import ResolverState
from actors.planner.offline.schema import Column, Table
from actors.planner.offline.understand import Mention


class FilterRoles(ResolverState):
    """The filters the markers name."""

    def do_cmp(self, k: int, item: Marker) -> None:
        q = self.query
        before = [m for m in self.understood.run_before(k) if m.kind != "harmless"]
        after = [m for m in self.understood.run_after(k) if id(m) not in self.used]
        op, a, b = item.data["op"], item.data["value"], item.data.get("upper")
        if a is None:
            raise Unsure("I could not read the number in that comparison.")
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
            self.assumptions.append(f"counts {other.name} per {q.entity.name}")
            return
        subject = before[-1] if before else None
        if item.data.get("after"):
            subject = after[0] if after and after[0].kind == "col" else None
            if subject is None:
                raise Unsure(f"I could not tell what the number {a:g} refers to.")
        if subject is not None and id(subject) in self.used and subject.kind == "table":
            col = self.money_col(self.table_of(subject))
            self.assumptions.append(
                f"'{' '.join(subject.words)} over/under N' compares {col.label}"
            )
        elif subject is not None and subject.kind in ("col", "table"):
            self.use([subject])
            col = self.pick_col(subject, kinds=("num", "int"), within=q.entity)
        elif subject is not None and subject.kind == "money":
            self.use([subject])
            col = self.money_col(q.entity)
        elif q.entity is not None:
            col = self.money_col(q.entity)
            self.assumptions.append(f"the number compares {col.label}")
        else:
            raise Unsure("Which column should I compare with that number?")
        self.query.filters.append((col.table, Compare(col, op, a, b)))

    def do_null(self, k: int, item: Marker) -> None:
        q = self.query
        run = [m for m in self.understood.run_after(k) if id(m) not in self.used]
        if not run:
            if item.data["null"]:
                raise Unsure("Without what?")
            return
        m = run[0]
        self.check(run[:1], "")
        if m.kind == "table" and q.entity is not None and self.table_of(m) is not q.entity:
            other = self.table_of(m)
            self.use([m])
            up = [
                e
                for e in self.schema.adj.get(id(q.entity), [])
                if e.target is other and e.source_refs_target
            ]
            if len(up) == 1 and len(up[0].source_cols) == 1:
                # "products without a category": the product's own reference is empty
                col = q.entity.by_name[up[0].source_cols[0]]
                q.filters.append((q.entity, IsNull(col, item.data["null"])))
                return
            if up:
                raise Unsure(
                    f"{q.entity.name} refers to {other.name} in more than one way; which one?",
                    [f"{q.entity.name}.{', '.join(e.source_cols)}" for e in up],
                )
            q.having.append(("eq" if item.data["null"] else "gt", 0, None))
            q.extra_tables.append(other)
            return
        if m.kind not in ("col", "table"):
            if not item.data["null"]:
                return  # "with a" before something else: not a NULL test
            raise Unsure(f"I could not find a column for '{' '.join(m.words)}'.")
        col = self.pick_col(m, within=q.entity)
        self.use([m])
        null = item.data["null"]
        ms = self.understood.mentions
        j = next(i for i, x in enumerate(ms) if x is m) + 1
        if j < len(ms) and ms[j].kind == "stop" and ms[j].words[0] == "of":
            j += 1
        if (
            not null
            and col.kind in ("int", "num")
            and j < len(ms)
            and ms[j].kind in ("number", "value")
            and number(ms[j].words[0]) is not None
            and id(ms[j]) not in self.used
        ):
            # "reviews with a rating of 5": rating = 5
            n = number(ms[j].words[0])
            assert n is not None
            self.use([ms[j]])
            self.query.filters.append((col.table, Compare(col, "eq", n, None)))
            return
        if is_flag(col):  # "courses with a lab": has_lab IS TRUE, not IS NOT NULL
            self.query.filters.append((col.table, FlagIs(col, not null)))
            return
        if col.kind in ("int", "num"):
            word = self.understood.tokens[m.pos].text if m.pos < len(self.understood.tokens) else ""
            if count_like(col, word):  # "flights with no stops": stops = 0
                op = "eq" if null else "gt"
                self.query.filters.append((col.table, Compare(col, op, 0.0, None)))
                self.assumptions.append(
                    f"'{'no' if null else 'with'} {word}' means {col.label} "
                    f"{'= 0' if null else '> 0'}"
                )
                return
            if null and not col.catalog_column.nullable:
                raise Unsure(
                    f"{col.label} is never empty; do you mean {col.label} = 0?",
                    [f"{col.label} = 0"],
                )
        self.query.filters.append((col.table, IsNull(col, null)))

    def do_never(self, k: int, item: Marker) -> None:
        """ "cars that were never sold", "customers who never placed an order": rows of the
        entity with no related row (NOT EXISTS along the key); "shipments not yet delivered":
        the entity's own date of that event is empty. Anything else is asked, never dropped."""
        q = self.query
        word = item.data["word"]
        ent = q.entity
        after: list[Mention] = []
        for m in self.understood.mentions[k + 1 :]:
            if m.kind == "marker" or len(after) >= 3:
                break
            if m.kind == "stop" and m.words[0] in ("a", "an", "any", "the", "to", "by", "with"):
                continue
            if m.kind == "stop":
                break
            after.append(m)
        if ent is None or not after:
            raise Unsure(f"I could not tell what '{word}' applies to here; {MODEL_HINT}.")
        first = after[0]
        second = after[1] if len(after) > 1 and after[1].kind == "table" else None
        verbish = (
            self.understood.tokens[first.pos].text in HARMLESS_WORDS
            if first.pos < len(self.understood.tokens)
            else False
        )
        if first.kind == "table" and not (verbish and second is not None):
            if self.table_of(first) is not ent:  # "customers without orders", "never ordered"
                self.not_exists(self.table_of(first), [first])
                return
        verb = (
            self.understood.tokens[first.pos].text
            if first.pos < len(self.understood.tokens)
            else ""
        )
        stems = hint_stems(verb)
        own = [c for c in ent.cols if c.kind in ("date", "ts", "bool") and hint_match(c, stems)]
        if len(own) == 1:
            col = own[0]
            self.use([first])
            if col.kind == "bool":
                q.filters.append((ent, FlagIs(col, False)))
            else:
                q.filters.append((ent, IsNull(col, True)))
            self.assumptions.append(f"'{word} {verb}' means {col.label} is empty")
            return
        if second is not None and self.table_of(second) is not ent:
            self.not_exists(self.table_of(second), after[:2])
            return
        linked = list(
            dict.fromkeys(
                e.target
                for e in self.schema.adj.get(id(ent), [])
                if not e.source_refs_target and set(e.target.words) & stems
            )
        )
        if len(linked) == 1 and first.kind in ("harmless", "col", "unknown", "table"):
            self.not_exists(linked[0], [first])
            return
        raise Unsure(f"I could not tell what '{word} {verb}' means here; {MODEL_HINT}.")

    def not_exists(self, other: Table, ms: list[Mention]) -> None:
        q = self.query
        assert q.entity is not None
        ent = q.entity

        def refs(a: Table, b: Table) -> int:
            return sum(
                1 for e in self.schema.adj.get(id(a), []) if e.target is b and e.source_refs_target
            )

        if refs(other, ent) != 1:
            # "products never ordered": order_items links products to orders; a product with
            # no order_items row is one nobody ordered
            bridges = [t for t in self.schema.tables if refs(t, ent) == 1 and refs(t, other) == 1]
            if len(bridges) == 1:
                self.assumptions.append(f"through {bridges[0].name}")
                other = bridges[0]
        if refs(other, ent) != 1:
            raise Unsure(
                f"I could not find one direct link from {other.name} to {q.entity.name} to tell "
                f"which {q.entity.name} have none; {MODEL_HINT}."
            )
        self.use(ms)
        q.having.append(("eq", 0, None))
        q.extra_tables.append(other)
        self.assumptions.append(f"{q.entity.name} with no row in {other.name}")

    def do_quoted(self, k: int, item: Marker) -> None:
        text = item.data["text"]
        before = [m for m in self.understood.run_before(k) if m.kind not in ("harmless",)]
        cands = self.parser.values.get(text.lower().strip(), [])
        col: Column | None = None
        value = text
        subject = before[-1] if before else None
        if subject is not None and subject.kind in ("col",) and id(subject) not in self.used:
            self.use([subject])
            col = self.pick_col(subject, kinds=("text",), within=self.query.entity)
        elif cands:
            col, value = self.pick_value(cands, text)
        else:
            named = (
                self.understood.tokens[max(0, self.understood.mentions[k].pos - 1)].text
                if self.understood.mentions[k].pos
                else ""
            )
            t = self.query.entity or (self.involved()[0] if self.involved() else None)
            if named in ("named", "called") and t is not None:
                col = label_columns(t)[0]
            else:
                raise Unsure(f"Which column should equal '{text}'?")
        self.query.filters.append((col.table, Equals(col, [value], False)))
