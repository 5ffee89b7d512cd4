"""The `pgask` command line.

  pgask --version
  pgask actors [--json] [-p PROFILE|URL ...]   start the tree, ping every actor, stop
  pgask check-sql [SQL] [-p PROFILE] [--mode M] [--json | --batch]
  pgask config init [--print] [--force]
  pgask doctor [-p PROFILE ...] [--json]          what each connection could do, what to change
  pgask ask QUESTION [-p PROFILE] [--format F] [--mode M] [--yes] [--confirm NAME] [--show-sql]
            [--planner auto|model|offline]
  pgask ask --batch [-p PROFILE] [--planner P]    JSON lines {"id","question"} in, one answer each out
  pgask context QUESTION [-p PROFILE] [--tokens N] [--json]
  pgask context --batch [-p PROFILE] [--tokens N]  JSON lines in, {"id","context",...} out
  pgask explain | index | migrate | backup | restore ...   DBA work (see ui/cli_dba.py)
  pgask status [--all] [--json] | pgask stop [--all]      the per-user session host
  pgask --no-host ...                             one actor tree for this command (PGASK_HOST=off)

Exit codes: 0 ok, 1 error, 2 usage; sql/ask: 3 refused, 4 needs confirmation, 130 cancelled;
ask: 5 the planner asks a clarifying question (printed, nothing run); sql/ask: 6 the output
was cut by --max-rows (the rows printed are right; the result has more); 141 stdout closed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from protocol.errors import PgaskError
from ui.headless import (
    EXIT_ERROR,
    EXIT_OK,
    default_profile,
    ensure_password,
)
from ui.host import run_with_tree


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~30 ms: only when asked

    try:
        return version("pgask")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class _VersionAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        print(f"pgask {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgask", description="A terminal agent for PostgreSQL.")
    parser.add_argument(
        "--version", action=_VersionAction, nargs=0, help="show the version and exit"
    )
    parser.add_argument(
        "--config", help="config file (default: $PGASK_CONFIG or the platform config dir)"
    )
    parser.add_argument(
        "--no-host",
        action="store_true",
        help="run this command's own actor tree, not the per-user session host (as PGASK_HOST=off)",
    )
    parser.add_argument(
        "-p",
        "--profile",
        dest="tui_profiles",
        action="append",
        default=[],
        help="open the terminal UI on this profile or postgresql:// URL (twice: two panes)",
    )
    sub = parser.add_subparsers(dest="command")

    _add_run_parsers(sub)
    _add_ask_parsers(sub)
    from ui import cli_dba, mcp_server, records

    records.add_parsers(sub)
    cli_dba.add_parsers(sub)
    _add_tool_parsers(sub)
    mcp_server.add_parser(sub)
    return parser


def _add_run_parsers(sub: Any) -> None:
    """`sql` and `export`: SQL in, rows or a file out."""
    sql = sub.add_parser(
        "sql",
        help="check and run SQL headlessly (statements in order), print every row",
        epilog="exit status: 0 ok, 1 error, 3 refused by policy, 4 needs confirmation, "
        "6 output cut by --max-rows, 130 cancelled, 141 stdout closed",
    )
    sql.add_argument("sql", help="the SQL text (or - to read it from stdin)")
    sql.add_argument(
        "-p", "--profile", help="profile name or postgresql:// URL (default: the only profile)"
    )
    sql.add_argument("--format", choices=["table", "csv", "json", "jsonl"], default="table")
    sql.add_argument(
        "--mode", choices=["read-only", "read-write"], help="safety mode (default from [safety])"
    )
    sql.add_argument("--yes", action="store_true", help="confirm a write or DDL statement")
    sql.add_argument(
        "--confirm", metavar="NAME", help="confirm a destructive statement by naming its object"
    )
    sql.add_argument(
        "--max-rows",
        type=int,
        default=0,
        metavar="N",
        help="print at most N rows (default 0: every row); when it cuts, stderr says so "
        "and the exit status is 6",
    )
    sql.add_argument("--out", metavar="PATH", help="write the full result to PATH (see export)")
    sql.add_argument("--force", action="store_true", help="with --out: overwrite an existing file")

    export = sub.add_parser("export", help="export the full result of a read query to a file")
    export.add_argument("sql", help="the SQL text (or - to read it from stdin)")
    export.add_argument("--out", required=True, metavar="PATH", help="the file to write")
    export.add_argument(
        "--format", choices=["csv", "json", "jsonl"], help="default: from the extension, else csv"
    )
    export.add_argument("-p", "--profile", help="profile name or postgresql:// URL")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument("--delimiter", default=",", help="CSV delimiter (default ',')")


def _add_ask_parsers(sub: Any) -> None:
    """`ask` and `context`: a question in plain words."""
    ask = sub.add_parser(
        "ask",
        help="plan SQL for a question, check it, run it, print the result",
        description="Plan SQL for a question, check it, run it, print the result. With --batch, "
        'read one {"id", "question"} JSON object a line on stdin and write one line a question: '
        '{"id", "sql", "columns", "rows"}, {"id", "clarify", "options"} or {"id", "error"}. '
        "A batch runs reads only (a plan that is not a read is an error line, not run), each "
        "question on its own (no conversation), all through one actor tree.",
    )
    ask.add_argument(
        "question",
        nargs="?",
        help="the question in plain words (or - to read it from stdin); none with --batch",
    )
    ask.add_argument(
        "--batch", action="store_true", help="answer JSON-lines questions from stdin (see above)"
    )
    ask.add_argument(
        "--planner",
        choices=["auto", "model", "offline"],
        default="auto",
        help="who plans: the configured model, falling back offline (auto, the default), "
        "only the model, or only the offline planner",
    )
    ask.add_argument(
        "--out", metavar="PATH", help="write the full result to PATH (csv/json/jsonl by extension)"
    )
    ask.add_argument("--force", action="store_true", help="with --out: overwrite an existing file")
    ask.add_argument("-p", "--profile", help="profile name or postgresql:// URL")
    ask.add_argument("--format", choices=["table", "csv", "json", "jsonl"], default="table")
    ask.add_argument("--mode", choices=["read-only", "read-write"], help="safety mode")
    ask.add_argument("--yes", action="store_true", help="confirm a write or DDL statement")
    ask.add_argument("--confirm", metavar="NAME", help="confirm a destructive statement by name")
    ask.add_argument(
        "--max-rows",
        type=int,
        default=0,
        metavar="N",
        help="print at most N rows (default 0: every row); a cut exits 6",
    )
    ask.add_argument("--show-sql", action="store_true", help="print the SQL (on stderr) first")

    context = sub.add_parser(
        "context",
        help="print the schema context the model would get",
        description="Print the schema context the model would get for a question. With --batch, "
        'read one {"id", "question"} JSON object a line on stdin and write one '
        '{"id", "context", "tables", "tokens"} line a question.',
    )
    context.add_argument(
        "question", nargs="?", help="the question (or - to read it from stdin); none with --batch"
    )
    context.add_argument(
        "--batch", action="store_true", help="JSON-lines questions on stdin (see above)"
    )
    context.add_argument("-p", "--profile", help="profile name or postgresql:// URL")
    context.add_argument("--tokens", type=int, help="token budget (default: context_tokens)")
    context.add_argument("--json", action="store_true", help="print {tables, tokens, text} as JSON")


def _add_tool_parsers(sub: Any) -> None:
    """`actors`, `check-sql`, `demo`, `doctor`, `config`."""
    actors = sub.add_parser("actors", help="start the actor tree, ping every actor, print, stop")
    actors.add_argument("--json", action="store_true", help="print JSON")
    actors.add_argument(
        "-p", "--profile", action="append", default=[], help="also start this profile's executor"
    )

    sub.add_parser(
        "check-sql", help="classify SQL with the guard (no database needed)", add_help=False
    )

    demo = sub.add_parser("demo", help="embedded PostgreSQL with a sample shop database, in the UI")
    demo.add_argument("--reset", action="store_true", help="rebuild the demo data from scratch")
    demo.add_argument("--keep", action="store_true", help="leave the server running on exit")
    demo.add_argument(
        "--scale", type=int, default=100_000, help="number of orders (default 100000)"
    )
    demo.add_argument(
        "--seed", type=float, default=0.42, help="random seed in [0, 1] (default 0.42)"
    )
    demo.add_argument("--print-dsn", action="store_true", help="start it, print its URL, exit")
    demo.add_argument("--stop", action="store_true", help="stop the demo server")

    doctor = sub.add_parser(
        "doctor",
        help="what each profile's connection could do (superuser, server file and program "
        "roles, settings, row-level security), with what to change",
    )
    doctor.add_argument(
        "-p",
        "--profile",
        action="append",
        default=[],
        help="profile or postgresql:// URL (repeat; default: every configured profile)",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    for name, what in (
        ("status", "show the session host: pid, uptime, clients, profiles, memory"),
        ("stop", "stop the session host (the next command starts a new one)"),
    ):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument(
            "--all",
            action="store_true",
            help="every host of this user, not only "
            "this environment's (config file, PG* variables)",
        )
        if name == "status":
            cmd.add_argument("--json", action="store_true", help="print JSON")
    config = sub.add_parser("config", help="configuration helpers")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    init = config_sub.add_parser("init", help="write a commented starter config file")
    init.add_argument("--print", action="store_true", help="print it instead of writing it")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    hide_passwords_from_ps(argv)
    for i, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")  # argv bytes that are not UTF-8 arrive as lone surrogates
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end].encode("utf-8", "surrogateescape")
            print(
                f"pgask: argument {i} is not valid UTF-8 (byte {bad!r}).\n"
                "pgask reads SQL, questions and paths as UTF-8.\n"
                "Convert the text first (e.g. with iconv -t UTF-8) or set a UTF-8 locale.",
                file=sys.stderr,
            )
            return 2
    from protocol import hostlink

    if hostlink.host_enabled(argv):  # which host: decided before a .env changes the environment
        import os

        os.environ.setdefault(hostlink.ENV_DIR, str(hostlink.host_dir(argv)))
    if hasattr(sys.stdin, "reconfigure"):  # a C locale would smuggle bad bytes in as surrogates
        sys.stdin.reconfigure(encoding="utf-8", errors="strict")
    try:
        return _main(argv)
    except BaseException as exc:  # mapped to a message, or re-raised (bugs)
        return exit_for(exc)


def _leaf(exc: BaseException) -> BaseException:
    """trio wraps a task's error in an ExceptionGroup: the one error that matters."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if type(e).__name__ != "Cancelled"] or list(
            exc.exceptions
        )
        exc = inner[0]
    return exc


