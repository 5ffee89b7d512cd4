"""executor:<profile>: the only process that holds a connection to a profile's database.

Receives: query.run, query.explain, query.copy, query.cancel, catalog.get;
          dba.index.check, dba.migration.apply, dba.backup, dba.archive.inspect, dba.restore
          (decisions in actors/executor_dba.py).
Replies:  query.columns, query.rows (streamed, about 256 KiB each), query.done;
          query.copy.done (the COPY's bytes go to the exporter's stream socket);
          query.plan; query.cancelled; catalog.result; or error.
Restart:  permanent. Resources: an asyncpg pool (asyncio, hosted on trio by trio-asyncio);
          per running export, a connection and a worker thread of its own (CopyJob).

The second safety layer, which holds even if everything before it is wrong:
* It runs only SQL whose guard verdict is validly signed for this exact text and this
  profile, not expired, and only as the verdict's class allows under its mode.
* One statement per round trip, always over the extended protocol (`prepare`); asyncpg's
  argument-less `execute()` is the simple protocol, which accepts `COMMIT; DROP ...`,
  and is used only for the executor's own fixed statements.
* Class `read` runs inside `BEGIN READ ONLY` whatever the mode, after a preamble that
  takes a snapshot (`SELECT set_config(...)`) so a first `SET TRANSACTION READ WRITE`
  cannot flip it; reads always end in ROLLBACK. Writes and DDL commit only on success.
* Limits are the server's: statement_timeout, lock_timeout and
  idle_in_transaction_session_timeout are sent with the connection and per transaction.

Each database round trip is one asyncio coroutine crossing the bridge once
(runtime-spike.md §2); row batches cross back to trio one batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import getpass
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import outcome
import trio
import trio_asyncio
from msgspec.msgpack import Ext
from trio_asyncio import aio_as_trio, trio_as_aio

from actors import executor_dba as dba
from actors import executor_resolve as resolve
from actors._runtime import Actor, Request, main
from protocol import codec, copystream, signing
from protocol.audit import AuditLog, audit_path
from protocol.boot import Boot
from protocol.config import ProfileConfig, check_profile, profile_file_name, settings_place
from protocol.errors import DatabaseError
from protocol.messages import (
    GUARD_GRAMMAR_MAJOR,
    ArchiveInfo,
    ArchiveRequest,
    AuditNote,
    BackupDone,
    BackupRequest,
    Catalog,
    CatalogColumn,
    CatalogForeignKey,
    CatalogFunction,
    CatalogIndex,
    CatalogRequest,
    CatalogTable,
    Column,
    ConnectPassword,
    CopyDone,
    CopyRequest,
    DbaProgress,
    DoctorReport,
    DoctorRequest,
    ExplainPlan,
    ExplainRequest,
    IndexCheck,
    IndexCheckRequest,
    MigrationApplied,
    MigrationApply,
    QueryCancel,
    QueryCancelled,
    QueryColumns,
    QueryDescribe,
    QueryDone,
    QueryRequest,
    QueryRows,
    Resolution,
    ResolveRequest,
    Restored,
    RestoreRequest,
    Signature,
)
from protocol.tracing import log
from protocol.values import (
    EXT_DATE,
    EXT_INTERVAL,
    EXT_JSON,
    EXT_NUMERIC,
    EXT_TEXT,
    EXT_TIME,
    EXT_TIMESTAMP,
    EXT_TIMESTAMPTZ,
    EXT_TIMETZ,
    EXT_UUID,
    PgText,
    Range,
    to_wire,
)

BATCH_BYTES = 256 * 1024  # what a row batch aims at
BATCH_LIMIT = 4 * BATCH_BYTES  # a batch measured above this is cut by row
ROW_LIMIT = codec.MAX_FRAME_BYTES - 64 * 1024  # one row alone in a message, with room to spare
FIRST_BATCH_ROWS = 100  # the first page reaches the screen before the rest is fetched
RECONNECT_BACKOFF_S = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)
NO_TRANSACTION = "25001"  # active_sql_transaction: "cannot run inside a transaction block"

# -- lossless codecs: asyncpg decodes straight into wire values ----------------------

_Q = __import__("struct").Struct(">q")
_QI = __import__("struct").Struct(">qi")
_I = __import__("struct").Struct(">i")
_IIQ = __import__("struct").Struct(">iiq")
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in µs since 1970-01-01
_PG_EPOCH_DAYS = 10_957
_INT64_MAX, _INT64_MIN = 2**63 - 1, -(2**63)
_INT32_MAX, _INT32_MIN = 2**31 - 1, -(2**31)


def _text_ext(type_name: str) -> Callable[[str], Ext]:
    def decode(text: str) -> Ext:
        return Ext(EXT_TEXT, msgspec.msgpack.encode([type_name, text]))

    return decode


def _timestamptz(text: str) -> Ext:
    """Server text in the session's zone (DateStyle ISO), e.g. 2024-03-01 12:00:00.5+05:30."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:  # infinity, BC dates, years past 9999
        return _text_ext("timestamp with time zone")(text)
    offset = value.utcoffset() or dt.timedelta(0)
    micros = (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return Ext(EXT_TIMESTAMPTZ, _QI.pack(micros, int(offset.total_seconds())))


def _timestamp(t: tuple[int]) -> Ext:
    us = t[0]
    if us in (_INT64_MAX, _INT64_MIN):
        return _text_ext("timestamp without time zone")("infinity" if us > 0 else "-infinity")
    return Ext(EXT_TIMESTAMP, _Q.pack(us + _PG_EPOCH_US))


def _date(t: tuple[int]) -> Ext:
    d = t[0]
    if d in (_INT32_MAX, _INT32_MIN):
        return _text_ext("date")("infinity" if d > 0 else "-infinity")
    return Ext(EXT_DATE, _I.pack(d + _PG_EPOCH_DAYS))


def _timetz(t: tuple[int, int]) -> Ext:
    # asyncpg's tuple gives the zone as PostgreSQL stores it: seconds *west* of UTC
    return Ext(EXT_TIMETZ, _QI.pack(t[0], -t[1]))


async def _init_connection(con: asyncpg.Connection) -> None:
    codecs: list[tuple[str, str, Callable[[Any], Any], str]] = [
        ("numeric", "text", lambda s: Ext(EXT_NUMERIC, s.encode()), "pg_catalog"),
        ("timestamptz", "text", _timestamptz, "pg_catalog"),
        ("timestamp", "tuple", _timestamp, "pg_catalog"),
        ("date", "tuple", _date, "pg_catalog"),
        ("time", "tuple", lambda t: Ext(EXT_TIME, _Q.pack(t[0])), "pg_catalog"),
        ("timetz", "tuple", _timetz, "pg_catalog"),
        ("interval", "tuple", lambda t: Ext(EXT_INTERVAL, _IIQ.pack(*t)), "pg_catalog"),
        ("uuid", "binary", lambda b: Ext(EXT_UUID, bytes(b)), "pg_catalog"),
        ("json", "text", lambda s: Ext(EXT_JSON, s.encode()), "pg_catalog"),
        ("jsonb", "text", lambda s: Ext(EXT_JSON, s.encode()), "pg_catalog"),
    ]
    for pg_type in ("inet", "cidr", "macaddr", "macaddr8", "money", "bit", "varbit", "xml", "tsvector", "tsquery",
                    "point", "line", "lseg", "box", "path", "polygon", "circle", "pg_lsn", "txid_snapshot"):  # fmt: skip
        codecs.append((pg_type, "text", _text_ext(pg_type), "pg_catalog"))
    for pg_type, fmt, decoder, schema in codecs:
        await con.set_type_codec(pg_type, schema=schema, format=fmt, decoder=decoder, encoder=str)
    await check_pinned_settings(con)


# Settings that change how the server reads a text: the guard lexes as if they had these
# values, so every session pins them at connect (server_settings) and proves it here.
PINNED_SETTINGS: dict[str, str] = {"standard_conforming_strings": "on"}


async def check_pinned_settings(con: asyncpg.Connection) -> None:
    """asyncio: refuse a session where a lexing setting did not take the pinned value (a
    connection pooler that drops startup options, a server that overrides them)."""
    for name, want in PINNED_SETTINGS.items():
        got = await con.fetchval("SELECT current_setting($1)", name)
        if got != want:
            raise DatabaseError(
                f"pgask will not use this server: {name} is '{got}', not '{want}'.",
                why=(f"With {name} = {got} the server reads string literals differently from "
                     "pgask's guard, so a text the guard calls one literal could run a call."),
                hint=(f"Connect directly (a pooler may drop startup options), or run "
                      f"ALTER DATABASE ... SET {name} = {want} and ALTER ROLE ... RESET {name}."),
                code="db.unsafe_setting",
            )  # fmt: skip


# -- state --------------------------------------------------------------------------


@dataclass
class ExecState:
    profile: str
    config: ProfileConfig
    key: bytes
    pool: asyncpg.Pool | None = None
    catalog: Catalog | None = None
    failures: int = 0
    next_attempt: float = 0.0
    lock: trio.Lock = field(default_factory=trio.Lock)
    audit: AuditLog | None = None
    full_sql: bool = False  # [privacy] audit_full_sql
    role: str = ""  # the database role pgask connects as
    resolved: resolve.Resolutions = field(default_factory=resolve.Resolutions)
    os_user: str = ""
    audit_error: str = ""  # why the audit trail could not be opened (nothing runs then)
    app_name: str = "pgask"  # application_name: run, profile and incarnation (orphans_prefix)
    orphans_prefix: str = ""  # what every incarnation of this executor in this run is called
    password: str = field(
        default="", repr=False
    )  # typed by the person (ConnectPassword); memory only


@asynccontextmanager
async def open_state(boot: Boot) -> AsyncIterator[ExecState]:
    profile = boot.actor.split(":", 1)[1] if ":" in boot.actor else "default"
    full = boot.load_config()
    config = full.profiles.get(profile, ProfileConfig())
    state = ExecState(profile, config, bytes.fromhex(boot.key_hex))
    state.full_sql = full.privacy.audit_full_sql
    state.os_user = getpass.getuser()
    state.orphans_prefix, state.app_name = connection_names(boot, profile)
    if boot.state_dir:
        path = audit_path(boot.state_dir, profile_file_name(profile))
        try:
            state.audit = AuditLog(path, witness=full.audit.witness)
        except OSError as exc:  # no crash loop: every request is refused, naming the file
            state.audit_error = f"{exc.strerror or exc} ({exc.filename or path})"
            log.error("executor.audit.unavailable", error=state.audit_error)
        else:
            for problem in state.audit.problems:  # named once; `pgask audit verify` shows them
                log.warning("executor.audit.recovered", problem=problem)
            if closed := state.audit.close_dangling():
                log.warning("executor.audit.interrupted", intents=closed)
    async with trio_asyncio.open_loop():
        try:
            if boot.incarnation > 1:  # before serving: end what the previous one left running
                with trio.move_on_after(ORPHAN_CLEANUP_S):
                    await stop_orphans(state)
            yield state
        finally:
            if state.audit is not None:
                state.audit.close()
            if state.pool is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await aio_as_trio(state.pool.close)()


def connection_names(boot: Boot, profile: str) -> tuple[str, str]:
    """(prefix, application_name): `pgask <run>.<profile>.<incarnation>`, within PostgreSQL's
    63 bytes. Every connection of this executor carries it, so a restarted executor finds
    (in pg_stat_activity) what an earlier incarnation of itself left running in this run."""
    import hashlib

    run = (os.path.basename(boot.run_dir.rstrip("/")) or boot.session or "run")[-12:]
    tag = hashlib.sha256(profile.encode()).hexdigest()[:8]
    prefix = f"pgask {run}.{tag}."
    return prefix, f"{prefix}{boot.incarnation}"


ORPHAN_CLEANUP_S = 5.0
ORPHANS_SQL = """
SELECT pid, coalesce(state, ''), xact_start IS NOT NULL, pg_terminate_backend(pid)
FROM pg_stat_activity
WHERE left(application_name, length($1)) = $1 AND application_name <> $2
  AND pid <> pg_backend_pid()
"""


async def stop_orphans(state: ExecState) -> int:
    """Terminate the backends an earlier incarnation of this executor left (a query still
    running, a transaction holding locks): a read stops, an uncommitted write rolls back."""
    try:
        pool = await _pool(state)
        with map_errors(state):
            rows = await aio_as_trio(pool.fetch)(ORPHANS_SQL, state.orphans_prefix, state.app_name)
    except DatabaseError as exc:
        log.warning("executor.orphans.unchecked", code=exc.code)
        return 0
    if rows:
        log.warning(
            "executor.orphans.stopped",
            backends=[
                {"pid": r[0], "state": r[1], "in_transaction": r[2], "ended": r[3]} for r in rows
            ],
        )
    return len(rows)


def _connect_kwargs(cfg: ProfileConfig, app_name: str = "pgask") -> dict[str, Any]:
    kw: dict[str, Any] = {"dsn": cfg.dsn or None, "timeout": cfg.connect_timeout_s}
    for key, name in (("host", "host"), ("user", "user"), ("dbname", "database")):
        if getattr(cfg, key):
            kw[name] = getattr(cfg, key)
    if cfg.port:
        kw["port"] = cfg.port
    if cfg.password_env and os.environ.get(cfg.password_env):
        kw["password"] = os.environ[cfg.password_env]
    if cfg.sslmode:
        kw["ssl"] = cfg.sslmode
        if cfg.sslrootcert:
            ctx = ssl.create_default_context(cafile=os.path.expanduser(cfg.sslrootcert))
            if cfg.sslmode in ("require", "prefer", "allow"):
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            kw["ssl"] = ctx
    if service := cfg.service or os.environ.get("PGSERVICE", ""):
        kw["service"] = service  # asyncpg reads PGSERVICE too late to use the service file
    ms = lambda s: f"{int(s * 1000)}ms"  # noqa: E731
    kw["server_settings"] = {
        "application_name": app_name,
        "statement_timeout": ms(cfg.statement_timeout_s),
        "lock_timeout": ms(cfg.lock_timeout_s),
        "idle_in_transaction_session_timeout": "60s",
        "DateStyle": "ISO, YMD",
        "IntervalStyle": "postgres",
        **PINNED_SETTINGS,
    }
    return kw


def describe_target(cfg: ProfileConfig) -> str:
    if cfg.dsn:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(cfg.dsn)
            host, port = parts.hostname or "local socket", parts.port
        except ValueError:  # a malformed URL is reported by validate_connection, not here
            return "an unreadable URL"
        return f"{parts.path.lstrip('/') or '?'}@{host}" + (f":{port}" if port else "")
    return f"{cfg.dbname or '?'}@{cfg.host or 'local socket'}" + (
        f":{cfg.port}" if cfg.port else ""
    )


async def _pool(state: ExecState) -> asyncpg.Pool:
    """The profile's pool, connecting (again) with backoff after a failure."""
    async with state.lock:
        if state.pool is not None:
            return state.pool
        wait = state.next_attempt - time.monotonic()
        if wait > 0:
            await trio.sleep(wait)
        check_profile(state.profile, state.config)  # a bad port or sslmode: a reply, not a crash
        try:
            with map_errors(state, connecting=True):
                state.pool = await aio_as_trio(_create_pool)(
                    state.config, state.app_name, state.password
                )
        except DatabaseError:
            state.failures += 1
            state.next_attempt = (
                time.monotonic()
                + RECONNECT_BACKOFF_S[min(state.failures, len(RECONNECT_BACKOFF_S) - 1)]
            )
            raise
        state.failures = 0
        with map_errors(state):
            state.role = await aio_as_trio(state.pool.fetchval)("SELECT current_user")
        log.info("executor.pool.opened", target=describe_target(state.config), role=state.role)
        return state.pool


async def _create_pool(cfg: ProfileConfig, app_name: str, password: str = "") -> asyncpg.Pool:
    kw = _connect_kwargs(cfg, app_name)
    if password:
        kw["password"] = password
    return await asyncpg.create_pool(
        min_size=1, max_size=4, init=_init_session, reset=_reset_connection, **kw
    )


async def _init_session(con: asyncpg.Connection) -> None:
    await _init_connection(con)
    await con.execute(_watch_client_sql(con))


def _watch_client_sql(con: asyncpg.Connection) -> str:
    """PostgreSQL 14+ checks every second, while a query runs, that the client is still
    there, and stops the query when it is not (an executor killed, or its whole tree gone
    with the supervisor): no backend runs on for statement_timeout after pgask is gone."""
    if con.get_server_version().major < 14:
        return "SELECT 1"
    return "SELECT set_config('client_connection_check_interval', '1s', false)"


# What a statement may leave on its session beyond its transaction, removed before the
# connection goes back to the pool: prepared statements made with SQL PREPARE (asyncpg's own,
# made over the protocol, stay: from_sql is false for them) and temporary objects. asyncpg's
# reset() already closes cursors, releases advisory locks, UNLISTENs and RESETs settings.
RESET_SESSION_SQL = """
DISCARD TEMP;
DO $pgask$ DECLARE r record; BEGIN
  FOR r IN SELECT name FROM pg_prepared_statements WHERE from_sql LOOP
    EXECUTE format('DEALLOCATE %I', r.name);
  END LOOP;
END $pgask$;
"""


async def _reset_connection(con: asyncpg.Connection) -> None:
    """asyncio, on release: no session state outlives the statement that made it. A failure
    here makes asyncpg close the connection, which removes the state just as well."""
    await con.reset()  # (its RESET ALL also undoes the client check: set again below)
    await con.execute(RESET_SESSION_SQL + _watch_client_sql(con))  # the executor's own text


# -- errors at the boundary ------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(
        r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.removesuffix("Error")
    ).lower()


