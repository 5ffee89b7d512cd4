"""Issue 17: one input must not crash a process; faults give messages, not tracebacks.

Each test applies the input or fault to the real process tree (or the real `pgask` command)
and checks the message, the exit status, that the process lives on (same incarnation), and
that no traceback reaches the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from protocol import signing
from protocol.audit import audit_path
from protocol.config import Config, ProfileConfig
from protocol.envelope import Header, now
from protocol.messages import (
    Failure,
    GuardRequest,
    Ping,
    Pong,
    QueryDone,
    QueryRequest,
    Signature,
)
from testkit.tree import config_for, open_tree, sign_read

ROOT = Path(__file__).resolve().parents[2]


def pgask(
    *argv: str, env: dict[str, str] | None = None, input: bytes | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """The real command, as a person runs it; never a traceback on its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", *argv],
        input=input,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    out = subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out


def forged(sql: str, mac: str) -> Signature:
    return Signature(
        sql_sha256=signing.sql_digest(sql),
        sql_class="read",
        profile="p",
        mode="read-only",
        expires_at=4e9,
        mac=mac,
    )


async def alive(sup: Any, client: Any, actor: str = "executor:p") -> None:
    """The actor answers, and it is still the first process (it never crashed)."""
    assert isinstance(await client.request(actor, Ping(), timeout=20), Pong)
    child = sup.children[actor]
    assert (child.incarnation, child.restarts, child.state) == (1, 0, "running")


# -- crashes from one input ----------------------------------------------------------------


async def test_forged_verdict_with_non_ascii_mac_is_refused(tmp_path):
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config) as (sup, client):
        for mac in ("é" * 64, "\u00ff\u2603", ""):
            reply = await client.request(
                "executor:p", QueryRequest(sql="SELECT 1", verdict=forged("SELECT 1", mac))
            )
            assert isinstance(reply, Failure) and reply.code == "executor.bad_verdict", reply
            assert "signature does not match" in reply.why
        await alive(sup, client)


@pytest.mark.pg
async def test_result_nested_2000_rows_deep_fails_that_request_only(tmp_path, pg_db):
    sql = "SELECT " + "ROW(" * 2000 + "1" + ")" * 2000 + " AS deep"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        for _ in range(4):  # four used to disable the profile
            sig = await sign_read(sup, client, sql)
            reply = await client.request(
                "executor:p", QueryRequest(sql=sql, verdict=sig), timeout=60
            )
            assert isinstance(reply, Failure), reply
            assert reply.code in ("db.result_too_deep", "actor.too_deep"), reply
            assert "nested too deeply" in reply.why
        sig = await sign_read(sup, client, "SELECT 1")
        done = await client.request("executor:p", QueryRequest(sql="SELECT 1", verdict=sig))
        assert isinstance(done, QueryDone) and done.rows == 1
        await alive(sup, client)


def _deep(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]


BAD_BODIES = [
    b"\x82\xa4kind\xaaquery.rows\xa4rows" + _deep(50_000),  # 50,000 levels deep
    b"\x82\xa4kind\xaaquery.rows\xa4rows\xdd\xff\xff\xff\xff",  # declares 4 G rows, has none
    b"\xdb\xff\xff\xff\xff" + b"x" * 10,  # a 4 GiB string, 10 bytes long
]


async def test_deeply_nested_message_is_refused_by_every_actor(tmp_path):
    """50,000 levels deep, or 4 G elements declared: each actor refuses and lives on."""
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config) as (sup, client):
        for actor in ("guard", "planner", "exporter", "executor:p", "supervisor"):
            if actor != "supervisor":
                await client.request(actor, Ping(), timeout=30)  # started
            for body in BAD_BODIES:
                header = Header(
                    id=client.ids(),
                    kind="query.rows",
                    src=client.identity,
                    dst=actor,
                    session=sup.session.id,
                    sent_at=now(),
                )
                replies: list[Any] = []

                async def collect(
                    header: Header = header, body: bytes = body, replies: list[Any] = replies
                ) -> None:
                    recv = client.replies.open(header.id, 10)
                    await client.sock.send_multipart([msgspec.msgpack.encode(header), body])
                    replies.append(await recv.receive())

                with trio.move_on_after(20):
                    await collect()
                assert replies, f"{actor} did not answer"
                _h, reply = replies[0]
                assert isinstance(reply, Failure) and reply.code.startswith("protocol."), reply
                if actor != "supervisor":
                    await alive(sup, client, actor)


