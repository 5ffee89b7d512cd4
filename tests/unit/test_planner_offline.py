"""Offline planner: question -> SQL over a hand-written shop catalog, clarifications, DDL, fuzzing.

The shop catalog mirrors SHOP_DDL (tests/integration/test_planner_offline_pg.py loads that DDL
into a real database, builds the catalog with the executor's own introspection and runs every
SQL of SHOP_CASES there). Expected SQL is exact: the planner is deterministic, so any change in
what it produces shows up here for review.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.planner.offline import offline_plan, parse_value_index, value_index_sql
from protocol.messages import (
    Catalog,
    CatalogTable,
    Clarification,
    Plan,
    Turn,
)
from testkit.shop import SHOP, SHOP_CASES, TODAY, TS, VALUES, make_col, make_table


def plan(question: str, catalog: Catalog = SHOP, **kw: object) -> Plan | Clarification:
    kw.setdefault("values", VALUES)
    kw.setdefault("today", TODAY)
    return offline_plan(question, catalog, **kw)  # type: ignore[arg-type]


def must_plan(question: str, catalog: Catalog = SHOP, **kw: object) -> Plan:
    result = plan(question, catalog, **kw)
    assert isinstance(result, Plan), f"{question!r} -> Clarification: {result.question}"
    return result


def must_clarify(question: str, catalog: Catalog = SHOP, **kw: object) -> Clarification:
    result = plan(question, catalog, **kw)
    assert isinstance(result, Clarification), f"{question!r} -> Plan: {result.sql}"
    return result


@pytest.mark.parametrize(("question", "sql"), SHOP_CASES, ids=[q for q, _ in SHOP_CASES])
def test_shop_question_gives_sql(question: str, sql: str) -> None:
    result = must_plan(question)
    assert result.sql == sql
    assert result.source == "offline"
    assert result.intent == "read"
    assert result.explanation.endswith(".") and "\n" not in result.explanation
    assert result.tables and all("." in t for t in result.tables)


def test_prd_latest_orders_states_its_assumption() -> None:
    result = must_plan("show latest 20 orders")
    assert result.assumptions == ["'latest' means newest created_at"]
    assert result.tables == ["public.orders"]


def test_prd_revenue_by_region_names_measure_window_and_join() -> None:
    result = must_plan("total revenue last month by region")
    assert "'revenue' means sum(orders.total)" in result.assumptions
    assert any("2024-05-01 to 2024-05-31" in a for a in result.assumptions)
    assert "joins orders to regions through customers" in result.assumptions
    assert result.tables == ["public.orders", "public.customers", "public.regions"]


def test_prd_create_index() -> None:
    bare = Catalog(
        profile="shop",
        database="shop",
        server_version=170000,
        fingerprint="shop-noidx",
        search_path=["public"],
        tables=[t if t.name != "orders" else _no_indexes(t) for t in SHOP.tables],
    )
    result = must_plan("create index on orders(created_at)", bare)
    assert result.sql == "CREATE INDEX orders_created_at_idx ON orders(created_at)"
    assert result.intent == "ddl"
    assert result.down_sql == "DROP INDEX IF EXISTS public.orders_created_at_idx"


def _no_indexes(t: CatalogTable) -> CatalogTable:
    return CatalogTable(
        schema=t.schema,
        name=t.name,
        columns=t.columns,
        primary_key=t.primary_key,
        foreign_keys=t.foreign_keys,
    )


DDL_CASES = [
    (
        "create index on orders(created_at)",
        "CREATE INDEX orders_created_at_idx2 ON orders(created_at)",
    ),
    (
        "create unique index on customers(email)",
        "CREATE UNIQUE INDEX customers_email_key ON customers(email)",
    ),
    (
        "add an index on created_at of payments",
        "CREATE INDEX payments_created_at_idx ON payments(created_at)",
    ),
    (
        "create index on orders (customer_id, created_at)",
        "CREATE INDEX orders_customer_id_created_at_idx ON orders(customer_id, created_at)",
    ),
    ("add index on products.price", "CREATE INDEX products_price_idx ON products(price)"),
    ("drop index orders_created_at_idx", "DROP INDEX public.orders_created_at_idx"),
    ("add column notes text to orders", "ALTER TABLE orders ADD COLUMN notes TEXT"),
    ("add a column gift boolean to orders", "ALTER TABLE orders ADD COLUMN gift BOOLEAN"),
    (
        "add column discount numeric(5,2) to order_items",
        "ALTER TABLE order_items ADD COLUMN discount DECIMAL(5, 2)",
    ),
    ("add column vip to customers", "ALTER TABLE customers ADD COLUMN vip TEXT"),
    ("add column Notes text to orders", 'ALTER TABLE orders ADD COLUMN "Notes" TEXT'),
]


@pytest.mark.parametrize(("question", "sql"), DDL_CASES, ids=[q for q, _ in DDL_CASES])
def test_ddl(question: str, sql: str) -> None:
    if "payments" in question:
        question = question.replace("created_at", "paid_at")
        sql = sql.replace("created_at", "paid_at")
    result = must_plan(question)
    assert result.sql == sql
    assert result.intent == "ddl"
    assert result.down_sql


def test_create_index_warns_about_an_existing_index() -> None:
    result = must_plan("create index on orders(created_at)")
    assert "orders_created_at_idx already covers these columns" in result.assumptions


def test_drop_index_keeps_the_definition_as_undo() -> None:
    result = must_plan("drop index orders_created_at_idx")
    assert result.down_sql.startswith("CREATE INDEX orders_created_at_idx")


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("drop index orders_create_at_idx", "Did you mean orders_created_at_idx"),
        ("drop index orders_pkey", "backs constraint orders_pkey"),
        ("create index on orders(create_at)", "Did you mean created_at"),
        ("create index on ordrs(created_at)", "Did you mean orders"),
        ("add column email text to customers", "already has a column email"),
        ("add column x frobnicate to customers", "do not know the type"),
    ],
)
def test_ddl_that_cannot_be_right_asks(question: str, words: str) -> None:
    assert words in must_clarify(question).question


DBA_CASES = [
    ("list tables", "information_schema.tables"),
    ("what tables are there", "information_schema.tables"),
    ("describe orders", "information_schema.columns"),
    ("show columns of customers", "information_schema.columns"),
    ("show indexes on orders", "pg_catalog.pg_indexes"),
    ("show running queries", "pg_catalog.pg_stat_activity"),
]


@pytest.mark.parametrize(("question", "table"), DBA_CASES, ids=[q for q, _ in DBA_CASES])
def test_dba_reads(question: str, table: str) -> None:
    result = must_plan(question)
    assert table in result.sql
    assert result.intent == "read"


def test_describe_uses_literals_for_names() -> None:
    sql = must_plan("describe orders").sql
    assert "table_schema = 'public' AND table_name = 'orders'" in sql


def test_explain_a_question() -> None:
    result = must_plan("explain how many orders last week")
    assert result.intent == "explain"
    assert result.sql == (
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-06-03' AS DATE) "
        "AND created_at < CAST('2024-06-10' AS DATE)"
    )


def test_explain_given_sql_is_reparsed_not_pasted() -> None:
    result = must_plan("explain select id from orders where total > 5")
    assert result.intent == "explain"
    assert result.sql == "SELECT id FROM orders WHERE total > 5"
    assert isinstance(plan("explain select from where ("), Clarification)


def test_explain_the_previous_query() -> None:
    recent = [Turn(question="how many orders", sql="SELECT count(*) FROM orders")]
    result = must_plan("explain it", recent=recent)
    assert result.intent == "explain" and result.sql == "SELECT count(*) FROM orders"


def test_follow_up_continues_the_previous_question() -> None:
    recent = [Turn(question="how many orders", sql="SELECT COUNT(*) AS count FROM orders")]
    result = must_plan("and by status?", recent=recent)
    assert result.sql == (
        "SELECT status, COUNT(*) AS count FROM orders GROUP BY status ORDER BY count DESC NULLS LAST"
    )
    assert result.assumptions[0] == (
        "follow-up: continues 'how many orders', read as 'how many orders by status'"
    )


# -- clarifications -------------------------------------------------------------------------------


def test_unknown_word_that_matters_names_it_and_the_model() -> None:
    c = must_clarify("what is the churn rate")
    assert "'churn'" in c.question and "configure a model" in c.question


@pytest.mark.parametrize(
    "question",
    [
        "customers in Atlantis",
        "orders from acme",
        "how many unicorns",
        "show me the weather",
        "predict next month's revenue",
        "customers who are happy",
        "products sold last month",  # no date says when a product sold
        "",
        "   ",
        "?",
    ],
)
def test_beyond_the_shapes_asks(question: str) -> None:
    must_clarify(question)


def _catalog(*tables: CatalogTable, name: str = "x") -> Catalog:
    return Catalog(
        profile=name,
        database=name,
        server_version=170000,
        fingerprint=name,
        search_path=["public"],
        tables=list(tables),
    )


def test_two_candidate_tables_are_listed() -> None:
    cols = [make_col("id", "integer"), make_col("name", "text")]
    cat = _catalog(
        make_table("users", cols), make_table("users", cols, schema="archive"), name="two"
    )
    c = must_clarify("how many users", cat)
    assert sorted(c.options) == ["archive.users", "public.users"]


def test_two_date_columns_without_a_hint_are_listed() -> None:
    cat = _catalog(
        make_table(
            "events",
            [make_col("id", "integer"), make_col("starts_on", "date"), make_col("ends_on", "date")],
        ),
        name="events",
    )
    c = must_clarify("events last month", cat)
    assert sorted(c.options) == ["events.ends_on", "events.starts_on"]
    hinted = must_plan("events that ended last month", cat)
    assert "ends_on >= CAST('2024-05-01' AS DATE)" in hinted.sql


def test_two_equally_good_amounts_are_listed() -> None:
    cat = _catalog(
        make_table("invoices", [make_col("id", "integer"), make_col("amount", "numeric")]),
        make_table("refunds", [make_col("id", "integer"), make_col("amount", "numeric")]),
        name="money",
    )
    c = must_clarify("total revenue", cat)
    assert sorted(c.options) == ["invoices.amount", "refunds.amount"]


def test_fan_out_sum_asks_instead_of_double_counting() -> None:
    c = must_clarify("total revenue by category")
    assert "more than once" in c.question


def test_ambiguous_join_is_listed() -> None:
    cat = _catalog(
        make_table("people", [make_col("id", "integer"), make_col("name", "text")]),
        make_table(
            "loans",
            [
                make_col("id", "integer"),
                make_col("lender_id", "integer"),
                make_col("borrower_id", "integer"),
                make_col("amount", "numeric"),
            ],
            (("lender_id", "people", "id"), ("borrower_id", "people", "id")),
        ),
        name="loans",
    )
    c = must_clarify("total amount of loans per people", cat)
    assert len(c.options) == 2


# -- identifiers, literals, schemas ---------------------------------------------------------------

CAMEL = _catalog(
    make_table(
        "sbTransaction",
        [
            make_col("sbTxId", "integer"),
            make_col("sbTxCustId", "integer"),
            make_col("sbTxAmount", "numeric"),
            make_col("sbTxDateTime", "timestamp without time zone"),
            make_col("sbTxType", "text"),
        ],
        pk=("sbTxId",),
    ),
    make_table(
        "sbCustomer",
        [
            make_col("sbCustId", "integer"),
            make_col("sbCustName", "text"),
            make_col("sbCustCountry", "text"),
        ],
        pk=("sbCustId",),
    ),
    make_table(
        "sbTicker",
        [make_col("sbTickerId", "integer"), make_col("sbTickerSymbol", "text")],
        pk=("sbTickerId",),
    ),
    name="camel",
)


def test_mixed_case_identifiers_are_quoted_and_split() -> None:
    result = must_plan("total transaction amount by customer name", CAMEL)
    assert result.sql == (
        'SELECT "sbCustomer"."sbCustName", SUM("sbTransaction"."sbTxAmount") AS "total_sbTxAmount" '
        'FROM "sbTransaction" INNER JOIN "sbCustomer" ON "sbTransaction"."sbTxCustId" = '
        '"sbCustomer"."sbCustId" GROUP BY "sbCustomer"."sbCustName" ORDER BY "total_sbTxAmount" '
        "DESC NULLS LAST"
    )


def test_reserved_words_are_quoted() -> None:
    cat = _catalog(
        make_table(
            "order",
            [make_col("id", "integer"), make_col("user", "text"), make_col("group", "text")],
        ),
        name="reserved",
    )
    assert must_plan("count order per group", cat).sql == (
        'SELECT "group", COUNT(*) AS count FROM "order" GROUP BY "group" ORDER BY count DESC NULLS LAST'
    )


def test_schema_off_the_search_path_is_qualified() -> None:
    cat = Catalog(
        profile="w",
        database="w",
        server_version=170000,
        fingerprint="w",
        search_path=["public"],
        tables=[
            make_table(
                "users",
                [make_col("uid", "bigint"), make_col("country", "text")],
                schema="consumer_div",
                pk=("uid",),
            )
        ],
    )
    assert (
        must_plan("how many users", cat).sql == "SELECT COUNT(*) AS count FROM consumer_div.users"
    )


@pytest.mark.parametrize(
    "evil",
    ["x'; DROP TABLE customers; --", "O'Brien", 'a"b', "\\' OR 1=1 --"],
)
def test_quoted_values_become_literals(evil: str) -> None:
    quote = '"' if "'" in evil else "'"
    result = must_plan(f"customers named {quote}{evil}{quote}")
    escaped = evil.replace("'", "''")
    assert result.sql == f"SELECT * FROM customers WHERE name = '{escaped}'"


def test_value_index_values_match_case_insensitively_and_keep_their_spelling() -> None:
    assert must_plan("customers in united states").sql == (
        "SELECT * FROM customers WHERE country = 'United States'"
    )


def test_enum_labels_need_no_value_index() -> None:
    assert must_plan("cancelled orders", values={}).sql == (
        "SELECT * FROM orders WHERE status = 'cancelled'"
    )


# -- value index ----------------------------------------------------------------------------------


def test_value_index_sql_skips_personal_and_enum_columns() -> None:
    queries = value_index_sql(SHOP)
    text = "\n".join(queries)
    assert "'country'" in text and "'method'" in text and "'name'" in text
    assert "email" not in text  # personal
    assert "'status'" not in text  # enum labels are in the catalog already
    assert all(q.startswith("SELECT ") for q in queries)
    assert "LIMIT 10000" in text and "LIMIT 51" in text


def test_parse_value_index_drops_high_cardinality_columns() -> None:
    rows = [
        ("public", "customers", "country", ["Germany", "France"]),
        ("public", "customers", "name", [f"n{i}" for i in range(51)]),
        ("public", "payments", "method", []),
    ]
    assert parse_value_index(rows) == {("public", "customers", "country"): ["Germany", "France"]}


# -- never raises ---------------------------------------------------------------------------------

_VOCAB = [
    "how many",
    "total",
    "average",
    "by",
    "per",
    "top 5",
    "latest",
    "oldest",
    "first 20",
    "last month",
    "in 2023",
    "since 2024-01-01",
    "between 1 and 2",
    "over 100",
    "without",
    "with a",
    "not",
    "orders",
    "customers",
    "regions",
    "price",
    "status",
    "email",
    "revenue",
    "Germany",
    "shipped",
    "active",
    "'x'",
    '"',
    "most",
    "cheapest",
    "explain",
    "create index on",
    "drop index",
    "(",
    ")",
    "§1",
    "sorted by",
    "descending",
    "each",
    "month",
    "q3 2024",
    "in march",
    "yesterday",
    "42",
    "-1",
    "1e309",
    "🙂",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    assert isinstance(plan(text), Plan | Clarification)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_VOCAB), max_size=12))
def test_random_question_shapes_never_raise(words: list[str]) -> None:
    result = plan(" ".join(words))
    assert isinstance(result, Plan | Clarification)
    if isinstance(result, Plan):
        assert result.sql and result.source == "offline"


def test_planning_a_big_catalog_is_quick() -> None:
    tables = [
        make_table(
            f"t{i}_things",
            [
                make_col("id", "integer"),
                make_col(f"c{i}_amount", "numeric"),
                make_col("created_at", TS),
                make_col("status", "text"),
            ],
        )
        for i in range(500)
    ]
    cat = _catalog(*SHOP.tables, *tables, name="big")
    started = time.perf_counter()
    result = plan("total revenue last month by region", cat)
    elapsed = time.perf_counter() - started
    assert isinstance(result, Plan | Clarification)
    print(f"500-table catalog: {elapsed * 1000:.1f} ms")  # no assertion: machines differ


# -- precision (issue 8): shapes that used to get a wrong answer -----------------------------------

PRECISION_CASES = [
    # negation is kept (NOT EXISTS along the key), never dropped
    (
        "customers who never placed an order",
        "SELECT * FROM customers WHERE (SELECT COUNT(*) FROM orders WHERE orders.customer_id = customers.id) = 0",
    ),
    (
        "products that were never ordered",
        "SELECT * FROM products WHERE (SELECT COUNT(*) FROM order_items WHERE order_items.product_id = products.id) = 0",
    ),
    ("customers who don't have an email", "SELECT * FROM customers WHERE email IS NULL"),
    ("orders not yet shipped", "SELECT * FROM orders WHERE shipped_at IS NULL"),
    ("orders that were never shipped", "SELECT * FROM orders WHERE shipped_at IS NULL"),
    # a reference of the row's own that is empty
    ("products without a category", "SELECT * FROM products WHERE category_id IS NULL"),
    # a column that only filters is not the answer
    ("customers in the Germany country", "SELECT * FROM customers WHERE country = 'Germany'"),
    # averages are rounded to cents only for money
    ("average quantity of order items", "SELECT AVG(quantity) AS avg_quantity FROM order_items"),
    # "product category" is the category of the product
    (
        "total quantity per product category",
        "SELECT categories.name, SUM(order_items.quantity) AS total_quantity FROM order_items INNER JOIN products ON order_items.product_id = products.id INNER JOIN categories ON products.category_id = categories.id GROUP BY categories.id, categories.name ORDER BY total_quantity DESC NULLS LAST",
    ),
    # numbers next to a numeric column compare it
    ("order items with quantity 2", "SELECT * FROM order_items WHERE quantity = 2"),
    (
        "how many order items with 2 quantity",
        "SELECT COUNT(*) AS count FROM order_items WHERE quantity = 2",
    ),
    (
        "the 5 most expensive products",
        "SELECT * FROM products ORDER BY price DESC NULLS LAST LIMIT 5",
    ),
    # a superlative right before the entity ranks its rows
    ("the highest priced product", "SELECT * FROM products ORDER BY price DESC NULLS LAST LIMIT 1"),
    ("highest price of products", "SELECT MAX(price) AS max_price FROM products"),
]


@pytest.mark.parametrize(("question", "sql"), PRECISION_CASES, ids=[q for q, _ in PRECISION_CASES])
def test_precision_cases(question: str, sql: str) -> None:
    assert must_plan(question).sql == sql


@pytest.mark.parametrize(
    "question",
    [
        "orders not in 2024",  # a 'not' with no place must not vanish
        "customers with the highest price",  # many products per customer: total or single?
        "total order items",  # rows, or the sum of quantity?
        "customers who never cancelled",  # never what?
    ],
)
def test_doubtful_shapes_are_asked(question: str) -> None:
    must_clarify(question)


_COUNTS = _catalog(
    make_table("airlines", [make_col("id", "integer"), make_col("name", "text")]),
    make_table(
        "flights",
        [
            make_col("id", "integer"),
            make_col("airline_id", "integer"),
            make_col("stops", "integer"),
            make_col("has_meal", "boolean"),
        ],
        (("airline_id", "airlines", "id"),),
    ),
    make_table(
        "aircraft",
        [make_col("id", "integer"), make_col("engines", "integer"), make_col("name", "text")],
    ),
    make_table(
        "publications",
        [
            make_col("id", "integer"),
            make_col("title", "text"),
            make_col("citation_num", "integer"),
            make_col("score", "numeric(4,1)"),
        ],
    ),
    make_table(
        "checkins",
        [make_col("id", "integer"), make_col("day", "text"), make_col("count", "integer")],
    ),
    make_table("student", [make_col("id", "integer"), make_col("name", "text")]),
    make_table(
        "student_record",
        [make_col("id", "integer"), make_col("student_id", "integer"), make_col("grade", "text")],
        (("student_id", "student", "id"),),
    ),
    name="counts",
)

COUNT_CASES = [
    ("flights with no stops", "SELECT * FROM flights WHERE stops = 0"),
    ("flights with a meal", "SELECT * FROM flights WHERE has_meal IS TRUE"),
    ("aircraft with 4 engines", "SELECT * FROM aircraft WHERE engines = 4"),
    (
        "airlines that never had flights",
        "SELECT * FROM airlines WHERE (SELECT COUNT(*) FROM flights WHERE flights.airline_id = airlines.id) = 0",
    ),
    (
        "total number of citations of all publications",
        "SELECT SUM(citation_num) AS total_citation_num FROM publications",
    ),
    ("the lowest scored publication", "SELECT * FROM publications ORDER BY score ASC LIMIT 1"),
    ("average score of publications", "SELECT AVG(score) AS avg_score FROM publications"),
    (
        "total checkins by day",
        "SELECT day, SUM(count) AS total_count FROM checkins GROUP BY day ORDER BY day ASC",
    ),
    (
        "how many student records by grade",
        "SELECT grade, COUNT(*) AS count FROM student_record GROUP BY grade ORDER BY count DESC NULLS LAST",
    ),
]


@pytest.mark.parametrize(("question", "sql"), COUNT_CASES, ids=[q for q, _ in COUNT_CASES])
def test_count_like_columns_and_phrases(question: str, sql: str) -> None:
    assert must_plan(question, _COUNTS).sql == sql


# -- issue 19: words that do not change the query, and questions that point at the right thing --


def test_the_databases_own_name_narrows_nothing() -> None:
    p = must_plan("how many customers are in the shop database")
    assert p.sql == "SELECT COUNT(*) AS count FROM customers"
    assert "'shop' is taken to mean the whole database (shop), not a filter" in p.assumptions


def test_took_place_is_only_when_it_happened() -> None:
    p = must_plan("payments that took place last month")
    assert "paid_at >= CAST('2024-05-01' AS DATE)" in p.sql and "place" not in p.sql


def test_each_with_a_closing_verb_asks_whether_zero_rows_count() -> None:
    c = must_clarify("how many orders has each customer placed")
    assert c.options == ["every customer, with 0", "only each customer with orders"]
    assert "created_at" not in c.question  # 'placed' is no column to group by


def test_an_average_per_its_own_row_is_one_figure() -> None:
    p = must_plan("average price per product")
    assert p.sql == "SELECT AVG(price) AS avg_price FROM products"


def test_a_question_that_does_not_point_back_is_read_alone() -> None:
    recent = [
        Turn(
            question="number of orders per status",
            sql="SELECT status, COUNT(*) FROM orders GROUP BY status",
        )
    ]
    for question in ("orders placed yesterday", "how many customers are there"):
        alone, with_recent = plan(question), plan(question, recent=recent)
        assert type(alone) is type(with_recent)
        if isinstance(alone, Plan):
            assert isinstance(with_recent, Plan) and with_recent.sql == alone.sql
            assert not any(a.startswith("follow-up") for a in with_recent.assumptions)


def test_a_bare_grouping_continues_the_previous_question() -> None:
    recent = [Turn(question="how many orders", sql="SELECT COUNT(*) FROM orders")]
    p = must_plan("broken down by status", recent=recent)
    assert "GROUP BY status" in p.sql
    assert p.assumptions[0].startswith("follow-up: continues 'how many orders'")
