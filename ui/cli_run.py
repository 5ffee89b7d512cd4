"""`pgask sql` and `pgask ask`: the workflow engine (ui/engine.py), driven headlessly.

The engine decides every step (which mode, what needs confirming, re-asking the model,
what the audit trail and the session record); this module only shows the steps on stdout and
stderr and answers confirmations from --yes / --confirm NAME or the terminal. The special
ways a ready statement may run here (COPY straight to stdout, CSV through COPY, a file
through the exporter) are told to the engine with `Job.ran`, so the turn is recorded alike.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from protocol.errors import failure_text
from ui import drive, engine, workflow
from ui import format as fmt
from ui.engine import Ask, JobRequest
from ui.headless import (
    EXIT_BROKEN_PIPE,
    EXIT_CANCELLED,
    EXIT_CLARIFY,
    EXIT_ERROR,
    EXIT_NEEDS_CONFIRM,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TRUNCATED,
    ask_tty,
)

QUERY_KINDS = frozenset({"SELECT", "VALUES", "TABLE"})


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def answer_from(
    args: argparse.Namespace, profile: str
) -> Callable[[Ask], Awaitable[bool | str | None]]:
    """--yes answers a yes/no dialog, --confirm NAME a typed one; a person at the terminal
    answers what the flags did not."""

    async def answer(ask: Ask) -> bool | str | None:
        v = ask.verdict
        yes, typed = bool(getattr(args, "yes", False)), getattr(args, "confirm", None)
        reasons = "; ".join(v.reasons) or v.sql_class
        if sys.stdin.isatty():
            estimate = f" ({ask.estimate})" if ask.estimate else ""
            if v.confirm == "confirm" and not yes:
                reply = ask_tty(
                    f"{v.sql_class}: {reasons}{estimate}\nRun it on '{profile}'? [y/N] "
                )
                yes = reply.lower() in ("y", "yes")
            if v.confirm == "typed" and typed is None:
                typed = ask_tty(f"{reasons}{estimate}\nType '{v.confirm_name}' to run it: ")
        if v.confirm == "typed":
            return typed
        return yes if v.confirm == "confirm" else True

    return answer


@dataclass
class Printer:
    """What the TUI would show, as a shell command prints it: rows on stdout, the rest on
    stderr. `code` is the exit status so far."""

    args: argparse.Namespace
    mode: str
    cancel: trio.Event
    writer: fmt.StreamWriter = field(init=False)
    columns: list[str] = field(default_factory=list)
    started: bool = False  # the header is written with the first rows (or at the end)
    ended: bool = False
    code: int = EXIT_OK
    max_rows: int = 0

    def __post_init__(self) -> None:
        self.writer = fmt.StreamWriter(sys.stdout, self.args.format)

    def __call__(self, event: engine.Event) -> None:
        if isinstance(event, engine.Notice):
            _err(f"pgask: {event.text}")
        elif isinstance(event, engine.Planned) and getattr(self.args, "show_sql", False):
            print_plan(event.plan)
        elif isinstance(event, engine.Clarify):
            print(event.clarification.question)
            for i, option in enumerate(event.clarification.options, 1):
                print(f"  {i}. {option}")
            self.code = EXIT_CLARIFY
        elif isinstance(event, engine.Stopped):
            self.stopped(event)
        elif isinstance(event, engine.Reasking):
            _err(f"pgask: the query failed ({event.failure.code}); asking the planner to fix it.")
        elif isinstance(event, engine.Failed):
            self.failed(event)
        else:
            self.result(event)

    def stopped(self, event: engine.Stopped) -> None:
        v, mode = event.verdict, self.mode
        reasons = "; ".join(v.reasons) or v.sql_class
        self.code = EXIT_REFUSED
        if event.why == "invalid":
            self.code = EXIT_ERROR
            if v.error:
                _err(f"pgask: the SQL does not parse: {v.error.message}\n{v.error.snippet}")
            else:
                _err(f"pgask: the SQL cannot be run: {reasons}")
        elif event.why == "stacked":
            _err(
                f"pgask: the planned SQL holds {len(v.statements)} statements; nothing was run. "
                'Run them in order, each checked on its own, with `pgask sql "..."` '
                "(--show-sql prints them)."
            )
        elif event.why == "refused":
            _err(f"pgask: refused ({v.sql_class}) in {mode} mode: {reasons}")
            if mode == "read-only" and v.sql_class in ("write", "ddl", "destructive"):
                _err("Run it with --mode read-write (and --yes, or --confirm NAME) to allow it.")
        elif v.confirm == "typed":
            self.code = EXIT_NEEDS_CONFIRM
            _err(f"pgask: this destructive statement needs --confirm {v.confirm_name}.")
        else:
            self.code = EXIT_NEEDS_CONFIRM
            _err(f"pgask: this {v.sql_class} statement needs confirmation: pass --yes.")

    def failed(self, event: engine.Failed) -> None:
        if self.code == EXIT_BROKEN_PIPE:
            return
        if self.writer.count:
            _err(
                f"pgask: the output is incomplete: {self.writer.count:,} rows were written "
                "before the error below."
            )
        if event.first is not None and event.first is not event.failure:
            _err(failure_text(event.first))  # what the model was asked to fix
        _err(failure_text(event.failure))
        self.code = EXIT_ERROR

    def result(self, event: engine.Event) -> None:
        if isinstance(event, engine.Columns):
            self.columns = [c.name for c in event.columns]
        elif isinstance(event, engine.Rows | engine.Done) and self.columns and not self.started:
            self.started = True
            self.writer.columns(self.columns)
        if isinstance(event, engine.Rows) and self.code == EXIT_OK:
            try:
                self.writer.rows(event.rows)
            except BrokenPipeError:  # `| head`: the reader is gone; stop the query
                silence_stdout()
                self.code = EXIT_BROKEN_PIPE
                self.cancel.set()
        elif isinstance(event, engine.Done):
            done = event.done
            if not self.columns:
                print(done.command)
            if done.truncated:
                self.code = EXIT_TRUNCATED
                _err(
                    f"pgask: output cut at {done.rows:,} rows by --max-rows {self.max_rows}; "
                    "the result has more rows (exit status 6). Use --max-rows 0 for all."
                )
            self.end()
        elif isinstance(event, engine.Cancelled) and self.code != EXIT_BROKEN_PIPE:
            _err("pgask: cancelled; the server stopped the query.")
            self.code = EXIT_CANCELLED

    def end(self) -> None:
        """The result's closing text (a table is printed whole here), once."""
        if self.ended:
            return
        self.ended = True
        if self.started and self.code in (EXIT_OK, EXIT_TRUNCATED):
            try:
                self.writer.end()
            except BrokenPipeError:
                silence_stdout()
                self.code = EXIT_BROKEN_PIPE


