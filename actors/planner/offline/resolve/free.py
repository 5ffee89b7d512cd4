"""Stage 4, resolve: the words no marker took (values, flags, columns to show, numbers)."""

from __future__ import annotations

from actors.planner.offline.clarify import Unsure, not_understood
from actors.planner.offline.columns import hint_match, hint_stems, is_flag, is_key, label_columns
from actors.planner.offline.lexicon import NEGATORS
from actors.planner.offline.query import Compare, FlagIs, IsNull, Measure
from actors.planner.offline.resolve.state import ResolverState
from actors.planner.offline.schema import Column
from actors.planner.offline.understand import Mention


class FreeWordRoles(ResolverState):
    """The words left over once every marker has its subject."""

    def do_free(self) -> None:
        q = self.query
        ms = self.understood.mentions
        order = sorted(range(len(ms)), key=lambda i: (ms[i].kind not in ("value", "number"), i))
        for idx in order:
            m = ms[idx]
            if id(m) in self.used or m.kind in ("marker", "harmless", "stop", "table"):
                continue  # tables left over are checked once everything else has its place
            negators = [
                x for x in ms[max(0, idx - 2) : idx] if x.kind == "stop" and x.words[0] in NEGATORS
            ]
            pending_neg = bool(negators)
            if m.kind in ("value", "negbool") or (
                m.kind == "col" and any(h[0] == "col" and is_flag(h[1]) for h in m.cands)
            ):
                self.use(negators)  # the negation has its place; see check_negations
            if m.kind == "value":
                self._free_value(idx, m, pending_neg)
            elif m.kind == "negbool":
                col = self.pick_col(m, kinds=("bool", "int"))
                q.filters.append((col.table, FlagIs(col, pending_neg)))
            elif m.kind == "col":
                self._free_column(m, pending_neg)
            elif m.kind == "money":
                if q.measure is None:
                    col = self.money_col(q.entity)
                    q.measure = Measure("sum", col, col.table)
                    self.assumptions.append(f"'{m.words[0]}' means sum({col.label})")
            elif m.kind == "number":
                self._free_number(idx, m)  # it raises when the number has no place
                continue
            elif m.kind == "datepart":
                raise Unsure(
                    f"I could not tell what '{m.words[0]}' means here; try 'by {m.words[0]}'."
                )
            elif m.kind == "unknown":
                raise Unsure(not_understood([m.words[0]]))
            self.use([m])

    def _free_value(self, idx: int, m: Mention, pending_neg: bool) -> None:
        """A value ("shipped", "Alps"): a flag, the entity's own event date, or column = value."""
        q = self.query
        inv = self.involved()
        bools = [h[1] for h in m.obj or [] if h[0] == "col" and is_flag(h[1]) and h[1].table in inv]
        own = self.own_event_col(m) if not any(c.table in inv for c, _v in m.cands) else None
        if len(bools) == 1 and not any(c.table in inv for c, _v in m.cands):
            q.filters.append((bools[0].table, FlagIs(bools[0], not pending_neg)))
        elif own is not None:
            # "shipments not delivered": shipments.delivered_at, not orders.status
            if own.kind == "bool":
                q.filters.append((own.table, FlagIs(own, not pending_neg)))
            else:
                q.filters.append((own.table, IsNull(own, pending_neg)))
            self.assumptions.append(
                f"'{' '.join(m.words)}' means {own.label} is {'empty' if pending_neg else 'set'}"
            )
        else:
            col, value = self.pick_value(m.cands, " ".join(m.words))
            self.add_value(col, value, pending_neg)
            self.drop_subject(idx, col)

    def _free_column(self, m: Mention, pending_neg: bool) -> None:
        """A column word: a yes/no flag to filter on, or a column to show in a listing."""
        q = self.query
        bools = [h for h in m.cands if h[0] == "col" and is_flag(h[1])]
        if bools and (
            len(bools) == len([h for h in m.cands if h[0] == "col"]) or not self.listing()
        ):
            col = self.pick_col(
                Mention("col", None, m.words, m.pos, m.score, bools), kinds=("bool", "int")
            )
            q.filters.append((col.table, FlagIs(col, not pending_neg)))
        elif self.listing():
            col = self.pick_col(m, within=q.entity)
            if m.words == ("name",) and q.entity is not None and col.table is q.entity:
                q.select.extend(x for x in label_columns(q.entity) if x not in q.select)
            elif col not in q.select:
                q.select.append(col)
        else:
            raise Unsure(f"I am not sure what '{' '.join(m.words)}' is for in this question.")

    def _free_number(self, idx: int, m: Mention) -> None:
        """A bare number: the key of the table before it, or the value of the column before it."""
        q = self.query
        ms = self.understood.mentions
        prev = ms[idx - 1] if idx else None
        if prev is not None and prev.kind == "table" and id(prev) in self.used:
            t = self.table_of(prev)
            if len(t.catalog_table.primary_key) == 1:
                col = t.by_name[t.catalog_table.primary_key[0]]
                q.filters.append((t, Compare(col, "eq", m.obj, None)))
                return
        j = idx - 1
        if j > 0 and ms[j].kind == "stop" and ms[j].words[0] in ("of", "is", "equal"):
            j -= 1
        prev = ms[j] if j >= 0 else None
        if prev is not None and prev.kind == "col" and q.entity is not None:
            nums = [h for h in prev.cands if h[0] == "col" and h[1].kind in ("int", "num")]
            if nums:  # "order items with quantity 2": quantity = 2
                col = self.pick_col(prev, kinds=("int", "num"), within=q.entity)
                if not is_key(col):
                    self.use([prev])
                    if col in q.select:
                        q.select.remove(col)
                    q.filters.append((col.table, Compare(col, "eq", m.obj, None)))
                    self.use([m])
                    return
        raise Unsure(f"I could not tell what the number {m.words[0]} refers to.")

    def own_event_col(self, m: Mention) -> Column | None:
        """The entity's own date or flag a participle names ("delivered" -> delivered_at)."""
        ent = self.query.entity
        if ent is None or len(m.words) != 1 or m.pos >= len(self.understood.tokens):
            return None
        word = self.understood.tokens[m.pos].text
        if not word.endswith("ed"):
            return None
        stems = hint_stems(word)
        own = [c for c in ent.cols if c.kind in ("date", "ts", "bool") and hint_match(c, stems)]
        return own[0] if len(own) == 1 else None

    def drop_subject(self, idx: int, col: Column) -> None:
        """ "status active": the column word just before a value names the value's column."""
        for j in range(idx - 1, max(-1, idx - 3), -1):
            prev = self.understood.mentions[j]
            if prev.kind == "col" and any(h[1] is col for h in prev.cands if h[0] == "col"):
                self.use([prev])
                if col in self.query.select:
                    self.query.select.remove(col)
                return
            if prev.kind not in ("stop", "harmless"):
                break
        # "tickers on the NYSE exchange", "courses in the Mathematics department": the column
        # word right after a value names its column too
        nxt = self.understood.mentions[idx + 1] if idx + 1 < len(self.understood.mentions) else None
        if (
            nxt is not None
            and id(nxt) not in self.used
            and nxt.kind in ("col", "table")
            and any(h[1] is col for h in nxt.cands if h[0] == "col")
        ):
            self.use([nxt])