# -- configuration that used to crash-loop the executor ----------------------------------------


async def test_port_out_of_range_is_a_config_error_not_a_crash_loop(tmp_path):
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:99999/db")})
    async with open_tree(tmp_path, config=config) as (sup, client):
        for _ in range(4):
            # a read is first resolved by the profile's executor (as the guard asks it to)
            reply = await client.request("guard", GuardRequest(sql="SELECT 1", profile="p"))
            assert isinstance(reply, Failure) and reply.code == "config.invalid", reply
            assert "Profile 'p'" in reply.message and "99999" in reply.message
            assert "1 to 65535" in reply.why and "[profiles.p]" in reply.hint
        await alive(sup, client)


async def test_bogus_pgsslmode_is_a_config_error_not_a_crash_loop(tmp_path, monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "bogus")  # the exec spawn path hands children this env
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config, spawn="exec") as (sup, client):
        reply = await client.request("guard", GuardRequest(sql="SELECT 1", profile="p"))
        assert isinstance(reply, Failure) and reply.code == "config.invalid", reply
        assert "PGSSLMODE='bogus'" in reply.message and "Unset PGSSLMODE" in reply.hint
        await alive(sup, client)


@pytest.mark.parametrize(
    ("url", "env", "expect"),
    [
        ("postgresql://u@127.0.0.1:99999/db", {}, "port 99999 is not a TCP port"),
        ("postgresql://u@127.0.0.1:5432/db", {"PGSSLMODE": "bogus"}, "PGSSLMODE='bogus'"),
        ("postgresql://[::1/db", {}, "URL: it cannot be read.\nInvalid IPv6 URL"),
        ("postgresql://u:s3cret@127.0.0.1:5432/db?sslmode=nope", {}, "sslmode='nope'"),
    ],
)
def test_cli_names_the_bad_connection_setting(url, env, expect):
    result = pgask("sql", "SELECT 1", "-p", url, env=env)
    assert result.returncode == 1, result
    assert expect in result.stderr
    assert "s3cret" not in result.stderr


def test_negative_statement_timeout_is_a_config_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[profiles.p]\ndsn = "postgresql://u@127.0.0.1:1/db"\nstatement_timeout_s = -5\n'
    )
    result = pgask("--config", str(config), "sql", "SELECT 1", "-p", "p")
    assert result.returncode == 1
    assert "statement_timeout_s = -5 is negative" in result.stderr
    assert str(config) in result.stderr and "Fix the SQL" not in result.stderr


# -- the audit trail -------------------------------------------------------------------------


async def test_malformed_audit_lines_neither_stop_the_executor_nor_verify(tmp_path, isolated_env):
    state = isolated_env["XDG_STATE_HOME"] / "pgask"
    path = audit_path(state, "p")
    path.parent.mkdir(parents=True)
    path.write_text('[1,2,3]\n{"type": "intent", "sql": "x"}\n')
    tree_state = tmp_path / "state"
    (tree_state / "audit").mkdir(parents=True)
    audit_path(tree_state, "p").write_bytes(path.read_bytes())
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config) as (sup, client):
        reply = await client.request(
            "executor:p", QueryRequest(sql="SELECT 1", verdict=forged("SELECT 1", "00"))
        )
        assert isinstance(reply, Failure) and reply.code == "executor.bad_verdict"
        await alive(sup, client)
    logged = (sup.log_dir / "executor-p.log").read_text()
    assert "line 1 is not an audit record" in logged and str(audit_path(tree_state, "p")) in logged
    result = pgask("audit", "verify")
    assert result.returncode == 1
    assert "p: BROKEN at line 1 (record seq ?): the line is not an object" in result.stdout
    assert str(path) in result.stdout


