"""The requester's side of the DBA work: guard -> show -> confirm -> executor, for the CLI
(`pgask explain | index | migrate | backup | restore`) and the terminal UI.

Every statement that changes anything is checked by the guard and confirmed as its verdict
asks; the executor then runs only SQL with a valid signed verdict. Backup needs no verdict (it
reads); restore carries the guard's verdict for its `CREATE DATABASE` and the typed name.

Errors (PgaskError): `dba.refused` (exit 3: the guard or the mode says no), `dba.needs_confirm`
(exit 4: not confirmed), and the executor's own `dba.*` / `db.*` failures (exit 1).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from protocol.errors import PgaskError
from protocol.messages import (
    ArchiveInfo,
    ArchiveRequest,
    BackupDone,
    BackupRequest,
    Catalog,
    CatalogRequest,
    DbaProgress,
    ExplainPlan,
    Failure,
    GuardRequest,
    IndexCheck,
    IndexCheckRequest,
    MigrationApplied,
    MigrationApply,
    QueryDone,
    Restored,
    RestoreRequest,
    Verdict,
)
from ui.engine import Ask, JobRequest

if TYPE_CHECKING:  # the driver imports trio: the TUI imports this module before its first paint
    from ui import drive

Out = Callable[[str], None]
LEDGER = "pgask-migrations.jsonl"


class Refused(PgaskError):
    code = "dba.refused"


class NeedsConfirmation(PgaskError):
    code = "dba.needs_confirm"


def _raise(reply: Any) -> None:
    if isinstance(reply, Failure):
        err = PgaskError(
            reply.message, hint=reply.hint, why=reply.why, code=reply.code, detail=reply.detail
        )
        raise err


@dataclass
class Confirmer:
    """How the person confirms: flags for scripts (`--yes`, `--confirm NAME`), else `ask` (a tty
    prompt returning the typed line), else nothing is confirmed."""

    yes: bool = False
    typed: str | None = None
    ask: Callable[[str], str] | None = None
    log: list[str] = field(default_factory=list)

    def confirm(self, prompt: str) -> bool:
        self.log.append(prompt)
        if self.yes:
            return True
        return self.ask is not None and self.ask(f"{prompt} [y/N] ").strip().lower() in ("y", "yes")

    def type_name(self, prompt: str, name: str) -> str:
        self.log.append(prompt)
        if self.typed is not None:
            return self.typed
        if self.ask is not None:
            return self.ask(f"{prompt}\nType '{name}' to go ahead: ").strip()
        return ""


async def guard(client: Any, sql: str, profile: str, mode: str) -> Verdict:
    verdict = await client.request(
        "guard", GuardRequest(sql=sql, profile=profile, mode=mode), timeout=60
    )  # type: ignore[arg-type]
    _raise(verdict)
    assert isinstance(verdict, Verdict)
    if verdict.confirm == "refuse":
        if verdict.sql_class == "invalid" and verdict.error:
            why = f"It does not parse: {verdict.error.message}"
        else:
            why = "; ".join(verdict.reasons) or verdict.sql_class
        hint = (
            "Use --mode read-write (the profile needs read_write = true) to allow it."
            if mode == "read-only" and verdict.sql_class in ("write", "ddl", "destructive")
            else "pgask never runs this."
        )
        raise Refused(f"Refused ({verdict.sql_class}) in {mode} mode.", why=why, hint=hint)
    return verdict


def _answer(confirmer: Confirmer, profile: str, what: str) -> drive.Answer:
    """The engine asks; the Confirmer answers as the flags or the person say."""

    async def answer(ask: Ask) -> bool | str | None:
        v = ask.verdict
        reasons = "; ".join(v.reasons) or v.sql_class
        if v.confirm == "typed":
            return confirmer.type_name(reasons, v.confirm_name)
        if v.confirm == "confirm":
            return confirmer.confirm(f"{what or v.sql_class}: {reasons}\nRun it on '{profile}'?")
        return True  # a preview: shown, and it runs

    return answer


async def confirmed(
    client: Any,
    sql: str,
    profile: str,
    mode: str,
    confirmer: Confirmer,
    *,
    what: str = "",
    kind: Literal["sql", "explain"] = "sql",
    analyze: bool = False,
    several: bool = False,
) -> drive.Driver:
    """The workflow engine checks `sql` and asks for the confirmation its verdict needs; the
    driver returned holds it ready to run (`run_statement`). Raises Refused when the guard or
    the mode says no, NeedsConfirmation when it was not confirmed."""
    from ui import drive

    request = JobRequest(
        kind=kind,
        text=sql,
        profile=profile,
        mode=mode,
        analyze=analyze,  # type: ignore[arg-type]
        max_rows=100,
        hold=True,
        turn=False,
        several=several,
    )
    driver = drive.start(client, None, request, None, answer=_answer(confirmer, profile, what))
    await driver.run()
    result, v = driver.result, driver.job.verdict
    if result.failure is not None:
        _raise(result.failure)
    if v is None or driver.job.stage == "ready":
        return driver
    reasons = "; ".join(v.reasons) or v.sql_class
    if result.stopped in ("invalid", "refused", "stacked"):
        why = f"It does not parse: {v.error.message}" if v.error else reasons
        hint = (
            "Use --mode read-write (the profile needs read_write = true) to allow it."
            if mode == "read-only" and v.sql_class in ("write", "ddl", "destructive")
            else "pgask never runs this."
        )
        raise Refused(f"Refused ({v.sql_class}) in {mode} mode.", why=why, hint=hint)
    if v.confirm == "typed":
        raise NeedsConfirmation(
            f"This destructive statement needs its object's name typed: {v.confirm_name}.",
            hint=f"Pass --confirm {v.confirm_name}.",
        )
    raise NeedsConfirmation(f"This {v.sql_class} statement was not confirmed.", hint="Pass --yes.")


async def confirmed_verdict(
    client: Any, sql: str, profile: str, mode: str, confirmer: Confirmer, *, what: str = ""
) -> Verdict:
    """The guard's verdict on `sql`, confirmed as it asks (a migration runs its statements
    in one transaction, its own way)."""
    driver = await confirmed(client, sql, profile, mode, confirmer, what=what, several=True)
    assert driver.job.verdict is not None
    return driver.job.verdict


async def _run_ready(driver: drive.Driver) -> drive.JobResult:
    """Run what `confirmed` holds ready; the executor's failure is raised."""
    driver.job.run()
    result = await driver.run()
    if result.failure is not None:
        _raise(result.failure)
    return result