def exit_for(exc: BaseException) -> int:
    """An exception that reached the top as a message and an exit status; bugs re-raise."""
    import os

    leaf = _leaf(exc)
    if isinstance(leaf, SystemExit):
        raise leaf
    if isinstance(leaf, KeyboardInterrupt):
        return 130
    if isinstance(leaf, PgaskError):
        print(f"pgask: {leaf}", file=sys.stderr)
        return 2 if leaf.code.startswith("usage.") else 1
    if isinstance(leaf, BrokenPipeError):  # `pgask audit | head -1`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
        return 141  # as a C tool killed by SIGPIPE (128 + 13)
    if isinstance(leaf, UnicodeDecodeError):
        print(
            f"pgask: the text read from standard input is not valid UTF-8 "
            f"(byte {leaf.object[leaf.start : leaf.end]!r} at position {leaf.start}).\n"
            "Convert it first, e.g. iconv -f LATIN1 -t UTF-8 file.sql | pgask sql -",
            file=sys.stderr,
        )
        return 1
    if isinstance(leaf, OSError):
        from protocol.config import state_dir

        what = f"{leaf.filename}" if leaf.filename else "a file it needs"
        print(
            f"pgask: could not use {what}: {leaf.strerror or leaf}.\n"
            f"pgask keeps its state under {state_dir()} and its sockets under the temp directory.\n"
            "Check that the path exists, is the right kind (file or directory) and is writable by you "
            "(set XDG_STATE_HOME or TMPDIR to move them).",
            file=sys.stderr,
        )
        return 1
    raise exc


