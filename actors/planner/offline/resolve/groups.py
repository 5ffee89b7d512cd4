"""Stage 4, resolve: groupings and sort orders ("by region", "sorted by price")."""

from __future__ import annotations

from actors.planner.offline.clarify import MODEL_HINT, Unsure
from actors.planner.offline.parse import Marker
from actors.planner.offline.resolve.state import ResolverState


class GroupRoles(ResolverState):
    """What the question groups and sorts by."""

    def do_group(self, k: int, top: Marker | None) -> None:
        q = self.query
        run = [m for m in self.understood.run_after(k) if id(m) not in self.used]
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
                    if not any(
                        e.target is t2 and e.source_refs_target
                        for e in self.schema.adj.get(id(t), [])
                    ):
                        raise Unsure(
                            f"Group by {t.name} and {t2.name}, or by the {t2.name} of each "
                            f"{t.name}?",
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
                    i += 1
                    self.count_if_listing()
                    q.groups.append(("entity", t2))  # the category of the product
                    if t not in self.mentioned:
                        self.mentioned.append(t)
                    continue
                if t is q.entity and q.measure is None:
                    raise Unsure(f"Group {t.name} by what?")
                if self.per_own_row(t, len(run)):
                    continue
                self.count_if_listing()
                q.groups.append(("entity", t))
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
