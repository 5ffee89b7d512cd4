"""The entry point: offline_plan(question, catalog, ...) -> Plan | Clarification; it never raises."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import sqlglot
from sqlglot import exp

from actors.planner.offline.clarify import MODEL_HINT, Unsure, not_understood
from actors.planner.offline.columns import label_columns
from actors.planner.offline.explain import explain
from actors.planner.offline.followup import combine, looks_like_follow_up, previous_turn
from actors.planner.offline.intents import EXPLAIN_RE, dba_plan, ddl_plan
from actors.planner.offline.lexicon import (
    ATTRIBUTE_OF_EACH,
    EACH_VERB,
    EVENT_PHRASES,
    MOST_NUMBER_OF,
    most_or_fewest,
)
from actors.planner.offline.parse import LEAD_RE, Parser
from actors.planner.offline.render import Renderer
from actors.planner.offline.resolve.walk import Resolver
from actors.planner.offline.schema import Schema, schema_for
from actors.planner.offline.understand import Understanding
from protocol.messages import Catalog, Clarification, Plan, Turn


def offline_plan(
    question: str,
    catalog: Catalog,
    *,
    recent: list[Turn] | None = None,
    values: dict[tuple[str, str, str], list[str]] | None = None,
    today: dt.date | None = None,
    pins: list[str] | None = None,
) -> Plan | Clarification:
    """Plan `question` against `catalog` without a model; never raises.

    `values` maps (schema, table, column) to the distinct values of low-cardinality text columns
    (see value_index_sql); `today` fixes "last month" and friends (default: the local date).
    `recent` lets a follow-up ("and by month?", "only the cancelled ones") continue the last
    planned question (see followup.py); the plan says what it continued. `pins` (facts pinned
    in the session) are free text the offline planner cannot apply: the plan notes them.
    """
    try:
        return _plan(question, catalog, recent or [], values, today or dt.date.today(), pins or [])
    except Unsure as exc:
        return Clarification(question=exc.question, options=exc.options)
    except Exception as exc:  # a bug here must not cost the person their question
        return Clarification(
            question=f"I could not plan this offline ({type(exc).__name__}); {MODEL_HINT}.",
            options=[],
        )


def _plan(
    question: str,
    catalog: Catalog,
    recent: list[Turn],
    values: dict[tuple[str, str, str], list[str]] | None,
    today: dt.date,
    pins: list[str],
) -> Plan | Clarification:
    question = (question or "").strip()[:2000]
    if not question:
        return Clarification(question="What would you like to know?")
    s = schema_for(catalog)
    if not s.tables:
        return Clarification(
            question="This database has no tables I can see, so there is nothing to ask about yet."
        )
    ddl = ddl_plan(s, question) or dba_plan(s, question)
    if ddl is not None:
        return ddl
    if m := EXPLAIN_RE.match(question.strip()):
        rest = m["rest"].strip()
        inner = _explain_target(rest, catalog, recent, values, today)
        if isinstance(inner, Clarification):
            return inner
        return Plan(
            sql=inner.sql,
            explanation=f"Shows the query plan{' with actual timings' if m['a'] else ''} of: {inner.explanation}",
            intent="explain",
            assumptions=[
                *inner.assumptions,
                *(["EXPLAIN ANALYZE runs the query"] if m["a"] else []),
            ],
            tables=inner.tables,
            source="offline",
        )
    return _with_notes(_plan_in_conversation(question, s, recent, values, today), pins)


def _plan_in_conversation(
    question: str,
    s: Schema,
    recent: list[Turn],
    values: dict[tuple[str, str, str], list[str]] | None,
    today: dt.date,
) -> Plan:
    """A read plan; a follow-up ("only the cancelled ones") is read against the last planned
    question, and the plan says so — or says that it could not, never ignoring it silently."""
    previous = previous_turn(recent)
    if previous is None or not looks_like_follow_up(question):
        # a question that does not point back is read alone, even when it fails: joining it to
        # the previous one would be a guess ("orders placed yesterday" is no follow-up)
        return _plan_read(question, s, values, today)
    known = Parser("", s, values, today).values
    text, replaced = combine(question, previous.question, known)
    try:
        plan = _plan_read(text, s, values, today)
    except Unsure as exc:
        try:
            alone = _plan_read(question, s, values, today)
        except Unsure:
            raise Unsure(
                f"I read this as a follow-up to '{previous.question}' ('{text}') but could not "
                f"plan it: {exc.question}",
                exc.options,
            ) from None
        note = (
            f"note: planned on its own; as a follow-up to '{previous.question}' "
            f"('{text}') it could not be planned offline"
        )
        return _with_assumptions(alone, [note, *alone.assumptions])
    what = f"follow-up: continues '{previous.question}', read as '{text}'"
    if replaced:
        what += f" (replacing {', '.join(repr(r) for r in replaced)})"
    return _with_assumptions(plan, [what, *plan.assumptions])


def _with_notes(result: Plan, pins: list[str]) -> Plan:
    """Pinned facts are free text the offline planner cannot apply: it says so on the plan."""
    shown = [p.strip() for p in pins if p.strip()]
    if not shown:
        return result
    note = "note: pinned facts not applied offline (no model): " + "; ".join(
        f"'{p}'" for p in shown[-5:]
    )
    return _with_assumptions(result, [*result.assumptions, note])


def _with_assumptions(plan: Plan, assumptions: list[str]) -> Plan:
    return msgspec.structs.replace(plan, assumptions=assumptions)


def _explain_target(
    rest: str,
    catalog: Catalog,
    recent: list[Turn],
    values: dict[tuple[str, str, str], list[str]] | None,
    today: dt.date,
) -> Plan | Clarification:
    if re.match(r"^(?:select|with)\b", rest, re.I):
        try:
            tree = sqlglot.parse_one(rest, read="postgres")
        except Exception:
            return Clarification(question="I could not parse that SQL to explain it.")
        if not isinstance(tree, (exp.Select, exp.Union, exp.With)) and not isinstance(
            tree, exp.Query
        ):
            return Clarification(question="I only explain SELECT queries offline.")
        return Plan(
            sql=tree.sql(dialect="postgres"),
            explanation="the query you gave.",
            intent="read",
            source="offline",
        )
    if rest.lower() in ("it", "that", "this", "the last query", "the previous query", "last query"):
        previous = next((t for t in reversed(recent) if t.sql), None)
        if previous is None:
            return Clarification(question="Explain which query? There is no previous one.")
        return Plan(
            sql=previous.sql, explanation="the previous query.", intent="read", source="offline"
        )
    result = offline_plan(rest, catalog, recent=recent, values=values, today=today)
    if isinstance(result, Plan) and result.intent != "read":
        return Clarification(question="I only explain read queries offline.")
    return result


def _plan_read(
    question: str, s: Schema, values: dict[tuple[str, str, str], list[str]] | None, today: dt.date
) -> Plan:
    parser = Parser(question, s, values, today)
    text = (
        LEAD_RE.sub("", question.strip(), count=1)
        if not question.strip().startswith(("'", '"'))
        else question
    )
    text = MOST_NUMBER_OF.sub(most_or_fewest, EVENT_PHRASES.sub("happened", text))
    # "(show me) every keyword", "all the airports": the whole list, not a grouping
    text = re.sub(r"^\s*(?:every|all(?:\s+of)?(?:\s+the)?)\s+(?=[a-z])", "", text, flags=re.I)
    each_verb = EACH_VERB.search(text)
    if each_verb:
        text = text[: each_verb.start()] + f"per {each_verb.group(1)}"
    attribute = ATTRIBUTE_OF_EACH.match(text)
    if attribute:
        text = f"{attribute['y']} and their {attribute['x']}"
    text = parser.extract(" " + text)
    und = Understanding(parser, text)
    unknown = [m.words[0] for m in und.mentions if m.kind == "unknown"]
    resolver = Resolver(parser, und)
    try:
        q = resolver.resolve()
    except Unsure as exc:
        if unknown and not exc.options:
            raise Unsure(not_understood(unknown)) from None
        raise
    if attribute and q.entity is not None and q.select and not q.measure and not q.groups:
        q.select[:0] = [c for c in label_columns(q.entity) if c not in q.select]
    measured = q.measure.table if q.measure else q.entity
    every = [g for kind, g in q.groups if kind == "entity" and g is not measured]
    if each_verb and every:
        group = " ".join(every[0].words)
        what = " ".join(measured.words) if measured else "row"
        what = what if what.endswith("s") else what + "s"
        raise Unsure(
            f"Every {group} (0 where it has no {what}), or only those with {what}? "
            f"'number of {what} per {group}' asks for the second.",
            [f"every {group}, with 0", f"only each {group} with {what}"],
        )
    r = Renderer(s, q, parser.assumptions)
    tree = r.render()
    sql = tree.sql(dialect="postgres")
    return Plan(
        sql=sql,
        explanation=explain(q, r),
        intent="read",
        assumptions=list(dict.fromkeys(parser.assumptions)),
        tables=[t.full for t in r.tables],
        source="offline",
    )
