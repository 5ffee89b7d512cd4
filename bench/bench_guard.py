"""Guard throughput beside pglast's bare parse, measured side by side in one run.

    python bench/bench_guard.py [--seconds 2]

Prints statements per second for a realistic mix (the corpus's reads plus its writes, ddl and
destructive cases, so mostly analyst reads), the p50/p99 time for a ~10 KB statement, and the
guard's cost as a ratio to `pglast.parser.parse_sql_json` alone on the same inputs. These
machines are noisy: compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pglast import parser as pg_parser  # noqa: E402

from actors.guard import classify  # noqa: E402

CASES = ROOT / "tests" / "fixtures" / "guard_cases.jsonl"


def load_mix() -> list[str]:
    mix = []
    for line in CASES.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["class"] in ("read", "write", "ddl", "destructive"):
            mix.append(case["sql"])
    return mix


def big_statement(target_bytes: int = 10_000) -> str:
    """A realistic large analyst query: many CTEs, joins, CASE arms and aggregates."""
    ctes = []
    i = 0
    while sum(len(c) for c in ctes) < target_bytes - 600:
        ctes.append(
            f"c{i} AS (SELECT o.customer_id, date_trunc('month', o.created_at) AS m, "
            f"sum(o.total) FILTER (WHERE o.status = 'shipped' AND o.total > {i}) AS s{i}, "
            f"count(DISTINCT o.id) AS n{i}, percentile_cont(0.5) WITHIN GROUP (ORDER BY o.total) "
            f"AS p{i}, CASE WHEN avg(o.total) > {i * 3} THEN 'high' ELSE 'low' END AS b{i} "
            f"FROM orders o JOIN customers c ON c.id = o.customer_id "
            f"WHERE o.meta->>'channel' = 'web{i}' AND o.created_at > now() - interval '{i} days' "
            f"GROUP BY 1, 2)"
        )
        i += 1
    joins = " ".join(f"LEFT JOIN c{k} USING (customer_id, m)" for k in range(1, i))
    return f"WITH {', '.join(ctes)} SELECT * FROM c0 {joins} ORDER BY 1 LIMIT 100"


def rate(fn: Callable[[str], object], inputs: list[str], seconds: float) -> float:
    """Statements per second, running the whole list repeatedly for about `seconds`."""
    done = 0
    start = time.perf_counter()
    while True:
        for sql in inputs:
            fn(sql)
        done += len(inputs)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def timings(fn: Callable[[str], object], sql: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(sql)
        out.append(time.perf_counter() - t)
    return sorted(out)


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per throughput measurement")
    ap.add_argument("--runs", type=int, default=300, help="runs for the 10 KB statement")
    args = ap.parse_args()

    mix = load_mix()
    for sql in mix:  # warm up caches (function verdicts) and the allocator
        classify(sql)

    parse = pg_parser.parse_sql_json
    guard_rate = rate(classify, mix, args.seconds)
    parse_rate = rate(parse, mix, args.seconds)

    big = big_statement()
    assert classify(big).sql_class == "read"
    guard_big = timings(classify, big, args.runs)
    parse_big = timings(parse, big, args.runs)

    print(f"guard benchmark: {len(mix)} corpus statements (reads, writes, ddl, destructive)")
    print(
        f"  mix      guard {guard_rate:9,.0f} statements/s   bare parse {parse_rate:9,.0f}/s"
        f"   guard costs {parse_rate / guard_rate:4.1f}x a bare parse"
    )
    print(
        f"  {len(big.encode()) / 1000:.1f} KB statement:"
        f" guard p50 {statistics.median(guard_big) * 1e3:6.2f} ms  p99 {p99(guard_big) * 1e3:6.2f} ms"
        f" | bare parse p50 {statistics.median(parse_big) * 1e3:6.2f} ms"
        f"  p99 {p99(parse_big) * 1e3:6.2f} ms"
        f" | ratio (p50) {statistics.median(guard_big) / statistics.median(parse_big):4.1f}x"
    )


if __name__ == "__main__":
    main()
