"""`pgask check-sql`: the classifier on the command line (text alone, or against a profile
through a judge the front end passes in, so this module never imports the front end)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import IO, Any

import msgspec

from actors.guard.classifier import classify
from actors.guard.verdict import verdict_for
from protocol.messages import Body, Failure, Mode, Verdict
from protocol.privacy import redact_secrets


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would sys.exit(2); we return 2
        raise _UsageError(message)


# Judges texts for a profile through the running actor tree (the CLI provides it, so this
# module never imports the front end): (profile, texts, mode, preview) -> a reply per text.
RemoteJudge = Callable[[str | None, str, list[str], Mode, bool], list[Body]]


def _cli_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pgask check-sql",
        description=(
            "Classify SQL with pgask's guard. Without -p the text alone is judged (no "
            "database needed); with -p it is judged against that profile's catalog, as every "
            "run is (what its functions, operators, casts, views and policies really run)."
        ),
        epilog="Exit status: 0 whatever the verdicts, 1 when the profile cannot be reached, "
        "2 for usage errors.",
    )
    p.add_argument("sql", nargs="?", help="the SQL text (read from stdin when omitted)")
    p.add_argument("-p", "--profile", default="", help="judge against this profile's database")
    p.add_argument("--config", help="config file (with -p; default: $PGASK_CONFIG or the usual)")
    p.add_argument("--mode", choices=("read-only", "read-write"), default="read-only")
    p.add_argument("--preview", action="store_true", help="reads are previewed before they run")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument(
        "--batch",
        action="store_true",
        help='read one JSON object per line {"id": …, "sql": …}, write one JSON line each',
    )
    return p


def check_sql_main(
    argv: list[str], stdin: IO[str], stdout: IO[str], remote: RemoteJudge | None = None
) -> int:
    """`pgask check-sql [SQL] [-p PROFILE] [--mode read-only|read-write] [--json | --batch]`."""
    parser = _cli_parser()
    try:
        args = parser.parse_args(argv)
        if args.batch and args.sql is not None:
            raise _UsageError(
                "--batch reads its SQL texts from stdin; do not pass SQL as an argument"
            )
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"pgask check-sql: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    mode: Mode = args.mode
    if args.profile and remote is None:
        print("pgask check-sql: error: -p needs the pgask command", file=sys.stderr)
        return 2
    judge_texts = (
        _remote_judge(remote, args.config, args.profile) if args.profile else _judge_locally
    )
    if args.batch:
        return _run_batch(stdin, stdout, mode, args.preview, judge_texts)
    sql = args.sql if args.sql is not None else stdin.read()
    (verdict,) = judge_texts([sql], mode, args.preview)
    if isinstance(verdict, Failure):
        print(_failure_text(verdict), file=sys.stderr)
        return 1
    assert isinstance(verdict, Verdict)
    if args.json:
        data = msgspec.to_builtins(verdict)
        data.pop("signature", None)
        if args.profile:
            data["profile"] = redact_secrets(args.profile)
        stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        stdout.write(_human(verdict, mode))
        if args.profile:
            shown = redact_secrets(args.profile)  # a URL may carry a password
            stdout.write(f"  judged against the catalog of profile '{shown}'\n")
    return 0


_Judge = Callable[[list[str], Mode, bool], list[Body]]


def _judge_locally(texts: list[str], mode: Mode, preview: bool) -> list[Body]:
    return [
        verdict_for(classify(t), t, profile="", mode=mode, preview=preview, key=None) for t in texts
    ]


def _remote_judge(remote: RemoteJudge | None, config: str | None, profile: str) -> _Judge:
    assert remote is not None
    return lambda texts, mode, preview: remote(config, profile, texts, mode, preview)


def _failure_text(f: Failure) -> str:
    lines = [f"pgask check-sql: {f.message}"]
    lines += [f"  {text}" for text in (f.why, f.hint) if text]
    return "\n".join(lines)


def _run_batch(stdin: IO[str], stdout: IO[str], mode: Mode, preview: bool, judge: _Judge) -> int:
    items: list[tuple[Any, str | None, str]] = []  # (id, sql, error)
    for line_no, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            items.append((line_no, None, f"line {line_no} is not JSON: {exc}"))
            continue
        ident = item.get("id", line_no) if isinstance(item, dict) else line_no
        sql = item.get("sql") if isinstance(item, dict) else None
        if not isinstance(sql, str):
            items.append((ident, None, f'line {line_no} has no "sql" string'))
        else:
            items.append((ident, sql, ""))
    verdicts = iter(judge([sql for _i, sql, _e in items if sql is not None], mode, preview))
    failed = False
    for ident, sql, error in items:
        v = next(verdicts) if sql is not None else None
        if isinstance(v, Verdict):  # the keys of --json (one verdict), plus the line's id
            out: dict[str, Any] = {"id": ident, **msgspec.to_builtins(v)}
            out.pop("signature", None)
        elif isinstance(v, Failure):
            failed = True
            out = {"id": ident, "error": v.message, "why": v.why, "hint": v.hint}
        else:
            out = {"id": ident, "error": error}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 1 if failed else 0


def _human(v: Verdict, mode: Mode) -> str:
    what = {
        "run": "runs",
        "preview": "shown first, Enter runs it",
        "confirm": "asks yes/no first",
        "typed": f"you must type {v.confirm_name!r} to run it",
        "refuse": "refused",
    }[v.confirm]
    lines = [f"{v.sql_class}: {what} (mode {mode})"]
    if v.error is not None:
        e = v.error
        where = f" (line {e.line}, column {e.column})" if e.line else ""
        lines.append(f"  {e.message}{where}")
        if e.snippet:
            lines.extend("    " + s for s in e.snippet.split("\n"))
    for s in v.statements:
        lines.append(f"  {s.index + 1}. {s.kind} [{s.sql_class}]")
        for r in s.reasons:
            lines.append(f"       {r}")
        if s.tables:
            lines.append(f"       tables: {', '.join(s.tables)}")
    return "\n".join(lines) + "\n"
