"""Properties of actors.guard.classify(): it never crashes, and a change is never a read."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.guard import classify

CLASSES = {"read", "write", "ddl", "destructive", "forbidden", "invalid"}
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

READS = [
    "SELECT 1",
    "SELECT * FROM orders WHERE id = 1",
    "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id",
    "VALUES (1, 'a')",
    "TABLE regions",
    "SHOW work_mem",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders",
    "SELECT '--' AS a, '/*' AS b, $$ ; $$ AS c",
]

# Each changes data, schema, the server or the session: none may ever come out `read`.
CHANGES = [
    "INSERT INTO audit_log (action) VALUES ('x')",
    "UPDATE orders SET status = 'x' WHERE id = 1",
    "DELETE FROM orders WHERE id = 1",
    "DELETE FROM orders",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
    "SELECT * FROM orders FOR UPDATE",
    "SELECT nextval('s')",
    "SELECT my_function(1)",
    "CALL p()",
    "CREATE TABLE t (x int)",
    "CREATE INDEX i ON t (x)",
    "SELECT * INTO t2 FROM orders",
    "ALTER TABLE t DROP COLUMN x",
    "DROP TABLE orders",
    "TRUNCATE orders",
    "VACUUM FULL orders",
    "SELECT pg_terminate_backend(1)",
    "SELECT * FROM pg_read_file('/etc/passwd')",
    "COPY orders TO PROGRAM 'id'",
    "COPY orders FROM STDIN",
    "SET ROLE postgres",
    "RESET ALL",
    "COMMIT",
    "LOCK TABLE orders",
    "GRANT ALL ON orders TO public",
    "DO $$ BEGIN END $$",
    "NOTIFY ch",
    "EXECUTE plan1",
]

COMMENTS = ["", " ", "\n", "\t", "/* c */", "/* a /* nested */ b */", "-- line\n"]


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_never_crashes(text: str) -> None:
    assert classify(text).sql_class in CLASSES


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [
                "SELECT",
                "DROP",
                "(",
                ")",
                "'",
                '"',
                "$$",
                ";",
                "--",
                "/*",
                "*/",
                "\\",
                "E'",
                "U&",
                "1",
                "x",
                ",",
                "\n",
                " ",
                "WITH",
                "AS",
                "FROM",
                "pg_sleep",
                "\x00",
            ]
        ),
        max_size=40,
    )
)
def test_token_soup_never_crashes(tokens: list[str]) -> None:
    assert classify(" ".join(tokens)).sql_class in CLASSES


def _wrap(change: str, how: str) -> str:
    if how == "cte" and change.split()[0] in ("INSERT", "UPDATE", "DELETE", "MERGE"):
        return f"WITH w AS ({change}) SELECT 1"
    if how == "explain_analyze" and change.split()[0] in ("INSERT", "UPDATE", "DELETE", "SELECT"):
        return f"EXPLAIN ANALYZE {change}"
    if how == "explain_option" and change.split()[0] in ("INSERT", "UPDATE", "DELETE", "SELECT"):
        return f"EXPLAIN (ANALYZE on, FORMAT JSON) {change}"
    if how == "prepare" and change.split()[0] in ("INSERT", "UPDATE", "DELETE", "SELECT"):
        return f"PREPARE pp AS {change}; EXECUTE pp"
    return change


@SETTINGS
@given(
    before=st.lists(st.sampled_from(READS), max_size=3),
    change=st.sampled_from(CHANGES),
    after=st.lists(st.sampled_from(READS), max_size=3),
    how=st.sampled_from(["plain", "cte", "explain_analyze", "explain_option", "prepare"]),
    pads=st.lists(st.sampled_from(COMMENTS), min_size=8, max_size=8),
    trailing=st.booleans(),
)
def test_a_change_is_never_read(
    before: list[str], change: str, after: list[str], how: str, pads: list[str], trailing: bool
) -> None:
    statements = [*before, _wrap(change, how), *after]
    parts = []
    for i, stmt in enumerate(statements):
        parts.append(pads[i % len(pads)] + stmt + pads[(i + 3) % len(pads)])
    text = ";".join(parts) + (";" if trailing else "")
    got = classify(text)
    assert got.sql_class not in ("read", "invalid"), (text, got.reasons)


@SETTINGS
@given(st.sampled_from(CHANGES), st.sampled_from(["lower", "upper", "swap"]))
def test_keyword_case_does_not_matter(change: str, how: str) -> None:
    text = (
        change.lower()
        if how == "lower"
        else change.upper()
        if how == "upper"
        else change.swapcase()
    )
    got = classify(text)
    assert got.sql_class != "read", (text, got.reasons)