def hide_passwords_from_ps(argv: list[str]) -> None:
    """A postgresql://user:password@ URL on the command line: show `ps` the URL without it."""
    from protocol.privacy import redact_secrets

    masked = [redact_secrets(a) for a in argv]
    if masked != argv:
        try:
            import setproctitle

            setproctitle.setproctitle(" ".join(["pgask", *masked]))
        except ImportError:  # pragma: no cover - declared dependency
            pass


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "check-sql":  # its own parser lives with the guard
        from ui.host import check_sql

        try:
            return check_sql(argv[1:], remote=judge_on_profile)
        except PgaskError as exc:
            print(f"pgask: {exc}", file=sys.stderr)
            return 1
    args = build_parser().parse_args(argv)
    from ui import host

    host.command = args.command
    if args.no_host:
        import os

        os.environ["PGASK_HOST"] = "off"  # for this command and what it starts
    try:
        if args.command in ("status", "stop"):
            return cmd_host(args)
        if args.command == "actors":
            return cmd_actors(args)
        if args.command == "sql":
            return cmd_export(args) if args.out else cmd_sql(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command in ("ask", "context"):
            if args.batch:
                from ui import cli_batch

                if args.command == "ask":
                    return cli_batch.cmd_ask_batch(args)
                return cli_batch.cmd_context_batch(args)
            if args.question is None:
                print(f"pgask: {args.command} needs a QUESTION (or --batch).", file=sys.stderr)
                return 2
            return cmd_ask(args) if args.command == "ask" else cmd_context(args)
        if args.command in ("audit", "logs"):
            from ui import records

            return records.cmd_audit(args) if args.command == "audit" else records.cmd_logs(args)
        if args.command in ("explain", "index", "migrate", "backup", "restore"):
            from ui import cli_dba

            return cli_dba.main(args)
        if args.command == "demo":
            from ui.demo import run_demo
            from ui.host import launch_tui

            return run_demo(args, launch_tui)
        if args.command == "config":
            return cmd_config_init(args)
        if args.command == "doctor":
            return cmd_doctor(args)
        if args.command == "mcp":
            from ui.mcp_server import cmd_mcp

            return cmd_mcp(args)
        return cmd_tui(args)
    except PgaskError as exc:
        print(f"pgask: {exc}", file=sys.stderr)
        return 2 if exc.code.startswith("usage.") else 1
    except KeyboardInterrupt:
        return 130


# -- helpers ---------------------------------------------------------------------


def judge_on_profile(
    config_path: str | None, profile: str, texts: list[str], mode: Any, preview: bool
) -> list[Any]:
    """`pgask check-sql -p PROFILE`: the guard's verdicts for `texts` against that profile's
    database, through a tree of its own (as every run is judged)."""
    from protocol.messages import GuardRequest

    replies: list[Any] = []

    async def judge(_sup: Any, client: Any, name: str) -> int:
        for text in texts:
            body = GuardRequest(sql=text, profile=name, mode=mode, preview=preview)
            replies.append(await client.request("guard", body, timeout=90))
        return 0

    run_with_tree(config_path, [profile], judge)
    return replies


def cmd_doctor(args: argparse.Namespace) -> int:
    """`pgask doctor [-p PROFILE]...`: exit 0 when every profile answered (warnings or not),
    1 when one could not be reached."""
    from protocol.config import load_config
    from protocol.errors import failure_text
    from protocol.messages import DoctorReport, DoctorRequest, Failure

    config = load_config(args.config)
    profiles = args.profile or sorted(config.profiles)
    if not profiles:
        print("pgask doctor: no profile to check.", file=sys.stderr)
        print(
            "  Name one with -p PROFILE or -p postgresql://…, or add [profiles.NAME] to "
            "your config (`pgask config init`).",
            file=sys.stderr,
        )
        return 1
    marks = {"ok": "ok  ", "warn": "WARN", "bad": "BAD "}

    async def check(_sup: Any, client: Any, *names: str) -> int:
        status, out = 0, {}
        for name in names:
            reply = await client.request(f"executor:{name}", DoctorRequest(), timeout=60)
            if isinstance(reply, Failure):
                status = 1
                out[name] = {"error": reply.message, "hint": reply.hint}
                if not args.json:
                    print(f"profile '{name}': could not check\n{failure_text(reply)}\n")
                continue
            assert isinstance(reply, DoctorReport)
            out[name] = {
                "role": reply.role,
                "database": reply.database,
                "server_version": reply.server_version,
                "findings": [
                    {"check": f.check, "value": f.value, "level": f.level, "advice": f.advice}
                    for f in reply.findings
                ],
            }
            if not args.json:
                print(
                    f"profile '{name}': {reply.role}@{reply.database}, "
                    f"PostgreSQL {reply.server_version // 10000}"
                )
                for f in reply.findings:
                    print(f"  {marks[f.level]} {f.check}: {f.value}")
                    if f.advice:
                        print(f"         {f.advice}")
                print()
        if args.json:
            print(json.dumps(out, indent=2))
        return status

    return run_with_tree(config, profiles, check)


def cmd_actors(args: argparse.Namespace) -> int:
    import time

    from protocol.errors import failure_text
    from protocol.messages import ActorsRequest, ActorsStatus, Failure, Ping

    async def list_actors(sup: Any, client: Any, *profiles: str) -> int:
        start = time.perf_counter()
        await client.request("supervisor", Ping(), timeout=10)
        sup_rtt = (time.perf_counter() - start) * 1000
        reply = await client.request(
            "supervisor", ActorsRequest(profiles=list(profiles)), timeout=60
        )
        if isinstance(reply, Failure):
            print(failure_text(reply), file=sys.stderr)
            return 1
        assert isinstance(reply, ActorsStatus)
        rows = []
        for info in reply.actors:
            name = info.actor
            if name.startswith("executor:"):
                name = f"executor[{name.split(':', 1)[1]}]"
            rtt = sup_rtt if info.actor == "supervisor" else info.rtt_ms
            rows.append(
                {
                    "actor": name,
                    "pid": info.pid,
                    "incarnation": info.incarnation,
                    "state": info.state,
                    "restarts": info.restarts,
                    "rtt_ms": None if rtt is None else round(rtt, 3),
                }
            )
        if args.json:
            print(json.dumps({"run_dir": str(sup.run_dir), "actors": rows}, indent=2))
        else:
            print(f"{'actor':<24} {'pid':>8} {'inc':>4} {'state':<10} {'rtt ms':>8}")
            for r in rows:
                rtt = "-" if r["rtt_ms"] is None else f"{r['rtt_ms']:.2f}"
                print(
                    f"{r['actor']:<24} {r['pid']:>8} {r['incarnation']:>4} {r['state']:<10} {rtt:>8}"
                )
        return 0 if all(r["rtt_ms"] is not None for r in rows) else 1

    return run_with_tree(args.config, args.profile, list_actors)


def model_label(config: Any) -> str:
    """What the status bar says about the model."""
    import os

    if config.model.model:
        return config.model.model
    if os.environ.get(config.model.api_key_env):
        return "gpt-4o-mini"
    return "offline"


def cmd_tui(args: argparse.Namespace) -> int:
    from protocol.config import load_config
    from ui.host import add_demo_profile, launch_tui

    config = load_config(args.config)
    add_demo_profile(config, list(args.tui_profiles))
    profiles = list(args.tui_profiles) or [default_profile(config, None)]
    return launch_tui(config, profiles, model_label=model_label(config))


def cmd_sql(args: argparse.Namespace) -> int:
    from protocol.config import load_config, starting_mode
    from ui import cli_run

    sql_text = sys.stdin.read() if args.sql == "-" else args.sql
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)

    async def run_sql(sup: Any, client: Any, profile: str) -> int:
        mode = args.mode or starting_mode(sup.config, profile)  # as the UI starts
        await ensure_password(client, sup.config, profile)  # psql's prompt, on a terminal only
        return await cli_run.run_sql(sup, client, args, profile, mode, sql_text)

    return run_with_tree(args.config, [profile_arg], run_sql)


