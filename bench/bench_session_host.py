"""Issue 21: pgask as whole processes beside psql and pgcli, cold (no session host) and warm
(host up), the four tasks of the issue.

    python bench/bench_session_host.py [--runs 5] [--rows 1000000] [--tables 3000] [--json]

Against a real PostgreSQL (PGASK_TEST_DSN, else a throwaway embedded cluster) it builds a
table of --rows rows (bigint, text, timestamptz, numeric) and, in another database, a catalog
of --tables tables (10 schemas, 6 columns each), then times, as medians of --runs interleaved
rounds:

    sql 20 rows     `psql -X -c`, `pgcli -c`, `pgask sql` (ORDER BY id LIMIT 20, table format)
    TUI -> prompt   spawn in a fresh tmux (120x40) until the prompt is on screen: psql, pgcli,
                    the pgask TUI
    export 1M CSV   psql `\\copy (select ...) to FILE csv header`, `pgask export --out FILE.csv`
    context 3k      `pgask context -p catalog QUESTION` (no psql/pgcli equivalent)

pgask columns:
    cold            PGASK_HOST=off: one actor tree per command, as before the host
    first (start)   host on but none running: this command starts it (then it is stopped)
    warm            host up, the command run without a controlling terminal (scripts, pipes,
                    cron: the command server forks it warm)
    warm, tty       host up, the command run on a terminal of its own (a pty): a thin client
                    in its own process (a person at a prompt)
Ratios: sql and TUI against psql and pgcli; export as psql's time / pgask's (throughput
ratio, higher is better). Targets (issue 21), warm: sql <= 3x psql, TUI <= 0.5x pgcli,
export >= 0.9x psql throughput, context < 100 ms; cold: sql <= pgcli.
The machine is shared: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import termios
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit import pg  # noqa: E402

QUERY = "select * from big order by id limit 20"
EXPORT = "select * from big"
QUESTION = "total revenue by customer last month"
PGASK = str(Path(sys.executable).parent / "pgask")
PGCLI = shutil.which("pgcli") or str(Path(sys.executable).parent / "pgcli")


def psql_bin() -> str:
    for candidate in (shutil.which("psql"), "/usr/lib/postgresql/15/bin/psql"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise SystemExit("psql not found (install postgresql-client)")


def run(argv: list[str], env: dict[str, str], *, cwd: Path) -> float:
    """Seconds for one whole process, no controlling terminal; fails loudly on a bad exit."""
    t0 = time.perf_counter()
    done = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        start_new_session=True,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return seconds


def run_on_tty(argv: list[str], env: dict[str, str], *, cwd: Path) -> float:
    """Seconds for one whole process on a pty that is its controlling terminal."""
    master, slave = os.openpty()

    def ctty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=ctty,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    code = proc.wait()
    seconds = time.perf_counter() - t0
    os.close(master)
    if code != 0:
        raise SystemExit(
            f"{shlex.join(argv)} failed on a tty ({code}):\n{out.decode(errors='replace')}"
        )
    return seconds


def tmux_to_prompt(command: str, prompt: str, quit_keys: list[str]) -> float:
    name = f"bsh-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    subprocess.run(
        ["tmux", "-L", name, "new-session", "-d", "-x", "120", "-y", "40", "-s", name, command],
        check=True,
    )
    rx = re.compile(prompt)
    try:
        while True:
            screen = subprocess.run(
                ["tmux", "-L", name, "capture-pane", "-p", "-t", name],
                capture_output=True,
                text=True,
            ).stdout
            if rx.search(screen):
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"never saw {prompt!r} from {command}:\n{screen}")
            time.sleep(0.005)
    finally:
        for key in quit_keys:
            subprocess.run(["tmux", "-L", name, "send-keys", "-t", name, key], capture_output=True)
        time.sleep(0.5)
        subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--tables", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = pg.server_from_env() or pg.start_embedded_server(prefix="pgask-bsh-")
    work = Path(tempfile.mkdtemp(prefix="bsh", dir="/tmp"))
    psql = psql_bin()
    try:
        return _bench(args, server, work, psql)
    finally:
        subprocess.run(
            [PGASK, "stop", "--all"],
            env={**os.environ, "XDG_RUNTIME_DIR": str(work)},
            capture_output=True,
        )
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, server: pg.PgServer, work: Path, psql: str) -> int:
    print("building the data ...", file=sys.stderr)
    big = pg.dsn_with_database(server.dsn, "bench_big")
    cat = pg.dsn_with_database(server.dsn, "bench_catalog")
    for name in ("bench_big", "bench_catalog"):
        pg.run_sql(server.dsn, f"drop database if exists {name}")
        pg.run_sql(server.dsn, f"create database {name}")
    pg.run_sql(
        big,
        f"""create table big (id bigint primary key, h text, ts timestamptz,
                         amount numeric(12,2));
                        insert into big select g, md5(g::text), now() - g * interval '1 s',
                          (g % 100000) / 100.0 from generate_series(1, {args.rows}) g""",
    )
    pg.run_sql(big, "vacuum analyze big")
    per = args.tables // 10
    for s in range(10):  # a schema a transaction: max_locks_per_transaction
        pg.run_sql(
            cat,
            f"""CREATE SCHEMA s{s}; DO $$ BEGIN FOR i IN 0..{per - 1} LOOP
            EXECUTE format('CREATE TABLE s{s}.t_%s (id bigint primary key, customer_id bigint,
              name text, amount numeric(12,2), created_at timestamptz, note text)', i);
            END LOOP; END $$""",
        )
    pg.run_sql(
        cat,
        "create table public.customers (id bigint primary key, name text);"
        "create table public.orders (id bigint primary key, customer_id bigint "
        "references customers, revenue numeric(12,2), created_at timestamptz)",
    )
    cfg = work / "cfg.toml"
    cfg.write_text(f'[profiles.b]\ndsn = "{big}"\n\n[profiles.catalog]\ndsn = "{cat}"\n')
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base |= {
        "XDG_RUNTIME_DIR": str(work),
        "XDG_STATE_HOME": str(work / "state"),
        "XDG_CONFIG_HOME": str(work / "config"),
        "TERM": "xterm-256color",
        "PGCLIRC": str(work / "pgclirc"),
    }
    (work / "pgclirc").write_text("[main]\nless_chatty = True\nkeyring = False\n")
    cold = {**base, "PGASK_HOST": "off"}
    warm = {**base, "PGASK_HOST": "on"}
    out_csv = work / "out.csv"
    pgask = [PGASK, "--config", str(cfg)]

    def stop_host() -> None:
        subprocess.run([*pgask, "stop", "--all"], env=warm, capture_output=True, cwd=work)

    tasks: dict[str, dict[str, list[float]]] = {}

    def note(task: str, who: str, seconds: float) -> None:
        tasks.setdefault(task, {}).setdefault(who, []).append(seconds)

    sql_cmd = [*pgask, "sql", "-p", "b", QUERY]
    export_cmd = [*pgask, "export", "-p", "b", EXPORT, "--out", str(out_csv), "--force"]
    context_cmd = [*pgask, "context", "-p", "catalog", QUESTION]
    copy = f"\\copy (select * from big) to '{out_csv}' csv header"
    tui_env = " ".join(f"{k}={shlex.quote(v)}" for k, v in base.items())

    def tui(env_host: str) -> str:
        argv = [*pgask, "-p", "b"]
        return f"cd {shlex.quote(str(work))} && exec env -i {tui_env} PGASK_HOST={env_host} {shlex.join(argv)}"

    psql_tui = f"exec env -i {tui_env} {shlex.join([psql, '-X', big])}"
    pgcli_tui = f"exec env -i {tui_env} {shlex.join([PGCLI, big])}"
    dbname = "bench_big"

    # first command with the host on and none running: it starts the host
    for _ in range(max(1, args.runs // 2)):
        stop_host()
        note("sql 20 rows", "pgask first (start)", run(sql_cmd, warm, cwd=work))
    stop_host()
    note("context 3k tables", "pgask first (start)", run(context_cmd, warm, cwd=work))
    stop_host()
    run(sql_cmd, warm, cwd=work)  # the host is up from here on
    run(context_cmd, warm, cwd=work)
    run(export_cmd, warm, cwd=work)
    for r in range(args.runs):
        print(f"round {r + 1}/{args.runs} ...", file=sys.stderr)
        note("sql 20 rows", "psql", run([psql, "-X", "-q", "-c", QUERY, big], base, cwd=work))
        note("sql 20 rows", "pgcli", run([PGCLI, "-c", QUERY, big], base, cwd=work))
        note("sql 20 rows", "pgask cold", run(sql_cmd, cold, cwd=work))
        note("sql 20 rows", "pgask warm", run(sql_cmd, warm, cwd=work))
        note("sql 20 rows", "pgask warm, tty", run_on_tty(sql_cmd, warm, cwd=work))
        note(
            "TUI spawn -> prompt",
            "psql",
            tmux_to_prompt(psql_tui, re.escape(dbname) + "=[#>]", ["C-d"]),
        )
        note(
            "TUI spawn -> prompt",
            "pgcli",
            tmux_to_prompt(pgcli_tui, re.escape(dbname) + ">", ["C-d"]),
        )
        note("TUI spawn -> prompt", "pgask cold", tmux_to_prompt(tui("off"), "b\u203a", ["C-q"]))
        note("TUI spawn -> prompt", "pgask warm", tmux_to_prompt(tui("on"), "b\u203a", ["C-q"]))
        note("export 1M CSV", "psql", run([psql, "-X", "-q", "-c", copy, big], base, cwd=work))
        note("export 1M CSV", "pgask cold", run(export_cmd, cold, cwd=work))
        note("export 1M CSV", "pgask warm", run(export_cmd, warm, cwd=work))
        note("context 3k tables", "pgask cold", run(context_cmd, cold, cwd=work))
        note("context 3k tables", "pgask warm", run(context_cmd, warm, cwd=work))
        note("context 3k tables", "pgask warm, tty", run_on_tty(context_cmd, warm, cwd=work))

    medians = {t: {w: med(xs) for w, xs in by.items()} for t, by in tasks.items()}
    if args.json:
        print(json.dumps(medians, indent=2))
        return 0
    print(f"\nmedians of {args.runs} runs ({args.rows:,} rows, {args.tables:,}+2 tables); seconds")
    print(f"{'task':<22} {'who':<22} {'median s':>9}  ratios")
    for task, by in medians.items():
        p, c = by.get("psql"), by.get("pgcli")
        for who, s in by.items():
            ratios = []
            if who.startswith("pgask"):
                if task.startswith("export") and p:
                    ratios.append(f"{p / s:.2f}x psql's throughput")
                else:
                    if p:
                        ratios.append(f"{s / p:.2f}x psql")
                    if c:
                        ratios.append(f"{s / c:.2f}x pgcli")
            print(f"{task:<22} {who:<22} {s:>9.3f}  {', '.join(ratios)}")
    m = medians
    checks = [
        ("warm sql <= 3x psql", m["sql 20 rows"]["pgask warm"] <= 3 * m["sql 20 rows"]["psql"]),
        (
            "warm sql on a tty <= 3x psql",
            m["sql 20 rows"]["pgask warm, tty"] <= 3 * m["sql 20 rows"]["psql"],
        ),
        (
            "warm TUI <= 0.5x pgcli",
            m["TUI spawn -> prompt"]["pgask warm"] <= 0.5 * m["TUI spawn -> prompt"]["pgcli"],
        ),
        (
            "warm export >= 0.9x psql throughput",
            m["export 1M CSV"]["psql"] / m["export 1M CSV"]["pgask warm"] >= 0.9,
        ),
        ("warm context < 100 ms", m["context 3k tables"]["pgask warm"] < 0.1),
        ("warm context on a tty < 100 ms", m["context 3k tables"]["pgask warm, tty"] < 0.1),
        ("cold sql <= pgcli", m["sql 20 rows"]["pgask cold"] <= m["sql 20 rows"]["pgcli"]),
    ]
    print()
    for what, ok in checks:
        print(f"{'met    ' if ok else 'NOT met'}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
