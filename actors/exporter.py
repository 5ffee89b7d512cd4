"""exporter: writes the full result of a read query to CSV, JSON or JSON Lines.

Receives: export.start, export.cancel.
Replies:  export.progress (streamed, about 4 a second), then export.done; or error.
Restart:  permanent. Resources: none between exports.

The data path is PostgreSQL's own COPY: the server formats every value (CSV, or
`row_to_json` for JSON), the profile's executor writes the bytes to a socket this actor
listens on for that one export (protocol/copystream.py; the kernel's buffers are the flow
control), and this actor only appends them to a file, so exports run at `psql \\copy`
speed in bounded memory whatever the size.

* The exact COPY text is checked by the guard (it must be a `read`), signed, and the
  executor runs only that text.
* The file appears atomically: a temporary file in the target's directory, fsync,
  rename. A failed or cancelled export leaves no file at the target (and no temp file).
* An existing file is never replaced unless `force`.

Value mapping (documented in README "Export formats"):
  CSV   the server's text output; NULL is an empty unquoted field, '' is "" (quoted).
  JSON  row_to_json: numeric/bigint as JSON numbers with every digit, NaN/Infinity as
        strings, timestamps ISO 8601 with offset, bytea as "\\x…" hex, arrays and json
        nested as JSON, everything else as its text.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import trio

from actors._runtime import Actor, Request, main
from protocol import copystream
from protocol.endpoints import register_temp
from protocol.errors import ExportError, PgaskError
from protocol.messages import (
    CopyDone,
    CopyRequest,
    ExplainPlan,
    ExplainRequest,
    ExportCancel,
    Exported,
    ExportProgress,
    ExportRequest,
    Failure,
    GuardRequest,
    QueryCancel,
    QueryCancelled,
    QueryColumns,
    QueryDescribe,
    Verdict,
)
from protocol.sqltext import copy_out_sql
from protocol.tracing import log

PROGRESS_EVERY_S = 0.25
RECEIVE_BYTES = 1024 * 1024
# A short read waits this long before the next: the stream's 4 MiB socket buffer absorbs it,
# and each wake-up of this loop costs more than the bytes it moves.
READ_PAUSE_S = 0.002


def copy_text(sql: str, fmt: str, delimiter: str = ",", columns: list[str] | None = None) -> str:
    """The COPY statement that produces `fmt` for `sql` (what the guard checks and the server runs).

    `columns`, the result's names when known: if some repeat (a self-join's two `id`s), the
    result is renamed through an alias list to the names every format uses (id, id_2), so a
    JSON object keeps both values and a CSV header names each column once."""
    if fmt == "csv" and (len(delimiter) != 1 or delimiter in "\r\n\"'\\"):
        raise ExportError(
            f"The CSV delimiter {delimiter!r} cannot be used.",
            why="It must be one character other than a quote, a backslash or a line break.",
            hint="Use ',' (the default), ';', '|' or a tab.",
            code="export.bad_delimiter",
        )
    if fmt == "csv":
        return copy_out_sql(sql, columns or [], delimiter=delimiter)
    return copy_out_sql(sql, columns or [], fmt="jsonl")


def check_target(path: str, force: bool) -> Path:
    """The absolute target path, or an ExportError saying what is wrong with it and what to do."""
    if not path.strip():
        raise ExportError(
            "No export path was given.", hint="Name a file, e.g. /export csv orders.csv."
        )
    target = Path(path).expanduser()
    if not target.is_absolute():
        target = Path.cwd() / target
    try:
        return _check_target(target, force)
    except PermissionError as exc:
        raise ExportError(
            f"Cannot export to {target}: the directory {target.parent} is not writable or reachable.",
            why=str(exc),
            hint="Choose a directory you can write to, such as your home directory.",
            code="export.not_writable",
        ) from exc


def _check_target(target: Path, force: bool) -> Path:
    if target.is_dir():
        raise ExportError(
            f"{target} is a directory.",
            hint=f"Name a file inside it, e.g. {target / 'result.csv'}.",
            code="export.is_directory",
        )
    parent = target.parent
    if not parent.is_dir():
        raise ExportError(
            f"Cannot export to {target}: the directory {parent} does not exist.",
            hint=f"Create it first (mkdir -p {parent}) or choose another path.",
            code="export.no_directory",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(
            f"Cannot export to {target}: the directory {parent} is not writable or reachable.",
            hint="Choose a directory you can write to, such as your home directory.",
            code="export.not_writable",
        )
    if target.exists() and not force:
        raise ExportError(
            f"{target} already exists; it was not overwritten.",
            hint="Choose another name, or confirm overwriting it (--force).",
            code="export.exists",
        )
    return target


class _Writer:
    """Appends COPY output to the temporary file, turning JSON Lines into a JSON array."""

    def __init__(self, file: BinaryIO, fmt: str) -> None:
        self.file, self.fmt, self.bytes = file, fmt, 0
        self._any = False
        if fmt == "json":
            self._write(b"[\n")

    def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:  # an unbuffered write may be short (a disk filling up): finish it or fail
            written = self.file.write(view)
            self.bytes += written or 0
            view = view[written or 0 :]

    def chunk(self, data: memoryview) -> None:
        if data:
            self._any = True
        self._write(bytes(data).replace(b"\n", b",\n") if self.fmt == "json" else data)

    def finish(self) -> None:
        if self.fmt != "json":
            return
        if self._any:  # drop the ",\n" after the last object
            self.file.seek(-2, os.SEEK_END)
            self.file.truncate()
            self.bytes -= 2
            self._write(b"\n]\n")
        else:
            self._write(b"]\n")


async def on_export_start(state: None, msg: ExportRequest, req: Request) -> Exported:
    target = check_target(msg.path, msg.force)
    sql = copy_text(msg.sql, msg.format, msg.delimiter, await _column_names(req, msg))
    verdict = await _guarded_read(req, msg, sql)
    executor = f"executor:{msg.profile}"
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.pgask-tmp"
    started = time.perf_counter()
    copy_id = req.runtime.ids()  # known before any reply, so a cancel can always name it
    copy_sent = finished = False
    # noted in the run directory, so the supervisor removes it if this process is killed
    note = register_temp(req.runtime.boot.run_dir, tmp) if req.runtime.boot.run_dir else None
    try:
        # unbuffered: a full disk fails in write(), not in close()
        with open(tmp, "xb", buffering=0) as file:
            writer = _Writer(file, msg.format)
            boot = req.runtime.boot
            on_tcp = boot.endpoint.startswith("tcp://")  # no ipc here: no unix sockets either
            async with copystream.listen(boot.run_dir, tcp=on_tcp) as (listener, address):
                token = copystream.new_token()
                request = CopyRequest(
                    sql=sql,
                    verdict=verdict.signature,
                    sink=address,
                    token=token,
                    normalized=verdict.normalized,
                )
                progress = _Progress(req, writer, started, header_line=msg.format == "csv")
                copy_sent = True
                received, done = await _both(
                    partial(_receive, listener, token, writer, target, progress),
                    partial(_control, req, executor, copy_id, request),
                )
            if received != done.bytes:
                raise ExportError(
                    f"The export to {target} was incomplete; nothing was written there.",
                    why=f"The executor sent {done.bytes:,} bytes and {received:,} arrived.",
                    hint="Run the export again.",
                    code="export.incomplete",
                )
            rows = done.rows
            writer.finish()
            file.flush()
            await trio.to_thread.run_sync(os.fsync, file.fileno())
        _place(tmp, target, msg.force)
        finished = True
    except ExportError as exc:
        if exc.code != "export.disk_full":
            raise
        tmp.unlink(missing_ok=True)  # first, so the free space reported is the real one
        raise await _disk_full(req, msg, target, exc) from exc
    finally:
        if not finished:
            with trio.CancelScope(shield=True):
                if copy_sent:  # stop the server's side too (a no-op when the COPY already ended)
                    await req.runtime.send(executor, QueryCancel(target=copy_id))
                tmp.unlink(missing_ok=True)
        if note is not None:
            note.unlink(missing_ok=True)
    elapsed_ms = (time.perf_counter() - started) * 1000
    log.info(
        "exporter.export.finished",
        rows=rows,
        bytes=writer.bytes,
        ms=round(elapsed_ms, 1),
        format=msg.format,
        stream="tcp" if on_tcp else "unix",
    )
    return Exported(path=str(target), rows=rows, bytes=writer.bytes, elapsed_ms=elapsed_ms)


async def _guarded_read(req: Request, msg: ExportRequest, sql: str) -> Verdict:
    """The guard's signed verdict on the export's COPY: a read, or an error."""
    verdict = await req.runtime.request(
        "guard",
        GuardRequest(sql=sql, profile=msg.profile, mode="read-only"),
        trace=req.header.trace,
    )
    if isinstance(verdict, Failure):
        raise PgaskError(verdict.message, why=verdict.why, hint=verdict.hint, code=verdict.code)
    assert isinstance(verdict, Verdict)
    if verdict.signature is None or verdict.sql_class != "read":
        raise ExportError(
            "Only read queries can be exported.",
            why="; ".join(verdict.reasons) or f"The statement is of class '{verdict.sql_class}'.",
            hint='Export the result of a SELECT (the last query\'s result, or `pgask export "SELECT …"`).',
            code="export.not_a_read",
        )
    return verdict


class _Progress:
    """export.progress about every PROGRESS_EVERY_S. Rows are estimated from the bytes so
    far and the line breaks of the chunks sampled at each report: counting every byte's
    line breaks cost the exporter a third of its CPU (the exact count comes at the end)."""

    def __init__(self, req: Request, writer: _Writer, started: float, *, header_line: bool) -> None:
        self.req, self.writer, self.started, self.header_line = req, writer, started, header_line
        self.sampled_lines = self.sampled_bytes = 0
        self.next_at = started + PROGRESS_EVERY_S

    async def add(self, data: memoryview) -> None:
        now = time.perf_counter()
        if now < self.next_at:
            return
        self.next_at = now + PROGRESS_EVERY_S
        self.sampled_lines += bytes(data).count(b"\n")
        self.sampled_bytes += len(data)
        elapsed = now - self.started
        rows = max(
            0, round(self.writer.bytes * self.sampled_lines / self.sampled_bytes) - self.header_line
        )
        await self.req.send(
            ExportProgress(
                rows=rows, bytes=self.writer.bytes, rows_per_s=rows / elapsed, elapsed_s=elapsed
            )
        )


async def _receive(
    listener: trio.SocketListener,
    token: bytes,
    writer: _Writer,
    target: Path,
    progress: _Progress,
) -> int:
    """The executor's stream into the file until it closes; the bytes received. One buffer
    serves every read, so no read pays for fresh pages."""
    stream = await copystream.accept(listener, token)
    buffer = memoryview(bytearray(RECEIVE_BYTES))
    received = 0
    async with stream:
        while n := await stream.socket.recv_into(buffer):
            data = buffer[:n]
            _write_or_explain(writer, data, target)
            received += n
            await progress.add(data)
            if n < RECEIVE_BYTES // 4:  # let the socket fill: fewer, larger reads
                await trio.sleep(READ_PAUSE_S)
    return received


async def _control(req: Request, executor: str, copy_id: str, request: CopyRequest) -> CopyDone:
    """The executor's answer to query.copy, sent after it closed the stream."""
    async for _header, body in req.runtime.stream(
        executor, request, trace=req.header.trace, request_id=copy_id
    ):
        if isinstance(body, CopyDone):
            return body
        if isinstance(body, QueryCancelled):
            raise ExportError("The export was cancelled on the server.", code="export.cancelled")
        if isinstance(body, Failure):
            raise PgaskError(
                body.message, why=body.why, hint=body.hint, code=body.code, detail=body.detail
            )
    raise ExportError("The executor ended the export without a result.", code="export.incomplete")


