"""The semantic check of every plan (issue 19), on the defog databases, the demo shop and a
model-written plan from the scripted OpenAI-protocol server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.executor.catalog import load_catalog
from actors.planner.semantic import check_plan
from bench.bench_offline_accuracy import cached_introspect, ensure_shop, plan_question, rows_match
from protocol.config import ModelConfig
from protocol.messages import Catalog, Clarification, Plan, PlanRequest
from testkit.pg import fetch
from tests.fakes.openai_server import FakeOpenAI, Hang
from tests.integration.test_planner import ask, key_env, model_config, open_planner_tree

pytestmark = pytest.mark.pg
__all__ = ["key_env"]  # the fixture, shared with test_planner


def planned(dsn: str, db: str, question: str) -> Plan | Clarification:
    catalog, values, today = cached_introspect(dsn, db)
    return plan_question(question, catalog, values, today)


def same_rows(dsn: str, got_sql: str, reference_sql: str, *, ordered: bool = False) -> bool:
    got = [tuple(r) for r in fetch(dsn, got_sql)]
    expected = [tuple(r) for r in fetch(dsn, reference_sql)]
    ok, why = rows_match(expected, got, ordered=ordered)
    assert ok, why
    return ok


def test_top_products_by_revenue_uses_line_level_revenue(pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    plan = planned(shop, "shop", "top 5 products by revenue")
    assert isinstance(plan, Plan), plan
    assert "orders.total" not in plan.sql.lower()
    assert any("line-level" in a for a in plan.assumptions), plan.assumptions
    same_rows(
        shop,
        plan.sql,
        "SELECT p.name, sum(oi.quantity * oi.unit_price) AS revenue FROM order_items oi "
        "JOIN products p ON p.id = oi.product_id GROUP BY p.id, p.name ORDER BY revenue DESC LIMIT 5",
        ordered=True,
    )


def test_revenue_leaves_out_cancelled_and_refunded_orders(pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    plan = planned(shop, "shop", "total revenue by region")
    assert isinstance(plan, Plan), plan
    assert any("cancelled, refunded" in a for a in plan.assumptions), plan.assumptions
    same_rows(
        shop,
        plan.sql,
        "SELECT r.name, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "JOIN regions r ON r.id = c.region_id WHERE o.status NOT IN ('cancelled', 'refunded') "
        "GROUP BY r.name",
    )


def test_sales_amount_per_month_measures_sales_not_payments(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("car_dealership")
    plan = planned(dsn, "car_dealership", "total sales amount per month in 2023")
    assert isinstance(plan, Plan), plan
    assert "payment_amount" not in plan.sql and "sale_price" in plan.sql
    assert any(a.startswith("assumes: the measure is sales.sale_price") for a in plan.assumptions)
    same_rows(
        dsn,
        plan.sql,
        "SELECT date_trunc('month', sale_date)::date, sum(sale_price) FROM sales "
        "WHERE sale_date >= '2023-01-01' AND sale_date < '2024-01-01' GROUP BY 1",
    )


def test_lakes_per_state_keeps_every_lake(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("geography")
    plan = planned(dsn, "geography", "How many lakes are there in each state?")
    assert isinstance(plan, Plan), plan
    assert "FULL JOIN" in plan.sql, plan.sql  # "each state": states with 0 lakes too
    rows = fetch(dsn, plan.sql)
    counted = sum(row[-1] for row in rows)
    assert counted == fetch(dsn, "SELECT count(*) FROM lake")[0][0]
    states = {row[0] for row in rows}
    assert states >= {r[0] for r in fetch(dsn, "SELECT state_name FROM state")}
    assert any(row[-1] == 0 for row in rows)


def test_each_category_lists_categories_without_products(pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    plan = planned(shop, "shop", "number of products in each category")
    assert isinstance(plan, Plan), plan
    assert any(a.startswith("assumes: every categories is listed") for a in plan.assumptions)
    same_rows(
        shop,
        plan.sql,
        "SELECT c.name, count(p.id) FROM categories c LEFT JOIN products p "
        "ON p.category_id = c.id GROUP BY c.id, c.name",
    )
    # "per category" keeps the reading of the acceptance set: the categories that have products
    per = planned(shop, "shop", "how many products per category")
    assert isinstance(per, Plan) and "LEFT JOIN" not in per.sql and "FULL" not in per.sql


def test_average_money_is_exact_not_rounded(pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    plan = planned(shop, "shop", "average product price")
    assert isinstance(plan, Plan), plan
    assert "ROUND" not in plan.sql.upper()
    same_rows(shop, plan.sql, "SELECT avg(price) FROM products")


def test_amount_paid_is_a_measure_not_a_status_filter(pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    plan = planned(shop, "shop", "total amount paid by payment method")
    assert isinstance(plan, Plan), plan
    assert "status" not in plan.sql
    same_rows(shop, plan.sql, "SELECT method, sum(amount) FROM payments GROUP BY method")


def test_units_sold_add_up_the_quantity(pg_dsn: str) -> None:
    shop = ensure_shop(pg_dsn)
    plan = planned(shop, "shop", "how many units of each product were sold")
    assert isinstance(plan, Plan), plan
    assert "quantity" in plan.sql and "unit_price" not in plan.sql


def catalog_of(dsn: str) -> Catalog:
    import asyncpg

    async def load() -> Catalog:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            return await load_catalog(pool, "p")
        finally:
            await pool.close()

    return asyncio.run(load())


def test_a_fan_out_without_a_line_measure_becomes_a_question(
    defog_db: Callable[[str], str],
) -> None:
    catalog = catalog_of(defog_db("derm_treatment"))
    plan = Plan(
        sql="SELECT d.drug_name, sum(t.tot_drug_amt) FROM treatments t "
        "JOIN adverse_events a ON a.treatment_id = t.treatment_id "
        "JOIN drugs d ON d.drug_id = t.drug_id GROUP BY d.drug_name",
        source="model",
    )
    result = check_plan(plan, catalog, "total drug amount per drug")
    assert isinstance(result, Clarification), result
    assert "adverse_events" in result.question and "treatments" in result.question
    untouched = Plan(
        sql="SELECT d.drug_name, sum(t.tot_drug_amt) FROM treatments t "
        "JOIN drugs d ON d.drug_id = t.drug_id GROUP BY d.drug_name",
        source="model",
    )
    assert check_plan(untouched, catalog, "total drug amount per drug") == untouched


SHOP_LINES = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
    total numeric(12,2) NOT NULL);
CREATE TABLE order_items (order_id int NOT NULL REFERENCES orders(id), line int,
    sku text NOT NULL, quantity int NOT NULL, unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line));
INSERT INTO customers VALUES (1, 'Ada'), (2, 'Linus');
INSERT INTO orders VALUES (10, 1, 30.00), (11, 2, 5.00);
INSERT INTO order_items VALUES (10, 1, 'pen', 1, 10.00), (10, 2, 'ink', 2, 10.00),
    (11, 1, 'pen', 1, 5.00);
"""