@asynccontextmanager
async def _noop() -> AsyncIterator[None]:
    yield


class map_errors:
    """asyncpg and socket exceptions -> DatabaseError with what / why / next."""

    def __init__(self, state: ExecState, *, connecting: bool = False) -> None:
        self.state, self.connecting = state, connecting

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        if exc is None or isinstance(exc, trio.Cancelled | DatabaseError):
            return False
        err = translate(exc, self.state, connecting=self.connecting)
        if err is None:
            return False
        if err.code == "db.connection_lost":
            self.state.pool = None  # the next request reconnects
        raise err from exc


def translate(exc: BaseException, state: ExecState, *, connecting: bool) -> DatabaseError | None:
    p, target, cfg = state.profile, describe_target(state.config), state.config
    at = settings_place(p)  # a URL profile has no [profiles.*] section to point at
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, RecursionError):  # e.g. 2,000 ROW()s inside each other: refuse, live on
        return DatabaseError(
            f"Could not return the result on profile '{p}'.",
            why="A value in it is nested too deeply to send (thousands of levels of rows or arrays).",
            hint="Select the nested value as text (value::text), or flatten it.",
            code="db.result_too_deep", detail=detail,
        )  # fmt: skip
    if isinstance(exc, asyncpg.ClientConfigurationError):  # libpq-style setting asyncpg rejects
        return DatabaseError(
            f"Could not connect to profile '{p}': its connection settings are not valid.",
            why=str(exc),
            hint=f"Fix the setting {at}, or the PG* environment variable that sets it "
            "(PGSSLMODE, PGPORT ...).",
            code="config.connection_invalid", detail=detail,
        )  # fmt: skip
    if isinstance(exc, asyncpg.PostgresError):
        code = exc.sqlstate or ""
        msg = str(exc)
        if code in ("28P01", "28000") and "no encryption" in msg:
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): the server requires SSL.",
                why=msg, hint=f"Set sslmode = \"require\" (or verify-full) {at}.",
                code="db.ssl_required", detail=detail,
            )  # fmt: skip
        if code in ("28P01", "28000"):
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): authentication failed.",
                why=msg,
                hint=f"Check the user and password: PGPASSWORD, ~/.pgpass, or password_env {at}"
                + (f" (now '{cfg.password_env}')." if cfg.password_env else "."),
                code="db.auth_failed", detail=detail,
            )  # fmt: skip
        if code == "3D000":
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): the database does not exist.",
                why=msg, hint=f"Fix dbname {at}, or create it with `createdb`.",
                code="db.database_missing", detail=detail,
            )  # fmt: skip
        if code == "53300":
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): the server has too many connections.",
                why=msg, hint="Close idle sessions or raise max_connections on the server; pgask will retry.",
                code="db.too_many_connections", retryable=True, detail=detail,
            )  # fmt: skip
        if code == "42501":
            return DatabaseError(
                f"Profile '{p}' lacks permission for that." if not connecting else
                f"Could not connect to profile '{p}' ({target}): permission denied.",
                why=msg, hint="Ask the database owner for the privilege (GRANT), or use a profile whose role has it.",
                code="db.permission_denied", detail=detail,
            )  # fmt: skip
        if code == "57014" and "statement timeout" in msg:
            return DatabaseError(
                f"Could not run the query on profile '{p}'.",
                why=f"PostgreSQL cancelled it after {cfg.statement_timeout_s:g} s (statement_timeout for this profile).",
                hint=f"Add a LIMIT or a narrower WHERE, or raise statement_timeout_s {at}.",
                code="db.statement_timeout", detail=detail,
            )  # fmt: skip
        if code == "55P03":
            return DatabaseError(
                f"Could not run the statement on profile '{p}': a lock was not granted in time.",
                why=f"Another session holds a conflicting lock (lock_timeout = {cfg.lock_timeout_s:g} s).",
                hint="Try again when the other transaction has finished; see pg_stat_activity for who holds it.",
                code="db.lock_timeout", retryable=True, detail=detail,
            )  # fmt: skip
        if code == "25006":
            return DatabaseError(
                f"PostgreSQL refused to change data on profile '{p}'.",
                why=f"pgask runs reads in a READ ONLY transaction, and this statement writes ({msg}).",
                hint="Switch to read-write mode (/mode read-write) to run it with a confirmation.",
                code="db.read_only_sql_transaction", detail=detail,
            )  # fmt: skip
        if code.startswith("08") or code in ("57P01", "57P02", "57P03"):
            return DatabaseError(
                f"The connection to profile '{p}' ({target}) was lost.",
                why=msg, hint="The server may have restarted; run it again and pgask will reconnect.",
                code="db.connection_lost", retryable=True, detail=detail,
            )  # fmt: skip
        if code == "42601" and "multiple commands" in msg:
            return DatabaseError(
                f"pgask runs one statement at a time on profile '{p}', and this text holds several.",
                why="Each statement is checked and run in its own transaction; nothing was run.",
                hint='Run them one by one, or all in order with `pgask sql "..."` (each is '
                "checked on its own first).",
                code="db.several_statements", detail=detail,
            )  # fmt: skip
        position = getattr(exc, "position", None)
        why = msg + (f" (at character {position})" if position else "")
        return DatabaseError(
            f"PostgreSQL refused the statement on profile '{p}'.",
            why=why, hint=getattr(exc, "hint", None) or "Fix the SQL (Edit puts it in the input line) and run it again.",
            code=f"db.{_snake(type(exc).__name__)}", detail=detail,
        )  # fmt: skip
    if (
        isinstance(
            exc,
            asyncpg.InterfaceError
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | ConnectionResetError
            | BrokenPipeError,
        )
        and not connecting
    ):
        return DatabaseError(
            f"The connection to profile '{p}' ({target}) was lost.",
            why=str(exc), hint="The server may have restarted; run it again and pgask will reconnect.",
            code="db.connection_lost", retryable=True, detail=detail,
        )  # fmt: skip
    if isinstance(exc, socket.gaierror):
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): the host name does not resolve.",
            why=str(exc), hint=f"Check the host {at} for a typo, and your DNS.",
            code="db.dns_failed", detail=detail,
        )  # fmt: skip
    if isinstance(exc, ConnectionRefusedError | FileNotFoundError) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) in (111, 61, 2) and connecting
    ):
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): connection refused.",
            why="Nothing is listening there.", hint="Is the server running on that host and port? Check host/port "
            f"{at}.",
            code="db.connection_refused", retryable=True, detail=detail,
        )  # fmt: skip
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) and connecting:
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): no answer within {cfg.connect_timeout_s:g} s.",
            why="The host did not respond (firewall, wrong port, or the server is overloaded).",
            hint=f"Check host/port {at}, or raise connect_timeout_s there.",
            code="db.connect_timeout", retryable=True, detail=detail,
        )  # fmt: skip
    if isinstance(exc, ssl.SSLError | ConnectionError) and connecting:
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): the SSL handshake failed.",
            why=str(exc), hint=f"Check sslmode / sslrootcert {at}; the server may not offer SSL.",
            code="db.ssl_failed", detail=detail,
        )  # fmt: skip
    if isinstance(exc, OSError) and connecting:
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}).", why=str(exc),
            hint=f"Check the connection settings {at}.", code="db.connect_failed", detail=detail,
        )  # fmt: skip
    return None