async def _both(
    receive: Callable[[], Awaitable[int]], control: Callable[[], Awaitable[CopyDone]]
) -> tuple[int, CopyDone]:
    """Run the byte stream and the control reply together; the first error stops both and
    is raised as itself (not inside an ExceptionGroup), so it becomes the export's reply."""
    results: dict[str, Any] = {}
    errors: list[Exception] = []
    async with trio.open_nursery() as nursery:

        async def run(name: str, task: Callable[[], Awaitable[Any]]) -> None:
            try:
                results[name] = await task()
            except Exception as exc:
                errors.append(exc)
                nursery.cancel_scope.cancel()

        nursery.start_soon(run, "received", receive)
        nursery.start_soon(run, "done", control)
    if errors:
        raise errors[0]
    return results["received"], results["done"]


async def _disk_full(
    req: Request, msg: ExportRequest, target: Path, exc: ExportError
) -> ExportError:
    """The full-disk error, with the space the whole result needs (PostgreSQL's estimate of
    rows x average width, from EXPLAIN) beside what is free."""
    free = shutil.disk_usage(target.parent).free
    needed = await _estimated_bytes(req, msg)
    why = f"{exc.why} {free / 1e6:,.1f} MB is free there"
    why += (
        f"; the whole result needs about {needed / 1e6:,.1f} MB (PostgreSQL's estimate)."
        if needed
        else "."
    )
    return ExportError(exc.message, why=why, hint=exc.hint, code=exc.code)


