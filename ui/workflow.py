"""The workflow's rules, written once: plan -> guard -> confirm -> run -> audit -> record the turn.

Pure and sans-IO. The TUI's reducer (ui/state.py) and the headless driver (`pgask ask/sql`,
ui/cli.py) both decide through these functions, so a mode rule, a confirmation, a re-ask
or a recorded turn cannot differ between them (tests/unit/test_workflow.py drives both
with the same inputs). A front end only chooses how to show a step and how to get the
person's answer: a dialog, or --yes / --confirm NAME / the tty."""

from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import msgspec

from protocol.config import Config, ProfileConfig
from protocol.messages import Failure, PlanRequest, SessionState, Turn, Verdict

# -- the conversation window -----------------------------------------------------------------

RECENT_TURNS = 10  # earlier turns of a profile the model sees with a question


def recent_turns(session: SessionState | None, profile: str) -> list[Turn]:
    """The conversation window a plan request carries: the last turns asked on `profile`."""
    turns = [t for t in (session.turns if session else []) if t.profile == profile]
    return turns[-RECENT_TURNS:]


# -- guard -> confirm ------------------------------------------------------------------------

Gate = Literal["invalid", "refused", "stacked", "run", "ask"]


def gate(verdict: Verdict, *, several: bool = False) -> Gate:
    """What a verdict allows next: `ask` means the person decides (preview, confirm, typed).
    `several`: the statements run as one unit (a migration's transaction)."""
    if verdict.confirm == "refuse" or verdict.signature is None:
        return "invalid" if verdict.sql_class == "invalid" else "refused"
    if not several and len([st for st in verdict.statements if st.text.strip()]) > 1:
        return "stacked"  # each statement is checked, confirmed and run on its own
    return "run" if verdict.confirm == "run" else "ask"


def audited_refusal(verdict: Verdict) -> bool:
    """A policy refusal goes to the audit trail; SQL that does not parse is no decision."""
    return gate(verdict) == "refused"


def name_matches(typed: str, name: str) -> bool:
    """A typed confirmation: the object's name exactly, or without `public.` (the schema a
    person leaves out; any other schema must be typed)."""
    return typed == name or (name.startswith("public.") and typed == name[len("public.") :])


def accepted(verdict: Verdict, *, yes: bool, typed: str | None) -> bool:
    """The person's answer to a verdict that asks: yes/no, or the object's name typed.
    A preview is shown and runs (headless, the SQL is on stderr with --show-sql)."""
    if verdict.confirm == "typed":
        return typed is not None and name_matches(typed, verdict.confirm_name)
    if verdict.confirm == "confirm":
        return yes
    return True


DML = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})


def needs_estimate(v: Verdict) -> bool:
    """Rows affected come from EXPLAIN, which only DML has (EXPLAIN of DROP is an error)."""
    return v.confirm in ("confirm", "typed") and any(s.kind in DML for s in v.statements)


def plan_rows(plan_json: str) -> int | None:
    """Rows a DML statement would touch: the estimate of the node under ModifyTable."""
    try:
        top = msgspec.json.decode(plan_json)[0]["Plan"]
    except (msgspec.DecodeError, KeyError, IndexError, TypeError):
        return None
    node = top
    if node.get("Node Type") == "ModifyTable" and node.get("Plans"):
        node = node["Plans"][0]
    rows = node.get("Plan Rows")
    return int(rows) if isinstance(rows, int | float) else None


def query_decision(verdict: Verdict) -> Literal["auto", "confirmed", "typed", "preview"]:
    """How the statement came to run, as the audit record says it."""
    if verdict.confirm == "confirm":
        return "confirmed"
    if verdict.confirm in ("typed", "preview"):
        return verdict.confirm
    return "auto"


# -- re-asking the model after a failed read -------------------------------------------------

# failures a corrected query cannot fix (the connection, not the SQL)
NOT_REPAIRABLE = (
    "db.connect",
    "db.auth",
    "db.ssl",
    "db.dns",
    "db.database_missing",
    "db.too_many_connections",
    "db.connection_lost",
    "db.permission_denied",
    "actor.",
    "protocol.",
)


def repairable(failure: Failure, verdict: Verdict, *, repaired: bool, rows_shown: int) -> bool:
    """Once per question, a read that failed before showing a row goes back to the model
    with the server's error; rows already shown cannot be taken back."""
    return (
        not repaired
        and verdict.sql_class == "read"
        and rows_shown == 0
        and not failure.code.startswith(NOT_REPAIRABLE)
    )


def repair_request(plan: PlanRequest, failed_sql: str, failure: Failure) -> PlanRequest:
    """The question again, with the SQL that failed and what the server said about it."""
    feedback = "\n".join(p for p in (failure.message, failure.why, failure.detail) if p)
    return PlanRequest(
        question=plan.question,
        profile=plan.profile,
        mode=plan.mode,
        recent=plan.recent,
        pins=plan.pins,
        previous_sql=failed_sql,
        feedback=feedback,
    )


# -- the recorded turn -----------------------------------------------------------------------


def rows_outcome(rows: int, *, truncated: bool) -> str:
    """A turn's outcome when the query returned rows (the count shown is never the total)."""
    return f"first {rows} rows (more not fetched)" if truncated else f"{rows} rows"


def failure_outcome(failure: Failure) -> str:
    return f"error {failure.code}"


def stored_sql(sql: str, verdict: Verdict | None, *, redact_literals: bool) -> str:
    """The SQL a turn keeps: its normalized form (literals out) when [privacy] asks."""
    if redact_literals and verdict is not None and verdict.normalized:
        return verdict.normalized
    return sql


def run_outcome(*, has_columns: bool, rows: int, truncated: bool, command: str) -> str:
    """A turn's outcome after the statement ran: its rows, or its command tag (INSERT 0 1)."""
    return rows_outcome(rows, truncated=truncated) if has_columns else command


def password_configured(config: Config, profile: str) -> bool:
    """Whether pgask was given a password for the profile (PGPASSWORD, password_env, the DSN);
    ~/.pgpass is the driver's: a wrong one there still makes the prompt worth showing."""
    p = config.profiles.get(profile) or ProfileConfig()
    if os.environ.get("PGPASSWORD") or (p.password_env and os.environ.get(p.password_env)):
        return True
    if p.dsn:
        try:
            parts = urlsplit(p.dsn)
            if parts.password or "password" in parse_qs(parts.query):
                return True
        except ValueError:
            pass
        if "://" not in p.dsn and re.search(r"(?:^|\s)password\s*=", p.dsn):
            return True
    return False