# -- verdicts -------------------------------------------------------------------------


def check_verdict(state: ExecState, sql: str, sig: Signature, *, confirmed: bool) -> None:
    problem = signing.check(state.key, sql, sig, state.profile)
    if problem is None and sig.sql_class in ("forbidden", "invalid"):
        problem = f"statements of class '{sig.sql_class}' never run"
    if problem is None and sig.sql_class != "read" and sig.mode != "read-write":
        problem = f"a '{sig.sql_class}' statement cannot run in read-only mode"
    if problem is None and sig.sql_class != "read" and not state.config.read_write:
        problem = f"profile '{state.profile}' does not allow writes (read_write = false)"
    if problem is None and sig.sql_class != "read" and not confirmed:
        problem = f"a '{sig.sql_class}' statement needs the person's confirmation first"
    if problem is None and sig.sql_class == "read" and not sig.catalog:
        problem = "a read must be judged against this database's catalog, and this one was not"
    if "\x00" in sql and problem is None:
        problem = "the text contains a NUL byte"
    if problem:
        log.warning("executor.verdict.refused", reason=problem)
        raise DatabaseError(
            f"The executor for '{state.profile}' refused to run the statement.",
            why=f"Its guard verdict is not valid here: {problem}.",
            hint="Check the statement again (pgask does this for you when you rerun it).",
            code="executor.bad_verdict",
        )


