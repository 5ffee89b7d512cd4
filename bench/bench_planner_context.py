"""Schema-context selection time on generated catalogs (300 / 3,000 / 10,000 tables).

    python bench/bench_planner_context.py [--repeat 5]

Prints, per size: the index build (once per catalog fingerprint in the planner), the selection
for a few questions on a built index, and both together (a cold question), in milliseconds
(median of --repeat runs), plus the tokens of the chosen context. `generate_catalog()` is also
used by tests/unit/test_planner_context.py.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocol.messages import (
    Catalog,
    CatalogColumn,
    CatalogForeignKey,
    CatalogTable,
)

DOMAINS = [
    "sales",
    "hr",
    "finance",
    "inventory",
    "crm",
    "logistics",
    "marketing",
    "support",
    "billing",
    "analytics",
    "ops",
    "legal",
]
ENTITIES = [
    "customer",
    "order",
    "order_item",
    "product",
    "invoice",
    "payment",
    "shipment",
    "employee",
    "department",
    "supplier",
    "warehouse",
    "stock_level",
    "campaign",
    "lead",
    "ticket",
    "contract",
    "vendor",
    "price_list",
    "region",
    "store",
    "account",
    "budget",
    "expense",
    "asset",
    "project",
    "task",
    "timesheet",
    "refund",
    "coupon",
    "review",
]
SUFFIXES = [
    "",
    "_archive",
    "_history",
    "_staging",
    "_log",
    "_audit",
    "_snapshot",
    "_v2",
    "_tmp",
    "_daily",
    "_monthly",
    "_backup",
    "_import",
    "_raw",
    "_agg",
]
COLUMN_WORDS = [
    "name",
    "code",
    "status",
    "created_at",
    "updated_at",
    "amount",
    "quantity",
    "price",
    "description",
    "notes",
    "email",
    "phone",
    "city",
    "country",
    "type",
    "category",
    "priority",
    "score",
    "rating",
    "total",
    "discount",
    "tax",
    "currency",
    "start_date",
    "end_date",
    "is_active",
    "version",
    "source",
    "external_ref",
]
TYPES = [
    "integer",
    "bigint",
    "text",
    "character varying(100)",
    "numeric(12,2)",
    "timestamp with time zone",
    "date",
    "boolean",
]


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w.title() for w in words[1:])


def planted_tables() -> list[CatalogTable]:
    """The few tables the test questions are about (a brokerage, named like defog's broker)."""
    col = CatalogColumn
    return [
        CatalogTable(
            schema="broker",
            name="sbCustomer",
            comment="brokerage customers",
            columns=[
                col(name="sbCustId", type_name="character varying(20)"),
                col(name="sbCustName", type_name="character varying(100)"),
                col(name="sbCustEmail", type_name="character varying(100)"),
                col(name="sbCustCountry", type_name="character varying(50)"),
                col(name="sbCustJoinDate", type_name="date"),
            ],
            primary_key=["sbCustId"],
            est_rows=12000,
        ),
        CatalogTable(
            schema="broker",
            name="sbTicker",
            columns=[
                col(name="sbTickerId", type_name="character varying(20)"),
                col(name="sbTickerSymbol", type_name="character varying(10)"),
                col(name="sbTickerName", type_name="character varying(100)"),
                col(name="sbTickerExchange", type_name="character varying(50)"),
            ],
            primary_key=["sbTickerId"],
        ),
        CatalogTable(
            schema="broker",
            name="sbTransaction",
            comment="buy and sell trades",
            columns=[
                col(name="sbTxId", type_name="character varying(50)"),
                col(name="sbTxCustId", type_name="character varying(20)"),
                col(name="sbTxTickerId", type_name="character varying(20)"),
                col(name="sbTxDateTime", type_name="timestamp without time zone"),
                col(name="sbTxType", type_name="tx_type", enum_values=["buy", "sell"]),
                col(name="sbTxShares", type_name="numeric(10,2)"),
                col(name="sbTxAmount", type_name="numeric(10,2)"),
                col(name="sbTxStatus", type_name="character varying(10)"),
            ],
            primary_key=["sbTxId"],
            foreign_keys=[
                CatalogForeignKey(
                    name="tx_cust",
                    columns=["sbTxCustId"],
                    ref_schema="broker",
                    ref_table="sbCustomer",
                    ref_columns=["sbCustId"],
                ),
                CatalogForeignKey(
                    name="tx_ticker",
                    columns=["sbTxTickerId"],
                    ref_schema="broker",
                    ref_table="sbTicker",
                    ref_columns=["sbTickerId"],
                ),
            ],
        ),
    ]


def generate_catalog(n_tables: int, *, seed: int = 7, planted: bool = True) -> Catalog:
    """`n_tables` realistic distractor tables across schemas, FKs to their domain's customer /
    order / product tables, plus (when `planted`) the broker tables of planted_tables()."""
    rnd = random.Random(seed)
    tables: list[CatalogTable] = []
    names: set[tuple[str, str]] = set()
    while len(tables) < n_tables:
        schema = rnd.choice(DOMAINS)
        entity = rnd.choice(ENTITIES)
        suffix = rnd.choice(SUFFIXES) if rnd.random() < 0.8 else f"_{rnd.randint(2015, 2024)}"
        name = f"{entity}{suffix}"
        if rnd.random() < 0.15:
            name = _camel(f"{schema[:2]}_{name}".split("_"))
        if (schema, name) in names:
            name = f"{name}_{len(tables)}"
        names.add((schema, name))
        key = f"{entity}_id"
        cols = [
            CatalogColumn(
                name=key if rnd.random() < 0.7 else "id", type_name="bigint", nullable=False
            )
        ]
        fks: list[CatalogForeignKey] = []
        for ref in rnd.sample(["customer", "order", "product", "employee"], k=rnd.randint(0, 2)):
            if ref != entity:
                cols.append(CatalogColumn(name=f"{ref}_id", type_name="bigint"))
                fks.append(
                    CatalogForeignKey(
                        name=f"fk_{ref}",
                        columns=[f"{ref}_id"],
                        ref_schema=schema,
                        ref_table=ref,
                        ref_columns=[f"{ref}_id"],
                    )
                )
        for word in rnd.sample(COLUMN_WORDS, k=rnd.randint(3, 12)):
            cols.append(CatalogColumn(name=word, type_name=rnd.choice(TYPES)))
        tables.append(
            CatalogTable(
                schema=schema,
                name=name,
                columns=cols,
                primary_key=[cols[0].name],
                foreign_keys=fks,
                est_rows=rnd.randint(0, 2_000_000),
            )
        )
    if planted:
        tables[len(tables) // 2 : len(tables) // 2] = planted_tables()
    return Catalog(
        profile="bench",
        database="bench",
        server_version=180000,
        fingerprint=f"gen-{n_tables}-{seed}",
        search_path=["public"],
        tables=tables,
    )


QUESTIONS = [
    "total transaction amount per customer in 2023",
    "which tickers had the most sell transactions last month",
    "customers who joined in 2024 and their country",
    "how many invoices are overdue by department",
]


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=int, default=4000)
    args = parser.parse_args()
    from actors.planner.context import SchemaIndex
    from actors.planner.words import singular, split_identifier, split_words

    print(f"{'tables':>7} {'build ms':>9} {'select ms':>10} {'cold ms':>8} {'tokens':>7}  chosen")
    for n in (300, 3000, 10000):
        catalog = generate_catalog(n)

        def build(catalog: Catalog = catalog) -> SchemaIndex:
            split_identifier.cache_clear()
            singular.cache_clear()
            split_words.cache_clear()
            return SchemaIndex(catalog)

        build_ms = _median_ms(build, args.repeat)
        index = SchemaIndex(catalog)
        select_ms = statistics.median(
            _median_ms(lambda q=q, ix=index: ix.select(q, budget=args.budget), args.repeat)
            for q in QUESTIONS
        )
        cold_ms = _median_ms(lambda: build().select(QUESTIONS[0], budget=args.budget), args.repeat)
        ctx = index.select(QUESTIONS[0], budget=args.budget)
        chosen = ", ".join(t.name for t in ctx.tables[:4])
        print(
            f"{n:>7} {build_ms:>9.1f} {select_ms:>10.1f} {cold_ms:>8.1f} {ctx.tokens:>7}  {chosen}, ..."
        )


if __name__ == "__main__":
    main()
