"""Follow-ups offline (issue 19): a short question read against the conversation's last plan.

    python bench/bench_followups.py [--verbose]

tests/fixtures/followup_questions.jsonl, one JSON object a line: `db`, `previous` and
`previous_sql` (the last turn of the conversation), `question` (the follow-up, phrased without
looking at the planner's code), `reference_sql` (null: the follow-up cannot be answered and must
be asked back). Each follow-up is planned as the planner actor plans it offline (offline_plan with
`recent` = the previous turn, then the semantic check); rows are compared as bench_answers does.
A follow-up answered must say what it continued (a "follow-up:" line) or that it could not (a
"note:" line): a plan with neither ignored the conversation silently and counts as "silent".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import asyncpg  # noqa: E402
import bench_offline_accuracy as acc  # noqa: E402

from actors.planner.offline import offline_plan  # noqa: E402
from actors.planner.semantic import check_plan  # noqa: E402
from protocol.messages import Plan, Turn  # noqa: E402
from testkit import pg  # noqa: E402

FOLLOW_UPS = ROOT / "tests" / "fixtures" / "followup_questions.jsonl"


def load(path: Path = FOLLOW_UPS) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def evaluate(dsn_for: Any, items: Sequence[dict[str, Any]]) -> list[tuple[str, dict, Any]]:
    out = []
    for item in items:
        dsn = dsn_for(item["db"])
        catalog, values, today = acc.cached_introspect(dsn, item["db"])
        if item["db"] == acc.SHOP:
            today = acc.SHOP_TODAY
        turn = Turn(question=item["previous"], sql=item["previous_sql"])
        result = offline_plan(item["question"], catalog, recent=[turn], values=values, today=today)
        if isinstance(result, Plan) and result.intent == "read":
            result = check_plan(result, catalog, item["question"])
        if not isinstance(result, Plan):
            status = "asked back" if item["reference_sql"] is None else "asked"
            out.append((status, item, result))
            continue
        said = any(a.startswith(("follow-up:", "note:")) for a in result.assumptions)
        if item["reference_sql"] is None:
            out.append(("wrong", item, result))
            continue
        expected = [tuple(r) for r in pg.fetch(dsn, item["reference_sql"])]
        try:
            got = [tuple(r) for r in pg.fetch(dsn, result.sql)]
            ok, _why = acc.rows_match(expected, got, ordered=item.get("ordered", False))
        except asyncpg.PostgresError:
            ok = False
        out.append(("right" if ok and said else "silent" if ok else "wrong", item, result))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    server = pg.server_from_env() or pg.start_embedded_server(prefix="pgask-followups-")
    try:
        results = evaluate(lambda db: acc.database_dsn(server.dsn, db), load())
    finally:
        server.destroy()
    counts: dict[str, int] = {}
    for status, item, result in results:
        counts[status] = counts.get(status, 0) + 1
        if args.verbose:
            print(f"{status:10} [{item['db']}] {item['previous']!r} -> {item['question']!r}")
            if isinstance(result, Plan):
                print(f"           {result.sql}\n           {result.assumptions[:2]}")
            else:
                print(f"           ? {result.question}")
    answered = counts.get("right", 0) + counts.get("wrong", 0) + counts.get("silent", 0)
    print(
        f"{len(results)} follow-ups: right {counts.get('right', 0)}, wrong "
        f"{counts.get('wrong', 0)}, silent {counts.get('silent', 0)}, asked "
        f"{counts.get('asked', 0)}, asked back {counts.get('asked back', 0)}; precision "
        f"{counts.get('right', 0) / answered if answered else 1:.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
