"""/backup, /restore and /migrations in the TUI: the executor does the work; the dialogs and
progress are here.

    backup:  dba.backup -> dba.progress* -> dba.backup.done  [exists: dialog, again with force]
    restore: (read-write only) dba.archive.inspect -> summary -> [typed name] -> guard.check
             (CREATE DATABASE) -> verdict -> dba.restore -> dba.progress* -> dba.restore.done
/migrations lists the profile's migrations directory (a local file listing, ui/dba.py)."""

from __future__ import annotations

import os
import shlex
import time

from protocol.config import (
    ProfileConfig,
    profile_file_name,
)
from protocol.messages import (
    ArchiveInfo,
    ArchiveRequest,
    AuditNote,
    BackupDone,
    BackupRequest,
    Body,
    DbaProgress,
    Failure,
    GuardRequest,
    QueryCancelled,
    Restored,
    RestoreRequest,
    Verdict,
)
from ui import dba
from ui import keys as K
from ui.tui.jobs import advance, failed, finish, start_job
from ui.tui.model import (
    AskModal,
    Job,
    PaneState,
    Style,
    UiState,
    executor,
    fmt_ms,
    say,
    say_failure,
    send,
    size_text,
    target,
)


def dba_command(state: UiState, cmd: str, arg: str) -> bool:
    if cmd == "/backup":
        return backup(state, arg)
    if cmd == "/restore":
        return restore(state, arg)
    return show_migrations(state)


def _words(pane: PaneState, arg: str) -> list[str] | None:
    try:
        return shlex.split(arg)
    except ValueError as exc:
        say(pane, "error", f"Cannot read the path: {exc}.")
        say(pane, "hint", "Quote a path with spaces: /restore 'my backup.dump'")
        return None


def _begin(state: UiState, pane_i: int, job: Job, shown: str) -> bool:
    """Make `job` the pane's job (or say the pane is busy); False when it is busy."""
    pane = state.panes[pane_i]
    if pane.job is not None:
        start_job(state, pane_i, job)  # says it is busy
        return False
    pane.job, pane.last, pane.notice = job, job, ""
    say(pane, "you", shown)
    return True


def backup(state: UiState, arg: str) -> bool:
    """`/backup [PATH]`: pg_dump -Fc of the pane's profile (no verdict: it only reads)."""
    pane_i, pane = state.focus, state.pane
    words = _words(pane, arg) if arg else []
    if words is None:
        return True
    if len(words) > 1:
        say(pane, "error", "/backup takes one path.")
        say(pane, "hint", "Quote a path with spaces: /backup 'my backup.dump'")
        return True
    if words:
        path = words[0]
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(state.wall()))
        path = os.path.join(os.getcwd(), f"{profile_file_name(pane.profile)}-{stamp}.dump")
    path = os.path.abspath(os.path.expanduser(path))
    text = f"/backup {arg}" if arg else "/backup"
    job = Job("backup", text, state.new_trace(), state.clock(), path=path)
    if _begin(state, pane_i, job, f"/backup {path}"):
        send_backup(state, pane_i, job)
    return True


def send_backup(state: UiState, pane_i: int, job: Job) -> None:
    pane = state.panes[pane_i]
    job.stage = "running"
    body = BackupRequest(path=job.path, force=job.force)
    job.request_id = send(
        state, executor(pane), body, pane=pane_i, purpose="backup", trace=job.trace
    )
    what = "Replacing" if job.force else "Writing"
    say(
        pane,
        "info",
        f"{what} a backup of '{pane.profile}' ({target(state.config, pane.profile)})"
        f" to {job.path} ...",
    )


def on_backup(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, DbaProgress):
        if body.objects == 0:
            say(pane, "dim", body.text)
        else:
            pane.notice = (
                f"Backing up: {body.objects:,} tables, {size_text(body.bytes)} \u00b7 {body.text}"
            )
        return True
    pane.notice = ""
    if isinstance(body, BackupDone):
        say(
            pane,
            "ok",
            f"Backed up {body.database or pane.profile} to {body.path}: "
            f"{size_text(body.bytes)} ({body.bytes:,} bytes), {body.tables:,} tables, "
            f"in {fmt_ms(body.elapsed_ms)}.",
        )
        finish(state, i, "backed up")
        return True
    if isinstance(body, QueryCancelled):
        say(pane, "notice", "Backup cancelled; no file was written.")
        finish(state, i, "cancelled")
        return True
    if isinstance(body, Failure):
        if body.code == "dba.backup_exists" and not job.force:
            job.stage = "confirming"
            state.modal = AskModal(
                i,
                "Overwrite the backup file?",
                [
                    f"{job.path} already exists.",
                    f"Replace it with a new backup of '{pane.profile}'?",
                ],
                "overwrite",
            )
            return True
        say_failure(pane, body)
        finish(state, i, f"error {body.code}")
        return True
    return False


