"""The executor's connections: connect arguments (libpq conventions, pinned settings), the
pool with reconnect backoff, per-session set-up and reset, and ending what an earlier
incarnation left running (orphans)."""

from __future__ import annotations

import os
import ssl
import time
from typing import Any

import asyncpg
import trio
from trio_asyncio import aio_as_trio

from actors.executor.decoders import register_codecs
from actors.executor.errors import map_errors
from actors.executor.state import RECONNECT_BACKOFF_S, ExecState, describe_target
from protocol.boot import Boot
from protocol.config import ProfileConfig, check_profile
from protocol.errors import DatabaseError
from protocol.tracing import log

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
                why=(
                    f"With {name} = {got} the server reads string literals differently from "
                    "pgask's guard, so a text the guard calls one literal could run a call."
                ),
                hint=(
                    f"Connect directly (a pooler may drop startup options), or run "
                    f"ALTER DATABASE ... SET {name} = {want} and ALTER ROLE ... RESET {name}."
                ),
                code="db.unsafe_setting",
            )


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
        pool = await get_pool(state)
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


def connect_kwargs(cfg: ProfileConfig, app_name: str = "pgask") -> dict[str, Any]:
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


async def get_pool(state: ExecState) -> asyncpg.Pool:
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
    kw = connect_kwargs(cfg, app_name)
    if password:
        kw["password"] = password
    return await asyncpg.create_pool(
        min_size=1, max_size=4, init=_init_session, reset=_reset_connection, **kw
    )


async def _init_session(con: asyncpg.Connection) -> None:
    await register_codecs(con)
    await check_pinned_settings(con)
    await con.execute(watch_client_sql(con))


def watch_client_sql(con: asyncpg.Connection) -> str:
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
    await con.execute(RESET_SESSION_SQL + watch_client_sql(con))  # the executor's own text
