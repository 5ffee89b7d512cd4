"""Stage 2a, dates: time windows from dates and relative phrases ("last month", "Q3 2024")."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from actors.planner.offline.lexicon import MONTH_RE, MONTHS, NUMBER_WORDS


@dataclass
class Window:
    start: dt.date | None
    end: dt.date | None  # exclusive
    label: str
    year_only: int | None = None  # "in 2023": a plain integer `year` column can take it


def add_months(d: dt.date, n: int) -> dt.date:
    m = d.month - 1 + n
    return dt.date(d.year + m // 12, m % 12 + 1, 1)


def parse_date(text: str, today: dt.date) -> dt.date | None:
    text = text.strip().replace(",", " ")
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"\s+", " ", text)
    try:
        if m := re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            return dt.date(int(m[3]), int(m[1]), int(m[2]))  # US order, as most people type
        if m := re.fullmatch(rf"({MONTH_RE}) (\d{{1,2}})(?: (\d{{4}}))?", text):
            return dt.date(int(m[3] or today.year), MONTHS[m[1]], int(m[2]))
        if m := re.fullmatch(rf"(\d{{1,2}}) ({MONTH_RE})(?: (\d{{4}}))?", text):
            return dt.date(int(m[3] or today.year), MONTHS[m[2]], int(m[1]))
        if m := re.fullmatch(rf"({MONTH_RE}) (\d{{4}})", text):
            return dt.date(int(m[2]), MONTHS[m[1]], 1)
        if m := re.fullmatch(r"(\d{4})", text):
            return dt.date(int(m[1]), 1, 1)
    except ValueError:
        return None
    return None


DATE_RE = (
    rf"(?:\d{{4}}[-/]\d{{1,2}}[-/]\d{{1,2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|"
    rf"(?:{MONTH_RE})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTH_RE})(?:,?\s+\d{{4}})?|(?:{MONTH_RE})\s+\d{{4}}|\d{{4}})"
)


_UNIT_DAYS = {"day": 1, "week": 7}


def relative_window(m: re.Match[str], today: dt.date) -> Window | None:
    g = m.groupdict()
    tomorrow = today + dt.timedelta(days=1)
    if g.get("rel"):
        rel = "this" if g["rel"] in ("this", "current", "the current") else "last"
        unit = g["unit"]
        week0 = today - dt.timedelta(days=today.weekday())
        month0 = today.replace(day=1)
        q0 = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        year0 = dt.date(today.year, 1, 1)
        starts = {
            "week": (week0, week0 + dt.timedelta(days=7), week0 - dt.timedelta(days=7)),
            "month": (month0, add_months(month0, 1), add_months(month0, -1)),
            "quarter": (q0, add_months(q0, 3), add_months(q0, -3)),
            "year": (year0, dt.date(today.year + 1, 1, 1), dt.date(today.year - 1, 1, 1)),
        }
        cur, nxt, prev = starts[unit]
        if rel == "this":
            return Window(cur, nxt, f"this {unit} ({cur} to {nxt - dt.timedelta(days=1)})")
        return Window(prev, cur, f"last {unit} ({prev} to {cur - dt.timedelta(days=1)})")
    if g.get("n"):
        n = int(g["n"]) if g["n"].isdigit() else NUMBER_WORDS.get(g["n"], 1)
        unit = g["nunit"]
        if unit in _UNIT_DAYS:
            start = today - dt.timedelta(days=n * _UNIT_DAYS[unit])
        elif unit == "month":
            first = add_months(today.replace(day=1), -n)
            start = first.replace(
                day=min(today.day, calendar.monthrange(first.year, first.month)[1])
            )
        else:
            start = today.replace(year=today.year - n, day=min(today.day, 28))
        return Window(start, tomorrow, f"the last {n} {unit}s (since {start})")
    word = g.get("day")
    if word == "today":
        return Window(today, tomorrow, f"today ({today})")
    if word == "yesterday":
        y = today - dt.timedelta(days=1)
        return Window(y, today, f"yesterday ({y})")
    if word in ("ytd", "year to date"):
        y0 = dt.date(today.year, 1, 1)
        return Window(y0, tomorrow, f"year to date (since {y0})")
    if word in ("mtd", "month to date"):
        return Window(
            today.replace(day=1), tomorrow, f"month to date (since {today.replace(day=1)})"
        )
    return None


def between_window(m: re.Match[str], today: dt.date) -> Window | None:
    """ "between <a> and <b>", "from <a> to <b>": both ends included."""
    a, b = parse_date(m["a"], today), parse_date(m["b"], today)
    if a is None or b is None:
        return None
    if re.fullmatch(r"\d{4}", m["a"].strip()) and re.fullmatch(r"\d{4}", m["b"].strip()):
        end = dt.date(b.year + 1, 1, 1)
    elif re.fullmatch(rf"(?:{MONTH_RE})\s+\d{{4}}", m["b"].strip()):
        end = add_months(b, 1)
    else:
        end = b + dt.timedelta(days=1)
    if end <= a:
        return None
    return Window(a, end, f"{a} to {end - dt.timedelta(days=1)}")


def since_window(m: re.Match[str], today: dt.date) -> Window | None:
    """ "since / after / before / until / on / as of <date>"."""
    d = parse_date(m["d"], today)
    if d is None:
        return None
    op = m["op"]
    if re.fullmatch(r"\d{4}", m["d"].strip()):
        if op in ("after",):
            d = dt.date(d.year + 1, 1, 1)
        if op == "on":
            return None
    if op in ("since", "as of"):
        return Window(d, None, f"since {d}")
    if op == "after":
        if not re.fullmatch(r"\d{4}", m["d"].strip()):
            d = d + dt.timedelta(days=1)
        return Window(d, None, f"from {d} on")
    if op == "on":
        return Window(d, d + dt.timedelta(days=1), f"on {d}")
    return Window(None, d, f"before {d}")


def quarter_window(quarter: int, year: int) -> Window:
    start = dt.date(year, 3 * (quarter - 1) + 1, 1)
    end = add_months(start, 3)
    return Window(start, end, f"Q{quarter} {year} ({start} to {end - dt.timedelta(days=1)})")


def month_window(month: str, year: str | None, today: dt.date) -> Window:
    """ "in March [2024]": without a year, the latest March that has begun."""
    number = MONTHS[month]
    if year:
        y = int(year)
    else:
        y = today.year if number <= today.month else today.year - 1
    start = dt.date(y, number, 1)
    end = add_months(start, 1)
    label = f"{calendar.month_name[number]} {y}"
    if not year:
        label += " (the most recent one)"
    return Window(start, end, label)


def year_window(year: int) -> Window:
    return Window(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), f"{year}", year_only=year)
