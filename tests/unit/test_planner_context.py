"""Schema context selection: identifier splitting, ranking, FK paths, budget, rendering."""

from __future__ import annotations

import pytest

from actors.planner.context import (
    SchemaIndex,
    context_for_question,
    estimate_tokens,
    tables_in_sql,
)
from actors.planner.schema_text import render_table, short_type
from actors.planner.terms import question_terms
from actors.planner.words import singular, split_identifier
from bench.bench_planner_context import generate_catalog
from protocol.messages import Catalog, CatalogColumn, CatalogForeignKey, CatalogTable, Turn


def col(name: str, type_name: str = "integer", **kw: object) -> CatalogColumn:
    return CatalogColumn(name=name, type_name=type_name, **kw)  # type: ignore[arg-type]


def fk(column: str, table: str, ref: str = "id", schema: str = "public") -> CatalogForeignKey:
    return CatalogForeignKey(
        name=f"fk_{column}", columns=[column], ref_schema=schema, ref_table=table, ref_columns=[ref]
    )


def table(name: str, *columns: CatalogColumn, schema: str = "public", **kw: object) -> CatalogTable:
    return CatalogTable(schema=schema, name=name, columns=list(columns), **kw)  # type: ignore[arg-type]


def catalog(*tables: CatalogTable, search_path: list[str] | None = None) -> Catalog:
    return Catalog(
        profile="p",
        database="d",
        server_version=180000,
        fingerprint="f",
        search_path=search_path or ["public"],
        tables=list(tables),
    )


SHOP = catalog(
    table(
        "customers",
        col("id"),
        col("full_name", "text"),
        col("email", "text"),
        col("country", "character varying(2)"),
        primary_key=["id"],
        comment="people who registered an account",
    ),
    table(
        "orders",
        col("id"),
        col("customer_id"),
        col("status", "order_status", enum_values=["new", "paid", "shipped"]),
        col("total", "numeric(12,2)", comment="in cents, tax included"),
        col("created_at", "timestamp with time zone"),
        primary_key=["id"],
        foreign_keys=[fk("customer_id", "customers")],
        est_rows=12_345,
    ),
    table(
        "order_items",
        col("order_id"),
        col("product_id"),
        col("qty"),
        primary_key=["order_id", "product_id"],
        foreign_keys=[fk("order_id", "orders"), fk("product_id", "products")],
    ),
    table(
        "products",
        col("id"),
        col("title", "text"),
        col("price", "numeric(10,2)"),
        primary_key=["id"],
    ),
    table("warehouses", col("id"), col("city", "text"), primary_key=["id"]),
    table(
        "shipping_zones",
        col("id"),
        col("zone_code", "text"),
        primary_key=["id"],
        comment="delivery regions for couriers",
    ),
)


# -- words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("sbTxAmount", ("sb", "tx", "amount")),
        ("order_items", ("order", "item")),
        ("HTTPServerLogs", ("http", "server", "log")),
        ("customer2023_archive", ("customer", "archive")),
        ("Categories", ("category",)),
        ("addresses", ("address",)),
        ("statuses", ("status",)),
        ("boxes", ("box",)),
        ("status", ("status",)),
        ("analysis", ("analysis",)),
    ],
)
def test_split_identifier(name: str, words: tuple[str, ...]) -> None:
    assert split_identifier(name) == words


def test_question_terms_drop_function_words_and_fold_plurals() -> None:
    assert question_terms("Show me the total of all paid orders per customer!") == [
        "total",
        "paid",
        "order",
        "customer",
    ]
    assert singular("companies") == "company" and singular("bus") == "bus"


# -- rendering -----------------------------------------------------------------------------------


def test_render_one_line_per_table_with_keys_enums_comments() -> None:
    orders = SHOP.tables[1]
    assert render_table(orders) == (
        "orders(id int PK, customer_id int ->customers.id, status order_status{new|paid|shipped}, "
        "total numeric(12,2) [in cents, tax included], created_at timestamptz) -- ~12k rows"
    )
    items = SHOP.tables[2]
    assert render_table(items) == (
        "order_items(order_id int ->orders.id, product_id int ->products.id, qty int, "
        "PK (order_id,product_id))"
    )
    assert render_table(orders, qualified=True).startswith("public.orders(")
    assert "->public.customers.id" in render_table(orders, qualified=True)