async def _column_names(req: Request, msg: ExportRequest) -> list[str] | None:
    """The result's column names (Parse/Describe on the executor), or None when they cannot
    be had: then the COPY's own check and run report what is wrong with the query."""
    verdict = await req.runtime.request(
        "guard",
        GuardRequest(sql=msg.sql, profile=msg.profile, mode="read-only"),
        trace=req.header.trace,
    )
    if not isinstance(verdict, Verdict) or verdict.signature is None:
        return None
    if verdict.sql_class != "read":
        return None
    described = await req.runtime.request(
        f"executor:{msg.profile}",
        QueryDescribe(sql=msg.sql, verdict=verdict.signature),
        trace=req.header.trace,
    )
    if not isinstance(described, QueryColumns):
        return None
    return [c.name for c in described.columns]


async def _estimated_bytes(req: Request, msg: ExportRequest) -> int:
    """rows x width of the query's plan, or 0 when it cannot be had within a few seconds."""
    trace = req.header.trace
    try:
        verdict = await req.runtime.request(
            "guard",
            GuardRequest(sql=msg.sql, profile=msg.profile, mode="read-only"),
            trace=trace,
            timeout=5,
        )
        if not isinstance(verdict, Verdict) or verdict.signature is None:
            return 0
        plan = await req.runtime.request(
            f"executor:{msg.profile}",
            ExplainRequest(sql=msg.sql, verdict=verdict.signature),
            trace=trace,
            timeout=5,
        )
        if not isinstance(plan, ExplainPlan):
            return 0
        top = json.loads(plan.plan)[0]["Plan"]
        return int(top["Plan Rows"]) * int(top["Plan Width"])
    except (trio.TooSlowError, ValueError, LookupError, TypeError):
        return 0


