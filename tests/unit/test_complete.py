"""Tab completion (ui/complete.py) and psql meta-commands (ui/meta.py) on a catalog, and the
popup in the reducer: it never takes the keyboard."""

from __future__ import annotations

from protocol.messages import Catalog
from testkit.shop import make_col, make_table
from tests.unit.test_ui_state import keys, new
from ui import complete as C
from ui import keys as K
from ui import meta
from ui import state as S

CATALOG = Catalog(
    profile="demo",
    database="shop",
    server_version=170002,
    fingerprint="f",
    search_path=["public"],
    tables=[
        make_table("customers", [make_col("id", "int4"), make_col("name", "text")]),
        make_table(
            "orders",
            [make_col("id", "int4"), make_col("customer_id", "int4"), make_col("status", "text")],
            (("customer_id", "customers", "id"),),
        ),
        make_table("order_items", [make_col("order_id", "int4"), make_col("qty", "int4")]),
        make_table("ledger", [make_col("Amount", "numeric")], schema="Finance"),
    ],
)


def comp(text: str) -> C.Completion | None:
    return C.complete(
        text,
        len(text),
        catalog=CATALOG,
        commands=["/sql ", "/split "],
        meta=sorted(meta.KNOWN),
        profiles=["demo", "other"],
    )


def test_tables_after_from_and_join_columns_after_alias_dot() -> None:
    assert comp("/sql select * from ord").items == ["order_items", "orders"]  # type: ignore[union-attr]
    assert comp("select * from orders o join cus").items == ["customers"]  # type: ignore[union-attr]
    found = comp("select o.st")
    assert found is None or "status" not in found.items  # no table named o yet
    text = "select o. from orders o"
    found = C.complete(text, len("select o."), catalog=CATALOG, commands=[], meta=[], profiles=[])
    assert found is not None and found.items == ["id", "customer_id", "status"]
    assert comp('select * from "Finance".le').items == ["ledger"]  # type: ignore[union-attr]
    assert comp("select * from Finance.").items == ["ledger"]  # type: ignore[union-attr]


def test_columns_of_named_tables_then_keywords() -> None:
    found = comp("select * from orders where sta")
    assert found is not None and found.items[0] == "status"
    assert comp("SEL").items[0] == "SELECT"  # type: ignore[union-attr]
    assert comp("/sp").items == ["/split "]  # type: ignore[union-attr]
    assert comp("/use ot").items == ["other"]  # type: ignore[union-attr]
    assert comp("\\dt").items[0] == "\\dt"  # type: ignore[union-attr]


def test_tab_inserts_a_single_candidate_and_the_popup_never_blocks_typing() -> None:
    st = new()
    st.catalogs["demo"] = CATALOG
    keys(st, "/sql select * from cust", K.TAB)
    assert st.input == "/sql select * from customers" and st.popup is None
    keys(st, " c", K.CTRL_U)
    keys(st, "/sql select * from ord", K.TAB)
    assert st.input == "/sql select * from order" and st.popup is not None  # common start
    keys(st, "_")  # typing goes on and re-filters
    assert st.input == "/sql select * from order_"
    assert st.popup is not None and st.popup.items == ["order_items"]
    keys(st, K.ENTER)  # takes the selected candidate, does not submit
    assert st.input == "/sql select * from order_items" and st.popup is None and not st.outbox
    keys(st, K.CTRL_U, '/sql select * from "Finance".le', K.TAB)
    assert st.input == '/sql select * from "Finance".ledger'


def test_meta_answers_from_the_catalog() -> None:
    ans = meta.answer(CATALOG, "\\dt", "")
    assert [r[1] for r in ans.rows] == ["ledger", "customers", "order_items", "orders"]
    ans = meta.answer(CATALOG, "\\dt", "ord*")
    assert [r[1] for r in ans.rows] == ["order_items", "orders"]
    ans = meta.answer(CATALOG, "\\d", "orders")
    assert [r[0] for r in ans.rows] == ["id", "customer_id", "status"]
    assert any("REFERENCES public.customers(id)" in line for line in ans.lines)
    assert any("Referenced by" in line for line in meta.answer(CATALOG, "\\d", "customers").lines)
    assert meta.answer(CATALOG, "\\d", "ordrs").hint == "Did you mean orders?"
    assert meta.split("\\dt+ ord*;") == ("\\dt", "ord*")


def test_meta_x_toggles_the_record_view_and_unknown_ones_say_so() -> None:
    st = new()
    S.submit_input(st, "\\x")
    assert st.expanded
    S.submit_input(st, "\\x off")
    assert not st.expanded
    S.submit_input(st, "\\zz")
    assert "Unknown meta-command \\zz." in st.pane.log[-2].text


def test_search_finds_a_value_on_another_page_and_sort_says_it_is_client_side() -> None:
    st = new()
    v = S.ResultView(
        ["id", "name"],
        ["int4", "text"],
        rows=[[i, f"n{i}"] for i in range(100)],
        done=True,
        page_h=10,
    )
    st.panes[0].result, st.area = v, "results"
    keys(st, "/", "n42", K.ENTER)
    assert v.cur == 42 and v.page == (5, 10) and "row 43" in st.status
    keys(st, "n")  # the next match wraps around
    assert v.cur == 42 and "wrapped around" in st.status
    keys(st, "/", "zzz", K.ENTER)
    assert v.cur == 42 and "none of the 100 rows" in st.status
    keys(st, "s")  # sorts by the first visible column, ascending, then descending, then back
    assert [r[0] for r in v.rows[:2]] == [0, 1] and "here in pgask" in st.status
    keys(st, "s")
    assert [r[0] for r in v.rows[:2]] == [99, 98]
    keys(st, "s")
    assert [r[0] for r in v.rows[:2]] == [
        0,
        1,
    ] and st.status == "Back to the order the server sent."
    keys(st, K.RIGHT, "s", "s")
    assert v.rows[0][1] == "n99"  # text order, descending


def test_the_common_start_is_that_of_every_candidate_not_of_the_first_ones() -> None:
    many = Catalog(
        profile="demo",
        database="d",
        server_version=170000,
        fingerprint="f",
        search_path=["public"],
        tables=[make_table(f"t_{i:04d}", [make_col("id", "int4")]) for i in range(2000)],
    )
    st = new()
    st.catalogs["demo"] = many
    keys(st, "/sql select * from t", K.TAB)
    assert st.input == "/sql select * from t_" and st.popup is not None
    assert len(st.popup.items) == 2000
