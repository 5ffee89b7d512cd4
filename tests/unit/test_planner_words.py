"""The planner's one English word model (actors/planner/words.py), used by the schema context
and the offline planner alike: they used to disagree ("statuses" -> status vs statuse, "people"
-> people vs person)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.planner import context, folding, terms, words
from actors.planner.offline import parse, schema, understand
from actors.planner.words import singular, split_identifier, split_words


@pytest.mark.parametrize(
    ("plural", "one"),
    [
        ("statuses", "status"),
        ("status", "status"),
        ("people", "person"),
        ("children", "child"),
        ("categories", "category"),
        ("companies", "company"),
        ("boxes", "box"),
        ("addresses", "address"),
        ("batches", "batch"),
        ("purchases", "purchase"),
        ("courses", "course"),
        ("houses", "house"),
        ("warehouses", "warehouse"),
        ("causes", "cause"),
        ("bonuses", "bonus"),
        ("buses", "bus"),
        ("orders", "order"),
        ("photos", "photo"),
        ("analyses", "analysis"),
        ("analysis", "analysis"),
        ("series", "series"),
        ("movies", "movie"),
        ("bus", "bus"),
        ("class", "class"),
        ("ids", "ids"),  # three letters or fewer stay as they are
        ("Orders", "order"),
    ],
)
def test_singular(plural: str, one: str) -> None:
    assert singular(plural) == one


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("sbCustName", ("sb", "cust", "name")),
        ("crtd_ts", ("crtd", "ts")),
        ("day7_tewl", ("day", "7", "tewl")),
        ("day7tewl", ("day", "7", "tewl")),
        ("HTTPServer", ("http", "server")),
        ("order-items.v2", ("order", "items", "v", "2")),
        ("", ()),
    ],
)
def test_split_words(name: str, split: tuple[str, ...]) -> None:
    assert split_words(name) == split


def test_split_identifier_is_split_words_made_singular_without_digits() -> None:
    assert split_identifier("order_statuses_2024") == ("order", "status")
    assert split_identifier("PeopleByCity") == ("person", "by", "city")


@given(st.text(alphabet="abcXYZ019_ -.", max_size=20))
def test_split_identifier_follows_split_words(name: str) -> None:
    expected = tuple(singular(w) for w in split_words(name) if not w.isdigit())
    assert split_identifier(name) == expected


def test_context_and_offline_planner_share_the_model() -> None:
    """No second copy: every reader imports the same functions from words.py."""
    for module in (context, terms, folding):
        for name in ("singular", "split_identifier"):
            if hasattr(module, name):
                assert getattr(module, name) is getattr(words, name), (module, name)
    for module in (schema, parse, understand):
        assert module.singular is words.singular, module
    assert schema.split_words is words.split_words
    assert not hasattr(context, "stem")


def test_both_readers_find_a_statuses_column() -> None:
    """'statuses' names a `status` column for the offline planner and the schema context."""
    from protocol.messages import Catalog, CatalogColumn, CatalogTable

    table = CatalogTable(
        schema="public",
        name="tickets",
        columns=[
            CatalogColumn(name="id", type_name="integer"),
            CatalogColumn(name="status", type_name="text"),
        ],
        primary_key=["id"],
    )
    catalog = Catalog(
        profile="p", database="d", server_version=170000, fingerprint="f", tables=[table]
    )
    index = context.SchemaIndex(catalog)
    assert "status" in terms.question_terms("which statuses are there")
    assert index.col_hits["status"]
    hits = schema.Schema(catalog).lookup((singular("statuses"),))
    assert any(kind == "col" and col.name == "status" for kind, col, _score in hits)
