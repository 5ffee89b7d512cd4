"""The real `pgask` TUI in tmux, against a real PostgreSQL (and the scripted model server).

Every wait is on screen content (`expect_screen`), never a fixed sleep; a failure prints
what was expected, the screen, and the last log lines of every process of the run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit import pg
from testkit.tmux import TmuxSession, tmux_available
from tests.fakes.openai_server import FakeOpenAIProcess, Reply

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.pg,
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
]

PROMPT = "demo\u203a"
# The guard refuses pg_sleep (it holds a connection doing nothing), so long queries burn CPU.
LONG = "select count(*) as {tag} from generate_series(1, 100000) a, generate_series(1, 100000) b"
MEDIUM = "select count(*) as {tag} from generate_series(1, 10000) a, generate_series(1, 10000) b"
WIDE_SQL = (
    "/sql select g, g*2 as double, md5(g::text) as hash, "
    "case when g % 3 = 0 then null else '' end as maybe, repeat('x', 45) as wide1, "
    "repeat('y', 45) as wide2, g::numeric / 7 as seventh, 'last' as lastcol "
    "from generate_series(1, 1000) g"
)


def pgask_argv(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "pgask"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "ui.cli"]
    return [*base, *args]


class Tui:
    """One pgask TUI under test: its config, dirs, and tmux session."""

    def __init__(self, tmp: Path, xdg: dict[str, Path], dsn: str, other_dsn: str) -> None:
        self.tmp, self.xdg, self.dsn, self.other_dsn = tmp, xdg, dsn, other_dsn
        # short: the supervisor's ipc:// socket path must fit in sun_path
        self.runtime = Path(tempfile.mkdtemp(prefix="pgr", dir="/tmp"))
        self.config = tmp / "cfg.toml"
        self.model = ""
        self.extra_env: dict[str, str] = {}
        self.write_config()
        self.session: TmuxSession | None = None

    def write_config(self, *, max_rows: int = 10_000) -> None:
        model = (
            f'[model]\nbase_url = "{self.model}"\nmodel = "fake-model"\n\n' if self.model else ""
        )
        self.config.write_text(
            f"{model}"
            f'[profiles.demo]\ndsn = "{self.dsn}"\nread_write = true\nmax_rows = {max_rows}\n\n'
            f'[profiles.other]\ndsn = "{self.other_dsn}"\n'
        )

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYENV_ROOT", "PGASK_HOST")
        }
        env.update({k: str(v) for k, v in self.xdg.items()})
        env.update(
            TERM="xterm-256color",
            LANG="C.UTF-8",
            XDG_RUNTIME_DIR=str(self.runtime),
            PYTHONPATH=str(Path(__file__).parents[2]),
        )
        env.update(self.extra_env)
        return env

    def log_dirs(self) -> list[Path]:
        """This run's log directory (under the state dir, or the run dir on older trees)."""
        state = Path(self.xdg["XDG_STATE_HOME"])
        found = [*self.runtime.glob("pgask-*/logs"), *state.glob("pgask/logs/*")]
        return sorted(found, key=os.path.getmtime)[-1:]

    def start(self, *profiles: str, width: int = 120, height: int = 40) -> TmuxSession:
        argv = pgask_argv(
            "--config", str(self.config), *[a for p in profiles or ("demo",) for a in ("-p", p)]
        )
        self.session = TmuxSession.start(
            argv, env=self.env(), cwd=self.tmp, width=width, height=height, log_dirs=self.log_dirs
        )
        return self.session

    def actor_pid(self, actor: str) -> int:
        """The newest pid an actor logged (every log line carries it)."""
        name = actor.replace(":", "-") + ".log"
        for d in self.log_dirs():
            path = d / name
            if path.exists():
                lines = [ln for ln in path.read_text().splitlines() if '"pid"' in ln]
                if lines:
                    return int(re.search(r'"pid":(\d+)', lines[-1]).group(1))  # type: ignore[union-attr]
        raise AssertionError(f"no log of {actor} in {self.log_dirs()}")

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        shutil.rmtree(self.runtime, ignore_errors=True)


@pytest.fixture
def tui(tmp_path: Path, isolated_env: dict[str, Path], pg_db: str, pg_dsn: str) -> Iterator[Tui]:
    t = Tui(tmp_path, isolated_env, pg_db, pg_dsn)
    try:
        yield t
    finally:
        t.close()


