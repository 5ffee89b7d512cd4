"""The DBA handlers: index checks, migrations in one transaction, pg_dump backups and
pg_restore restores (decisions in actors/executor/dba.py, binaries in tools.py)."""

from __future__ import annotations

import os
import time
from typing import Any

import asyncpg
import trio
from trio_asyncio import aio_as_trio

from actors._runtime import Request
from actors.executor import dba
from actors.executor.audit import audit_sql, audited
from actors.executor.connection import get_pool
from actors.executor.errors import map_errors
from actors.executor.run import check_verdict, run_sql
from actors.executor.state import ExecState
from actors.executor.tools import (
    Tool,
    archive_info,
    choose_tool,
    dump_argv,
    find_tools,
    parse_major,
    read_archive_header,
    restore_argv,
    run_tool,
    server_major,
    tail_error,
    tool_reason,
)
from protocol import signing
from protocol.messages import (
    ArchiveInfo,
    ArchiveRequest,
    BackupDone,
    BackupRequest,
    DbaProgress,
    IndexCheck,
    IndexCheckRequest,
    MigrationApplied,
    MigrationApply,
    Restored,
    RestoreRequest,
)
from protocol.sqltext import create_database_sql, quote_ident
from protocol.tracing import log

# -- dba: indexes, migrations, backup and restore (decisions in dba.py) -----------------------


async def _server_facts(state: ExecState, pool: asyncpg.Pool) -> tuple[int, str]:
    with map_errors(state):
        row = await aio_as_trio(pool.fetchrow)(
            "SELECT current_setting('server_version_num')::int, current_database()"
        )
    return int(row[0]), str(row[1])


async def on_index_check(state: ExecState, msg: IndexCheckRequest, req: Request) -> IndexCheck:
    """Validate an index change with read-only catalog queries; propose the statement."""
    pool = await get_pool(state)
    threshold = state.config.concurrent_index_rows
    with map_errors(state):
        if msg.action == "create":
            facts = await aio_as_trio(dba.table_facts)(pool, msg.table)
            name = msg.name or dba.index_name(facts.name, msg.columns, msg.unique)
            taken = await aio_as_trio(dba.name_taken)(pool, facts.schema, name)
            return dba.decide_create(msg, facts, threshold_rows=threshold, name_kind=taken)
        version, _db = await _server_facts(state, pool)
        ifacts = await aio_as_trio(dba.index_facts)(pool, msg.name, server_version=version)
    if msg.action == "drop":
        return dba.decide_drop(msg, ifacts, threshold_rows=threshold)
    return dba.status_of(ifacts)


async def on_migration_apply(
    state: ExecState, msg: MigrationApply, req: Request
) -> MigrationApplied:
    """Every statement's verdict checked first; then all of them in one transaction."""
    if not msg.statements or len(msg.statements) != len(msg.verdicts):
        raise dba.DbaError(
            "The migration has no statements, or not one verdict per statement.",
            hint="Check each statement with the guard (pgask migrate does this).",
            code="dba.bad_migration",
        )
    for sql, sig in zip(msg.statements, msg.verdicts, strict=True):
        check_verdict(state, sql, sig, confirmed=msg.confirmed or sig.sql_class == "read")
    pool = await get_pool(state)
    worst = max((s.sql_class for s in msg.verdicts), key=_CLASS_RANK.index)
    text = ";\n".join(msg.statements)
    intent = {
        "decision": "confirmed" if msg.confirmed else "auto",
        "question": msg.question,
        "sql": audit_sql(state, text, ""),
        "class": worst,
        "sql_sha256": signing.sql_digest(text),
        "mode": msg.verdicts[0].mode,
        "reasons": [f"migration {msg.direction} {msg.name}".strip()],
    }
    with audited(state, req, intent, durable=True) as block:
        with map_errors(state):
            tags = await aio_as_trio(dba.apply_statements)(pool, state.config, msg.statements)
        block.ok(command="; ".join(tags), rows=0)
    state.catalog = None
    return MigrationApplied(commands=tags, elapsed_ms=block.elapsed_ms)


