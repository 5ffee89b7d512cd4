"""protocol/sqltext.py: the one identifier quoter (PostgreSQL's own keyword list) and the SQL
texts two processes must spell alike."""

from __future__ import annotations

import pglast
import pytest
from pglast import keywords

from protocol.sqltext import (
    COL_NAME_KEYWORDS,
    QUOTED_KEYWORDS,
    RESERVED_KEYWORDS,
    TYPE_FUNC_NAME_KEYWORDS,
    copy_out_sql,
    create_database_sql,
    quote_ident,
    quote_qualified,
)


def test_the_keyword_lists_are_the_servers_own():
    assert keywords.RESERVED_KEYWORDS == RESERVED_KEYWORDS
    assert keywords.TYPE_FUNC_NAME_KEYWORDS == TYPE_FUNC_NAME_KEYWORDS
    assert keywords.COL_NAME_KEYWORDS == COL_NAME_KEYWORDS
    assert not QUOTED_KEYWORDS & keywords.UNRESERVED_KEYWORDS


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("orders", "orders"),
        ("left", '"left"'),
        ("user", '"user"'),
        ("order", '"order"'),
        ("int", '"int"'),  # a COL_NAME keyword: quote_ident() quotes it too
        ("join", '"join"'),  # TYPE_FUNC_NAME
        ("name", "name"),  # unreserved: bare
        ("Order", '"Order"'),
        ("my table", '"my table"'),
        ('a"b', '"a""b"'),
        ("1abc", '"1abc"'),
        ("a$b", "a$b"),
    ],
)
def test_quote_ident_writes_what_the_server_reads_back(name, quoted):
    assert quote_ident(name) == quoted


@pytest.mark.parametrize("word", sorted(QUOTED_KEYWORDS))
def test_every_quoted_keyword_is_a_name_once_quoted(word):
    """Each quoted keyword parses as a database name (bare, the reserved ones are errors)."""
    tree = pglast.parse_sql(create_database_sql(word))
    assert tree[0].stmt.dbname == word


def test_unreserved_keywords_stay_bare_and_parse():
    for word in ("name", "data", "value", "text", "action"):
        assert pglast.parse_sql(create_database_sql(word))[0].stmt.dbname == word


def test_qualified_names_and_create_database():
    assert quote_qualified("public", "order") == 'public."order"'
    assert create_database_sql("left") == 'CREATE DATABASE "left"'
    assert create_database_sql("copy 1") == 'CREATE DATABASE "copy 1"'


def test_copy_texts():
    assert copy_out_sql("select 1;") == "COPY (select 1\n) TO STDOUT (FORMAT csv, HEADER)"
    assert copy_out_sql("select 1", delimiter=",") == (
        "COPY (select 1\n) TO STDOUT (FORMAT csv, HEADER, DELIMITER ',')"
    )
    assert copy_out_sql("select 1", delimiter="\t").endswith("DELIMITER E'\\t')")
    renamed = copy_out_sql("select a.id, b.id from a, b", ["id", "id"])
    assert 'AS pgask_cols("id", "id_2")' in renamed
    jsonl = copy_out_sql("select 1", fmt="jsonl")
    assert jsonl.startswith("COPY (SELECT row_to_json(pgask_row) FROM (select 1\n) AS pgask_row)")
    assert jsonl.endswith("TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')")
