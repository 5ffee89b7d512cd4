"""Issue 21: the per-user session host, as a person uses it: real `pgask` processes, a real
host, real PostgreSQL, the real TUI under tmux.

Every test here turns the host on (tests/conftest.py turns it off for every other test) and
gives it a run directory of its own (XDG_RUNTIME_DIR), so hosts never meet across tests; each
test stops its host at the end (`pgask stop --all`, then SIGKILL for anything left).
Commands run in a new session (no controlling terminal), as scripts and CI run them: that is
the path through the command server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from protocol import codec, signing
from protocol.config import Config, ProfileConfig
from protocol.envelope import Header, now
from protocol.messages import (
    Failure,
    QueryDone,
    QueryRequest,
    SessionAddTurn,
    SessionGet,
    SessionState,
    Turn,
)
from protocol.transport import open_context
from testkit import pg
from testkit.tree import open_tree
from ui.client import open_client
from ui.session_host import wait_gone

pytestmark = [pytest.mark.pg]


def pgask_argv(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "pgask"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "ui.launch"]
    return [*base, *args]


class Host:
    """One user's environment with the session host on: its config, run dir and commands."""

    def __init__(self, tmp: Path, dsn: str, *, idle_exit_s: float = 900) -> None:
        self.tmp = tmp
        self.runtime = Path(tempfile.mkdtemp(prefix="ph", dir="/tmp"))  # short: sun_path
        self.config = tmp / "cfg.toml"
        self.dsn = dsn
        self.write_config(dsn, idle_exit_s=idle_exit_s)
        self.env = {**os.environ, "PGASK_HOST": "on", "XDG_RUNTIME_DIR": str(self.runtime)}
        self.env.pop("PGASK_HOST_DIR", None)

    def write_config(self, dsn: str, *, idle_exit_s: float = 900) -> None:
        self.config.write_text(
            f'[host]\nidle_exit_s = {idle_exit_s}\n\n[profiles.p]\ndsn = "{dsn}"\n'
        )

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            pgask_argv("--config", str(self.config), *args),
            env={**self.env, **(env or {})},
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def sql(self, text: str, **kw: object) -> str:
        result = self.run("sql", text, "--format", "csv", **kw)  # type: ignore[arg-type]
        assert result.returncode == 0, result.stderr
        return result.stdout

    def status(self, env: dict[str, str] | None = None) -> dict | None:
        result = self.run("status", "--json", env=env)
        return json.loads(result.stdout)

    def pid(self, env: dict[str, str] | None = None) -> int:
        status = self.status(env)
        assert status is not None, "no host is running"
        return int(status["pid"])

    def folders(self) -> list[Path]:
        return sorted(self.runtime.glob("pgask-host-*"))

    def close(self) -> None:
        subprocess.run(
            pgask_argv("stop", "--all"),
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            timeout=60,
            start_new_session=True,
        )
        for folder in self.folders():  # anything still there is killed, never left behind
            try:
                os.kill(int((folder / "owner").read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.runtime, ignore_errors=True)


@pytest.fixture
def host(tmp_path: Path, pg_db: str) -> Iterator[Host]:
    h = Host(tmp_path, pg_db)
    try:
        yield h
    finally:
        h.close()


def alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet has exited: it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# -- one host, many commands ----------------------------------------------------------------------


def test_two_commands_in_a_row_use_one_host_and_its_warm_connection(host: Host) -> None:
    first = host.run("sql", "select pg_backend_pid() as backend")  # rows, not COPY: the
    pid = host.pid()  # executor's own connection
    executors = [a["pid"] for a in host.status()["actors"] if a["actor"] == "executor:p"]  # type: ignore[index]
    second = host.run("sql", "select pg_backend_pid() as backend")
    assert first.returncode == second.returncode == 0, second.stderr
    assert host.pid() == pid  # the same host served both
    status = host.status()
    assert status is not None
    assert [a["pid"] for a in status["actors"] if a["actor"] == "executor:p"] == executors
    assert first.stdout == second.stdout  # through the same warm connection
    assert status is not None and status["profiles"] == ["p"]
    assert status["clients"] == 0  # both commands have left
    assert status["rss_kb"] > 0 and status["tree_rss_kb"] >= status["rss_kb"]
    assert "planner" not in {a["actor"] for a in status["actors"]}  # `sql` never needed it
    text = host.run("status").stdout
    assert f"pid {pid}" in text and "profiles  p" in text and "memory" in text


def test_no_host_runs_its_own_tree_and_leaves_nothing(host: Host) -> None:
    assert host.sql("select 7 as seven", env={"PGASK_HOST": "off"}) == "seven\n7\n"
    assert host.run("--no-host", "sql", "select 8 as eight").returncode == 0
    assert host.status() is None and not any(f.glob("*.sock") for f in host.folders())


def test_stop_stops_it_and_the_next_command_starts_a_new_one(host: Host) -> None:
    host.sql("select 1")
    pid = host.pid()
    result = host.run("stop")
    assert result.returncode == 0 and f"pid {pid}" in result.stdout
    assert not alive(pid)
    assert host.status() is None
    host.sql("select 1")
    assert host.pid() != pid


def test_a_host_killed_with_sigkill_is_replaced_and_the_session_file_is_intact(
    host: Host, isolated_env: dict[str, Path]
) -> None:
    pg.run_sql(
        host.dsn,
        "create table orders (id int primary key, total int);"
        "insert into orders select g, g from generate_series(1, 5) g",
    )
    result = host.run("ask", "how many orders are there")
    assert result.returncode == 0, result.stderr
    session_file = isolated_env["XDG_STATE_HOME"] / "pgask" / "session.json"
    before = json.loads(session_file.read_text())
    assert [t["question"] for t in before["turns"]] == ["how many orders are there"]
    pid = host.pid()
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid, 10)
    assert host.sql("select 42 as answer") == "answer\n42\n"  # the next command starts one
    assert host.pid() != pid
    after = json.loads(session_file.read_text())
    assert after["session"] == before["session"] and after["turns"][:1] == before["turns"]
    # `sql` is a turn too (its literals out, as [privacy] redact_literals keeps turns by default)
    assert [t["sql"] for t in after["turns"][1:]] == ["select $1 as answer"]
    result = host.run("ask", "how many orders are there")  # the conversation goes on
    assert result.returncode == 0, result.stderr
    turns = json.loads(session_file.read_text())["turns"]
    assert len(turns) == 3 and turns[0] == before["turns"][0]