_CLASS_RANK = ["read", "write", "ddl", "destructive", "forbidden", "invalid"]


async def on_backup(state: ExecState, msg: BackupRequest, req: Request) -> BackupDone:
    """pg_dump -Fc to a temporary file beside `path`, renamed when complete."""
    target = os.path.abspath(os.path.expanduser(msg.path))
    if os.path.exists(target) and not msg.force:
        raise dba.DbaError(
            f"{target} already exists.",
            hint="Choose another path, or pass --force to replace it.",
            code="dba.backup_exists",
        )
    if not os.path.isdir(os.path.dirname(target)):
        raise dba.DbaError(
            f"Cannot write the backup to {target}: the directory does not exist.",
            hint="Create the directory first, or choose another path.",
            code="dba.backup_path",
        )
    pool = await get_pool(state)
    version, database = await _server_facts(state, pool)
    need = server_major(version)
    tools = await trio.to_thread.run_sync(find_tools, "pg_dump")
    tool = choose_tool("pg_dump", need, tools, why_need=f"The server runs PostgreSQL {need}")
    why_tool = tool_reason(tool, need, tools, "server")
    partial = f"{target}.pgask-partial"
    argv, env = dump_argv(tool, state.config, partial)
    intent = {
        "decision": "auto",
        "class": "read",
        "sql": f"<pg_dump -Fc of {database} to {target}>",
        "mode": "read-only",
    }
    with audited(state, req, intent, errors=BaseException) as block:
        await req.send(DbaProgress(text=f"Using {why_tool}"))
        tables = await _dump(state, req, argv, env, partial, target, database)
        size = os.path.getsize(target)
        block.ok(rows=tables, bytes=size)
    elapsed = block.elapsed_ms
    log.info("executor.backup.finished", bytes=size, tables=tables, ms=round(elapsed, 1))
    return BackupDone(
        path=target,
        bytes=size,
        tables=tables,
        elapsed_ms=elapsed,
        database=database,
        server_version=version,
        tool=why_tool,
    )


async def _dump(
    state: ExecState,
    req: Request,
    argv: list[str],
    env: dict[str, str],
    partial: str,
    target: str,
    database: str,
) -> int:
    """Run pg_dump into `partial` with progress, then rename it to `target`; the number of
    tables dumped. A failed or cancelled dump leaves no file behind."""
    started = time.perf_counter()
    tables = 0

    async def on_line(line: str) -> None:
        nonlocal tables
        if "dumping contents of table" in line:
            tables += 1
            size = os.path.getsize(partial) if os.path.exists(partial) else 0
            text = line.split(": ", 1)[-1]
            elapsed_s = time.perf_counter() - started
            await req.send(DbaProgress(text=text, objects=tables, bytes=size, elapsed_s=elapsed_s))

    try:
        code, _out, err = await run_tool(argv, env, on_line)
        if code != 0:
            raise dba.DbaError(
                f"pg_dump of profile '{state.profile}' ({database}) failed (exit {code}).",
                why=tail_error(err),
                hint="Fix what pg_dump says above and run it again.",
                code="dba.backup_failed",
                detail=err[-4000:],
            )
        os.replace(partial, target)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return tables


async def _inspect(
    state: ExecState, pool: asyncpg.Pool, path: str, target: str
) -> tuple[ArchiveInfo, Tool]:
    header = read_archive_header(path)
    version, database = await _server_facts(state, pool)
    target = target or database
    need = max(parse_major(header.dumped_by), server_major(version))
    tools = await trio.to_thread.run_sync(find_tools, "pg_restore")
    tool = choose_tool(
        "pg_restore",
        need,
        tools,
        why_need=f"The archive was written by pg_dump {header.dumped_by} for server PostgreSQL "
        f"{server_major(version)}",
    )
    code, listing, err = await run_tool([tool.path, "--list", path], {})
    if code != 0:
        raise dba.DbaError(
            f"pg_restore could not read {path}.",
            why=tail_error(err),
            hint="Is the file complete? A backup that was interrupted cannot be restored.",
            code="dba.archive_unreadable",
            detail=err[-4000:],
        )
    with map_errors(state):
        exists = bool(
            await aio_as_trio(pool.fetchval)("SELECT 1 FROM pg_database WHERE datname = $1", target)
        )
    info = archive_info(
        path,
        header,
        listing,
        target=target,
        exists=exists,
        version=version,
        tool=tool_reason(tool, need, tools, "archive/server"),
    )
    return info, tool


