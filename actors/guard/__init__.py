"""The guard: decides whether a SQL text may run, and what the person must do first.

PostgreSQL's own parser (pglast) reads the text; every statement gets a class, the most
severe wins, and anything the guard does not recognise fails closed. Modules:

    classifier  classify(): parse once, walk every statement (the how and why is there)
    walk        the per-node walk and expression-level rules
    statements  the statement registry; its rules in dml, ddl and session
    conditions  constant evaluation of WHERE / ON (is a DELETE's condition always true?)
    functions   which functions are read-only, writes or forbidden (data) and function_verdict
    tree        classes and ranks, Classification, Rules, readers of the parse tree
    verdict     confirmation_for / verdict_for / judge: a classification as a signed Verdict
    check       `pgask check-sql`
    catalog     the text judged against one database (what the server resolves it to)
    actor       the process: receives GuardRequest, replies Verdict (`actors.guard.actor`)

Everything but `actor` is pure: no I/O, no event loop, no zmq, so `pgask check-sql` loads the
classifier alone. May import: actors.guard.*, actors._runtime (the actor only) and protocol.
This package's namespace is the classifier's public API (below); importing it starts nothing.
"""

from actors.guard.check import check_sql_main
from actors.guard.classifier import classify
from actors.guard.functions import function_verdict
from actors.guard.tree import TEXT_ONLY, Classification, Rules
from actors.guard.verdict import confirmation_for, judge, on_guard_check, verdict_for

__all__ = [
    "TEXT_ONLY",
    "Classification",
    "Rules",
    "check_sql_main",
    "classify",
    "confirmation_for",
    "function_verdict",
    "judge",
    "on_guard_check",
    "verdict_for",
]
