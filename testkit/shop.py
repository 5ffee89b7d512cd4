"""The shop catalog the offline planner is tested and benchmarked on, and its questions.

SHOP mirrors SHOP_DDL (tests/integration/test_planner_offline_pg.py loads that DDL into a
real database and runs every SQL of SHOP_CASES there); VALUES is what the executor's value
index would hold for its rows."""

from __future__ import annotations

import datetime as dt

from protocol.messages import (
    Catalog,
    CatalogColumn,
    CatalogForeignKey,
    CatalogIndex,
    CatalogTable,
)

TODAY = dt.date(2024, 6, 15)  # a Saturday: "this week" is 2024-06-10 .. 2024-06-16

SHOP_DDL = """
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled');
CREATE TABLE regions (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE customers (
    id integer PRIMARY KEY, name text NOT NULL, email text, region_id integer REFERENCES regions,
    country text, is_active boolean NOT NULL DEFAULT true,
    created_at timestamp with time zone NOT NULL DEFAULT now());
CREATE TABLE categories (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE products (
    id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2),
    category_id integer REFERENCES categories, created_at timestamp with time zone DEFAULT now());
CREATE TABLE orders (
    id integer PRIMARY KEY, customer_id integer REFERENCES customers, status order_status,
    total numeric(12,2), created_at timestamp with time zone DEFAULT now(),
    shipped_at timestamp with time zone);
CREATE TABLE order_items (
    id integer PRIMARY KEY, order_id integer REFERENCES orders, product_id integer REFERENCES products,
    quantity integer, unit_price numeric(10,2));
CREATE TABLE payments (
    id integer PRIMARY KEY, order_id integer REFERENCES orders, amount numeric(12,2), method text,
    paid_at timestamp with time zone);
CREATE INDEX orders_created_at_idx ON orders (created_at);
INSERT INTO regions VALUES (1, 'North'), (2, 'South'), (3, 'EMEA');
INSERT INTO customers (id, name, email, region_id, country, is_active, created_at) VALUES
    (1, 'Ada', 'ada@example.com', 1, 'Germany', true, '2023-02-01'),
    (2, 'Bob', NULL, 2, 'France', false, '2024-05-03'),
    (3, 'Cy', 'cy@example.com', 3, 'United States', true, '2024-06-14');
INSERT INTO categories VALUES (1, 'Books'), (2, 'Electronics');
INSERT INTO products VALUES (1, 'Novel', 12.50, 1, '2023-01-01'), (2, 'Phone', 499.00, 2, '2024-01-01');
INSERT INTO orders VALUES
    (1, 1, 'delivered', 512.50, '2024-05-10', '2024-05-12'),
    (2, 1, 'shipped', 12.50, '2024-06-14', '2024-06-15'),
    (3, 2, 'cancelled', 499.00, '2023-11-20', NULL);
INSERT INTO order_items VALUES (1, 1, 1, 1, 12.50), (2, 1, 2, 1, 499.00), (3, 2, 1, 1, 12.50),
    (4, 3, 2, 1, 499.00);
INSERT INTO payments VALUES (1, 1, 512.50, 'card', '2024-05-10'), (2, 2, 12.50, 'paypal', '2024-06-14');
"""


def make_col(name: str, type_name: str, **kw: object) -> CatalogColumn:
    return CatalogColumn(name=name, type_name=type_name, **kw)  # type: ignore[arg-type]


def make_table(
    name: str,
    cols: list[CatalogColumn],
    fks: tuple[tuple[str, str, str], ...] = (),
    *,
    schema: str = "public",
    pk: tuple[str, ...] = ("id",),
    indexes: tuple[CatalogIndex, ...] = (),
) -> CatalogTable:
    return CatalogTable(
        schema=schema,
        name=name,
        columns=cols,
        primary_key=list(pk),
        foreign_keys=[
            CatalogForeignKey(
                name=f"{name}_{c}_fkey",
                columns=[c],
                ref_schema=schema,
                ref_table=rt,
                ref_columns=[rc],
            )
            for c, rt, rc in fks
        ],
        indexes=list(indexes),
    )