def started(tui: Tui, *profiles: str, width: int = 120, height: int = 40) -> TmuxSession:
    t = tui.start(*profiles, width=width, height=height)
    t.expect_screen(PROMPT if not profiles or profiles[0] == "demo" else f"{profiles[0]}\u203a", 30)
    t.expect_screen("idle", 10)
    t.expect_gone("connecting", 20)
    t.expect_gone("starting", 30)  # every actor answered: quitting now stops a complete tree
    return t


def wait_idle_backend(dsn: str, pattern: str, t: TmuxSession) -> None:
    sql = (
        "select count(*) from pg_stat_activity where state = 'active' "
        "and pid <> pg_backend_pid() and query like $1"
    )
    t.wait_for(lambda: pg.fetchval(dsn, sql, pattern) == 0, f"no active backend runs {pattern}", 10)


# -- the core: /sql, the grid, paging, horizontal scroll ------------------------------------


def test_sql_table_page_down_and_horizontal_scroll(tui: Tui) -> None:
    t = started(tui)
    t.type(WIDE_SQL, enter=True)
    t.expect_screen("1,000 rows in", 20)
    t.expect_screen((re.compile(r"rows 1-\d+ of 1,000 · page 1 of \d+"), "NULL"))  # NULL as NULL
    t.send("PageDown")
    t.expect_screen(re.compile(r"page 2 of \d+"))
    t.send("Tab")  # focus the results: arrows move and scroll
    t.send("Right", "Right", "Right")
    t.expect_screen((re.compile(r"← cols 4-\d+ of 8"), "wide2"))
    t.send("End")
    t.expect_screen(re.compile(r"rows [\d,]+-1,000 of 1,000 · page (\d+) of \1"))
    t.send("Home")
    t.expect_screen(re.compile(r"rows 1-\d+ of 1,000 · page 1 of"))


def test_ctrl_c_on_idle_explains_how_to_quit_and_ctrl_q_quits(tui: Tui) -> None:
    t = started(tui)
    t.send("C-c")
    t.expect_screen("Nothing is running. To quit press Ctrl+Q or type /quit.")
    t.send("C-q")
    t.wait_for(lambda: not t.alive(), "pgask exits on Ctrl+Q", 15)


