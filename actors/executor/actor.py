"""executor:<profile>: the only process that holds a connection to a profile's database.

Receives: query.run, query.explain, query.copy, query.cancel, catalog.get;
          dba.index.check, dba.migration.apply, dba.backup, dba.archive.inspect, dba.restore
          (actors/executor/maintenance.py).
Replies:  query.columns, query.rows (streamed, about 256 KiB each), query.done;
          query.copy.done (the COPY's bytes go to the exporter's stream socket);
          query.plan; query.cancelled; catalog.result; or error.
Restart:  permanent. Resources: an asyncpg pool (asyncio, hosted on trio by trio-asyncio);
          per running export, a connection and a worker thread of its own (CopyJob).

The second safety layer, which holds even if everything before it is wrong:
* It runs only SQL whose guard verdict is validly signed for this exact text and this
  profile, not expired, and only as the verdict's class allows under its mode.
* One statement per round trip, always over the extended protocol (`prepare`); asyncpg's
  argument-less `execute()` is the simple protocol, which accepts `COMMIT; DROP ...`,
  and is used only for the executor's own fixed statements.
* Class `read` runs inside `BEGIN READ ONLY` whatever the mode, after a preamble that
  takes a snapshot (`SELECT set_config(...)`) so a first `SET TRANSACTION READ WRITE`
  cannot flip it; reads always end in ROLLBACK. Writes and DDL commit only on success.
* Limits are the server's: statement_timeout, lock_timeout and
  idle_in_transaction_session_timeout are sent with the connection and per transaction.

Each database round trip is one asyncio coroutine crossing the bridge once
(runtime-spike.md §2); row batches cross back to trio one batch at a time.
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_asyncio
from trio_asyncio import aio_as_trio

from actors._runtime import Actor, Request, main
from actors.executor import resolve
from actors.executor.catalog import on_catalog
from actors.executor.connection import ORPHAN_CLEANUP_S, connection_names, get_pool, stop_orphans
from actors.executor.copy import on_query_copy
from actors.executor.errors import map_errors
from actors.executor.maintenance import (
    on_archive,
    on_backup,
    on_index_check,
    on_migration_apply,
    on_restore,
)
from actors.executor.run import (
    on_audit_note,
    on_explain,
    on_query_cancel,
    on_query_describe,
    on_query_run,
)
from actors.executor.state import ExecState
from protocol.audit import AuditLog, audit_path
from protocol.boot import Boot
from protocol.config import ProfileConfig, profile_file_name
from protocol.errors import DatabaseError
from protocol.messages import (
    GUARD_GRAMMAR_MAJOR,
    ArchiveRequest,
    AuditNote,
    BackupRequest,
    Catalog,
    CatalogRequest,
    ConnectPassword,
    CopyRequest,
    DoctorReport,
    DoctorRequest,
    ExplainRequest,
    IndexCheckRequest,
    MigrationApply,
    QueryCancel,
    QueryDescribe,
    QueryRequest,
    Resolution,
    ResolveRequest,
    RestoreRequest,
)
from protocol.tracing import log


@asynccontextmanager
async def open_state(boot: Boot) -> AsyncIterator[ExecState]:
    profile = boot.actor.split(":", 1)[1] if ":" in boot.actor else "default"
    full = boot.load_config()
    config = full.profiles.get(profile, ProfileConfig())
    state = ExecState(profile, config, bytes.fromhex(boot.key_hex))
    state.full_sql = full.privacy.audit_full_sql
    state.os_user = getpass.getuser()
    state.orphans_prefix, state.app_name = connection_names(boot, profile)
    if boot.state_dir:
        path = audit_path(boot.state_dir, profile_file_name(profile))
        try:
            state.audit = AuditLog(path, witness=full.audit.witness)
        except OSError as exc:  # no crash loop: every request is refused, naming the file
            state.audit_error = f"{exc.strerror or exc} ({exc.filename or path})"
            log.error("executor.audit.unavailable", error=state.audit_error)
        else:
            for problem in state.audit.problems:  # named once; `pgask audit verify` shows them
                log.warning("executor.audit.recovered", problem=problem)
            if closed := state.audit.close_dangling():
                log.warning("executor.audit.interrupted", intents=closed)
    async with trio_asyncio.open_loop():
        try:
            if boot.incarnation > 1:  # before serving: end what the previous one left running
                with trio.move_on_after(ORPHAN_CLEANUP_S):
                    await stop_orphans(state)
            yield state
        finally:
            if state.audit is not None:
                state.audit.close()
            if state.pool is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await aio_as_trio(state.pool.close)()


async def on_resolve(state: ExecState, msg: ResolveRequest, req: Request) -> Resolution:
    """For the guard: what server code the reads in `msg` would invoke (resolve.py)."""
    if any("\x00" in q for q in msg.queries):
        raise DatabaseError(
            "A text with a NUL byte cannot be resolved.", code="executor.bad_request"
        )
    pool = await get_pool(state)
    timeout_ms = int(state.config.statement_timeout_s * 1000)

    async def work() -> Resolution:
        async with pool.acquire() as con:
            return await resolve.resolve(
                con, msg.queries, state.resolved, timeout_ms, closure=msg.closure
            )

    with map_errors(state):
        return await aio_as_trio(work)()


async def on_doctor(state: ExecState, msg: DoctorRequest, req: Request) -> DoctorReport:
    """For `pgask doctor`: what this connection could do, whatever pgask decides."""
    pool = await get_pool(state)

    async def work() -> tuple[str, str, int, list[Any]]:
        async with pool.acquire() as con:
            return await resolve.doctor(con, state.config.read_role, GUARD_GRAMMAR_MAJOR * 10000)

    with map_errors(state):
        role, database, version, findings = await aio_as_trio(work)()
    return DoctorReport(role=role, database=database, server_version=version, findings=findings)


async def on_connect_password(state: ExecState, msg: ConnectPassword, req: Request) -> Catalog:
    """The password the person typed: connect with it now (no backoff wait), reply the catalog."""
    async with state.lock:
        state.password = msg.password
        state.failures, state.next_attempt = 0, 0.0
        old, state.pool = state.pool, None
    if old is not None:
        await aio_as_trio(old.close)()
    return await on_catalog(state, CatalogRequest(refresh=True), req)


ACTOR = Actor(
    "executor",
    handlers={
        QueryRequest: on_query_run,
        QueryCancel: on_query_cancel,
        QueryDescribe: on_query_describe,
        AuditNote: on_audit_note,
        ExplainRequest: on_explain,
        CopyRequest: on_query_copy,
        CatalogRequest: on_catalog,
        ConnectPassword: on_connect_password,
        ResolveRequest: on_resolve,
        DoctorRequest: on_doctor,
        IndexCheckRequest: on_index_check,
        MigrationApply: on_migration_apply,
        BackupRequest: on_backup,
        ArchiveRequest: on_archive,
        RestoreRequest: on_restore,
    },
    open_state=open_state,
)

if __name__ == "__main__":
    main(ACTOR)
