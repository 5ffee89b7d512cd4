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


# Words people use for the things schemas name otherwise (question side only, one way): a
# general business / records thesaurus, weighed below an exact match (THESAURUS_FACTOR in
# context.py). "researcher" finds `author`, "vehicle" finds `cars`, "eatery" finds
# `restaurant`; an exact match of the word itself still ranks first.
THESAURUS: dict[str, tuple[str, ...]] = {
    # people
    "researcher": ("author", "writer"),
    "scientist": ("author",),
    "writer": ("author",),
    "scholar": ("author",),
    "coauthor": ("author", "write"),
    "teacher": ("instructor", "teacher", "professor"),
    "lecturer": ("instructor",),
    "professor": ("instructor",),
    "teach": ("instructor", "offering"),
    "taught": ("instructor", "offering"),
    "pupil": ("student",),
    "undergraduate": ("student",),
    "investor": ("customer", "client"),
    "client": ("customer",),
    "buyer": ("customer",),
    "purchaser": ("customer",),
    "shopper": ("customer",),
    "spender": ("customer", "order"),
    "staff": ("employee", "salesperson"),
    "salesman": ("salesperson",),
    "saleswoman": ("salesperson",),
    "rep": ("salesperson",),
    "physician": ("doctor",),
    "dermatologist": ("doctor", "dermatology"),
    "visitor": ("user",),
    "member": ("user",),
    "supplier": ("vendor",),
    "resident": ("population",),
    "inhabitant": ("population",),
    # things
    "article": ("paper", "publication"),
    "study": ("paper", "publication"),
    "institution": ("organization",),
    "institute": ("organization",),
    "university": ("organization",),
    "affiliated": ("organization",),
    "affiliation": ("organization",),
    "class": ("course",),
    "module": ("course",),
    "subject": ("course",),
    "major": ("program",),
    "plane": ("aircraft",),
    "airplane": ("aircraft",),
    "jet": ("aircraft",),
    "carrier": ("airline", "carrier"),
    "courier": ("carrier", "shipment"),
    "buy": ("sale", "purchase", "order", "transaction"),
    "bought": ("sale", "purchase", "order", "transaction"),
    "sell": ("sale", "transaction"),
    "sold": ("sale", "transaction"),
    "stock": ("ticker", "inventory"),
    "equity": ("ticker",),
    "security": ("ticker",),
    "share": ("ticker", "share"),
    "fund": ("ticker", "fund"),
    "vehicle": ("car",),
    "auto": ("car",),
    "automobile": ("car",),
    "bill": ("payment", "invoice"),
    "invoice": ("payment", "invoice"),
    "therapy": ("treatment",),
    "regimen": ("treatment",),
    "medicine": ("drug", "medication"),
    "medication": ("drug",),
    "complication": ("adverse", "event"),
    "discount": ("coupon", "discount"),
    "voucher": ("coupon",),
    "promo": ("coupon",),
    "alert": ("notification",),
    "transfer": ("transaction",),
    "peak": ("mountain",),
    "summit": ("mountain",),
    "waterway": ("river",),
    "eatery": ("restaurant", "business"),
    "diner": ("restaurant", "business"),
    "dining": ("restaurant", "business"),
    "spot": ("restaurant", "business"),
    "advice": ("tip",),
    "star": ("rating",),
    "feedback": ("review", "comment"),
    "referenced": ("cite", "citation"),
    "cited": ("cite", "citation"),
    "citing": ("cite",),
    "family": ("category",),
    "subcategory": ("category", "parent"),
    "delivery": ("shipment", "delivered"),
    "parcel": ("shipment",),
    "package": ("shipment",),
    "basket": ("item", "order"),
    "discontinued": ("active",),
    "closed": ("open",),
    "town": ("city",),
    "zone": ("time", "zone"),
    "sector": ("category",),
    "refund": ("refunded", "status"),
    "login": ("session",),
    "logged": ("session",),
    "verification": ("kyc", "verified"),
    "identity": ("kyc",),
    "traffic": ("checkin",),
    "visit": ("checkin",),
}


# "last week", "the past 30 days": a time window, not the `last_name` column nor a table
_RELATIVE_DATE = re.compile(
    r"\b(?:last|past|previous|next|this|coming)\s+(?:\d+\s+)?"
    r"(?:days?|weeks?|months?|quarters?|years?)\b",
    re.IGNORECASE,
)


def question_terms(text: str) -> list[str]:
    """The content words of a question, stemmed, in order, without duplicates."""
    seen: dict[str, None] = {}
    for raw in _WORD.findall(_RELATIVE_DATE.sub(" ", text)):
        for term in split_identifier(raw):
            if term not in STOPWORDS and len(term) > 1:
                seen.setdefault(term, None)
    return list(seen)