def test_a_version_change_retires_the_old_host(host: Host) -> None:
    """The old host takes no new client and exits when its last one has gone (an open window
    of the old build is never cut off)."""
    from protocol.hostlink import Lease

    old = {"PGASK_BUILD_ID": "an-older-pgask"}
    host.sql("select 1", env=old)
    old_pid = host.pid(env=old)
    assert host.status(env=old)["build"] == "an-older-pgask"  # type: ignore[index]
    (old_dir,) = host.folders()
    window = Lease.connect(old_dir)  # a client of the old build that is still open
    assert window is not None and window.ask({"op": "attach", "kind": "tui"})["ok"]
    host.sql("select 2")  # this build's client asks the older host to retire, starts its own
    assert alive(old_pid) and host.pid() != old_pid
    assert host.status(env=old)["retiring"].startswith("retired: a client of build")  # type: ignore[index]
    assert not window.ask({"op": "attach", "kind": "cli"})["ok"]  # no new client there
    window.close()  # the last client of the old build goes
    assert wait_gone(old_pid, 30)
    new = host.status()
    assert new is not None and new["pid"] != old_pid and new["build"] != "an-older-pgask"
    log = "\n".join((f / "host.log").read_text() for f in host.folders())
    assert f"pgask host {old_pid}: stopped (retired: a client of build" in log


