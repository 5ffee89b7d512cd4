"""Stage 4, resolve: time windows and newest/oldest orders, and which date column they apply to."""

from __future__ import annotations

from actors.planner.offline.clarify import Unsure
from actors.planner.offline.columns import hint_match, hint_stems, quiet_date_column
from actors.planner.offline.dates import Window
from actors.planner.offline.lexicon import HINT_NOUNS
from actors.planner.offline.parse import Marker
from actors.planner.offline.query import Compare, InWindow
from actors.planner.offline.resolve.state import ResolverState
from actors.planner.offline.schema import Column
from actors.planner.offline.understand import Mention


class TimeRoles(ResolverState):
    """Which date a window or an order applies to."""

    def window_hints(self, items: list[tuple[int, Marker]]) -> None:
        """'hired since 2020', 'sold in 2023': the word before a window picks the date column.

        Runs before the free words are read, so the hint word is not taken for a column to show.
        """
        for k, item in items:
            if item.kind != "window" or k == 0:
                continue
            j = k - 1
            while (
                j > 0
                and self.understood.mentions[j].kind == "stop"
                and self.understood.mentions[j].words[0]
                in ("was", "were", "is", "are", "been", "up", "out")
            ):
                j -= 1
            m = self.understood.mentions[j]
            if m.kind not in ("col", "harmless", "unknown", "value", "table") or id(m) in self.used:
                continue
            word = self.understood.tokens[m.pos].text
            stems = hint_stems(word)
            cols = [
                c
                for t in self.schema.tables
                for c in t.cols
                if c.kind in ("date", "ts") and hint_match(c, stems)
            ]
            if not cols:  # "customers who ordered last month": the date of the orders
                for t in self.schema.tables:
                    if set(t.words) & stems and (c := quiet_date_column(t)) is not None:
                        cols.append(c)
            if not cols:
                # an event verb with no date of its own: do not guess; joining is the row's
                # own creation, which the default date choice already prefers
                if (
                    word in HINT_NOUNS
                    and word not in ("joined", "registered", "signed")
                    and m.kind != "value"
                ):
                    raise Unsure(f"I could not tell which date '{word}' refers to here.")
                continue
            item.data["hint"] = (stems, cols)
            if m.kind != "table":
                self.use([m])

    def do_window(self, k: int, item: Marker) -> None:
        q = self.query
        w: Window = item.data["window"]
        order = [t for t in [q.measure.table if q.measure else None, q.entity] if t is not None]
        order += [t for t in self.mentioned if t not in order]
        if w.year_only is not None and not item.data.get("hint"):
            for t in order:
                col = t.by_name.get("year")
                if (
                    col is not None
                    and col.kind in ("int", "num")
                    and not any(c.kind in ("date", "ts") for c in t.cols)
                ):
                    q.filters.append((t, Compare(col, "eq", float(w.year_only), None)))
                    return
        chosen: Column | None = None
        if item.data.get("hint"):
            _stems, cols = item.data["hint"]
            for t in order:  # the hinted column of a table already in the question
                mine = [c for c in cols if c.table is t]
                if len(mine) == 1:
                    chosen = mine[0]
                    break
            if chosen is None and order:
                reach = [c for c in cols if self.schema.path(order[0], c.table) is not None]
                by_table = [c for c in reach if set(c.table.words) & _stems]
                pick = by_table if len(by_table) == 1 else reach
                if len(pick) == 1:
                    chosen = pick[0]
                elif len(pick) > 1:
                    raise Unsure("Which date do you mean?", [c.label for c in pick[:8]])
        if chosen is None:
            for t in order:
                chosen = self.date_col(t)
                if chosen is not None:
                    break
        if chosen is not None:
            q.filters.append((chosen.table, InWindow(chosen, w)))
            self.assumptions.append(f"{w.label} applies to {chosen.label}")
            return
        for t in order:  # a plain integer year column, when nothing has a date
            col = t.by_name.get("year")
            if col is not None and w.year_only is not None:
                q.filters.append((t, Compare(col, "eq", float(w.year_only), None)))
                return
        raise Unsure(
            f"I understood the time window ({w.label}) but found no date column in "
            f"{', '.join(t.name for t in order) or 'the tables named'}."
        )

    def do_order(self, item: Marker, entity_m: Mention | None) -> None:
        q = self.query
        t = q.entity or (q.measure.table if q.measure else None)
        if t is None:
            raise Unsure(f"'{item.data['word']}' what? Name a table.")
        n = item.data["n"]
        plural = self.entity_plural(entity_m)
        if item.data["what"] == "pk":
            keys = [t.by_name[k] for k in t.catalog_table.primary_key if k in t.by_name]
            if not keys:
                raise Unsure(f"{t.name} has no primary key to say which rows come first.")
            for col in keys:
                q.order.append(("col", col, False))
            self.assumptions.append(f"'first' means lowest {', '.join(c.name for c in keys)}")
        else:
            col = self.date_col(t)
            if col is None:
                raise Unsure(
                    f"'{item.data['word']}' needs a date, and {t.name} has no date column."
                )
            q.order.append(("col", col, item.data["desc"]))
            self.assumptions.append(
                f"'{item.data['word']}' means {'newest' if item.data['desc'] else 'oldest'} {col.name}"
            )
        if n is None and q.limit:
            n = q.limit  # "the 3 most recent notifications"
        if n is None:
            n = 10 if plural else 1
            if plural:
                self.assumptions.append("shows 10 rows")
        q.limit = n