def export_format(path: str, given: str | None) -> str:
    if given in ("csv", "json", "jsonl"):
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"json": "json", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix, "csv")


def cmd_export(args: argparse.Namespace) -> int:
    """`pgask export` and `pgask sql --out`: the exporter writes the file; progress on stderr."""
    from protocol.config import load_config

    sql_text = sys.stdin.read() if args.sql == "-" else args.sql
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)

    async def run_export(sup: Any, client: Any, profile: str) -> int:
        return await export_to_file(client, args, profile, sql_text)

    return run_with_tree(args.config, [profile_arg], run_export)


async def export_to_file(client: Any, args: argparse.Namespace, profile: str, sql_text: str) -> int:
    """Export the full result of `sql_text` to args.out through the workflow engine: the guard
    checks it is a read, the exporter writes the file (Ctrl+C cancels; no file is left)."""
    import os

    from protocol.config import load_config, starting_mode
    from ui import cli_run
    from ui.engine import ExportSpec, JobRequest

    config = load_config(args.config)
    spec = ExportSpec(
        path=os.path.abspath(os.path.expanduser(args.out)),  # this shell's cwd
        format=export_format(args.out, getattr(args, "format", None)),  # type: ignore[arg-type]
        force=args.force,
        delimiter=getattr(args, "delimiter", ","),
    )
    request = JobRequest(
        kind="export",
        text=sql_text,
        profile=profile,
        mode=starting_mode(config, profile),
        export=spec,
    )  # type: ignore[arg-type]
    return await cli_run.run_export(client, config, request)


