"""actors/guard/: the corpus, confirmations, signatures, errors and `pgask check-sql`."""

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
    assert rows[0]["sql_class"] == "read" and rows[0]["confirm"] == "run"
    assert "class" not in rows[0] and "signature" not in rows[0]  # the keys of --json
    _, one = _run(["--json", "--mode", "read-write", "SELECT 1"])
    assert set(rows[0]) == set(json.loads(one)) | {"id"}  # the keys of --json, plus the id
    assert "error" in rows[1] and "not JSON" in rows[1]["error"]
    assert "error" in rows[2] and "sql" in rows[2]["error"]
    assert rows[3]["sql_class"] == "destructive" and rows[3]["confirm"] == "typed"
    assert rows[3]["tables"] == ["orders"]
    assert rows[4]["sql_class"] == "invalid" and rows[4]["confirm"] == "refuse"


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


# -- rules beyond the text: function bodies, sensitive catalogs, SQL/JSON by server version ---


@pytest.mark.parametrize(
    ("sql", "sql_class", "needle"),
    [
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
            "PERFORM pg_read_file('/etc/passwd'); RETURN 1; END $$",
            "forbidden",
            "the body of f: pg_read_file",
        ),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
            "EXECUTE 'DROP TABLE ' || 'x'; RETURN 1; END $$",
            "destructive",
            "dynamic SQL",
        ),
        (
            "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ DECLARE r record; BEGIN "
            "FOR r IN EXECUTE 'SELECT 1' LOOP NULL; END LOOP; END $$",
            "destructive",
            "dynamic SQL",
        ),
        (
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS "
            "$$ COPY (SELECT 1) TO PROGRAM 'id' $$",
            "forbidden",
            "PROGRAM",
        ),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC; "
            "SELECT pg_terminate_backend(1); END",
            "forbidden",
            "pg_terminate_backend",
        ),
        (
            "CREATE FUNCTION f(a int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO t VALUES (a); RETURN a + 1; END $$",
            "ddl",
            "creates f in plpgsql",
        ),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'lib', 'f'", "forbidden", "language c"),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$",
            "forbidden",
            "allow_untrusted_languages",
        ),
    ],
)
def test_function_bodies_are_judged_when_created(sql: str, sql_class: str, needle: str) -> None:
    c = classify(sql)
    assert c.sql_class == sql_class, c.reasons
    assert any(needle in r for r in c.reasons), c.reasons
    if sql_class == "destructive":
        assert c.confirm_name in ("f", "p")  # the typed confirmation names the function


def test_untrusted_languages_only_when_the_config_allows_them() -> None:
    from actors.guard import Rules

    sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$"
    c = classify(sql, Rules(allow_untrusted_languages=True))
    assert c.sql_class == "destructive" and c.confirm_name == "f"


@pytest.mark.parametrize(
    "rel",
    [
        "pg_authid",
        "pg_shadow",
        "pg_catalog.pg_shadow",
        "pg_hba_file_rules",
        "pg_file_settings",
        "pg_ident_file_mappings",
        "pg_user_mappings",
    ],
)
def test_sensitive_catalogs_are_refused_unless_allowed(rel: str) -> None:
    from actors.guard import Rules

    c = classify(f"SELECT * FROM {rel}")
    assert c.sql_class == "forbidden" and "allow_sensitive_catalogs" in c.reasons[0]
    assert classify(f"SELECT * FROM {rel}", Rules(allow_sensitive_catalogs=True)).sql_class == (
        "read"
    )
    assert classify(f"SELECT * FROM myschema.{rel.split('.')[-1]}").sql_class == "read"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM json_to_record('{\"a\": 1}') AS x(a int)",
        "SELECT * FROM jsonb_to_recordset('[{\"a\": 1}]') AS x(a int, b text)",
        "SELECT pg_table_is_visible(c.oid) FROM pg_class c",
        "SELECT pg_function_is_visible(p.oid) FROM pg_proc p",
        "SELECT pg_type_is_visible(t.oid) FROM pg_type t",
        "SELECT pg_relation_is_publishable(c.oid) FROM pg_class c",
        "SELECT pg_sleep(0.1)",
        "SELECT pg_sleep_for('1 second')",
    ],
)
def test_former_false_positives_are_reads(sql: str) -> None:
    c = classify(sql)
    assert c.sql_class == "read", c.reasons


