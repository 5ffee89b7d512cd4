"""Offline planner latency: the shop catalog, and the shop buried in a 500-table catalog.

    python bench/bench_planner_offline.py [--tables 500] [--rounds 20]

Prints, per catalog, the one-time cost of indexing the catalog (first question after a new
fingerprint) and the p50 / p99 / max time per question over the unit tests' SHOP_CASES. The
goal is well under 100 ms per question on a 500-table catalog; these machines are noisy, so
read the figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.planner import offline as planner_offline  # noqa: E402
from actors.planner.offline import schema as offline_schema  # noqa: E402
from protocol.messages import Catalog, CatalogColumn, CatalogTable  # noqa: E402
from testkit.shop import SHOP, SHOP_CASES, TODAY, VALUES  # noqa: E402

_WORDS = [
    "invoice",
    "shipment",
    "ledger",
    "account",
    "vendor",
    "asset",
    "ticket",
    "employee",
    "contract",
    "budget",
    "project",
    "device",
    "session",
    "campaign",
    "warehouse",
]


def big_catalog(n: int) -> Catalog:
    """SHOP plus n tables with realistic names and columns (ids, amounts, dates, statuses)."""
    tables = list(SHOP.tables)
    for i in range(n):
        word = _WORDS[i % len(_WORDS)]
        name = f"{word}_{i // len(_WORDS)}_entries"
        cols = [
            CatalogColumn(name="id", type_name="bigint"),
            CatalogColumn(name=f"{word}_code", type_name="text"),
            CatalogColumn(name="amount_due", type_name="numeric(12,2)"),
            CatalogColumn(name="status", type_name="text"),
            CatalogColumn(name="created_at", type_name="timestamp with time zone"),
            *(CatalogColumn(name=f"attr_{k}", type_name="text") for k in range(15)),
        ]
        tables.append(CatalogTable(schema="public", name=name, columns=cols, primary_key=["id"]))
    return Catalog(
        profile="big",
        database="big",
        server_version=170000,
        fingerprint=f"big-{n}",
        search_path=["public"],
        tables=tables,
    )


def measure(catalog: Catalog, rounds: int) -> None:
    offline_schema.SCHEMA_CACHE.clear()
    started = time.perf_counter()
    planner_offline.offline_plan("how many orders", catalog, values=VALUES, today=TODAY)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    answered = 0
    for _ in range(rounds):
        for question, _sql in SHOP_CASES:
            t0 = time.perf_counter()
            result = planner_offline.offline_plan(question, catalog, values=VALUES, today=TODAY)
            times.append((time.perf_counter() - t0) * 1000)
            answered += hasattr(result, "sql")
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    print(
        f"{len(catalog.tables):5d} tables: first question {first_ms:7.1f} ms (indexes the catalog); "
        f"then p50 {statistics.median(times):6.2f} ms, p99 {p99:6.2f} ms, max {times[-1]:6.2f} ms "
        f"over {len(times)} questions ({answered} answered)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    measure(SHOP, args.rounds)
    measure(big_catalog(args.tables), args.rounds)


if __name__ == "__main__":
    main()
