"""`pgask mcp` (issue 22) through the MCP SDK's own client, against the real command (a child
process, over stdio or streamable HTTP), a real actor tree, a real PostgreSQL, and for `ask`
the scripted OpenAI-protocol server."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
import trio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from protocol.audit import audit_path, read_records
from testkit.pg import afetchval, arun_sql, database_of
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.pg

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "PGASK_TEST_MCP_KEY"
AGENT = types.Implementation(name="pytest-agent", version="7.1")

SETUP = """
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2));
COMMENT ON TABLE items IS 'things we sell';
COMMENT ON COLUMN items.price IS 'in euros';
INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 20) g;
CREATE INDEX items_name ON items (name);
CREATE TABLE canary (id int);
INSERT INTO canary VALUES (1), (2), (3);
ANALYZE items;
"""


def write_config(tmp_path: Path, dsn: str, *, model_url: str = "", extra: str = "") -> Path:
    model = f'base_url = "{model_url}"\nmodel = "test"\n' if model_url else ""
    text = (
        f'[model]\n{model}api_key_env = "{KEY_ENV}"\n\n'
        '[safety]\ndefault_mode = "read-write"\n\n'
        f'[profiles.rw]\ndsn = "{dsn}"\nread_write = true\nstatement_timeout_s = 20\n\n'
        f'[profiles.ro]\ndsn = "{dsn}"\nstatement_timeout_s = 20\n\n{extra}'
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def stdio_params(config: Path, *argv: str) -> StdioServerParameters:
    env = {**os.environ, KEY_ENV: "test-key"}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "ui.cli", "--config", str(config), "mcp", *argv],
        env=env,
        cwd=str(REPO),
    )


class Person:
    """The person behind the MCP client: answers elicitations as scripted, remembers them."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.asked: list[types.ElicitRequestParams] = []

    async def __call__(self, _ctx: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params)
        answer = self.answers.pop(0) if self.answers else "decline"
        if answer in ("decline", "cancel"):
            return types.ElicitResult(action=answer)
        return types.ElicitResult(action="accept", content=answer)


@asynccontextmanager
async def stdio_client(
    config: Path, person: Person | None = None, *argv: str
) -> AsyncIterator[Client]:
    async with Client(
        stdio_params(config, *(argv or ("-p", "rw", "-p", "ro"))),
        mode="legacy",  # what desktop clients speak today (initialize handshake)
        client_info=AGENT,
        elicitation_callback=person,
        read_timeout_seconds=120,
    ) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    data = json.loads(text)
    if result.is_error:
        data["is_error"] = True
    return data


async def call_quietly(client: Client, tool: str, arguments: dict[str, Any]) -> None:
    """A call whose end the test does not wait for (it is cancelled, or the client goes)."""
    try:
        await client.call_tool(tool, arguments)
    except Exception:  # the connection went away under it: that is the point
        pass


@pytest.fixture
async def db(pg_db: str) -> str:
    await arun_sql(pg_db, SETUP)
    return pg_db


async def canary_intact(dsn: str) -> bool:
    return await afetchval(dsn, "SELECT count(*) FROM canary") == 3


# -- every tool, over stdio and over streamable HTTP ------------------------------------------


PLAN = json.dumps(
    {
        "sql": "SELECT id, name FROM items WHERE price > 20 ORDER BY id",
        "explanation": "items over 20 euros",
        "assumptions": ["price is in euros"],
        "intent": "read",
        "clarify": None,
    }
)