def test_idle_exit_s_stops_it(tmp_path: Path, pg_db: str) -> None:
    h = Host(tmp_path, pg_db, idle_exit_s=1)
    try:
        h.sql("select 1")
        pid = h.pid()  # `status` is not a client: it does not keep the host up
        assert wait_gone(pid, 30), "the host outlived idle_exit_s = 1"
        (folder,) = h.folders()
        assert not (folder / "lease.sock").exists() and not (folder / "sup.sock").exists()
        log = "\n".join((f / "host.log").read_text() for f in h.folders())
        assert f"pgask host {pid}: stopped (idle)" in log
    finally:
        h.close()


def test_a_config_change_is_picked_up_by_the_running_host(host: Host) -> None:
    assert host.sql("select current_database() as db") == f"db\n{pg.database_of(host.dsn)}\n"
    pid = host.pid()
    with pg.fresh_database(host.dsn, "other") as other:
        host.write_config(other)
        assert host.sql("select current_database() as db") == f"db\n{pg.database_of(other)}\n"
        assert host.pid() == pid  # the same host, its executor restarted on the new settings
        host.write_config(host.dsn)
        host.sql("select 1")  # the executor leaves `other` before it is dropped


# -- who may talk to it ---------------------------------------------------------------------------

_INTRUDER = r"""
import socket, sys, zmq
folder = sys.argv[1]
out = []
for name in ("lease.sock", "sup.sock", "cmd.sock"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(folder + "/" + name)
        out.append(name + ":connected")
    except PermissionError:
        out.append(name + ":refused")
    except OSError as exc:
        out.append(name + ":" + type(exc).__name__)
    finally:
        s.close()
ctx = zmq.Context()
d = ctx.socket(zmq.DEALER)
d.setsockopt(zmq.LINGER, 0)
d.setsockopt(zmq.IDENTITY, b"cli-intruder")
d.connect("ipc://" + folder + "/sup.sock")
d.send_multipart([bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])])
out.append("zmq:answered" if d.poll(3000) else "zmq:silent")
print(" ".join(out))
"""


def test_another_os_user_cannot_connect(host: Host) -> None:
    """Run as root here: a child that drops to uid/gid 65534 (nobody) tries the host's three
    sockets and a Ping over the bus. Each is refused by the 0700 directory; without it (the
    control at the end) the same child gets through, so the test proves the protection."""
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    from protocol.messages import Ping

    host.sql("select 1")
    (folder,) = host.folders()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    header = Header(
        id="cli-intruder:1:1",
        kind="actor.ping",
        src="cli-intruder",
        dst="supervisor",
        sent_at=now(),
    )
    head, body = codec.encode(header, Ping())

    def intrude() -> str:
        result = subprocess.run(
            [sys.executable, "-c", _INTRUDER, str(folder), bytes(head).hex(), bytes(body).hex()],
            user=65534,
            group=65534,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env={"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    def reachable(path: Path) -> None:  # the intruder needs to reach the run dir at all
        while path != path.parent:
            path.chmod(path.stat().st_mode | 0o011)
            path = path.parent

    reachable(host.runtime)
    assert intrude() == ["lease.sock:refused", "sup.sock:refused", "cmd.sock:refused", "zmq:silent"]
    # the control: with the directory and the sockets opened up, the same child gets in
    folder.chmod(0o755)
    for sock in folder.glob("*.sock"):
        sock.chmod(0o777)
    got = intrude()
    folder.chmod(0o700)
    assert got[:2] == ["lease.sock:connected", "sup.sock:connected"] and got[-1] == "zmq:answered"


# -- conversations and confirmations ----------------------------------------------------------------


async def test_each_client_keeps_its_own_conversation_and_confirms_only_there(
    tmp_path: Path, pg_db: str
) -> None:
    """Two clients of one supervisor, as a host's two windows are: each sees only its own
    turns, and one cannot send a confirmation in the other's conversation; a client whose
    lease has ended cannot confirm at all."""
    await pg.arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db, read_write=True)})
    async with open_tree(tmp_path, config=config) as (sup, _own):
        mine, theirs = sup.session, sup.open_session()
        async with (
            open_context() as ctx,
            open_client(ctx, sup.endpoint, mine.id) as a,
            open_client(ctx, sup.endpoint, theirs.id) as b,
        ):
            sup.trust_in(a.identity, mine.id)
            sup.trust_in(b.identity, theirs.id)
            turn = Turn(profile="p", question="only in b's window", outcome="ok")
            await b.request("supervisor", SessionAddTurn(turn=turn), timeout=10)
            seen_a = await a.request("supervisor", SessionGet(), timeout=10)
            seen_b = await b.request("supervisor", SessionGet(), timeout=10)
            assert isinstance(seen_a, SessionState) and isinstance(seen_b, SessionState)
            assert [t.question for t in seen_b.turns] == ["only in b's window"]
            assert "only in b's window" not in [t.question for t in seen_a.turns]
            assert theirs.path is not None and theirs.path.parent.name == "sessions"

            sql = "DELETE FROM t WHERE x = 1"
            request = QueryRequest(
                sql=sql,
                confirmed=True,
                verdict=signing.sign(sup.key, sql, "write", "p", "read-write"),
            )
            a.session = theirs.id  # a's confirmation, claimed in b's conversation
            reply = await a.request("executor:p", request, timeout=30)
            assert isinstance(reply, Failure) and reply.code == "supervisor.not_session_owner"
            assert await pg.afetchval(pg_db, "SELECT count(*) FROM t") == 2
            a.session = mine.id
            sup.distrust(b.identity)  # b's window closed
            reply = await b.request("executor:p", request, timeout=30)
            assert isinstance(reply, Failure) and reply.code == "supervisor.not_session_owner"
            assert isinstance(await a.request("executor:p", request, timeout=30), QueryDone)
    assert await pg.afetchval(pg_db, "SELECT count(*) FROM t") == 1


