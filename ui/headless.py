"""Helpers of the headless front end (`pgask sql/ask/explain/...`): which profile, asking
on the terminal, talking to the planner. No actor imports: only messages over the client."""

from __future__ import annotations

import os
import sys
from typing import Any

from protocol.errors import PgaskError
from ui import workflow

# exit statuses of the headless commands (`pgask sql --help` lists them)
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED, EXIT_NEEDS_CONFIRM = 0, 1, 2, 3, 4
EXIT_CLARIFY = 5  # the planner asks a clarifying question (printed, nothing run)
EXIT_TRUNCATED = 6  # every row written was right, but --max-rows cut the result short
EXIT_CANCELLED = 130
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE, as a shell reports)


LIBPQ_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE")


def default_profile(config: Any, given: str | None) -> str:
    """-p's value; else the only profile; else, as psql does, the libpq environment
    (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE ...) as an ad-hoc URL profile whose
    missing parts the driver fills from those same variables (and ~/.pgpass, PGPASSWORD)."""
    if given:
        return given
    if len(config.profiles) == 1:
        return next(iter(config.profiles))
    if not config.profiles and any(os.environ.get(v) for v in LIBPQ_ENV):
        return "postgresql://"
    names = ", ".join(sorted(config.profiles)) or "none are configured"
    raise PgaskError(
        "Which database? No profile was given.",
        why=f"Profiles: {names}.",
        hint="Pass -p PROFILE or -p postgresql://user@host/db, or set PGHOST, PGDATABASE ... as for psql.",
        code="config.no_profile",
    )


async def ensure_password(client: Any, config: Any, profile: str) -> None:
    """psql's habit: when the server asks for a password and none is configured, ask on the
    terminal (not echoed) and hand it to the profile's executor, in memory only. Without a
    terminal nothing is asked and the command fails as before, saying how to configure one."""
    from protocol.messages import CatalogRequest, ConnectPassword, Failure

    if workflow.password_configured(config, profile):
        return
    try:
        tty = open(terminal(), "w")  # getpass reads from the terminal itself
    except OSError:
        return
    with tty:
        reply = await client.request(f"executor:{profile}", CatalogRequest(), timeout=60)
        for _ in range(3):
            if not (isinstance(reply, Failure) and reply.code == "db.auth_failed"):
                return
            import getpass

            try:
                password = getpass.getpass(f"Password for profile '{profile}': ", stream=tty)
            except (EOFError, KeyboardInterrupt):
                return
            if not password:
                return
            reply = await client.request(
                f"executor:{profile}", ConnectPassword(password=password), timeout=60
            )
            del password


def terminal() -> str:
    """The person's terminal: /dev/tty, or the one `pgask` handed a command it had forked
    from the session host's command server (which has no terminal of its own)."""
    return os.environ.get("PGASK_TTY") or "/dev/tty"


def ask_tty(prompt: str) -> str:
    """A line typed on the controlling terminal (stdin may be a pipe); "" without one."""
    try:
        with open(terminal()) as tty_in, open(terminal(), "w") as tty_out:
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