def restore(state: UiState, arg: str) -> bool:
    """`/restore PATH [DB]`: read-write only; the archive's summary, the typed name of the new
    database, the guard's verdict for its CREATE DATABASE, then pg_restore (executor)."""
    pane_i, pane = state.focus, state.pane
    words = _words(pane, arg)
    if words is None:
        return True
    if not words or len(words) > 2:
        say(pane, "error", "/restore needs the archive's path, e.g. /restore shop.dump shop_copy")
        say(
            pane,
            "hint",
            "It restores into a new database: the second word names it "
            "(default: the profile's database name, which must not exist yet).",
        )
        return True
    path = os.path.abspath(os.path.expanduser(words[0]))
    new_db = words[1] if len(words) > 1 else ""
    job = Job(
        "restore", f"/restore {arg}", state.new_trace(), state.clock(), path=path, target=new_db
    )
    if pane.mode != "read-write":
        if pane.job is None:
            pane.last = job  # F5 after switching the mode runs it again
        say(pane, "you", job.text)
        say(pane, "error", f"Refused: /restore does not run in {pane.mode} mode.")
        say(
            pane,
            "error_why",
            "Why: a restore creates a database and writes everything in the archive into it.",
        )
        pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
        if pcfg.read_write:
            say(pane, "hint", "To allow it: /mode read-write (asks first), then run it again (F5).")
        else:
            say(
                pane,
                "hint",
                f"Profile '{pane.profile}' does not allow read-write: set "
                f"read_write = true under [profiles.{pane.profile}] in "
                f"{state.config.source or 'the config file'} (pgask reloads it).",
            )
        return True
    if _begin(state, pane_i, job, job.text):
        job.stage = "checking"
        job.request_id = send(
            state,
            executor(pane),
            ArchiveRequest(path=path, target=new_db),
            pane=pane_i,
            purpose="archive",
            trace=job.trace,
        )
    return True


