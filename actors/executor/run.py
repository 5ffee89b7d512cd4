"""Running one guarded statement: the verdict check, the transaction and its preamble, rows
streamed in byte-bounded batches; and the query handlers (run, describe, explain, cancel)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from msgspec.msgpack import Ext
from trio_asyncio import aio_as_trio, trio_as_aio

from actors._runtime import Request
from actors.executor import resolve
from actors.executor.audit import audit_sql, audited, write_audit
from actors.executor.connection import get_pool
from actors.executor.dba import NO_TRANSACTION
from actors.executor.errors import map_errors
from actors.executor.state import BATCH_BYTES, BATCH_LIMIT, FIRST_BATCH_ROWS, ROW_LIMIT, ExecState
from protocol import signing
from protocol.errors import DatabaseError
from protocol.messages import (
    AuditNote,
    Column,
    ExplainPlan,
    ExplainRequest,
    QueryCancel,
    QueryCancelled,
    QueryColumns,
    QueryDescribe,
    QueryDone,
    QueryRequest,
    QueryRows,
    Signature,
)
from protocol.sqltext import quote_always
from protocol.tracing import log
from protocol.values import PgText, Range, to_wire

# -- verdicts -------------------------------------------------------------------------


def check_verdict(state: ExecState, sql: str, sig: Signature, *, confirmed: bool) -> None:
    problem = signing.check(state.key, sql, sig, state.profile)
    if problem is None and sig.sql_class in ("forbidden", "invalid"):
        problem = f"statements of class '{sig.sql_class}' never run"
    if problem is None and sig.sql_class != "read" and sig.mode != "read-write":
        problem = f"a '{sig.sql_class}' statement cannot run in read-only mode"
    if problem is None and sig.sql_class != "read" and not state.config.read_write:
        problem = f"profile '{state.profile}' does not allow writes (read_write = false)"
    if problem is None and sig.sql_class != "read" and not confirmed:
        problem = f"a '{sig.sql_class}' statement needs the person's confirmation first"
    if problem is None and sig.sql_class == "read" and not sig.catalog:
        problem = "a read must be judged against this database's catalog, and this one was not"
    if "\x00" in sql and problem is None:
        problem = "the text contains a NUL byte"
    if problem:
        log.warning("executor.verdict.refused", reason=problem)
        raise DatabaseError(
            f"The executor for '{state.profile}' refused to run the statement.",
            why=f"Its guard verdict is not valid here: {problem}.",
            hint="Check the statement again (pgask does this for you when you rerun it).",
            code="executor.bad_verdict",
        )


# -- running statements (asyncio side: one bridge crossing per unit of work) ---------------


def _row_converter(attrs: list[Any]) -> Callable[[Any], list[Any]]:
    """Most columns are wire values already; convert only ranges, records and their arrays."""
    slow = [
        i
        for i, a in enumerate(attrs)
        if a.type.kind in ("range", "multirange", "composite", "array")
    ]
    if not slow:
        return list

    def convert(record: Any) -> list[Any]:
        row = list(record)
        for i in slow:
            row[i] = _wire(row[i])
        return row

    return convert


def _wire(value: Any) -> Any:
    if value is None or isinstance(value, Ext | bool | int | float | str | bytes):
        return value
    if isinstance(value, asyncpg.Range):
        if value.isempty:
            return to_wire(Range(empty=True))
        bounds = ("[" if value.lower_inc else "(") + ("]" if value.upper_inc else ")")
        return to_wire(Range(_wire(value.lower), _wire(value.upper), bounds))
    if isinstance(value, asyncpg.Record | list | tuple):
        return [_wire(v) for v in value]
    try:
        return to_wire(value)
    except TypeError:  # a type with no wire form: its text, never a crash
        return to_wire(PgText(type(value).__name__, str(value)))


async def preamble(
    con: asyncpg.Connection, state: ExecState, sig: Signature, statement_timeout: str
) -> None:
    """asyncio, first in every guarded transaction: a read runs under `read_role` if one is
    set, and only while the database has the catalog fingerprint the guard judged it against.
    The query takes the snapshot (so a first `SET TRANSACTION READ WRITE` cannot flip a read
    only transaction) and sets the limits for this transaction."""
    read = sig.sql_class == "read"
    limits = "set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)"
    args = (statement_timeout, f"{int(state.config.lock_timeout_s * 1000)}ms")
    if not read:
        await con.fetchval(f"SELECT {limits}", *args)
        return
    # the fingerprint is taken as the login role, as the guard's resolution was
    row = await con.fetchrow(f"SELECT {limits}, ({resolve.SAFETY_FINGERPRINT_SQL})", *args)
    if row[2] != sig.catalog:
        raise DatabaseError(
            "The database's definitions changed after the guard checked this statement.",
            why=(
                "A function, view, operator, cast, policy or type it could reach was created, "
                "replaced or dropped since, so the guard's verdict no longer describes it."
            ),
            hint="Run it again: pgask checks it against the database as it is now.",
            code="executor.catalog_changed",
        )
    if state.config.read_role:
        role = quote_always(state.config.read_role)  # a role name keeps its case
        await con.execute(f"SET LOCAL ROLE {role}")  # fixed text of ours: simple protocol


async def run_sql(
    state: ExecState,
    pool: asyncpg.Pool,
    sql: str,
    sig: Signature,
    max_rows: int | None,
    emit: Callable[[Any], Awaitable[None]],
) -> tuple[str, int, bool]:
    """asyncio: run one statement in its own transaction; emit columns and row batches."""
    cfg = state.config
    sql_class = sig.sql_class
    async with pool.acquire() as con:
        if sql_class == "read":
            tx = con.transaction(readonly=True)
        else:
            tx = con.transaction()
        try:
            async with tx:
                await preamble(con, state, sig, f"{int(cfg.statement_timeout_s * 1000)}ms")
                result = await _statement(con, sql, max_rows, emit)
                if sql_class == "read":
                    raise _Rollback(result)
            return result
        except _Rollback as done:
            return done.result
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == NO_TRANSACTION and sql_class in ("ddl", "destructive"):
                # CREATE INDEX CONCURRENTLY, VACUUM ...: alone, outside a transaction block
                return await _statement(con, sql, max_rows, emit)
            raise


class _Rollback(Exception):
    def __init__(self, result: tuple[str, int, bool]) -> None:
        self.result = result


async def _statement(
    con: asyncpg.Connection, sql: str, max_rows: int | None, emit: Callable[[Any], Awaitable[None]]
) -> tuple[str, int, bool]:
    stmt = await con.prepare(sql)  # Parse: exactly one statement, extended protocol
    attrs = list(stmt.get_attributes())
    if not attrs:
        await stmt.fetch()
        return stmt.get_statusmsg() or "OK", 0, False
    await emit([Column(name=a.name, type_oid=a.type.oid, type_name=a.type.name) for a in attrs])
    convert = _row_converter(attrs)
    total, truncated, n = 0, False, FIRST_BATCH_ROWS
    cursor = await stmt.cursor()
    seq = 0
    while True:
        want = n if max_rows is None else min(n, max_rows - total + 1)
        records = await cursor.fetch(want)
        got = len(records)
        if max_rows is not None and total + got > max_rows:
            records = records[: max_rows - total]
            truncated = True
        if records:
            rows = [convert(r) for r in records]
            del records
            batches, size = pack_rows(rows, first_row=total + 1)
            for batch in batches:
                await emit(QueryRows(seq=seq, rows=batch))  # type: ignore[arg-type]  # encoded
                seq += 1
            total += len(rows)
            per_row = max(1, size // len(rows))
            n = max(1, min(50_000, BATCH_BYTES // per_row))
        if truncated or got < want:
            break
    command = stmt.get_statusmsg() or f"SELECT {total}"
    return command if not truncated else f"SELECT {total}", total, truncated


def pack_rows(rows: list[list[Any]], *, first_row: int) -> tuple[list[msgspec.Raw], int]:
    """`rows` cut into batches of about BATCH_BYTES encoded (at least one row each), already
    encoded (a QueryRows carries them as msgspec.Raw, so no row is encoded twice), and their
    size. Only a batch that measures too big is encoded row by row. A row that no message
    can carry fails the request, naming it (a row is never dropped)."""
    whole = _encode(rows)
    if len(whole) <= BATCH_LIMIT:
        return [msgspec.Raw(whole)], len(whole)
    encoded = [_encode(row) for row in rows]
    batches: list[msgspec.Raw] = []
    start, acc = 0, 0
    for i, row in enumerate(encoded):
        if len(row) > ROW_LIMIT:
            raise row_too_large(first_row + i, len(row))
        if i > start and acc + len(row) > BATCH_BYTES:
            batches.append(_array(encoded[start:i]))
            start, acc = i, 0
        acc += len(row)
    batches.append(_array(encoded[start:]))
    return batches, sum(len(r) for r in encoded)


_encode = msgspec.msgpack.Encoder().encode


def _array(items: list[bytes]) -> msgspec.Raw:
    """A msgpack array of already encoded items."""
    n = len(items)
    head = (
        bytes([0x90 | n])
        if n < 16
        else b"\xdc" + n.to_bytes(2, "big")
        if n < 65536
        else b"\xdd" + n.to_bytes(4, "big")
    )
    return msgspec.Raw(head + b"".join(items))


def row_too_large(number: int, size: int) -> DatabaseError:
    return DatabaseError(
        f"Row {number:,} of the result is {size / 2**20:,.1f} MiB, more than the "
        f"{ROW_LIMIT / 2**20:,.0f} MiB one message between pgask's processes can carry; "
        "the query was stopped.",
        why="pgask does not show part of a row: it stops rather than leave the row out.",
        hint='Write the whole result to a file with `pgask export "<the SQL>" --out result.csv` '
        "(it streams values of any size), or select less of the big column "
        "(e.g. left(col, 1000), length(col)).",
        code="executor.row_too_large",
    )


async def on_query_run(state: ExecState, msg: QueryRequest, req: Request) -> QueryDone:
    check_verdict(state, msg.sql, msg.verdict, confirmed=msg.confirmed)
    pool = await get_pool(state)
    sql_class = msg.verdict.sql_class
    intent = {
        "decision": msg.decision,
        "question": msg.question,
        "sql": audit_sql(state, msg.sql, msg.normalized),
        "sql_sha256": msg.verdict.sql_sha256,
        "class": sql_class,
        "mode": msg.verdict.mode,
        "reasons": msg.reasons,
        **({"via": msg.via} if msg.via else {}),  # who asked: an MCP client, by its own name
    }

    async def emit(item: Any) -> None:
        body = QueryColumns(columns=item) if isinstance(item, list) else item
        await req.send(body)

    max_rows = msg.max_rows if msg.max_rows > 0 else None
    # on disk before a write or DDL runs
    with audited(state, req, intent, durable=sql_class != "read") as block:
        with map_errors(state):
            command, rows, truncated = await aio_as_trio(run_sql)(
                state, pool, msg.sql, msg.verdict, max_rows, trio_as_aio(emit)
            )
        block.ok(command=command, rows=rows, truncated=truncated)
    if sql_class in ("ddl", "destructive"):
        state.catalog = None  # the schema may have changed
    elapsed = block.elapsed_ms
    log.info("executor.query.finished", rows=rows, ms=round(elapsed, 2), sql_class=sql_class)
    return QueryDone(command=command, rows=rows, elapsed_ms=elapsed, truncated=truncated)


async def on_query_describe(state: ExecState, msg: QueryDescribe, req: Request) -> QueryColumns:
    """The result columns of a guarded read, from Parse/Describe only (nothing executes)."""
    check_verdict(state, msg.sql, msg.verdict, confirmed=False)
    if msg.verdict.sql_class != "read":
        raise DatabaseError(
            f"The executor for '{state.profile}' describes only reads.",
            why=f"The statement is of class '{msg.verdict.sql_class}'.",
            code="executor.bad_verdict",
        )
    pool = await get_pool(state)
    with map_errors(state):
        columns = await aio_as_trio(_describe)(pool, msg.sql)
    return QueryColumns(columns=columns)


async def _describe(pool: asyncpg.Pool, sql: str) -> list[Column]:
    async with pool.acquire() as con:
        tx = con.transaction(readonly=True)
        await tx.start()
        try:
            stmt = await con.prepare(sql)
            return [
                Column(name=a.name, type_oid=a.type.oid, type_name=a.type.name)
                for a in stmt.get_attributes()
            ]
        finally:
            await tx.rollback()


async def on_audit_note(state: ExecState, msg: AuditNote, req: Request) -> None:
    note = {
        "type": "decision",
        "decision": msg.decision,
        "question": msg.question,
        "sql": msg.normalized,
        "sql_sha256": msg.sql_sha256,
        "class": msg.sql_class,
        "mode": msg.mode,
        "reasons": msg.reasons,
        **({"via": msg.via} if msg.via else {}),
    }
    write_audit(state, req, note)


async def on_query_cancel(state: ExecState, msg: QueryCancel, req: Request) -> QueryCancelled:
    if not req.runtime.cancel(msg.target):
        raise DatabaseError(
            "There is no running query to cancel.",
            why="It may have just finished.",
            code="executor.nothing_to_cancel",
        )
    return QueryCancelled(target=msg.target)


# A COPY read that brings less than this waits COPY_FILL_WAIT_S before the next one, so the
# socket fills: the server flushes every 8 KiB, and each wake-up of asyncpg's copy loop costs
# ~45 µs of pause/resume and future bookkeeping, more than the bytes themselves.
async def on_explain(state: ExecState, msg: ExplainRequest, req: Request) -> ExplainPlan:
    check_verdict(
        state, msg.sql, msg.verdict, confirmed=msg.confirmed or msg.verdict.sql_class == "read"
    )
    pool = await get_pool(state)
    options = "ANALYZE, BUFFERS, FORMAT JSON" if msg.analyze else "FORMAT JSON"
    started = time.perf_counter()
    with map_errors(state):
        plan = await aio_as_trio(_explain)(
            state, pool, f"EXPLAIN ({options}) {msg.sql}", msg.verdict
        )
    return ExplainPlan(plan=plan, elapsed_ms=(time.perf_counter() - started) * 1000)


async def _explain(state: ExecState, pool: asyncpg.Pool, sql: str, sig: Signature) -> str:
    """asyncio: EXPLAIN inside a transaction that is always rolled back (ANALYZE executes),
    READ ONLY for a read, exactly as the read itself would run."""
    async with pool.acquire() as con:
        tx = con.transaction(readonly=sig.sql_class == "read")
        await tx.start()
        try:
            await preamble(con, state, sig, f"{int(state.config.statement_timeout_s * 1000)}ms")
            stmt = await con.prepare(sql)
            rows = await stmt.fetch()
            value = rows[0][0]
            return value.data.decode() if isinstance(value, Ext) else str(value)
        finally:
            await tx.rollback()