def test_status_and_stop_say_so_when_no_host_runs(host: Host) -> None:
    result = host.run("status")
    assert result.returncode == 3 and "No pgask session host is running" in result.stdout
    assert "No session host was running" in host.run("stop").stdout


async def test_concurrent_first_commands_start_one_host(host: Host) -> None:
    results: list[str] = []

    async def one(i: int) -> None:
        out = await trio.to_thread.run_sync(host.sql, f"select {i} as n")
        results.append(out)

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(one, i)
    assert sorted(results) == [f"n\n{i}\n" for i in range(3)]
    assert len(host.folders()) == 1 and host.status() is not None


async def test_a_catalog_the_asker_holds_travels_as_its_fingerprint_only(
    tmp_path: Path, pg_db: str
) -> None:
    """What keeps a warm `pgask context` fast on a large catalog: the planner keeps the last
    catalog, and the executor answers `known=fingerprint` with the header alone while the
    schema has not changed."""
    from protocol.messages import Catalog, CatalogRequest

    await pg.arun_sql(pg_db, "CREATE TABLE a (x int)")
    config = Config(profiles={"p": ProfileConfig(dsn=pg_db)})
    async with open_tree(tmp_path, config=config) as (_sup, client):
        full = await client.request("executor:p", CatalogRequest(), timeout=60)
        assert isinstance(full, Catalog) and not full.unchanged and full.tables
        same = await client.request("executor:p", CatalogRequest(known=full.fingerprint))
        assert isinstance(same, Catalog) and same.unchanged and same.tables == []
        assert same.fingerprint == full.fingerprint
        await pg.arun_sql(pg_db, "CREATE TABLE b (y int)")
        new = await client.request("executor:p", CatalogRequest(known=full.fingerprint))
        assert isinstance(new, Catalog) and not new.unchanged
        assert {t.name for t in new.tables} == {"a", "b"}


def test_the_host_watches_its_config_file(host: Host) -> None:
    """Without any client coming, a change to the file reaches the running host."""
    import time

    from protocol.hostlink import Lease

    host.sql("select 1")
    (folder,) = host.folders()
    host.write_config(host.dsn, idle_exit_s=1234)
    deadline = time.monotonic() + 15
    seen = None
    while time.monotonic() < deadline:
        lease = Lease.connect(folder)  # `status` is not a client: nothing but the watcher acts
        assert lease is not None
        with contextlib.closing(lease):
            seen = lease.ask({"op": "status"})["idle_exit_s"]
        if seen == 1234:
            break
        time.sleep(0.1)  # the host looks at the file once a second
    assert seen == 1234