# -- tracebacks instead of messages ------------------------------------------------------------


def test_invalid_utf8_in_argv_and_stdin_is_named():
    bad_arg = os.fsdecode(b"SELECT \xff")  # how Python hands over non-UTF-8 argv bytes
    result = pgask("sql", bad_arg, "-p", "postgresql://u@127.0.0.1:1/db")
    assert (
        result.returncode == 2 and "argument 2 is not valid UTF-8 (byte b'\\xff')" in result.stderr
    )
    result = pgask("sql", "-", "-p", "postgresql://u@127.0.0.1:1/db", input=b"SELECT \xff")
    assert result.returncode == 1
    assert "standard input is not valid UTF-8" in result.stderr and "iconv" in result.stderr


def test_config_path_that_is_a_directory_is_named(tmp_path):
    result = pgask("sql", "SELECT 1", env={"PGASK_CONFIG": str(tmp_path)})
    assert result.returncode == 1
    assert f"The config file {tmp_path} cannot be read" in result.stderr
    assert "Point --config / PGASK_CONFIG at a file" in result.stderr


def test_unusable_state_directory_is_named(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # even root cannot make a directory under a file
    run_base = tmp_path / "t"
    run_base.mkdir()
    result = pgask(
        "actors", env={"XDG_STATE_HOME": str(blocker / "state"), "TMPDIR": str(run_base)}
    )
    assert result.returncode == 1
    assert "could not use" in result.stderr and str(blocker) in result.stderr
    assert "XDG_STATE_HOME" in result.stderr
    assert list(run_base.iterdir()) == []  # the run directory went with the failed start


def test_session_file_that_is_a_directory_is_named(isolated_env):
    (isolated_env["XDG_STATE_HOME"] / "pgask" / "session.json").mkdir(parents=True)
    result = pgask("actors")
    assert result.returncode == 1
    assert "cannot read its session file" in result.stderr and "Move" in result.stderr


def test_tmpdir_too_long_for_a_socket_is_named(tmp_path):
    long_dir = tmp_path / ("d" * 90)
    long_dir.mkdir()
    result = pgask("actors", env={"TMPDIR": str(long_dir), "XDG_RUNTIME_DIR": ""})
    assert result.returncode == 1
    assert "too long a path for pgask's sockets" in result.stderr
    assert "Set TMPDIR" in result.stderr
    assert list(long_dir.iterdir()) == []


def _audit_trail(isolated_env: dict[str, Path], n: int) -> Path:
    from protocol.audit import AuditLog

    log = AuditLog(audit_path(isolated_env["XDG_STATE_HOME"] / "pgask", "p"))
    for i in range(n):
        log.append({"type": "decision", "decision": "refused", "sql": f"SELECT {i}"})
    log.close()
    return log.path


def test_audit_into_a_closed_pipe_and_a_bad_since(isolated_env):
    _audit_trail(isolated_env, 5000)
    proc = subprocess.Popen(
        f'{sys.executable} -m ui.cli audit | head -1; echo "status=${{PIPESTATUS[0]}}"',
        shell=True,
        executable="/bin/bash",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and err == ""
    assert out.count("\n") == 2 and "status=141" in out
    result = pgask("audit", "--since", "yesterday")
    assert result.returncode == 0 and result.stdout.count("\n") == 5000
    result = pgask("audit", "--since", "last tuesday")
    assert result.returncode == 2 and "is not a date or time pgask can read" in result.stderr


def test_audit_verify_finds_removed_last_records(isolated_env):
    path = _audit_trail(isolated_env, 6)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]))
    result = pgask("audit", "verify")
    assert result.returncode == 1
    assert "p: BROKEN at line 5 (record seq 5): the last 2 record(s) were removed" in result.stdout


