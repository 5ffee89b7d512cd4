"""The executor against a real PostgreSQL: exact types, verdict checks, read-only holds,
real cancel, reconnect after a server restart, and actionable connection errors."""

from __future__ import annotations

import csv
import io
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterator

import pytest
import trio

from protocol import signing
from protocol.config import Config, ProfileConfig
from protocol.messages import (
    Catalog,
    CatalogRequest,
    ExplainPlan,
    ExplainRequest,
    Failure,
    GuardRequest,
    QueryCancel,
    QueryCancelled,
    QueryColumns,
    QueryDone,
    QueryRequest,
    QueryRows,
    ResolveRequest,
    Verdict,
)
from testkit.pg import _on_asyncio, afetch, afetchval, arun_sql, database_of
from testkit.tree import config_for, open_tree, sign_read
from ui.format import cell_text

pytestmark = pytest.mark.pg


async def run(
    client,
    sup,
    sql: str,
    *,
    sql_class: str = "read",
    mode: str = "read-only",
    confirmed: bool = False,
    key: bytes | None = None,
    profile: str = "p",
    max_rows: int = 10_000,
):
    """Sign like the guard would (tests stand in for a guard that is right or wrong on purpose)."""
    catalog = ""
    if sql_class == "read":  # the guard judges reads against the database: it may be down
        reply = await client.request(f"executor:{profile}", ResolveRequest())
        if isinstance(reply, Failure):
            return [], [], reply
        catalog = reply.fingerprint
    sig = signing.sign(key or sup.key, sql, sql_class, profile, mode, catalog=catalog)  # type: ignore[arg-type]
    columns, rows, end = [], [], None
    request = QueryRequest(sql=sql, verdict=sig, confirmed=confirmed, max_rows=max_rows)
    async for _h, body in client.stream(f"executor:{profile}", request):
        if isinstance(body, QueryColumns):
            columns = body.columns
        elif isinstance(body, QueryRows):
            rows.extend(body.rows)
        else:
            end = body
    return columns, rows, end


async def server_text(dsn: str, sql: str) -> list[list[str | None]]:
    """Every cell as PostgreSQL's own output function prints it (COPY CSV, NULL distinct)."""
    import asyncpg

    async def copy() -> bytes:
        con = await asyncpg.connect(dsn)
        try:
            out = io.BytesIO()
            await con.copy_from_query(sql, output=out, format="csv", null="\\N")
            return out.getvalue()
        finally:
            await con.close()

    data = await _on_asyncio(copy)
    rows = csv.reader(io.StringIO(data.decode()))
    return [[None if cell == "\\N" else cell for cell in row] for row in rows]


TYPE_ZOO = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE zoo (
  i2 int2, i4 int4, i8 int8, n numeric, n2 numeric(12,2), f4 float4, f8 float8,
  t text, vc varchar(10), ch char(5), nm name, b bool,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  u uuid, j json, jb jsonb, by bytea, ip inet, cidr_ cidr, mac macaddr, mo money, bt bit(4), vb varbit,
  e mood, ai int[], an numeric[][], at text[], r int4range, dr daterange, p pair, dom posint
);
INSERT INTO zoo VALUES
 (-32768, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789012345678901,
  -0.50, 3.25, 0.1, 'it''s "quoted" \\ back', 'abc', 'ab', 'nm', true,
  '2024-02-29', '23:59:59.999999', '12:00:00+05:30', '2024-03-31 01:30:15.123456', '2024-03-31 01:30:15.5+02',
  '1 year 2 mons -3 days 04:05:06.789', '12345678-1234-5678-1234-567812345678',
  '{"n": 1.00000000000000000001, "s": "a\\\\b"}', '{"b": [1, 2.50], "a": null}', '\\x00ff10', '192.168.0.1/24',
  '10.0.0.0/8', '08:00:2b:01:02:03', 12.34, B'1010', B'10', 'happy', '{1,NULL,3}', '{{1.5,NULL},{2,3}}',
  '{"a b","c,d",NULL,""}', '[1,10)', '[2024-01-01,2024-02-01)', ROW(1, 'x'), 7),
 (NULL, NULL, NULL, 'NaN', NULL, 'Infinity', '-Infinity', '', NULL, NULL, NULL, false,
  'infinity', NULL, NULL, '-infinity', 'infinity', '0', NULL, 'null', '[]', '', NULL, NULL, NULL, NULL, NULL, NULL,
  'sad', '{}', NULL, '{}', 'empty', NULL, NULL, NULL);