async def every_tool(client: Client, db: str) -> None:
    """Each tool and the resource, as an agent would call them (the same over any transport)."""
    names = {t.name for t in (await client.list_tools()).tools}
    assert names == {
        "list_profiles",
        "list_schemas",
        "list_tables",
        "describe_table",
        "run_sql",
        "explain",
        "ask",
        "check_sql",
    }

    profiles = await call(client, "list_profiles")
    modes = {p["profile"]: p["mode"] for p in profiles["profiles"]}
    assert modes == {"rw": "read-write", "ro": "read-only"}
    assert profiles["profiles"][0]["database"] == database_of(db)

    schemas = await call(client, "list_schemas", profile="ro")
    assert {"schema": "public", "tables": 2} in schemas["schemas"]

    tables = await call(client, "list_tables", profile="ro", schema="public")
    items = next(t for t in tables["tables"] if t["name"] == "items")
    assert items["comment"] == "things we sell" and items["est_rows"] == 20
    missing = await call(client, "list_tables", profile="ro", schema="publc")
    assert missing["is_error"] and "Did you mean 'public'" in missing["error"]["message"]

    described = (await call(client, "describe_table", profile="ro", table="items"))["table"]
    assert described["primary_key"] == ["id"]
    assert [c["name"] for c in described["columns"]] == ["id", "name", "price"]
    assert described["columns"][2]["comment"] == "in euros"
    assert {i["name"] for i in described["indexes"]} == {"items_pkey", "items_name"}
    assert described["est_rows"] == 20

    checked = await call(client, "check_sql", profile="ro", sql="DELETE FROM items")
    assert checked["sql_class"] == "destructive" and checked["allowed"] is False
    checked = await call(client, "check_sql", profile="rw", sql="DELETE FROM items")
    assert checked["needs"].startswith("a person typing")
    assert await afetchval(db, "SELECT count(*) FROM items") == 20  # nothing ran

    rows = await call(
        client,
        "run_sql",
        profile="ro",
        sql="SELECT id, price FROM items ORDER BY id",
        max_rows=5,
    )
    assert rows["outcome"] == "20 rows" and rows["row_count"] == 20
    assert rows["returned"] == 5 and rows["truncated"] is True
    assert rows["rows"][0] == [1, 1.25]
    assert [c["name"] for c in rows["columns"]] == ["id", "price"]
    big = await call(
        client, "run_sql", profile="ro", sql="SELECT g FROM generate_series(1, 20000) g"
    )
    assert (big["returned"], big["row_count"]) == (100, 10_000)  # the profile's max_rows
    assert big["row_count_exact"] is False and big["truncated"] is True
    whole = await call(client, "run_sql", profile="ro", sql="SELECT * FROM items")
    assert whole["returned"] == 20 and whole["truncated"] is False

    plan = await call(client, "explain", profile="ro", sql="SELECT * FROM items WHERE price > 3")
    assert plan["outcome"] == "explained" and "Seq Scan" in plan["plan"]
    assert isinstance(plan["diagnosis"], list)
    analyzed = await call(
        client, "explain", profile="ro", sql="SELECT count(*) FROM items", analyze=True
    )
    assert analyzed["analyzed"] and "actual" in analyzed["plan"].lower()

    answer = await call(client, "ask", profile="ro", question="items over 20 euros?")
    assert answer["sql"].startswith("SELECT id, name FROM items")
    assert answer["assumptions"] == ["price is in euros"]
    assert answer["rows"] == [
        [17, "item 17"],
        [18, "item 18"],
        [19, "item 19"],
        [20, "item 20"],
    ]

    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["pgask://{profile}/schema"]
    context = await client.read_resource("pgask://ro/schema")
    assert "items" in context.contents[0].text  # type: ignore[union-attr]


async def test_every_tool_over_stdio(tmp_path, db):
    with FakeOpenAI() as fake:
        fake.reply(PLAN)
        config = write_config(tmp_path, db, model_url=fake.url)
        async with stdio_client(config) as client:
            await every_tool(client, db)
    assert await canary_intact(db)


async def test_every_tool_over_http(tmp_path, db):
    with FakeOpenAI() as fake:
        fake.reply(PLAN)
        config = write_config(tmp_path, db, model_url=fake.url)
        async with http_server(config) as (url, token), http_client(url, token) as client:
            await every_tool(client, db)
    assert await canary_intact(db)


# -- writes: only on a read-write profile, only after the person confirms ------------------------


