"""Helpers of the headless front end (`pgask sql/ask/explain/...`): which profile, asking
on the terminal, talking to the planner. No actor imports: only messages over the client."""

from __future__ import annotations

import sys
from typing import Any

from protocol.errors import PgaskError


def default_profile(config: Any, given: str | None) -> str:
    if given:
        return given
    if len(config.profiles) == 1:
        return next(iter(config.profiles))
    names = ", ".join(sorted(config.profiles)) or "none are configured"
    raise PgaskError(
        "Which database? No profile was given.",
        why=f"Profiles: {names}.",
        hint="Pass -p PROFILE or -p postgresql://user@host/db.",
        code="config.no_profile",
    )


def ask_tty(prompt: str) -> str:
    """A line typed on the controlling terminal (stdin may be a pipe); "" without one."""
    try:
        with open("/dev/tty") as tty_in, open("/dev/tty", "w") as tty_out:
            tty_out.write(prompt)
            tty_out.flush()
            return tty_in.readline().strip()
    except OSError:
        return ""


async def request_plan(client: Any, request: Any, *, timeout: float) -> Any:
    """Ask the planner; print its notices (retries ...) on stderr; the Plan, Clarification or
    Failure it ends with."""
    import trio

    from protocol.messages import Failure, PlannerNotice

    last: Any = None
    with trio.move_on_after(timeout) as scope:
        async for _header, body in client.stream("planner", request):
            if isinstance(body, PlannerNotice):
                print(f"pgask: {body.text}", file=sys.stderr)
            else:
                last = body
    if scope.cancelled_caught or last is None:
        return Failure(
            code="llm.timeout",
            message=f"The planner did not answer within {timeout:.0f} s.",
            hint="Raise timeout_s under [model], or check `pgask logs` for the planner.",
        )
    return last
