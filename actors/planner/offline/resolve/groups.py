"""Stage 4, resolve: groupings and sort orders ("by region", "sorted by price")."""

from __future__ import annotations

from actors.planner.offline.clarify import MODEL_HINT, Unsure
from actors.planner.offline.parse import Marker
from actors.planner.offline.resolve.state import ResolverState
from actors.planner.offline.understand import Mention


class GroupRoles(ResolverState):
    """What the question groups and sorts by."""

    def do_group(self, k: int, top: Marker | None) -> None:
        q = self.query
        run = [m for m in self.understood.run_after(k) if id(m) not in self.used]
        if not run:
            return
        self.check(run, "after 'by'")
        self.use(run)
        if top is not None and self._ranks_the_top(run):
            return
        i = 0
        while i < len(run):
            m = run[i]
            i += 1
            if m.kind == "datepart":
                self.count_if_listing()
                q.groups.append(("part", m.obj))
            elif m.kind == "table":
                consumed, grouped = self._group_by_table(m, run[i] if i < len(run) else None, run)
                i += consumed
                if not grouped:
                    continue
            elif m.kind == "col":
                col = self.pick_col(m)
                if col.name in col.table.catalog_table.primary_key and self.per_own_row(
                    col.table, len(run)
                ):
                    continue
                self.count_if_listing()
                q.groups.append(("col", col))
            elif m.kind == "value":  # "payments by card": a filter, not a grouping
                col, value = self.pick_value(m.cands, " ".join(m.words))
                self.add_value(col, value, False)
            else:
                raise Unsure(f"I could not tell how to group by '{' '.join(m.words)}'.")
            if len(q.groups) > 3:
                raise Unsure(
                    "That is more groupings than I can handle offline; " + MODEL_HINT + "."
                )

    def _ranks_the_top(self, run: list[Mention]) -> bool:
        """ "top 5 customers by revenue": the words rank, they do not group."""
        within = next((self.table_of(m) for m in run if m.kind == "table"), None)
        for m in run:
            if m.kind == "money":
                self.measure_for_top(self.money_col(within), m)
                return True
            if m.kind == "col":
                col = self.pick_col(m, within=within)
                if col.kind in ("num", "int") and col.words[-1:] != ("id",):
                    self.measure_for_top(col, m)
                    return True
        return False

    def _group_by_table(
        self, m: Mention, nxt: Mention | None, run: list[Mention]
    ) -> tuple[int, bool]:
        """ "by customer", "by customer country", "per product category": the mentions after m
        it took, and whether it added a plain grouping (the caller then counts the groupings)."""
        q = self.query
        t = self.table_of(m)
        if nxt is not None and nxt.kind == "col":  # "by customer country"
            col = self.pick_col(nxt, within=t)
            self.count_if_listing()
            q.groups.append(("col", col))
            return 1, False
        if nxt is not None and nxt.kind == "table":  # "per product category"
            t2 = self.table_of(nxt)
            if not any(
                e.target is t2 and e.source_refs_target for e in self.schema.adj.get(id(t), [])
            ):
                raise Unsure(
                    f"Group by {t.name} and {t2.name}, or by the {t2.name} of each {t.name}?",
                    [f"{t.name}, {t2.name}", t2.name],
                )
            root = q.measure.table if q.measure else q.entity
            path = self.schema.path(root, t2) if root is not None else None
            if (
                root is not None
                and root is not t
                and (path is None or t not in [e.target for e in path])
            ):
                raise Unsure(f"How should {root.name} reach the {t2.name} of {t.name}?")
            self.count_if_listing()
            q.groups.append(("entity", t2))  # the category of the product
            if t not in self.mentioned:
                self.mentioned.append(t)
            return 1, False
        if t is q.entity and q.measure is None:
            raise Unsure(f"Group {t.name} by what?")
        if self.per_own_row(t, len(run)):
            return 0, False
        self.count_if_listing()
        q.groups.append(("entity", t))
        return 0, True

    def do_sort(self, k: int, items: list[tuple[int, Marker]]) -> None:
        run = [m for m in self.understood.run_after(k) if id(m) not in self.used]
        if not run:
            raise Unsure("Sort by what?")
        self.check(run[:1], "")
        self.use(run[:1])
        desc = any(it.kind == "dir" and it.data["desc"] for _, it in items)
        m = run[0]
        if m.kind == "money":
            col = self.money_col(self.query.entity)
        elif m.kind in ("col", "table"):
            col = self.pick_col(m, within=self.query.entity)
        else:
            raise Unsure(f"I could not understand '{' '.join(m.words)}' to sort by.")
        self.query.order.append(("col", col, desc))
