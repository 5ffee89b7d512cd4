"""The planner actor in a real tree, with the real openai client against FakeOpenAI (a real HTTP
server) and the catalog of a real PostgreSQL database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol.config import Config, ModelConfig, PrivacyConfig, ProfileConfig
from protocol.messages import (
    Clarification,
    Failure,
    Plan,
    PlannerNotice,
    PlanRequest,
    Turn,
)
from testkit.pg import fetchval, run_sql
from testkit.tree import open_tree
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCall

pytestmark = pytest.mark.pg

KEY = "sk-pgasktest0123456789abcdefSECRET"
KEY_ENV = "PGASK_TEST_KEY"

SHOP = """
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, country text);
COMMENT ON TABLE customers IS 'people who buy things';
CREATE TABLE orders (
    id int PRIMARY KEY, customer_id int REFERENCES customers(id), status order_status,
    total numeric(12,2), created_at timestamptz DEFAULT now());
CREATE TABLE order_items (order_id int REFERENCES orders(id), sku text, qty int,
    PRIMARY KEY (order_id, sku));
INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com', 'UK'), (2, 'Linus', 'l@example.com', 'FI');
INSERT INTO orders VALUES (10, 1, 'paid', 12.50, '2023-05-01'), (11, 2, 'new', 99.00, '2024-01-02');
"""


@pytest.fixture
def shop_db(pg_db: str) -> str:
    run_sql(pg_db, SHOP)
    return pg_db


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def model_config(dsn: str, fake: FakeOpenAI, **model: Any) -> Config:
    privacy = model.pop("privacy", PrivacyConfig())
    return Config(
        model=ModelConfig(base_url=fake.url, model="test", api_key_env=KEY_ENV, **model),
        privacy=privacy,
        profiles={"p": ProfileConfig(dsn=dsn)},
    )


async def ask(client: Any, request: PlanRequest, timeout: float = 60) -> tuple[Any, list[str]]:
    notices: list[str] = []
    last: Any = None
    with trio.fail_after(timeout):
        async for _h, body in client.stream("planner", request):
            if isinstance(body, PlannerNotice):
                notices.append(body.text)
            else:
                last = body
    return last, notices


def system_prompt(fake: FakeOpenAI, n: int = 0) -> str:
    return fake.chat_requests[n].body["messages"][0]["content"]


def open_planner_tree(tmp_path: Path, config: Config) -> Any:
    # exec spawn: the forkserver keeps the environment of the first test that started it, and
    # the planner reads its API key from the environment.
    return open_tree(tmp_path, config=config, spawn="exec")


def key_absent_from_logs(sup: Any, key: str = KEY) -> None:
    roots = {
        Path(sup.run_dir),
        Path(sup.log_dir),
        Path(sup.session.path.parent) if sup.session.path else None,
    }
    files = [f for root in roots if root and root.exists() for f in root.rglob("*") if f.is_file()]
    assert any(f.suffix == ".log" for f in files), files
    for f in files:
        assert key.encode() not in f.read_bytes(), f"the API key leaked into {f}"


async def test_answers_as_json_fence_and_bare_sql(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.reply(
        json.dumps(
            {
                "sql": "SELECT count(*) FROM orders",
                "explanation": "counts orders",
                "assumptions": ["all time"],
                "intent": "read",
                "clarify": None,
            }
        )
    )
    fake_openai.reply(
        "Here it is:\n```sql\nWITH paid AS (SELECT * FROM orders WHERE status = 'paid'),\n"
        "     big AS (SELECT * FROM paid WHERE total > 10)\nSELECT count(*) FROM big;\n```\nDone."
    )
    fake_openai.reply("SELECT name FROM customers ORDER BY name LIMIT 100;")
    fake_openai.reply(
        'Sure: {"sql": "SELECT `name` FROM customers LIMIT 5, 10", "explanation": "page 2"}'
    )
    config = model_config(shop_db, fake_openai)
    async with open_planner_tree(tmp_path, config) as (sup, client):
        plan, notices = await ask(client, PlanRequest(question="how many orders?", profile="p"))
        fenced, _ = await ask(client, PlanRequest(question="paid orders over 10?", profile="p"))
        bare, _ = await ask(client, PlanRequest(question="customer names", profile="p"))
        mysql, _ = await ask(client, PlanRequest(question="second page of names", profile="p"))
    assert isinstance(plan, Plan), plan
    assert plan.sql == "SELECT count(*) FROM orders"
    assert plan.explanation == "counts orders" and plan.assumptions == ["all time"]
    assert plan.source == "model" and plan.model == "test" and plan.intent == "read"
    assert "orders" in plan.tables[0]
    assert notices == []
    assert isinstance(fenced, Plan) and fenced.sql.startswith("WITH paid AS")
    assert fenced.sql.endswith("SELECT count(*) FROM big")  # the whole multi-CTE text
    assert (
        isinstance(bare, Plan) and bare.sql == "SELECT name FROM customers ORDER BY name LIMIT 100"
    )
    assert isinstance(mysql, Plan) and mysql.sql == 'SELECT "name" FROM customers LIMIT 10 OFFSET 5'
    assert any("MySQL" in a for a in mysql.assumptions)
    req = fake_openai.chat_requests[0]
    assert req.authorization == f"Bearer {KEY}"
    system = system_prompt(fake_openai)
    assert "orders(id int PK, customer_id int ->customers.id" in system
    assert "status order_status{new|paid|shipped|cancelled}" in system
    assert "customers(" in system and "people who buy things" in system
    assert req.body["model"] == "test"
    assert {t["function"]["name"] for t in req.body["tools"]} == {
        "list_tables",
        "describe_table",
        "answer",
    }
    key_absent_from_logs(sup)


async def test_tool_calls_are_answered_from_the_catalog(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.tool_calls(
        ToolCall("describe_table", {"name": "orders"}), ToolCall("list_tables", {"pattern": "item"})
    )
    fake_openai.tool_call("describe_table", {"name": "order_itemz"})
    fake_openai.tool_call(
        "answer",
        {
            "sql": "SELECT sku, sum(qty) FROM order_items GROUP BY sku",
            "explanation": "units per sku",
        },
    )
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="units sold per sku", profile="p"))
    assert isinstance(plan, Plan), plan
    assert plan.sql == "SELECT sku, sum(qty) FROM order_items GROUP BY sku"
    assert plan.explanation == "units per sku"
    second = fake_openai.chat_requests[1].body["messages"]
    tool_msgs = [m for m in second if m["role"] == "tool"]
    assert len(tool_msgs) == 2
    assert "customer_id int ->customers.id" in tool_msgs[0]["content"]
    assert "NOT NULL" in tool_msgs[0]["content"]  # describe_table gives the details
    assert "order_items" in tool_msgs[1]["content"]
    assistant = next(m for m in second if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["function"]["name"] == "describe_table"
    third = fake_openai.chat_requests[2].body["messages"]
    assert "Did you mean" in third[-1]["content"] and "order_items" in third[-1]["content"]


async def test_no_row_values_are_sent_by_default(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.tool_call("sample_values", {"table": "customers", "column": "name"})
    fake_openai.reply('{"sql": "SELECT count(*) FROM customers WHERE name = \'Ada\'"}')
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, _ = await ask(
            client, PlanRequest(question="how many customers named Ada", profile="p")
        )
    assert isinstance(plan, Plan)
    for req in fake_openai.chat_requests:
        text = json.dumps(req.body)
        for value in ("Linus", "ada@example.com", "l@example.com", "FI", "99.00"):
            assert value not in text
    assert "sample_values" not in {
        t["function"]["name"] for t in fake_openai.chat_requests[0].body["tools"]
    }
    tool_msg = next(m for m in fake_openai.chat_requests[1].body["messages"] if m["role"] == "tool")
    assert "send_sample_values" in tool_msg["content"]


async def test_sample_values_when_privacy_allows(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.tool_call("sample_values", {"table": "customers", "column": "country"})
    fake_openai.reply('{"sql": "SELECT count(*) FROM customers WHERE country = \'FI\'"}')
    config = model_config(shop_db, fake_openai, privacy=PrivacyConfig(send_sample_values=True))
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="customers in Finland", profile="p"))
    assert isinstance(plan, Plan), plan
    tool_msg = next(m for m in fake_openai.chat_requests[1].body["messages"] if m["role"] == "tool")
    assert sorted(tool_msg["content"].split(", ")) == ["FI", "UK"]


async def test_rate_limited_then_success_streams_a_notice(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.error(429, headers={"Retry-After": "0.1"})
    fake_openai.reply('{"sql": "SELECT 1"}')
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, notices = await ask(client, PlanRequest(question="one", profile="p"))
    assert isinstance(plan, Plan) and plan.sql == "SELECT 1"
    assert notices == ["model busy, retrying in 0.1 s (attempt 2 of 3)"]
    assert len(fake_openai.chat_requests) == 2


async def test_server_errors_until_retries_run_out(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    for _ in range(3):
        fake_openai.error(500, headers={"Retry-After": "0.05"})
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai, max_retries=2)) as (
        sup,
        client,
    ):
        failure, notices = await ask(client, PlanRequest(question="one", profile="p"))
    assert isinstance(failure, Failure), failure
    assert failure.code == "llm.unreachable"
    assert "HTTP 500" in failure.message and "3 attempts" in failure.message
    assert failure.hint and failure.why
    assert notices == [
        "model endpoint error (HTTP 500), retrying in 0.1 s (attempt 2 of 3)",
        "model endpoint error (HTTP 500), retrying in 0.1 s (attempt 3 of 3)",
    ]
    fake_openai.assert_script_consumed()
    key_absent_from_logs(sup)


async def test_a_reply_slower_than_the_timeout(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.push(Reply(content='{"sql": "SELECT 1"}', delay_s=30))
    config = model_config(shop_db, fake_openai, timeout_s=0.5, max_retries=0)
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        failure, _ = await ask(client, PlanRequest(question="one", profile="p"))
    assert isinstance(failure, Failure) and failure.code == "llm.timeout", failure
    assert "0.5 s" in failure.message and "timeout_s" in failure.hint
    assert fake_openai.wait_for_outcome(0) == "client_disconnected"


async def test_auth_failure_names_the_variable_not_the_key(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.error(
        401, message="Incorrect API key provided: sk-pgask***", code="invalid_api_key"
    )
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (sup, client):
        failure, notices = await ask(client, PlanRequest(question="one", profile="p"))
    assert isinstance(failure, Failure) and failure.code == "llm.auth_failed", failure
    assert KEY_ENV in failure.why and KEY_ENV in failure.hint
    assert KEY not in json.dumps([failure.message, failure.why, failure.hint, failure.detail])
    assert notices == [] and len(fake_openai.chat_requests) == 1  # 401 is not retried
    key_absent_from_logs(sup)


async def test_unknown_model_lists_the_endpoints_models(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.error(404, message="The model `test` does not exist", code="model_not_found")
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        failure, _ = await ask(client, PlanRequest(question="one", profile="p"))
    assert isinstance(failure, Failure) and failure.code == "llm.model_not_found", failure
    assert "'test'" in failure.message and "fake-model" in failure.why


async def test_context_length_error_shrinks_the_context_once(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    too_long = "This model's maximum context length is 8192 tokens."
    fake_openai.error(400, message=too_long, code="context_length_exceeded")
    fake_openai.reply('{"sql": "SELECT 1"}')
    fake_openai.error(400, message=too_long, code="context_length_exceeded")
    fake_openai.error(400, message=too_long, code="context_length_exceeded")
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, notices = await ask(client, PlanRequest(question="one", profile="p"))
        failure, _ = await ask(client, PlanRequest(question="two", profile="p"))
    assert isinstance(plan, Plan) and plan.sql == "SELECT 1"
    assert notices == ["The model's context is full; retrying with 2000 tokens of schema."]
    assert isinstance(failure, Failure) and failure.code == "llm.context_too_long", failure
    assert "context_tokens" in failure.hint


async def test_malformed_http_body_gets_one_repair_request(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.malformed()
    fake_openai.reply('{"sql": "SELECT 2", "explanation": "two"}')
    fake_openai.reply(
        '{"sql": "SELECT count(*) FROM orders", "explanation": "trunc'
    )  # sql survives
    fake_openai.reply('{"explanation": "I think you want the orders", "sql": ')  # nothing usable
    fake_openai.reply('{"sql": "SELECT 3"}')
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="two", profile="p"))
        truncated, _ = await ask(client, PlanRequest(question="orders", profile="p"))
        repaired, _ = await ask(client, PlanRequest(question="three", profile="p"))
    assert isinstance(plan, Plan) and plan.sql == "SELECT 2"
    repair = fake_openai.chat_requests[1].body["messages"][-1]
    assert repair["role"] == "user" and "garbled" in repair["content"]
    assert isinstance(truncated, Plan) and truncated.sql == "SELECT count(*) FROM orders"
    assert isinstance(repaired, Plan) and repaired.sql == "SELECT 3"
    last = fake_openai.chat_requests[4].body["messages"]
    assert last[-2]["role"] == "assistant" and last[-1]["role"] == "user"
    assert "not valid JSON" in last[-1]["content"]
    fake_openai.assert_script_consumed()


async def test_prose_twice_becomes_a_clarifying_question(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.reply("I would need to know which kind of revenue you mean before I can answer.")
    fake_openai.reply("Sorry, I still cannot tell which revenue you mean.")
    fake_openai.reply(
        '{"sql": null, "clarify": {"question": "Gross or net?", "options": ["gross", "net"]}}'
    )
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        clarify, _ = await ask(client, PlanRequest(question="revenue?", profile="p"))
        asked, _ = await ask(client, PlanRequest(question="revenue!", profile="p"))
    assert isinstance(clarify, Clarification), clarify
    assert "which revenue you mean" in clarify.question
    assert "rephrase" in clarify.question
    second = fake_openai.chat_requests[1].body["messages"]
    assert second[-2] == {
        "role": "assistant",
        "content": "I would need to know which kind of revenue you mean before I can answer.",
    }
    assert "no SQL" in second[-1]["content"]
    assert isinstance(asked, Clarification) and asked.question == "Gross or net?"
    assert asked.options == ["gross", "net"]


async def test_sql_that_does_not_parse_gets_one_repair(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.reply('{"sql": "SELECT name FROM customers WHERE"}')
    fake_openai.reply('{"sql": "SELECT name FROM customers"}')
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="names", profile="p"))
    assert isinstance(plan, Plan) and plan.sql == "SELECT name FROM customers"
    assert "does not parse" in fake_openai.chat_requests[1].body["messages"][-1]["content"]


async def test_prompt_carries_pins_recent_turns_and_feedback(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    fake_openai.default = Reply(content='{"sql": "SELECT 1"}')
    recent = [
        Turn(
            profile="p",
            question="total of paid orders by country",
            sql="SELECT c.country, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1",
            outcome="2 rows (country, sum)",
        )
    ]
    request = PlanRequest(
        question="now only for 2023",
        profile="p",
        recent=recent,
        pins=["fiscal years start in April", "amounts are in EUR"],
        previous_sql="SELECT totl FROM orders",
        feedback='column "totl" does not exist',
    )
    async with open_planner_tree(tmp_path, model_config(shop_db, fake_openai)) as (_sup, client):
        plan, _ = await ask(client, request)
    assert isinstance(plan, Plan)
    messages = fake_openai.chat_requests[0].body["messages"]
    system, user = messages[0]["content"], messages[-1]["content"]
    assert "- fiscal years start in April" in system and "- amounts are in EUR" in system
    assert "Q: total of paid orders by country" in system
    assert (
        "JOIN customers c ON c.id = o.customer_id" in system and "2 rows (country, sum)" in system
    )
    assert user.startswith("now only for 2023")
    assert "SELECT totl FROM orders" in user and 'column "totl" does not exist' in user


async def test_without_a_model_the_offline_planner_answers(tmp_path: Path, shop_db: str) -> None:
    pytest.importorskip("actors.planner.offline")
    config = Config(profiles={"p": ProfileConfig(dsn=shop_db)})
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="how many orders are there", profile="p"))
    assert isinstance(plan, Plan), plan
    assert plan.source == "offline" and "orders" in plan.sql


async def test_unreachable_model_falls_back_to_offline(
    tmp_path: Path, shop_db: str, key_env: str
) -> None:
    pytest.importorskip("actors.planner.offline")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config(
        model=ModelConfig(
            base_url=f"http://127.0.0.1:{port}/v1", model="test", api_key_env=KEY_ENV, max_retries=1
        ),
        profiles={"p": ProfileConfig(dsn=shop_db)},
    )
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        plan, notices = await ask(
            client, PlanRequest(question="how many orders are there", profile="p")
        )
        gibberish, _ = await ask(client, PlanRequest(question="florp the wibble", profile="p"))
    assert notices[0].startswith("model unreachable, retrying in")
    assert isinstance(plan, Plan), plan
    assert plan.source == "offline" and "unreachable" in notices[-1]
    assert "Answered offline: the model could not be reached." in plan.assumptions
    assert isinstance(gibberish, Failure) and gibberish.code == "llm.unreachable", gibberish
    assert "Could not reach the model endpoint" in gibberish.message and gibberish.hint


# -- pgask ask / pgask context as subprocesses ------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, dsn: str, fake: FakeOpenAI) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[model]\nbase_url = "{fake.url}"\nmodel = "test"\napi_key_env = "{KEY_ENV}"\n'
        f'max_retries = 1\n\n[profiles.p]\ndsn = "{dsn}"\n'
    )
    return path


def pgask(config: Path, *argv: str, timeout: float = 120) -> Any:
    import os
    import subprocess
    import sys

    env = {**os.environ, KEY_ENV: KEY}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "--config", str(config), *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_pgask(config: Path, *argv: str) -> Any:
    return trio.to_thread.run_sync(lambda: pgask(config, *argv))


async def test_pgask_ask_end_to_end_with_self_repair(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        '{"sql": "SELECT name, totl FROM customers ORDER BY name", "explanation": "x"}'
    )
    fake_openai.reply(
        '{"sql": "SELECT name, country FROM customers ORDER BY name", "explanation": "names"}'
    )
    config = write_config(tmp_path, shop_db, fake_openai)
    done = await run_pgask(
        config, "ask", "customers and their country", "-p", "p", "--format", "csv", "--show-sql"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["name,country", "Ada,UK", "Linus,FI"]
    assert "asking the planner to fix it" in done.stderr
    assert "SELECT name, country FROM customers ORDER BY name;" in done.stderr  # --show-sql
    repair = fake_openai.chat_requests[1].body["messages"][-1]["content"]
    assert (
        "SELECT name, totl FROM customers" in repair
        and "totl" in repair.split("PostgreSQL said:")[1]
    )
    assert fake_openai.chat_requests[0].authorization == f"Bearer {KEY}"
    assert KEY not in done.stdout + done.stderr
    logs = list((tmp_path / "xdg" / "state").rglob("*.log"))
    assert logs and all(KEY.encode() not in f.read_bytes() for f in logs)
    # what the model was told can be reviewed afterwards: the schema context, never rows
    shown = await run_pgask(config, "logs", "--model")
    assert shown.returncode == 0, shown.stderr
    assert "planner.context.selected model=test" in shown.stdout
    assert "customers" in shown.stdout and "Linus" not in shown.stdout


async def test_pgask_ask_clarification_exits_5_and_runs_nothing(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        '{"sql": null, "clarify": {"question": "Which year?", "options": ["2023", "2024"]}}'
    )
    config = write_config(tmp_path, shop_db, fake_openai)
    done = await run_pgask(config, "ask", "orders last year or this year?", "-p", "p")
    assert done.returncode == 5, done.stderr
    assert done.stdout.splitlines() == ["Which year?", "  1. 2023", "  2. 2024"]


async def test_pgask_ask_refuses_a_write_in_read_only_mode(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply('{"sql": "DELETE FROM orders WHERE id = 10", "intent": "write"}')
    config = write_config(tmp_path, shop_db, fake_openai)
    done = await run_pgask(config, "ask", "remove order 10", "-p", "p")
    assert done.returncode == 3, done.stderr
    assert "refused" in done.stderr


async def test_pgask_context_json(tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI) -> None:
    config = write_config(tmp_path, shop_db, fake_openai)
    done = await run_pgask(config, "context", "paid orders per customer", "-p", "p", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    names = {t["name"] for t in out["tables"]}
    assert names == {"customers", "orders", "order_items"}  # the whole schema fits
    assert out["whole"] is True and out["tokens"] > 0 and "orders(" in out["text"]
    assert fake_openai.requests == []  # no model call
    text = await run_pgask(config, "context", "paid orders", "-p", "p", "--tokens", "80")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[1].startswith("orders(")
    assert "tokens (budget 80)" in text.stderr


async def test_pgask_sql_behaves_as_before_the_shared_helpers(
    tmp_path: Path, shop_db: str, fake_openai: FakeOpenAI
) -> None:
    config = write_config(tmp_path, shop_db, fake_openai)
    done = await run_pgask(
        config, "sql", "SELECT id, status FROM orders ORDER BY id", "-p", "p", "--format", "csv"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["id,status", "10,paid", "11,new"]
    refused = await run_pgask(config, "sql", "DELETE FROM orders WHERE id = 10", "-p", "p")
    assert refused.returncode == 3 and "--mode read-write" in refused.stderr
    update = "UPDATE orders SET total = 1 WHERE id = 10"
    total_before = fetchval(shop_db, "SELECT total FROM orders WHERE id = 10")
    assert total_before != 1
    # --mode read-write cannot override a profile whose config forbids writes
    forbidden = await run_pgask(config, "sql", update, "-p", "p", "--mode", "read-write", "--yes")
    assert forbidden.returncode == 3, forbidden.stderr
    assert "does not allow writes (read_write = false" in forbidden.stderr
    assert fetchval(shop_db, "SELECT total FROM orders WHERE id = 10") == total_before
    config.write_text(config.read_text() + "read_write = true\n")
    unconfirmed = await run_pgask(config, "sql", update, "-p", "p", "--mode", "read-write")
    assert unconfirmed.returncode == 4 and "--yes" in unconfirmed.stderr
    failed = await run_pgask(config, "sql", "SELECT nope FROM orders", "-p", "p")
    assert failed.returncode == 1 and "nope" in failed.stderr
    assert fake_openai.requests == []


async def test_redacted_columns_never_reach_the_model(
    tmp_path: Path, pg_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    run_sql(
        pg_db,
        """CREATE TYPE tier AS ENUM ('zq-gold-tier', 'zq-basic-tier');
        CREATE TABLE members (id int PRIMARY KEY, email text, level tier, city text);
        INSERT INTO members VALUES (1, 'zq-secret@example.com', 'zq-gold-tier', 'Oslo')""",
    )
    fake_openai.tool_calls(
        ToolCall("sample_values", {"table": "members", "column": "email"}),
        ToolCall("sample_values", {"table": "members", "column": "level"}),
        ToolCall("sample_values", {"table": "members", "column": "city"}),
    )
    fake_openai.reply('{"sql": "SELECT count(*) FROM members"}')
    privacy = PrivacyConfig(send_sample_values=True, redact_columns=["email", "members.level"])
    config = model_config(pg_db, fake_openai, privacy=privacy)
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="how many members", profile="p"))
    assert isinstance(plan, Plan)
    sent = "".join(json.dumps(r.body) for r in fake_openai.chat_requests)
    for private in ("zq-secret@example.com", "zq-gold-tier", "zq-basic-tier"):
        assert private not in sent
    assert "Oslo" in sent  # an unredacted column's sample values were shared, as configured
    assert "are private" in sent and "redact_columns" in sent
