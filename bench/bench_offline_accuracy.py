"""Offline planner acceptance run: plain-English questions with known result rows (issue 8).

    python bench/bench_offline_accuracy.py [--db NAME ...] [--verbose]

Every question of tests/fixtures/offline_questions.jsonl (one JSON object a line: `db`,
`question`, `reference_sql`, `ordered`) goes through `actors.planner.offline.offline_plan` on the
catalog the executor reads from the real database (`actors.executor.catalog.load_catalog`) with the value
index built by `value_index_sql` / `parse_value_index`. The produced SQL runs in a READ ONLY
transaction and its rows are compared with the rows of the hand-written reference SQL:

* correct   - same rows; order-insensitive unless `ordered`; values compared exactly (an int and
              a numeric of the same value are equal, nothing is rounded; `rows_match(..., cents=True)`
              adds a second pass to the cent, which no figure here uses). The answer may carry
              extra columns (an id or a count beside the asked-for names): every reference column
              must map to a distinct answer column with the same values, row by row.
* wrong     - SQL was produced and its rows differ (or it failed to run).
* clarified - the planner asked instead of answering.
* error     - offline_plan raised (it must never).

A question whose `reference_sql` is null cannot be answered from the schema: a clarification is
correct-by-refusal (it counts toward neither precision nor coverage), any SQL is wrong.

precision = correct / answered, coverage = answered / total.

Databases: the defog datasets (../shared/datasets/defog, database `defog_<name>`) and the demo
`shop` (ui/demo_data.sql, scale 2000, seed 0.42, today 2026-03-15, database `shop_acc`). The
server is PGASK_TEST_DSN when set, else an embedded cluster started (and removed) here. `today`
is the server's CURRENT_DATE for the defog databases (some rows are relative to the load date)
and 2026-03-15 for the shop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import decimal
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from actors.executor.catalog import load_catalog  # noqa: E402
from actors.planner.offline import offline_plan, parse_value_index, value_index_sql  # noqa: E402
from protocol.messages import Catalog, Plan  # noqa: E402

QUESTIONS_PATH = ROOT / "tests" / "fixtures" / "offline_questions.jsonl"
SHOP = "shop"
SHOP_DATABASE = "shop_acc"
SHOP_TODAY = dt.date(2026, 3, 15)
SHOP_SCALE = 2000
SHOP_SEED = 0.42
STATEMENT_TIMEOUT_MS = 20_000

Values = dict[tuple[str, str, str], list[str]]


@dataclass(frozen=True)
class Question:
    db: str
    question: str
    reference_sql: str | None
    ordered: bool = False


@dataclass
class Outcome:
    question: Question
    status: str  # correct | wrong | clarified | refused | error
    sql: str = ""
    detail: str = ""


@dataclass
class Figures:
    db: str
    total: int = 0
    correct: int = 0
    wrong: int = 0
    clarified: int = 0
    refused: int = 0  # unanswerable questions correctly met with a clarification
    errors: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return self.correct + self.wrong

    @property
    def precision(self) -> float:
        return self.correct / self.answered if self.answered else 1.0

    @property
    def coverage(self) -> float:
        return self.answered / self.total if self.total else 0.0


def load_questions(path: Path = QUESTIONS_PATH) -> list[Question]:
    out: list[Question] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        try:
            out.append(
                Question(
                    db=obj["db"],
                    question=obj["question"],
                    reference_sql=obj["reference_sql"],
                    ordered=bool(obj.get("ordered", False)),
                )
            )
        except KeyError as exc:
            raise ValueError(f"{path}:{n}: missing key {exc}") from None
    return out


# -- comparing result rows ------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    """Exact, type-tolerant value: 3 (int) == 3.00 (numeric); floats stay floats."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return decimal.Decimal(v)
    if isinstance(v, decimal.Decimal):
        return v.normalize() if v.is_finite() else v
    if isinstance(v, float) and v.is_integer():
        return decimal.Decimal(int(v))
    if isinstance(v, list | tuple):
        return tuple(_norm(x) for x in v)
    return v


def _key(v: Any) -> tuple[str, str]:
    return (type(v).__name__, repr(v))


