"""The offline planner through the planner actor (issue 19): values are looked up in the data
(the value index the planner builds through the guard and the executor, never of a column
[privacy] redact_columns names), and the issue's named questions give the right rows or a
precise question."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.bench_offline_accuracy import ensure_shop
from protocol.config import Config, ModelConfig, PrivacyConfig, ProfileConfig
from protocol.messages import Clarification, Plan, PlanRequest
from testkit.pg import fetch
from tests.integration.test_planner import ask, open_planner_tree

pytestmark = pytest.mark.pg

NO_KEY = "PGASK_TEST_NO_SUCH_KEY"


def offline_config(dsn: str, **privacy: Any) -> Config:
    return Config(
        model=ModelConfig(api_key_env=NO_KEY),
        privacy=PrivacyConfig(**privacy),
        profiles={"p": ProfileConfig(dsn=dsn)},
    )


async def plan_offline(tmp_path: Path, config: Config, *questions: str) -> list[Any]:
    out = []
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        for question in questions:
            result, _notices = await ask(client, PlanRequest(question=question, profile="p"))
            out.append(result)
    return out


def same_rows(dsn: str, got_sql: str, reference_sql: str) -> None:
    got = sorted(map(tuple, fetch(dsn, got_sql)), key=repr)
    expected = sorted(map(tuple, fetch(dsn, reference_sql)), key=repr)
    assert got == expected and expected, got_sql


async def test_a_value_in_the_data_filters_its_column(tmp_path: Path, pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    [plan] = await plan_offline(tmp_path, offline_config(shop), "customers in region Alps")
    assert isinstance(plan, Plan), plan
    same_rows(
        shop,
        plan.sql,
        "SELECT c.* FROM customers c JOIN regions r ON r.id = c.region_id WHERE r.name = 'Alps'",
    )


async def test_a_redacted_column_is_never_indexed(tmp_path: Path, pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    config = offline_config(shop, redact_columns=["regions.name"])
    [result] = await plan_offline(tmp_path, config, "customers in region Alps")
    assert isinstance(result, Clarification), result
    assert "alps" in result.question.lower()


async def test_the_issues_named_questions(
    tmp_path: Path, pg_dsn: str, defog_db: Callable[[str], str]
) -> None:
    """Each named question of issue 19 gives the right rows (or, for the shop's spender, a
    question naming the figures that could rank customers)."""
    broker, academic, shop = defog_db("broker"), defog_db("academic"), ensure_shop(pg_dsn)
    state, march = await plan_offline(
        tmp_path / "broker",
        offline_config(broker),
        "How many brokerage customers are there in each state?",
        "which transactions took place in March 2023",
    )
    assert isinstance(state, Plan) and isinstance(march, Plan), (state, march)
    assert any("'brokerage'" in a and "whole database" in a for a in state.assumptions)
    same_rows(broker, state.sql, "SELECT sbcuststate, count(*) FROM sbcustomer GROUP BY 1")
    same_rows(
        broker,
        march.sql,
        "SELECT * FROM sbtransaction WHERE sbtxdatetime >= '2023-03-01' "
        "AND sbtxdatetime < '2023-04-01'",
    )
    per_year, most_cited = await plan_offline(
        tmp_path / "academic",
        offline_config(academic),
        "What is the total number of publications published in each year?",
        "What is the title of the publication that has received the highest number of citations?",
    )
    assert isinstance(per_year, Plan) and isinstance(most_cited, Plan), (per_year, most_cited)
    same_rows(academic, per_year.sql, "SELECT year, count(*) FROM publication GROUP BY year")
    same_rows(
        academic,
        most_cited.sql,
        "SELECT title FROM publication WHERE citation_num = (SELECT max(citation_num) FROM publication)",
    )
    [spender] = await plan_offline(
        tmp_path / "shop", offline_config(shop), "which customer spent the most"
    )
    assert isinstance(spender, Clarification), spender
    assert "price" not in spender.question.split("e.g.")[1]
    assert spender.options[:2] == [
        "total orders.total per customer",
        "total payments.amount per customer",
    ]
