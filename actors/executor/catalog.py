"""catalog.get: the schema the planner and the UI see (tables, columns, keys, indexes,
functions, comments, estimated rows), cached per profile with a cheap fingerprint."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import msgspec
from trio_asyncio import aio_as_trio

from actors._runtime import Request
from actors.executor.connection import get_pool
from actors.executor.errors import map_errors
from actors.executor.state import ExecState
from protocol.messages import (
    Catalog,
    CatalogColumn,
    CatalogForeignKey,
    CatalogFunction,
    CatalogIndex,
    CatalogRequest,
    CatalogTable,
)
from protocol.tracing import log


async def on_catalog(state: ExecState, msg: CatalogRequest, req: Request) -> Catalog:
    pool = await get_pool(state)
    with map_errors(state):
        fingerprint = await aio_as_trio(_fingerprint)(pool)
        if (
            state.catalog is not None
            and not msg.refresh
            and state.catalog.fingerprint == fingerprint
        ):
            if msg.known and msg.known == fingerprint:  # the asker has it: say so, briefly
                return msgspec.structs.replace(
                    state.catalog, tables=[], functions=[], unchanged=True
                )
            return state.catalog
        started = time.perf_counter()
        catalog = await aio_as_trio(load_catalog)(pool, state.profile)
    state.catalog = msgspec.structs.replace(
        catalog, loaded_ms=(time.perf_counter() - started) * 1000
    )
    log.info(
        "executor.catalog.loaded", tables=len(catalog.tables), ms=round(state.catalog.loaded_ms, 1)
    )
    return state.catalog


# -- catalog introspection (asyncio side) -----------------------------------------------

_USER_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"

FINGERPRINT_SQL = f"""
SELECT md5(coalesce(string_agg(c.oid::text || '.' || c.xmin::text, ',' ORDER BY c.oid), ''))
       || ':' || (SELECT count(*) FROM pg_description) || ':' || (SELECT count(*) FROM pg_constraint)
       || ':' || (SELECT count(*) FROM pg_enum) || ':' || (SELECT count(*) FROM pg_proc)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'i') AND {_USER_NS}
"""

TABLES_SQL = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind::text, d.description, c.reltuples::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition AND {_USER_NS}
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = f"""
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), d.description, a.atttypid
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition AND {_USER_NS}
ORDER BY a.attrelid, a.attnum
"""

CONSTRAINTS_SQL = f"""
SELECT co.conrelid, co.conname, co.contype::text, co.conkey, co.confrelid, co.confkey, fn.nspname, fc.relname
FROM pg_constraint co
JOIN pg_class c ON c.oid = co.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = co.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE co.contype IN ('p', 'u', 'f') AND {_USER_NS}
ORDER BY co.conrelid, co.conname
"""

INDEXES_SQL = f"""
SELECT i.indrelid, ic.relname, pg_get_indexdef(i.indexrelid), i.indkey::int2[], i.indisunique, i.indisprimary,
       i.indisvalid, pg_relation_size(i.indexrelid), co.conname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint co ON co.conindid = i.indexrelid AND co.contype IN ('p', 'u', 'x')
WHERE {_USER_NS}
ORDER BY i.indrelid, ic.relname
"""

ENUMS_SQL = "SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum GROUP BY enumtypid"

FUNCTIONS_SQL = f"""
SELECT n.nspname, p.proname, pg_get_function_arguments(p.oid), coalesce(pg_get_function_result(p.oid), ''),
       p.provolatile::text, p.prokind::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_USER_NS} AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.objid = p.oid AND dep.deptype = 'e')
