"""actors/guard.py: the corpus, confirmations, signatures, errors and `pgask check-sql`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from actors.guard import (
    Classification,
    check_sql_main,
    classify,
    confirmation_for,
    judge,
    on_guard_check,
)
from protocol.messages import GuardRequest
from protocol.signing import check

CASES_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "guard_cases.jsonl"
KEY = b"k" * 32


def _load_cases() -> list[Any]:
    params = []
    for number, line in enumerate(CASES_PATH.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        case = json.loads(line)
        params.append(pytest.param(case, id=f"line{number}-{case['class']}"))
    return params


CASES = _load_cases()


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: dict[str, Any]) -> None:
    got = classify(case["sql"])
    assert got.sql_class == case["class"], (
        f"{case['sql']!r} ({case['note']}): expected {case['class']}, got {got.sql_class}: "
        f"{got.reasons}"
    )
    if got.sql_class == "invalid":
        assert got.error is not None and got.statements == []
    else:
        assert got.error is None
        assert got.statements, "a valid text has at least one statement"
        assert all(s.reasons for s in got.statements)
        worst = max(
            ("read", "write", "ddl", "destructive", "forbidden").index(s.sql_class)
            for s in got.statements
        )
        assert ("read", "write", "ddl", "destructive", "forbidden")[worst] == got.sql_class


def test_corpus_is_big_enough() -> None:
    classes = [c.values[0]["class"] for c in CASES]
    assert len(classes) >= 300
    assert classes.count("read") >= 120
    for cls in ("write", "ddl", "destructive", "forbidden", "invalid"):
        assert classes.count(cls) >= 20, cls


# -- what a verdict says -------------------------------------------------------------------------


def test_statement_details() -> None:
    c = classify(
        'SELECT 1;\nDELETE FROM public.orders;  SELECT pg_catalog.lower(name) FROM "Weird"'
    )
    assert c.sql_class == "destructive"
    assert [s.kind for s in c.statements] == ["SELECT", "DELETE", "SELECT"]
    assert [s.text for s in c.statements] == [
        "SELECT 1",
        "DELETE FROM public.orders",
        'SELECT pg_catalog.lower(name) FROM "Weird"',
    ]
    delete = c.statements[1]
    assert delete.tables == ["public.orders"]
    assert delete.reasons == ["DELETE without a WHERE clause removes every row of public.orders"]
    assert c.statements[2].functions == ["lower"]
    assert c.statements[2].tables == ["Weird"]
    assert c.confirm_name == "public.orders"
    assert c.tables == ["public.orders", "Weird"]


def test_forbidden_reason_names_what_the_function_does() -> None:
    c = classify("SELECT * FROM pg_read_file('/etc/passwd')")
    assert c.sql_class == "forbidden"
    assert "pg_read_file reads files on the database server" in c.reasons
    assert c.statements[0].functions == ["pg_read_file"]


def test_cte_names_are_not_tables() -> None:
    c = classify(
        "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent JOIN s.recent r ON true"
    )
    assert c.tables == ["orders", "s.recent"]


def test_kinds_in_plain_words() -> None:
    kinds = {
        "CREATE INDEX i ON t (x)": "CREATE INDEX",
        "EXPLAIN ANALYZE SELECT 1": "EXPLAIN ANALYZE",
        "EXPLAIN SELECT 1": "EXPLAIN",
        "DROP TABLE t": "DROP TABLE",
        "DROP MATERIALIZED VIEW m": "DROP MATERIALIZED VIEW",
        "VALUES (1)": "VALUES",
        "TABLE t": "TABLE",
        "SHOW work_mem": "SHOW",
        "SET LOCAL work_mem = '1MB'": "SET LOCAL",
        "ALTER TABLE t ADD COLUMN x int": "ALTER TABLE",
        "SELECT 1 INTO x": "SELECT INTO",
        "VACUUM FULL t": "VACUUM FULL",
        "COMMIT": "COMMIT",
    }
    for sql, kind in kinds.items():
        assert classify(sql).statements[0].kind == kind, sql


def test_normalized_replaces_literals() -> None:
    c = classify("SELECT * FROM customers WHERE email = 'x@y.z' AND id > 5")
    assert c.normalized == "SELECT * FROM customers WHERE email = $1 AND id > $2"


def test_destructive_confirm_name_for_drop_and_truncate() -> None:
    assert classify("DROP SCHEMA reporting CASCADE").confirm_name == "reporting"
    assert classify("TRUNCATE a, b").confirm_name == "a"
    assert classify("ALTER TABLE s.t DROP COLUMN x").confirm_name == "s.t"


# -- errors --------------------------------------------------------------------------------------


def test_sql_error_line_column_and_snippet() -> None:
    sql = "SELECT id,\n       name\n  FORM customers\n WHERE id = 1"
    c = classify(sql)
    assert c.sql_class == "invalid"
    err = c.error
    assert err is not None
    # `name FORM` reads as a column alias, so PostgreSQL stumbles on `customers`
    assert err.line == 3 and err.column == 8
    assert err.snippet == "  FORM customers\n       ^"
    assert 'syntax error at or near "customers"' in err.message
    assert "(line 3, column 8)" in c.reasons[0]


def test_sql_error_column_counts_characters_not_bytes() -> None:
    err = classify("SELECT 'é', 'ü' FRM t").error
    assert err is not None and err.line == 1
    assert err.snippet.splitlines()[1].index("^") == err.column - 1 == len("SELECT 'é', 'ü' FRM ")


def test_empty_and_nul() -> None:
    assert classify("").error is not None
    nul = classify("SELECT 1\x00; DROP TABLE orders")
    assert nul.sql_class == "invalid" and nul.error is not None
    assert "NUL" in nul.error.message and nul.error.column == 9


def test_meta_command_and_fence_hints() -> None:
    assert "psql meta-command" in classify("\\copy t to 'x'").reasons[0]
    assert "markdown" in classify("```sql\nSELECT 1\n```").reasons[0]


def test_never_raises_on_odd_input() -> None:
    for sql in [
        "\udcff",
        "SELECT 1 " + "+ 1 " * 3000,
        "(" * 50000,
        "SELECT '" + "x" * 100000 + "'",
    ]:
        assert isinstance(classify(sql), Classification)


# -- confirmations and signatures ----------------------------------------------------------------

EXPECTED = {
    ("read-only", "read"): "run",
    ("read-only", "write"): "refuse",
    ("read-only", "ddl"): "refuse",
    ("read-only", "destructive"): "refuse",
    ("read-only", "forbidden"): "refuse",
    ("read-only", "invalid"): "refuse",
    ("read-write", "read"): "run",
    ("read-write", "write"): "confirm",
    ("read-write", "ddl"): "confirm",
    ("read-write", "destructive"): "typed",
    ("read-write", "forbidden"): "refuse",
    ("read-write", "invalid"): "refuse",
}


@pytest.mark.parametrize(("mode", "sql_class"), sorted(EXPECTED))
def test_confirmation_for(mode: Any, sql_class: Any) -> None:
    assert confirmation_for(sql_class, mode) == EXPECTED[(mode, sql_class)]
    previewed = confirmation_for(sql_class, mode, preview=True)
    assert previewed == ("preview" if sql_class == "read" else EXPECTED[(mode, sql_class)])


def test_unknown_mode_fails_closed() -> None:
    assert confirmation_for("write", "admin") == "refuse"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "mode", "confirm"),
    [
        ("SELECT 1", "read-only", "run"),
        ("INSERT INTO t VALUES (1)", "read-write", "confirm"),
        ("CREATE INDEX i ON t (x)", "read-write", "confirm"),
        ("DELETE FROM orders", "read-write", "typed"),
    ],
)
def test_signature_verifies(sql: str, mode: Any, confirm: str) -> None:
    v = judge(sql, profile="analytics", mode=mode, preview=False, key=KEY)
    assert v.confirm == confirm
    assert v.signature is not None
    assert v.signature.sql_class == v.sql_class and v.signature.mode == mode
    assert check(KEY, sql, v.signature, "analytics") is None
    assert check(KEY, sql + " ", v.signature, "analytics") is not None
    assert check(b"other" * 8, sql, v.signature, "analytics") is not None
    assert check(KEY, sql, v.signature, "prod") is not None


def test_typed_verdict_names_the_object() -> None:
    v = judge("DELETE FROM public.orders", profile="p", mode="read-write", key=KEY)
    assert v.confirm == "typed" and v.confirm_name == "public.orders"


@pytest.mark.parametrize(
    ("sql", "mode"),
    [
        ("DELETE FROM t WHERE id = 1", "read-only"),
        ("SELECT pg_terminate_backend(1)", "read-write"),
        ("SELEC", "read-write"),
    ],
)
def test_refusals_carry_no_signature(sql: str, mode: Any) -> None:
    v = judge(sql, profile="p", mode=mode, key=KEY)
    assert v.confirm == "refuse" and v.signature is None


def test_on_guard_check() -> None:
    v = on_guard_check(GuardRequest(sql="SELECT 1", profile="p", preview=True), key=KEY)
    assert v.sql_class == "read" and v.confirm == "preview" and v.signature is not None


# -- pgask check-sql -----------------------------------------------------------------------------


def _run(argv: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    rc = check_sql_main(argv, io.StringIO(stdin), out)
    return rc, out.getvalue()


def test_cli_human_output() -> None:
    rc, out = _run(["DELETE FROM orders", "--mode", "read-write"])
    assert rc == 0
    assert out.splitlines()[0] == "destructive: you must type 'orders' to run it (mode read-write)"
    assert "DELETE without a WHERE clause removes every row of orders" in out
    assert "tables: orders" in out


def test_cli_reads_stdin() -> None:
    rc, out = _run([], "SELECT 1")
    assert rc == 0 and out.startswith("read: runs")


def test_cli_invalid_shows_snippet() -> None:
    rc, out = _run(["SELECT *\nFORM t"])
    assert rc == 0
    assert "invalid: refused" in out and "FORM t" in out and "^" in out


def test_cli_json() -> None:
    rc, out = _run(["SELECT * FROM orders; DROP TABLE orders", "--json", "--mode", "read-write"])
    assert rc == 0
    data = json.loads(out)
    assert data["sql_class"] == "destructive"
    assert data["confirm"] == "typed"
    assert data["confirm_name"] == "orders"
    assert [s["kind"] for s in data["statements"]] == ["SELECT", "DROP TABLE"]
    assert "signature" not in data


def test_cli_batch_keeps_order_and_survives_bad_lines() -> None:
    lines = [
        json.dumps({"id": "a", "sql": "SELECT 1"}),
        "this is not json",
        json.dumps({"id": "c"}),
        "",
        json.dumps({"id": 7, "sql": "TRUNCATE orders"}),
        json.dumps({"sql": "SELEC 1"}),
    ]
    rc, out = _run(["--batch", "--mode", "read-write"], "\n".join(lines) + "\n")
    assert rc == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["a", 2, "c", 7, 6]
    assert rows[0]["class"] == "read" and rows[0]["confirm"] == "run"
    assert set(rows[0]) == {"id", "class", "confirm", "reasons", "tables", "statements"}
    assert "error" in rows[1] and "not JSON" in rows[1]["error"]
    assert "error" in rows[2] and "sql" in rows[2]["error"]
    assert rows[3]["class"] == "destructive" and rows[3]["confirm"] == "typed"
    assert rows[3]["tables"] == ["orders"]
    assert rows[4]["class"] == "invalid" and rows[4]["confirm"] == "refuse"


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "admin", "SELECT 1"],
        ["--json", "--batch"],
        ["--nope"],
        ["SELECT 1", "--batch"],
        ["a", "b"],
    ],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(argv)
    assert rc == 2 and out == ""
    assert "pgask check-sql: error:" in capsys.readouterr().err


def test_verdict_ttl_comes_from_the_config() -> None:
    import time

    from actors.guard import on_guard_check
    from protocol.messages import GuardRequest

    before = time.time()
    verdict = on_guard_check(GuardRequest(sql="SELECT 1", profile="p"), key=b"k" * 32, ttl_s=2.0)
    assert verdict.signature is not None
    assert before + 1.9 <= verdict.signature.expires_at <= time.time() + 2.1


def test_the_grammar_version_the_doctor_reports_is_pglasts() -> None:
    from pglast.parser import get_postgresql_version

    from protocol.messages import GUARD_GRAMMAR_MAJOR

    assert get_postgresql_version()[0] == GUARD_GRAMMAR_MAJOR