# -- leaks ---------------------------------------------------------------------------------------


def _run_dirs(base: Path) -> list[Path]:
    return sorted(p for p in base.glob("pgask-*") if p.is_dir())


async def _wait_for(predicate: Any, what: str, timeout: float = 30) -> None:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"timed out waiting for {what}")


def test_run_directories_are_removed_and_stale_ones_swept(tmp_path, isolated_env):
    base = tmp_path / "t"
    base.mkdir()
    env = {"TMPDIR": str(base), "XDG_RUNTIME_DIR": ""}
    for _ in range(2):
        assert pgask("actors", env=env).returncode == 0
    assert _run_dirs(base) == []
    # a run killed with SIGKILL leaves its directory: the next start sweeps it
    dead = base / "pgask-deadrun1"
    dead.mkdir(mode=0o700)
    (dead / "owner").write_text("999999999\n")  # no such pid
    (dead / "temp").mkdir()
    stale_tmp = tmp_path / ".big.csv.abcd.pgask-tmp"
    stale_tmp.write_bytes(b"x" * 1000)
    (dead / "temp" / "1-x").write_text(str(stale_tmp))
    keep = base / "pgask-pg-cluster"  # not a run directory: left alone
    keep.mkdir()
    assert pgask("actors", env=env).returncode == 0
    assert not dead.exists() and not stale_tmp.exists() and keep.exists()


def test_log_folders_are_bounded(isolated_env):
    logs = isolated_env["XDG_STATE_HOME"] / "pgask" / "logs"
    for i in range(40):
        (logs / f"20200101-0000{i:02d}-1").mkdir(parents=True)
    assert pgask("actors").returncode == 0
    runs = sorted(p.name for p in logs.iterdir())
    assert len(runs) == 30 and "20200101-000039-1" in runs and "20200101-000000-1" not in runs


SLOW = "SELECT count(*) FROM generate_series(1, 100000000000)"  # a read that runs for minutes


@pytest.mark.pg
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_cli_stopped_mid_query_leaves_nothing(tmp_path, pg_db, how):
    import signal

    from testkit.pg import afetchval

    base = tmp_path / "t"
    base.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "sql", SLOW, "-p", pg_db],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(base), "XDG_RUNTIME_DIR": ""},
    )
    sleeping = f"SELECT count(*) FROM pg_stat_activity WHERE query = '{SLOW}'"
    with trio.fail_after(60):
        while await afetchval(pg_db, sleeping) == 0:
            await trio.sleep(0.1)
    assert len(_run_dirs(base)) == 1
    proc.send_signal(getattr(signal, how))
    _, err = await trio.to_thread.run_sync(lambda: proc.communicate(timeout=60))
    err_text = err.decode()
    assert "Traceback" not in err_text
    if how == "SIGTERM":
        assert proc.returncode == 143
        assert "pgask: stopped by SIGTERM" in err_text
        assert _run_dirs(base) == []
    else:
        assert proc.returncode == -9
        assert pgask("actors", env={"TMPDIR": str(base), "XDG_RUNTIME_DIR": ""}).returncode == 0
        assert _run_dirs(base) == []  # swept by the next start
    if how == "SIGTERM":  # the executor cancelled it on its way out
        with trio.fail_after(30):
            while await afetchval(pg_db, sleeping) != 0:
                await trio.sleep(0.1)


