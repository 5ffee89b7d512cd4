"""The headless driver of the workflow engine (ui/engine.py).

`pgask ask/sql/explain`, the DBA commands and the MCP server run a job through `run_job`:
it sends what the engine asks to send over the client, feeds the replies back, asks
`answer` when the person must decide, and returns what happened. Nothing here decides a
step: the engine does, exactly as it does for the TUI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from protocol.envelope import new_trace
from protocol.messages import (
    Clarification,
    Column,
    ExplainPlan,
    ExportCancel,
    Exported,
    Failure,
    Plan,
    QueryCancel,
    QueryDone,
    SessionGet,
    SessionState,
    Verdict,
)
from ui import engine
from ui.engine import Ask, JobRequest

# how long a reply may take, by what it answers; a query or a plan may take as long as it needs
# (the executor's statement_timeout and the planner's own timeouts bound them)
REPLY_TIMEOUT_S = {"guard": 60.0, "estimate": 30.0, "session": 10.0}

Answer = Callable[[Ask], Awaitable[bool | str | None]]


@dataclass
class JobResult:
    """What a job came to: the turn's outcome and what a front end shows of it."""

    outcome: str = ""
    plan: Plan | None = None
    clarification: Clarification | None = None
    verdict: Verdict | None = None
    columns: list[Column] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)  # kept only with keep_rows
    done: QueryDone | None = None
    explain: ExplainPlan | None = None
    exported: Exported | None = None
    failure: Failure | None = None
    first_failure: Failure | None = None  # a re-asked question: the failure that started it
    stopped: str = ""  # invalid, refused, stacked, declined: why nothing ran


@dataclass
class Driver:
    """Runs one engine job over a client (ui/client.py)."""

    client: Any
    job: engine.Job
    answer: Answer
    on_event: Callable[[engine.Event], Any] | None = None
    cancel: trio.Event | None = None
    keep_rows: bool = True
    result: JobResult = field(default_factory=JobResult)
    asking: Ask | None = None
    plan_timeout: float = 120.0  # the planner's retries and fallbacks all fit in it
    overwrite: Callable[[str], Awaitable[bool]] = field(default=lambda _path: _no())
    exists: bool = False  # an export's file exists: `overwrite` decides
    running: str = ""  # the request id of the query or explain that streams now

    async def run(self) -> JobResult:
        """Until the job is done (or, with `hold`, ready to run)."""
        job = self.job
        while True:
            if job.outbox:
                await self._send(job.outbox.pop(0))
                continue
            await self._events()
            if self.exists and job.stage == "confirming":
                self.exists = False
                job.overwrite(
                    await self.overwrite(job.request.export.path if job.request.export else "")
                )
                continue
            if self.asking is not None and job.stage == "confirming":
                ask, self.asking = self.asking, None
                reply = await self.answer(ask)
                job.answer(yes=reply is True, typed=reply if isinstance(reply, str) else None)
                continue
            if job.done or job.stage == "ready" or not (job.outbox or job.events):
                return self.result

    async def _send(self, out: engine.Send) -> None:
        job, client = self.job, self.client
        if out.purpose == "audit":
            await client.send(out.dst, out.body, trace=job.trace)
            return
        if out.purpose not in ("plan", "query", "explain", "export"):  # one reply
            try:
                reply = await client.request(
                    out.dst, out.body, timeout=REPLY_TIMEOUT_S.get(out.purpose, 30.0)
                )
            except trio.TooSlowError:
                reply = Failure(
                    code="actor.timeout",
                    message=f"No answer from the {out.dst}.",
                    hint="Check `pgask logs` for that actor.",
                )
            if out.purpose != "session":
                job.on_reply(out.purpose, reply)
            return
        self.running = client.ids()
        limit = self.plan_timeout if out.purpose == "plan" else float("inf")
        with trio.move_on_after(limit) as waited:
            async with trio.open_nursery() as nursery:
                if self.cancel is not None:
                    nursery.start_soon(self._cancel_on, self.cancel, out.dst, self.running)
                async for _header, reply in client.stream(
                    out.dst, out.body, trace=job.trace, request_id=self.running
                ):
                    job.on_reply(out.purpose, reply)
                    await self._events()
                nursery.cancel_scope.cancel()
        self.running = ""
        if waited.cancelled_caught:
            job.on_reply(
                out.purpose,
                Failure(
                    code="llm.timeout",
                    message=f"The planner did not answer within {limit:.0f} s.",
                    hint="Raise timeout_s under [model], or check `pgask logs` for the planner.",
                ),
            )

    async def _cancel_on(self, event: trio.Event, dst: str, request_id: str) -> None:
        await event.wait()
        if dst.startswith("executor:"):
            await self.client.send(dst, QueryCancel(target=request_id))
        elif dst == "exporter":
            await self.client.send(dst, ExportCancel(target=request_id))

    async def _events(self) -> None:
        events, self.job.events = self.job.events, []
        r = self.result
        for event in events:
            if isinstance(event, engine.Planned):
                r.plan = event.plan
            elif isinstance(event, engine.Clarify):
                r.clarification = event.clarification
            elif isinstance(event, engine.Checked):
                r.verdict = event.verdict
            elif isinstance(event, engine.Stopped):
                r.stopped = event.why
            elif isinstance(event, engine.Asking):
                self.asking = event.ask
            elif isinstance(event, engine.Estimated) and self.asking is not None:
                self.asking = Ask(self.asking.verdict, self.asking.sql, event.text)
            elif isinstance(event, engine.Columns):
                r.columns = list(event.columns)
            elif isinstance(event, engine.Rows) and self.keep_rows:
                r.rows.extend(event.rows)
            elif isinstance(event, engine.Done):
                r.done = event.done
            elif isinstance(event, engine.Explained):
                r.explain = event.plan
            elif isinstance(event, engine.Written):
                r.exported = event.exported
            elif isinstance(event, engine.FileExists):
                self.exists = True
            elif isinstance(event, engine.Failed):
                r.failure, r.first_failure = event.failure, event.first
            elif isinstance(event, engine.Reasking):
                r.rows.clear()
                r.first_failure = event.failure
            elif isinstance(event, engine.Finished):
                r.outcome = event.outcome
            if self.on_event is not None:
                shown = self.on_event(event)
                if isinstance(shown, Awaitable):
                    await shown


