"""The demo's `shop` generator on a real server: deterministic, consistent, current."""

from __future__ import annotations

import datetime as dt

import pytest

from testkit.pg import afetch, afetchval, arun_sql, dsn_with_database
from ui.demo import DemoServer, ensure_shop

pytestmark = pytest.mark.pg

TABLES = [
    "regions",
    "customers",
    "categories",
    "products",
    "orders",
    "order_items",
    "payments",
    "shipments",
]
TODAY = dt.date(2026, 3, 15)


async def checksum(dsn: str) -> dict[str, str]:
    return {
        t: await afetchval(dsn, f"SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM {t} x")
        for t in TABLES
    }


async def test_generator_is_deterministic_consistent_and_current(tmp_path, pg_dsn):
    server = DemoServer(tmp_path, pg_dsn, started_here=False)
    for name in ("shop_a", "shop_b", "shop_c"):
        await arun_sql(pg_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    try:
        assert ensure_shop(server, scale=3000, seed=0.5, today=TODAY, database="shop_a")
        assert ensure_shop(server, scale=3000, seed=0.5, today=TODAY, database="shop_b")
        assert ensure_shop(server, scale=3000, seed=0.25, today=TODAY, database="shop_c")
        assert not ensure_shop(
            server, scale=3000, seed=0.5, today=TODAY, database="shop_a"
        )  # reused
        a, b, c = (dsn_with_database(pg_dsn, n) for n in ("shop_a", "shop_b", "shop_c"))
        assert await checksum(a) == await checksum(b)
        assert (await checksum(a))["orders"] != (await checksum(c))["orders"]

        counts = {t: await afetchval(a, f"SELECT count(*) FROM {t}") for t in TABLES}
        assert counts["orders"] == 3000 and counts["customers"] == 600 and counts["products"] == 500
        assert counts["order_items"] >= counts["orders"]
        assert (
            await afetchval(
                a,
                "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
            )
            == 0
        )
        assert (
            await afetchval(
                a,
                "SELECT count(*) FROM orders WHERE total <> (SELECT sum(quantity * unit_price) FROM order_items WHERE order_id = orders.id)",
            )
            == 0
        )
        fks = await afetch(
            a,
            "SELECT conrelid::regclass::text, convalidated FROM pg_constraint WHERE contype = 'f'",
        )
        assert len(fks) == 8 and all(v for _t, v in fks)
        lo, hi = (
            await afetch(a, "SELECT min(created_at)::date, max(created_at)::date FROM orders")
        )[0]
        assert TODAY - dt.timedelta(days=731) <= lo and hi == TODAY
        last_month = await afetchval(
            a,
            "SELECT count(*) FROM orders WHERE created_at >= date '2026-02-01' AND created_at < date '2026-03-01'",
        )
        assert last_month > 100
        statuses = {r[0] for r in await afetch(a, "SELECT DISTINCT status::text FROM orders")}
        assert statuses == {"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}
        comments = await afetchval(
            a,
            "SELECT count(*) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid WHERE c.relname = ANY($1)",
            TABLES,
        )
        assert comments >= 12
    finally:
        for name in ("shop_a", "shop_b", "shop_c"):
            await arun_sql(pg_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
