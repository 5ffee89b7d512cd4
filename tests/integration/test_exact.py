"""Every answer is complete and exact, or says loudly that it is not (issue 16).

Real PostgreSQL, the real `pgask` CLI as a subprocess, the real actor tree."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol import signing
from protocol.config import Config, ProfileConfig
from protocol.messages import QueryColumns, QueryDone, QueryRequest, QueryRows
from testkit.pg import arun_sql
from testkit.tree import open_tree, sign_read

pytestmark = pytest.mark.pg

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, profiles: dict[str, str]) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        "".join(f'[profiles.{name}]\ndsn = "{dsn}"\n\n' for name, dsn in profiles.items())
    )
    return path


def pgask(config: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "--config", str(config), *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=timeout,
    )


async def run_pgask(config: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return await trio.to_thread.run_sync(lambda: pgask(config, *argv))


async def stream(client: Any, sup: Any, sql: str, max_rows: int = 0) -> tuple[Any, list, Any]:
    sig = await sign_read(sup, client, sql)
    columns, rows, end = None, [], None
    request = QueryRequest(sql=sql, verdict=sig, max_rows=max_rows)
    async for _h, body in client.stream("executor:p", request):
        if isinstance(body, QueryColumns):
            columns = body.columns
        elif isinstance(body, QueryRows):
            rows.extend(body.rows)
        else:
            end = body
    return columns, rows, end


# -- 1. no silent loss on the row path -------------------------------------------------------


async def test_150_rows_of_800_kb_all_arrive_through_the_tree(tmp_path, pg_db):
    sql = "SELECT g, repeat(chr(65 + g % 26), 800000) AS big FROM generate_series(1, 150) g"
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (sup, client):
        _columns, rows, done = await stream(client, sup, sql)
    assert isinstance(done, QueryDone), done
    assert done.rows == 150 and len(rows) == 150
    assert [r[0] for r in rows] == list(range(1, 151))
    assert all(r[1] == chr(65 + r[0] % 26) * 800000 for r in rows)


async def test_150_rows_of_800_kb_from_the_cli(tmp_path, pg_db):
    config = write_config(tmp_path, {"p": pg_db})
    sql = "SELECT g, repeat('y', 800000) AS big FROM generate_series(1, 150) g ORDER BY g"
    done = await run_pgask(config, "sql", sql, "-p", "p", "--format", "jsonl")
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 150
    objects = [json.loads(line) for line in lines]
    assert [o["g"] for o in objects] == list(range(1, 151))
    assert all(o["big"] == "y" * 800000 for o in objects)


BIG_VALUE = (
    "SELECT n, CASE WHEN n = 2 THEN repeat('x', 100000000) ELSE 'a' END AS v"
    " FROM generate_series(1, 3) n ORDER BY n"
)


async def test_a_100_mb_value_comes_back_whole_as_csv(tmp_path, pg_db):
    """CSV is formatted by the server (COPY) and streamed as bytes: no message limit."""
    config = write_config(tmp_path, {"p": pg_db})
    done = await run_pgask(config, "sql", BIG_VALUE, "-p", "p", "--format", "csv")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"n,v\n1,a\n2," + b"x" * 100_000_000 + b"\n3,a\n"


async def test_a_100_mb_value_fails_loudly_naming_the_row_and_export(tmp_path, pg_db):
    """On the row path (JSON Lines) a row bigger than a message fails the request, naming
    the row, its size and the way out; nothing is printed as if it were the result."""
    config = write_config(tmp_path, {"p": pg_db})
    done = await run_pgask(config, "sql", BIG_VALUE, "-p", "p", "--format", "jsonl")
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Row 2 of the result is 95.4 MiB" in err, err
    assert "pgask export" in err
    assert "incomplete: 1 rows were written" in err or done.stdout == b""
    assert b"x" * 1000 not in done.stdout


async def test_a_value_within_the_limit_arrives_whole(tmp_path, pg_db):
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (sup, client):
        _c, rows, done = await stream(client, sup, "SELECT repeat('z', 40000000) AS v, 7 AS n")
    assert isinstance(done, QueryDone) and done.rows == 1
    assert len(rows[0][0]) == 40_000_000 and rows[0][1] == 7


# -- 2. headless output is the whole result ---------------------------------------------------

ROWS_50K = "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 50000) g ORDER BY g"


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table"])
async def test_50000_rows_to_stdout_all_there(tmp_path, pg_db, fmt):
    config = write_config(tmp_path, {"p": pg_db})
    done = await run_pgask(config, "sql", ROWS_50K, "-p", "p", "--format", fmt)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    text = done.stdout.decode()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["n", "h"]
        got = [int(r[0]) for r in rows[1:]]
    elif fmt == "json":
        got = [o["n"] for o in json.loads(text)]
    elif fmt == "jsonl":
        got = [json.loads(line)["n"] for line in text.splitlines()]
    else:
        lines = text.splitlines()
        assert lines[-1] == "(50000 rows)"
        got = [int(line.split("|")[0]) for line in lines[2:-1]]
    assert got == list(range(1, 50001))


async def test_max_rows_is_the_only_cap_and_a_cut_is_loud(tmp_path, pg_db):
    config = write_config(tmp_path, {"p": pg_db})
    cut = await run_pgask(
        config, "sql", ROWS_50K, "-p", "p", "--format", "jsonl", "--max-rows", "10"
    )
    assert cut.returncode == 6, cut.stderr.decode()
    assert len(cut.stdout.decode().splitlines()) == 10
    assert "cut at 10 rows by --max-rows 10" in cut.stderr.decode()
    exact = await run_pgask(
        config,
        "sql",
        "SELECT 1 AS a UNION ALL SELECT 2",
        "-p",
        "p",
        "--format",
        "csv",
        "--max-rows",
        "2",
    )
    assert exact.returncode == 0 and exact.stderr == b""  # nothing was cut: no alarm


# -- 3. column names kept distinct ------------------------------------------------------------

EMP = """
CREATE TABLE emp (id int PRIMARY KEY, name text, mgr int);
INSERT INTO emp VALUES (1, 'boss', NULL), (2, 'ann', 1), (3, 'bob', 2);
"""
SELF_JOIN = "SELECT e.id, e.name, m.id, m.name FROM emp e JOIN emp m ON m.id = e.mgr ORDER BY e.id"
BOTH = [
    {"id": 2, "name": "ann", "id_2": 1, "name_2": "boss"},
    {"id": 3, "name": "bob", "id_2": 2, "name_2": "ann"},
]


async def test_self_join_keeps_both_sides_in_json_jsonl_and_csv(tmp_path, pg_db):
    await arun_sql(pg_db, EMP)
    config = write_config(tmp_path, {"p": pg_db})
    as_json = await run_pgask(config, "sql", SELF_JOIN, "-p", "p", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr.decode()
    assert json.loads(as_json.stdout) == BOTH
    as_jsonl = await run_pgask(config, "sql", SELF_JOIN, "-p", "p", "--format", "jsonl")
    assert [json.loads(line) for line in as_jsonl.stdout.decode().splitlines()] == BOTH
    as_csv = await run_pgask(config, "sql", SELF_JOIN, "-p", "p", "--format", "csv")
    assert as_csv.stdout.decode().splitlines()[0] == "id,name,id_2,name_2"
    table = await run_pgask(config, "sql", SELF_JOIN, "-p", "p")
    assert table.stdout.decode().splitlines()[0].split() == [
        "id",
        "|",
        "name",
        "|",
        "id_2",
        "|",
        "name_2",
    ]


async def test_self_join_keeps_both_sides_in_exports(tmp_path, pg_db):
    await arun_sql(pg_db, EMP)
    config = write_config(tmp_path, {"p": pg_db})
    for fmt in ("json", "jsonl", "csv"):
        out = tmp_path / f"emp.{fmt}"
        done = await run_pgask(config, "export", SELF_JOIN, "-p", "p", "--out", str(out))
        assert done.returncode == 0, done.stderr.decode()
        text = out.read_text()
        if fmt == "json":
            assert json.loads(text) == BOTH
        elif fmt == "jsonl":
            assert [json.loads(line) for line in text.splitlines()] == BOTH
        else:
            assert text.splitlines() == ["id,name,id_2,name_2", "2,ann,1,boss", "3,bob,2,ann"]


# -- 4. exit codes ----------------------------------------------------------------------------


async def test_invalid_sql_is_an_error_not_a_refusal(tmp_path, pg_db):
    config = write_config(tmp_path, {"p": pg_db})
    bad = await run_pgask(config, "sql", "SELEC 1 FROM", "-p", "p")
    assert bad.returncode == 1, bad.stderr.decode()
    assert "does not parse" in bad.stderr.decode() and "refused" not in bad.stderr.decode()
    refused = await run_pgask(config, "sql", "DELETE FROM pg_class", "-p", "p")
    assert refused.returncode == 3, refused.stderr.decode()  # a policy refusal stays 3


# -- 5. a profile is everything that picks the server and the role ----------------------------


async def test_urls_differing_only_in_port_or_user_reach_their_own_server_and_role(
    tmp_path, pg_server, pg_restartable
):
    """Two clusters behind one socket directory (ports 5432 and 5433 as symlinks), so the
    two URLs differ in nothing but the port; then two URLs that differ only in the user."""
    import tempfile

    from protocol.config import resolve_profile
    from testkit.pg import afetchval

    both = Path(tempfile.mkdtemp(prefix="pgask-2s-", dir="/tmp"))
    (both / ".s.PGSQL.5432").symlink_to(Path(pg_server.socket_dir) / f".s.PGSQL.{pg_server.port}")
    (both / ".s.PGSQL.5433").symlink_to(
        Path(pg_restartable.socket_dir) / f".s.PGSQL.{pg_restartable.port}"
    )
    role = f"reader_{os.getpid()}"
    await arun_sql(pg_server.dsn, f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN")
    first = f"postgresql://postgres@/postgres?host={both}&port=5432"
    second = f"postgresql://postgres@/postgres?host={both}&port=5433"
    other_user = f"postgresql://{role}@/postgres?host={both}&port=5432"
    config = Config()
    names = [resolve_profile(config, url)[0] for url in (first, second, other_user)]
    assert len(set(names)) == 3, names
    assert names[0].endswith(":5432/postgres") and names[1].endswith(":5433/postgres")
    assert names[2].startswith(f"{role}@")
    seen: dict[str, list[Any]] = {}
    try:
        async with open_tree(tmp_path, config=config) as (sup, client):
            for name in names:
                where = "current_setting('data_directory')" if name != names[2] else "''"
                sql = f"SELECT current_user::text, {where}"
                sig = await sign_read(sup, client, sql, name)
                request = QueryRequest(sql=sql, verdict=sig)
                async for _h, body in client.stream(f"executor:{name}", request):
                    if isinstance(body, QueryRows):
                        seen[name] = body.rows[0]
                    elif not isinstance(body, QueryColumns):
                        assert isinstance(body, QueryDone), body
    finally:
        await arun_sql(pg_server.dsn, f"DROP ROLE IF EXISTS {role}")
    assert seen[names[0]][0] == "postgres" and seen[names[1]][0] == "postgres"
    assert seen[names[2]][0] == role
    assert seen[names[0]][1] != seen[names[1]][1]  # two servers, not one
    main_dir = await afetchval(pg_server.dsn, "SELECT current_setting('data_directory')")
    assert seen[names[0]][1] == main_dir


# -- 6. stacked statements ----------------------------------------------------------------


async def test_stacked_reads_show_every_result_one_after_another(tmp_path, pg_db):
    config = write_config(tmp_path, {"p": pg_db})
    done = await run_pgask(config, "sql", "select 1 as a; select 2 as b, 'x' as c;", "-p", "p")
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines == ["a", "-", "1", "(1 row)", "", "b | c", "--+--", "2 | x", "(1 row)"]


async def test_stacked_text_is_judged_whole_before_anything_runs(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (x int)")
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.p]\ndsn = "{pg_db}"\nread_write = true\n')
    # the DROP needs its name typed: refused up front, so the INSERT before it never ran
    done = await run_pgask(
        config,
        "sql",
        "insert into t values (1); drop table t",
        "-p",
        "p",
        "--mode",
        "read-write",
        "--yes",
    )
    assert done.returncode == 4, done.stderr.decode()
    assert "nothing was run (statement 2 of 2" in done.stderr.decode()
    from testkit.pg import afetchval

    assert await afetchval(pg_db, "SELECT count(*) FROM t") == 0
    # each statement runs in order; a failure stops the rest and says so
    failed = await run_pgask(
        config,
        "sql",
        "insert into t values (1); select 1/0; insert into t values (2)",
        "-p",
        "p",
        "--mode",
        "read-write",
        "--yes",
    )
    assert failed.returncode == 1
    assert "stopped at statement 2 of 3" in failed.stderr.decode()
    assert await afetchval(pg_db, "SELECT array_agg(x) FROM t") == [1]


# -- 7. COPY ... TO STDOUT -----------------------------------------------------------------


async def test_copy_to_stdout_prints_its_rows_like_psql(tmp_path, pg_db):
    await arun_sql(
        pg_db, "CREATE TABLE t AS SELECT g AS x, 'v' || g AS y FROM generate_series(1, 100) g"
    )
    config = write_config(tmp_path, {"p": pg_db})
    done = await run_pgask(config, "sql", "copy t to stdout", "-p", "p")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [f"{g}\tv{g}" for g in range(1, 101)]
    csv_out = await run_pgask(
        config,
        "sql",
        "copy (select x from t where x <= 2 order by x) to stdout (format csv, header)",
        "-p",
        "p",
    )
    assert csv_out.stdout == b"x\n1\n2\n"
    bad = await run_pgask(config, "sql", "copy (select 1/0) to stdout", "-p", "p")
    assert bad.returncode == 1 and "division by zero" in bad.stderr.decode()
    written = await run_pgask(config, "sql", "copy t from stdin", "-p", "p")
    assert written.returncode == 3  # COPY FROM writes: refused by policy in read-only mode


# -- 8. no session state outlives a statement on a pooled connection --------------------------


async def test_repeated_prepare_works_and_no_session_state_is_left(tmp_path, pg_db):
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db, read_write=True)})
    state_sql = (
        "SELECT (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)::int,"
        " (SELECT count(*) FROM pg_class WHERE relpersistence = 't')::int,"
        " current_setting('work_mem')"
    )
    async with open_tree(tmp_path, config=config) as (sup, client):
        for _ in range(3):  # the same PREPARE again and again: each time on a clean session
            _c, _rows, done = await stream(client, sup, "PREPARE pgask_p AS SELECT 1")
            assert isinstance(done, QueryDone), done
            _c, rows, done = await stream(client, sup, state_sql)
            assert rows == [[0, 0, "4MB"]], rows
        temp = "CREATE TEMP TABLE scratch AS SELECT 1 AS x"
        sig = signing.sign(sup.key, temp, "ddl", "p", "read-write")
        replies = [
            b
            async for _h, b in client.stream(
                "executor:p", QueryRequest(sql=temp, verdict=sig, confirmed=True)
            )
        ]
        assert isinstance(replies[-1], QueryDone), replies[-1]
        setting = "SELECT set_config('work_mem', '77MB', false)"
        await stream(client, sup, setting)  # signed as a read here on purpose: the reset holds
        _c, rows, _done = await stream(client, sup, state_sql)
        assert rows == [[0, 0, "4MB"]], rows


# -- 9. orphaned work is stopped and told truthfully --------------------------------------------

SLEEPER = "SELECT pg_sleep(60) AS slept"
RUNNING = (
    "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'"
    " AND pid <> pg_backend_pid()"
)


async def wait_no_backend(dsn: str, sql: str, within_s: float) -> float:
    """Seconds until no backend runs `sql`, polled; fails after `within_s`."""
    from testkit.pg import afetchval

    start = trio.current_time()
    with trio.fail_after(within_s):
        while await afetchval(dsn, RUNNING, sql):
            await trio.sleep(0.05)
    return trio.current_time() - start


async def wait_backend(dsn: str, sql: str) -> None:
    from testkit.pg import afetchval

    with trio.fail_after(20):
        while not await afetchval(dsn, RUNNING, sql):
            await trio.sleep(0.05)


async def test_sigkill_of_the_executor_stops_its_query_on_the_server(tmp_path, pg_db):
    import signal

    from testkit.pg import afetch

    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (sup, client):
        sig = await sign_read(sup, client, SLEEPER)
        replies: list[Any] = []

        async def run() -> None:
            async for _h, body in client.stream(
                "executor:p", QueryRequest(sql=SLEEPER, verdict=sig)
            ):
                replies.append(body)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await wait_backend(pg_db, SLEEPER)
            names = await afetch(
                pg_db, "SELECT application_name FROM pg_stat_activity WHERE query = $1", SLEEPER
            )
            assert names and names[0][0].startswith("pgask ") and names[0][0].endswith(".1")
            os.kill(sup.children["executor:p"].proc.pid, signal.SIGKILL)
            await wait_no_backend(pg_db, SLEEPER, within_s=2.0)
        failure = replies[-1]
        assert failure.code == "actor.restarted", failure
        assert "while your statement was running on the server" in failure.message
        assert "a read was stopped" in failure.why
        # the next incarnation serves, under its own name
        _c, rows, _d = await stream(client, sup, "SELECT current_setting('application_name')")
        assert rows[0][0].endswith(".2")


async def test_a_restarted_executor_ends_what_its_predecessor_left(tmp_path, pg_db):
    """Even where the server cannot notice the client is gone (an idle transaction holding a
    lock), the next incarnation terminates the old one's backends by application_name."""
    import signal

    from testkit.pg import afetchval

    await arun_sql(pg_db, "CREATE TABLE locked (x int)")
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (sup, client):
        await stream(client, sup, "SELECT 1")  # the pool is open
        prefix = (await stream(client, sup, "SELECT current_setting('application_name')"))[1][0][0]
        # a backend that looks like the executor's (same run and profile, incarnation 1),
        # idle in a transaction holding a lock, as a killed INSERT would leave it
        import asyncio
        import threading

        import asyncpg

        locked, done_holding = threading.Event(), threading.Event()

        async def hold() -> None:
            con = await asyncpg.connect(pg_db, server_settings={"application_name": prefix})
            await con.execute("BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
            locked.set()
            while not done_holding.is_set():
                await asyncio.sleep(0.05)
            con.terminate()

        thread = threading.Thread(target=lambda: asyncio.run(hold()), daemon=True)
        thread.start()
        try:
            await trio.to_thread.run_sync(locked.wait, 10)
            os.kill(sup.children["executor:p"].proc.pid, signal.SIGKILL)
            held = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            with trio.fail_after(15):
                while await afetchval(pg_db, held, prefix):
                    await trio.sleep(0.05)
            _c, rows, done = await stream(client, sup, "SELECT count(*) FROM locked")
            assert isinstance(done, QueryDone) and rows == [[0]]
        finally:
            done_holding.set()
            await trio.to_thread.run_sync(thread.join, 5)


async def test_sigkill_of_the_supervisor_stops_the_query_on_the_server(tmp_path, pg_db):
    """`pgask sql` hosts the supervisor: kill it, its executor exits with it, and the server
    (client_connection_check_interval) stops the query instead of running on to its timeout."""
    import signal

    config = write_config(tmp_path, {"p": pg_db})
    long_read = "SELECT count(*) FROM generate_series(1, 100000000000) g"  # the guard allows it
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--config", str(config), "sql", long_read, "-p", "p"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_backend(pg_db, long_read)
        proc.send_signal(signal.SIGKILL)
        await wait_no_backend(pg_db, long_read, within_s=2.0)
    finally:
        proc.kill()
        proc.wait()


async def test_a_stacked_text_that_reaches_the_executor_fails_clearly(tmp_path, pg_db):
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (sup, client):
        _c, rows, end = await stream(client, sup, "select 1; select 2")
    assert rows == [] and end.code == "db.several_statements", end
    assert "one statement at a time" in end.message and "nothing was run" in end.why