# -- running statements (asyncio side: one bridge crossing per unit of work) ---------------


def _row_converter(attrs: list[Any]) -> Callable[[Any], list[Any]]:
    """Most columns are wire values already; convert only ranges, records and their arrays."""
    slow = [
        i
        for i, a in enumerate(attrs)
        if a.type.kind in ("range", "multirange", "composite", "array")
    ]
    if not slow:
        return list

    def convert(record: Any) -> list[Any]:
        row = list(record)
        for i in slow:
            row[i] = _wire(row[i])
        return row

    return convert


def _wire(value: Any) -> Any:
    if value is None or isinstance(value, Ext | bool | int | float | str | bytes):
        return value
    if isinstance(value, asyncpg.Range):
        if value.isempty:
            return to_wire(Range(empty=True))
        bounds = ("[" if value.lower_inc else "(") + ("]" if value.upper_inc else ")")
        return to_wire(Range(_wire(value.lower), _wire(value.upper), bounds))
    if isinstance(value, asyncpg.Record | list | tuple):
        return [_wire(v) for v in value]
    try:
        return to_wire(value)
    except TypeError:  # a type with no wire form: its text, never a crash
        return to_wire(PgText(type(value).__name__, str(value)))


async def _preamble(
    con: asyncpg.Connection, state: ExecState, sig: Signature, statement_timeout: str
) -> None:
    """asyncio, first in every guarded transaction: a read runs under `read_role` if one is
    set, and only while the database has the catalog fingerprint the guard judged it against.
    The query takes the snapshot (so a first `SET TRANSACTION READ WRITE` cannot flip a read
    only transaction) and sets the limits for this transaction."""
    read = sig.sql_class == "read"
    limits = "set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)"
    args = (statement_timeout, f"{int(state.config.lock_timeout_s * 1000)}ms")
    if not read:
        await con.fetchval(f"SELECT {limits}", *args)
        return
    # the fingerprint is taken as the login role, as the guard's resolution was
    row = await con.fetchrow(f"SELECT {limits}, ({resolve.SAFETY_FINGERPRINT_SQL})", *args)
    if row[2] != sig.catalog:
        raise DatabaseError(
            "The database's definitions changed after the guard checked this statement.",
            why=("A function, view, operator, cast, policy or type it could reach was created, "
                 "replaced or dropped since, so the guard's verdict no longer describes it."),
            hint="Run it again: pgask checks it against the database as it is now.",
            code="executor.catalog_changed",
        )  # fmt: skip
    if state.config.read_role:
        role = state.config.read_role.replace('"', '""')
        await con.execute(f'SET LOCAL ROLE "{role}"')  # fixed text of ours: simple protocol


async def _run(
    state: ExecState,
    pool: asyncpg.Pool,
    sql: str,
    sig: Signature,
    max_rows: int | None,
    emit: Callable[[Any], Awaitable[None]],
) -> tuple[str, int, bool]:
    """asyncio: run one statement in its own transaction; emit columns and row batches."""
    cfg = state.config
    sql_class = sig.sql_class
    async with pool.acquire() as con:
        if sql_class == "read":
            tx = con.transaction(readonly=True)
        else:
            tx = con.transaction()
        try:
            async with tx:
                await _preamble(con, state, sig, f"{int(cfg.statement_timeout_s * 1000)}ms")
                result = await _statement(con, sql, max_rows, emit)
                if sql_class == "read":
                    raise _Rollback(result)
            return result
        except _Rollback as done:
            return done.result
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == NO_TRANSACTION and sql_class in ("ddl", "destructive"):
                # CREATE INDEX CONCURRENTLY, VACUUM ...: alone, outside a transaction block
                return await _statement(con, sql, max_rows, emit)
            raise


class _Rollback(Exception):
    def __init__(self, result: tuple[str, int, bool]) -> None:
        self.result = result