async def test_writes_need_the_person_and_the_audit_trail_names_the_client(tmp_path, db):
    config = write_config(tmp_path, db)
    insert = "INSERT INTO items VALUES (21, 'new', 1)"
    # a client without elicitation: refused, saying why, nothing runs
    async with stdio_client(config) as client:
        out = await call(client, "run_sql", profile="rw", sql=insert)
        assert out["outcome"] == "declined" and "elicitation" in out["message"]
        out = await call(client, "run_sql", profile="ro", sql=insert)
        assert out["outcome"] == "refused" and out["guard"]["sql_class"] == "write"
    assert await afetchval(db, "SELECT count(*) FROM items") == 20

    person = Person(
        {"run": False},  # the insert: no
        {"run": True},  # the insert: yes
        {"name": "canary"},  # DROP TABLE items: the wrong name
        "decline",  # DELETE without WHERE: declined
        {"name": "items"},  # DELETE without WHERE: the right name
    )
    async with stdio_client(config, person) as client:
        out = await call(client, "run_sql", profile="rw", sql=insert)
        assert out["outcome"] == "declined" and "chose not to run" in out["message"]
        out = await call(client, "run_sql", profile="rw", sql=insert)
        assert out["outcome"] == "INSERT 0 1" and out["rows_affected"] == 1
        asked = person.asked[1]
        assert insert in asked.message and "write" in asked.message
        assert "pytest-agent" in asked.message and "'rw'" in asked.message
        out = await call(client, "run_sql", profile="rw", sql="DROP TABLE items")
        assert out["outcome"] == "declined"
        assert (
            "Type 'public.items'" in person.asked[2].message
            or "Type 'items'" in person.asked[2].message
        )
        assert person.asked[2].requested_schema["required"] == ["name"]
        out = await call(client, "run_sql", profile="rw", sql="DELETE FROM items")
        assert out["outcome"] == "declined"
        out = await call(client, "run_sql", profile="rw", sql="DELETE FROM items")
        assert out["outcome"] == "DELETE 21"
        assert "Rows: about 2" in person.asked[4].message, person.asked[4].message
        # the agent cannot confirm for itself: no tool takes a confirmation
        for tool in (await client.list_tools()).tools:
            assert not set(tool.input_schema["properties"]) & {"confirm", "yes", "confirmed"}
    assert await afetchval(db, "SELECT count(*) FROM items") == 0
    assert await canary_intact(db)

    records = list(read_records(audit_path(Path(os.environ["XDG_STATE_HOME"]) / "pgask", "rw")))
    vias = {r.get("via") for r in records if r["type"] in ("intent", "decision")}
    assert vias == {"mcp:pytest-agent 7.1"}, records
    decisions = [r["decision"] for r in records if r["type"] in ("intent", "decision")]
    assert decisions.count("declined") == 4 and "typed" in decisions and "confirmed" in decisions
    refused = list(read_records(audit_path(Path(os.environ["XDG_STATE_HOME"]) / "pgask", "ro")))
    assert [(r["decision"], r["via"]) for r in refused if r["type"] == "decision"] == [
        ("refused", "mcp:pytest-agent 7.1")
    ]
    # `pgask audit` shows it too
    import subprocess

    shown = subprocess.run(
        [sys.executable, "-m", "ui.cli", "--config", str(config), "audit", "-p", "rw", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "mcp:pytest-agent 7.1" in shown.stdout, shown.stderr


# -- cancellation ------------------------------------------------------------------------------

SLEEP = "SELECT pg_sleep(60) AS slept /* mcp-cancel-probe */"
RUNNING = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%mcp-cancel-probe%' "
    "AND pid <> pg_backend_pid() AND state = 'active'"
)


async def wait_backends(dsn: str, count: int, within: float) -> None:
    """Until `count` backends run the probe (polling the server; fails after `within` s)."""
    with trio.fail_after(within):
        while await afetchval(dsn, RUNNING) != count:
            await trio.sleep(0.05)


async def test_a_cancel_notification_stops_the_backend(tmp_path, db):
    config = write_config(tmp_path, db)
    async with stdio_client(config) as client, trio.open_nursery() as nursery:
        nursery.start_soon(call_quietly, client, "run_sql", {"profile": "ro", "sql": SLEEP})
        await wait_backends(db, 1, 30)
        nursery.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the call
    # the server is still up, and the backend stopped well before statement_timeout (20 s)
    await wait_backends(db, 0, 5)
    records = list(read_records(audit_path(Path(os.environ["XDG_STATE_HOME"]) / "pgask", "ro")))
    assert [r["outcome"] for r in records if r["type"] == "outcome"] == ["cancelled"]


async def test_a_client_that_goes_away_has_its_queries_cancelled(tmp_path, db):
    config = write_config(tmp_path, db)
    async with trio.open_nursery() as outer:
        async with stdio_client(config) as client:
            outer.start_soon(call_quietly, client, "run_sql", {"profile": "ro", "sql": SLEEP})
            await wait_backends(db, 1, 30)
        # the client closed pgask's stdin (and stopped it): the query was cancelled
        outer.cancel_scope.cancel()
    await wait_backends(db, 0, 5)


# -- the guard's hostile corpus through run_sql ---------------------------------------------------


async def test_the_hostile_corpus_through_run_sql_runs_nothing_unsafe(tmp_path, pg_db, marker_dir):
    from tests.integration.test_guard_catalog_pg import VECTORS, plant_sql

    await arun_sql(
        pg_db,
        plant_sql(str(marker_dir))
        + SETUP.split("CREATE TABLE canary")[0]
        .replace("CREATE TABLE items", "CREATE TABLE goods")
        .replace("items", "goods")
        + "CREATE TABLE canary (id int);"
        "INSERT INTO canary VALUES (1), (2), (3);",
    )
    cases = [json.loads(line) for line in (REPO / "tests/fixtures/guard_cases.jsonl").open()]
    cases += [{"sql": sql, "class": "planted"} for sql, _name, _marker in VECTORS]
    config = write_config(tmp_path, pg_db)
    person = Person()  # declines every confirmation it is asked for
    ran: list[tuple[str, str, str]] = []
    async with stdio_client(config, person) as client:
        for case in cases:
            out = await call(client, "run_sql", profile="rw", sql=case["sql"])
            outcome = out.get("outcome", "")
            if case["class"] != "read" and outcome not in ("refused", "declined", "invalid"):
                ran.append((case["class"], case["sql"], outcome))
    # the read-write profile at that: every write was asked for, and declined, never run
    assert ran == [], ran
    assert len(person.asked) >= 150, "the corpus's writes, DDL and destructive statements ask"
    assert list(marker_dir.iterdir()) == []
    assert await canary_intact(pg_db)
    assert await afetchval(pg_db, "SELECT count(*) FROM goods") == 20


# -- streamable HTTP ---------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now (the OS picks it): fixed ports collide on a shared CI host."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def http_server(
    config: Path, env: dict[str, str] | None = None, listen: str = "127.0.0.1"
) -> AsyncIterator[tuple[str, str]]:
    """`pgask mcp --transport http` as a child process on a free port: (url, token printed at start)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "ui.cli",
        "--config",
        str(config),
        "mcp",
        "-p",
        "rw",
        "-p",
        "ro",
        "--transport",
        "http",
        "--listen",
        f"{listen}:{port}",
    ]
    proc = await trio.lowlevel.open_process(
        argv,
        cwd=str(REPO),
        env={**os.environ, KEY_ENV: "k", **(env or {})},
        stderr=__import__("subprocess").PIPE,
    )
    url = token = ""
    buffer = b""
    try:
        with trio.fail_after(60):
            assert proc.stderr is not None
            while not url or (not token and not env):
                chunk = await proc.stderr.receive_some()
                assert chunk, f"pgask mcp exited: {buffer.decode(errors='replace')}"
                buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if "serving MCP" in line:
                        url = line.rsplit(" ", 1)[1]
                    if "bearer token" in line:
                        token = line.rsplit(" ", 1)[1]
        yield url, token
    finally:
        proc.terminate()
        with trio.move_on_after(15):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@asynccontextmanager
async def http_client(
    url: str, token: str, person: Person | None = None, *, end_session: bool = True
) -> AsyncIterator[Client]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http,
        Client(
            streamable_http_client(url, http_client=http, terminate_on_close=end_session),
            mode="legacy",
            client_info=AGENT,
            elicitation_callback=person,
            read_timeout_seconds=120,
        ) as client,
    ):
        yield client


async def test_over_http_a_token_is_required_and_every_call_is_guarded(tmp_path, db):
    import httpx2

    config = write_config(tmp_path, db)
    async with http_server(config) as (url, token):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", url) and len(token) >= 32
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "x", "version": "1"},
            },
        }
        accept = {"Accept": "application/json, text/event-stream"}
        async with httpx2.AsyncClient(timeout=30) as http:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                reply = await http.post(url, json=hello, headers={**accept, **headers})
                assert reply.status_code == 401, (headers, reply.text)
                assert reply.headers["www-authenticate"].startswith("Bearer")
        person = Person({"run": True})
        async with http_client(url, token, person) as client:
            assert len((await client.list_tools()).tools) == 8
            assert (await call(client, "list_profiles"))["default"] == "rw"
            assert (await call(client, "describe_table", table="items"))["table"]["name"] == "items"
            out = await call(
                client, "run_sql", profile="ro", sql="SELECT id FROM items", max_rows=3
            )
            assert out["row_count"] == 20 and out["returned"] == 3 and out["truncated"]
            out = await call(client, "run_sql", sql="UPDATE items SET price = 0 WHERE id = 1")
            assert out["outcome"] == "UPDATE 1" and len(person.asked) == 1
            out = await call(client, "check_sql", sql="SELECT 1; DROP TABLE items")
            assert out["sql_class"] == "destructive"
            out = await call(client, "run_sql", profile="rw", sql="SELECT 1; SELECT 2")
            assert out["outcome"] == "refused" and "a call runs one" in out["message"]

            # a client that goes away mid-query has it cancelled; the server stays up
            async with trio.open_nursery() as nursery:
                async with http_client(url, token) as other:
                    nursery.start_soon(
                        call_quietly, other, "run_sql", {"profile": "ro", "sql": SLEEP}
                    )
                    await wait_backends(db, 1, 30)
                nursery.cancel_scope.cancel()
            await wait_backends(db, 0, 5)
            # one that vanishes without ending its session (a crash, a dropped network): too
            async with trio.open_nursery() as nursery:
                async with http_client(url, token, end_session=False) as other:
                    nursery.start_soon(
                        call_quietly, other, "run_sql", {"profile": "ro", "sql": SLEEP}
                    )
                    await wait_backends(db, 1, 30)
                    nursery.cancel_scope.cancel()
            await wait_backends(db, 0, 5)
            one = await call(client, "run_sql", profile="ro", sql="SELECT 1 AS one")
            assert one["rows"] == [[1]]
    assert await afetchval(db, "SELECT price FROM items WHERE id = 1") == 0
    assert await canary_intact(db)


async def test_http_token_from_the_environment(tmp_path, db):
    config = write_config(tmp_path, db, extra='[mcp]\ntoken_env = "PGASK_TEST_MCP_TOKEN"\n')
    token = "t0ken-from-the-environment-4711"
    async with http_server(config, env={"PGASK_TEST_MCP_TOKEN": token}) as (url, printed):
        assert printed == ""  # a token the person chose is never printed
        async with http_client(url, token) as client:
            assert (await call(client, "list_profiles"))["default"] == "rw"


def test_remote_binds_need_allow_remote_and_tls(tmp_path):
    import subprocess

    def start(extra: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "c.toml"
        config.write_text('[profiles.p]\ndsn = "postgresql://nobody@127.0.0.1:1/x"\n' + extra)
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "ui.cli",
                "--config",
                str(config),
                "mcp",
                "--transport",
                "http",
                "--listen",
                "0.0.0.0:47413",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = start("")
    assert done.returncode == 1 and "only loopback" in done.stderr and "allow_remote" in done.stderr
    done = start("[mcp]\nallow_remote = true\n")
    assert done.returncode == 1 and "without TLS" in done.stderr and "tls_cert" in done.stderr


# -- protocol 2026-07-28: the question rides an input_required round ------------------------------


async def test_a_modern_client_confirms_through_input_required_rounds(tmp_path, db):
    config = write_config(tmp_path, db)
    person = Person({"run": True}, {"name": "items"}, "decline")
    async with Client(
        stdio_params(config, "-p", "rw"),
        mode="auto",
        client_info=AGENT,
        elicitation_callback=person,
        read_timeout_seconds=120,
    ) as client:
        assert client.session.protocol_version >= "2026-07-28"
        out = await call(client, "run_sql", sql="INSERT INTO items VALUES (21, 'new', 1)")
        assert out["outcome"] == "INSERT 0 1", out
        out = await call(client, "run_sql", sql="DELETE FROM items")
        assert out["outcome"] == "DELETE 21", out
        assert person.asked[1].requested_schema["required"] == ["name"]
        out = await call(client, "run_sql", sql="TRUNCATE canary")
        assert out["outcome"] == "declined", out
        assert "TRUNCATE canary" in person.asked[2].message
    assert await afetchval(db, "SELECT count(*) FROM items") == 0
    assert await canary_intact(db)
    records = list(read_records(audit_path(Path(os.environ["XDG_STATE_HOME"]) / "pgask", "rw")))
    assert {r.get("via") for r in records if r["type"] != "outcome"} == {"mcp:pytest-agent 7.1"}


async def test_explain_analyze_of_a_write_is_confirmed_and_rolled_back(tmp_path, db):
    config = write_config(tmp_path, db)
    update = "UPDATE items SET price = 99 WHERE id = 2"
    person = Person({"run": True})
    async with stdio_client(config, person) as client:
        out = await call(client, "explain", profile="ro", sql=update, analyze=True)
        assert out["outcome"] == "refused" and not person.asked  # read-only: never asked
        out = await call(client, "explain", profile="rw", sql=update)  # plain EXPLAIN: plans only
        assert out["outcome"] == "explained" and not person.asked
        out = await call(client, "explain", profile="rw", sql=update, analyze=True)
        assert out["outcome"] == "explained" and out["analyzed"], out
        assert "ModifyTable on items" in out["plan"] and len(person.asked) == 1
        assert update in person.asked[0].message
    assert await afetchval(db, "SELECT price FROM items WHERE id = 2") == Decimal("2.50")


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgask-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_a_remote_bind_serves_tls_only(tmp_path, db):
    import ssl

    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    cert, key = self_signed(tmp_path)
    extra = f'[mcp]\nallow_remote = true\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    config = write_config(tmp_path, db, extra=extra)
    async with http_server(config, listen="0.0.0.0") as (url, token):
        assert url.startswith("https://")
        port = url.rsplit(":", 1)[1].split("/")[0]
        async with httpx2.AsyncClient(timeout=10) as plain:
            with pytest.raises(httpx2.HTTPError):  # no clear text on a remote bind
                await plain.post(f"http://127.0.0.1:{port}/mcp", json={})
        trust = ssl.create_default_context(cafile=str(cert))
        async with (
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, verify=trust, timeout=60
            ) as https,
            Client(
                streamable_http_client(f"https://127.0.0.1:{port}/mcp", http_client=https),
                mode="legacy",
                client_info=AGENT,
            ) as client,
        ):
            out = await call(client, "run_sql", profile="ro", sql="SELECT 1 AS one")
            assert out["rows"] == [[1]]


async def test_ask_clarifies_and_a_planned_write_is_confirmed_like_run_sql(tmp_path, db):
    with FakeOpenAI() as fake:
        fake.reply(
            '{"sql": null, "clarify": {"question": "Gross or net?", "options": ["gross", "net"]}}'
        )
        plan = {
            "sql": "UPDATE items SET price = price * 2 WHERE id = 3",
            "explanation": "double it",
            "assumptions": ["item 3"],
            "intent": "write",
            "clarify": None,
        }
        fake.reply(json.dumps(plan))
        config = write_config(tmp_path, db, model_url=fake.url)
        person = Person({"run": True})
        async with stdio_client(config, person) as client:
            out = await call(client, "ask", profile="rw", question="revenue?")
            assert out["outcome"] == "clarification"
            assert out["clarification"] == {
                "question": "Gross or net?",
                "options": ["gross", "net"],
            }
            out = await call(client, "ask", profile="rw", question="double the price of item 3")
            assert out["sql"] == plan["sql"] and out["outcome"] == "UPDATE 1", out
            assert plan["sql"] in person.asked[0].message
    assert await afetchval(db, "SELECT price FROM items WHERE id = 3") == Decimal("7.50")
    records = list(read_records(audit_path(Path(os.environ["XDG_STATE_HOME"]) / "pgask", "rw")))
    intent = next(r for r in records if r["type"] == "intent")
    assert (
        intent["question"] == "double the price of item 3"
        and intent["via"] == "mcp:pytest-agent 7.1"
    )


# -- under the per-user session host -------------------------------------------------------------


async def test_under_the_session_host_writes_confirm_and_a_vanished_client_is_cancelled(
    tmp_path, db
):
    """With the host, the executor outlives `pgask mcp`: only the cancel stops the backend."""
    import subprocess

    from tests.integration.test_session_host import Host

    host = Host(tmp_path / "h", db) if (tmp_path / "h").mkdir() is None else None
    assert host is not None
    config = write_config(tmp_path, db)
    try:
        params = stdio_params(config, "-p", "rw", "-p", "ro")
        params.env = {**(params.env or {}), **host.env}
        person = Person({"run": True})
        async with Client(
            params,
            mode="legacy",
            client_info=AGENT,
            elicitation_callback=person,
            read_timeout_seconds=120,
        ) as client:
            out = await call(
                client, "run_sql", profile="rw", sql="UPDATE items SET price = 1 WHERE id > 0"
            )
            assert out["outcome"] == "UPDATE 20" and len(person.asked) == 1, out
        status = subprocess.run(
            [sys.executable, "-m", "ui.cli", "--config", str(config), "status", "--json"],
            env=params.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(status.stdout)["clients"] == 0, status  # the host outlives the command
        async with trio.open_nursery() as outer:
            async with Client(params, mode="legacy", client_info=AGENT) as client:
                outer.start_soon(call_quietly, client, "run_sql", {"profile": "ro", "sql": SLEEP})
                await wait_backends(db, 1, 30)
            outer.cancel_scope.cancel()
        await wait_backends(db, 0, 5)
    finally:
        host.close()
    assert await afetchval(db, "SELECT sum(price) FROM items") == 20