async def test_a_model_written_fan_out_is_rewritten(
    tmp_path: Path, pg_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    from testkit.pg import arun_sql

    await arun_sql(pg_db, SHOP_LINES)
    fake_openai.reply(
        '{"sql": "SELECT order_items.sku, sum(orders.total) AS revenue FROM orders '
        "JOIN order_items ON order_items.order_id = orders.id GROUP BY order_items.sku "
        'ORDER BY revenue DESC", "explanation": "revenue per sku"}'
    )
    config = model_config(pg_db, fake_openai)
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        plan, _ = await ask(client, PlanRequest(question="revenue per sku", profile="p"))
    assert isinstance(plan, Plan) and plan.source == "model", plan
    assert "orders.total" not in plan.sql and "quantity" in plan.sql, plan.sql
    assert any("line-level" in a for a in plan.assumptions), plan.assumptions
    from testkit.pg import afetch

    rows = {row[0]: row[1] for row in await afetch(pg_db, plan.sql)}
    assert rows == {"pen": 15, "ink": 20}  # the fan-out gave pen 35 (30 + 5) and ink 30


async def test_a_silent_model_endpoint_falls_back_to_the_offline_planner(
    tmp_path: Path, pg_db: str, fake_openai: FakeOpenAI, key_env: str
) -> None:
    from testkit.pg import arun_sql

    await arun_sql(pg_db, SHOP_LINES)
    fake_openai.push(Hang())
    config = model_config(pg_db, fake_openai, timeout_s=0.5, max_retries=0)
    assert ModelConfig().timeout_s == 60
    async with open_planner_tree(tmp_path, config) as (_sup, client):
        plan, notices = await ask(client, PlanRequest(question="how many customers", profile="p"))
    assert isinstance(plan, Plan) and plan.source == "offline", plan
    assert "Answered offline: the model did not answer in time." in plan.assumptions
    assert any("did not answer within 0.5 s" in n for n in notices), notices
    assert fake_openai.wait_for_outcome(0) == "client_disconnected"


def test_a_size_word_alone_ranks_by_the_one_column_it_measures(
    defog_db: Callable[[str], str],
) -> None:
    dsn = defog_db("geography")
    river = planned(dsn, "geography", "what is the longest river")
    assert isinstance(river, Plan), river
    assert "ORDER BY length DESC" in river.sql and "LIMIT 1" in river.sql
    same_rows(dsn, river.sql, "SELECT river_name FROM river ORDER BY length DESC LIMIT 1")
    mountain = planned(dsn, "geography", "the highest mountain")
    assert isinstance(mountain, Plan) and "mountain_altitude DESC" in mountain.sql
    # "by area" names the figure itself: no guess from the size word
    assert not isinstance(planned(dsn, "geography", "largest lake by area"), Plan) or (
        "GROUP BY" not in planned(dsn, "geography", "largest lake by area").sql  # type: ignore[union-attr]
    )


def test_every_at_the_start_lists_everything(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("academic")
    plan = planned(dsn, "academic", "show me every keyword")
    assert isinstance(plan, Plan), plan
    same_rows(dsn, plan.sql, "SELECT keyword FROM keyword")


def test_verbs_that_restate_the_relation_do_not_block(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("derm_treatment")
    plan = planned(dsn, "derm_treatment", "drugs given by injection")
    assert isinstance(plan, Plan), plan
    same_rows(dsn, plan.sql, "SELECT drug_name FROM drugs WHERE admin_route = 'injection'")


def test_by_who_did_it_is_one_total_not_a_grouping(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("broker")
    plan = planned(dsn, "broker", "number of transactions by users who joined in the past 70 days")
    assert isinstance(plan, Plan), plan
    assert "GROUP BY" not in plan.sql
    same_rows(
        dsn,
        plan.sql,
        "SELECT count(*) FROM sbtransaction t JOIN sbcustomer c ON c.sbcustid = t.sbtxcustid "
        "WHERE c.sbcustjoindate >= CURRENT_DATE - 70",
    )


def test_an_attribute_of_each_row_is_a_listing_with_names(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("geography")
    plan = planned(dsn, "geography", "what is the capital of each state")
    assert isinstance(plan, Plan), plan
    assert "GROUP BY" not in plan.sql
    same_rows(dsn, plan.sql, "SELECT state_name, capital FROM state")


def test_other_forms_of_a_value_filter_on_it(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("ewallet")
    plan = planned(dsn, "ewallet", "total amount of successful transactions")
    assert isinstance(plan, Plan), plan
    same_rows(
        dsn,
        plan.sql,
        "SELECT sum(amount) FROM consumer_div.wallet_transactions_daily WHERE status = 'success'",
    )
    broker = defog_db("broker")
    failed = planned(broker, "broker", "failed transactions")
    assert isinstance(failed, Plan) and "'fail'" in failed.sql, failed