def test_a_client_of_the_host_imports_nothing_of_actors(host: Host) -> None:
    host.sql("select 1")  # the host is up
    probe = (
        "import sys\nfrom ui.cli import main\n"
        f"code = main(['--config', {str(host.config)!r}, 'sql', 'select 1'])\n"
        "print(code, sorted(m for m in sys.modules if m.startswith('actors')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=host.env,
        cwd=host.tmp,
        text=True,
        capture_output=True,
        timeout=120,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []"


def test_on_tcp_the_host_answers_only_with_its_curve_key(host: Host) -> None:
    """PGASK_TRANSPORT=tcp: loopback TCP with CURVE; the server key is only in the 0700 dir's
    lease reply, and a peer without it gets nothing."""
    import zmq

    from protocol import transport
    from protocol.hostlink import Lease
    from protocol.messages import Ping, Pong

    tcp = {"PGASK_TRANSPORT": "tcp"}
    assert host.sql("select 5 as five", env=tcp) == "five\n5\n"
    (folder,) = [f for f in host.folders() if Lease.connect(f) is not None]
    lease = Lease.connect(folder)
    assert lease is not None
    with contextlib.closing(lease):
        endpoint = lease.ask({"op": "attach", "kind": "helper"})["endpoint"]
    assert endpoint.startswith("tcp://127.0.0.1:") and "#curve=" in endpoint
    header = Header(
        id="cli-probe:1:1", kind="actor.ping", src="cli-probe", dst="supervisor", sent_at=now()
    )

    def ping(with_key: bool) -> bool:
        if with_key:
            ctx, sock = transport.blocking_dealer(endpoint, "cli-probe")
        else:
            ctx = zmq.Context()
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IDENTITY, b"cli-probe")
            sock.connect(endpoint.partition("#")[0])
        try:
            sock.send_multipart(codec.encode(header, Ping()))
            if not sock.poll(3000):
                return False
            head, body = sock.recv_multipart()
            return isinstance(codec.decode_body(codec.decode_header(head), body), Pong)
        finally:
            sock.close(linger=0)
            ctx.term()

    assert not ping(with_key=False)
    assert ping(with_key=True)


def test_on_a_terminal_a_served_command_asks_there(tmp_path: Path, pg_db: str) -> None:
    """A command forked by the command server has no terminal of its own: it asks on the
    person's (PGASK_TTY), and the answer decides, as in a command run by itself."""
    import fcntl
    import termios
    import time

    h = Host(tmp_path, pg_db)
    h.config.write_text(f'[profiles.p]\ndsn = "{pg_db}"\nread_write = true\n')
    try:
        h.sql("select 1")  # the host is up; the command server starts after this command
        (folder,) = h.folders()
        deadline = time.monotonic() + 30
        while not (folder / "cmd.sock").exists():  # it binds once it has imported everything
            assert time.monotonic() < deadline, "no command server"
            time.sleep(0.05)
        master, slave = os.openpty()

        def own_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.Popen(
            pgask_argv(
                "--config",
                str(h.config),
                "sql",
                "--mode",
                "read-write",
                "create table asked_on_the_terminal (x int)",
            ),
            env=h.env,
            cwd=h.tmp,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=own_terminal,
        )
        os.close(slave)
        seen = b""
        while b"[y/N]" not in seen:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the command ended (EIO on a pty)
                chunk = b""
            assert chunk, seen.decode(errors="replace")
            seen += chunk
        os.write(master, b"y\n")
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(60) == 0, seen.decode(errors="replace")
        os.close(master)
        assert b"Run it on 'p'?" in seen
        assert pg.fetchval(pg_db, "select to_regclass('asked_on_the_terminal') is not null")
    finally:
        h.close()
