"""Reading model replies: JSON (alone, fenced, in prose, truncated), fences, bare SQL, prose,
multi-CTE and multi-statement texts, MySQL-isms; and the prompt's memory section."""

from __future__ import annotations

import json

import pytest

from actors.planner.prompt import (
    build_messages,
    has_mysqlisms,
    looks_like_sql,
    parse_answer,
    render_memory,
    repair_mysqlisms,
    split_statements,
    statement_end,
    tool_specs,
)
from protocol.messages import Turn

MULTI_CTE = """WITH paid AS (
    SELECT customer_id, sum(total) AS spent FROM orders WHERE status = 'paid; really' GROUP BY 1
), ranked AS (
    SELECT customer_id, spent, rank() OVER (ORDER BY spent DESC) AS r FROM paid
), named AS (
    SELECT c.name, r.spent, r.r FROM ranked r JOIN customers c ON c.id = r.customer_id -- top; ones
)
SELECT * FROM named WHERE r <= 10 ORDER BY r"""


def test_json_object_alone() -> None:
    a = parse_answer(
        json.dumps(
            {
                "sql": "SELECT 1",
                "explanation": "one",
                "assumptions": ["x"],
                "intent": "read",
                "clarify": None,
            }
        )
    )
    assert (a.kind, a.sql, a.explanation, a.assumptions, a.intent) == (
        "sql",
        "SELECT 1",
        "one",
        ["x"],
        "read",
    )


def test_json_in_a_fence_and_in_prose() -> None:
    fenced = parse_answer('Here:\n```json\n{"sql": "SELECT 2", "explanation": "two"}\n```')
    assert fenced.sql == "SELECT 2" and fenced.explanation == "two"
    prose = parse_answer(
        'Sure! {"sql": "SELECT \'{not a brace}\' AS x", "explanation": "b"} Hope it helps.'
    )
    assert prose.sql == "SELECT '{not a brace}' AS x"


def test_json_sql_field_may_itself_be_fenced() -> None:
    assert parse_answer('{"sql": "```sql\\nSELECT 3\\n```"}').sql == "SELECT 3"


def test_truncated_json_still_yields_a_complete_sql_string() -> None:
    a = parse_answer('{"sql": "SELECT name FROM users WHERE id = 1", "explanation": "the na')
    assert a.kind == "sql" and a.sql == "SELECT name FROM users WHERE id = 1"
    broken = parse_answer('{"explanation": "I think you want", "sql": ')
    assert broken.kind == "prose" and "not valid JSON" in broken.problem


def test_clarify_object() -> None:
    a = parse_answer(
        '{"sql": null, "clarify": {"question": "Which year?", "options": ["2023", "2024"]}}'
    )
    assert (a.kind, a.clarify_question, a.clarify_options) == (
        "clarify",
        "Which year?",
        ["2023", "2024"],
    )
    assert (
        parse_answer('{"sql": "", "clarify": "Gross or net?"}').clarify_question == "Gross or net?"
    )


def test_fenced_multi_cte_is_extracted_whole() -> None:
    a = parse_answer(f"The query:\n\n```sql\n{MULTI_CTE};\n```\n\nIt ranks customers.")
    assert a.kind == "sql" and a.sql == MULTI_CTE
    assert a.explanation == "The query: It ranks customers."


def test_bare_multi_cte_in_prose_is_extracted_whole() -> None:
    a = parse_answer(f"Use this:\n{MULTI_CTE};\nThis returns the top ten.")
    assert a.sql == MULTI_CTE


def test_bare_sql_without_semicolon_stops_at_the_prose_paragraph() -> None:
    a = parse_answer(
        "The query is:\n\nSELECT a, b\nFROM t\nWHERE a > 1\n\nThis selects the big ones."
    )
    assert a.sql == "SELECT a, b\nFROM t\nWHERE a > 1"


def test_several_fences_use_the_first_sql_one_and_say_so() -> None:
    a = parse_answer(
        "Schema check:\n```\nnot sql at all, just notes\n```\n"
        "```sql\nSELECT count(*) FROM orders;\n```\nor per day:\n```sql\nSELECT 2;\n```"
    )
    assert a.sql == "SELECT count(*) FROM orders"
    assert a.assumptions == ["The model offered 2 queries; the first one is used."]


def test_untagged_and_postgres_tagged_fences() -> None:
    assert parse_answer("```\nSELECT 4\n```").sql == "SELECT 4"
    assert parse_answer("```postgresql\nSELECT 5\n```").sql == "SELECT 5"
    assert parse_answer("~~~sql\nSELECT 6\n~~~").sql == "SELECT 6"
    assert parse_answer("```sql\nSELECT 7 FROM t").sql == "SELECT 7 FROM t"  # unterminated fence


def test_reasoning_blocks_are_ignored() -> None:
    assert parse_answer("<think>maybe SELECT * FROM secrets</think>\nSELECT 8").sql == "SELECT 8"