def test_render_views_composite_fks_long_comments_and_hidden_columns() -> None:
    view = table("v_sales", col("d", "date"), kind="view", comment="x" * 200)
    line = render_table(view)
    assert line.startswith("view v_sales(d date) -- ") and line.endswith("…") and len(line) < 120
    composite = table(
        "t",
        col("a"),
        col("b"),
        foreign_keys=[
            CatalogForeignKey(
                name="f",
                columns=["a", "b"],
                ref_schema="public",
                ref_table="u",
                ref_columns=["x", "y"],
            )
        ],
    )
    assert render_table(composite) == "t(a int, b int, FK (a,b)->u(x,y))"
    assert render_table(composite, columns=["b"]) == "t(b int, +1 more, FK (a,b)->u(x,y))"
    assert short_type("character varying(20)") == "varchar(20)"
    assert short_type("timestamp without time zone") == "timestamp"
    assert short_type("double precision[]") == "float8[]"


# -- selection -----------------------------------------------------------------------------------


def test_whole_schema_when_it_fits() -> None:
    ctx = SchemaIndex(SHOP).select("anything at all", budget=4000)
    assert ctx.whole and len(ctx.tables) == len(SHOP.tables)
    assert [t.name for t in ctx.tables] == [t.name for t in SHOP.tables]  # catalog order
    assert ctx.tokens == estimate_tokens(ctx.text) <= 4000
    assert not ctx.qualified and "public." not in ctx.text


def test_names_are_qualified_when_several_schemas() -> None:
    two = catalog(
        table("orders", col("id"), schema="sales"), table("orders", col("id"), schema="archive")
    )
    ctx = SchemaIndex(two).select("orders", budget=4000)
    assert ctx.qualified and "sales.orders(" in ctx.text and "archive.orders(" in ctx.text
    off_path = catalog(table("t", col("id"), schema="app"))
    assert SchemaIndex(off_path).qualified  # its only schema is not on the search_path


def test_ranking_uses_names_plurals_comments_and_enum_values() -> None:
    index = SchemaIndex(SHOP)

    def top(q: str) -> str:
        return max(index.score(q).items(), key=lambda kv: kv[1])[0]

    names = [t.name for t in SHOP.tables]
    assert names[top("list the products")] == "products"
    assert names[top("which orders are shipped")] == "orders"  # enum value + plural
    assert names[top("couriers delivery")] == "shipping_zones"  # table comment
    assert names[top("who registered")] == "customers"  # table comment
    assert names[top("quantities of each item")] == "order_items"  # qty abbreviation, plural


def test_abbreviations_and_camel_case_identifiers() -> None:
    index = SchemaIndex(generate_catalog(300))
    ctx = index.select("total transaction amount per customer", budget=800)
    chosen = [t.name for t in ctx.tables]
    assert chosen[:2] == ["sbTransaction", "sbCustomer"]


def test_fk_paths_join_the_chosen_tables() -> None:
    fillers = [table(f"audit_{i}", col("id"), col("note", "text")) for i in range(40)]
    library = catalog(
        table("authors", col("id"), col("full_name", "text"), primary_key=["id"]),
        table(
            "x_ab",
            col("a_ref"),
            col("b_ref"),
            foreign_keys=[fk("a_ref", "authors"), fk("b_ref", "books")],
        ),
        table("books", col("id"), col("title", "text"), primary_key=["id"]),
        table("genres", col("id"), col("label", "text"), primary_key=["id"]),
        *fillers,
    )
    ctx = SchemaIndex(library).select("authors and the titles of their books", budget=120)
    by_name = {t.name: t for t in ctx.tables}
    assert by_name["authors"].reason == "match" and by_name["books"].reason == "match"
    assert by_name["x_ab"].reason == "join path"  # nothing in it matches the question
    assert "genres" not in by_name and "audit_1" not in by_name
    assert ctx.tokens <= 120 and not ctx.whole


@pytest.mark.parametrize("budget", [60, 100, 200, 400, 1000, 2000])
def test_the_budget_is_never_exceeded(budget: int) -> None:
    index = SchemaIndex(generate_catalog(500))
    ctx = index.select("sell transactions by ticker symbol", budget=budget)
    assert ctx.tokens <= budget
    assert ctx.text.count("\n") == len(ctx.tables)


def test_a_wide_table_shows_keys_and_matching_columns_first() -> None:
    cols = (
        [col("id")]
        + [col(f"attr_{i}", "text") for i in range(80)]
        + [col("discount_rate", "numeric")]
    )
    wide = catalog(
        table("pricing", *cols, primary_key=["id"]),
        *[table(f"t{i}", col("id")) for i in range(300)],
    )
    ctx = SchemaIndex(wide).select("pricing discount rate", budget=300)
    first = ctx.tables[0]
    assert first.name == "pricing" and "id" in first.columns and "discount_rate" in first.columns
    assert len(first.columns) == 30
    assert "+52 more" in ctx.text.splitlines()[1]


