"""`pgask audit` and `pgask logs`: reading what pgask recorded.

pgask audit [-p PROFILE] [--since DATE] [--json]     list audit records
pgask audit verify [-p PROFILE]                      check the hash chains
pgask logs [--trace ID] [--run NAME] [--json]        one run's logs, merged across actors
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

from protocol.audit import check, load_key, read_records, read_witness, trail_id
from protocol.config import state_dir
from protocol.errors import PgaskError


def add_parsers(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit trail of what pgask ran (and refused)")
    audit.add_argument("action", nargs="?", choices=["list", "verify"], default="list")
    audit.add_argument("-p", "--profile", help="only this profile")
    audit.add_argument("--since", help="only records from this date (YYYY-MM-DD) or time on")
    audit.add_argument("--json", action="store_true", help="print the records as JSON Lines")

    logs = sub.add_parser(
        "logs", help="structured logs of the latest run (or --run), all actors merged"
    )
    logs.add_argument("--trace", help="only the lines of this user action")
    logs.add_argument(
        "--run", help="a run directory name (default: the run active most recently, TUI or not)"
    )
    logs.add_argument("--list", action="store_true", help="list the runs, most recent last")
    logs.add_argument("--json", action="store_true", help="print the raw JSON lines")
    logs.add_argument(
        "--model",
        action="store_true",
        help="only what was sent to the model: model, schema context, tokens",
    )


def _audit_files(profile: str | None) -> list[Path]:
    folder = state_dir() / "audit"
    if profile:
        from protocol.config import profile_file_name, url_profile_name

        if profile.startswith(("postgresql://", "postgres://")):
            profile = url_profile_name(profile)
        return [folder / f"{profile_file_name(profile)}.jsonl"]
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


def parse_since(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """YYYY-MM-DD[THH:MM], today, yesterday, or an age like 2h / 3d; UTC."""
    now = now or dt.datetime.now(dt.UTC)
    word = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word in ("today", "yesterday"):
        return midnight - dt.timedelta(days=1 if word == "yesterday" else 0)
    if (age := re.fullmatch(r"(\d+)\s*([mhdw])", word)) is not None:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[age.group(2)]
        return now - dt.timedelta(**{unit: int(age.group(1))})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise PgaskError(
            f"--since {text!r} is not a date or time pgask can read.",
            why="It takes a date (2026-03-01), a date and time (2026-03-01T14:30), "
            "today, yesterday, or an age (90m, 12h, 3d, 2w).",
            hint="For example: pgask audit --since yesterday",
            code="usage.since",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def cmd_audit(args: argparse.Namespace) -> int:
    files = _audit_files(args.profile)
    if args.action == "verify":
        return _verify(files, args)
    since = parse_since(args.since) if args.since else None
    for path in files:
        for record in read_records(path):
            if since and _when(record) < since:
                continue
            if args.json:
                print(json.dumps(record, ensure_ascii=False))
            else:
                print(_audit_line(record))
    return 0


def _when(record: dict[str, Any]) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(str(record.get("ts", "")))
    except ValueError:  # an unreadable line has no time: show it, never drop it
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _verify(files: list[Path], args: argparse.Namespace) -> int:
    if not files or not any(f.exists() for f in files):
        print(f"No audit records under {state_dir() / 'audit'}.")
        return 0
    witnessed: dict[str, dict[int, str]] | None = None
    if _witness_configured(args):
        key = load_key(state_dir() / "audit")
        found = read_witness(trail_id(key)) if key is not None else None
        if found is None:
            print(
                'witness: [audit] witness = "syslog" is set, but the system log cannot be read '
                "back here (no journalctl, no readable /var/log/syslog); only the file, its head "
                "and its key were checked. Compare `grep pgask-audit` in your system log."
            )
        else:
            witnessed, where = found
            print(f"witness: compared with the system log ({where})")
    bad = 0
    for path in files:
        witness = None if witnessed is None else witnessed.get(path.stem, {})
        checked = check(path, witness=witness)
        broken = checked.broken
        if broken is None:
            note = "".join(f"; {n}" for n in checked.notes)
            print(f"{path.stem}: {checked.records} records, chain intact{note}")
            continue
        bad += 1
        seq = "?" if broken.seq is None else broken.seq
        where = f"line {broken.line}" if broken.line else "a record"
        print(f"{path.stem}: BROKEN at {where} (record seq {seq}): {broken.why}. File: {path}")
    return 1 if bad else 0


def _witness_configured(args: argparse.Namespace) -> bool:
    from protocol.config import load_config

    try:
        return load_config(getattr(args, "config", None)).audit.witness == "syslog"
    except PgaskError:
        return False


def _audit_line(r: dict[str, Any]) -> str:
    kind = r.get("type", "?")
    head = (
        f"{r.get('ts', '')[:19].replace('T', ' ')} #{r.get('seq')} {r.get('profile', '')} {kind:<8}"
    )
    if kind == "outcome":
        detail = r.get("outcome", "")
        if r.get("command"):
            detail += f" {r['command']}"
        if r.get("error"):
            detail += f" {r['error']}"
        return f"{head} {detail} ({r.get('ms', '?')} ms) for #{r.get('intent')}"
    who = f"{r.get('os_user', '')}/{r.get('db_role', '')}"
    return f"{head} {r.get('decision', '')} {r.get('class', '')} by {who}: {r.get('sql', '')}"


def _last_active(run: Path) -> float:
    """When the run last wrote a log line: a TUI session started an hour ago and left a minute
    ago is more recent than a command that ran in between."""
    times = [p.stat().st_mtime for p in run.iterdir() if p.is_file()]
    return max(times, default=run.stat().st_mtime)


def cmd_logs(args: argparse.Namespace) -> int:
    root = state_dir() / "logs"
    runs = [p for p in root.iterdir() if p.is_dir()] if root.exists() else []
    runs.sort(key=lambda p: (_last_active(p), p.name))
    if not runs:
        print(f"No logs under {root}.", file=sys.stderr)
        return 1
    if args.list:
        for r in runs:
            kind = "tui" if (r / "ui.log").exists() else "command"
            last = dt.datetime.fromtimestamp(_last_active(r)).strftime("%Y-%m-%d %H:%M:%S")
            actors = ", ".join(sorted(p.stem for p in r.glob("*.log")))
            print(f"{r.name}  {kind:<7}  last active {last}  {actors}")
        return 0
    run = root / args.run if args.run else runs[-1]
    lines: list[tuple[float, str, dict[str, Any]]] = []
    for path in run.glob("*.log"):
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if args.trace and record.get("trace") != args.trace:
                continue
            if args.model and not str(record.get("event", "")).startswith(
                ("planner.context.", "planner.model.")
            ):
                continue
            lines.append((record.get("ts", 0.0), raw, record))
    lines.sort(key=lambda t: t[0])
    print(f"# {run}", file=sys.stderr)
    for ts, raw, record in lines:
        if args.json:
            print(raw)
            continue
        when = dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]
        if args.model and "context" in record:  # the schema context, as the model read it
            print(
                f"{when} {record.get('event')} model={record.get('model')} tokens={record.get('tokens')} "
                f"tables={record.get('tables')}/{record.get('of')} trace={record.get('trace', '')}"
            )
            print("    " + str(record["context"]).replace("\n", "\n    "))
            continue
        extra = {
            k: v
            for k, v in record.items()
            if k
            not in ("ts", "level", "actor", "incarnation", "pid", "event", "trace", "msg", "parent")
        }
        print(
            f"{when} {record.get('actor', '?'):<16} {record.get('level', ''):<7} {record.get('event', '')} "
            + " ".join(f"{k}={v}" for k, v in extra.items())
        )
    return 0