"""


async def test_type_zoo_round_trips_exactly(tmp_path, pg_db):
    await arun_sql(pg_db, TYPE_ZOO)
    server = await afetch(pg_db, "SELECT * FROM zoo")  # raw asyncpg for the column list
    names = list(server[0].keys())
    texts = await server_text(pg_db, "SELECT * FROM zoo")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        columns, rows, done = await run(client, sup, "SELECT * FROM zoo")
    assert isinstance(done, QueryDone) and done.rows == 2 and done.command == "SELECT 2"
    assert [c.name for c in columns] == names
    for row, text_row in zip(rows, texts, strict=True):
        for name, value, text in zip(names, row, text_row, strict=True):
            if name == "p" and value is not None:  # a record arrives as its fields
                assert value == [1, "x"] and text == "(1,x)"
                continue
            if (
                name == "f4"
                and isinstance(value, float)
                and text not in ("Infinity", "-Infinity", "NaN")
            ):
                assert struct.pack("f", value) == struct.pack("f", float(text))
                continue
            shown = None if value is None else cell_text(value)
            assert shown == text, f"column {name}: pgask shows {shown!r}, the server says {text!r}"


async def test_forged_or_mismatched_verdicts_are_refused(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        _c, _r, end = await run(client, sup, "SELECT x FROM t", key=b"k" * 32)
        assert isinstance(end, Failure) and end.code == "executor.bad_verdict"
        assert "not issued by this run" in end.why
        sig = signing.sign(sup.key, "SELECT 1", "read", "p", "read-only")
        reply = await client.request("executor:p", QueryRequest(sql="SELECT x FROM t", verdict=sig))
        assert isinstance(reply, Failure) and "different SQL text" in reply.why
        sig = signing.sign(sup.key, "SELECT x FROM t", "read", "q", "read-only")
        reply = await client.request("executor:p", QueryRequest(sql="SELECT x FROM t", verdict=sig))
        assert isinstance(reply, Failure) and "profile 'q'" in reply.why
        _c, _r, end = await run(
            client, sup, "DELETE FROM t WHERE x = 1", sql_class="write", confirmed=True
        )
        assert isinstance(end, Failure) and "cannot run in read-only mode" in end.why
        _c, _r, end = await run(
            client, sup, "DELETE FROM t WHERE x = 1", sql_class="write", mode="read-write"
        )
        assert isinstance(end, Failure) and "needs the person's confirmation" in end.why
        _c, _r, end = await run(
            client, sup, "DROP TABLE t", sql_class="forbidden", mode="read-write", confirmed=True
        )
        assert isinstance(end, Failure) and "never run" in end.why
    assert await afetchval(pg_db, "SELECT count(*) FROM t") == 1


async def test_a_profile_configured_read_only_never_writes(tmp_path, pg_db):
    """read_write = false holds at the guard (whatever mode is asked) and at the executor
    (whatever a requester holds), while reads go on."""
    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    async with open_tree(tmp_path, config=config_for(pg_db, read_write=False)) as (sup, client):
        verdict = await client.request(
            "guard", GuardRequest(sql="DELETE FROM t WHERE x = 1", profile="p", mode="read-write")
        )
        assert isinstance(verdict, Verdict) and verdict.confirm == "refuse"
        assert verdict.signature is None
        assert "profile 'p' does not allow writes (read_write = false" in verdict.reasons[0]
        read = await client.request(
            "guard", GuardRequest(sql="SELECT x FROM t", profile="p", mode="read-write")
        )
        assert isinstance(read, Verdict) and read.confirm == "run" and read.signature is not None
        _c, rows, end = await run(
            client,
            sup,
            "DELETE FROM t WHERE x = 1",
            sql_class="write",
            mode="read-write",
            confirmed=True,
        )
        assert isinstance(end, Failure) and end.code == "executor.bad_verdict"
        assert "profile 'p' does not allow writes" in end.why
        _c, rows, end = await run(client, sup, "SELECT x FROM t")
        assert isinstance(end, QueryDone) and rows == [[1]]
    assert await afetchval(pg_db, "SELECT count(*) FROM t") == 1


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("DELETE FROM t", "db.read_only_sql_transaction"),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d",
            "db.read_only_sql_transaction",
        ),
        ("SET TRANSACTION READ WRITE", "db.active_sql_transaction"),
        ("COMMIT; DROP TABLE t", "db.several_statements"),  # Parse refuses a second statement
        ("SELECT nextval('s')", "db.read_only_sql_transaction"),
    ],
)
async def test_a_wrong_read_verdict_still_cannot_write(tmp_path, pg_db, sql, code):
    """Defence in depth: even if the guard said `read`, the server refuses the write."""
    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1); CREATE SEQUENCE s")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        _c, _r, end = await run(client, sup, sql)
    assert isinstance(end, Failure), end
    assert end.code.startswith(code), end
    assert await afetchval(pg_db, "SELECT count(*) FROM t") == 1
    assert await afetchval(pg_db, "SELECT last_value FROM s") == 1
    assert await afetchval(pg_db, "SELECT is_called FROM s") is False


async def test_confirmed_write_commits_and_ddl_outside_a_transaction(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (x int)")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        _c, _r, end = await run(
            client,
            sup,
            "INSERT INTO t SELECT generate_series(1, 5)",
            sql_class="write",
            mode="read-write",
            confirmed=True,
        )
        assert isinstance(end, QueryDone) and end.command == "INSERT 0 5"
        _c, _r, end = await run(
            client,
            sup,
            "CREATE INDEX CONCURRENTLY t_x ON t (x)",
            sql_class="ddl",
            mode="read-write",
            confirmed=True,
        )
        assert isinstance(end, QueryDone), end
        _c, _r, end = await run(
            client,
            sup,
            "INSERT INTO t VALUES (1/0)",
            sql_class="write",
            mode="read-write",
            confirmed=True,
        )
        assert isinstance(end, Failure) and end.code == "db.division_by_zero"
    assert await afetchval(pg_db, "SELECT count(*) FROM t") == 5
    assert (
        await afetchval(pg_db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass")
        is True
    )


async def test_row_cap_truncates_and_batches_are_bounded(tmp_path, pg_db):
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        batches: list[int] = []
        sig = await sign_read(
            sup, client, "SELECT g, repeat('x', 200) FROM generate_series(1, 30000) g"
        )
        request = QueryRequest(
            sql="SELECT g, repeat('x', 200) FROM generate_series(1, 30000) g",
            verdict=sig,
            max_rows=25_000,
        )
        done = None
        async for _h, body in client.stream("executor:p", request):
            if isinstance(body, QueryRows):
                batches.append(len(body.rows))
            elif isinstance(body, QueryDone):
                done = body
    assert done is not None and done.truncated and done.rows == 25_000 == sum(batches)
    assert batches[0] <= 100  # the first page comes fast
    assert max(batches) * 210 < 600 * 1024  # ~256 KiB batches, never the whole result


async def test_cancel_stops_the_backend(tmp_path, pg_db):
    sql = "SELECT count(*) FROM generate_series(1, 1e10)"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        sig = await sign_read(sup, client, sql)
        outcome: list[object] = []
        request_id: list[str] = []

        async def long_query() -> None:
            async for header, body in client.stream(
                "executor:p", QueryRequest(sql=sql, verdict=sig)
            ):
                request_id[:] = [header.reply_to]
                outcome.append(body)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_query)
            with trio.fail_after(20):
                while not await afetch(
                    pg_db,
                    "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query = $1",
                    sql,
                ):
                    await trio.sleep(0.02)
            target = next(iter(sup.children["executor:p"].inflight))
            reply = await client.request("executor:p", QueryCancel(target=target))
            assert isinstance(reply, QueryCancelled) and reply.target == target
        assert isinstance(outcome[-1], QueryCancelled)
        with trio.fail_after(10):
            while await afetch(
                pg_db, "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query = $1", sql
            ):
                await trio.sleep(0.02)
        _c, rows, end = await run(client, sup, "SELECT 42")
        assert isinstance(end, QueryDone) and rows == [[42]]


async def test_server_restart_mid_session(tmp_path, pg_restartable):
    async with open_tree(tmp_path, config=config_for(pg_restartable.dsn)) as (sup, client):
        _c, rows, _e = await run(client, sup, "SELECT 1")
        assert rows == [[1]]
        await trio.to_thread.run_sync(pg_restartable.stop)
        _c, _r, end = await run(client, sup, "SELECT 2")
        assert isinstance(end, Failure) and end.code in (
            "db.connection_lost",
            "db.connection_refused",
        )
        assert "profile 'p'" in end.message and end.hint
        await trio.to_thread.run_sync(pg_restartable.start)
        with trio.fail_after(20):
            while True:  # the next query after the server is back works (reconnect with backoff)
                _c, rows, end = await run(client, sup, "SELECT 3")
                if isinstance(end, QueryDone):
                    break
                assert end.code in ("db.connection_lost", "db.connection_refused"), end
        assert rows == [[3]]


async def test_catalog_and_explain(tmp_path, pg_db):
    await arun_sql(
        pg_db,
        """CREATE TYPE status AS ENUM ('new', 'paid');
        CREATE SCHEMA sales;
        CREATE TABLE sales.customers (id int PRIMARY KEY, email text UNIQUE);
        COMMENT ON TABLE sales.customers IS 'people who buy';
        CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES sales.customers(id),
                                   status status NOT NULL DEFAULT 'new', total numeric(10,2));
        COMMENT ON COLUMN sales.orders.total IS 'order total in EUR';
        CREATE INDEX orders_customer ON sales.orders (customer_id);
        CREATE VIEW sales.big AS SELECT * FROM sales.orders WHERE total > 100;""",
    )
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        cat = await client.request("executor:p", CatalogRequest())
        assert isinstance(cat, Catalog)
        tables = {(t.schema, t.name): t for t in cat.tables}
        orders = tables[("sales", "orders")]
        assert tables[("sales", "customers")].comment == "people who buy"
        assert tables[("sales", "big")].kind == "view"
        assert orders.primary_key == ["id"]
        (fk,) = orders.foreign_keys
        assert (fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns) == (
            ["customer_id"],
            "sales",
            "customers",
            ["id"],
        )
        status = next(c for c in orders.columns if c.name == "status")
        assert (
            status.enum_values == ["new", "paid"]
            and not status.nullable
            and "'new'" in status.default
        )
        total = next(c for c in orders.columns if c.name == "total")
        assert total.type_name == "numeric(10,2)" and total.comment == "order total in EUR"
        assert {i.name for i in orders.indexes} == {"orders_pkey", "orders_customer"}
        assert (
            next(i for i in orders.indexes if i.name == "orders_pkey").constraint == "orders_pkey"
        )
        again = await client.request("executor:p", CatalogRequest())
        assert isinstance(again, Catalog) and again.fingerprint == cat.fingerprint
        await arun_sql(pg_db, "ALTER TABLE sales.orders ADD COLUMN note text")
        changed = await client.request("executor:p", CatalogRequest())
        assert isinstance(changed, Catalog) and changed.fingerprint != cat.fingerprint
        assert "note" in [c.name for t in changed.tables if t.name == "orders" for c in t.columns]

        sql = "SELECT * FROM sales.orders WHERE customer_id = 1"
        plan = await client.request(
            "executor:p",
            ExplainRequest(sql=sql, verdict=await sign_read(sup, client, sql), analyze=True),
        )
        assert (
            isinstance(plan, ExplainPlan)
            and '"Actual Rows"' in plan.plan
            and '"Shared Hit Blocks"' in plan.plan
        )
        write = "DELETE FROM sales.orders WHERE id = 1"
        await arun_sql(
            pg_db,
            "INSERT INTO sales.customers VALUES (1, 'a@b.c'); INSERT INTO sales.orders VALUES (1, 1, 'new', 5)",
        )
        sig = signing.sign(sup.key, write, "write", "p", "read-write")
        plan = await client.request(
            "executor:p", ExplainRequest(sql=write, verdict=sig, analyze=True, confirmed=True)
        )
        assert isinstance(plan, ExplainPlan) and '"Node Type": "ModifyTable"' in plan.plan
    assert (
        await afetchval(pg_db, "SELECT count(*) FROM sales.orders") == 1
    )  # EXPLAIN ANALYZE rolled back


# -- connection errors ------------------------------------------------------------------


@pytest.fixture
def silent_tcp() -> Iterator[int]:
    """A TCP port that accepts and never answers (connect timeout)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture
