"""Every `read` case of tests/fixtures/guard_cases.jsonl really is a read on PostgreSQL.

Each case runs on a real server inside `BEGIN READ ONLY … ROLLBACK`, in a connection of its
own (so prepared statements, cursors and settings cannot leak between cases). It must succeed,
and afterwards the corpus tables must be exactly as before: same rows (md5 over every row),
same relations, same sequence positions, no advisory locks held.

The schema lives in a database of its own, `guard_corpus`, created (and dropped) here.
Cases with a `requires` field need that extension; they are skipped, naming it, when the
server does not ship it.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from actors.guard import classify

pytestmark = pytest.mark.pg

CASES_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "guard_cases.jsonl"
DATABASE = "guard_corpus"
EXTENSIONS = ("pg_trgm", "fuzzystrmatch", "unaccent")


def _read_cases() -> list[dict[str, Any]]:
    cases = []
    for number, line in enumerate(CASES_PATH.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            case = json.loads(line)
            if case["class"] == "read":
                case["line"] = number
                cases.append(case)
    return cases


READ_CASES = _read_cases()

SCHEMA = """
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES regions);
CREATE TABLE customers (
    id serial PRIMARY KEY, name text NOT NULL, email text, country text, segment text,
    created_at timestamptz NOT NULL DEFAULT now(), attrs jsonb NOT NULL DEFAULT '{}');
CREATE TABLE products (
    id serial PRIMARY KEY, name text NOT NULL, category text, price numeric(10,2), sku text,
    active boolean NOT NULL DEFAULT true, tags text[] NOT NULL DEFAULT '{}');
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int REFERENCES customers, region_id int REFERENCES regions,
    status text NOT NULL, total numeric(12,2) NOT NULL, created_at timestamptz NOT NULL,
    shipped_at timestamptz, meta jsonb NOT NULL DEFAULT '{}', note text);
CREATE TABLE order_items (
    order_id int REFERENCES orders, product_id int REFERENCES products, quantity int NOT NULL,
    unit_price numeric(10,2) NOT NULL);
CREATE TABLE payments (
    id serial PRIMARY KEY, order_id int REFERENCES orders, amount numeric(12,2) NOT NULL,
    method text NOT NULL, paid_at timestamptz NOT NULL);
CREATE TABLE events (
    id bigserial PRIMARY KEY, customer_id int, kind text NOT NULL, payload jsonb NOT NULL,
    occurred_at timestamptz NOT NULL);
CREATE TABLE employees (
    id int PRIMARY KEY, name text NOT NULL, manager_id int REFERENCES employees,
    department text NOT NULL, salary numeric NOT NULL, hired_at date NOT NULL);
CREATE TABLE audit_log (id serial PRIMARY KEY, action text, at timestamptz DEFAULT now());
CREATE SEQUENCE report_seq;
CREATE VIEW order_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY 1;

INSERT INTO regions VALUES (1, 'Europe', NULL), (2, 'Germany', 1), (3, 'France', 1),
    (4, 'Americas', NULL), (5, 'USA', 4);
INSERT INTO customers (name, email, country, segment, created_at, attrs) VALUES
    ('Ada Smith', 'ada@example.com', 'DE', 'retail', now() - interval '400 days',
     '{"tier": "gold", "score": 42}'),
    ('Bob Jones', 'bob@example.com', 'FR', 'retail', now() - interval '200 days', '{"tier": "silver"}'),
    ('Chloé Brûlée', 'chloe@example.org', 'FR', 'b2b', now() - interval '90 days', '{}'),
    ('Dan Smithson', 'dan@example.com', 'US', 'b2b', now() - interval '10 days',
     '{"tier": "gold", "score": 7}'),
    ('Eve Adams', NULL, 'US', 'retail', now() - interval '3 days', '{}');
INSERT INTO products (name, category, price, sku, active, tags) VALUES
    ('Blue shirt', 'apparel', 19.99, 'SH-1', true, '{sale,new}'),
    ('Red shirt', 'apparel', 24.50, 'SH-2', true, '{new}'),
    ('Mug', 'home', 8.00, 'MG-1', true, '{}'),
    ('Lamp', 'home', 45.00, 'LP-1', false, '{sale}');
INSERT INTO orders (customer_id, region_id, status, total, created_at, shipped_at, meta, note)
SELECT 1 + (g % 5), 1 + (g % 5), (ARRAY['shipped', 'delivered', 'cancelled', 'pending'])[1 + g % 4],
       (g * 7.25)::numeric(12,2), now() - make_interval(days => g * 9),
       CASE WHEN g % 4 < 2 THEN now() - make_interval(days => g * 9) + interval '30 hours' END,
       jsonb_build_object('channel', CASE WHEN g % 2 = 0 THEN 'web' ELSE 'store' END,
                          'shipping', jsonb_build_object('city', 'Berlin', 'zip', '10115'),
                          'items', jsonb_build_array('SH-1', 'MG-1'), 'gift', g % 3 = 0),
       CASE WHEN g % 3 = 0 THEN 'gift #birthday' END
