"""query.copy: a guarded COPY ... TO STDOUT streamed to the exporter on a connection and a
worker thread of its own (CopyJob)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import asyncpg
import outcome
import trio

from actors._runtime import Request
from actors.executor.audit import audit_sql, audited
from actors.executor.connection import (
    check_pinned_settings,
    connect_kwargs,
    get_pool,
    watch_client_sql,
)
from actors.executor.errors import map_errors
from actors.executor.run import check_verdict, preamble
from actors.executor.state import ExecState
from protocol import copystream
from protocol.errors import DatabaseError
from protocol.messages import CopyDone, CopyRequest
from protocol.tracing import log

# ~45 µs of pause/resume and future bookkeeping, more than the bytes themselves.
COPY_FILL_BYTES = 64 * 1024
COPY_FILL_WAIT_S = 0.0006


async def on_query_copy(state: ExecState, msg: CopyRequest, req: Request) -> CopyDone:
    """Run a guarded COPY ... TO STDOUT into the exporter's stream socket. It runs in a READ
    ONLY transaction like any read, after a Parse of the exact text proves it is a single
    statement (COPY itself goes over the simple protocol, which would run a second one)."""
    check_verdict(state, msg.sql, msg.verdict, confirmed=False)
    if msg.verdict.sql_class != "read" or not msg.sql.lstrip()[:4].upper() == "COPY":
        raise DatabaseError(
            f"The executor for '{state.profile}' refused the export.",
            why="Only a read query wrapped in COPY ... TO STDOUT can be exported.",
            code="executor.bad_verdict",
        )
    await get_pool(state)  # proves the server reachable, with the errors and backoff of any query
    intent = {
        "decision": "export",
        "sql": audit_sql(state, msg.sql, msg.normalized),
        "sql_sha256": msg.verdict.sql_sha256,
        "class": "read",
        "mode": msg.verdict.mode,
    }
    limit_s = (
        state.config.statement_timeout_s
        if msg.timeout == "statement"
        else (state.config.export_timeout_s)
    )  # a query printed to stdout is bounded like any query; a file export as configured
    with audited(state, req, intent) as block:
        job = CopyJob(state, msg, f"{int(limit_s * 1000)}ms")
        with map_errors(state):
            status = await job.run()
        rows = int(status.split()[-1]) if status and status.split()[-1].isdigit() else 0
        block.ok(command=f"COPY {rows}", rows=rows, bytes=job.sent)
    log.info("executor.copy.finished", rows=rows, bytes=job.sent)
    return CopyDone(rows=rows, bytes=job.sent, elapsed_ms=block.elapsed_ms)


class CopyJob:
    """One COPY out on its own database connection, in a worker thread with a plain asyncio
    loop, written to the exporter's stream socket (protocol/copystream.py).

    Under trio-asyncio every socket wake-up of asyncpg's copy loop starts a trio task (its
    add_reader); a COPY wakes up tens of thousands of times, which made the executor, not
    the server, the limit of an export. A lagging exporter blocks the thread's write, so
    asyncpg stops reading and the server waits: memory stays bounded by socket buffers.
    """

    def __init__(self, state: ExecState, msg: CopyRequest, timeout: str) -> None:
        self.state, self.cfg, self.msg, self.timeout = state, state.config, msg, timeout
        self.app_name = state.app_name
        self.sent = 0  # bytes written to the stream
        self._out: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[str] | None = None
        self._cancelled = self._finished = False

    async def run(self) -> str:
        """The COPY's status ("COPY n"); a trio cancel cancels the COPY on the server."""

        def in_thread() -> str:
            with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
                return runner.run(self._copy())

        # The outcome is unwrapped outside the nursery, so an error reaches map_errors as itself
        # rather than inside an ExceptionGroup.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._cancel_when_cancelled)
            try:
                result = await trio.to_thread.run_sync(outcome.capture, in_thread)
            finally:
                self._finished = True
                nursery.cancel_scope.cancel()
        if self._cancelled:
            await trio.lowlevel.checkpoint()  # raises the trio Cancelled that ended the COPY
        return result.unwrap()

    async def _cancel_when_cancelled(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            if not self._finished:
                self._cancelled = True  # seen by a thread that has not started its loop yet
                if self._out is not None:  # a write blocked on a full socket returns
                    with contextlib.suppress(OSError):
                        self._out.shutdown(socket.SHUT_RDWR)
                loop, task = self._loop, self._task
                if loop is not None and task is not None:
                    loop.call_soon_threadsafe(task.cancel)

    async def _copy(self) -> str:
        """asyncio, in the worker thread: the COPY inside BEGIN READ ONLY, always rolled back.
        The stream is closed before this returns, so the exporter has every byte first."""
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._cancelled:
            raise asyncio.CancelledError
        try:
            out = self._out = copystream.connect(self.msg.sink, self.msg.token)
        except OSError as exc:
            raise _stream_error(exc) from exc
        with out:

            async def sink(data: bytes) -> None:
                try:
                    out.sendall(data)
                except OSError as exc:
                    raise _stream_error(exc) from exc
                self.sent += len(data)
                if len(data) < COPY_FILL_BYTES:
                    time.sleep(COPY_FILL_WAIT_S)  # this thread's loop serves only this COPY

            con = await asyncpg.connect(**connect_kwargs(self.cfg, self.app_name))
            await con.execute(watch_client_sql(con))
            try:
                await check_pinned_settings(con)
                tx = con.transaction(readonly=True)
                await tx.start()
                try:
                    await preamble(con, self.state, self.msg.verdict, self.timeout)
                    await con.prepare(self.msg.sql)  # Parse refuses a second statement
                    return await con._copy_out(self.msg.sql, sink, None)
                finally:
                    await tx.rollback()
            finally:
                await con.close(timeout=5)  # bounded: a trio cancel waits for this thread


def _stream_error(exc: OSError) -> DatabaseError:
    return DatabaseError(
        "The export stopped: the exporter's stream closed.",
        why=f"{type(exc).__name__}: {exc}",
        hint="The exporter reports what went wrong; run the export again.",
        code="executor.export_stream_closed",
    )
