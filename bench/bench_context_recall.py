"""Schema-context recall: does the context the model gets hold every table and column it needs?

    python bench/bench_context_recall.py [--distractors 2000] [--seed 7] [--verbose]

The catalog merges the real catalogs (`actors.executor.catalog.load_catalog`) of the 11 defog databases
and the demo shop, one schema per database named after it (ewallet's `consumer_div` becomes
`ewallet`, foreign keys follow), plus `--distractors` generated business tables
(`bench.bench_planner_context.generate_catalog`: schemas such as sales / crm / billing, tables
such as customer_archive or order_item_daily, columns such as name / status / amount / city that
overlap the real ones). The questions are the answerable ones of
tests/fixtures/offline_questions.jsonl; the tables a question needs are those its reference SQL
reads (sqlglot), the columns it needs are the reference's column names that belong to those
tables. For each budget (2k / 4k / 8k tokens) it prints

* table recall  - share of questions whose context holds every needed table;
* column recall - share whose context also shows every needed column of those tables;
* tokens        - mean size of the context sent;

beside the whole-schema baseline (recall 100% by construction, at the token cost printed), and
the selection time per question on a built index (median / p95 / max) and the one-time index
build. The server is PGASK_TEST_DSN when set, else an embedded cluster started here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from actors.planner.context import SchemaIndex, estimate_tokens  # noqa: E402
from bench.bench_offline_accuracy import (  # noqa: E402
    Question,
    cached_introspect,
    database_dsn,
    load_questions,
)
from bench.bench_planner_context import generate_catalog  # noqa: E402
from protocol.messages import Catalog, CatalogTable  # noqa: E402

BUDGETS = (2000, 4000, 8000)
DEFAULT_DISTRACTORS = 2000


@dataclass(frozen=True)
class Need:
    """What one question's answer reads: schema-qualified tables and (table, column) pairs."""

    question: Question
    tables: frozenset[str]  # "schema.table", lower case
    columns: frozenset[tuple[str, str]]  # ("schema.table", column), lower case


@dataclass
class BudgetFigures:
    budget: int
    table_hits: int = 0
    column_hits: int = 0
    tokens: list[int] = field(default_factory=list)
    times_ms: list[float] = field(default_factory=list)
    misses: list[tuple[Need, list[str]]] = field(default_factory=list)

    def table_recall(self, n: int) -> float:
        return self.table_hits / n if n else 0.0

    def column_recall(self, n: int) -> float:
        return self.column_hits / n if n else 0.0


# -- the merged catalog ---------------------------------------------------------------------------


def rename_schema(table: CatalogTable, schema: str) -> CatalogTable:
    fks = [msgspec.structs.replace(fk, ref_schema=schema) for fk in table.foreign_keys]
    return msgspec.structs.replace(table, schema=schema, foreign_keys=fks)