async def _statement(
    con: asyncpg.Connection, sql: str, max_rows: int | None, emit: Callable[[Any], Awaitable[None]]
) -> tuple[str, int, bool]:
    stmt = await con.prepare(sql)  # Parse: exactly one statement, extended protocol
    attrs = list(stmt.get_attributes())
    if not attrs:
        await stmt.fetch()
        return stmt.get_statusmsg() or "OK", 0, False
    await emit([Column(name=a.name, type_oid=a.type.oid, type_name=a.type.name) for a in attrs])
    convert = _row_converter(attrs)
    total, truncated, n = 0, False, FIRST_BATCH_ROWS
    cursor = await stmt.cursor()
    seq = 0
    while True:
        want = n if max_rows is None else min(n, max_rows - total + 1)
        records = await cursor.fetch(want)
        got = len(records)
        if max_rows is not None and total + got > max_rows:
            records = records[: max_rows - total]
            truncated = True
        if records:
            rows = [convert(r) for r in records]
            del records
            batches, size = pack_rows(rows, first_row=total + 1)
            for batch in batches:
                await emit(QueryRows(seq=seq, rows=batch))  # type: ignore[arg-type]  # encoded
                seq += 1
            total += len(rows)
            per_row = max(1, size // len(rows))
            n = max(1, min(50_000, BATCH_BYTES // per_row))
        if truncated or got < want:
            break
    command = stmt.get_statusmsg() or f"SELECT {total}"
    return command if not truncated else f"SELECT {total}", total, truncated


def pack_rows(rows: list[list[Any]], *, first_row: int) -> tuple[list[msgspec.Raw], int]:
    """`rows` cut into batches of about BATCH_BYTES encoded (at least one row each), already
    encoded (a QueryRows carries them as msgspec.Raw, so no row is encoded twice), and their
    size. Only a batch that measures too big is encoded row by row. A row that no message
    can carry fails the request, naming it (a row is never dropped)."""
    whole = _encode(rows)
    if len(whole) <= BATCH_LIMIT:
        return [msgspec.Raw(whole)], len(whole)
    encoded = [_encode(row) for row in rows]
    batches: list[msgspec.Raw] = []
    start, acc = 0, 0
    for i, row in enumerate(encoded):
        if len(row) > ROW_LIMIT:
            raise row_too_large(first_row + i, len(row))
        if i > start and acc + len(row) > BATCH_BYTES:
            batches.append(_array(encoded[start:i]))
            start, acc = i, 0
        acc += len(row)
    batches.append(_array(encoded[start:]))
    return batches, sum(len(r) for r in encoded)


_encode = msgspec.msgpack.Encoder().encode


def _array(items: list[bytes]) -> msgspec.Raw:
    """A msgpack array of already encoded items."""
    n = len(items)
    head = (
        bytes([0x90 | n])
        if n < 16
        else b"\xdc" + n.to_bytes(2, "big")
        if n < 65536
        else b"\xdd" + n.to_bytes(4, "big")
    )
    return msgspec.Raw(head + b"".join(items))


def row_too_large(number: int, size: int) -> DatabaseError:
    return DatabaseError(
        f"Row {number:,} of the result is {size / 2**20:,.1f} MiB, more than the "
        f"{ROW_LIMIT / 2**20:,.0f} MiB one message between pgask's processes can carry; "
        "the query was stopped.",
        why="pgask does not show part of a row: it stops rather than leave the row out.",
        hint='Write the whole result to a file with `pgask export "<the SQL>" --out result.csv` '
        "(it streams values of any size), or select less of the big column "
        "(e.g. left(col, 1000), length(col)).",
        code="executor.row_too_large",
    )


# -- handlers ------------------------------------------------------------------------------


def _audit_sql(state: ExecState, sql: str, normalized: str) -> str:
    if state.full_sql:
        return sql
    return (
        normalized
        or f"<{len(sql)} characters, literals not stored; sha256 {signing.sql_digest(sql)[:16]}>"
    )


def _audit(state: ExecState, req: Request, record: dict[str, Any], *, durable: bool = False) -> int:
    if state.audit is None:
        if state.audit_error:  # nothing runs unaudited
            raise DatabaseError(
                f"The executor for '{state.profile}' cannot write its audit trail, so it runs nothing.",
                why=state.audit_error,
                hint="Make the state directory writable (or free space), then run the statement again.",
                code="audit.unavailable",
            )
        return 0
    base = {"session": req.runtime.boot.session, "trace": req.header.trace, "profile": state.profile,
            "os_user": state.os_user, "db_role": state.role}  # fmt: skip
    return int(state.audit.append({**base, **record}, durable=durable)["seq"])


async def on_query_run(state: ExecState, msg: QueryRequest, req: Request) -> QueryDone:
    check_verdict(state, msg.sql, msg.verdict, confirmed=msg.confirmed)
    pool = await _pool(state)
    sql_class = msg.verdict.sql_class
    intent = _audit(
        state, req,
        {"type": "intent", "decision": msg.decision, "question": msg.question, "sql": _audit_sql(state, msg.sql, msg.normalized),
         "sql_sha256": msg.verdict.sql_sha256, "class": sql_class, "mode": msg.verdict.mode, "reasons": msg.reasons,
         **({"via": msg.via} if msg.via else {})},
        durable=sql_class != "read",  # on disk before a write or DDL runs
    )  # fmt: skip
    started = time.perf_counter()

    async def emit(item: Any) -> None:
        body = QueryColumns(columns=item) if isinstance(item, list) else item
        await req.send(body)

    max_rows = msg.max_rows if msg.max_rows > 0 else None
    outcome: dict[str, Any] = {"type": "outcome", "intent": intent, "outcome": "cancelled"}
    try:
        with map_errors(state):
            command, rows, truncated = await aio_as_trio(_run)(
                state, pool, msg.sql, msg.verdict, max_rows, trio_as_aio(emit)
            )
        outcome.update(outcome="ok", command=command, rows=rows, truncated=truncated)
    except DatabaseError as exc:
        outcome.update(outcome="error", error=exc.code)
        raise
    finally:
        outcome["ms"] = round((time.perf_counter() - started) * 1000, 3)
        _audit(state, req, outcome, durable=sql_class != "read")
    if sql_class in ("ddl", "destructive"):
        state.catalog = None  # the schema may have changed
    elapsed = (time.perf_counter() - started) * 1000
    log.info("executor.query.finished", rows=rows, ms=round(elapsed, 2), sql_class=sql_class)
    return QueryDone(command=command, rows=rows, elapsed_ms=elapsed, truncated=truncated)


async def on_query_describe(state: ExecState, msg: QueryDescribe, req: Request) -> QueryColumns:
    """The result columns of a guarded read, from Parse/Describe only (nothing executes)."""
    check_verdict(state, msg.sql, msg.verdict, confirmed=False)
    if msg.verdict.sql_class != "read":
        raise DatabaseError(
            f"The executor for '{state.profile}' describes only reads.",
            why=f"The statement is of class '{msg.verdict.sql_class}'.",
            code="executor.bad_verdict",
        )
    pool = await _pool(state)
    with map_errors(state):
        columns = await aio_as_trio(_describe)(pool, msg.sql)
    return QueryColumns(columns=columns)


async def _describe(pool: asyncpg.Pool, sql: str) -> list[Column]:
    async with pool.acquire() as con:
        tx = con.transaction(readonly=True)
        await tx.start()
        try:
            stmt = await con.prepare(sql)
            return [
                Column(name=a.name, type_oid=a.type.oid, type_name=a.type.name)
                for a in stmt.get_attributes()
            ]
        finally:
            await tx.rollback()


async def on_audit_note(state: ExecState, msg: AuditNote, req: Request) -> None:
    _audit(state, req, {"type": "decision", "decision": msg.decision, "question": msg.question,
                        "sql": msg.normalized, "sql_sha256": msg.sql_sha256, "class": msg.sql_class,
                        "mode": msg.mode, "reasons": msg.reasons,
                        **({"via": msg.via} if msg.via else {})})  # fmt: skip


async def on_query_cancel(state: ExecState, msg: QueryCancel, req: Request) -> QueryCancelled:
    if not req.runtime.cancel(msg.target):
        raise DatabaseError(
            "There is no running query to cancel.",
            why="It may have just finished.",
            code="executor.nothing_to_cancel",
        )
    return QueryCancelled(target=msg.target)


# A COPY read that brings less than this waits COPY_FILL_WAIT_S before the next one, so the
# socket fills: the server flushes every 8 KiB, and each wake-up of asyncpg's copy loop costs
# ~45 µs of pause/resume and future bookkeeping, more than the bytes themselves.
COPY_FILL_BYTES = 64 * 1024
COPY_FILL_WAIT_S = 0.0006


async def on_query_copy(state: ExecState, msg: CopyRequest, req: Request) -> CopyDone:
    """Run a guarded COPY ... TO STDOUT into the exporter's stream socket. It runs in a READ
    ONLY transaction like any read, after a Parse of the exact text proves it is a single
    statement (COPY itself goes over the simple protocol, which would run a second one)."""
    check_verdict(state, msg.sql, msg.verdict, confirmed=False)
    if msg.verdict.sql_class != "read" or not msg.sql.lstrip()[:4].upper() == "COPY":
        raise DatabaseError(
            f"The executor for '{state.profile}' refused the export.",
            why="Only a read query wrapped in COPY ... TO STDOUT can be exported.",
            code="executor.bad_verdict",
        )
    await _pool(state)  # proves the server reachable, with the errors and backoff of any query
    intent = _audit(
        state, req,
        {"type": "intent", "decision": "export", "sql": _audit_sql(state, msg.sql, msg.normalized),
         "sql_sha256": msg.verdict.sql_sha256, "class": "read", "mode": msg.verdict.mode},
    )  # fmt: skip
    started = time.perf_counter()
    limit_s = (
        state.config.statement_timeout_s
        if msg.timeout == "statement"
        else (state.config.export_timeout_s)
    )  # a query printed to stdout is bounded like any query; a file export as configured
    job = CopyJob(state, msg, f"{int(limit_s * 1000)}ms")
    record: dict[str, Any] = {"type": "outcome", "intent": intent, "outcome": "cancelled"}
    try:
        with map_errors(state):
            status = await job.run()
        rows = int(status.split()[-1]) if status and status.split()[-1].isdigit() else 0
        record.update(outcome="ok", command=f"COPY {rows}", rows=rows, bytes=job.sent)
    except DatabaseError as exc:
        record.update(outcome="error", error=exc.code)
        raise
    finally:
        record["ms"] = round((time.perf_counter() - started) * 1000, 3)
        _audit(state, req, record)
    log.info("executor.copy.finished", rows=rows, bytes=job.sent)
    return CopyDone(rows=rows, bytes=job.sent, elapsed_ms=(time.perf_counter() - started) * 1000)


class CopyJob:
    """One COPY out on its own database connection, in a worker thread with a plain asyncio
    loop, written to the exporter's stream socket (protocol/copystream.py).

    Under trio-asyncio every socket wake-up of asyncpg's copy loop starts a trio task (its
    add_reader); a COPY wakes up tens of thousands of times, which made the executor, not
    the server, the limit of an export. A lagging exporter blocks the thread's write, so
    asyncpg stops reading and the server waits: memory stays bounded by socket buffers.
    """

    def __init__(self, state: ExecState, msg: CopyRequest, timeout: str) -> None:
        self.state, self.cfg, self.msg, self.timeout = state, state.config, msg, timeout
        self.app_name = state.app_name
        self.sent = 0  # bytes written to the stream
        self._out: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[str] | None = None
        self._cancelled = self._finished = False

    async def run(self) -> str:
        """The COPY's status ("COPY n"); a trio cancel cancels the COPY on the server."""

        def in_thread() -> str:
            with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
                return runner.run(self._copy())

        # The outcome is unwrapped outside the nursery, so an error reaches map_errors as itself
        # rather than inside an ExceptionGroup.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._cancel_when_cancelled)
            try:
                result = await trio.to_thread.run_sync(outcome.capture, in_thread)
            finally:
                self._finished = True
                nursery.cancel_scope.cancel()
        if self._cancelled:
            await trio.lowlevel.checkpoint()  # raises the trio Cancelled that ended the COPY
        return result.unwrap()

    async def _cancel_when_cancelled(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            if not self._finished:
                self._cancelled = True  # seen by a thread that has not started its loop yet
                if self._out is not None:  # a write blocked on a full socket returns
                    with contextlib.suppress(OSError):
                        self._out.shutdown(socket.SHUT_RDWR)
                loop, task = self._loop, self._task
                if loop is not None and task is not None:
                    loop.call_soon_threadsafe(task.cancel)

    async def _copy(self) -> str:
        """asyncio, in the worker thread: the COPY inside BEGIN READ ONLY, always rolled back.
        The stream is closed before this returns, so the exporter has every byte first."""
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._cancelled:
            raise asyncio.CancelledError
        try:
            out = self._out = copystream.connect(self.msg.sink, self.msg.token)
        except OSError as exc:
            raise _stream_error(exc) from exc
        with out:

            async def sink(data: bytes) -> None:
                try:
                    out.sendall(data)
                except OSError as exc:
                    raise _stream_error(exc) from exc
                self.sent += len(data)
                if len(data) < COPY_FILL_BYTES:
                    time.sleep(COPY_FILL_WAIT_S)  # this thread's loop serves only this COPY

            con = await asyncpg.connect(**_connect_kwargs(self.cfg, self.app_name))
            await con.execute(_watch_client_sql(con))
            try:
                await check_pinned_settings(con)
                tx = con.transaction(readonly=True)
                await tx.start()
                try:
                    await _preamble(con, self.state, self.msg.verdict, self.timeout)
                    await con.prepare(self.msg.sql)  # Parse refuses a second statement
                    return await con._copy_out(self.msg.sql, sink, None)
                finally:
                    await tx.rollback()
            finally:
                await con.close(timeout=5)  # bounded: a trio cancel waits for this thread


def _stream_error(exc: OSError) -> DatabaseError:
    return DatabaseError(
        "The export stopped: the exporter's stream closed.",
        why=f"{type(exc).__name__}: {exc}",
        hint="The exporter reports what went wrong; run the export again.",
        code="executor.export_stream_closed",
    )


async def on_explain(state: ExecState, msg: ExplainRequest, req: Request) -> ExplainPlan:
    check_verdict(
        state, msg.sql, msg.verdict, confirmed=msg.confirmed or msg.verdict.sql_class == "read"
    )
    pool = await _pool(state)
    options = "ANALYZE, BUFFERS, FORMAT JSON" if msg.analyze else "FORMAT JSON"
    started = time.perf_counter()
    with map_errors(state):
        plan = await aio_as_trio(_explain)(
            state, pool, f"EXPLAIN ({options}) {msg.sql}", msg.verdict
        )
    return ExplainPlan(plan=plan, elapsed_ms=(time.perf_counter() - started) * 1000)


async def _explain(state: ExecState, pool: asyncpg.Pool, sql: str, sig: Signature) -> str:
    """asyncio: EXPLAIN inside a transaction that is always rolled back (ANALYZE executes),
    READ ONLY for a read, exactly as the read itself would run."""
    async with pool.acquire() as con:
        tx = con.transaction(readonly=sig.sql_class == "read")
        await tx.start()
        try:
            await _preamble(con, state, sig, f"{int(state.config.statement_timeout_s * 1000)}ms")
            stmt = await con.prepare(sql)
            rows = await stmt.fetch()
            value = rows[0][0]
            return value.data.decode() if isinstance(value, Ext) else str(value)
        finally:
            await tx.rollback()


async def on_resolve(state: ExecState, msg: ResolveRequest, req: Request) -> Resolution:
    """For the guard: what server code the reads in `msg` would invoke (executor_resolve.py)."""
    if any("\x00" in q for q in msg.queries):
        raise DatabaseError(
            "A text with a NUL byte cannot be resolved.", code="executor.bad_request"
        )
    pool = await _pool(state)
    timeout_ms = int(state.config.statement_timeout_s * 1000)

    async def work() -> Resolution:
        async with pool.acquire() as con:
            return await resolve.resolve(
                con, msg.queries, state.resolved, timeout_ms, closure=msg.closure
            )

    with map_errors(state):
        return await aio_as_trio(work)()


async def on_doctor(state: ExecState, msg: DoctorRequest, req: Request) -> DoctorReport:
    """For `pgask doctor`: what this connection could do, whatever pgask decides."""
    pool = await _pool(state)

    async def work() -> tuple[str, str, int, list[Any]]:
        async with pool.acquire() as con:
            return await resolve.doctor(con, state.config.read_role, GUARD_GRAMMAR_MAJOR * 10000)

    with map_errors(state):
        role, database, version, findings = await aio_as_trio(work)()
    return DoctorReport(role=role, database=database, server_version=version, findings=findings)


async def on_connect_password(state: ExecState, msg: ConnectPassword, req: Request) -> Catalog:
    """The password the person typed: connect with it now (no backoff wait), reply the catalog."""
    async with state.lock:
        state.password = msg.password
        state.failures, state.next_attempt = 0, 0.0
        old, state.pool = state.pool, None
    if old is not None:
        await aio_as_trio(old.close)()
    return await on_catalog(state, CatalogRequest(refresh=True), req)


async def on_catalog(state: ExecState, msg: CatalogRequest, req: Request) -> Catalog:
    pool = await _pool(state)
    with map_errors(state):
        fingerprint = await aio_as_trio(_fingerprint)(pool)
        if (
            state.catalog is not None
            and not msg.refresh
            and state.catalog.fingerprint == fingerprint
        ):
            return state.catalog
        started = time.perf_counter()
        catalog = await aio_as_trio(load_catalog)(pool, state.profile)
    state.catalog = msgspec.structs.replace(
        catalog, loaded_ms=(time.perf_counter() - started) * 1000
    )
    log.info(
        "executor.catalog.loaded", tables=len(catalog.tables), ms=round(state.catalog.loaded_ms, 1)
    )
    return state.catalog


# -- catalog introspection (asyncio side) -----------------------------------------------

_USER_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"

FINGERPRINT_SQL = f"""
SELECT md5(coalesce(string_agg(c.oid::text || '.' || c.xmin::text, ',' ORDER BY c.oid), ''))
       || ':' || (SELECT count(*) FROM pg_description) || ':' || (SELECT count(*) FROM pg_constraint)
       || ':' || (SELECT count(*) FROM pg_enum) || ':' || (SELECT count(*) FROM pg_proc)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'i') AND {_USER_NS}
"""

TABLES_SQL = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind::text, d.description, c.reltuples::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition AND {_USER_NS}
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = f"""
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), d.description, a.atttypid
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition AND {_USER_NS}
ORDER BY a.attrelid, a.attnum
"""

CONSTRAINTS_SQL = f"""
SELECT co.conrelid, co.conname, co.contype::text, co.conkey, co.confrelid, co.confkey, fn.nspname, fc.relname
FROM pg_constraint co
JOIN pg_class c ON c.oid = co.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = co.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE co.contype IN ('p', 'u', 'f') AND {_USER_NS}
ORDER BY co.conrelid, co.conname
"""

INDEXES_SQL = f"""
SELECT i.indrelid, ic.relname, pg_get_indexdef(i.indexrelid), i.indkey::int2[], i.indisunique, i.indisprimary,
       i.indisvalid, pg_relation_size(i.indexrelid), co.conname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint co ON co.conindid = i.indexrelid AND co.contype IN ('p', 'u', 'x')
WHERE {_USER_NS}
ORDER BY i.indrelid, ic.relname
"""

ENUMS_SQL = "SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum GROUP BY enumtypid"

FUNCTIONS_SQL = f"""
SELECT n.nspname, p.proname, pg_get_function_arguments(p.oid), coalesce(pg_get_function_result(p.oid), ''),
       p.provolatile::text, p.prokind::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_USER_NS} AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.objid = p.oid AND dep.deptype = 'e')
ORDER BY n.nspname, p.proname
"""

_KINDS = {"r": "table", "v": "view", "m": "matview", "f": "foreign", "p": "partitioned"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_PROKIND = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}


async def _fingerprint(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as con:
        return await con.fetchval(FINGERPRINT_SQL)


async def load_catalog(pool: asyncpg.Pool, profile: str) -> Catalog:
    """asyncio: the whole catalog in seven queries, in one read-only transaction."""
    async with pool.acquire() as con, con.transaction(readonly=True, isolation="repeatable_read"):
        fingerprint = await con.fetchval(FINGERPRINT_SQL)
        tables = await con.fetch(TABLES_SQL)
        columns = await con.fetch(COLUMNS_SQL)
        constraints = await con.fetch(CONSTRAINTS_SQL)
        indexes = await con.fetch(INDEXES_SQL)
        enums = {r[0]: list(r[1]) for r in await con.fetch(ENUMS_SQL)}
        functions = await con.fetch(FUNCTIONS_SQL)
        database = await con.fetchval("SELECT current_database()")
        version = int(await con.fetchval("SELECT current_setting('server_version_num')"))
        search_path = await con.fetchval("SELECT array_to_string(current_schemas(false), ',')")

    names: dict[int, dict[int, str]] = {}
    cols: dict[int, list[CatalogColumn]] = {}
    for relid, attnum, name, type_name, nullable, default, comment, typid in columns:
        names.setdefault(relid, {})[attnum] = name
        cols.setdefault(relid, []).append(
            CatalogColumn(
                name=name,
                type_name=type_name,
                nullable=nullable,
                default=default or "",
                comment=comment or "",
                enum_values=enums.get(typid, []),
            )
        )
    pks: dict[int, list[str]] = {}
    uniques: dict[int, list[list[str]]] = {}
    fks: dict[int, list[CatalogForeignKey]] = {}
    for relid, conname, contype, conkey, confrelid, confkey, ref_schema, ref_table in constraints:
        own = [names.get(relid, {}).get(k, "?") for k in conkey or []]
        if contype == "p":
            pks[relid] = own
        elif contype == "u":
            uniques.setdefault(relid, []).append(own)
        else:
            ref_names = names.get(confrelid, {})
            fks.setdefault(relid, []).append(
                CatalogForeignKey(
                    name=conname,
                    columns=own,
                    ref_schema=ref_schema or "",
                    ref_table=ref_table or "",
                    ref_columns=[ref_names.get(k, "?") for k in confkey or []],
                )
            )
    idx: dict[int, list[CatalogIndex]] = {}
    for relid, name, definition, keys, unique, primary, valid, size, conname in indexes:
        idx.setdefault(relid, []).append(
            CatalogIndex(
                name=name,
                definition=definition,
                columns=[names.get(relid, {}).get(k, "") for k in keys or []],
                unique=unique,
                primary=primary,
                valid=valid,
                size_bytes=size or 0,
                constraint=conname or "",
            )
        )
    out = [
        CatalogTable(
            schema=schema,
            name=name,
            kind=_KINDS.get(kind, "table"),
            comment=comment or "",  # type: ignore[arg-type]
            est_rows=int(est),
            columns=cols.get(oid, []),
            primary_key=pks.get(oid, []),
            unique_keys=uniques.get(oid, []),
            foreign_keys=fks.get(oid, []),
            indexes=idx.get(oid, []),
        )
        for oid, schema, name, kind, comment, est in tables
    ]
    funcs = [
        CatalogFunction(
            schema=s,
            name=n,
            arguments=a,
            result=r,
            volatility=_VOLATILITY[v],
            kind=_PROKIND.get(k, "function"),
        )  # type: ignore[arg-type]
        for s, n, a, r, v, k in functions
    ]
    return Catalog(profile=profile, database=database, server_version=version, fingerprint=fingerprint,
                   search_path=search_path.split(",") if search_path else [], tables=out, functions=funcs)  # fmt: skip


# -- dba: indexes, migrations, backup and restore (decisions in actors/executor_dba.py) --------


async def _server_facts(state: ExecState, pool: asyncpg.Pool) -> tuple[int, str]:
    with map_errors(state):
        row = await aio_as_trio(pool.fetchrow)(
            "SELECT current_setting('server_version_num')::int, current_database()"
        )
    return int(row[0]), str(row[1])


async def on_index_check(state: ExecState, msg: IndexCheckRequest, req: Request) -> IndexCheck:
    """Validate an index change with read-only catalog queries; propose the statement."""
    pool = await _pool(state)
    threshold = state.config.concurrent_index_rows
    with map_errors(state):
        if msg.action == "create":
            facts = await aio_as_trio(dba.table_facts)(pool, msg.table)
            name = msg.name or dba.index_name(facts.name, msg.columns, msg.unique)
            taken = await aio_as_trio(dba.name_taken)(pool, facts.schema, name)
            return dba.decide_create(msg, facts, threshold_rows=threshold, name_kind=taken)
        version, _db = await _server_facts(state, pool)
        ifacts = await aio_as_trio(dba.index_facts)(pool, msg.name, server_version=version)
    if msg.action == "drop":
        return dba.decide_drop(msg, ifacts, threshold_rows=threshold)
    return dba.status_of(ifacts)


async def on_migration_apply(
    state: ExecState, msg: MigrationApply, req: Request
) -> MigrationApplied:
    """Every statement's verdict checked first; then all of them in one transaction."""
    if not msg.statements or len(msg.statements) != len(msg.verdicts):
        raise dba.DbaError(
            "The migration has no statements, or not one verdict per statement.",
            hint="Check each statement with the guard (pgask migrate does this).",
            code="dba.bad_migration",
        )
    for sql, sig in zip(msg.statements, msg.verdicts, strict=True):
        check_verdict(state, sql, sig, confirmed=msg.confirmed or sig.sql_class == "read")
    pool = await _pool(state)
    worst = max((s.sql_class for s in msg.verdicts), key=_CLASS_RANK.index)
    intent = _audit(
        state, req,
        {"type": "intent", "decision": "confirmed" if msg.confirmed else "auto", "question": msg.question,
         "sql": _audit_sql(state, ";\n".join(msg.statements), ""), "class": worst,
         "sql_sha256": signing.sql_digest(";\n".join(msg.statements)), "mode": msg.verdicts[0].mode,
         "reasons": [f"migration {msg.direction} {msg.name}".strip()]},
        durable=True,
    )  # fmt: skip
    started = time.perf_counter()
    outcome: dict[str, Any] = {"type": "outcome", "intent": intent, "outcome": "cancelled"}
    try:
        with map_errors(state):
            tags = await aio_as_trio(dba.apply_statements)(pool, state.config, msg.statements)
        outcome.update(outcome="ok", command="; ".join(tags), rows=0)
    except DatabaseError as exc:
        outcome.update(outcome="error", error=exc.code)
        raise
    finally:
        outcome["ms"] = round((time.perf_counter() - started) * 1000, 3)
        _audit(state, req, outcome, durable=True)
    state.catalog = None
    return MigrationApplied(commands=tags, elapsed_ms=(time.perf_counter() - started) * 1000)


_CLASS_RANK = ["read", "write", "ddl", "destructive", "forbidden", "invalid"]


async def on_backup(state: ExecState, msg: BackupRequest, req: Request) -> BackupDone:
    """pg_dump -Fc to a temporary file beside `path`, renamed when complete."""
    target = os.path.abspath(os.path.expanduser(msg.path))
    if os.path.exists(target) and not msg.force:
        raise dba.DbaError(
            f"{target} already exists.", hint="Choose another path, or pass --force to replace it.",
            code="dba.backup_exists",
        )  # fmt: skip
    if not os.path.isdir(os.path.dirname(target)):
        raise dba.DbaError(
            f"Cannot write the backup to {target}: the directory does not exist.",
            hint="Create the directory first, or choose another path.", code="dba.backup_path",
        )  # fmt: skip
    pool = await _pool(state)
    version, database = await _server_facts(state, pool)
    need = dba.server_major(version)
    tools = await trio.to_thread.run_sync(dba.find_tools, "pg_dump")
    tool = dba.choose_tool("pg_dump", need, tools, why_need=f"The server runs PostgreSQL {need}")
    why_tool = dba.tool_reason(tool, need, tools, "server")
    partial = f"{target}.pgask-partial"
    argv, env = dba.dump_argv(tool, state.config, partial)
    started = time.perf_counter()
    tables = 0
    intent = _audit(state, req, {"type": "intent", "decision": "auto", "class": "read",
                                 "sql": f"<pg_dump -Fc of {database} to {target}>", "mode": "read-only"})  # fmt: skip
    await req.send(DbaProgress(text=f"Using {why_tool}"))

    async def on_line(line: str) -> None:
        nonlocal tables
        if "dumping contents of table" in line:
            tables += 1
            size = os.path.getsize(partial) if os.path.exists(partial) else 0
            await req.send(DbaProgress(text=line.split(": ", 1)[-1], objects=tables, bytes=size,
                                       elapsed_s=time.perf_counter() - started))  # fmt: skip

    try:
        code, _out, err = await dba.run_tool(argv, env, on_line)
        if code != 0:
            raise dba.DbaError(
                f"pg_dump of profile '{state.profile}' ({database}) failed (exit {code}).",
                why=dba.tail_error(err), hint="Fix what pg_dump says above and run it again.",
                code="dba.backup_failed", detail=err[-4000:],
            )  # fmt: skip
        os.replace(partial, target)
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            if os.path.exists(partial):
                os.unlink(partial)
            _audit(state, req, {"type": "outcome", "intent": intent, "outcome": "error",
                                "error": getattr(exc, "code", type(exc).__name__)})  # fmt: skip
        raise
    elapsed = (time.perf_counter() - started) * 1000
    size = os.path.getsize(target)
    _audit(state, req, {"type": "outcome", "intent": intent, "outcome": "ok", "rows": tables,
                        "bytes": size, "ms": round(elapsed, 3)})  # fmt: skip
    log.info("executor.backup.finished", bytes=size, tables=tables, ms=round(elapsed, 1))
    return BackupDone(path=target, bytes=size, tables=tables, elapsed_ms=elapsed,
                      database=database, server_version=version, tool=why_tool)  # fmt: skip


async def _inspect(
    state: ExecState, pool: asyncpg.Pool, path: str, target: str
) -> tuple[ArchiveInfo, dba.Tool]:
    header = dba.read_archive_header(path)
    version, database = await _server_facts(state, pool)
    target = target or database
    need = max(dba.parse_major(header.dumped_by), dba.server_major(version))
    tools = await trio.to_thread.run_sync(dba.find_tools, "pg_restore")
    tool = dba.choose_tool(
        "pg_restore", need, tools,
        why_need=f"The archive was written by pg_dump {header.dumped_by} for server PostgreSQL "
        f"{dba.server_major(version)}",
    )  # fmt: skip
    code, listing, err = await dba.run_tool([tool.path, "--list", path], {})
    if code != 0:
        raise dba.DbaError(
            f"pg_restore could not read {path}.", why=dba.tail_error(err),
            hint="Is the file complete? A backup that was interrupted cannot be restored.",
            code="dba.archive_unreadable", detail=err[-4000:],
        )  # fmt: skip
    with map_errors(state):
        exists = bool(
            await aio_as_trio(pool.fetchval)("SELECT 1 FROM pg_database WHERE datname = $1", target)
        )
    info = dba.archive_info(path, header, listing, target=target, exists=exists, version=version,
                            tool=dba.tool_reason(tool, need, tools, "archive/server"))  # fmt: skip
    return info, tool


async def on_archive(state: ExecState, msg: ArchiveRequest, req: Request) -> ArchiveInfo:
    pool = await _pool(state)
    path = os.path.abspath(os.path.expanduser(msg.path))
    info, _tool = await _inspect(state, pool, path, msg.target)
    return info


async def on_restore(state: ExecState, msg: RestoreRequest, req: Request) -> Restored:
    """CREATE DATABASE (the guarded text), then pg_restore into it in one transaction."""
    create_sql = dba.create_database_sql(msg.target)
    check_verdict(state, create_sql, msg.verdict, confirmed=msg.confirmed)
    if msg.confirm_name != msg.target:
        raise dba.DbaError(
            f"The restore into '{msg.target}' was not confirmed by name.",
            why="A restore needs the target database's name typed as its confirmation.",
            hint=f"Pass --confirm {msg.target} (or type it when asked).", code="dba.not_confirmed",
        )  # fmt: skip
    pool = await _pool(state)
    path = os.path.abspath(os.path.expanduser(msg.path))
    info, tool = await _inspect(state, pool, path, msg.target)
    if info.problems:
        raise dba.DbaError(
            f"pgask will not restore {path} into '{msg.target}'.",
            why="; ".join(info.problems) + ".",
            hint="Restore into a new database name, on a server at least as new as the archive's.",
            code="dba.restore_refused",
        )  # fmt: skip
    intent = _audit(state, req, {"type": "intent", "decision": "typed", "class": msg.verdict.sql_class,
                                 "sql": f"{create_sql}; <pg_restore {path}>", "mode": msg.verdict.mode,
                                 "sql_sha256": msg.verdict.sql_sha256}, durable=True)  # fmt: skip
    started = time.perf_counter()
    restored = 0

    async def on_line(line: str) -> None:
        nonlocal restored
        if "processing data for table" in line:
            restored += 1
            await req.send(DbaProgress(text=line.split(": ", 1)[-1], objects=restored,
                                       elapsed_s=time.perf_counter() - started))  # fmt: skip

    outcome: dict[str, Any] = {"type": "outcome", "intent": intent, "outcome": "cancelled"}
    try:
        with map_errors(state):
            await aio_as_trio(_run)(state, pool, create_sql, msg.verdict, None, _ignore)
        argv, env = dba.restore_argv(tool, state.config, path, msg.target)
        code, _out, err = await dba.run_tool(argv, env, on_line)
        if code != 0:
            raise dba.DbaError(
                f"pg_restore into '{msg.target}' failed (exit {code}); nothing was restored.",
                why=dba.tail_error(err),
                hint=f"The restore ran in one transaction, so '{msg.target}' exists but is empty: "
                f"drop it (pgask sql 'DROP DATABASE {dba.quote_ident(msg.target)}' --mode read-write"
                f" --confirm {msg.target}) after fixing the cause.",
                code="dba.restore_failed", detail=err[-4000:],
            )  # fmt: skip
        outcome.update(outcome="ok", rows=restored)
    except BaseException as exc:
        outcome.update(outcome="error", error=getattr(exc, "code", type(exc).__name__))
        raise
    finally:
        outcome["ms"] = round((time.perf_counter() - started) * 1000, 3)
        with trio.CancelScope(shield=True):
            _audit(state, req, outcome, durable=True)
    elapsed = (time.perf_counter() - started) * 1000
    log.info("executor.restore.finished", tables=restored, ms=round(elapsed, 1))
    return Restored(database=msg.target, tables=restored, elapsed_ms=elapsed, tool=info.tool)


async def _ignore(_item: Any) -> None:
    return None


ACTOR = Actor(
    "executor",
    handlers={
        QueryRequest: on_query_run,
        QueryCancel: on_query_cancel,
        QueryDescribe: on_query_describe,
        AuditNote: on_audit_note,
        ExplainRequest: on_explain,
        CopyRequest: on_query_copy,
        CatalogRequest: on_catalog,
        ConnectPassword: on_connect_password,
        ResolveRequest: on_resolve,
        DoctorRequest: on_doctor,
        IndexCheckRequest: on_index_check,
        MigrationApply: on_migration_apply,
        BackupRequest: on_backup,
        ArchiveRequest: on_archive,
        RestoreRequest: on_restore,
    },
    open_state=open_state,
)

if __name__ == "__main__":
    main(ACTOR)