def _write_or_explain(writer: _Writer, data: memoryview, target: Path) -> None:
    try:
        writer.chunk(data)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(
                f"The disk holding {target.parent} is full; the export to {target} was stopped and nothing was written there.",
                why=f"{writer.bytes + len(data):,} bytes had been produced so far, and more were coming;",
                hint="Free some space, or export to another disk.",
                code="export.disk_full",
            ) from exc
        raise ExportError(
            f"Could not write {target}: {exc.strerror}.", code="export.write_failed"
        ) from exc


def _place(tmp: Path, target: Path, force: bool) -> None:
    """Rename into place; without `force`, a file created meanwhile is still not replaced."""
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError as exc:
        raise ExportError(
            f"{target} appeared while exporting; it was not overwritten.", code="export.exists"
        ) from exc
    except OSError:  # no hard links on this file system: check, then rename
        if target.exists():
            raise ExportError(
                f"{target} appeared while exporting; it was not overwritten.", code="export.exists"
            ) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


async def on_export_cancel(state: None, msg: ExportCancel, req: Request) -> QueryCancelled:
    if not req.runtime.cancel(msg.target):
        raise ExportError("There is no running export to cancel.", code="export.nothing_to_cancel")
    return QueryCancelled(target=msg.target)


ACTOR = Actor("exporter", handlers={ExportRequest: on_export_start, ExportCancel: on_export_cancel})

if __name__ == "__main__":
    main(ACTOR)