FROM generate_series(1, 40) AS g;
INSERT INTO order_items SELECT o.id, 1 + o.id % 4, 1 + o.id % 3, 9.99 FROM orders o;
INSERT INTO payments (order_id, amount, method, paid_at)
SELECT id, total, CASE WHEN id % 2 = 0 THEN 'card' ELSE 'paypal' END, created_at
FROM orders WHERE status <> 'cancelled';
INSERT INTO events (customer_id, kind, payload, occurred_at)
SELECT 1 + g % 5, CASE WHEN g % 3 = 0 THEN 'purchase' ELSE 'view' END,
       jsonb_build_object('page', '/p/' || g % 4, 'items',
                          jsonb_build_array(jsonb_build_object('sku', 'SH-1', 'qty', g % 3))),
       now() - make_interval(hours => g * 5)
FROM generate_series(1, 60) AS g;
INSERT INTO employees VALUES
    (1, 'Grace', NULL, 'eng', 200000, '2015-03-01'), (2, 'Alan', 1, 'eng', 150000, '2018-06-15'),
    (3, 'Linus', 2, 'eng', 120000, '2021-01-10'), (4, 'Barbara', 1, 'sales', 90000, '2019-09-09'),
    (5, 'Ken', 4, 'sales', 85000, '2022-02-02');
INSERT INTO audit_log (action) VALUES ('seed');
ANALYZE;
"""

TABLES = (
    "regions",
    "customers",
    "products",
    "orders",
    "order_items",
    "payments",
    "events",
    "employees",
    "audit_log",
)

STATE_QUERY = (
    "SELECT "
    + ", ".join(
        f"(SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
        f" FROM {table} t) AS {table}"
        for table in TABLES
    )
    + ", (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class"
    " WHERE relnamespace = 'public'::regnamespace) AS relations"
    + ", (SELECT last_value || ':' || is_called FROM report_seq) AS report_seq"
    + ", (SELECT last_value || ':' || is_called FROM orders_id_seq) AS orders_seq"
    + ", (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory') AS advisory_locks"
    + ", (SELECT count(*) FROM pg_prepared_xacts) AS prepared_xacts"
)


def _database_dsn(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


async def _setup(admin_dsn: str) -> tuple[str, set[str]]:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    dsn = _database_dsn(admin_dsn, DATABASE)
    conn = await asyncpg.connect(dsn)
    installed: set[str] = set()
    try:
        for ext in EXTENSIONS:
            try:
                await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
                installed.add(ext)
            except asyncpg.PostgresError:
                pass
        await conn.execute(SCHEMA)
    finally:
        await conn.close()
    return dsn, installed


async def _teardown(admin_dsn: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        await admin.close()


async def _state(conn: asyncpg.Connection) -> dict[str, Any]:
    row = await conn.fetchrow(STATE_QUERY)
    return dict(row)


async def _run_read_only(dsn: str, sql: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `sql` in BEGIN READ ONLY … ROLLBACK; return the state before and after."""
    conn = await asyncpg.connect(dsn)
    try:
        before = await _state(conn)
        await conn.execute("BEGIN READ ONLY")
        try:
            if sql.lstrip().upper().startswith("COPY"):
                # asyncpg runs COPY … TO STDOUT only through its copy-out path.
                await conn._copy_out(sql, io.BytesIO(), None)
            else:
                await conn.execute(sql)  # no arguments: the simple protocol, several statements
        finally:
            await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    check = await asyncpg.connect(dsn)
    try:
        after = await _state(check)
    finally:
        await check.close()
    return before, after


@pytest.fixture(scope="module")
def corpus_db(pg_dsn: str) -> Iterator[tuple[str, set[str]]]:
    dsn, installed = asyncio.run(_setup(pg_dsn))
    try:
        yield dsn, installed
    finally:
        asyncio.run(_teardown(pg_dsn))


def test_corpus_has_enough_reads() -> None:
    assert len(READ_CASES) >= 120


@pytest.mark.parametrize("case", READ_CASES, ids=[f"line{c['line']}" for c in READ_CASES])
def test_read_case_changes_nothing(case: dict[str, Any], corpus_db: tuple[str, set[str]]) -> None:
    dsn, installed = corpus_db
    required = case.get("requires")
    if required and required not in installed:
        pytest.skip(f"needs the {required} extension, which this server does not ship")
    assert classify(case["sql"]).sql_class == "read"
    try:
        before, after = asyncio.run(_run_read_only(dsn, case["sql"]))
    except asyncpg.PostgresError as exc:
        pytest.fail(
            f"read case on line {case['line']} failed on PostgreSQL inside BEGIN READ ONLY:\n"
            f"  {case['sql']}\n  {type(exc).__name__}: {exc}",
            pytrace=False,
        )
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"read case on line {case['line']} changed the database: {changed}"
