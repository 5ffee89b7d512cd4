"""On a PostgreSQL 15 server, older than the guard's grammar: SQL/JSON syntax that the guard
reads as such is a plain call of a user's function there, and is judged as that call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.guard import classify
from protocol.config import Config, ProfileConfig
from testkit.pg import arun_sql, fetchval, system_server
from testkit.tree import open_tree
from tests.integration.test_guard_catalog_pg import control_fires, verdict_for

pytestmark = pytest.mark.pg


@pytest.fixture(scope="module")
def pg15() -> Iterator[str]:
    with system_server() as dsn:
        assert fetchval(dsn, "SELECT current_setting('server_version_num')::int") // 10000 == 15
        yield dsn


CALLS = [
    ("select json_exists('{\"a\": 1}', '$.a')", "json_exists"),
    ("select json_value('{\"a\": 1}', '$.a')", "json_value"),
    ("select json_serialize('{\"a\": 1}')", "json_serialize"),
    ("select json_array(1, 2)", "json_array"),
]


NEWER_NAMES = [
    ("select casefold('A')", "casefold"),
    ("select erf(0.5)", "erf"),
    ("select uuidv7()", "uuidv7"),
    ("select gamma(2.0)", "gamma"),
    ("select any_value(x) from generate_series(1, 2) x", "any_value"),
]


async def test_sql_json_names_are_user_calls_on_a_15_server(tmp_path, pg15, marker_dir):
    await arun_sql(
        pg15,
        f"""
        CREATE FUNCTION public.mark(tag text) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $f$
        BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch {marker_dir}/' || tag);
              RETURN 1; END $f$;
        CREATE FUNCTION public.json_exists(text, text) RETURNS boolean LANGUAGE sql
          AS $f$ SELECT public.mark('json_exists') = 1 $f$;
        CREATE FUNCTION public.json_value(text, text) RETURNS text LANGUAGE sql
          AS $f$ SELECT public.mark('json_value')::text $f$;
        CREATE FUNCTION public.json_serialize(text) RETURNS text LANGUAGE sql
          AS $f$ SELECT public.mark('json_serialize')::text $f$;
        CREATE FUNCTION public.json_array(int, int) RETURNS text LANGUAGE sql
          AS $f$ SELECT public.mark('json_array')::text $f$;
        -- names the guard allows as built-ins of newer servers, absent on 15
        CREATE FUNCTION public.casefold(text) RETURNS text LANGUAGE sql
          AS $f$ SELECT public.mark('casefold')::text $f$;
        CREATE FUNCTION public.erf(float8) RETURNS float8 LANGUAGE sql
          AS $f$ SELECT public.mark('erf')::float8 $f$;
        CREATE FUNCTION public.uuidv7() RETURNS text LANGUAGE sql
          AS $f$ SELECT public.mark('uuidv7')::text $f$;
        CREATE FUNCTION public.gamma(float8) RETURNS float8 LANGUAGE sql
          AS $f$ SELECT public.mark('gamma')::float8 $f$;
        CREATE FUNCTION public.any_step(int, int) RETURNS int LANGUAGE sql
          AS $f$ SELECT public.mark('any_value') $f$;
        CREATE AGGREGATE public.any_value(int) (SFUNC = public.any_step, STYPE = int);
    """,
    )
    config = Config(profiles={"p": ProfileConfig(dsn=pg15)})
    async with open_tree(tmp_path, config=config) as (_sup, client):
        for sql, name in CALLS:
            assert classify(sql).sql_class == "read", sql  # SQL/JSON to the guard's grammar
            v = await verdict_for(client, sql)
            assert v.confirm == "refuse" and v.sql_class != "read", (sql, v)
            assert any(f"public.{name}(" in r for r in v.reasons), v.reasons
            assert any("PostgreSQL 15 reads" in r for r in v.reasons), v.reasons
        v = await verdict_for(client, "select 1 as plain")
        assert v.sql_class == "read" and v.signature is not None
        for sql, name in NEWER_NAMES:
            assert classify(sql).sql_class == "read", sql  # allow-listed by name
            v = await verdict_for(client, sql)
            assert v.confirm == "refuse" and any(f"public.{name}(" in r for r in v.reasons), v
    assert list(marker_dir.iterdir()) == []
    for sql, name in CALLS + NEWER_NAMES:  # the control: READ ONLY alone runs each user function
        await control_fires(pg15, sql)
        assert (marker_dir / name).exists(), sql