def merged_catalog(
    catalogs: dict[str, Catalog], *, distractors: int = DEFAULT_DISTRACTORS, seed: int = 7
) -> Catalog:
    """One schema per database (named after it), the generated distractors interleaved."""
    real = [rename_schema(t, db) for db, cat in catalogs.items() for t in cat.tables]
    noise = (
        list(generate_catalog(distractors, seed=seed, planted=False).tables) if distractors else []
    )
    # spread the real tables through the noise, so catalog order does not favour them
    tables: list[CatalogTable] = []
    step = max(1, len(noise) // max(1, len(real)))
    for i, t in enumerate(real):
        tables.extend(noise[i * step : (i + 1) * step])
        tables.append(t)
    tables.extend(noise[len(real) * step :])
    return Catalog(
        profile="recall",
        database="recall",
        server_version=180000,
        fingerprint=f"recall-{len(real)}-{distractors}-{seed}",
        search_path=["public"],
        tables=tables,
    )


def needs(question: Question, catalog: Catalog) -> Need:
    """The tables (in schema `question.db`) and their columns that the reference SQL reads."""
    assert question.reference_sql is not None
    tree = sqlglot.parse_one(question.reference_sql, read="postgres")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    by_name = {t.name.lower(): t for t in catalog.tables}
    tables: dict[str, CatalogTable] = {}
    for t in tree.find_all(exp.Table):
        name = t.name.lower()
        if name in ctes:
            continue
        found = by_name.get(name)
        if found is None:
            raise ValueError(f"{question.db}: {question.question!r} reads unknown table {name}")
        tables[f"{question.db}.{name}"] = found
    cols: set[tuple[str, str]] = set()
    for c in tree.find_all(exp.Column):
        col = c.name.lower()
        for key, t in tables.items():
            if any(tc.name.lower() == col for tc in t.columns):
                cols.add((key, col))
    return Need(question, frozenset(tables), frozenset(cols))


# -- measuring ------------------------------------------------------------------------------------


def measure(
    index: SchemaIndex, wanted: Sequence[Need], budgets: Sequence[int] = BUDGETS
) -> list[BudgetFigures]:
    out = []
    for budget in budgets:
        fig = BudgetFigures(budget)
        for need in wanted:
            started = time.perf_counter()
            ctx = index.select(need.question.question, budget=budget)
            fig.times_ms.append((time.perf_counter() - started) * 1000)
            fig.tokens.append(ctx.tokens)
            shown = {
                f"{t.schema}.{t.name}".lower(): {c.lower() for c in t.columns} for t in ctx.tables
            }
            missing = sorted(need.tables - shown.keys())
            if not missing:
                fig.table_hits += 1
                lost = sorted(f"{k}.{c}" for k, c in need.columns if c not in shown[k])
                if not lost:
                    fig.column_hits += 1
                else:
                    fig.misses.append((need, lost))
            else:
                fig.misses.append((need, missing))
        out.append(fig)
    return out


def whole_schema_tokens(index: SchemaIndex) -> int:
    return estimate_tokens("\n".join(index.line(i) for i in range(len(index.entries))))


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))]


def format_report(
    figures: Sequence[BudgetFigures], n: int, tables: int, whole_tokens: int, build_ms: float
) -> str:
    lines = [
        f"{n} questions; catalog of {tables:,} tables; index build {build_ms:.0f} ms",
        f"{'budget':>8} {'table recall':>13} {'column recall':>14} {'mean tokens':>12} "
        f"{'select p50 ms':>14} {'p95 ms':>7} {'max ms':>7}",
    ]
    for f in figures:
        lines.append(
            f"{f.budget:>8,} {f.table_recall(n):>13.1%} {f.column_recall(n):>14.1%} "
            f"{statistics.mean(f.tokens):>12,.0f} {statistics.median(f.times_ms):>14.1f} "
            f"{_pct(f.times_ms, 0.95):>7.1f} {max(f.times_ms):>7.1f}"
        )
    lines.append(f"{'whole':>8} {1:>13.1%} {1:>14.1%} {whole_tokens:>12,}   (the whole schema)")
    return "\n".join(lines)


def build(
    dsn_for: Callable[[str], str],
    questions: Sequence[Question],
    *,
    distractors: int = DEFAULT_DISTRACTORS,
    seed: int = 7,
) -> tuple[SchemaIndex, list[Need], float]:
    """The merged catalog's index (with its build time in ms) and the needs of every question."""
    dbs = list(dict.fromkeys(q.db for q in questions))
    catalogs = {db: cached_introspect(dsn_for(db), db)[0] for db in dbs}
    wanted = [needs(q, catalogs[q.db]) for q in questions if q.reference_sql is not None]
    catalog = merged_catalog(catalogs, distractors=distractors, seed=seed)
    started = time.perf_counter()
    index = SchemaIndex(catalog)
    return index, wanted, (time.perf_counter() - started) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    from testkit import pg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distractors", type=int, default=DEFAULT_DISTRACTORS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--verbose", "-v", action="store_true", help="list the misses at 4k tokens")
    args = ap.parse_args(argv)
    questions = load_questions()
    server = pg.server_from_env() or pg.start_embedded_server(prefix="pgask-rcl-")
    try:
        index, wanted, build_ms = build(
            lambda db: database_dsn(server.dsn, db),
            questions,
            distractors=args.distractors,
            seed=args.seed,
        )
    finally:
        server.destroy()
    figures = measure(index, wanted)
    print(
        format_report(
            figures, len(wanted), len(index.entries), whole_schema_tokens(index), build_ms
        )
    )
    if args.verbose:
        for f in figures:
            if f.budget == 4000:
                print("\nmisses at 4,000 tokens:")
                for need, what in f.misses:
                    print(f"  [{need.question.db}] {need.question.question!r}: {', '.join(what)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
