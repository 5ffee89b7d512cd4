"""Follow-ups offline (issue 19), through the real planner actor with no model configured: the
conversation's last plan (PlanRequest.recent) is continued, and the plan says so; what the
offline planner cannot use (pinned facts, a follow-up it cannot combine) is named on the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.config import Config, ProfileConfig
from protocol.messages import Clarification, Plan, PlanRequest, Turn
from testkit.pg import fetch
from tests.integration.test_planner import ask, open_planner_tree, shop_db

pytestmark = pytest.mark.pg
__all__ = ["shop_db"]  # the fixture, shared with test_planner


def turn(question: str, sql: str) -> Turn:
    return Turn(question=question, sql=sql, outcome="1 row")


async def plan_all(
    tmp_path: Path, dsn: str, requests: list[PlanRequest]
) -> list[Plan | Clarification]:
    config = Config(profiles={"p": ProfileConfig(dsn=dsn)})
    out = []
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        for request in requests:
            result, _notices = await ask(client, request)
            assert isinstance(result, Plan | Clarification), result
            out.append(result)
    return out


async def test_follow_ups_continue_the_last_plan(tmp_path: Path, shop_db: str) -> None:
    count = turn("how many orders are there", "SELECT count(*) FROM orders")
    per_year = turn(
        "number of orders per year",
        "SELECT date_trunc('year', created_at), count(*) FROM orders GROUP BY 1",
    )
    by_status = turn(
        "number of orders per status", "SELECT status, count(*) FROM orders GROUP BY 1"
    )
    requests = [
        PlanRequest(question="only the cancelled ones", profile="p", recent=[count]),
        PlanRequest(question="by month instead", profile="p", recent=[count, per_year]),
        PlanRequest(question="and for 2023?", profile="p", recent=[by_status]),
    ]
    cancelled, monthly, in_2023 = await plan_all(tmp_path, shop_db, requests)

    assert isinstance(cancelled, Plan), cancelled
    assert "status = 'cancelled'" in cancelled.sql and "COUNT" in cancelled.sql.upper()
    assert cancelled.assumptions[0].startswith("follow-up: continues 'how many orders are there'")

    assert isinstance(monthly, Plan), monthly
    assert "'month'" in monthly.sql.lower() and "'year'" not in monthly.sql.lower()
    assert "replacing 'per year'" in monthly.assumptions[0], monthly.assumptions

    assert isinstance(in_2023, Plan), in_2023
    assert "GROUP BY status" in in_2023.sql and "2023-01-01" in in_2023.sql
    rows = fetch(shop_db, in_2023.sql)
    assert [(r[0], r[1]) for r in rows] == [("paid", 1)]  # the one 2023 order of the fixture


async def test_a_new_date_replaces_the_old_one(tmp_path: Path, shop_db: str) -> None:
    previous = turn(
        "how many orders in 2024",
        "SELECT count(*) FROM orders WHERE created_at >= '2024-01-01' AND created_at < '2025-01-01'",
    )
    (plan,) = await plan_all(
        tmp_path, shop_db, [PlanRequest(question="and for 2023?", profile="p", recent=[previous])]
    )
    assert isinstance(plan, Plan), plan
    assert "2025-01-01" not in plan.sql and "'2023-01-01'" in plan.sql
    assert "replacing 'in 2024'" in plan.assumptions[0]


async def test_what_cannot_be_used_is_said_not_ignored(tmp_path: Path, shop_db: str) -> None:
    previous = turn("how many orders are there", "SELECT count(*) FROM orders")
    modelled = turn("orders my best friends placed", "SELECT 1")  # a model's turn
    requests = [
        # pins are free text: the offline planner cannot apply them, and says so
        PlanRequest(
            question="how many customers",
            profile="p",
            pins=["revenue means paid orders only"],
        ),
        # looks like a follow-up, the previous question cannot be re-planned offline: the
        # question is planned alone, with a note
        PlanRequest(question="just the customers", profile="p", recent=[modelled]),
        # neither alone nor combined: the question names the previous one
        PlanRequest(question="and the weather?", profile="p", recent=[previous]),
    ]
    pinned, alone, neither = await plan_all(tmp_path, shop_db, requests)
    assert isinstance(pinned, Plan), pinned
    assert any(
        a.startswith("note: pinned facts not applied offline") and "paid orders only" in a
        for a in pinned.assumptions
    ), pinned.assumptions
    assert isinstance(alone, Plan), alone
    assert alone.assumptions[0].startswith("note: planned on its own"), alone.assumptions
    assert "orders my best friends placed" in alone.assumptions[0]
    assert isinstance(neither, Clarification), neither
    assert "follow-up to 'how many orders are there'" in neither.question
