"""Backup and restore time through pgask beside running pg_dump / pg_restore directly, in one run.

    python bench/bench_backup.py [--rows 1000000] [--repeat 3] [--dsn DSN]

A table of mixed types with `--rows` rows (plus an index) is dumped with `pg_dump -Fc` and
restored into a new database with `pg_restore --single-transaction --no-owner`, first directly
(the same binary pgask picks), then through the running actor tree (`BackupRequest` /
`RestoreRequest`: guard verdict, archive inspection with `pg_restore -l`, version checks,
CREATE DATABASE, progress messages). Prints the best time of each and the pgask/direct ratio.
Uses PGASK_TEST_DSN/--dsn, else a throwaway embedded server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio

from actors.executor import tools as dba_core
from protocol.config import Config, ProfileConfig
from protocol.messages import CatalogRequest
from testkit.pg import (
    database_of,
    dsn_with_database,
    fetchval,
    run_sql,
    start_embedded_server,
    unique_name,
)
from testkit.tree import open_tree
from ui import dba


def setup(dsn: str, rows: int) -> str:
    name = unique_name("bench_backup")
    run_sql(dsn, f'CREATE DATABASE "{name}"')
    db = dsn_with_database(dsn, name)
    run_sql(
        db,
        "CREATE TABLE t (id bigint PRIMARY KEY, at timestamptz, note text, amount numeric(12,2),"
        " qty int, ok boolean, doc jsonb);"
        f"INSERT INTO t SELECT g, now() - g * interval '1 s', md5(g::text), g / 7.0, g % 1000,"
        f" g % 2 = 0, jsonb_build_object('g', g) FROM generate_series(1, {rows}) g;"
        "CREATE INDEX ON t (qty); ANALYZE t",
    )
    return db


def drop(dsn: str, name: str) -> None:
    run_sql(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def direct(db: str, admin: str, out: str, target: str) -> tuple[float, float]:
    version = int(fetchval(db, "SELECT current_setting('server_version_num')"))
    need = dba_core.server_major(version)
    dump = dba_core.choose_tool("pg_dump", need, dba_core.find_tools("pg_dump"), why_need="")
    restore = dba_core.choose_tool(
        "pg_restore", need, dba_core.find_tools("pg_restore"), why_need=""
    )
    t0 = time.perf_counter()
    subprocess.run([dump.path, "-Fc", "-f", out, "--dbname", db], check=True)
    t1 = time.perf_counter()
    run_sql(admin, f'CREATE DATABASE "{target}"')
    subprocess.run(
        [
            restore.path,
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--dbname",
            dsn_with_database(admin, target),
            out,
        ],
        check=True,
    )
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


async def via_pgask(db: str, out: str, target: str, state: Path) -> tuple[float, float]:
    config = Config(profiles={"p": ProfileConfig(dsn=db, read_write=True)})
    async with open_tree(state, config=config) as (_sup, client):
        await client.request("executor:p", CatalogRequest(), timeout=60)  # warm: pool open
        t0 = time.perf_counter()
        await dba.backup(client, "p", out, force=True, on_progress=lambda p: None)
        t1 = time.perf_counter()
        await dba.restore(
            client,
            "p",
            "read-write",
            out,
            target,
            confirmer=dba.Confirmer(typed=target),
            out=lambda _: None,
            on_progress=lambda p: None,
        )
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dsn", default=os.environ.get("PGASK_TEST_DSN", ""))
    args = ap.parse_args()
    server = None if args.dsn else start_embedded_server(prefix="pgask-bench-")
    admin = args.dsn or server.dsn  # type: ignore[union-attr]
    tmp = Path(tempfile.mkdtemp(prefix="pgask-bench-backup-"))
    try:
        db = setup(admin, args.rows)
        best: dict[str, list[float]] = {"direct": [1e9, 1e9], "pgask": [1e9, 1e9]}
        size = 0
        for i in range(args.repeat):
            order = ("direct", "pgask") if i % 2 == 0 else ("pgask", "direct")  # no order bias
            for how in order:
                target = unique_name(f"bench_restore_{how}")
                out = str(tmp / f"{how}{i}.dump")
                if how == "direct":
                    b, r = direct(db, admin, out, target)
                else:
                    b, r = trio.run(via_pgask, db, out, target, tmp / f"state{i}")
                size = os.path.getsize(out)
                drop(admin, target)
                os.unlink(out)
                best[how] = [min(best[how][0], b), min(best[how][1], r)]
        print(f"rows {args.rows:,}, archive {size / 1e6:,.1f} MB, best of {args.repeat}")
        print(f"{'':10} {'backup s':>10} {'restore s':>10}")
        for how in ("direct", "pgask"):
            print(f"{how:10} {best[how][0]:>10.3f} {best[how][1]:>10.3f}")
        print(
            f"{'ratio':10} {best['pgask'][0] / best['direct'][0]:>10.2f} "
            f"{best['pgask'][1] / best['direct'][1]:>10.2f}   (pgask / direct)"
        )
        drop(admin, database_of(db))
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
