"""Follow-ups: a short question read against the conversation's last planned question.

"only the cancelled ones", "by month instead", "and for 2023?" say what changes in the previous
question, not the whole question. `looks_like_follow_up` spots them; `combine` rewrites the
previous question's text with the change: a new grouping replaces the old one, a new date
replaces the old date, a value of the same column as one the previous question filtered on
replaces it, anything else is added as one more filter. The caller plans the combined text and
says so on the plan; when it cannot, it says what it used and what it did not.

Text in, text out (the previous turn's SQL may come from a model, so it is not parsed here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from actors.planner.offline.lexicon import MONTH_RE
from actors.planner.offline.schema import Column
from protocol.messages import Turn

# how a follow-up opens, or a word that points back at the previous answer
FOLLOW_UP_RE = re.compile(
    r"^\s*(?:and|what about|how about|what if|now|only|just|same|but|also|then|instead|"
    r"ok(?:ay)?|except|excluding)\b"
    r"|\binstead\b|\b(?:the\s+)?(?:[a-z]+\s+)?ones\b|\b(?:those|them|these)\b"
    r"|\b(?:only|too|as\s+well)\s*[?.!]*\s*$"
    # a bare grouping or date, with nothing to group or date: "broken down by carrier"
    r"|^\s*(?:by|per|broken\s+down\s+by|split\s+by|grouped\s+by|break\s+(?:it\s+)?down\s+by|"
    r"(?:in|for|during)\s+(?:19|20)\d{2})\b",
    re.IGNORECASE,
)
_LEAD_RE = re.compile(
    r"^\s*(?:(?:and|what about|how about|what if|now|but|also|then|ok(?:ay)?|same|"
    r"(?:can you|could you|please)\s+(?:show|give|do)(?:\s+(?:it|that|me))*)\b[\s,]*)+",
    re.IGNORECASE,
)
_POINTERS_RE = re.compile(
    r"\b(?:instead|(?:those|them|these|ones)(?=\s|$)|the same|(?:just|only)\s+for)\b",
    re.IGNORECASE,
)
_YEAR = r"(?:19|20)\d{2}"
_WINDOW = (
    rf"(?:(?:{MONTH_RE})\s+)?{_YEAR}"
    r"|(?:last|this|previous|past|next|the\s+last|the\s+past)\s+(?:\d+\s+)?"
    r"(?:day|week|month|quarter|year)s?"
    rf"|today|yesterday|(?:{MONTH_RE})"
)
DATE_RE = re.compile(
    rf"(?:\b(?:in|for|during|from|since|of|on|over)\s+(?:the\s+)?)?\b(?:{_WINDOW})\b",
    re.IGNORECASE,
)
GROUP_RE = re.compile(
    r"(?<!sorted )(?<!ordered )(?<!ranked )(?<!paid )(?<!made )(?<!written )"
    r"\b(?:grouped\s+by|broken\s+down\s+by|break\s+(?:it\s+)?down\s+by|split\s+by|by|per|"
    r"for\s+each|for\s+every|in\s+each|each)\s+(?:the\s+)?[a-z_]+"
    r"(?:\s+(?!(?:in|for|during|from|since|with|where|and|or|of|on|over|sorted|ordered)\b)"
    r"[a-z_]+)?",
    re.IGNORECASE,
)


def previous_turn(recent: Sequence[Turn]) -> Turn | None:
    """The last turn that was planned: it has both the question and its SQL."""
    return next((t for t in reversed(recent) if t.question and t.sql), None)


def looks_like_follow_up(question: str) -> bool:
    return bool(FOLLOW_UP_RE.search(question or ""))


def combine(
    question: str, previous: str, values: Mapping[str, list[tuple[Column, str]]]
) -> tuple[str, list[str]]:
    """The previous question rewritten with this follow-up's change, and what was replaced."""
    change = _POINTERS_RE.sub(" ", _LEAD_RE.sub("", question.strip().rstrip("?.! ")))
    change = re.sub(r"^\s*(?:only|just)\s+(?:the\s+)?", "", change, flags=re.IGNORECASE)
    change = re.sub(r"^\s*(?:the|with|where)\s+", "", change, flags=re.IGNORECASE)
    base = previous.strip().rstrip("?.! ")
    replaced: list[str] = []
    if DATE_RE.search(change):
        base, gone = _cut(base, DATE_RE)
        replaced += gone
    if GROUP_RE.search(change):
        base, gone = _cut(base, GROUP_RE)
        replaced += gone
    for old in _same_column_values(change, base, values):
        base = re.sub(rf"\b{re.escape(old)}\b", " ", base, flags=re.IGNORECASE)
        replaced.append(old)
    text = " ".join(f"{base} {change}".split())
    return text, replaced


def _cut(text: str, pattern: re.Pattern[str]) -> tuple[str, list[str]]:
    gone = [m.group(0).strip() for m in pattern.finditer(text)]
    return pattern.sub(" ", text), gone


def _phrases(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9_'’-]+", text.lower())
    return [" ".join(words[i : i + n]) for n in (3, 2, 1) for i in range(len(words) - n + 1)]


def _same_column_values(
    change: str, base: str, values: Mapping[str, list[tuple[Column, str]]]
) -> list[str]:
    """Phrases of `base` that are values of a column that a value in `change` also belongs to
    ("Alps" when the follow-up says "and in Iberia?")."""
    new_columns = {id(col) for p in _phrases(change) for col, _v in values.get(p, [])}
    if not new_columns:
        return []
    olds = [
        p
        for p in _phrases(base)
        if p not in _phrases(change)
        and any(id(col) in new_columns for col, _v in values.get(p, []))
    ]
    return [p for p in olds if not any(p != o and p in o for o in olds)]