def test_sql_json_is_judged_as_the_server_reads_it() -> None:
    from actors.guard import Rules

    for sql, name in [
        ("SELECT json_exists('{\"a\": 1}', '$.a')", "json_exists"),
        ("SELECT json_value('{\"a\": 1}', '$.a')", "json_value"),
        ("SELECT json_serialize('{\"a\": 1}')", "json_serialize"),
        ("SELECT json_array(1, 2)", "json_array"),
    ]:
        assert classify(sql, Rules(server_version=180000)).sql_class == "read"
        on15 = classify(sql, Rules(server_version=150018))
        assert on15.sql_class == "write" and f"function named {name}" in on15.reasons[0]
    # JSON_ARRAY is SQL/JSON from 16 on, JSON_EXISTS only from 17
    assert classify("SELECT json_array(1, 2)", Rules(server_version=160000)).sql_class == "read"
    assert (
        classify("SELECT json_exists('{}', '$.a')", Rules(server_version=160000)).sql_class
        == "write"
    )


def _fn(name: str, **kw: Any) -> Any:
    from protocol.messages import Invoked

    return Invoked(kind="function", what=f"function public.{name}()", name=name, **kw)


def test_what_a_read_reaches_is_judged_like_the_text() -> None:
    from actors.guard import TEXT_ONLY
    from actors.guard.catalog import judge_invoked
    from protocol.messages import Invoked

    assert judge_invoked(_fn("similarity", extension="pg_trgm"), TEXT_ONLY) == []
    assert judge_invoked(_fn("int4out", builtin=True), TEXT_ONLY) == []  # type I/O
    ((rank, why),) = judge_invoked(_fn("pg_terminate_backend", builtin=True), TEXT_ONLY)
    assert rank == 4 and "kills another session" in why  # an operator over a built-in
    ((rank, why),) = judge_invoked(_fn("dblink", extension="dblink"), TEXT_ONLY)
    assert rank == 4 and "extension dblink" in why
    ((rank, why),) = judge_invoked(
        _fn("adv", detail="plpgsql, security definer", via="view public.v"), TEXT_ONLY
    )
    assert rank == 1 and why.startswith("view public.v calls public.adv()")
    assert "SECURITY DEFINER" in why
    view = Invoked(
        kind="relation",
        what="view public.v",
        name="v",
        detail="v",
        definition=" SELECT pg_read_file('/etc/passwd') AS x",
    )
    ((rank, why),) = judge_invoked(view, TEXT_ONLY)
    assert rank == 4 and why.startswith("view public.v: pg_read_file")
    policy = Invoked(
        kind="policy",
        what="policy p on table public.t",
        via="table public.t",
        definition="(pg_advisory_lock(1) IS NOT NULL)",
    )
    ((rank, why),) = judge_invoked(policy, TEXT_ONLY)
    assert rank == 4 and "policy p" in why
    shadow = Invoked(
        kind="relation",
        what="view pg_catalog.pg_shadow",
        name="pg_shadow",
        builtin=True,
        via="view public.creds",
    )
    ((rank, why),) = judge_invoked(shadow, TEXT_ONLY)
    assert rank == 4 and "password hashes" in why


def test_the_closure_refuses_reads_by_name_and_implicit_casts_refuse_all() -> None:
    from actors.guard import TEXT_ONLY, classify
    from actors.guard.catalog import against_catalog, plan_resolution
    from protocol.messages import Invoked, Resolution

    sql = "SELECT x.fn FROM items x"  # attribute notation: a column to the text
    c = classify(sql)
    plan = plan_resolution(c)
    assert c.sql_class == "read" and plan is not None and plan.probes
    res = Resolution(
        method="closure",
        fingerprint="f",
        server_version=150000,
        unsafe={"fn": [_fn("fn")]},
        why_closure="no TEMP",
    )
    judged = against_catalog(c, plan, res, TEXT_ONLY)
    assert judged.sql_class == "write" and "it names fn" in judged.reasons[0]
    other = classify("SELECT id FROM items")
    plan = plan_resolution(other)
    assert plan is not None
    assert against_catalog(other, plan, res, TEXT_ONLY).sql_class == "read"
    cast = Invoked(
        kind="cast",
        what="cast from integer to text",
        schema="public",
        name="int_to_text",
        detail="implicit",
    )
    res = Resolution(
        method="closure",
        fingerprint="f",
        server_version=150000,
        implicit_casts=[cast],
        why_closure="no TEMP",
    )
    judged = against_catalog(other, plan, res, TEXT_ONLY)
    assert judged.sql_class == "write" and "implicit cast" in judged.reasons[0]


def test_a_read_too_deep_to_list_its_names_is_not_judged_blind() -> None:
    from actors.guard import TEXT_ONLY, classify
    from actors.guard.catalog import against_catalog, plan_resolution
    from protocol.messages import Resolution

    deep = classify("SELECT " + " + ".join(["1"] * 6000))
    plan = plan_resolution(deep)
    assert deep.sql_class == "read" and plan is not None and not plan.probes
    res = Resolution(method="analyzer", fingerprint="f", server_version=180000)
    judged = against_catalog(deep, plan, res, TEXT_ONLY)
    assert judged.sql_class == "write" and "could not list the names" in judged.reasons[0]
