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

from testkit.readonly_schema import SCHEMA  # noqa: E402

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