def cmd_ask(args: argparse.Namespace) -> int:
    """`pgask ask`: plan -> guard -> confirm -> run -> print; one self-repair of a failed read."""
    from protocol.config import load_config, starting_mode
    from ui import cli_run

    question = (sys.stdin.read() if args.question == "-" else args.question).strip()
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)

    async def run_ask(sup: Any, client: Any, profile: str) -> int:
        mode = args.mode or starting_mode(sup.config, profile)  # as the UI starts

        async def export(sql: str) -> int:
            return await export_to_file(client, args, profile, sql)

        return await cli_run.run_ask(
            sup, client, args, profile, mode, question, export=export if args.out else None
        )

    return run_with_tree(args.config, [profile_arg], run_ask)


def cmd_context(args: argparse.Namespace) -> int:
    """`pgask context`: the schema context the planner would send for QUESTION (no model call);
    the planner builds it, as it does for a plan."""
    from protocol.config import load_config
    from protocol.errors import failure_text
    from protocol.messages import (
        ContextRequest,
        Failure,
        SchemaContextText,
        SessionGet,
        SessionState,
    )
    from ui.workflow import recent_turns

    question = (sys.stdin.read() if args.question == "-" else args.question).strip()
    config = load_config(args.config)
    profile_arg = default_profile(config, args.profile)
    budget = args.tokens or config.model.context_tokens

    async def show(sup: Any, client: Any, profile: str) -> int:
        session = await client.request("supervisor", SessionGet(), timeout=10)
        recent = []
        if isinstance(session, SessionState):
            recent = recent_turns(session, profile)
        request = ContextRequest(question=question, profile=profile, tokens=budget, recent=recent)
        ctx = await client.request("planner", request, timeout=120)
        if isinstance(ctx, Failure):
            print(failure_text(ctx), file=sys.stderr)
            return EXIT_ERROR
        assert isinstance(ctx, SchemaContextText)
        if args.json:
            tables = [
                {"schema": t.schema, "name": t.name, "columns": t.columns} for t in ctx.tables
            ]
            print(
                json.dumps(
                    {
                        "tables": tables,
                        "tokens": ctx.tokens,
                        "budget": ctx.budget,
                        "whole": ctx.whole,
                        "total_tables": ctx.total_tables,
                        "text": ctx.text,
                    },
                    indent=2,
                )
            )
        else:
            print(ctx.text)
            n, total = len(ctx.tables), ctx.total_tables
            what = "the whole schema" if ctx.whole else f"{n} of {total} tables"
            print(f"-- {ctx.tokens} tokens (budget {budget}); {what}", file=sys.stderr)
        return EXIT_OK

    return run_with_tree(args.config, [profile_arg], show)


def cmd_host(args: argparse.Namespace) -> int:
    """`pgask status` / `pgask stop`: the per-user session host."""
    from ui import session_host

    if args.command == "stop":
        pids = session_host.stop(all_hosts=args.all)
        print(
            f"Stopped the session host (pid {', '.join(map(str, pids))})."
            if pids
            else "No session host was running."
        )
        return 0
    hosts = session_host.status(all_hosts=args.all)
    if args.json:
        print(json.dumps(hosts if args.all else (hosts[0] if hosts else None), indent=2))
    else:
        print(session_host.format_status(hosts))
    return 0 if hosts else 3


def cmd_config_init(args: argparse.Namespace) -> int:
    from protocol.config import STARTER, default_config_path

    if args.print:
        sys.stdout.write(STARTER)
        return 0
    path = Path(args.config).expanduser() if args.config else default_config_path()
    if path.exists() and not args.force:
        print(f"pgask: {path} already exists; pass --force to overwrite it.", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER)
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