def no_ssl_server() -> Iterator[int]:
    """A peer that answers PostgreSQL's SSLRequest with 'N' (no SSL), as a server without SSL does."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.recv(8)
                conn.sendall(b"N")
                conn.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(2)
    srv.close()


async def test_connection_errors_are_actionable(tmp_path, pg_dsn, pg_db, silent_tcp, no_ssl_server):
    await arun_sql(
        pg_db,
        # roles are cluster-wide: a reused PGASK_TEST_DSN server may hold them from a past run
        "DROP ROLE IF EXISTS pgask_limited; DROP ROLE IF EXISTS pgask_noconnect; "
        "CREATE ROLE pgask_limited LOGIN CONNECTION LIMIT 0; CREATE ROLE pgask_noconnect LOGIN",
    )
    dbname = database_of(pg_db)
    await arun_sql(pg_db, f'REVOKE CONNECT ON DATABASE "{dbname}" FROM PUBLIC')
    host = (
        urllib.parse.parse_qs(urllib.parse.urlsplit(pg_dsn).query).get("host", [""])[0]
        or "localhost"
    )
    profiles = {
        "refused": ProfileConfig(host="127.0.0.1", port=1, user="x", dbname="x"),
        "dns": ProfileConfig(host="no-such-host.invalid", user="x", dbname="x"),
        "timeout": ProfileConfig(
            host="127.0.0.1", port=silent_tcp, user="x", dbname="x", connect_timeout_s=0.5
        ),
        "auth": ProfileConfig(host=host, user="pgask_no_such_role", dbname="postgres"),
        "nodb": ProfileConfig(host=host, user="postgres", dbname="pgask_no_such_db"),
        "toomany": ProfileConfig(host=host, user="pgask_limited", dbname="postgres"),
        "noperm": ProfileConfig(host=host, user="pgask_noconnect", dbname=dbname),
        "ssl": ProfileConfig(
            host="127.0.0.1", port=no_ssl_server, user="x", dbname="x", sslmode="require"
        ),
    }
    expected = {
        "refused": ("db.connection_refused", "connection refused", "Is the server running"),
        "dns": ("db.dns_failed", "does not resolve", "Check the host under [profiles.dns]"),
        "timeout": ("db.connect_timeout", "no answer within 0.5 s", "connect_timeout_s"),
        "auth": ("db.auth_failed", "authentication failed", "~/.pgpass"),
        "nodb": ("db.database_missing", "does not exist", "createdb"),
        "toomany": ("db.too_many_connections", "too many connections", "max_connections"),
        "noperm": ("db.permission_denied", "permission denied", "GRANT"),
        "ssl": ("db.ssl_failed", "SSL", "sslmode"),
    }
    async with open_tree(tmp_path, config=Config(profiles=profiles)) as (sup, client):
        for name, (code, what, hint) in expected.items():
            _c, _r, end = await run(client, sup, "SELECT 1", profile=name)
            assert isinstance(end, Failure), (name, end)
            assert end.code == code, (name, end)
            assert f"profile '{name}'" in end.message and what in end.message, (name, end)
            assert hint in end.hint, (name, end)
