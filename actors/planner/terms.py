"""A question's terms: its content words, made singular, and the abbreviations identifiers use."""

from __future__ import annotations

import re

from actors.planner.words import split_identifier

_WORD = re.compile(r"[A-Za-z0-9]+")

STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or not no is are was were be been being
    what which who whom whose when where why how show list give me find get tell all any each
    every per many much most least more less than top this that these those there their them
    they it its i we you our your my do does did have has had can could would should please
    as into over under between about up down out than then so if else also only just
    number count sum average avg mean max min maximum minimum distinct sorted
    by desc asc descending ascending ever now only s t""".split()
)


# abbreviations found in identifiers <-> words people type
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "transaction": ("tx", "txn", "trans", "trx"),
    "amount": ("amt",),
    "quantity": ("qty",),
    "number": ("num", "nbr", "no"),
    "customer": ("cust", "client"),
    "client": ("customer",),
    "department": ("dept",),
    "employee": ("emp", "staff"),
    "address": ("addr",),
    "description": ("desc", "descr"),
    "date": ("dt",),
    "timestamp": ("ts",),
    "product": ("prod",),
    "category": ("cat",),
    "account": ("acct",),
    "balance": ("bal",),
    "price": ("cost",),
    "revenue": ("sale", "amount"),
    "sale": ("revenue",),
    "user": ("usr",),
    "organization": ("org",),
    "message": ("msg",),
    "reference": ("ref",),
    "identifier": ("id",),
    "information": ("info",),
    "percentage": ("pct",),
    "average": ("avg",),
    "purchase": ("order",),
    "bought": ("order", "purchase"),
    "spent": ("amount", "total"),
    "paid": ("payment", "amount"),
    "city": ("location",),
    "country": ("nation",),
}


def question_terms(text: str) -> list[str]:
    """The content words of a question, stemmed, in order, without duplicates."""
    seen: dict[str, None] = {}
    for raw in _WORD.findall(text):
        for term in split_identifier(raw):
            if term not in STOPWORDS and len(term) > 1:
                seen.setdefault(term, None)
    return list(seen)
