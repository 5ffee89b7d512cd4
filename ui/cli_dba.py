"""`pgask explain | index | migrate | backup | restore`: the DBA commands (ui/dba.py does the
work; this file is arguments, printing and exit codes).

  pgask explain SQL [--analyze] [-p P] [--mode M] [--yes] [--json] [--width N]
  pgask index create TABLE COLUMN... [--name N] [--unique] [--concurrently auto|yes|no]
                                     [--query SQL] [-p P] [--mode M] [--yes]
  pgask index drop INDEX [--confirm INDEX] [--concurrently ...] [-p P] [--mode M]
  pgask index status INDEX [-p P]
  pgask migrate INTENT | --up-sql SQL [--down-sql SQL] [--dry-run] [-p P] [--mode M] [--yes]
  pgask migrate --list | --down [FILE]
  pgask backup --out PATH [--force] [-p P]
  pgask restore PATH [--target DB] [--confirm DB] [-p P] [--mode M]

Exit codes as for `pgask sql`: 0 ok, 1 error, 3 refused, 4 needs confirmation, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from protocol.errors import PgaskError

COMMANDS = ("explain", "index", "migrate", "backup", "restore")


def _common(p: argparse.ArgumentParser, *, mode: bool = True) -> None:
    p.add_argument("-p", "--profile", help="profile name or postgresql:// URL")
    if mode:
        p.add_argument("--mode", choices=["read-only", "read-write"], help="safety mode")
        p.add_argument("--yes", action="store_true", help="confirm a write or DDL statement")
        p.add_argument("--confirm", metavar="NAME", help="confirm by typing the object's name")


def add_parsers(sub: Any) -> None:
    ex = sub.add_parser("explain", help="EXPLAIN a statement: readable plan tree and diagnosis")
    ex.add_argument("sql", help="the SQL text (or - to read it from stdin)")
    ex.add_argument("--analyze", action="store_true", help="run it (EXPLAIN ANALYZE, BUFFERS)")
    ex.add_argument("--json", action="store_true", help="print the server's JSON plan instead")
    ex.add_argument("--width", type=int, default=0, help="cut lines to this width")
    _common(ex)

    idx = sub.add_parser("index", help="create or drop an index, validated first")
    isub = idx.add_subparsers(dest="index_command", required=True)
    create = isub.add_parser("create", help="CREATE INDEX (CONCURRENTLY for large tables)")
    create.add_argument("table")
    create.add_argument("columns", nargs="+")
    create.add_argument("--name", default="")
    create.add_argument("--unique", action="store_true")
    create.add_argument("--using", default="btree", help="index method (default btree)")
    create.add_argument("--concurrently", choices=["auto", "yes", "no"], default="auto")
    create.add_argument("--query", default="", help="a query to EXPLAIN before and after")
    _common(create)
    drop = isub.add_parser("drop", help="DROP INDEX (refused for constraint-backed indexes)")
    drop.add_argument("name")
    drop.add_argument("--concurrently", choices=["auto", "yes", "no"], default="auto")
    drop.add_argument("--query", default="", help="a query to EXPLAIN before and after")
    _common(drop)
    status = isub.add_parser("status", help="is the index valid (after a concurrent build)?")
    status.add_argument("name")
    _common(status, mode=False)

    mig = sub.add_parser("migrate", help="a migration from intent: up/down, risks, dbmate file")
    mig.add_argument("intent", nargs="?", default="", help="what to change, in plain words")
    mig.add_argument("--up-sql", default="", help="the up SQL instead of planning it")
    mig.add_argument("--down-sql", default="", help="the down SQL (default: planned/derived)")
    mig.add_argument("--dry-run", action="store_true", help="show it, apply nothing")
    mig.add_argument("--list", action="store_true", help="list the migrations pgask wrote")
    mig.add_argument(
        "--down",
        nargs="?",
        const="latest",
        metavar="FILE",
        help="apply the down of FILE (default: the latest applied)",
    )
    _common(mig)

    bk = sub.add_parser("backup", help="pg_dump -Fc of the profile's database")
    bk.add_argument("--out", required=True, metavar="PATH")
    bk.add_argument("--force", action="store_true", help="overwrite an existing file")
    _common(bk, mode=False)

    rs = sub.add_parser("restore", help="pg_restore an archive into a new database")
    rs.add_argument("path")
    rs.add_argument("--target", default="", help="the new database (default: the profile's)")
    rs.add_argument("--list", action="store_true", help="only show what the archive contains")
    _common(rs)


def main(args: argparse.Namespace) -> int:
    from protocol.config import load_config, starting_mode
    from ui.headless import default_profile
    from ui.host import run_with_tree

    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)
    handler = {
        "explain": _explain,
        "index": _index,
        "migrate": _migrate,
        "backup": _backup,
        "restore": _restore,
    }[args.command]

    async def run(sup: Any, client: Any, profile: str) -> int:
        from ui import dba

        pcfg = sup.config.profiles[profile]
        # the same start as `sql`/`ask`/the TUI: read-write only when [safety] asks and the
        # profile allows it (read_write = true alone used to commit DDL with --yes)
        mode = getattr(args, "mode", None) or starting_mode(sup.config, profile)
        try:
            return await handler(args, sup, client, profile, mode, pcfg)
        except dba.Refused as exc:
            print(f"pgask: {exc}", file=sys.stderr)
            return 3
        except dba.NeedsConfirmation as exc:
            print(f"pgask: {exc}", file=sys.stderr)
            return 4
        except PgaskError as exc:
            print(f"pgask: {exc}", file=sys.stderr)
            return 1

    return run_with_tree(args.config, [profile_arg], run)


def _confirmer(args: argparse.Namespace) -> Any:
    from ui import dba
    from ui.headless import ask_tty

    return dba.Confirmer(
        yes=bool(getattr(args, "yes", False)),
        typed=getattr(args, "confirm", None),
        ask=ask_tty if sys.stdin.isatty() else None,
    )


def _err(text: str) -> None:
    print(text, file=sys.stderr)


async def _explain(args: Any, sup: Any, client: Any, profile: str, mode: str, pcfg: Any) -> int:
    from ui import dba, explain

    sql = sys.stdin.read() if args.sql == "-" else args.sql
    plan = await dba.explain(
        client, profile, mode, sql, analyze=args.analyze, confirmer=_confirmer(args)
    )
    if args.json:
        print(plan.plan)
    else:
        sys.stdout.write(explain.explain_text(plan.plan, width=args.width))
    return 0


async def _index(args: Any, sup: Any, client: Any, profile: str, mode: str, pcfg: Any) -> int:
    from protocol.messages import IndexCheckRequest
    from ui import dba, explain

    if args.index_command == "status":
        st = await dba.check_index(
            client, profile, IndexCheckRequest(action="status", name=args.name)
        )
        print(
            f"{st.index} on {st.table}: {'valid' if st.valid else 'INVALID'}; "
            f"{st.idx_scan if st.idx_scan >= 0 else '?'} scans"
        )
        for w in st.warnings:
            print(f"warning: {w}")
        return 0 if st.valid else 1
    if args.index_command == "create":
        req = IndexCheckRequest(
            action="create",
            table=args.table,
            columns=args.columns,
            unique=args.unique,
            name=args.name,
            method=args.using,
            concurrently=args.concurrently,
        )
    else:
        req = IndexCheckRequest(action="drop", name=args.name, concurrently=args.concurrently)
    result = await dba.change_index(
        client, profile, mode, req, _confirmer(args), out=_err, query=args.query
    )
    assert result.done is not None
    print(f"{result.done.command} ({result.done.elapsed_ms / 1000:.2f} s)")
    if result.before and result.after:
        b, a = explain.parse_plan(result.before), explain.parse_plan(result.after)
        print("before:\n" + explain.render_tree(b) + "after:\n" + explain.render_tree(a))
    if result.status is not None and not result.status.valid:
        return 1
    return 0


async def _migrate(args: Any, sup: Any, client: Any, profile: str, mode: str, pcfg: Any) -> int:
    from protocol.config import state_dir
    from protocol.errors import failure_text
    from protocol.messages import Clarification, Failure, Plan, PlanRequest
    from ui import dba
    from ui.headless import request_plan

    directory = dba.migrations_dir(profile, pcfg.migrations_dir, state_dir())
    if args.list:
        rows = dba.list_migrations(directory)
        if not rows:
            print(f"No migrations in {directory}.")
        for r in rows:
            print(f"{r['file']:<60} {r['state']:<12} {r['at']:<26} {r['up'][:60]}")
        return 0
    if args.down:
        if args.down == "latest":
            applied = [r for r in dba.list_migrations(directory) if r["state"] == "applied"]
            if not applied:
                print(f"pgask: no applied migration in {directory} to roll back.", file=sys.stderr)
                return 1
            path = directory / applied[-1]["file"]
        else:
            path = directory / args.down if not args.down.startswith(("/", ".")) else None
            from pathlib import Path

            path = path if path is not None and path.exists() else Path(args.down)
        done = await dba.migrate_down(
            client, profile, mode, path, confirmer=_confirmer(args), out=_err
        )
        print(f"rolled back {path.name}: {'; '.join(done.commands)}")
        return 0
    up, down = args.up_sql, args.down_sql
    if not up:
        if not args.intent:
            print("pgask: say what to change (INTENT) or pass --up-sql.", file=sys.stderr)
            return 2
        plan = await request_plan(
            client,
            PlanRequest(question=args.intent, profile=profile, mode="read-write"),
            timeout=180,
        )
        if isinstance(plan, Failure):
            print(failure_text(plan), file=sys.stderr)
            return 1
        if isinstance(plan, Clarification):
            print(plan.question)
            for i, o in enumerate(plan.options, 1):
                print(f"  {i}. {o}")
            return 5
        assert isinstance(plan, Plan)
        if plan.intent != "ddl":
            print(
                f"pgask: that is not a schema change (the planner read it as {plan.intent}):\n"
                f"{plan.sql}",
                file=sys.stderr,
            )
            return 1
        up, down = plan.sql, down or plan.down_sql
        if plan.explanation:
            _err(f"-- {plan.explanation}")
    outcome = await dba.migrate(
        client,
        profile,
        mode,
        up,
        down,
        intent=args.intent or "",
        directory=directory,
        confirmer=_confirmer(args),
        out=_err,
        dry_run=args.dry_run,
    )
    if outcome.path is not None:
        print(f"Applied and wrote {outcome.path}")
    return 0


async def _backup(args: Any, sup: Any, client: Any, profile: str, mode: str, pcfg: Any) -> int:
    from ui import dba

    tty = sys.stderr.isatty()

    def progress(p: Any) -> None:
        if p.objects == 0:
            _err(p.text)
        elif tty:
            print(
                f"\r{p.objects} tables  {p.bytes / 1e6:,.1f} MB  {p.text[:60]:<60}",
                end="",
                file=sys.stderr,
            )

    done = await dba.backup(client, profile, args.out, force=args.force, on_progress=progress)
    if tty:
        _err("")
    print(
        f"Backed up {done.database} ({done.tables} tables, {done.bytes:,} bytes) to {done.path} "
        f"in {done.elapsed_ms / 1000:.1f} s"
    )
    return 0


async def _restore(args: Any, sup: Any, client: Any, profile: str, mode: str, pcfg: Any) -> int:
    from ui import dba

    if args.list:
        info = await dba.inspect_archive(client, profile, args.path, args.target)
        print(dba.archive_summary(info))
        for p in info.problems:
            print(f"cannot restore: {p}")
        return 0

    def progress(p: Any) -> None:
        if sys.stderr.isatty():
            print(f"\r{p.objects} tables  {p.text[:60]:<60}", end="", file=sys.stderr)

    done = await dba.restore(
        client,
        profile,
        mode,
        args.path,
        args.target,
        confirmer=_confirmer(args),
        out=_err,
        on_progress=progress,
    )
    if sys.stderr.isatty():
        _err("")
    print(f"Restored {done.tables} tables into {done.database} in {done.elapsed_ms / 1000:.1f} s")
    return 0


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))
