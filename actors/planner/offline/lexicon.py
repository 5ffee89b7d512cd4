"""The offline planner's English: fixed word lists and phrases (data, no logic)."""

from __future__ import annotations

import calendar
import re

# Abbreviations seen in real identifiers (`sbTxAmount`, `crtd_ts`, `diag_id`), expanded on the
# catalog side only: a question says "transaction", the column says "tx".
ABBREVIATIONS = {
    "cust": "customer",
    "tx": "transaction",
    "txn": "transaction",
    "trx": "transaction",
    "amt": "amount",
    "qty": "quantity",
    "num": "number",
    "nbr": "number",
    "cnt": "count",
    "dt": "date",
    "ts": "timestamp",
    "crtd": "created",
    "addr": "address",
    "diag": "diagnosis",
    "doc": "doctor",
    "med": "medication",
    "ins": "insurance",
    "emp": "employee",
    "dept": "department",
    "mgr": "manager",
    "prod": "product",
    "acct": "account",
    "bal": "balance",
    "ccy": "currency",
    "usr": "user",
    "msg": "message",
    "desc": "description",
    "reg": "registration",
    "pct": "percent",
    "loc": "location",
    "tel": "phone",
    "yr": "year",
    "appr": "approval",
    "dos": "dose",
    "dob": "birth",
}


# Question-side synonyms, tried only when the word itself names nothing in the catalog.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "client": ("customer",),
    "buyer": ("customer",),
    "purchaser": ("customer",),
    "consumer": ("customer", "user"),
    "customer": ("client", "user"),
    "user": ("customer", "member"),
    "member": ("user", "customer"),
    "staff": ("employee", "salesperson"),
    "employee": ("staff", "salesperson"),
    "seller": ("salesperson", "vendor", "merchant"),
    "salesman": ("salesperson",),
    "saleswoman": ("salesperson",),
    "rep": ("salesperson",),
    "item": ("product",),
    "product": ("item",),
    "good": ("product",),
    "merchandise": ("product",),
    "vendor": ("supplier", "merchant"),
    "supplier": ("vendor",),
    "shop": ("merchant", "store"),
    "store": ("merchant", "shop"),
    "purchase": ("order", "sale", "transaction"),
    "order": ("sale", "purchase"),
    "sale": ("order", "transaction"),
    "trade": ("transaction",),
    "transaction": ("trade", "sale"),
    "town": ("city",),
    "nation": ("country",),
    "mail": ("email",),
    "telephone": ("phone",),
    "mobile": ("phone",),
    "cost": ("price",),
    "price": ("cost",),
    "kind": ("type", "category"),
    "type": ("kind", "category"),
    "category": ("type", "kind"),
    "zip": ("postal",),
    "postcode": ("postal", "zip"),
    "sex": ("gender",),
    "gender": ("sex",),
    "stock": ("ticker",),
    "ticker": ("symbol",),
    "symbol": ("ticker",),
    "car": ("vehicle",),
    "vehicle": ("car",),
    "physician": ("doctor",),
    "medicine": ("drug",),
    "paper": ("publication",),
    "publication": ("paper",),
    "article": ("publication", "paper"),
    "restaurant": ("business",),
    "signup": ("join", "registration", "created"),
}


# Words that name money: "total revenue", "sales by region", "average order value".
MONEY_WORDS = frozenset(
    "revenue sale turnover income earning amount spend spending spent value money gmv payment "
    "paid worth".split()
)


STOP_WORDS = frozenset(
    """a an the of all me show list give get find display what which who whose is are was were
    be been being do does did have has had there their in on at for from to with and or that
    this these those every please can could would you i we our my us want need see tell
    how many much any some it its as than then rows row records record entries entry data info
    information details detail table tables where when also only just by per each across into
    out up named called whom them they he she his her both either within among let lets look
    return returned display displayed exist exists existing currently current currently so now
    here whats what's give me ones one""".split()
)


# Verbs and fillers that carry no filter: dropping them cannot change the answer.
HARMLESS_WORDS = frozenset(
    """placed made bought purchased sold happened occurred recorded logged done taken sent
    received created registered joined signed hired issued written booked got make come comes
    live lives living located based belong belongs published released reported ever happen
    total overall altogether together number count amount sorted ordered grouped broken down
    split listed shown value values distinct unique different""".split()
)


# Verb phrases that only say an event happened ("transactions that took place in March"):
# rewritten to a harmless word before the question is read.
EVENT_PHRASES = re.compile(
    r"\b(?:took|take|takes|taking|taken|came|come|comes|coming) (?:place|out)\b", re.I
)


# "the highest number of citations" is "the most citations" (and the lowest, the fewest).
MOST_NUMBER_OF = re.compile(
    r"\b(?:(highest|largest|greatest|biggest|most)|lowest|smallest|fewest|least) "
    r"(?:number|count|amount|total) of\b",
    re.I,
)


def most_or_fewest(m: re.Match[str]) -> str:
    return "most" if m.group(1) else "fewest"


# "how many sales did each salesperson make": the verb at the end only says the rows belong to
# each one (left in, "make" would be read as cars.make). Read as "per salesperson", except that
# "each" may mean every salesperson, with 0 for those without sales: that is asked.
EACH_VERB = re.compile(
    r"\b(?:did|do|does|has|have|had)\s+(?:each|every)\s+([a-z][a-z_ ]*?)\s+"
    r"(?:make|made|place|placed|write|wrote|written|receive|received|get|got|have|had|take|took|"
    r"taken|buy|bought|sell|sold|complete|completed|handle|handled|publish|published)\s*[?.!]*\s*$",
    re.I,
)


# Nouns for the data set as a whole ("how many authors are in the database"): no filter.
CONTAINER_NOUNS = frozenset("database db dataset system".split())


NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "hundred": 100,
    "dozen": 12,
}


MONTHS = {
    name: i
    for i in range(1, 13)
    for name in (calendar.month_name[i].lower(), calendar.month_abbr[i].lower())
}


MONTHS["sept"] = 9
MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))


AGGREGATES = {
    "total": "sum",
    "sum": "sum",
    "average": "avg",
    "avg": "avg",
    "mean": "avg",
    "minimum": "min",
    "min": "min",
    "maximum": "max",
    "max": "max",
}


DATEPARTS = {"hour", "day", "week", "month", "quarter", "year"}


DATE_UNIT_ADJECTIVES = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "quarterly": "quarter",
    "yearly": "year",
    "annually": "year",
    "annual": "year",
}


NEGATORS = {"not", "non", "excluding", "except", "isn't", "aren't", "never"}


HINT_NOUNS = {
    "sold": ("sale",),
    "bought": ("purchase", "order"),
    "purchased": ("purchase", "order"),
    "ordered": ("order",),
    "paid": ("payment", "paid"),
    "shipped": ("ship", "shipping", "shipment"),
    "hired": ("hire",),
    "joined": ("join",),
    "registered": ("registration", "register"),
    "signed": ("signup",),
    "delivered": ("delivery",),
    "placed": ("order", "placed"),
    "started": ("start",),
    "ended": ("end",),
    "finished": ("end", "completed"),
    "completed": ("completed", "complete"),
    "reported": ("reported", "report"),
    "approved": ("approval", "approved"),
    "updated": ("updated", "update"),
    "modified": ("modified",),
    "born": ("birth",),
    "assessed": ("assess", "assessment"),
    "logged": ("login",),
}