@pytest.mark.pg
@pytest.mark.parametrize("how", ["kill-exporter", "stop-tree", "SIGTERM-cli", "SIGKILL-cli"])
async def test_export_temp_files_do_not_outlive_their_export(tmp_path, pg_db, how):
    import signal

    from protocol.messages import ExportRequest

    out = tmp_path / "out"
    out.mkdir()
    sql = "SELECT g, md5(g::text) FROM generate_series(1, 50000000) g"
    temps = lambda: list(out.glob(".*.pgask-tmp"))  # noqa: E731
    if how in ("kill-exporter", "stop-tree"):
        async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
            request = ExportRequest(
                profile="p",
                sql=sql,
                format="csv",
                path=str(out / "x.csv"),
                verdict=signing.sign(sup.key, sql, "read", "p", "read-only"),
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial_request, client, request)
                await _wait_for(lambda: any(t.stat().st_size > 0 for t in temps()), "a temp file")
                if how == "kill-exporter":
                    os.kill(sup.children["exporter"].proc.pid, signal.SIGKILL)
                    await _wait_for(lambda: temps() == [], "the temp file to go")
                nursery.cancel_scope.cancel()
        assert temps() == [] and list(out.iterdir()) == []
        return
    base = tmp_path / "t"
    base.mkdir()
    config = tmp_path / "c.toml"
    config.write_text(f'[profiles.p]\ndsn = "{pg_db}"\n')
    env = {**os.environ, "TMPDIR": str(base), "XDG_RUNTIME_DIR": ""}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "--config",
            str(config),
            "export",
            sql,
            "--out",
            str(out / "x.csv"),
            "-p",
            "p",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    await _wait_for(lambda: any(t.stat().st_size > 0 for t in temps()), "a temp file", 60)
    proc.send_signal(signal.SIGTERM if how == "SIGTERM-cli" else signal.SIGKILL)
    _, err = await trio.to_thread.run_sync(lambda: proc.communicate(timeout=60))
    assert "Traceback" not in err.decode()
    if how == "SIGTERM-cli":
        assert proc.returncode == 143 and "stopped by SIGTERM" in err.decode()
    else:
        assert pgask("actors", env={"TMPDIR": str(base), "XDG_RUNTIME_DIR": ""}).returncode == 0
    await _wait_for(lambda: temps() == [], "the temp file to go")
    assert list(out.iterdir()) == [] and _run_dirs(base) == []


async def partial_request(client: Any, request: Any) -> None:
    await client.request("exporter", request, timeout=300)


@pytest.mark.pg
async def test_password_in_a_url_on_the_command_line_is_not_shown_by_ps(tmp_path, pg_db):
    from testkit.pg import afetchval

    url = pg_db.replace("postgres@", "postgres:sekret-4711@", 1)
    assert "sekret-4711" in url
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "sql", SLOW, "-p", url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        sleeping = f"SELECT count(*) FROM pg_stat_activity WHERE query = '{SLOW}'"
        with trio.fail_after(60):
            while await afetchval(pg_db, sleeping) == 0:
                await trio.sleep(0.1)
        shown = subprocess.run(
            ["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True
        )
        tree = [line for line in shown.stdout.splitlines() if "pgask" in line or "ui.cli" in line]
        assert tree and not [line for line in tree if "sekret-4711" in line], tree
        assert any("postgres:***@" in line for line in tree), tree
    finally:
        proc.terminate()
        await trio.to_thread.run_sync(lambda: proc.communicate(timeout=60))
    assert proc.returncode == 143


# -- the bus ------------------------------------------------------------------------------------


async def test_a_peer_with_a_childs_name_gets_nothing_and_is_logged(tmp_path):
    """ZeroMQ's handover used to give a child's route to whoever connected with its name."""
    from protocol import codec, transport
    from protocol.messages import Ready

    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config) as (sup, client):
        await alive(sup, client)
        rogues = [transport.blocking_dealer(sup.endpoint, name) for name in ("executor:p", "guard")]
        try:
            for (_ctx, sock), name in zip(rogues, ("executor:p", "guard"), strict=True):
                claim = Header(
                    id="r:1:1", kind="actor.ready", src=name, dst="supervisor", sent_at=now()
                )
                sock.send_multipart(codec.encode(claim, Ready(actor=name, pid=1, incarnation=1)))
            with trio.fail_after(10):  # the SQL still reaches the real executor, at once
                reply = await client.request(
                    "executor:p",
                    QueryRequest(sql="SELECT 'secret'", verdict=forged("SELECT 'secret'", "00")),
                )
            assert isinstance(reply, Failure) and reply.code == "executor.bad_verdict"
            assert [sock.poll(0) for _ctx, sock in rogues] == [0, 0]  # nothing was routed to them
            await alive(sup, client)
            await alive(sup, client, "guard")
            logged = sup.log_dir / "supervisor.log"
            with trio.fail_after(10):
                while logged.read_text().count("supervisor.identity.refused") < 2:
                    await trio.sleep(0.05)
        finally:
            for ctx, sock in rogues:
                sock.close(linger=0)
                ctx.term()