async def run_statement(driver: drive.Driver) -> QueryDone:
    """Run the statement `confirmed` holds ready."""
    done = (await _run_ready(driver)).done
    assert done is not None
    return done


# -- explain -------------------------------------------------------------------------------------


async def explain(
    client: Any, profile: str, mode: str, sql: str, *, analyze: bool, confirmer: Confirmer
) -> ExplainPlan:
    """EXPLAIN (FORMAT JSON) [ANALYZE, BUFFERS]; ANALYZE of a write needs its confirmation and
    is rolled back by the executor."""
    driver = await confirmed(
        client,
        sql,
        profile,
        mode,
        confirmer,
        kind="explain",
        analyze=analyze,
        what="EXPLAIN ANALYZE runs it (then rolls back)",
    )
    plan = (await _run_ready(driver)).explain
    assert plan is not None
    return plan


# -- indexes ---------------------------------------------------------------------------------------


@dataclass
class IndexOutcome:
    check: IndexCheck
    done: QueryDone | None = None
    status: IndexCheck | None = None
    before: str = ""  # EXPLAIN JSON of the motivating query before the change
    after: str = ""
    dropped_invalid: bool = False


async def check_index(client: Any, profile: str, request: IndexCheckRequest) -> IndexCheck:
    reply = await client.request(f"executor:{profile}", request, timeout=120)
    _raise(reply)
    assert isinstance(reply, IndexCheck)
    return reply


async def change_index(
    client: Any,
    profile: str,
    mode: str,
    request: IndexCheckRequest,
    confirmer: Confirmer,
    *,
    out: Out,
    query: str = "",
) -> IndexOutcome:
    """Validate (executor), show, confirm (guard), run; after a CONCURRENTLY build check
    indisvalid and offer to drop an invalid index; before/after EXPLAIN of `query`."""
    check = await check_index(client, profile, request)
    result = IndexOutcome(check=check)
    for r in check.reasons:
        out(f"-- {r}")
    for w in check.warnings:
        out(f"warning: {w}")
    out(check.sql + ";")
    if check.down_sql:
        out(f"-- undo: {check.down_sql};")
    if query:
        result.before = (
            await explain(client, profile, mode, query, analyze=False, confirmer=confirmer)
        ).plan
    ready = await confirmed(client, check.sql, profile, mode, confirmer)
    result.done = await run_statement(ready)
    if request.action == "create":
        status = await check_index(
            client, profile, IndexCheckRequest(action="status", name=check.index)
        )
        result.status = status
        if not status.valid:
            out(f"error: {check.index} was built but is INVALID: {' '.join(status.warnings)}")
            drop = f"DROP INDEX {check.index}"
            if confirmer.confirm(f"Drop the invalid index {check.index}?"):
                await run_statement(await confirmed(client, drop, profile, mode, confirmer))
                result.dropped_invalid = True
        else:
            out(f"{check.index} is valid (indisvalid = true).")
    if query:
        result.after = (
            await explain(client, profile, mode, query, analyze=False, confirmer=confirmer)
        ).plan
    return result


