"""`pgask ask --batch`, `pgask context --batch` and `pgask ask --planner` (issue 19), through
the real command, a real actor tree and real PostgreSQL (the demo shop; the scripted
OpenAI-protocol server where a model is involved)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.bench_offline_accuracy import ensure_shop
from testkit.pg import fetch
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.pg

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
KEY_ENV = "PGASK_TEST_BATCH_KEY"


def offline_config(tmp_path: Path, dsn: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[model]\napi_key_env = "{KEY_ENV}"\n\n[profiles.p]\ndsn = "{dsn}"\n')
    return path


def pgask(config: Path, *argv: str, stdin: str = "", env: dict[str, str] | None = None) -> Any:
    environment = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "--config", str(config), *argv],
        cwd=REPO,
        env={**environment, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


def shop_questions() -> list[str]:
    out = []
    for name in ("offline_questions.jsonl", "heldout_questions.jsonl"):
        for line in (FIXTURES / name).read_text().splitlines():
            obj = json.loads(line)
            if obj["db"] == "shop":
                out.append(obj["question"])
    return out


def answers(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line, parse_float=Decimal) for line in stdout.splitlines()]


def single_ask(config: Path, question: str) -> dict[str, Any]:
    """What one `pgask ask --format json` gives, in the shape of a batch line."""
    done = pgask(config, "ask", question, "-p", "p", "--format", "json", "--show-sql")
    if done.returncode == 5:
        lines = done.stdout.splitlines()
        return {"clarify": lines[0], "options": [line.split(". ", 1)[1] for line in lines[1:]]}
    if done.returncode != 0:
        return {"error": done.stderr}
    objects = json.loads(done.stdout, parse_float=Decimal) if done.stdout.strip() else []
    sql = done.stderr.split(";\n", 1)[0]  # --show-sql: the SQL first, on stderr
    return {"sql": sql, "rows": [list(o.values()) for o in objects]}


def test_ask_batch_round_trips_100_questions_in_one_tree(tmp_path: Path, pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    config = offline_config(tmp_path, shop)
    questions = shop_questions()
    assert len(questions) == 68
    lines = [json.dumps({"id": i, "question": q}) for i, q in enumerate(questions)]
    extra = [
        "create an index on orders(created_at)",  # planned as DDL: not a read, not run
        "add a column note text to orders",
        *questions[:28],  # asked again under new ids: the same answers
    ]
    lines += [json.dumps({"id": f"x{i}", "question": q}) for i, q in enumerate(extra)]
    lines += ["not json", json.dumps({"id": "no-question"})]
    assert len(lines) == 100
    before_indexes = fetch(shop, "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'")

    done = pgask(config, "ask", "--batch", "-p", "p", stdin="\n".join(lines) + "\n\n")

    assert done.returncode == 0, done.stderr
    out = answers(done.stdout)
    assert len(out) == 100
    sent_ids = [json.loads(line)["id"] if line.startswith("{") else None for line in lines]
    assert [a["id"] for a in out] == sent_ids
    # all 100 answered by one tree: one run of logs (each tree writes a run of its own)
    runs = [d for d in (tmp_path / "xdg" / "state").rglob("logs/*") if d.is_dir()]
    assert len(runs) == 1, runs
    kinds = {"rows": 0, "clarify": 0, "error": 0}
    for answer in out:
        if "rows" in answer:
            kinds["rows"] += 1
            assert set(answer) >= {"id", "sql", "columns", "rows"} and "error" not in answer
            count = fetch(shop, f"SELECT count(*) FROM ({answer['sql']}) q")[0][0]
            assert len(answer["rows"]) == count, answer["sql"]
            assert all(len(row) == len(answer["columns"]) for row in answer["rows"])
        elif "clarify" in answer:
            kinds["clarify"] += 1
            assert "sql" not in answer and answer["clarify"]
        else:
            kinds["error"] += 1
            assert answer["error"]
    assert kinds["rows"] >= 50 and kinds["clarify"] >= 5 and kinds["error"] >= 4, kinds
    by_id = {a["id"]: a for a in out}
    for i, q in enumerate(extra[2:]):
        first = by_id[questions.index(q)]
        again = by_id[f"x{i + 2}"]
        assert {**again, "id": None} == {**first, "id": None}, q
    for ddl in ("x0", "x1"):
        assert "not a read" in by_id[ddl]["error"] and "was not run" in by_id[ddl]["error"]
    assert fetch(shop, "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'") == (
        before_indexes
    )
    assert not fetch(shop, "SELECT 1 FROM information_schema.columns WHERE column_name = 'note'")
    assert "line 99 is not JSON" in out[98]["error"] and out[98]["id"] is None
    assert 'no "question"' in by_id["no-question"]["error"]

    # each line's answer is what a single `pgask ask` gives for its question
    first_rows = next(i for i, a in enumerate(out) if "rows" in a and len(a["rows"]) > 1)
    first_clarify = next(i for i, a in enumerate(out) if "clarify" in a)
    grouped = next(i for i, a in enumerate(out) if "GROUP BY" in a.get("sql", ""))
    for i in (first_rows, first_clarify, grouped):
        single = single_ask(config, questions[i])
        batch = {k: v for k, v in out[i].items() if k in single}
        assert single == batch, questions[i]


def test_context_batch_gives_each_question_its_context(tmp_path: Path, pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    config = offline_config(tmp_path, shop)
    stdin = "\n".join(
        json.dumps({"id": i, "question": q})
        for i, q in enumerate(["revenue per product category", "customers per region"])
    )
    done = pgask(config, "context", "--batch", "-p", "p", "--tokens", "400", stdin=stdin)
    assert done.returncode == 0, done.stderr
    out = answers(done.stdout)
    assert [a["id"] for a in out] == [0, 1]
    assert "public.categories" in out[0]["tables"] and "public.regions" in out[1]["tables"]
    for answer in out:
        assert answer["tokens"] <= 400 and answer["context"]
    single = pgask(
        config, "context", "customers per region", "-p", "p", "--tokens", "400", "--json"
    )
    assert single.returncode == 0, single.stderr
    assert json.loads(single.stdout)["text"] == out[1]["context"]


def test_planner_choice_offline_never_calls_the_model(
    tmp_path: Path, pg_dsn: str, fake_openai: FakeOpenAI
) -> None:
    shop = ensure_shop(pg_dsn)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\nbase_url = "{fake_openai.url}"\nmodel = "test"\napi_key_env = "{KEY_ENV}"\n\n'
        f'[profiles.p]\ndsn = "{shop}"\n'
    )
    env = {KEY_ENV: "sk-test"}
    done = pgask(
        config,
        "ask",
        "how many regions",
        "-p",
        "p",
        "--format",
        "csv",
        "--planner",
        "offline",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == str(fetch(shop, "SELECT count(*) FROM regions")[0][0])
    assert fake_openai.chat_requests == []
    # and the model, when asked for, is what answers
    fake_openai.reply('{"sql": "SELECT 41 + 1 AS answer", "explanation": "x"}')
    done = pgask(
        config,
        "ask",
        "how many regions",
        "-p",
        "p",
        "--format",
        "csv",
        "--planner",
        "model",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["answer", "42"]
    assert len(fake_openai.chat_requests) == 1


def test_planner_model_without_a_model_says_so(tmp_path: Path, pg_dsn: str) -> None:
    config = offline_config(tmp_path, ensure_shop(pg_dsn))
    done = pgask(config, "ask", "how many regions", "-p", "p", "--planner", "model")
    assert done.returncode == 1
    assert "--planner model was asked for, but no model is configured" in done.stderr
    assert done.stdout == ""
