"""Precision and coverage of the offline planner on the acceptance and held-out sets (issue 19).

    python bench/bench_answers.py [--set acceptance|heldout|both] [--db NAME ...] [--verbose]

Two question sets, one JSON object a line (`db`, `question`, `reference_sql`, `ordered`):

* acceptance - tests/fixtures/offline_questions.jsonl, the set the offline planner was built on.
* held-out   - tests/fixtures/heldout_questions.jsonl, written from the schemas and data only,
               in varied phrasing, never used for tuning. `reference_sql: null` marks a question
               the schema cannot answer: the planner must ask it back.

Each question is planned as the planner actor plans it offline (`offline_plan`, then the semantic
check of `actors.planner.semantic`), the SQL runs READ ONLY and its rows are compared with the
reference rows (see bench_offline_accuracy for the comparison rules).

precision = right answers / answers given; coverage = answers given / answerable questions;
"asked back" counts the unanswerable questions met with a clarification.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import bench_offline_accuracy as acc  # noqa: E402

SETS = {
    "acceptance": ROOT / "tests" / "fixtures" / "offline_questions.jsonl",
    "heldout": ROOT / "tests" / "fixtures" / "heldout_questions.jsonl",
}


def format_table(figures: Sequence[acc.Figures]) -> str:
    head = (
        f"{'database':<16} {'total':>5} {'answerable':>10} {'right':>5} {'wrong':>5} "
        f"{'asked':>5} {'asked back':>10} {'precision':>9} {'coverage':>8}"
    )
    lines = [head, "-" * len(head)]
    total = acc.Figures("ALL")
    for fig in [*figures, total]:
        if fig is not total:
            for name in ("total", "correct", "wrong", "clarified", "refused", "errors"):
                setattr(total, name, getattr(total, name) + getattr(fig, name))
        else:
            lines.append("-" * len(head))
        unanswerable = sum(1 for o in fig.outcomes if o.question.reference_sql is None)
        if fig is total:
            unanswerable = sum(
                1 for f in figures for o in f.outcomes if o.question.reference_sql is None
            )
        answerable = fig.total - unanswerable
        answered_answerable = fig.answered - (
            fig.wrong
            - sum(
                1
                for f in ([fig] if fig is not total else figures)
                for o in f.outcomes
                if o.status == "wrong" and o.question.reference_sql is not None
            )
        )
        coverage = answered_answerable / answerable if answerable else 0.0
        lines.append(
            f"{fig.db:<16} {fig.total:>5} {answerable:>10} {fig.correct:>5} {fig.wrong:>5} "
            f"{fig.clarified:>5} {f'{fig.refused}/{unanswerable}':>10} {fig.precision:>9.1%} "
            f"{coverage:>8.1%}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from testkit import pg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["acceptance", "heldout", "both"], default="both")
    parser.add_argument("--db", action="append", help="only this database (repeatable)")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="print every non-right outcome"
    )
    args = parser.parse_args(argv)
    names = ["acceptance", "heldout"] if args.set == "both" else [args.set]
    server = pg.server_from_env() or pg.start_embedded_server(prefix="pgask-answers-")
    try:
        for name in names:
            questions = acc.load_questions(SETS[name])
            started = time.perf_counter()
            figures = acc.run(lambda db: acc.database_dsn(server.dsn, db), questions, args.db)
            elapsed = time.perf_counter() - started
            print(f"\n== {name} set ({len(questions)} questions, {elapsed:.1f} s)")
            print(format_table(figures))
            if args.verbose:
                for fig in figures:
                    for o in fig.outcomes:
                        if o.status in ("correct", "refused"):
                            continue
                        print(f"  {o.status:9} [{o.question.db}] {o.question.question}")
                        if o.sql:
                            print(f"            {o.sql}")
                        if o.detail:
                            print(f"            -- {o.detail}")
            costs = acc.semantic_check_costs()
            if costs:
                costs.sort()
                print(
                    f"semantic check per plan: median {costs[len(costs) // 2] * 1e6:.0f} us, "
                    f"p95 {costs[int(len(costs) * 0.95)] * 1e6:.0f} us over {len(costs)} plans"
                )
                costs.clear()
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
