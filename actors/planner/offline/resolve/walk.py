"""Stage 4, resolve: the walk over the markers, in the order their roles depend on each other."""

from __future__ import annotations

from actors.planner.offline.clarify import MODEL_HINT, Unsure
from actors.planner.offline.columns import is_flag
from actors.planner.offline.lexicon import NEGATORS
from actors.planner.offline.query import FlagIs, Query
from actors.planner.offline.resolve.filters import FilterRoles
from actors.planner.offline.resolve.free import FreeWordRoles
from actors.planner.offline.resolve.groups import GroupRoles
from actors.planner.offline.resolve.measures import MeasureRoles
from actors.planner.offline.resolve.windows import TimeRoles


class Resolver(MeasureRoles, GroupRoles, FilterRoles, FreeWordRoles, TimeRoles):
    """Mentions + markers -> Query."""

    def resolve(self) -> Query:
        u, q = self.understood, self.query
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
                except Unsure:
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
            raise Unsure("Which table is this about?", [t.full for t in self.mentioned[:8]])
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
        q = self.query
        have = {id(t) for t in self.involved_by_query()}
        for m in self.understood.mentions:
            if m.kind != "table" or id(m) in self.used:
                continue
            t = self.table_of(m)
            if id(t) in have:
                continue
            flags = [h[1] for h in m.cands if h[0] == "col" and is_flag(h[1])]
            if len(flags) == 1:
                q.filters.append((flags[0].table, FlagIs(flags[0], True)))
                self.use([m])
                continue
            raise Unsure(
                f"I am not sure what '{' '.join(m.words)}' ({t.name}) should do in this question; "
                f"{MODEL_HINT}."
            )

    def check_negations(self) -> None:
        """A 'not' or 'never' that nothing took must not be dropped: the answer would be the
        opposite of the question."""
        for m in self.understood.mentions:
            if m.kind == "stop" and m.words[0] in NEGATORS and id(m) not in self.used:
                raise Unsure(
                    f"I could not tell what '{m.words[0]}' applies to here, and I will not "
                    f"answer without it; {MODEL_HINT}."
                )