# -- migrations ------------------------------------------------------------------------------------


@dataclass
class MigrationOutcome:
    path: Path | None
    up: list[str]
    down: list[str]
    risks: list[Any]
    applied: MigrationApplied | None = None


def migrations_dir(profile: str, configured: str, state: Path) -> Path:
    return Path(configured).expanduser() if configured else state / "migrations" / profile


async def statements_of(
    client: Any, sql: str, profile: str, mode: str
) -> tuple[Verdict, list[str]]:
    verdict = await guard(client, sql, profile, mode)
    return verdict, [s.text.strip().rstrip(";").strip() for s in verdict.statements]


async def _apply(
    client: Any,
    profile: str,
    mode: str,
    statements: list[str],
    *,
    name: str,
    direction: str,
    question: str,
) -> MigrationApplied:
    sigs = []
    for s in statements:
        v = await guard(client, s, profile, mode)
        assert v.signature is not None
        sigs.append(v.signature)
    reply = await client.request(
        f"executor:{profile}",
        MigrationApply(
            statements=statements,
            verdicts=sigs,
            confirmed=True,
            name=name,
            direction=direction,
            question=question,
        ),  # type: ignore[arg-type]
        timeout=3600,
    )
    _raise(reply)
    assert isinstance(reply, MigrationApplied)
    return reply


async def migrate(
    client: Any,
    profile: str,
    mode: str,
    up_sql: str,
    down_sql: str,
    *,
    intent: str,
    directory: Path,
    confirmer: Confirmer,
    out: Out,
    dry_run: bool = False,
) -> MigrationOutcome:
    """Show up, down, class and risks; on confirmation apply up in one transaction and write
    the dbmate file (only after success)."""
    from ui import migrate_risks as pm

    verdict, up = await statements_of(client, up_sql, profile, mode)
    down: list[str] = []
    if down_sql.strip():
        try:
            _dv, down = await statements_of(client, down_sql, profile, mode)
        except Refused as exc:
            if pm.derive_down(up) is None:
                raise
            out(f"-- the proposed down SQL was not usable ({exc.why}); pgask derives its own")
    if not down:
        derived = pm.derive_down(up)
        if derived is None:
            raise Refused(
                "pgask cannot tell how to undo this migration.",
                why="No down SQL was given and the up SQL is not a simple CREATE TABLE, "
                "CREATE INDEX or ADD COLUMN.",
                hint="Pass the down SQL with --down-sql.",
            )
        down = derived
    catalog = await client.request(f"executor:{profile}", CatalogRequest(), timeout=120)
    risks = pm.risks(up, catalog if isinstance(catalog, Catalog) else None)
    concurrent = [s for s in up if "CONCURRENTLY" in s.upper()]
    if concurrent and len(up) > 1:
        raise Refused(
            "CREATE/DROP INDEX CONCURRENTLY cannot share a migration with other statements.",
            why="It cannot run inside the transaction the other statements run in.",
            hint="Put it in a migration of its own (or use pgask index create).",
        )
    out(f"-- class: {verdict.sql_class}; {'; '.join(verdict.reasons)}")
    out("-- migrate:up")
    out("\n".join(s + ";" for s in up))
    out("-- migrate:down")
    out("\n".join(s + ";" for s in down))
    if risks:
        out("-- risks:")
        for r in risks:
            out(f"  * {r.text()}")
    else:
        out("-- risks: none seen")
    outcome = MigrationOutcome(path=None, up=up, down=down, risks=risks)
    if dry_run:
        return outcome
    await confirmed_verdict(client, up_sql, profile, mode, confirmer, what="migration")
    name = pm.migration_filename(intent or up[0])
    outcome.applied = await _apply(
        client, profile, mode, up, name=name, direction="up", question=intent
    )
    text = pm.dbmate_text(up, down, intent=intent)
    outcome.path = pm.write_migration(directory, name, text)
    _ledger(directory, outcome.path.name, "up", profile)
    return outcome


async def migrate_down(
    client: Any, profile: str, mode: str, path: Path, *, confirmer: Confirmer, out: Out
) -> MigrationApplied:
    """Apply a dbmate file's down section in one transaction (after confirmation)."""
    from ui import migrate_risks as pm

    _up, down_text = pm.parse_dbmate(path.read_text())
    if not down_text:
        raise Refused(f"{path.name} has no -- migrate:down section.", hint="Write one first.")
    verdict, down = await statements_of(client, down_text, profile, mode)
    out(f"-- rolling back {path.name} ({verdict.sql_class})")
    out("\n".join(s + ";" for s in down))
    await confirmed_verdict(client, down_text, profile, mode, confirmer, what="rollback")
    applied = await _apply(
        client,
        profile,
        mode,
        down,
        name=path.name,
        direction="down",
        question=f"rollback {path.name}",
    )
    _ledger(path.parent, path.name, "down", profile)
    return applied