async def on_archive(state: ExecState, msg: ArchiveRequest, req: Request) -> ArchiveInfo:
    pool = await get_pool(state)
    path = os.path.abspath(os.path.expanduser(msg.path))
    info, _tool = await _inspect(state, pool, path, msg.target)
    return info


async def on_restore(state: ExecState, msg: RestoreRequest, req: Request) -> Restored:
    """CREATE DATABASE (the guarded text), then pg_restore into it in one transaction."""
    create_sql = create_database_sql(msg.target)
    check_verdict(state, create_sql, msg.verdict, confirmed=msg.confirmed)
    if msg.confirm_name != msg.target:
        raise dba.DbaError(
            f"The restore into '{msg.target}' was not confirmed by name.",
            why="A restore needs the target database's name typed as its confirmation.",
            hint=f"Pass --confirm {msg.target} (or type it when asked).",
            code="dba.not_confirmed",
        )
    pool = await get_pool(state)
    path = os.path.abspath(os.path.expanduser(msg.path))
    info, tool = await _inspect(state, pool, path, msg.target)
    if info.problems:
        raise dba.DbaError(
            f"pgask will not restore {path} into '{msg.target}'.",
            why="; ".join(info.problems) + ".",
            hint="Restore into a new database name, on a server at least as new as the archive's.",
            code="dba.restore_refused",
        )
    intent = {
        "decision": "typed",
        "class": msg.verdict.sql_class,
        "sql": f"{create_sql}; <pg_restore {path}>",
        "mode": msg.verdict.mode,
        "sql_sha256": msg.verdict.sql_sha256,
    }
    with audited(state, req, intent, durable=True, errors=BaseException) as block:
        with map_errors(state):
            await aio_as_trio(run_sql)(state, pool, create_sql, msg.verdict, None, _ignore)
        restored = await _restore(state, req, tool, path, msg.target)
        block.ok(rows=restored)
    elapsed = block.elapsed_ms
    log.info("executor.restore.finished", tables=restored, ms=round(elapsed, 1))
    return Restored(database=msg.target, tables=restored, elapsed_ms=elapsed, tool=info.tool)


async def _restore(state: ExecState, req: Request, tool: Tool, path: str, target: str) -> int:
    """pg_restore `path` into the (new, empty) database `target` in one transaction, with
    progress; the number of tables restored."""
    started = time.perf_counter()
    restored = 0

    async def on_line(line: str) -> None:
        nonlocal restored
        if "processing data for table" in line:
            restored += 1
            text = line.split(": ", 1)[-1]
            elapsed_s = time.perf_counter() - started
            await req.send(DbaProgress(text=text, objects=restored, elapsed_s=elapsed_s))

    argv, env = restore_argv(tool, state.config, path, target)
    code, _out, err = await run_tool(argv, env, on_line)
    if code != 0:
        raise dba.DbaError(
            f"pg_restore into '{target}' failed (exit {code}); nothing was restored.",
            why=tail_error(err),
            hint=f"The restore ran in one transaction, so '{target}' exists but is empty: "
            f"drop it (pgask sql 'DROP DATABASE {quote_ident(target)}' --mode read-write"
            f" --confirm {target}) after fixing the cause.",
            code="dba.restore_failed",
            detail=err[-4000:],
        )
    return restored


async def _ignore(_item: Any) -> None:
    return None