def test_generated_3000_table_catalog_chooses_the_relevant_tables() -> None:
    index = SchemaIndex(generate_catalog(3000))
    assert len(index.entries) == 3003 and index.qualified
    ctx = index.select("total transaction amount per customer in 2023", budget=4000)
    names = [f"{t.schema}.{t.name}" for t in ctx.tables]
    assert names[:2] == ["broker.sbTransaction", "broker.sbCustomer"]
    assert "broker.sbTransaction(" in ctx.text and "sbTxAmount numeric(10,2)" in ctx.text
    assert ctx.tokens <= 4000 and not ctx.whole and ctx.total_tables == 3003
    tickers = index.select("which ticker symbols had the most sell trades", budget=2000)
    top = [t.name for t in tickers.tables[:4]]
    assert (
        "sbTicker" in top and "sbTransaction" in top
    )  # 'sell' is an enum value, 'trades' a comment


def test_follow_up_keeps_the_tables_of_the_previous_turn() -> None:
    index = SchemaIndex(generate_catalog(3000))
    recent = [
        Turn(
            question="total transaction amount per customer",
            sql='SELECT c."sbCustName", sum(t."sbTxAmount") FROM broker."sbTransaction" t '
            'JOIN broker."sbCustomer" c ON c."sbCustId" = t."sbTxCustId" GROUP BY 1',
        )
    ]
    ctx = context_for_question(index, "now only for 2023", budget=1000, recent=recent)
    assert [t.name for t in ctx.tables[:2]] == ["sbTransaction", "sbCustomer"]
    assert ctx.tables[0].reason == "recent"
    assert tables_in_sql(index, recent[0].sql) == ["broker.sbtransaction", "broker.sbcustomer"]


def test_tools_list_and_describe_from_the_catalog() -> None:
    index = SchemaIndex(SHOP)
    listing = index.list_tables("zones")
    assert listing.splitlines()[0] == "shipping_zones (2 columns) -- delivery regions for couriers"
    assert "customers (4 columns)" in index.list_tables()
    described = index.describe("orders")
    assert described.splitlines()[0] == "table orders"
    assert "  customer_id int ->customers.id" in described
    assert "Did you mean order_items, orders?" in index.describe(
        "order_itemz"
    ) or "Did you mean" in index.describe("order_itemz")


# -- folded names, junctions, schema coherence, budget fill -----------------------------------


def _broker(schema: str = "broker") -> list[CatalogTable]:
    """defog's broker as the server shows it: CamelCase folded to lower case, no FKs."""
    v = "character varying(20)"
    return [
        table(
            "sbcustomer",
            col("sbcustid", v),
            col("sbcustname", v),
            col("sbcuststate", v),
            col("sbcustjoindate", "date"),
            schema=schema,
            primary_key=["sbcustid"],
        ),
        table(
            "sbticker",
            col("sbtickerid", v),
            col("sbtickersymbol", v),
            col("sbtickerexchange", v),
            schema=schema,
            primary_key=["sbtickerid"],
        ),
        table(
            "sbtransaction",
            col("sbtxid", v),
            col("sbtxcustid", v),
            col("sbtxtickerid", v),
            col("sbtxamount", "numeric"),
            col("sbtxstatus", v),
            schema=schema,
            primary_key=["sbtxid"],
        ),
        table(
            "sbdailyprice",
            col("sbdptickerid", v),
            col("sbdpdate", "date"),
            col("sbdpclose", "numeric"),
            schema=schema,
        ),
    ]


def _noise(n: int, schema: str = "noise") -> list[CatalogTable]:
    words = ["customer", "order", "price", "daily", "region", "ticket", "product", "amount"]
    return [
        table(
            f"{words[i % len(words)]}_{['archive', 'daily', 'log', 'raw'][i % 4]}_{i}",
            col(f"{words[(i + 1) % len(words)]}_id"),
            col("name", "text"),
            col("status", "text"),
            col("amount", "numeric"),
            col("created_at", "date"),
            schema=schema,
        )
        for i in range(n)
    ]