def print_plan(plan: Any) -> None:
    _err(plan.sql.rstrip().rstrip(";") + ";")
    if plan.explanation:
        _err(f"-- {plan.explanation}")
    for note in plan.assumptions:
        _err(f"-- assumes: {note}")


def silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def short(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "\u2026"


async def with_ctrl_c(printer: Printer, driver: drive.Driver) -> None:
    """Run the driver; Ctrl+C cancels the running query at the server (its rows stop, the
    command exits 130), or, before anything runs, stops waiting."""
    async with trio.open_nursery() as nursery:

        async def on_sigint() -> None:
            with trio.open_signal_receiver(signal.SIGINT) as signals:
                async for _ in signals:
                    printer.cancel.set()
                    if driver.job.stage != "running":  # nothing runs on the database yet
                        _err("pgask: cancelled; nothing was run.")
                        printer.code = EXIT_CANCELLED
                        driver.job.abandon("cancelled")
                        nursery.cancel_scope.cancel()
                        return

        nursery.start_soon(on_sigint)
        await driver.run()
        nursery.cancel_scope.cancel()


# -- pgask sql -----------------------------------------------------------------------------


async def run_sql(
    sup: Any, client: Any, args: argparse.Namespace, profile: str, mode: str, sql_text: str
) -> int:
    """Every statement is checked and confirmed before any of them runs (a refusal comes up
    front, never after the first ones ran); then they run in order, results one after
    another as psql shows them."""
    max_rows = max(0, args.max_rows)  # headless output is the whole result unless asked
    texts = await statement_texts(client, sql_text, profile, mode)
    answer = answer_from(args, profile)
    ready: list[tuple[drive.Driver, Printer]] = []
    for text in texts:
        request = JobRequest(
            kind="sql",
            text=text,
            profile=profile,
            mode=mode,
            max_rows=max_rows,  # type: ignore[arg-type]
            hold=True,
            question=getattr(args, "question", "") or "",
        )
        printer = Printer(args, mode, trio.Event(), max_rows=max_rows)
        driver = drive.start(
            client,
            sup.config,
            request,
            None,
            answer=answer,
            on_event=printer,
            cancel=printer.cancel,
            keep_rows=False,
        )
        await with_ctrl_c(printer, driver)
        if driver.job.stage != "ready":
            if len(texts) > 1 and printer.code not in (EXIT_OK, EXIT_CANCELLED):
                _err(
                    f"pgask: nothing was run (statement {len(ready) + 1} of {len(texts)}: "
                    f"{short(text)})."
                )
            return printer.code
        ready.append((driver, printer))
    for i, (driver, printer) in enumerate(ready):
        if i and args.format == "table":
            print()  # results one after another, as psql shows them
        await run_ready(sup, client, args, driver, printer, max_rows=max_rows)
        if printer.code not in (EXIT_OK, EXIT_TRUNCATED):
            if i + 1 < len(ready):
                _err(
                    f"pgask: stopped at statement {i + 1} of {len(ready)}; the statements "
                    "after it were not run."
                )
            return printer.code
    return ready[-1][1].code if ready else EXIT_OK


async def run_ready(
    sup: Any,
    client: Any,
    args: argparse.Namespace,
    driver: drive.Driver,
    printer: Printer,
    *,
    max_rows: int,
) -> None:
    """Run a statement the engine holds at `ready`: as rows, or as COPY output on stdout."""
    job = driver.job
    verdict, profile = job.verdict, job.request.profile
    assert verdict is not None
    copy: tuple[str, Any] | None = None
    if is_copy_out(verdict):
        copy = (job.sql, verdict)
    elif args.format == "csv" and not max_rows:  # the server formats it: psql's speed
        copy = await csv_copy_of(client, profile, job.sql, verdict, job.request.mode)
    if copy is None:
        job.run()
        await with_ctrl_c(printer, driver)
        printer.end()
        return
    code, failure = await copy_to_stdout(sup, client, profile, *copy)
    printer.code = code
    if failure is not None:
        _err(failure_text(failure))
    job.ran(workflow.failure_outcome(failure) if failure is not None else "copied to stdout")
    await driver.run()  # records the turn


async def statement_texts(client: Any, sql_text: str, profile: str, mode: str) -> list[str]:
    """The statements of a text, as the guard's parser cut them (one text when it holds one,
    or cannot be parsed: then the guard's verdict on the whole text says why)."""
    from protocol.messages import GuardRequest, Verdict

    verdict = await client.request(
        "guard", GuardRequest(sql=sql_text, profile=profile, mode=mode), timeout=60
    )
    if not isinstance(verdict, Verdict) or verdict.sql_class == "invalid":
        return [sql_text]
    texts = [st.text for st in verdict.statements if st.text.strip()]
    return texts if len(texts) > 1 else [sql_text]


# -- pgask ask -----------------------------------------------------------------------------


async def run_ask(
    sup: Any,
    client: Any,
    args: argparse.Namespace,
    profile: str,
    mode: str,
    question: str,
    *,
    export: Callable[[str], Awaitable[int]] | None = None,
) -> int:
    """plan -> guard -> confirm -> run -> print, with one self-repair of a failed read;
    `export`: the full result goes to a file instead (args.out)."""
    max_rows = max(0, args.max_rows)
    request = JobRequest(
        kind="ask",
        text=question,
        profile=profile,
        mode=mode,
        max_rows=max_rows,  # type: ignore[arg-type]
        planner=args.planner,
        hold=export is not None,
    )
    printer = Printer(args, mode, trio.Event(), max_rows=max_rows)
    driver = drive.start(
        client,
        sup.config,
        request,
        await drive.session_of(client),
        answer=answer_from(args, profile),
        on_event=printer,
        cancel=printer.cancel,
        keep_rows=False,
    )
    await with_ctrl_c(printer, driver)
    job = driver.job
    if export is not None and job.stage == "ready":
        code = await export(job.sql)
        job.ran(f"exported to {args.out}" if code == EXIT_OK else "export failed")
        await driver.run()
        return code
    printer.end()
    return printer.code


# -- pgask export, sql --out, ask --out -------------------------------------------------------


@dataclass
class ExportPrinter:
    """Progress on a terminal, the file written, or why not."""

    cancel: trio.Event
    tty: bool = field(default_factory=sys.stderr.isatty)
    code: int = EXIT_ERROR

    def __call__(self, event: engine.Event) -> None:
        nl = "\n" if self.tty else ""
        if isinstance(event, engine.Progress) and self.tty:
            p = event.progress
            rate = p.bytes / max(p.elapsed_s, 1e-9) / 1e6
            print(
                f"\r~{p.rows:,} rows  {p.bytes / 1e6:,.1f} MB  {rate:,.1f} MB/s ",
                end="",
                file=sys.stderr,
            )
        elif isinstance(event, engine.Written):
            e = event.exported
            rows = f"{e.rows:,} row{'s' if e.rows != 1 else ''}"
            _err(
                f"{nl}Exported {rows} ({e.bytes:,} bytes) to {e.path} in {e.elapsed_ms / 1000:.1f} s"
            )
            self.code = EXIT_OK
        elif isinstance(event, engine.Cancelled):
            _err("\npgask: export cancelled; no file was written.")
            self.code = EXIT_CANCELLED
        elif isinstance(event, engine.Stopped):
            if event.failure is not None:  # the file exists and --force was not given
                _err(nl + failure_text(event.failure))
                self.code = EXIT_ERROR
                return
            v = event.verdict
            _err(
                f"pgask: only the result of a read query can be exported; this is {v.sql_class}"
                f"{': ' + '; '.join(v.reasons) if v.reasons else ''}."
            )
            self.code = EXIT_ERROR if event.why == "invalid" else EXIT_REFUSED
        elif isinstance(event, engine.Failed):
            _err(nl + failure_text(event.failure))
            self.code = EXIT_REFUSED if event.failure.code == "export.not_a_read" else EXIT_ERROR


async def run_export(client: Any, config: Any, request: JobRequest) -> int:
    """The workflow engine checks the SQL, then the exporter writes its full result."""

    async def no_answer(_ask: Ask) -> bool:
        return False  # an export runs reads only: nothing to confirm

    printer = ExportPrinter(trio.Event())
    driver = drive.start(
        client,
        config,
        request,
        None,
        answer=no_answer,
        on_event=printer,
        cancel=printer.cancel,
        keep_rows=False,
    )
    async with trio.open_nursery() as nursery:

        async def on_sigint() -> None:
            with trio.open_signal_receiver(signal.SIGINT) as signals:
                async for _ in signals:
                    printer.cancel.set()

        nursery.start_soon(on_sigint)
        await driver.run()
        nursery.cancel_scope.cancel()
    return printer.code


# -- ways a ready statement runs outside the row stream --------------------------------------


async def copy_to_stdout(
    sup: Any, client: Any, profile: str, sql_text: str, verdict: Any
) -> tuple[int, Any]:
    """`COPY ... TO STDOUT` prints its rows, as psql does: the executor runs the guarded COPY
    in a READ ONLY transaction and writes its bytes to a socket of this process (the
    exporter's path, protocol/copystream.py), which copies them to stdout unchanged."""
    import trio

    from protocol import copystream
    from protocol.messages import CopyDone, CopyRequest, Failure, QueryCancel

    out = sys.stdout.buffer
    sys.stdout.flush()
    received = 0
    broken = False
    done: Any = None
    failure: Any = None
    on_tcp = str(sup.endpoint).startswith("tcp://")
    async with copystream.listen(str(sup.run_dir), tcp=on_tcp) as (listener, address):
        token = copystream.new_token()
        request = CopyRequest(
            sql=sql_text,
            verdict=verdict.signature,
            sink=address,
            token=token,
            normalized=verdict.normalized,
            timeout="statement",
        )
        async with trio.open_nursery() as nursery:
            finished = trio.Event()

            copy_id = client.ids()

            async def receive() -> None:
                nonlocal received, broken
                stream = await copystream.accept(listener, token)
                async with stream:
                    while data := await stream.receive_some(1 << 20):
                        try:
                            out.write(data)
                        except BrokenPipeError:  # `| head`: stop the COPY, say nothing
                            broken = True
                            silence_stdout()
                            await client.send(f"executor:{profile}", QueryCancel(target=copy_id))
                            return
                        received += len(data)
                finished.set()

            nursery.start_soon(receive)
            async for _header, body in client.stream(
                f"executor:{profile}", request, request_id=copy_id
            ):
                if isinstance(body, CopyDone):
                    done = body
                elif isinstance(body, Failure):
                    failure = body
            if failure is not None or done is None:
                nursery.cancel_scope.cancel()
            else:
                with trio.move_on_after(30):
                    await finished.wait()
                nursery.cancel_scope.cancel()
    return copy_outcome(out, received, done, failure, broken=broken)


def copy_outcome(
    out: Any, received: int, done: Any, failure: Any, *, broken: bool
) -> tuple[int, Any]:
    """How a COPY to stdout ended: every byte arrived, the reader went away, or it failed."""
    from protocol.messages import Failure

    if broken:
        return EXIT_BROKEN_PIPE, None
    try:
        out.flush()
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE, None
    if failure is not None:
        if received:
            _err(
                f"pgask: the output is incomplete: {received:,} bytes were written before the "
                "error below."
            )
        return EXIT_ERROR, failure
    if done is None or received != done.bytes:
        return EXIT_ERROR, Failure(
            code="cli.copy_incomplete",
            message="The COPY's output was incomplete.",
            why=f"The executor sent {getattr(done, 'bytes', 0):,} bytes and {received:,} arrived.",
            hint="Run it again; `pgask logs` shows what the executor saw.",
        )
    return EXIT_OK, None


def is_copy_out(verdict: Any) -> bool:
    """`COPY ... TO STDOUT` (the guard calls any other COPY non-read)."""
    kinds = [st.kind for st in verdict.statements]
    return verdict.sql_class == "read" and kinds == ["COPY"] and verdict.signature is not None


async def csv_copy_of(
    client: Any, profile: str, sql_text: str, verdict: Any, mode: str
) -> tuple[str, Any] | None:
    """(COPY text, its verdict) that prints `sql_text`'s result as CSV with a header, its
    repeated column names made distinct (id, id_2); None where the row path must serve
    (not a query, a name that cannot be had, or a COPY text the guard would not run)."""
    from protocol.messages import GuardRequest, QueryColumns, QueryDescribe, Verdict
    from protocol.sqltext import copy_out_sql

    kinds = [st.kind for st in verdict.statements]
    if verdict.sql_class != "read" or verdict.signature is None or len(kinds) != 1:
        return None
    if kinds[0] not in QUERY_KINDS:
        return None
    described = await client.request(
        f"executor:{profile}", QueryDescribe(sql=sql_text, verdict=verdict.signature), timeout=60
    )
    if not isinstance(described, QueryColumns) or not described.columns:
        return None
    copy_sql = copy_out_sql(sql_text, [c.name for c in described.columns])  # the exporter's text
    checked = await client.request(
        "guard", GuardRequest(sql=copy_sql, profile=profile, mode=mode), timeout=60
    )
    if not isinstance(checked, Verdict) or not is_copy_out(checked):
        return None
    return copy_sql, checked