ORDER BY n.nspname, p.proname
"""

_KINDS = {"r": "table", "v": "view", "m": "matview", "f": "foreign", "p": "partitioned"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_PROKIND = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}


async def _fingerprint(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as con:
        return await con.fetchval(FINGERPRINT_SQL)


async def load_catalog(pool: asyncpg.Pool, profile: str) -> Catalog:
    """asyncio: the whole catalog in seven queries, in one read-only transaction."""
    async with pool.acquire() as con, con.transaction(readonly=True, isolation="repeatable_read"):
        fingerprint = await con.fetchval(FINGERPRINT_SQL)
        tables = await con.fetch(TABLES_SQL)
        columns = await con.fetch(COLUMNS_SQL)
        constraints = await con.fetch(CONSTRAINTS_SQL)
        indexes = await con.fetch(INDEXES_SQL)
        enums = {r[0]: list(r[1]) for r in await con.fetch(ENUMS_SQL)}
        functions = await con.fetch(FUNCTIONS_SQL)
        database = await con.fetchval("SELECT current_database()")
        version = int(await con.fetchval("SELECT current_setting('server_version_num')"))
        search_path = await con.fetchval("SELECT array_to_string(current_schemas(false), ',')")

    names, cols = _columns(columns, enums)
    pks, uniques, fks = _constraints(constraints, names)
    idx = _indexes(indexes, names)
    out = [
        CatalogTable(
            schema=schema,
            name=name,
            kind=_KINDS.get(kind, "table"),
            comment=comment or "",  # type: ignore[arg-type]
            est_rows=int(est),
            columns=cols.get(oid, []),
            primary_key=pks.get(oid, []),
            unique_keys=uniques.get(oid, []),
            foreign_keys=fks.get(oid, []),
            indexes=idx.get(oid, []),
        )
        for oid, schema, name, kind, comment, est in tables
    ]
    funcs = [
        CatalogFunction(
            schema=s,
            name=n,
            arguments=a,
            result=r,
            volatility=_VOLATILITY[v],
            kind=_PROKIND.get(k, "function"),
        )  # type: ignore[arg-type]
        for s, n, a, r, v, k in functions
    ]
    return Catalog(
        profile=profile,
        database=database,
        server_version=version,
        fingerprint=fingerprint,
        search_path=search_path.split(",") if search_path else [],
        tables=out,
        functions=funcs,
    )


Names = dict[int, dict[int, str]]  # relation oid -> attnum -> column name


def _columns(
    columns: list[Any], enums: dict[int, list[str]]
) -> tuple[Names, dict[int, list[CatalogColumn]]]:
    names: Names = {}
    cols: dict[int, list[CatalogColumn]] = {}
    for relid, attnum, name, type_name, nullable, default, comment, typid in columns:
        names.setdefault(relid, {})[attnum] = name
        cols.setdefault(relid, []).append(
            CatalogColumn(
                name=name,
                type_name=type_name,
                nullable=nullable,
                default=default or "",
                comment=comment or "",
                enum_values=enums.get(typid, []),
            )
        )
    return names, cols


def _constraints(
    constraints: list[Any], names: Names
) -> tuple[dict[int, list[str]], dict[int, list[list[str]]], dict[int, list[CatalogForeignKey]]]:
    """Primary keys, unique keys and foreign keys, by relation oid."""
    pks: dict[int, list[str]] = {}
    uniques: dict[int, list[list[str]]] = {}
    fks: dict[int, list[CatalogForeignKey]] = {}
    for relid, conname, contype, conkey, confrelid, confkey, ref_schema, ref_table in constraints:
        own = [names.get(relid, {}).get(k, "?") for k in conkey or []]
        if contype == "p":
            pks[relid] = own
        elif contype == "u":
            uniques.setdefault(relid, []).append(own)
        else:
            ref_names = names.get(confrelid, {})
            fks.setdefault(relid, []).append(
                CatalogForeignKey(
                    name=conname,
                    columns=own,
                    ref_schema=ref_schema or "",
                    ref_table=ref_table or "",
                    ref_columns=[ref_names.get(k, "?") for k in confkey or []],
                )
            )
    return pks, uniques, fks


def _indexes(indexes: list[Any], names: Names) -> dict[int, list[CatalogIndex]]:
    idx: dict[int, list[CatalogIndex]] = {}
    for relid, name, definition, keys, unique, primary, valid, size, conname in indexes:
        idx.setdefault(relid, []).append(
            CatalogIndex(
                name=name,
                definition=definition,
                columns=[names.get(relid, {}).get(k, "") for k in keys or []],
                unique=unique,
                primary=primary,
                valid=valid,
                size_bytes=size or 0,
                constraint=conname or "",
            )
        )
    return idx