def on_archive(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if failed(state, i, body):
        return True
    if not isinstance(body, ArchiveInfo):
        return False
    summary = dba.archive_summary(body).splitlines()
    for n, line in enumerate(summary):
        say(pane, "info" if n == 0 else "dim", line)
    if body.problems:
        say(pane, "error", f"pgask will not restore into '{body.target}'.")
        say(pane, "error_why", "Why: " + "; ".join(body.problems) + ".")
        if body.target_exists:
            say(pane, "hint", f"Name a new database: /restore {shlex.quote(job.path)} NEW_NAME")
        else:
            say(pane, "hint", "Restore it on a server at least as new as the archive's.")
        finish(state, i, "refused")
        return True
    job.target, job.stage = body.target, "confirming"
    where = f"profile '{pane.profile}' ({target(state.config, pane.profile)})"
    lines = [
        f"Restore {body.path}",
        f"into the NEW database '{body.target}' on {where}.",
        *[s.strip() for s in summary[1:3]],
        "It creates the database, then restores the archive in one transaction.",
    ]
    state.modal = AskModal(i, f"Restore into '{body.target}'", lines, "restore", name=body.target)
    return True


def _guard_restore(state: UiState, i: int, job: Job) -> None:
    from protocol.sqltext import create_database_sql

    pane = state.panes[i]
    job.sql, job.stage = create_database_sql(job.target), "checking"
    body = GuardRequest(sql=job.sql, profile=pane.profile, mode=pane.mode)
    job.request_id = send(state, "guard", body, pane=i, purpose="dba_guard", trace=job.trace)


def on_dba_verdict(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if failed(state, i, body):
        return True
    if not isinstance(body, Verdict):
        return False
    job.verdict = body
    if body.confirm == "refuse" or body.signature is None:
        say(pane, "error", f"Refused: {job.sql} does not run in {pane.mode} mode.")
        say(pane, "error_why", f"Why: {'; '.join(body.reasons) or body.sql_class}.")
        if pane.mode == "read-only":
            say(pane, "hint", "To allow it: /mode read-write (asks first), then run it again (F5).")
        finish(state, i, "refused")
        return True
    job.stage = "running"
    request = RestoreRequest(
        path=job.path,
        target=job.target,
        verdict=body.signature,
        confirmed=True,
        confirm_name=job.typed,
    )
    job.request_id = send(
        state, executor(pane), request, pane=i, purpose="restore", trace=job.trace
    )
    say(pane, "info", f"Restoring {job.path} into the new database '{job.target}' ...")
    return True


def on_restore(state: UiState, i: int, job: Job, body: Body) -> bool:
    pane = state.panes[i]
    if isinstance(body, DbaProgress):
        if body.objects == 0:
            say(pane, "dim", body.text)
        else:
            pane.notice = f"Restoring: {body.objects:,} tables \u00b7 {body.text}"
        return True
    pane.notice = ""
    if isinstance(body, Restored):
        say(
            pane,
            "ok",
            f"Restored {body.tables:,} tables into the new database '{body.database}'"
            f" in {fmt_ms(body.elapsed_ms)}.",
        )
        for w in body.warnings:
            say(pane, "notice", f"warning: {w}")
        finish(state, i, "restored")
        return True
    if isinstance(body, QueryCancelled):
        say(
            pane,
            "notice",
            "Restore cancelled: pg_restore ran in one transaction, so nothing was "
            f"restored; the database '{job.target}' may exist, empty.",
        )
        finish(state, i, "cancelled")
        return True
    if failed(state, i, body):
        return True
    return False


def ask_key(state: UiState, m: AskModal, code: int) -> bool:
    """y/n (or the typed name and Enter) for a dba job; Esc / Ctrl+C answers no."""
    pane = state.panes[m.pane]
    job = pane.job
    if job is None:
        state.modal = None
        return True
    answer: bool | None = None
    if code in (K.ESC, K.CTRL_C):
        answer = False
    elif m.name:
        if code in (K.ENTER, K.ENTER_CR):
            if m.typed == m.name:
                answer = True
            else:
                m.message = f"Type '{m.name}' exactly to go ahead (Esc cancels)."
        elif code in (K.BACK, K.CTRL_H, K.BACKSPACE_DEL):
            m.typed, m.message = m.typed[:-1], ""
        elif K.is_printable(code):
            m.typed, m.message = m.typed + chr(code), ""
    elif code in (ord("y"), ord("Y"), K.ENTER, K.ENTER_CR):
        answer = True
    elif code in (ord("n"), ord("N")):
        answer = False
    if answer is None:
        return True
    state.modal = None
    if m.action == "overwrite" and job.engine is not None:  # an export, on the engine
        job.engine.overwrite(bool(answer))
        advance(state, m.pane, job)
    elif m.action == "overwrite":
        if answer:
            job.force = True
            send_backup(state, m.pane, job)
        else:
            what = "Not exported" if job.kind == "export" else "Not backed up"
            say(pane, "notice", f"{what}: {job.path} was kept as it is.")
            finish(state, m.pane, "declined")
    elif answer:
        job.typed = m.typed
        _guard_restore(state, m.pane, job)
    else:
        from protocol.sqltext import create_database_sql

        # no verdict yet (the guard sees the CREATE DATABASE after the typed name), but the
        # audit trail records the declined restore all the same
        note = AuditNote(
            decision="declined",
            sql_class="ddl",
            normalized=create_database_sql(job.target),
            reasons=[f"restore of {job.path} declined at the typed-name confirmation"],
            mode=pane.mode,
        )
        send(state, executor(pane), note, pane=m.pane, trace=job.trace)
        say(pane, "notice", "Not restored: cancelled at the confirmation.")
        finish(state, m.pane, "declined")
    return True


def show_migrations(state: UiState) -> bool:
    """What pgask wrote and applied for the pane's profile (`pgask migrate --list`)."""
    from protocol.config import state_dir

    pane = state.pane
    say(pane, "you", "/migrations")
    pcfg = state.config.profiles.get(pane.profile) or ProfileConfig()
    directory = dba.migrations_dir(pane.profile, pcfg.migrations_dir, state_dir())
    try:
        rows = dba.list_migrations(directory)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        say(pane, "error", f"Cannot read the migrations in {directory}.")
        say(pane, "error_why", f"Why: {exc}")
        say(
            pane,
            "hint",
            f"Check the directory (migrations_dir in the profile) and its ledger {dba.LEDGER}.",
        )
        return True
    if not rows:
        say(pane, "info", f"No migrations for '{pane.profile}' in {directory} yet.")
        say(
            pane,
            "hint",
            f'pgask writes one when it applies a change: pgask migrate "INTENT" '
            f"-p {pane.profile} --mode read-write",
        )
        return True
    n = len(rows)
    say(pane, "info", f"Migrations for '{pane.profile}' in {directory} ({n} file{'s' * (n != 1)}):")
    w = max(len(r["file"]) for r in rows)
    for r in rows:
        style: Style = "ok" if r["state"] == "applied" else "dim"
        say(
            pane,
            style,
            f"  {r['file']:<{w}}  {r['state']:<11}  {r['at'] or '-':<25}  {r['up'][:70]}",
        )
    return True