async def test_syslog_witness_is_written_and_verify_says_what_it_checked(tmp_path, isolated_env):
    """The executor sends each record's hash to the system log; where that log cannot be read
    back (no journald, no /var/log/syslog, as in most containers) verify says so."""
    from protocol.config import AuditConfig
    from protocol.messages import AuditNote

    state = isolated_env["XDG_STATE_HOME"] / "pgask"
    config = Config(
        profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")},
        audit=AuditConfig(witness="syslog"),
    )
    sup_state = tmp_path / "state"  # where open_tree keeps the tree's state
    async with open_tree(tmp_path, config=config) as (sup, client):
        await client.send("executor:p", AuditNote(decision="refused", sql_class="ddl"))
        await alive(sup, client)
        path = audit_path(sup_state, "p")
        with trio.fail_after(10):
            while not path.exists() or "refused" not in path.read_text():
                await trio.sleep(0.05)
    (state / "audit").mkdir(parents=True)
    for name in (path.name, ".chain-key", "p.head"):
        (state / "audit" / name).write_bytes((path.parent / name).read_bytes())
    cfg = tmp_path / "c.toml"
    cfg.write_text('[audit]\nwitness = "syslog"\n')
    result = pgask("--config", str(cfg), "audit", "verify")
    assert result.returncode == 0, result
    assert "p: 1 records, chain intact" in result.stdout
    assert result.stdout.startswith("witness: ")
    assert ("cannot be read back here" in result.stdout) or ("compared with" in result.stdout)


@pytest.mark.pg
async def test_only_the_session_owner_may_confirm_a_change(tmp_path, pg_db):
    """A same-user process that connects to the bus as a client of its own cannot send the
    person's confirmation, even with a validly signed write verdict: the confirmation is the
    session owner's record (the command or window that started this supervisor)."""
    from protocol import codec, signing, transport
    from testkit.pg import afetchval, arun_sql

    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    sql = "DELETE FROM t WHERE x = 1"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        sig = signing.sign(sup.key, sql, "write", "p", "read-write")
        request = QueryRequest(sql=sql, verdict=sig, confirmed=True)
        ctx, rogue = transport.blocking_dealer(sup.endpoint, "cli-1-rogue")
        try:
            header = Header(
                id="cli-1-rogue:1:1",
                kind="query.run",
                src="cli-1-rogue",
                dst="executor:p",
                sent_at=now(),
            )
            rogue.send_multipart(codec.encode(header, request))
            with trio.fail_after(20):
                while not rogue.poll(0):
                    await trio.sleep(0.02)
            head, body = rogue.recv_multipart()
            reply = codec.decode_body(codec.decode_header(head), body)
        finally:
            rogue.close(linger=0)
            ctx.term()
        assert isinstance(reply, Failure) and reply.code == "supervisor.not_session_owner"
        assert await afetchval(pg_db, "SELECT count(*) FROM t") == 1  # nothing ran
        logged = (sup.log_dir / "supervisor.log").read_text()
        assert "supervisor.confirmation.refused" in logged
        # the session's own command confirms the same request, and it runs
        done = await client.request("executor:p", request, timeout=30)
        assert isinstance(done, QueryDone), done
    assert await afetchval(pg_db, "SELECT count(*) FROM t") == 0