@pytest.mark.parametrize(
    "text",
    [
        "I cannot answer that: there is no table about the weather.",
        "Select the customers table and filter it by country.",
        "With the data you have, I would need more information.",
        "Update: I need to know which year you mean.",
        "Show me which table has the revenue?",
        "",
        "   ",
    ],
)
def test_prose_is_never_sql(text: str) -> None:
    a = parse_answer(text)
    assert a.kind in ("prose", "empty") and a.sql == "" and a.problem


def test_a_json_sql_field_holding_prose_is_not_sql() -> None:
    a = parse_answer('{"sql": "Sorry, I cannot write this query.", "explanation": ""}')
    assert a.kind == "prose"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select now()",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "(SELECT 1) UNION (SELECT 2)",
        "INSERT INTO t (a) VALUES (1)",
        "UPDATE t SET a = 1 WHERE id = 2",
        "DELETE FROM t WHERE id = 1",
        "CREATE INDEX ON t (a)",
        "EXPLAIN SELECT * FROM t",
        "TABLE orders",
        "SELECT * FROM notes WHERE body = 'I think you should.'",
    ],
)
def test_statements_look_like_sql(sql: str) -> None:
    assert looks_like_sql(sql)


def test_scanner_respects_quotes_dollar_quotes_comments_and_brackets() -> None:
    text = (
        "SELECT 'a;b', \"we;ird\", $$x;y$$, $tag$ ; $tag$, E'it\\'s;' /* c; /* nested; */ */ FROM t; "
        "-- comment; here\nSELECT (1;2)"
    )
    parts = split_statements(text)
    assert len(parts) == 2
    assert parts[0].endswith("*/ FROM t") and parts[1].endswith("SELECT (1;2)")
    assert statement_end("SELECT 1; SELECT 2") == len("SELECT 1;")
    assert split_statements(MULTI_CTE + ";") == [MULTI_CTE]
    assert split_statements("-- only a comment\n;") == []


def test_several_statements_keep_the_first_and_drop_transaction_wrappers() -> None:
    a = parse_answer("```sql\nBEGIN;\nUPDATE t SET a = 1 WHERE id = 2;\nCOMMIT;\n```")
    assert a.sql == "UPDATE t SET a = 1 WHERE id = 2" and a.assumptions == []
    b = parse_answer("```sql\nSELECT 1; SELECT 2;\n```")
    assert b.sql == "SELECT 1" and b.assumptions == [
        "The model wrote 2 statements; only the first is used."
    ]


@pytest.mark.parametrize(
    ("mysql", "postgres"),
    [
        ("SELECT `name` FROM `users` LIMIT 5, 10", 'SELECT "name" FROM "users" LIMIT 10 OFFSET 5'),
        ("SELECT IFNULL(x, 0) FROM t", "SELECT COALESCE(x, 0) FROM t"),
        (
            "SELECT a FROM t WHERE d > NOW() - INTERVAL 7 DAY",
            "SELECT a FROM t WHERE d > NOW() - INTERVAL '7 DAY'",
        ),
    ],
)
def test_mysqlisms_are_repaired(mysql: str, postgres: str) -> None:
    assert has_mysqlisms(mysql)
    assert repair_mysqlisms(mysql) == (postgres, True)
    a = parse_answer(f"```sql\n{mysql}\n```")
    assert a.sql == postgres and "MySQL" in a.assumptions[0]


def test_postgres_sql_is_never_round_tripped() -> None:
    sql = "SELECT x::text, 'LIMIT 5, 10', \"CamelCase\" FROM t WHERE a ~* 'b' LIMIT 5 OFFSET 10"
    assert not has_mysqlisms(sql)
    assert repair_mysqlisms(sql) == (sql, False)
    assert parse_answer(sql).sql == sql


# -- the prompt ----------------------------------------------------------------------------------


def test_memory_is_bounded_and_summarises_older_turns() -> None:
    turns = [
        Turn(question=f"question {i}", sql=f"SELECT {i}", outcome=f"{i} rows") for i in range(20)
    ]
    text = render_memory(turns, ["fiscal years start in April"])
    assert text.startswith("Facts the person pinned")
    assert "- fiscal years start in April" in text
    assert "Q: question 19" in text and "SQL: SELECT 19" in text and "Result: 19 rows" in text
    assert "Q: question 13" not in text and "(14 more turns)" in text
    long = [Turn(question="q", sql="SELECT " + "x, " * 2000 + "1")]
    assert len(render_memory(long, [])) < 1000


def test_messages_carry_schema_mode_and_the_failed_attempt() -> None:
    messages = build_messages(
        question="totals per country",
        schema_text="orders(id int PK)",
        mode="read-only",
        server_version=180006,
        previous_sql="SELECT totl FROM orders",
        feedback='column "totl" does not exist',
    )
    system, user = messages[0]["content"], messages[1]["content"]
    assert "PostgreSQL 18" in system and "read-only" in system and "orders(id int PK)" in system
    assert user.startswith("totals per country") and 'column "totl" does not exist' in user
    assert "SELECT totl FROM orders" in user


def test_sample_values_tool_only_when_allowed() -> None:
    assert [t["function"]["name"] for t in tool_specs(samples=False)] == [
        "list_tables",
        "describe_table",
        "answer",
    ]
    assert "sample_values" in [t["function"]["name"] for t in tool_specs(samples=True)]
