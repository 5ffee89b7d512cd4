"""Offline planner against real catalogs: the defog databases and the shop of the unit tests.

Every catalog here comes from a real database through the executor's own introspection
(`actors.executor.catalog.load_catalog`), the value index through `value_index_sql` run on that
database, and every SQL the planner produces is executed there inside a READ ONLY transaction
(EXPLAIN for explain plans, a rolled-back transaction for DDL) to prove it runs. Expected SQL is
exact; `today` is fixed, so time windows do not move.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from actors.executor.catalog import load_catalog
from actors.planner.offline import offline_plan, parse_value_index, value_index_sql
from protocol.messages import Catalog, Clarification, Plan
from testkit import pg
from testkit.shop import SHOP_CASES, SHOP_DDL
from tests.unit.test_planner_offline import DDL_CASES

pytestmark = pytest.mark.pg

TODAY = dt.date(2024, 6, 15)

_cache: dict[str, tuple[Catalog, dict[tuple[str, str, str], list[str]]]] = {}


async def _introspect(dsn: str, name: str) -> tuple[Catalog, dict[tuple[str, str, str], list[str]]]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        catalog = await load_catalog(pool, name)
        rows: list[Any] = []
        async with pool.acquire() as con, con.transaction(readonly=True):
            for sql in value_index_sql(catalog):
                rows.extend(await con.fetch(sql))
    finally:
        await pool.close()
    return catalog, parse_value_index(rows)


def real_catalog(dsn: str, name: str) -> tuple[Catalog, dict[tuple[str, str, str], list[str]]]:
    if name not in _cache:
        _cache[name] = asyncio.run(_introspect(dsn, name))
    return _cache[name]


async def _execute(dsn: str, plans: list[Plan]) -> list[list[tuple[Any, ...]]]:
    con = await asyncpg.connect(dsn)
    out = []
    try:
        for p in plans:
            if p.intent == "ddl":  # proves it runs, changes nothing
                tr = con.transaction()
                await tr.start()
                try:
                    await con.execute(p.sql)
                finally:
                    await tr.rollback()
                out.append([])
                continue
            async with con.transaction(readonly=True):
                sql = f"EXPLAIN {p.sql}" if p.intent == "explain" else p.sql
                out.append([tuple(r) for r in await con.fetch(sql)])
    finally:
        await con.close()
    return out


def execute(dsn: str, plans: list[Plan]) -> list[list[tuple[Any, ...]]]:
    return asyncio.run(_execute(dsn, plans))


def must_plan(
    question: str, catalog: Catalog, values: dict[tuple[str, str, str], list[str]]
) -> Plan:
    result = offline_plan(question, catalog, values=values, today=TODAY)
    assert isinstance(result, Plan), f"{question!r} -> Clarification: {result.question}"
    return result


# (database, question, expected SQL)
DEFOG_CASES = [
    (
        "broker",
        "how many transactions per ticker",
        "SELECT sbticker.sbtickername, COUNT(*) AS count FROM sbtransaction INNER JOIN sbticker ON sbtransaction.sbtxtickerid = sbticker.sbtickerid GROUP BY sbticker.sbtickerid, sbticker.sbtickername ORDER BY count DESC NULLS LAST",
    ),
    ("broker", "how many customers", "SELECT COUNT(*) AS count FROM sbcustomer"),
    (
        "broker",
        "total transaction amount by customer",
        "SELECT sbcustomer.sbcustname, SUM(sbtransaction.sbtxamount) AS total_sbtxamount FROM sbtransaction INNER JOIN sbcustomer ON sbtransaction.sbtxcustid = sbcustomer.sbcustid GROUP BY sbcustomer.sbcustid, sbcustomer.sbcustname ORDER BY total_sbtxamount DESC NULLS LAST",
    ),
    (
        "broker",
        "how many customers by country",
        "SELECT sbcustcountry, COUNT(*) AS count FROM sbcustomer GROUP BY sbcustcountry ORDER BY count DESC NULLS LAST",
    ),
    (
        "broker",
        "customers who joined in 2023",
        "SELECT * FROM sbcustomer WHERE sbcustjoindate >= CAST('2023-01-01' AS DATE) AND sbcustjoindate < CAST('2024-01-01' AS DATE)",
    ),
    (
        "broker",
        "top 5 tickers by transaction amount",
        "SELECT sbticker.sbtickername, SUM(sbtransaction.sbtxamount) AS total_sbtxamount FROM sbtransaction INNER JOIN sbticker ON sbtransaction.sbtxtickerid = sbticker.sbtickerid GROUP BY sbticker.sbtickerid, sbticker.sbtickername ORDER BY total_sbtxamount DESC NULLS LAST LIMIT 5",
    ),
    (
        "broker",
        "average closing price per ticker",
        "SELECT sbticker.sbtickername, AVG(sbdailyprice.sbdpclose) AS avg_sbdpclose FROM sbdailyprice INNER JOIN sbticker ON sbdailyprice.sbdptickerid = sbticker.sbtickerid GROUP BY sbticker.sbtickerid, sbticker.sbtickername ORDER BY avg_sbdpclose DESC NULLS LAST",
    ),
    (
        "broker",
        "latest 10 transactions",
        "SELECT * FROM sbtransaction ORDER BY sbtxdatetime DESC NULLS LAST LIMIT 10",
    ),
    (
        "broker",
        "how many transactions last month",
        "SELECT COUNT(*) AS count FROM sbtransaction WHERE sbtxdatetime >= CAST('2024-05-01' AS DATE) AND sbtxdatetime < CAST('2024-06-01' AS DATE)",
    ),
    ("broker", "active tickers", "SELECT * FROM sbticker WHERE sbtickerisactive IS TRUE"),
    (
        "broker",
        "customers with status active",
        "SELECT * FROM sbcustomer WHERE sbcuststatus = 'active'",
    ),
    (
        "broker",
        "how many transactions by type",
        "SELECT sbtxtype, COUNT(*) AS count FROM sbtransaction GROUP BY sbtxtype ORDER BY count DESC NULLS LAST",
    ),
    ("broker", "customers from the USA", "SELECT * FROM sbcustomer WHERE sbcustcountry = 'USA'"),
    (
        "broker",
        "how many buy transactions",
        "SELECT COUNT(*) AS count FROM sbtransaction WHERE sbtxtype = 'buy'",
    ),
    (
        "car_dealership",
        "total sales by salesperson last month",
        "SELECT salespersons.first_name, salespersons.last_name, SUM(sales.sale_price) AS total_sale_price FROM sales INNER JOIN salespersons ON sales.salesperson_id = salespersons.id WHERE sales.sale_date >= CAST('2024-05-01' AS DATE) AND sales.sale_date < CAST('2024-06-01' AS DATE) GROUP BY salespersons.id, salespersons.first_name, salespersons.last_name ORDER BY total_sale_price DESC NULLS LAST",
    ),
    (
        "car_dealership",
        "how many cars by make",
        "SELECT make, COUNT(*) AS count FROM cars GROUP BY make ORDER BY count DESC NULLS LAST",
    ),
    (
        "car_dealership",
        "average sale price",
        "SELECT AVG(sale_price) AS avg_sale_price FROM sales",
    ),
    (
        "car_dealership",
        "how many sales per customer",
        "SELECT customers.first_name, customers.last_name, COUNT(*) AS count FROM sales INNER JOIN customers ON sales.customer_id = customers.id GROUP BY customers.id, customers.first_name, customers.last_name ORDER BY count DESC NULLS LAST",
    ),
    (
        "car_dealership",
        "top 3 salespersons by total sales",
        "SELECT salespersons.first_name, salespersons.last_name, SUM(sales.sale_price) AS total_sale_price FROM sales INNER JOIN salespersons ON sales.salesperson_id = salespersons.id GROUP BY salespersons.id, salespersons.first_name, salespersons.last_name ORDER BY total_sale_price DESC NULLS LAST LIMIT 3",
    ),
    (
        "car_dealership",
        "cars sold in 2023",
        "SELECT DISTINCT cars.* FROM cars INNER JOIN sales ON cars.id = sales.car_id WHERE sales.sale_date >= CAST('2023-01-01' AS DATE) AND sales.sale_date < CAST('2024-01-01' AS DATE)",
    ),
    (
        "car_dealership",
        "how many cars are in inventory",
        "SELECT COUNT(DISTINCT cars.id) AS count FROM cars INNER JOIN inventory_snapshots ON cars.id = inventory_snapshots.car_id WHERE inventory_snapshots.is_in_inventory IS TRUE",
    ),
    (
        "car_dealership",
        "payments received by payment method",
        "SELECT payment_method, COUNT(*) AS count FROM payments_received GROUP BY payment_method ORDER BY count DESC NULLS LAST",
    ),
    (
        "car_dealership",
        "total payments made last year",
        "SELECT SUM(payment_amount) AS total_payment_amount FROM payments_made WHERE payment_date >= CAST('2023-01-01' AS DATE) AND payment_date < CAST('2024-01-01' AS DATE)",
    ),
    (
        "car_dealership",
        "salespersons hired after 2020-01-01",
        "SELECT * FROM salespersons WHERE hire_date >= CAST('2020-01-02' AS DATE)",
    ),
    (
        "car_dealership",
        "most expensive cars",
        "SELECT * FROM cars ORDER BY cost DESC NULLS LAST LIMIT 10",
    ),
    (
        "car_dealership",
        "which salesperson has the most sales",
        "SELECT salespersons.first_name, salespersons.last_name, COUNT(*) AS count FROM sales INNER JOIN salespersons ON sales.salesperson_id = salespersons.id GROUP BY salespersons.id, salespersons.first_name, salespersons.last_name ORDER BY count DESC NULLS LAST LIMIT 1",
    ),
    (
        "car_dealership",
        "how many customers per state",
        "SELECT state, COUNT(*) AS count FROM customers GROUP BY state ORDER BY count DESC NULLS LAST",
    ),
    (
        "car_dealership",
        "total sales per month",
        "SELECT CAST(DATE_TRUNC('month', sale_date) AS DATE) AS month, SUM(sale_price) AS total_sale_price FROM sales GROUP BY CAST(DATE_TRUNC('month', sale_date) AS DATE) ORDER BY month ASC",
    ),
    (
        "derm_treatment",
        "how many treatments per drug",
        "SELECT drugs.drug_name, COUNT(*) AS count FROM treatments INNER JOIN drugs ON treatments.drug_id = drugs.drug_id GROUP BY drugs.drug_id, drugs.drug_name ORDER BY count DESC NULLS LAST",
    ),
    (
        "derm_treatment",
        "how many patients by gender",
        "SELECT gender, COUNT(*) AS count FROM patients GROUP BY gender ORDER BY count DESC NULLS LAST",
    ),
    (
        "derm_treatment",
        "average weight of patients",
        "SELECT AVG(weight_kg) AS avg_weight_kg FROM patients",
    ),
    (
        "derm_treatment",
        "how many doctors by specialty",
        "SELECT specialty, COUNT(*) AS count FROM doctors GROUP BY specialty ORDER BY count DESC NULLS LAST",
    ),
    ("derm_treatment", "placebo treatments", "SELECT * FROM treatments WHERE is_placebo IS TRUE"),
    (
        "derm_treatment",
        "how many treatments per doctor specialty",
        "SELECT doctors.specialty, COUNT(*) AS count FROM treatments INNER JOIN doctors ON treatments.doc_id = doctors.doc_id GROUP BY doctors.specialty ORDER BY count DESC NULLS LAST",
    ),
    ("derm_treatment", "patients without email", "SELECT * FROM patients WHERE email IS NULL"),
    ("ewallet", "how many users", "SELECT COUNT(*) AS count FROM consumer_div.users"),
    (
        "ewallet",
        "how many users by country",
        "SELECT country, COUNT(*) AS count FROM consumer_div.users GROUP BY country ORDER BY count DESC NULLS LAST",
    ),
    (
        "ewallet",
        "total transaction amount last month",
        "SELECT SUM(amount) AS total_amount FROM consumer_div.wallet_transactions_daily WHERE created_at >= CAST('2024-05-01' AS DATE) AND created_at < CAST('2024-06-01' AS DATE)",
    ),
    (
        "ewallet",
        "how many notifications per user",
        "SELECT users.username, COUNT(*) AS count FROM consumer_div.notifications INNER JOIN consumer_div.users ON notifications.user_id = users.uid GROUP BY users.uid, users.username ORDER BY count DESC NULLS LAST",
    ),
    (
        "ewallet",
        "how many active coupons",
        "SELECT COUNT(*) AS count FROM consumer_div.coupons WHERE status = 'active'",
    ),
    (
        "ewallet",
        "how many transactions by status",
        "SELECT status, COUNT(*) AS count FROM consumer_div.wallet_transactions_daily GROUP BY status ORDER BY count DESC NULLS LAST",
    ),
    (
        "ewallet",
        "users who signed up in 2023",
        "SELECT * FROM consumer_div.users WHERE created_at >= CAST('2023-01-01' AS DATE) AND created_at < CAST('2024-01-01' AS DATE)",
    ),
    (
        "ewallet",
        "coupons per merchant",
        "SELECT merchants.name, COUNT(*) AS count FROM consumer_div.coupons INNER JOIN consumer_div.merchants ON coupons.merchant_id = merchants.mid GROUP BY merchants.mid, merchants.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "yelp",
        "how many businesses per city",
        "SELECT city, COUNT(*) AS count FROM business GROUP BY city ORDER BY count DESC NULLS LAST",
    ),
    (
        "yelp",
        "average rating of reviews by year",
        "SELECT year, AVG(rating) AS avg_rating FROM review GROUP BY year ORDER BY year ASC",
    ),
    (
        "yelp",
        "how many reviews per business",
        "SELECT business.name, COUNT(*) AS count FROM review INNER JOIN business ON review.business_id = business.business_id GROUP BY business.name ORDER BY count DESC NULLS LAST",
    ),
    ("yelp", "businesses in Los Angeles", "SELECT * FROM business WHERE city = 'Los Angeles'"),
    ("yelp", "open businesses", "SELECT * FROM business WHERE is_open <> 0"),
    (
        "yelp",
        "top 5 businesses by review count",
        "SELECT * FROM business ORDER BY review_count DESC NULLS LAST LIMIT 5",
    ),
    (
        "academic",
        "how many papers per conference",
        "SELECT conference.name, COUNT(*) AS count FROM publication INNER JOIN conference ON publication.cid = conference.cid GROUP BY conference.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "academic",
        "how many publications per author",
        "SELECT author.name, COUNT(DISTINCT publication.pid) AS count FROM publication INNER JOIN writes ON publication.pid = writes.pid INNER JOIN author ON writes.aid = author.aid GROUP BY author.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "academic",
        "authors by organization",
        "SELECT organization.name, COUNT(*) AS count FROM author INNER JOIN organization ON author.oid = organization.oid GROUP BY organization.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "academic",
        "top 10 publications by citation num",
        "SELECT * FROM publication ORDER BY citation_num DESC NULLS LAST LIMIT 10",
    ),
    (
        "scholar",
        "how many papers per year",
        "SELECT year, COUNT(*) AS count FROM paper GROUP BY year ORDER BY year ASC",
    ),
    ("scholar", "papers in 2019", "SELECT * FROM paper WHERE year = 2019"),
    (
        "geography",
        "how many cities per state",
        "SELECT state.state_name, COUNT(*) AS count FROM city INNER JOIN state ON city.state_name = state.state_name GROUP BY state.state_name ORDER BY count DESC NULLS LAST",
    ),
    (
        "geography",
        "states with population over 1000000",
        "SELECT * FROM state WHERE population > 1000000",
    ),
    (
        "geography",
        "total population of cities by state",
        "SELECT state.state_name, SUM(city.population) AS total_population FROM city INNER JOIN state ON city.state_name = state.state_name GROUP BY state.state_name ORDER BY total_population DESC NULLS LAST",
    ),
    (
        "restaurants",
        "how many restaurants per city",
        "SELECT city_name, COUNT(*) AS count FROM restaurant GROUP BY city_name ORDER BY count DESC NULLS LAST",
    ),
    ("restaurants", "restaurants with rating over 4", "SELECT * FROM restaurant WHERE rating > 4"),
    (
        "restaurants",
        "average rating by food type",
        "SELECT food_type, AVG(rating) AS avg_rating FROM restaurant GROUP BY food_type ORDER BY avg_rating DESC NULLS LAST",
    ),
    (
        "advising",
        "how many students per program",
        "SELECT program.name, COUNT(*) AS count FROM student INNER JOIN program ON student.program_id = program.program_id GROUP BY program.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "advising",
        "average gpa of students",
        "SELECT AVG(total_gpa) AS avg_total_gpa FROM student",
    ),
    (
        "advising",
        "how many courses by department",
        "SELECT department, COUNT(*) AS count FROM course GROUP BY department ORDER BY count DESC NULLS LAST",
    ),
    (
        "atis",
        "how many flights per airline",
        "SELECT airline.airline_name, COUNT(*) AS count FROM flight INNER JOIN airline ON flight.airline_code = airline.airline_code GROUP BY airline.airline_name ORDER BY count DESC NULLS LAST",
    ),
    (
        "atis",
        "how many airports per state",
        "SELECT state.state_name, COUNT(*) AS count FROM airport INNER JOIN state ON airport.state_code = state.state_code GROUP BY state.state_name ORDER BY count DESC NULLS LAST",
    ),
    ("atis", "aircraft with capacity over 200", "SELECT * FROM aircraft WHERE capacity > 200"),
]

# Result rows that do not depend on the load date (compared order-free where ties can reorder).
DEFOG_ROWS: dict[tuple[str, str], list[tuple[Any, ...]]] = {
    ("broker", "how many customers"): [(20,)],
    ("broker", "how many transactions by type"): [("buy", 29), ("sell", 27)],
    ("broker", "how many buy transactions"): [(29,)],
    ("car_dealership", "which salesperson has the most sales"): [("Jane", "Smith", 6)],
    ("car_dealership", "how many cars are in inventory"): [(10,)],
    ("derm_treatment", "how many patients by gender"): [("Female", 5), ("Male", 5), ("Others", 1)],
    ("ewallet", "how many users"): [(11,)],
    ("ewallet", "how many active coupons"): [(5,)],
    ("academic", "how many papers per conference"): [("AAAS", 1), ("ICML", 3), ("ISA", 1)],
    ("scholar", "how many papers per year"): [(2019, 2), (2020, 3)],
    ("yelp", "businesses in Los Angeles"): [
        (
            3,
            "ghi789",
            "Anna’s Diner",
            "789 Oak St",
            "Los Angeles",
            "34.052235",
            "-118.243683",
            5,
            0,
            "CA",
        )
    ],
}


@pytest.mark.parametrize("db", sorted({db for db, _q, _s in DEFOG_CASES}))
def test_defog_questions_plan_and_run(db: str, defog_db: Callable[[str], str]) -> None:
    dsn = defog_db(db)
    catalog, values = real_catalog(dsn, db)
    cases = [(q, sql) for d, q, sql in DEFOG_CASES if d == db]
    plans = [must_plan(q, catalog, values) for q, _sql in cases]
    wrong = [(q, p.sql) for (q, sql), p in zip(cases, plans, strict=True) if p.sql != sql]
    assert not wrong, "\n".join(f"{q!r}:\n  {s}" for q, s in wrong)
    results = execute(dsn, plans)
    for (q, _sql), rows in zip(cases, results, strict=True):
        if (db, q) in DEFOG_ROWS:
            assert sorted(rows) == sorted(DEFOG_ROWS[(db, q)]), q


def test_defog_questions_beyond_the_schema_ask(defog_db: Callable[[str], str]) -> None:
    dsn = defog_db("car_dealership")
    catalog, values = real_catalog(dsn, "car_dealership")
    for q in [
        "what is our churn rate",
        "customers in Texas",
        "how happy are customers",
        "forecast sales for next year",
    ]:
        assert isinstance(offline_plan(q, catalog, values=values, today=TODAY), Clarification), q


def test_ewallet_names_are_schema_qualified(defog_db: Callable[[str], str]) -> None:
    catalog, values = real_catalog(defog_db("ewallet"), "ewallet")
    result = must_plan("how many notifications per user", catalog, values)
    assert "FROM consumer_div.notifications INNER JOIN consumer_div.users" in result.sql
    assert result.tables == ["consumer_div.notifications", "consumer_div.users"]


def test_shop_on_a_real_database(pg_db: str) -> None:
    """The hand-written SHOP catalog resembles the real one: same SQL, and it all runs."""
    pg.run_sql(pg_db, SHOP_DDL)
    catalog, values = asyncio.run(_introspect(pg_db, "shop"))
    plans = []
    for question, sql in SHOP_CASES:
        result = must_plan(question, catalog, values)
        assert result.sql == sql, question
        plans.append(result)
    for question, sql in DDL_CASES:
        if "payments" in question:
            question, sql = (
                question.replace("created_at", "paid_at"),
                sql.replace("created_at", "paid_at"),
            )
        plans.append(must_plan(question, catalog, values))
    plans.append(must_plan("explain total revenue last month by region", catalog, values))
    results = dict(zip([id(p) for p in plans], execute(pg_db, plans), strict=True))
    by_question = {q: results[id(p)] for (q, _s), p in zip(SHOP_CASES, plans, strict=False)}
    assert by_question["how many orders"] == [(3,)]
    assert [(r[0], float(r[1])) for r in by_question["total revenue last month by region"]] == [
        ("North", 512.5)
    ]
    assert by_question["customers without email"][0][1] == "Bob"
    assert by_question["how many orders from customers in Germany"] == [(2,)]
