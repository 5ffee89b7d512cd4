"""The one place `pgask mcp` reaches the workflow engine (ui/engine.py, ui/drive.py).

An agent's call is a job of the one workflow (plan -> guard -> confirm -> run -> audit ->
record the turn), driven headlessly: `run_job` asks `answer` when the person must decide. What
this module adds is only what a server for other agents needs around it:

* the job runs in the server's own nursery, not in the MCP request's task, so when the request
  is cancelled (an MCP cancel notification, or the client went away) the job is told to cancel
  at the server (QueryCancel) and finishes cleanly instead of being torn down mid-stream;
* a question to the person that is still open when the request is cancelled is answered "no".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ui.drive import JobResult, run_job
from ui.engine import Ask, JobRequest

__all__ = ["Ask", "JobRequest", "JobResult", "run_cancellable"]

# how long a cancelled job may take to stop at the server before the request gives up on it
CANCEL_GRACE_S = 10.0


async def run_cancellable(
    nursery: trio.Nursery,
    client: Any,
    config: Any,
    request: JobRequest,
    *,
    answer: Callable[[Ask], Awaitable[bool | str | None]],
) -> JobResult:
    """`run_job` in `nursery`; cancelling the caller cancels the job at the server."""
    cancel = trio.Event()
    done = trio.Event()
    outcome: list[JobResult | BaseException] = []

    async def answering(ask: Ask) -> bool | str | None:
        reply: list[bool | str | None] = [None]
        raised: list[Exception] = []
        async with trio.open_nursery() as inner:

            async def ask_person() -> None:
                try:
                    reply[0] = await answer(ask)
                except Exception as exc:  # raised as itself below, not in a group
                    raised.append(exc)
                inner.cancel_scope.cancel()

            async def on_cancel() -> None:
                await cancel.wait()
                inner.cancel_scope.cancel()  # the request went away: nobody said yes

            inner.start_soon(ask_person)
            inner.start_soon(on_cancel)
        if raised:
            raise raised[0]
        return None if cancel.is_set() else reply[0]

    async def job() -> None:
        try:
            outcome.append(await run_job(client, config, request, answer=answering, cancel=cancel))
        except Exception as exc:  # handed to the caller, who raises it in its own task
            outcome.append(exc)
        finally:
            done.set()

    nursery.start_soon(job)
    try:
        await done.wait()
    except trio.Cancelled:
        cancel.set()
        with trio.CancelScope(shield=True), trio.move_on_after(CANCEL_GRACE_S):
            await done.wait()
        raise
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result
