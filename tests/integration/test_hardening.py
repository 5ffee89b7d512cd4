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
from protocol.messages import Failure, Ping, Pong, QueryDone, QueryRequest, Signature
from tests.integration.test_executor import config_for
from tests.tree import open_tree

ROOT = Path(__file__).resolve().parents[2]


def pgask(*argv: str, env: dict[str, str] | None = None, input: bytes | None = None,
          timeout: float = 90) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The real command, as a person runs it; never a traceback on its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", *argv],
        input=input, capture_output=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    out = subprocess.CompletedProcess(
        result.args, result.returncode,
        result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace"),
    )  # fmt: skip
    assert "Traceback" not in out.stderr, out.stderr
    return out


def forged(sql: str, mac: str) -> Signature:
    return Signature(sql_sha256=signing.sql_digest(sql), sql_class="read", profile="p",
                     mode="read-only", expires_at=4e9, mac=mac)  # fmt: skip


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
            sig = signing.sign(sup.key, sql, "read", "p", "read-only")
            reply = await client.request(
                "executor:p", QueryRequest(sql=sql, verdict=sig), timeout=60
            )
            assert isinstance(reply, Failure), reply
            assert reply.code in ("db.result_too_deep", "actor.too_deep"), reply
            assert "nested too deeply" in reply.why
        sig = signing.sign(sup.key, "SELECT 1", "read", "p", "read-only")
        done = await client.request("executor:p", QueryRequest(sql="SELECT 1", verdict=sig))
        assert isinstance(done, QueryDone) and done.rows == 1
        await alive(sup, client)


def _deep(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]


async def test_deeply_nested_message_is_refused_by_every_actor(tmp_path):
    """A 50,000-deep body: each actor answers with a protocol error and lives on."""
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config) as (sup, client):
        for actor in ("guard", "planner", "exporter", "executor:p", "supervisor"):
            if actor != "supervisor":
                await client.request(actor, Ping(), timeout=30)  # started
            header = Header(id=client.ids(), kind="query.rows", src=client.identity, dst=actor,
                            session=sup.session.id, sent_at=now())  # fmt: skip
            body = b"\x82\xa4kind\xaaquery.rows\xa4rows" + _deep(50_000)
            replies: list[Any] = []

            async def collect(
                header: Header = header, body: bytes = body, replies: list[Any] = replies
            ) -> None:
                send, recv = trio.open_memory_channel[Any](10)
                client._waiting[header.id] = send
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
            sig = signing.sign(sup.key, "SELECT 1", "read", "p", "read-only")
            reply = await client.request("executor:p", QueryRequest(sql="SELECT 1", verdict=sig))
            assert isinstance(reply, Failure) and reply.code == "config.invalid", reply
            assert "Profile 'p'" in reply.message and "99999" in reply.message
            assert "1 to 65535" in reply.why and "[profiles.p]" in reply.hint
        await alive(sup, client)


async def test_bogus_pgsslmode_is_a_config_error_not_a_crash_loop(tmp_path, monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "bogus")  # the exec spawn path hands children this env
    config = Config(profiles={"p": ProfileConfig(dsn="postgresql://u@127.0.0.1:1/db")})
    async with open_tree(tmp_path, config=config, spawn="exec") as (sup, client):
        sig = signing.sign(sup.key, "SELECT 1", "read", "p", "read-only")
        reply = await client.request("executor:p", QueryRequest(sql="SELECT 1", verdict=sig))
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