def _ledger(directory: Path, name: str, direction: str, profile: str) -> None:
    record = {
        "file": name,
        "direction": direction,
        "profile": profile,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with open(directory / LEDGER, "a") as f:
        f.write(json.dumps(record) + "\n")


def list_migrations(directory: Path) -> list[dict[str, str]]:
    """What pgask wrote: file, state (applied / rolled back), when, and the first up line."""
    from ui import migrate_risks as pm

    state: dict[str, tuple[str, str]] = {}
    ledger = directory / LEDGER
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            state[rec["file"]] = (
                "applied" if rec["direction"] == "up" else "rolled back",
                rec.get("at", ""),
            )
    out = []
    for path in sorted(directory.glob("*.sql")) if directory.is_dir() else []:
        up, _down = pm.parse_dbmate(path.read_text())
        st, at = state.get(path.name, ("written", ""))
        out.append(
            {"file": path.name, "state": st, "at": at, "up": up.splitlines()[0] if up else ""}
        )
    return out


# -- backup and restore -----------------------------------------------------------------------------


async def backup(
    client: Any, profile: str, path: str, *, force: bool, on_progress: Callable[[DbaProgress], None]
) -> BackupDone:
    done: BackupDone | None = None
    async for _h, body in client.stream(
        f"executor:{profile}", BackupRequest(path=path, force=force)
    ):
        _raise(body)
        if isinstance(body, DbaProgress):
            on_progress(body)
        elif isinstance(body, BackupDone):
            done = body
    assert done is not None
    return done


async def inspect_archive(client: Any, profile: str, path: str, target: str = "") -> ArchiveInfo:
    reply = await client.request(
        f"executor:{profile}", ArchiveRequest(path=path, target=target), timeout=120
    )
    _raise(reply)
    assert isinstance(reply, ArchiveInfo)
    return reply


def archive_summary(info: ArchiveInfo) -> str:
    counts = ", ".join(f"{n} {k.lower()}" for k, n in sorted(info.entries.items()) if n)
    lines = [
        f"Archive {info.path}",
        f"  database {info.database}, dumped {info.created} UTC from PostgreSQL {info.dumped_from}"
        f" by pg_dump {info.dumped_by}",
        f"  contains: {counts or 'nothing'}",
    ]
    if info.tables:
        shown = ", ".join(info.tables[:12]) + (" …" if len(info.tables) > 12 else "")
        lines.append(f"  tables: {shown}")
    lines.append(f"  target: {info.target} ({'exists' if info.target_exists else 'new database'})")
    lines.append(f"  using {info.tool}")
    return "\n".join(lines)


async def restore(
    client: Any,
    profile: str,
    mode: str,
    path: str,
    target: str,
    *,
    confirmer: Confirmer,
    out: Out,
    on_progress: Callable[[DbaProgress], None],
) -> Restored:
    """Read-write mode, the archive summary first, refusal of a newer archive or an existing
    target, a typed confirmation naming the target, then CREATE DATABASE + pg_restore."""
    from protocol.sqltext import create_database_sql

    if mode != "read-write":
        raise Refused(
            f"Restore is refused in {mode} mode.",
            why="A restore creates a database and writes everything in the archive.",
            hint="Run it with --mode read-write (the profile needs read_write = true).",
        )
    info = await inspect_archive(client, profile, path, target)
    out(archive_summary(info))
    if info.problems:
        raise Refused(
            f"pgask will not restore into '{info.target}'.",
            why="; ".join(info.problems) + ".",
            hint="Choose a new database name with --target.",
        )
    typed = confirmer.type_name(
        f"Restore {path} into the new database '{info.target}' on profile '{profile}'.",
        info.target,
    )
    if typed != info.target:
        raise NeedsConfirmation(
            f"The restore into '{info.target}' needs the database's name typed.",
            hint=f"Pass --confirm {info.target}.",
        )
    sql = create_database_sql(info.target)
    verdict = await guard(client, sql, profile, mode)
    assert verdict.signature is not None
    request = RestoreRequest(
        path=path, target=info.target, verdict=verdict.signature, confirmed=True, confirm_name=typed
    )
    done: Restored | None = None
    async for _h, body in client.stream(f"executor:{profile}", request):
        _raise(body)
        if isinstance(body, DbaProgress):
            on_progress(body)
        elif isinstance(body, Restored):
            done = body
    assert done is not None
    return done