async def _no() -> bool:
    return False


async def session_of(client: Any) -> SessionState | None:
    """The conversation a question belongs to (the model sees its recent turns and pins)."""
    reply = await client.request("supervisor", SessionGet(), timeout=10)
    return reply if isinstance(reply, SessionState) else None


async def run_job(
    client: Any,
    config: Any,
    request: JobRequest,
    *,
    answer: Answer,
    on_event: Callable[[engine.Event], Any] | None = None,
    cancel: trio.Event | None = None,
    keep_rows: bool = True,
) -> JobResult:
    """Run `request` through the workflow; `answer` decides what needs a person (True/False
    for yes/no, the typed name for a destructive statement, None: declined)."""
    driver = start(
        client,
        config,
        request,
        await _session(client, request),
        answer=answer,
        on_event=on_event,
        cancel=cancel,
        keep_rows=keep_rows,
    )
    return await driver.run()


async def _session(client: Any, request: JobRequest) -> SessionState | None:
    return await session_of(client) if request.kind == "ask" else None


def start(
    client: Any,
    config: Any,
    request: JobRequest,
    session: SessionState | None,
    *,
    answer: Answer,
    on_event: Callable[[engine.Event], Any] | None = None,
    cancel: trio.Event | None = None,
    keep_rows: bool = True,
) -> Driver:
    """A driver whose job has started; `await driver.run()` runs it (again after `job.run()`
    when the request holds at `ready`)."""
    redact = config.privacy.redact_literals if config is not None else False
    job = engine.Job(request, session=session, redact_literals=redact, trace=new_trace())
    job.start()
    return Driver(
        client,
        job,
        answer,
        on_event,
        cancel,
        keep_rows,
        plan_timeout=plan_timeout(config) if config is not None else 120.0,
    )


def plan_timeout(config: Any) -> float:
    """How long a plan may take: every retry of the model, then the offline planner."""
    mc = config.model
    return max(120.0, (mc.timeout_s + 5) * (mc.max_retries + 1) * 4)
