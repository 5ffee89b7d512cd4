"""Offline planner: deterministic English -> SQL for common question shapes, from the catalog.

Used when no model is configured or the model is unreachable. Pure: no I/O, no clock unless
`today` is omitted. It must work on any schema, so nothing here names a demo table; everything
is found through the catalog (table and column names split into words, comments, enum labels)
and the bounded index of distinct values of low-cardinality text columns that the executor
builds (`value_index_sql` / `parse_value_index`, only when privacy settings allow).

    offline_plan(question, catalog, *, recent=None, values=None, today=None)
        -> Plan(source="offline") | Clarification

It prefers asking to guessing: a content word it cannot place, two equally good tables or date
columns, or an ambiguous join all become a Clarification naming the options. It never raises.

How a read question is understood, in order:
  1. DDL / DBA intents by pattern (create / drop index, add column, explain, list tables).
  2. Phrases with fixed meaning are cut out of the text and replaced by markers: quoted values,
     time windows, limits and orderings, numeric comparisons, NULL tests, `by` / `per`
     groupings, aggregates.
  3. What is left is matched against the catalog, longest n-gram first: tables, columns,
     distinct values, boolean columns. Markers take their subject from neighbouring words.
     Negations are never dropped: "never <verb> <table>" / "without <table>" become NOT EXISTS
     along the key (a count of related rows = 0), "not yet delivered" an empty own date, and a
     'not' that nothing takes turns the whole question into a Clarification.
  4. The base table is chosen, the other tables are joined along the shortest foreign-key
     path (or matching key names when the database declares no foreign keys at all), and the
     SELECT is built with sqlglot's expression builder, so identifiers are quoted by the rules
     of PostgreSQL and every value is a literal.

The pipeline, one module per stage (each imports only the stages before it):

    schema.py      stage 1: the catalog as tables, columns, words and join edges (cached)
    values.py      the value index the executor builds (value_index_sql / parse_value_index)
    intents.py     DDL and DBA intents, read by pattern before anything else
    dates.py       time windows from dates and relative phrases
    parse.py       stage 2: fixed phrases cut out as markers
    understand.py  stage 3: the words between the markers, matched against the catalog
    resolve/       stage 4: markers and mentions become a Query (walk.py runs the roles)
    render.py      stage 5: the Query becomes one SELECT; explain.py says it in English
    plan.py        the entry point, offline_plan
    lexicon.py, columns.py, query.py, identifiers.py, clarify.py: what the stages share
"""

from actors.planner.offline.clarify import MODEL_HINT
from actors.planner.offline.plan import offline_plan
from actors.planner.offline.values import parse_value_index, value_index_sql

__all__ = ["MODEL_HINT", "offline_plan", "parse_value_index", "value_index_sql"]