TS = "timestamp with time zone"
STATUS = ["pending", "paid", "shipped", "delivered", "cancelled"]
SHOP = Catalog(
    profile="shop",
    database="shop",
    server_version=170000,
    fingerprint="shop-v1",
    search_path=["public"],
    tables=[
        make_table(
            "regions", [make_col("id", "integer", nullable=False), make_col("name", "text")]
        ),
        make_table(
            "customers",
            [
                make_col("id", "integer", nullable=False),
                make_col("name", "text"),
                make_col("email", "text"),
                make_col("region_id", "integer"),
                make_col("country", "text"),
                make_col("is_active", "boolean"),
                make_col("created_at", TS),
            ],
            (("region_id", "regions", "id"),),
        ),
        make_table("categories", [make_col("id", "integer"), make_col("name", "text")]),
        make_table(
            "products",
            [
                make_col("id", "integer"),
                make_col("name", "text"),
                make_col("price", "numeric(10,2)"),
                make_col("category_id", "integer"),
                make_col("created_at", TS),
            ],
            (("category_id", "categories", "id"),),
        ),
        make_table(
            "orders",
            [
                make_col("id", "integer"),
                make_col("customer_id", "integer"),
                make_col("status", "order_status", enum_values=STATUS),
                make_col("total", "numeric(12,2)"),
                make_col("created_at", TS),
                make_col("shipped_at", TS),
            ],
            (("customer_id", "customers", "id"),),
            indexes=(
                CatalogIndex(
                    name="orders_pkey",
                    definition="CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)",
                    columns=["id"],
                    unique=True,
                    primary=True,
                    constraint="orders_pkey",
                ),
                CatalogIndex(
                    name="orders_created_at_idx",
                    definition="CREATE INDEX orders_created_at_idx ON public.orders USING btree (created_at)",
                    columns=["created_at"],
                ),
            ),
        ),
        make_table(
            "order_items",
            [
                make_col("id", "integer"),
                make_col("order_id", "integer"),
                make_col("product_id", "integer"),
                make_col("quantity", "integer"),
                make_col("unit_price", "numeric(10,2)"),
            ],
            (("order_id", "orders", "id"), ("product_id", "products", "id")),
        ),
        make_table(
            "payments",
            [
                make_col("id", "integer"),
                make_col("order_id", "integer"),
                make_col("amount", "numeric(12,2)"),
                make_col("method", "text"),
                make_col("paid_at", TS),
            ],
            (("order_id", "orders", "id"),),
        ),
    ],
)

# What the executor's value index would hold for SHOP_DDL's rows (see value_index_sql).
VALUES = {
    ("public", "customers", "country"): ["Germany", "France", "United States"],
    ("public", "payments", "method"): ["card", "paypal", "bank transfer"],
    ("public", "regions", "name"): ["North", "South", "EMEA"],
    ("public", "categories", "name"): ["Books", "Electronics"],
}


