"""Issue 20: the habits of psql, pgcli and harlequin users, in the real TUI under tmux
against a real PostgreSQL. Every wait is on what the screen shows."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from testkit import pg
from testkit.tmux import TmuxSession, tmux_available
from tests.e2e.test_tui import PROMPT, Tui, pgask_argv, started

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.pg,
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
]

SHOP = """
create table customers (id int primary key, name text not null);
create table orders (id int primary key, customer_id int references customers(id),
                     status text not null, total numeric(10,2));
create index orders_status_idx on orders (status);
create view big_orders as select * from orders where total > 100;
insert into customers select g, 'customer ' || g from generate_series(1, 5) g;
insert into orders select g, 1 + g % 5, case when g % 3 = 0 then 'shipped' else 'new' end, g
  from generate_series(1, 300) g;
"""


@pytest.fixture
def tui(tmp_path: Path, isolated_env: dict[str, Path], pg_db: str, pg_dsn: str) -> Iterator[Tui]:
    t = Tui(tmp_path, isolated_env, pg_db, pg_dsn)
    try:
        yield t
    finally:
        t.close()


def shop(tui: Tui) -> None:
    pg.run_sql(tui.dsn, SHOP)


def test_a_bracketed_multi_line_paste_runs_once(tui: Tui) -> None:
    t = started(tui)
    t.paste("select count(*) as pasted_count,\n  7 as seven\nfrom generate_series(1, 42);\n")
    t.expect_screen(("1 row in", "pasted_count", re.compile(r"\b42\b")), 20)
    screen = t.expect_screen(PROMPT)
    assert "does not parse" not in screen and "still busy" not in screen
    assert re.search(rf"{PROMPT}\s*$", screen.rstrip("\n").splitlines()[-1] + " ")  # input empty
    # the statement ran once: one turn with its SQL in the conversation
    assert screen.count("pasted_count,") <= 1


def test_a_pasted_script_of_several_statements_runs_each_in_order(tui: Tui) -> None:
    t = started(tui)
    t.paste("select 'first' as which;\nselect 'second' as which, 2 as n;\n")
    t.expect_screen("2 statements: each is checked", 20)
    t.wait_for(lambda: t.screen().count("1 row in") == 2, "both statements' results", 20)
    assert "second" in t.screen()


def test_a_paste_without_semicolon_waits_and_alt_enter_adds_a_line(tui: Tui) -> None:
    t = started(tui)
    t.paste("/sql select 5 as five\n  , 6 as six\n")
    t.expect_screen((f"{PROMPT} /sql select 5 as five", "  , 6 as six", "end it with ;"))
    t.send("M-Enter")
    t.type("from generate_series(1, 1);")
    t.expect_screen(("Enter run", re.compile(r"\u2026 +from generate_series\(1, 1\);")))
    t.send("Enter")
    t.expect_screen(("1 row in", "six"), 20)


# -- psql meta-commands, from the cached catalog -------------------------------------------------


def test_meta_commands_dt_d_orders_and_x(tui: Tui) -> None:
    shop(tui)
    t = started(tui)
    t.type("\\dt", enter=True)
    t.expect_screen(("List of tables", "customers", "orders", "Rows (estimate)"))
    screen = t.screen()
    assert "big_orders" not in screen.split("List of tables")[1]  # a view is not a table
    t.type("\\d orders", enter=True)
    t.expect_screen(("\\d public.orders", "customer_id", "numeric(10,2)", "not null"))
    t.expect_screen(
        ('"orders_status_idx"', "Foreign-key constraints:", "REFERENCES public.customers")
    )
    t.type("\\dv", enter=True)
    t.expect_screen(("List of views", "big_orders"))
    t.type("\\d ordrs", enter=True)
    t.expect_screen(("Did not find any relation named ordrs.", "Did you mean orders?"))
    t.type("\\dq", enter=True)
    t.expect_screen("Unknown meta-command \\dq.")
    t.type(
        "select id, status, repeat('long text ', 30) as note from orders order by id;", enter=True
    )
    t.expect_screen("300 rows in", 20)
    t.type("\\x", enter=True)
    t.expect_screen(("Expanded display is on.", "record 1 of 300", re.compile(r"status\s+│ new")))
    t.send("Tab", "Down")  # focus the results; Down moves to the next record
    t.expect_screen("record 2 of 300")
    t.send("Enter")  # back to the table
    t.expect_screen(re.compile(r"rows 1-\d+ of 300"))
    t.send("Escape")
    t.type("\\l", enter=True)
    t.expect_screen(("Encoding", re.compile(r"\btemplate1\b")), 20)


# -- the real connection state in the status bar -------------------------------------------------


def test_a_closed_port_shows_the_failure_in_the_status_bar_at_start(tui: Tui) -> None:
    with tui.config.open("a") as f:
        f.write('\n[profiles.down]\ndsn = "postgresql://pgask@127.0.0.1:55201/nothing"\n')
    t = tui.start("down")
    screen = t.expect_screen(("down\u203a", "not connected:"), 15)
    assert "Connected to 'down'" not in screen  # nothing claimed before anything connected
    t.expect_screen(re.compile(r"(?i)refused|could not connect"))
    t.type("\\dt", enter=True)  # asks again: still the actionable failure, and no crash
    t.expect_screen("Reading the catalog of 'down'")
    assert t.alive()


def test_the_status_bar_shows_the_server_version_once_it_answers(tui: Tui) -> None:
    t = started(tui)
    t.expect_screen((re.compile(r"PostgreSQL \d+\.\d+ · "), "Connected to 'demo': PostgreSQL"))


# -- libpq's conventions ------------------------------------------------------------------------


def libpq_env(dsn: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    env = {
        "PGHOST": query.get("host", [parts.hostname or ""])[0],
        "PGUSER": parts.username or "",
        "PGDATABASE": parts.path.lstrip("/"),
    }
    if parts.port:
        env["PGPORT"] = str(parts.port)
    return {k: v for k, v in env.items() if v}


def test_pg_variables_alone_are_enough_for_pgask_sql_and_the_tui(tui: Tui) -> None:
    env = libpq_env(tui.dsn)
    assert not (Path(tui.xdg["XDG_CONFIG_HOME"]) / "pgask" / "config.toml").exists()
    run_env = {**tui.env(), **env}
    out = subprocess.run(
        [*pgask_argv("sql", "select current_database() as db"), "--format", "csv"],
        env=run_env,
        cwd=tui.tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert env["PGDATABASE"] in out.stdout
    tui.extra_env.update(env)
    t = TmuxSession.start(pgask_argv(), env=tui.env(), cwd=tui.tmp, log_dirs=tui.log_dirs)
    tui.session = t
    t.expect_screen(("Connected to 'postgres@", re.compile(r"PostgreSQL\s+\d+")), 30)
    t.type("select current_database() as db;", enter=True)
    t.expect_screen(("1 row in", env["PGDATABASE"][:30]), 20)


def test_a_service_file_alone_is_enough_for_pgask_sql(tui: Tui) -> None:
    """PGSERVICE names a section of the service file (PGSERVICEFILE), as psql reads it."""
    env = libpq_env(tui.dsn)
    service_file = Path(tui.tmp) / "pg_service.conf"
    keys = {"PGHOST": "host", "PGPORT": "port", "PGUSER": "user", "PGDATABASE": "dbname"}
    service_file.write_text("[shopdb]\n" + "".join(f"{keys[k]}={v}\n" for k, v in env.items()))
    run_env = {k: v for k, v in tui.env().items() if not k.startswith("PG")}
    run_env.update(PGSERVICE="shopdb", PGSERVICEFILE=str(service_file))
    out = subprocess.run(
        [*pgask_argv("sql", "select current_database() as db"), "--format", "csv"],
        env=run_env,
        cwd=tui.tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["db", env["PGDATABASE"]]
    # a URL profile has no [profiles.*] section: the hint points at the URL instead
    out = subprocess.run(
        [*pgask_argv("sql", "select 1"), "-p", "postgresql://127.0.0.1:1/x"],
        env=run_env,
        cwd=tui.tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "connection refused" in out.stderr, out.stderr
    assert "[profiles." not in out.stderr and "in the URL" in out.stderr, out.stderr


def test_use_a_url_switches_the_pane(tui: Tui) -> None:
    t = started(tui)
    t.type(f"/use {tui.other_dsn}", enter=True)
    t.expect_screen(("Now using", re.compile(r"Connected to '[^']*/postgres':\s+PostgreSQL")), 20)
    t.type("select current_database() as db;", enter=True)
    t.expect_screen(("1 row in", re.compile(r"\bpostgres\b")), 20)


# -- shell habits -------------------------------------------------------------------------------


def test_ctrl_c_clears_the_line_keys_after_esc_are_kept_and_ctrl_d_quits(tui: Tui) -> None:
    t = started(tui)
    t.type("a half typed question")
    t.expect_screen(f"{PROMPT} a half typed question")
    t.send("C-c")
    t.expect_gone("a half typed question")
    assert t.alive()
    t.send("C-p")
    t.expect_screen("Command palette")
    t.send("Escape", "/", "s", "q", "l")  # one write: Esc and the keys typed straight after it
    t.expect_screen(f"{PROMPT} /sql")
    t.expect_gone("Command palette")
    t.send("C-d")  # not on an empty line: nothing happens
    t.expect_screen(f"{PROMPT} /sql")
    assert t.alive()
    t.send("C-u")
    t.expect_gone(f"{PROMPT} /sql")
    t.send("C-d")
    t.wait_for(lambda: not t.alive(), "pgask exits on Ctrl+D on an empty line", 15)


# -- completion -----------------------------------------------------------------------------------


def test_tab_completes_a_table_and_a_column(tui: Tui) -> None:
    shop(tui)
    t = started(tui)
    t.type("/sql select * from cust")
    t.send("Tab")
    t.expect_screen(f"{PROMPT} /sql select * from customers")
    t.send("C-u")
    t.type("/sql select o.cust from orders o")
    t.send(
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
        "Left",
    )
    t.send("Tab")
    t.expect_screen(f"{PROMPT} /sql select o.customer_id from orders o")
    t.send("C-u")
    t.type("/sql select * from ord")
    t.send("Tab")  # two candidates: the popup, typing goes on
    t.expect_screen(("big_orders", "Tab next", f"{PROMPT} /sql select * from orders"))
    t.type(" where st")
    t.send("Tab")
    t.expect_screen(f"{PROMPT} /sql select * from orders where status")
    t.type(" = 'new' limit 1", enter=True)
    t.expect_screen("1 row in", 20)


# -- the result view: search, sort ------------------------------------------------------------


def test_search_finds_a_value_on_another_page_and_sort_says_so(tui: Tui) -> None:
    t = started(tui)
    t.type("/sql select g as n, 'name ' || g as label from generate_series(1, 500) g", enter=True)
    t.expect_screen(("500 rows in", re.compile(r"page 1 of \d+")), 20)
    t.send("Tab")  # focus the results
    t.type("/name 377")
    t.expect_screen("search the results: /name 377")
    t.send("Enter")
    t.expect_screen(("'name 377': row 377 (1 row matches)", re.compile(r"page (1[0-9]|[2-9]) of")))
    t.expect_screen(re.compile(r"377\W+name 377"))
    t.send("s", "s")  # by the first visible column: ascending, then descending
    t.expect_screen(("Sorted by 'n' descending here in pgask", re.compile(r"500\W+name 500")))


def test_y_copies_the_cell_and_shift_y_the_row_with_osc_52(tui: Tui) -> None:
    t = started(tui)
    t.allow_clipboard()
    t.type("/sql select g as n, 'name ' || g as label from generate_series(1, 50) g", enter=True)
    t.expect_screen("50 rows in", 20)
    t.send("Tab", "Down", "Down")  # the results; the third row
    t.send("y")
    t.expect_screen("Copied the cell (n), 1 character,")
    t.wait_for(lambda: t.clipboard() == "3", "the cell in tmux's paste buffer")
    t.send("Right", "Y")
    t.expect_screen("Copied the row, 8 characters")
    t.wait_for(lambda: t.clipboard() == "3\tname 3", "the row in tmux's paste buffer")


# -- config edits without a restart ----------------------------------------------------------------


def test_editing_the_config_adds_a_profile_use_can_reach(tui: Tui) -> None:
    t = started(tui)
    t.type("/use perf", enter=True)
    t.expect_screen(("There is no profile named 'perf'", "/reload reads it again"))
    with tui.config.open("a") as f:  # the person adds a profile in their editor
        f.write(f'\n[profiles.perf]\ndsn = "{tui.other_dsn}"\n')
    t.expect_screen(("Config changed on disk and was reloaded", "new: perf"), 15)
    t.type("/use perf", enter=True)
    t.expect_screen(("Now using 'perf'", "Connected to 'perf'"), 20)
    t.type("select current_database() as db;", enter=True)
    t.expect_screen(("1 row in", re.compile(r"\bpostgres\b")), 20)
    with tui.config.open("a") as f:
        f.write("\n[profiles.broken\n")
    t.expect_screen("The settings in use are unchanged", 15)
    t.type("/reload", enter=True)  # asked for by hand: the same answer, nothing lost
    t.expect_screen(re.compile(r"(?s)unchanged.*unchanged"), 15)


# -- a password prompt when the server asks for one ----------------------------------------------

SECRET = "sekret-pw-20-\u00e9x"


def test_a_password_prompt_appears_and_the_password_is_in_no_file(
    tmp_path: Path, isolated_env: dict[str, Path], pg_restartable: pg.PgServer
) -> None:
    server = pg_restartable
    assert server.pgdata is not None
    pg.run_sql(server.dsn, f"CREATE ROLE pwuser LOGIN PASSWORD '{SECRET}'")
    hba = server.pgdata / "pg_hba.conf"
    hba.write_text(
        "local all pwuser scram-sha-256\nhost all pwuser all scram-sha-256\n" + hba.read_text()
    )
    pg.run_sql(server.dsn, "SELECT pg_reload_conf()")
    locked = server.dsn.replace("postgres@", "pwuser@", 1)
    t = Tui(tmp_path, isolated_env, server.dsn, server.dsn)
    try:
        with t.config.open("a") as f:
            f.write(f'\n[profiles.locked]\ndsn = "{locked}"\n')
        s = t.start("locked")
        s.expect_screen(("The server of 'locked' asks for a password.", "typing is not shown"), 30)
        s.type("wrong")
        s.send("Enter")
        s.expect_screen("That password was not accepted; try again.", 20)
        s.type(SECRET)
        screen = s.screen()
        assert SECRET not in screen and "wrong" not in screen  # never echoed
        s.send("Enter")
        s.expect_screen("Connected to 'locked'", 20)
        s.type("select current_user as who;", enter=True)
        s.expect_screen(("1 row in", re.compile(r"\bpwuser\b")), 20)
        s.type("/quit", enter=True)
        s.wait_for(lambda: not s.alive(), "pgask exits on /quit", 15)
        s.close()
        # the headless CLI on a terminal asks too (psql's prompt), and runs the statement
        argv = pgask_argv(
            "--config", str(t.config), "sql", "select current_user as who", "-p", "locked"
        )
        s = TmuxSession.start([*argv], env=t.env(), cwd=tmp_path, log_dirs=t.log_dirs)
        s.expect_screen("Password for profile 'locked':", 30)
        s.type(SECRET, enter=True)
        s.expect_screen(re.compile(r"\bpwuser\b"), 30)
        assert SECRET not in s.screen()
        roots = [tmp_path, t.runtime, *isolated_env.values()]
        for root in roots:
            for path in Path(root).rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    assert SECRET.encode() not in data, f"the password is in {path}"
    finally:
        t.close()
