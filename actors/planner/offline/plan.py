"""The entry point: offline_plan(question, catalog, ...) -> Plan | Clarification; it never raises."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import sqlglot
from sqlglot import exp

from actors.planner.offline.clarify import MODEL_HINT, Unsure, not_understood
from actors.planner.offline.explain import explain
from actors.planner.offline.intents import EXPLAIN_RE, dba_plan, ddl_plan
from actors.planner.offline.lexicon import EACH_VERB, EVENT_PHRASES, MOST_NUMBER_OF, most_or_fewest
from actors.planner.offline.parse import LEAD_RE, Parser
from actors.planner.offline.render import Renderer
from actors.planner.offline.resolve.walk import Resolver
from actors.planner.offline.schema import Schema, schema_for
from actors.planner.offline.understand import Understanding
from protocol.messages import Catalog, Clarification, Plan, Turn

_FOLLOW_UP_RE = re.compile(r"^(?:and|what about|how about|now|only|just|same|but)\b", re.I)


def offline_plan(
    question: str,
    catalog: Catalog,
    *,
    recent: list[Turn] | None = None,
    values: dict[tuple[str, str, str], list[str]] | None = None,
    today: dt.date | None = None,
) -> Plan | Clarification:
    """Plan `question` against `catalog` without a model; never raises.

    `values` maps (schema, table, column) to the distinct values of low-cardinality text columns
    (see value_index_sql); `today` fixes "last month" and friends (default: the local date).
    `recent` lets a short follow-up ("and by month?") continue the previous question.
    """
    try:
        return _plan(question, catalog, recent or [], values, today or dt.date.today())
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
    try:
        return _plan_read(question, s, values, today)
    except Unsure as exc:
        previous = next((t for t in reversed(recent) if t.question and t.sql), None)
        if previous is not None and _FOLLOW_UP_RE.match(question):
            rest = _FOLLOW_UP_RE.sub("", question, count=1)
            try:
                plan = _plan_read(f"{previous.question} {rest}", s, values, today)
            except Unsure:
                raise exc from None
            return _with_assumptions(plan, [f"continues '{previous.question}'", *plan.assumptions])
        raise


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
    each_verb = EACH_VERB.search(text)
    if each_verb:
        text = text[: each_verb.start()] + f"per {each_verb.group(1)}"
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