def test_history_is_kept_per_profile_across_restarts(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql select 4242 as answer", enter=True)
    t.expect_screen("1 row in", 20)
    t.type("/quit", enter=True)
    t.wait_for(lambda: not t.alive(), "pgask exits on /quit", 15)
    t.close()
    t = started(tui)
    t.send("Up")
    t.expect_screen(f"{PROMPT} /sql select 4242 as answer")


# -- palette, split ---------------------------------------------------------------------------


def test_palette_switches_database(tui: Tui) -> None:
    t = started(tui)
    t.send("C-p")
    t.expect_screen("Command palette")
    t.type("switch other")
    t.expect_screen("Switch database: other")
    t.send("Enter")
    t.expect_screen("Now using 'other'")
    t.expect_screen("other\u203a")
    t.type("/sql select current_database() as db", enter=True)
    t.expect_screen(("1 row in", re.compile(r"\bpostgres\b")))  # `other` is the postgres db


def test_split_runs_two_queries_concurrently(tui: Tui) -> None:
    t = started(tui)
    t.type("/split other", enter=True)
    t.expect_screen("Pane 2: 'other'")
    t.type("/sql " + LONG.format(tag="slow"), enter=True)  # pane 2 (focused after /split)
    t.expect_screen(re.compile(r"2 other · read-only · running"))
    t.send("F6")  # to pane 1 while pane 2 is still running
    t.type("/sql select 'fast' as pane_one", enter=True)
    # pane 1's result is in while pane 2's query still runs
    t.expect_screen(("1 row in", "pane_one", re.compile(r"2 other · read-only · running")), 20)
    t.send("F6")
    t.send("C-c")
    t.expect_screen("Cancelled: the server stopped the query.", 10)
    wait_idle_backend(tui.other_dsn, "%as slow%", t)


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_of_a_long_query_stops_the_backend(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql " + LONG.format(tag="long_one"), enter=True)
    t.expect_screen(re.compile(r"running \d+\.\ds"), 20)
    active = (
        "select count(*) from pg_stat_activity where state = 'active' "
        "and query like '%as long_one%' and pid <> pg_backend_pid()"
    )
    t.wait_for(lambda: pg.fetchval(tui.dsn, active) == 1, "the query is running on the server")
    t.send("C-c")
    t.expect_screen("Cancelled: the server stopped the query.", 10)
    t.expect_screen("idle")
    wait_idle_backend(tui.dsn, "%as long_one%", t)
    t.type("/sql select 'still fine' as after", enter=True)
    t.expect_screen("still fine", 20)


# -- safety -----------------------------------------------------------------------------------


def test_write_refused_in_read_only_then_confirmed_in_read_write(tui: Tui) -> None:
    pg.run_sql(tui.dsn, "create table items(id int primary key, name text)")
    t = started(tui)
    t.type("/sql insert into items values (1, 'one')", enter=True)
    t.expect_screen("Refused: this write statement does not run in read-only mode.", 20)
    t.expect_screen("/mode read-write")
    t.type("/mode read-write", enter=True)
    t.expect_screen("Switch 'demo' to read-write?")
    t.type("y")
    t.expect_screen("READ-WRITE")
    t.expect_screen("demo [rw]\u203a")
    t.send("F5")  # run it again
    t.expect_screen(("Confirm: write on 'demo'", "insert into items", "tables: items"))
    t.expect_screen("rows affected: about 1 rows")
    t.type("y")
    t.expect_screen("INSERT 0 1 in", 20)
    assert pg.fetchval(tui.dsn, "select count(*) from items") == 1


def test_destructive_statement_needs_the_typed_name(tui: Tui) -> None:
    pg.run_sql(tui.dsn, "create table doomed(id int); insert into doomed values (1), (2)")
    t = started(tui)
    t.type("/mode read-write", enter=True)
    t.type("y")
    t.expect_screen("demo [rw]\u203a")
    t.type("/sql drop table doomed", enter=True)
    t.expect_screen("Type 'doomed' to run it:", 20)
    t.send("Enter")  # Cancel is the default button of a destructive dialog
    t.expect_screen("Not run: cancelled at the confirmation.")
    assert pg.fetchval(tui.dsn, "select to_regclass('doomed') is not null")
    t.send("F5")
    t.expect_screen("Type 'doomed' to run it:", 20)
    t.type("doome")
    t.send("Enter")
    t.expect_screen("Type 'doomed' exactly to run it.")
    t.type("d")
    t.send("Enter")
    t.expect_screen("DROP TABLE in", 20)
    assert pg.fetchval(tui.dsn, "select to_regclass('doomed') is null")


# -- export -----------------------------------------------------------------------------------


def test_export_from_the_palette_writes_the_file_and_asks_before_overwriting(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql select g as n, 'row ' || g as label from generate_series(1, 500) g", enter=True)
    t.expect_screen("500 rows in", 20)
    t.send("C-p")
    t.expect_screen("Command palette")
    t.type("export csv")
    t.send("Enter")
    t.expect_screen("Exported 500 rows", 30)
    files = list(tui.tmp.glob("demo-*.csv"))  # the default path: the working directory
    assert len(files) == 1 and re.fullmatch(r"demo-\d{8}-\d{6}\.csv", files[0].name)
    assert files[0].read_text().splitlines()[0] == "n,label"
    assert len(files[0].read_text().splitlines()) == 501
    assert "not only the rows" in t.screen()

    t.type(f"/export csv {files[0]}", enter=True)
    t.expect_screen("Overwrite the file?", 30)
    t.type("n")
    t.expect_screen("Not exported:")
    assert len(files[0].read_text().splitlines()) == 501
    t.type("/sql select 1 as one", enter=True)
    t.expect_screen("1 row in", 20)
    t.type(f"/export csv {files[0]}", enter=True)
    t.expect_screen("Overwrite the file?", 30)
    t.type("y")
    t.expect_screen("Exported 1 row (", 30)
    assert files[0].read_text() == "one\n1\n"


# -- backup and restore -----------------------------------------------------------------------


def test_backup_writes_a_real_archive_and_asks_before_overwriting(tui: Tui) -> None:
    pg.run_sql(
        tui.dsn,
        "create table backed(id int primary key, name text); create table other_one(x int);"
        "insert into backed select g, 'row ' || g from generate_series(1, 2000) g",
    )
    t = started(tui)
    t.type("/backup", enter=True)
    t.expect_screen(("Backed up", re.compile(r"tables, in [\d.]+ (ms|s)\.")), 60)  # may wrap
    files = list(tui.tmp.glob("demo-*.dump"))  # the default path: the working directory
    assert len(files) == 1 and re.fullmatch(r"demo-\d{8}-\d{6}\.dump", files[0].name)
    assert files[0].read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    before = files[0].stat().st_mtime_ns
    t.type("/backup demo-again.dump", enter=True)  # relative: the UI's working directory
    again = tui.tmp / "demo-again.dump"
    t.wait_for(again.exists, "the second backup is written", 60)
    t.expect_screen("idle", 30)
    assert again.read_bytes()[:5] == b"PGDMP"
    t.type(f"/backup {files[0].name}", enter=True)
    t.expect_screen("Overwrite the backup file?", 30)
    t.type("n")
    t.expect_screen("Not backed up: ")
    assert files[0].stat().st_mtime_ns == before
    t.send("F5")
    t.expect_screen("Overwrite the backup file?", 30)
    t.type("y")
    t.expect_screen(re.compile(r"Replacing a backup of 'demo'"), 10)
    t.wait_for(lambda: files[0].stat().st_mtime_ns != before, "the file was replaced", 60)
    t.expect_screen("idle", 30)
    assert not list(tui.tmp.glob("*.pgask-partial"))


def test_backup_then_restore_into_a_new_database_with_the_typed_name(tui: Tui) -> None:
    pg.run_sql(
        tui.dsn,
        "create table kept(id int primary key, name text);"
        "insert into kept select g, 'row ' || g from generate_series(1, 300) g",
    )
    new_db = pg.unique_name("restored")
    t = started(tui)
    try:
        t.type("/backup shop.dump", enter=True)
        t.expect_screen("Backed up", 60)
        t.type(f"/restore shop.dump {new_db}", enter=True)
        t.expect_screen("Refused: /restore does not run in read-only mode.", 10)
        t.type("/mode read-write", enter=True)
        t.type("y")
        t.expect_screen("demo [rw]\u203a")
        t.send("F5")
        t.expect_screen(("contains:", f"Type '{new_db}' to go ahead:"), 30)
        t.type(new_db[:-1])
        t.send("Enter")
        t.expect_screen(f"Type '{new_db}' exactly to go ahead")
        t.type(new_db[-1])
        t.send("Enter")
        t.expect_screen(f"Restored 1 tables into the new database '{new_db}'", 60)
        restored = pg.dsn_with_database(tui.other_dsn, new_db)
        assert pg.fetchval(restored, "select count(*) from kept") == 300
    finally:
        pg.run_sql(tui.other_dsn, f"DROP DATABASE IF EXISTS {pg.quote_ident(new_db)} WITH (FORCE)")


# -- restarts ---------------------------------------------------------------------------------


def test_sigkill_of_the_executor_shows_a_notice_and_the_next_query_works(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql select 1 as warm", enter=True)
    t.expect_screen("1 row in", 20)
    os.kill(tui.actor_pid("executor:demo"), signal.SIGKILL)
    t.expect_screen("stopped unexpectedly and was restarted", 15)
    t.type("/sql select 'after the crash' as recovered", enter=True)
    t.expect_screen("after the crash", 30)


def test_sigkill_during_a_query_offers_f5(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql " + MEDIUM.format(tag="victim"), enter=True)
    t.expect_screen(re.compile(r"running \d+\.\ds"), 20)
    active = (
        "select count(*) from pg_stat_activity where state = 'active' "
        "and query like '%as victim%' and pid <> pg_backend_pid()"
    )
    t.wait_for(lambda: pg.fetchval(tui.dsn, active) == 1, "the query is running on the server")
    os.kill(tui.actor_pid("executor:demo"), signal.SIGKILL)
    t.expect_screen("Press F5 to run it again.", 15)
    t.expect_screen("idle")
    t.send("F5")
    t.expect_screen(("1 row in", "victim"), 60)


def test_sigkill_of_the_supervisor_stops_the_query_and_the_window_says_so(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql " + LONG.format(tag="orphan"), enter=True)
    t.expect_screen(re.compile(r"running \d+\.\ds"), 20)
    active = (
        "select count(*) from pg_stat_activity where state = 'active' "
        "and query like '%as orphan%' and pid <> pg_backend_pid()"
    )
    t.wait_for(lambda: pg.fetchval(tui.dsn, active) == 1, "the query is running on the server")
    os.kill(t.pane_pid(), signal.SIGKILL)  # the pgask process: it hosts the supervisor
    t.wait_for(lambda: pg.fetchval(tui.dsn, active) == 0, "the server stopped the query", 2.5)

    # and the window does not linger on "running": the UI exits (in a terminal that stays
    # open it prints why; tmux closes this pane's terminal with its first process)
    def ui_stopped() -> bool:
        logs = [d / "ui.log" for d in tui.log_dirs() if (d / "ui.log").exists()]
        return any('"ui.stopped"' in log.read_text() for log in logs)

    t.wait_for(ui_stopped, "the UI stopped with its supervisor", 20)  # generous: a loaded CI


# -- layout -----------------------------------------------------------------------------------


def test_resize_relays_out_and_keeps_state(tui: Tui) -> None:
    t = started(tui)
    t.type(WIDE_SQL, enter=True)
    t.expect_screen("1,000 rows in", 20)
    t.send("PageDown")
    t.expect_screen(re.compile(r"page 2 of \d+"))
    t.type("half typed")
    t.resize(80, 24)
    t.expect_screen(re.compile(r"page \d+ of \d+"))
    t.wait_for(lambda: max(len(line) for line in t.screen().splitlines()) <= 80, "80 columns")
    t.expect_screen(f"{PROMPT} half typed")
    t.resize(150, 50)
    t.expect_screen(re.compile(r"rows \d+-\d+ of 1,000"))
    t.expect_screen((f"{PROMPT} half typed", "lastcol"))  # the wider screen shows more columns
    t.resize(30, 8)
    t.expect_screen("demo")
    t.resize(120, 40)
    t.expect_screen(f"{PROMPT} half typed")
    assert t.alive()


def test_80x24_is_usable(tui: Tui) -> None:
    t = started(tui, width=80, height=24)
    t.type("/sql select g, md5(g::text) as hash from generate_series(1, 100) g", enter=True)
    t.expect_screen("100 rows in", 20)
    t.expect_screen(re.compile(r"rows 1-\d+ of 100 · page 1 of \d+"))
    t.send("C-p")
    t.expect_screen("Command palette")
    t.send("Escape")
    t.expect_gone("Command palette")
    t.send("F1")
    t.expect_screen("Help")
    t.send("Escape")
    t.expect_gone("Esc close")
    t.type("/split other", enter=True)
    t.expect_screen("2 other")


def test_eight_colour_terminal_and_keys_curses_does_not_know(tui: Tui) -> None:
    tui.extra_env["TERM"] = "screen"  # 8 colours; tmux's key sequences differ from terminfo's
    t = started(tui)
    t.type("/sql select g from generate_series(1, 500) g", enter=True)
    t.expect_screen("500 rows in", 20)
    t.send("Tab", "End")
    t.expect_screen(re.compile(r"rows [\d,]+-500 of 500 · page (\d+) of \1"))
    t.send("Home")
    t.expect_screen((re.compile(r"rows 1-\d+ of 500 · page 1 of"), f"{PROMPT}\n"))
    assert "[1~" not in t.screen() and "[4~" not in t.screen()  # no sequence typed as text


def test_startup_shows_the_prompt(tui: Tui, record_property: Callable[[str, object], None]) -> None:
    start = time.monotonic()
    t = tui.start()
    t.expect_screen(PROMPT, 30)
    record_property("spawn_to_prompt_ms", round((time.monotonic() - start) * 1000))
    ui_log = tui.log_dirs()[0] / "ui.log"
    t.wait_for(lambda: "ui.prompt.shown" in ui_log.read_text(), "ui.log records the first paint")


# -- plain English (needs the planner) --------------------------------------------------------


def test_question_to_table_through_the_scripted_model(tui: Tui) -> None:
    answer = "Counting them.\n```sql\nSELECT g AS n FROM generate_series(1, 250) AS g\n```"
    with FakeOpenAIProcess([Reply(content=answer)] * 4, workdir=tui.tmp) as fake:
        tui.model = fake.url
        tui.extra_env["OPENAI_API_KEY"] = "test-key"
        tui.write_config()
        t = started(tui)
        t.type("list the numbers up to 250", enter=True)
        t.expect_screen("250 rows in", 30)
        t.send("PageDown")
        t.expect_screen(re.compile(r"page 2 of \d+"))
        assert fake.requests(), "the question reached the model"


def test_cancel_abandons_a_slow_model_call(tui: Tui) -> None:
    with FakeOpenAIProcess([Reply(content="SELECT 1", delay_s=30)], workdir=tui.tmp) as fake:
        tui.model = fake.url
        tui.extra_env["OPENAI_API_KEY"] = "test-key"
        tui.write_config()
        t = started(tui)
        t.type("how many rows are there", enter=True)
        t.expect_screen("asking the model", 20)
        t.send("C-c")
        t.expect_screen("Cancelled: stopped waiting for the model. Nothing ran.")
        t.expect_screen("idle")