def test_segment_splits_a_folded_word_into_known_words_only() -> None:
    from actors.planner.folding import schema_prefix, segment

    assert segment("dailyprice", {"daily", "price"}) == ("daily", "price")
    assert segment("tickerid", {"ticker"}) == ("ticker", "id")
    assert segment("customer", {"custom"}) is None  # "er" is no word: it stays whole
    assert segment("sbdp", {"daily"}) is None and segment("price", {"price"}) is None
    names = ["sbcustomer", "sbticker", "sbtransaction", "sbdailyprice"]
    assert schema_prefix(names, {"customer"}) == "sb"
    assert schema_prefix(["orderitems", "orderlines", "orderhistory"], {"order"}) == ""
    assert split_identifier("sbcustomer") == ("sbcustomer",)  # the plain splitter is unchanged


def test_folded_lower_case_names_are_split_with_the_catalogs_own_words() -> None:
    index = SchemaIndex(catalog(*_broker(), *_noise(40)))
    words = {e.table.name: e.name_terms for e in index.entries if e.table.schema == "broker"}
    assert words == {
        "sbcustomer": ("customer",),
        "sbticker": ("ticker",),
        "sbtransaction": ("transaction",),
        "sbdailyprice": ("daily", "price"),
    }
    tx = next(e for e in index.entries if e.table.name == "sbtransaction")
    assert tx.col_terms[3][:2] == ("tx", "amount") and tx.col_terms[1][:3] == ("tx", "cust", "id")
    ctx = index.select("how many tickers are there", budget=200)
    assert ctx.tables[0].name == "sbticker"
    ctx = index.select("highest closing price", budget=200)
    assert ctx.tables[0].name == "sbdailyprice"


def test_a_question_word_inside_an_unsplittable_name_still_matches() -> None:
    odd = catalog(table("tblxwidgetzz", col("k")), *_noise(30, schema="public"))
    index = SchemaIndex(odd)
    scores = index.score("how many widgets")
    assert [index.entries[i].table.name for i in scores] == ["tblxwidgetzz"]


def test_junction_tables_without_foreign_keys_join_the_chosen_tables() -> None:
    academic = [
        table(
            "author",
            col("aid", "bigint"),
            col("name", "text"),
            col("oid", "bigint"),
            schema="academic",
        ),
        table(
            "publication",
            col("pid", "bigint"),
            col("title", "text"),
            col("cid", "bigint"),
            schema="academic",
        ),
        table("writes", col("aid", "bigint"), col("pid", "bigint"), schema="academic"),
        table("domain_author", col("aid", "bigint"), col("did", "bigint"), schema="academic"),
    ]
    index = SchemaIndex(catalog(*academic, *_noise(60)))
    ctx = index.select("titles of publications by author name", budget=150)
    by_name = {t.name: t for t in ctx.tables}
    assert by_name["writes"].reason == "join path"  # aid of author, pid of publication
    assert ctx.tokens <= 150


def test_the_schema_of_the_strongest_matches_goes_first_and_fills_the_budget() -> None:
    shop = [
        table(
            "customers",
            col("id"),
            col("name", "text"),
            col("region_id"),
            schema="shop",
            primary_key=["id"],
            foreign_keys=[fk("region_id", "regions", schema="shop")],
            comment="people who buy from the shop",
        ),
        table(
            "orders",
            col("id"),
            col("customer_id"),
            col("total", "numeric"),
            schema="shop",
            primary_key=["id"],
            foreign_keys=[fk("customer_id", "customers", schema="shop")],
            comment="one row per order a customer placed",
        ),
        table("regions", col("id"), col("name", "text"), schema="shop", primary_key=["id"]),
        table("shipments", col("id"), col("carrier", "text"), schema="shop", primary_key=["id"]),
    ]
    index = SchemaIndex(catalog(*_noise(200), *shop, *_noise(200, schema="crm")))
    ctx = index.select("orders per customer", budget=400)
    names = [f"{t.schema}.{t.name}" for t in ctx.tables]
    assert names[:2] == ["shop.orders", "shop.customers"], names
    reasons = {t.name: t.reason for t in ctx.tables if t.schema == "shop"}
    assert reasons["regions"] == "same schema" and reasons["shipments"] == "same schema"
    assert ctx.tokens <= 400
    # exact names beat suffixed lookalikes: `customers` over `customer_archive_0`
    scores = index.score("customers")
    best = max(scores, key=scores.__getitem__)
    assert index.entries[best].table.name == "customers"


def test_a_single_schema_catalog_is_not_filled_with_unrelated_tables() -> None:
    shop = catalog(
        *SHOP.tables, *[table(f"audit_{i}", col("id"), col("note", "text")) for i in range(60)]
    )
    ctx = SchemaIndex(shop).select("orders per customer", budget=300)
    assert not any(t.name.startswith("audit_") for t in ctx.tables)
    assert {"orders", "customers"} <= {t.name for t in ctx.tables}
