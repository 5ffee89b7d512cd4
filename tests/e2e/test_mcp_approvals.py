"""`[mcp] approve = "tui"` (issue 22): an agent whose MCP client cannot ask its person gets its
write approved, or refused, by the person in a real pgask TUI (tmux), against a real PostgreSQL;
the agent is the MCP SDK's own client driving a real `pgask mcp` over stdio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client

from protocol.audit import audit_path, read_records
from testkit.pg import afetchval, arun_sql
from testkit.tmux import tmux_available
from tests.e2e.test_tui import Tui, tui  # noqa: F401 (the fixture)
from tests.integration.test_mcp import AGENT, call, stdio_params

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.pg,
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
]


async def screen(t: Any, text: str, timeout: float = 30) -> None:
    await trio.to_thread.run_sync(lambda: t.expect_screen(text, timeout))


async def test_an_agents_write_waits_for_the_person_in_the_tui(tui: Tui, pg_db: str) -> None:  # noqa: F811
    await arun_sql(pg_db, "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2), (3)")
    tui.config.write_text(
        '[safety]\ndefault_mode = "read-write"\n\n[mcp]\napprove = "tui"\n\n'
        f'[profiles.demo]\ndsn = "{pg_db}"\nread_write = true\n'
    )
    t = tui.start("demo")
    await screen(t, "Connected to 'demo'")
    results: dict[str, dict[str, Any]] = {}

    async with Client(
        stdio_params(tui.config, "-p", "demo"),
        mode="legacy",
        client_info=AGENT,
        read_timeout_seconds=120,
    ) as client:  # no elicitation: the TUI answers

        async def run(key: str, sql: str) -> None:
            results[key] = await call(client, "run_sql", sql=sql)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "insert", "INSERT INTO items VALUES (4)")
            await screen(t, "pytest-agent 7.1 asks to run a write statement on 'demo'")
            t.type("/approvals", enter=True)
            await screen(t, "INSERT INTO items VALUES (4)")
            await screen(t, "/approve 1 runs it; /deny 1 refuses it.")
            t.type("/approve 1", enter=True)
        assert results["insert"]["outcome"] == "INSERT 0 1", results
        await screen(t, "Approved #1")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "delete", "DELETE FROM items")
            await screen(t, "asks to run a destructive statement")
            t.type("/approve 2", enter=True)  # not enough: the name must be typed
            await screen(t, "type its object's name to run it")
            t.type("/approve 2 items", enter=True)
        assert results["delete"]["outcome"] == "DELETE 4", results

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "refused", "INSERT INTO items VALUES (5)")
            await screen(t, "/deny 3 answers")
            t.type("/deny 3", enter=True)
        assert results["refused"]["outcome"] == "declined"
        assert "refused it in the pgask TUI" in results["refused"]["message"]

        async with trio.open_nursery() as nursery:  # the agent gives up: the TUI forgets it
            nursery.start_soon(run, "withdrawn", "INSERT INTO items VALUES (6)")
            await screen(t, "/deny 4 answers")
            nursery.cancel_scope.cancel()
        await screen(t, "Approval 4 was withdrawn by the agent; nothing ran.")

    assert await afetchval(pg_db, "SELECT count(*) FROM items") == 0
    records = list(read_records(audit_path(Path(tui.xdg["XDG_STATE_HOME"]) / "pgask", "demo")))
    decisions = [
        (r["decision"], r.get("via")) for r in records if r["type"] in ("intent", "decision")
    ]
    assert ("confirmed", "mcp:pytest-agent 7.1") in decisions
    assert ("typed", "mcp:pytest-agent 7.1") in decisions
    assert ("declined", "mcp:pytest-agent 7.1") in decisions


async def test_without_a_running_tui_the_write_is_refused_saying_so(tmp_path, pg_db) -> None:
    await arun_sql(pg_db, "CREATE TABLE items (id int)")
    config = tmp_path / "c.toml"
    config.write_text(
        '[safety]\ndefault_mode = "read-write"\n\n[mcp]\napprove = "tui"\n\n'
        f'[profiles.demo]\ndsn = "{pg_db}"\nread_write = true\n'
    )
    async with Client(stdio_params(config, "-p", "demo"), mode="legacy", client_info=AGENT) as c:
        out = await call(c, "run_sql", sql="INSERT INTO items VALUES (1)")
    assert out["outcome"] == "declined" and "no pgask TUI is running" in out["message"]
    assert await afetchval(pg_db, "SELECT count(*) FROM items") == 0