def _to_cents(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    def cents(value: Any) -> Any:
        if isinstance(value, float) and not value.is_integer():
            value = decimal.Decimal(repr(value))
        if isinstance(value, decimal.Decimal) and value.is_finite():
            return value.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
        return value

    return [tuple(cents(v) for v in row) for row in rows]


def rows_match(
    ref: Sequence[Sequence[Any]],
    got: Sequence[Sequence[Any]],
    *,
    ordered: bool,
    cents: bool = False,
) -> tuple[bool, str]:
    """Whether `got` answers `ref`: same rows, each reference column found among got's columns."""
    ok, why = _rows_match_exact(ref, got, ordered=ordered)
    if ok or not cents:
        return ok, why
    # only when asked (cents=True): ROUND(AVG(price), 2) answers AVG(price)
    if _rows_match_exact(_to_cents(ref), _to_cents(got), ordered=ordered)[0]:
        return True, "equal to the cent"
    return ok, why


def _rows_match_exact(
    ref: Sequence[Sequence[Any]], got: Sequence[Sequence[Any]], *, ordered: bool
) -> tuple[bool, str]:
    if len(ref) != len(got):
        return False, f"{len(got)} rows, expected {len(ref)}"
    if not ref:
        return True, ""
    r = [tuple(_norm(v) for v in row) for row in ref]
    g = [tuple(_norm(v) for v in row) for row in got]
    nref, ngot = len(r[0]), len(g[0])
    if ngot < nref:
        return False, f"{ngot} columns, expected at least {nref}"

    def column(rows: list[tuple[Any, ...]], j: int) -> Any:
        vals = [row[j] for row in rows]
        return vals if ordered else Counter(_key(v) for v in vals)

    gcols = [column(g, j) for j in range(ngot)]
    candidates = []
    for i in range(nref):
        rc = column(r, i)
        cands = [j for j in range(ngot) if gcols[j] == rc]
        if not cands:
            return False, f"no column of the answer holds the values of reference column {i + 1}"
        candidates.append(cands)
    ref_rows: Any = r if ordered else Counter(tuple(_key(v) for v in row) for row in r)

    def projected(mapping: list[int]) -> Any:
        rows = [tuple(row[j] for j in mapping) for row in g]
        return rows if ordered else Counter(tuple(_key(v) for v in row) for row in rows)

    def search(i: int, mapping: list[int]) -> bool:
        if i == nref:
            return projected(mapping) == ref_rows
        return any(search(i + 1, [*mapping, j]) for j in candidates[i] if j not in mapping)

    if search(0, []):
        return True, ""
    return False, "columns match one by one but not row by row" + (" (order?)" if ordered else "")


# -- running --------------------------------------------------------------------------------------


async def introspect(dsn: str, profile: str) -> tuple[Catalog, Values, dt.date]:
    """The executor's catalog of `dsn`, its value index, and the server's CURRENT_DATE."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        catalog = await load_catalog(pool, profile)
        rows: list[Any] = []
        async with pool.acquire() as con, con.transaction(readonly=True):
            for sql in value_index_sql(catalog):
                rows.extend(await con.fetch(sql))
            today = await con.fetchval("SELECT CURRENT_DATE")
    finally:
        await pool.close()
    return catalog, parse_value_index(rows), today


_introspected: dict[str, tuple[Catalog, Values, dt.date]] = {}


def cached_introspect(dsn: str, profile: str) -> tuple[Catalog, Values, dt.date]:
    """`introspect`, once per DSN and process (tests and the recall bench share catalogs)."""
    if dsn not in _introspected:
        _introspected[dsn] = asyncio.run(introspect(dsn, profile))
    return _introspected[dsn]


async def _fetch_readonly(con: asyncpg.Connection, sql: str) -> list[tuple[Any, ...]]:
    async with con.transaction(readonly=True):
        await con.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        return [tuple(r) for r in await con.fetch(sql)]


async def evaluate_db(
    dsn: str,
    db: str,
    questions: Iterable[Question],
    *,
    today: dt.date | None = None,
    introspected: tuple[Catalog, Values, dt.date] | None = None,
) -> Figures:
    """Run every question of one database and classify the outcomes."""
    catalog, values, server_today = introspected or await introspect(dsn, db)
    day = today or server_today
    figures = Figures(db)
    con = await asyncpg.connect(dsn)
    try:
        for q in questions:
            figures.total += 1
            outcome = await _evaluate_one(con, q, catalog, values, day)
            figures.outcomes.append(outcome)
            setattr(
                figures, _COUNTER[outcome.status], getattr(figures, _COUNTER[outcome.status]) + 1
            )
    finally:
        await con.close()
    return figures


_COUNTER = {
    "correct": "correct",
    "wrong": "wrong",
    "clarified": "clarified",
    "refused": "refused",
    "error": "errors",
}


_check_costs: list[float] = []


def semantic_check_costs() -> list[float]:
    """Seconds each semantic check took in this process (the list itself: clear it to reset)."""
    return _check_costs


def plan_question(question: str, catalog: Catalog, values: Values, today: dt.date) -> Any:
    """Plan as the planner actor does offline: offline_plan, then the semantic check."""
    result = offline_plan(question, catalog, values=values, today=today)
    try:
        from actors.planner.semantic import check_plan
    except ImportError:  # before issue 19's semantic check existed (the baseline)
        return result
    if isinstance(result, Plan) and result.intent == "read":
        started = time.perf_counter()
        result = check_plan(result, catalog, question)
        _check_costs.append(time.perf_counter() - started)
    return result


async def _evaluate_one(
    con: asyncpg.Connection, q: Question, catalog: Catalog, values: Values, today: dt.date
) -> Outcome:
    try:
        result = plan_question(q.question, catalog, values, today)
    except Exception as exc:  # offline_plan must never raise: count it, keep going
        return Outcome(q, "error", detail=f"{type(exc).__name__}: {exc}")
    if not isinstance(result, Plan):
        status = "refused" if q.reference_sql is None else "clarified"
        return Outcome(q, status, detail=result.question)
    if q.reference_sql is None:
        return Outcome(q, "wrong", result.sql, "answered a question the schema cannot answer")
    if result.intent != "read":
        return Outcome(q, "wrong", result.sql, f"intent {result.intent}, expected a read")
    expected = await _fetch_readonly(con, q.reference_sql)  # a broken reference must fail loudly
    try:
        got = await _fetch_readonly(con, result.sql)
    except asyncpg.PostgresError as exc:
        return Outcome(q, "wrong", result.sql, f"failed to run: {exc}")
    ok, why = rows_match(expected, got, ordered=q.ordered)
    return Outcome(q, "correct" if ok else "wrong", result.sql, why)


def format_table(figures: Sequence[Figures]) -> str:
    head = (
        f"{'database':<16} {'total':>5} {'correct':>7} {'wrong':>5} {'clarified':>9} "
        f"{'refused':>7} {'errors':>6} {'precision':>9} {'coverage':>8}"
    )
    lines = [head, "-" * len(head)]
    total = Figures("ALL")
    for f in [*figures, total]:
        if f is not total:
            for name in ("total", "correct", "wrong", "clarified", "refused", "errors"):
                setattr(total, name, getattr(total, name) + getattr(f, name))
        else:
            lines.append("-" * len(head))
        lines.append(
            f"{f.db:<16} {f.total:>5} {f.correct:>7} {f.wrong:>5} {f.clarified:>9} "
            f"{f.refused:>7} {f.errors:>6} {f.precision:>9.1%} {f.coverage:>8.1%}"
        )
    return "\n".join(lines)


def wrong_answers(figures: Sequence[Figures]) -> list[str]:
    return [
        f"[{o.question.db}] {o.question.question!r} -> {o.sql} ({o.detail})"
        for f in figures
        for o in f.outcomes
        if o.status in ("wrong", "error")
    ]


# -- the server -----------------------------------------------------------------------------------


_shops: dict[str, str] = {}


def ensure_shop(dsn: str) -> str:
    """Load the demo shop as database `shop_acc` on `dsn`'s server (once); return its DSN."""
    from testkit import pg
    from ui.demo import DemoServer
    from ui.demo import ensure_shop as load_shop

    if dsn in _shops:
        return _shops[dsn]
    with tempfile.TemporaryDirectory(prefix="pgask-shop-acc-") as tmp:
        # a fresh marker dir: reloads a shop_acc left by an earlier run, so the data is exact
        pg.run_sql(dsn, f'DROP DATABASE IF EXISTS "{SHOP_DATABASE}" WITH (FORCE)')
        load_shop(
            DemoServer(Path(tmp), dsn, False),
            scale=SHOP_SCALE,
            seed=SHOP_SEED,
            today=SHOP_TODAY,
            database=SHOP_DATABASE,
        )
    _shops[dsn] = pg.dsn_with_database(dsn, SHOP_DATABASE)
    return _shops[dsn]


def database_dsn(server_dsn: str, db: str) -> str:
    from testkit import pg

    return ensure_shop(server_dsn) if db == SHOP else pg.load_defog(server_dsn, db)


def run(
    dsn_for: Callable[[str], str], questions: Sequence[Question], dbs: Sequence[str] | None = None
) -> list[Figures]:
    order = list(dict.fromkeys(q.db for q in questions))
    out = []
    for db in order:
        if dbs and db not in dbs:
            continue
        mine = [q for q in questions if q.db == db]
        dsn = dsn_for(db)
        today = SHOP_TODAY if db == SHOP else None
        known = cached_introspect(dsn, db)
        out.append(asyncio.run(evaluate_db(dsn, db, mine, today=today, introspected=known)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from testkit import pg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", action="append", help="only this database (repeatable)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every outcome")
    args = ap.parse_args(argv)
    questions = load_questions()
    server = pg.server_from_env() or pg.start_embedded_server(prefix="pgask-acc-")
    try:
        started = time.perf_counter()
        figures = run(lambda db: database_dsn(server.dsn, db), questions, args.db)
        elapsed = time.perf_counter() - started
    finally:
        server.destroy()
    if args.verbose:
        for f in figures:
            for o in f.outcomes:
                print(f"{o.status:9} [{o.question.db}] {o.question.question}")
                if o.sql:
                    print(f"          {o.sql}")
                if o.detail and o.status != "correct":
                    print(f"          -- {o.detail}")
    print(format_table(figures))
    wrong = wrong_answers(figures)
    if wrong:
        print("\nwrong answers:")
        for w in wrong:
            print("  " + w)
    print(f"\n{sum(f.total for f in figures)} questions in {elapsed:.1f} s (with loading)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