SHOP_CASES = [
    ("show latest 20 orders", "SELECT * FROM orders ORDER BY created_at DESC NULLS LAST LIMIT 20"),
    (
        "total revenue last month by region",
        "SELECT regions.name, SUM(orders.total) AS total FROM orders INNER JOIN customers ON orders.customer_id = customers.id INNER JOIN regions ON customers.region_id = regions.id WHERE orders.created_at >= CAST('2024-05-01' AS DATE) AND orders.created_at < CAST('2024-06-01' AS DATE) GROUP BY regions.id, regions.name ORDER BY total DESC NULLS LAST",
    ),
    ("how many orders", "SELECT COUNT(*) AS count FROM orders"),
    (
        "how many orders by status",
        "SELECT status, COUNT(*) AS count FROM orders GROUP BY status ORDER BY count DESC NULLS LAST",
    ),
    (
        "how many customers per region",
        "SELECT regions.name, COUNT(*) AS count FROM customers INNER JOIN regions ON customers.region_id = regions.id GROUP BY regions.id, regions.name ORDER BY count DESC NULLS LAST",
    ),
    ("customers without email", "SELECT * FROM customers WHERE email IS NULL"),
    ("customers with no email", "SELECT * FROM customers WHERE email IS NULL"),
    ("customers with an email", "SELECT * FROM customers WHERE NOT email IS NULL"),
    ("products with price over 100", "SELECT * FROM products WHERE price > 100"),
    ("products with price at least 50", "SELECT * FROM products WHERE price >= 50"),
    ("products with price less than 10", "SELECT * FROM products WHERE price < 10"),
    (
        "products with price between 10 and 20",
        "SELECT * FROM products WHERE price BETWEEN 10 AND 20",
    ),
    ("orders over 100", "SELECT * FROM orders WHERE total > 100"),
    ("customers in Germany", "SELECT * FROM customers WHERE country = 'Germany'"),
    (
        "customers in Germany or France",
        "SELECT * FROM customers WHERE country IN ('Germany', 'France')",
    ),
    ("customers not in Germany", "SELECT * FROM customers WHERE country <> 'Germany'"),
    ("shipped orders", "SELECT * FROM orders WHERE status = 'shipped'"),
    ("orders with status cancelled", "SELECT * FROM orders WHERE status = 'cancelled'"),
    (
        "top 5 customers by revenue",
        "SELECT customers.name, SUM(orders.total) AS total FROM orders INNER JOIN customers ON orders.customer_id = customers.id GROUP BY customers.id, customers.name ORDER BY total DESC NULLS LAST LIMIT 5",
    ),
    ("top 3 products by price", "SELECT * FROM products ORDER BY price DESC NULLS LAST LIMIT 3"),
    (
        "which customer has the most orders",
        "SELECT customers.name, COUNT(*) AS count FROM orders INNER JOIN customers ON orders.customer_id = customers.id GROUP BY customers.id, customers.name ORDER BY count DESC NULLS LAST LIMIT 1",
    ),
    ("most expensive products", "SELECT * FROM products ORDER BY price DESC NULLS LAST LIMIT 10"),
    ("cheapest product", "SELECT * FROM products ORDER BY price ASC LIMIT 1"),
    ("average order value", "SELECT AVG(total) AS avg_total FROM orders"),
    ("average price of products", "SELECT AVG(price) AS avg_price FROM products"),
    ("maximum price of products", "SELECT MAX(price) AS max_price FROM products"),
    (
        "how many orders in 2023",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2023-01-01' AS DATE) AND created_at < CAST('2024-01-01' AS DATE)",
    ),
    (
        "orders in March 2024",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-03-01' AS DATE) AND created_at < CAST('2024-04-01' AS DATE)",
    ),
    (
        "orders between 2024-01-01 and 2024-01-31",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-01-01' AS DATE) AND created_at < CAST('2024-02-01' AS DATE)",
    ),
    (
        "orders since 2024-05-01",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-05-01' AS DATE)",
    ),
    (
        "orders before 2024-01-01",
        "SELECT * FROM orders WHERE created_at < CAST('2024-01-01' AS DATE)",
    ),
    (
        "orders today",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-06-15' AS DATE) AND created_at < CAST('2024-06-16' AS DATE)",
    ),
    (
        "orders yesterday",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-06-14' AS DATE) AND created_at < CAST('2024-06-15' AS DATE)",
    ),
    (
        "how many orders this week",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-06-10' AS DATE) AND created_at < CAST('2024-06-17' AS DATE)",
    ),
    (
        "how many orders last week",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-06-03' AS DATE) AND created_at < CAST('2024-06-10' AS DATE)",
    ),
    (
        "how many orders this month",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-06-01' AS DATE) AND created_at < CAST('2024-07-01' AS DATE)",
    ),
    (
        "how many orders this quarter",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-04-01' AS DATE) AND created_at < CAST('2024-07-01' AS DATE)",
    ),
    (
        "how many orders last quarter",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-01-01' AS DATE) AND created_at < CAST('2024-04-01' AS DATE)",
    ),
    (
        "how many orders this year",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-01-01' AS DATE) AND created_at < CAST('2025-01-01' AS DATE)",
    ),
    (
        "total revenue last year",
        "SELECT SUM(total) AS total FROM orders WHERE created_at >= CAST('2023-01-01' AS DATE) AND created_at < CAST('2024-01-01' AS DATE)",
    ),
    (
        "how many orders in the last 7 days",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-06-08' AS DATE) AND created_at < CAST('2024-06-16' AS DATE)",
    ),
    (
        "orders in the past 3 months",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-03-15' AS DATE) AND created_at < CAST('2024-06-16' AS DATE)",
    ),
    (
        "how many orders in q1 2024",
        "SELECT COUNT(*) AS count FROM orders WHERE created_at >= CAST('2024-01-01' AS DATE) AND created_at < CAST('2024-04-01' AS DATE)",
    ),
    ("active customers", "SELECT * FROM customers WHERE is_active IS TRUE"),
    ("inactive customers", "SELECT * FROM customers WHERE NOT (is_active IS TRUE)"),
    (
        "how many active customers",
        "SELECT COUNT(*) AS count FROM customers WHERE is_active IS TRUE",
    ),
    (
        "how many orders per month",
        "SELECT CAST(DATE_TRUNC('month', created_at) AS DATE) AS month, COUNT(*) AS count FROM orders GROUP BY CAST(DATE_TRUNC('month', created_at) AS DATE) ORDER BY month ASC",
    ),
    (
        "how many customers per month",
        "SELECT CAST(DATE_TRUNC('month', created_at) AS DATE) AS month, COUNT(*) AS count FROM customers GROUP BY CAST(DATE_TRUNC('month', created_at) AS DATE) ORDER BY month ASC",
    ),
    (
        "orders shipped last month",
        "SELECT * FROM orders WHERE shipped_at >= CAST('2024-05-01' AS DATE) AND shipped_at < CAST('2024-06-01' AS DATE)",
    ),
    ("list customer names and emails", "SELECT name, email FROM customers"),
    ("first 20 orders", "SELECT * FROM orders ORDER BY id ASC LIMIT 20"),
    ("oldest customer", "SELECT * FROM customers ORDER BY created_at ASC LIMIT 1"),
    ("newest customers", "SELECT * FROM customers ORDER BY created_at DESC NULLS LAST LIMIT 10"),
    ("latest order", "SELECT * FROM orders ORDER BY created_at DESC NULLS LAST LIMIT 1"),
    ("payments by card", "SELECT * FROM payments WHERE method = 'card'"),
    (
        "how many payments by method",
        "SELECT method, COUNT(*) AS count FROM payments GROUP BY method ORDER BY count DESC NULLS LAST",
    ),
    (
        "total payment amount by method",
        "SELECT method, SUM(amount) AS total_amount FROM payments GROUP BY method ORDER BY total_amount DESC NULLS LAST",
    ),
    (
        "count distinct countries of customers",
        "SELECT COUNT(DISTINCT country) AS distinct_country FROM customers",
    ),
    (
        "how many distinct countries do customers come from",
        "SELECT COUNT(DISTINCT country) AS distinct_country FROM customers",
    ),
    (
        "orders from customers in Germany",
        "SELECT orders.* FROM orders INNER JOIN customers ON orders.customer_id = customers.id WHERE customers.country = 'Germany'",
    ),
    (
        "how many orders from customers in Germany",
        "SELECT COUNT(*) AS count FROM orders INNER JOIN customers ON orders.customer_id = customers.id WHERE customers.country = 'Germany'",
    ),
    (
        "total revenue by country",
        "SELECT customers.country, SUM(orders.total) AS total FROM orders INNER JOIN customers ON orders.customer_id = customers.id GROUP BY customers.country ORDER BY total DESC NULLS LAST",
    ),
    (
        "how many products per category",
        "SELECT categories.name, COUNT(*) AS count FROM products INNER JOIN categories ON products.category_id = categories.id GROUP BY categories.id, categories.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "average price by category",
        "SELECT categories.name, AVG(products.price) AS avg_price FROM products INNER JOIN categories ON products.category_id = categories.id GROUP BY categories.id, categories.name ORDER BY avg_price DESC NULLS LAST",
    ),
    (
        "customers with more than 5 orders",
        "SELECT * FROM customers WHERE (SELECT COUNT(*) FROM orders WHERE orders.customer_id = customers.id) > 5",
    ),
    (
        "customers without orders",
        "SELECT * FROM customers WHERE (SELECT COUNT(*) FROM orders WHERE orders.customer_id = customers.id) = 0",
    ),
    (
        "how many orders per customer",
        "SELECT customers.name, COUNT(*) AS count FROM orders INNER JOIN customers ON orders.customer_id = customers.id GROUP BY customers.id, customers.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "revenue per customer last month",
        "SELECT customers.name, SUM(orders.total) AS total FROM orders INNER JOIN customers ON orders.customer_id = customers.id WHERE orders.created_at >= CAST('2024-05-01' AS DATE) AND orders.created_at < CAST('2024-06-01' AS DATE) GROUP BY customers.id, customers.name ORDER BY total DESC NULLS LAST",
    ),
    (
        "sum of order totals in 2024",
        "SELECT SUM(total) AS total FROM orders WHERE created_at >= CAST('2024-01-01' AS DATE) AND created_at < CAST('2025-01-01' AS DATE)",
    ),
    ("number of customers", "SELECT COUNT(*) AS count FROM customers"),
    ("list all products", "SELECT * FROM products"),
    ("show products sorted by price", "SELECT * FROM products ORDER BY price ASC"),
    (
        "products ordered by price descending",
        "SELECT * FROM products ORDER BY price DESC NULLS LAST",
    ),
    ("order 42", "SELECT * FROM orders WHERE id = 42"),
    (
        "how many orders were delivered",
        "SELECT COUNT(*) AS count FROM orders WHERE status = 'delivered'",
    ),
    ("orders not shipped", "SELECT * FROM orders WHERE status <> 'shipped'"),
    (
        "which product has the highest price",
        "SELECT * FROM products ORDER BY price DESC NULLS LAST LIMIT 1",
    ),
    ("highest price of products", "SELECT MAX(price) AS max_price FROM products"),
    ("products with price at most 50", "SELECT * FROM products WHERE price <= 50"),
    (
        "Show me the latest 20 orders",
        "SELECT * FROM orders ORDER BY created_at DESC NULLS LAST LIMIT 20",
    ),
    (
        "how many orders were delivered last month",
        "SELECT COUNT(*) AS count FROM orders WHERE status = 'delivered' AND (created_at >= CAST('2024-05-01' AS DATE) AND created_at < CAST('2024-06-01' AS DATE))",
    ),
    ("total revenue", "SELECT SUM(total) AS total FROM orders"),
    (
        "how many orders per region",
        "SELECT regions.name, COUNT(*) AS count FROM orders INNER JOIN customers ON orders.customer_id = customers.id INNER JOIN regions ON customers.region_id = regions.id GROUP BY regions.id, regions.name ORDER BY count DESC NULLS LAST",
    ),
    (
        "customers who ordered last month",
        "SELECT DISTINCT customers.* FROM customers INNER JOIN orders ON customers.id = orders.customer_id WHERE orders.created_at >= CAST('2024-05-01' AS DATE) AND orders.created_at < CAST('2024-06-01' AS DATE)",
    ),
    (
        "customers who paid last week",
        "SELECT DISTINCT customers.* FROM customers INNER JOIN orders ON customers.id = orders.customer_id INNER JOIN payments ON orders.id = payments.order_id WHERE payments.paid_at >= CAST('2024-06-03' AS DATE) AND payments.paid_at < CAST('2024-06-10' AS DATE)",
    ),
    (
        "how many customers joined this year",
        "SELECT COUNT(*) AS count FROM customers WHERE created_at >= CAST('2024-01-01' AS DATE) AND created_at < CAST('2025-01-01' AS DATE)",
    ),
    (
        "orders placed last month",
        "SELECT * FROM orders WHERE created_at >= CAST('2024-05-01' AS DATE) AND created_at < CAST('2024-06-01' AS DATE)",
    ),
]
