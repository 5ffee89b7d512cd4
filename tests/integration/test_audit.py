"""The audit trail and privacy defaults, with real actors and a real PostgreSQL."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import pytest
import trio

from protocol import signing
from protocol.audit import audit_path, read_records, verify
from protocol.messages import (
    AuditNote,
    Exported,
    ExportRequest,
    Failure,
    GuardRequest,
    QueryDone,
    QueryRequest,
    Verdict,
)
from testkit.pg import arun_sql
from testkit.tree import config_for, open_tree

pytestmark = pytest.mark.pg

MARKER_LITERAL = "zq-literal-4711"
MARKER_ROW = "zq-rowvalue-0815"


async def guarded(client, sql: str, mode: str = "read-only") -> Verdict:
    verdict = await client.request("guard", GuardRequest(sql=sql, profile="p", mode=mode))
    assert isinstance(verdict, Verdict)
    return verdict


async def run(client, sql: str, *, mode: str = "read-only", question: str = ""):
    verdict = await guarded(client, sql, mode)
    assert verdict.signature is not None, verdict
    decision = {"run": "auto", "confirm": "confirmed", "typed": "typed"}.get(
        verdict.confirm, "auto"
    )
    request = QueryRequest(
        sql=sql,
        verdict=verdict.signature,
        confirmed=verdict.confirm != "run",
        question=question,
        decision=decision,
        normalized=verdict.normalized,
        reasons=verdict.reasons,
    )
    return await client.request("executor:p", request, timeout=60)


async def test_writes_and_ddl_have_intent_and_outcome(tmp_path, pg_db):
    async with open_tree(tmp_path, config=config_for(pg_db)) as (_sup, client):
        assert isinstance(
            await run(client, "CREATE TABLE t (id int, note text)", mode="read-write"), QueryDone
        )
        assert isinstance(
            await run(
                client, "INSERT INTO t VALUES (1, 'x')", mode="read-write", question="add one"
            ),
            QueryDone,
        )
        assert isinstance(
            await run(client, "UPDATE t SET note = 'y' WHERE id = 1", mode="read-write"), QueryDone
        )
        failed = await run(client, "INSERT INTO t VALUES (1/0, 'z')", mode="read-write")
        assert isinstance(failed, Failure)
        refused = await guarded(client, "DROP TABLE t")
        await client.send(
            "executor:p",
            AuditNote(
                decision="refused",
                sql_class=refused.sql_class,
                normalized=refused.normalized,
                reasons=refused.reasons,
            ),
        )
        assert isinstance(await run(client, "SELECT count(*) FROM t"), QueryDone)
    records = list(read_records(audit_path(tmp_path / "state", "p")))
    intents = [r for r in records if r["type"] == "intent"]
    outcomes = {r["intent"]: r for r in records if r["type"] == "outcome"}
    assert [i["class"] for i in intents] == ["ddl", "write", "write", "write", "read"]
    assert all(i["seq"] in outcomes for i in intents)
    assert [outcomes[i["seq"]]["outcome"] for i in intents] == ["ok", "ok", "ok", "error", "ok"]
    assert outcomes[intents[3]["seq"]]["error"] == "db.division_by_zero"
    assert intents[1]["question"] == "add one" and intents[1]["decision"] == "confirmed"
    assert intents[1]["sql"] == "INSERT INTO t VALUES ($1, $2)"  # literals are not stored
    assert outcomes[intents[1]["seq"]]["command"] == "INSERT 0 1"
    (decision,) = [r for r in records if r["type"] == "decision"]
    assert decision["decision"] == "refused" and decision["class"] == "destructive"
    assert all(r["os_user"] and r["db_role"] == "postgres" for r in intents)
    assert verify(audit_path(tmp_path / "state", "p")) is None


async def test_killed_between_intent_and_outcome_shows_interrupted(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (id int)")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        path = audit_path(tmp_path / "state", "p")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    run,
                    client,
                    "INSERT INTO t SELECT 1 FROM generate_series(1, 1e10)",
                    mode="read-write",
                )
            )
            with trio.fail_after(20):
                while not any(r["type"] == "intent" for r in read_records(path)):
                    await trio.sleep(0.02)
            os.kill(sup.children["executor:p"].proc.pid, signal.SIGKILL)
        # the restarted executor closes the dangling intent when it starts
        assert isinstance(await run(client, "SELECT 1"), QueryDone)
    records = list(read_records(path))
    intent = next(r for r in records if r["type"] == "intent")
    outcome = next(r for r in records if r["type"] == "outcome" and r["intent"] == intent["seq"])
    assert outcome["outcome"] == "interrupted"
    assert verify(path) is None


def reply_signature(sup):
    """An export names its query with a signature; the exporter has the COPY text checked."""
    return signing.sign(sup.key, "SELECT 1", "read", "p", "read-only")


async def test_default_settings_store_no_literal_and_no_row_value(tmp_path, pg_db):
    (tmp_path / "out").mkdir()
    await arun_sql(
        pg_db, f"CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('{MARKER_ROW}')"
    )
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        reply = await run(
            client,
            f"SELECT v, '{MARKER_LITERAL}' AS tag FROM secrets WHERE v <> '{MARKER_LITERAL}'",
        )
        assert isinstance(reply, QueryDone) and reply.rows == 1
        exported = await client.request(
            "exporter",
            ExportRequest(
                profile="p",
                sql=f"SELECT v FROM secrets WHERE v <> '{MARKER_LITERAL}'",
                verdict=reply_signature(sup),
                format="csv",
                path=str(tmp_path / "out" / "x.csv"),
            ),
        )
        assert isinstance(exported, Exported) and exported.rows == 1
        log_dir = sup.log_dir
    records = list(read_records(audit_path(tmp_path / "state", "p")))
    (export,) = [r for r in records if r.get("decision") == "export"]
    assert export["sql"].startswith("COPY (SELECT v FROM secrets WHERE v <> $1")
    (outcome,) = [r for r in records if r.get("intent") == export["seq"]]
    assert outcome["outcome"] == "ok" and outcome["rows"] == 1 and outcome["bytes"] > 0
    leaks = []
    for root in (tmp_path / "state", log_dir, Path(sup.run_dir)):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                leaks += [
                    f"{path}: {m}" for m in (MARKER_LITERAL, MARKER_ROW) if m.encode() in data
                ]
    assert leaks == []
