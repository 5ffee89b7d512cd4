"""asyncpg and socket errors -> DatabaseError with what / why / next, at one boundary
(`with map_errors(state):`). SQLSTATEs and exception types map through tables, not if-chains."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import trio

from actors.executor.state import ExecState, describe_target
from protocol.errors import DatabaseError

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
    where = state.config.source if hasattr(state.config, "source") else "your config"
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
            hint=f"Fix the setting under [profiles.{p}] or in the DSN, or the PG* environment "
            "variable that sets it (PGSSLMODE, PGPORT ...).",
            code="config.connection_invalid", detail=detail,
        )  # fmt: skip
    if isinstance(exc, asyncpg.PostgresError):
        code = exc.sqlstate or ""
        msg = str(exc)
        if code in ("28P01", "28000") and "no encryption" in msg:
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): the server requires SSL.",
                why=msg, hint=f"Set sslmode = \"require\" (or verify-full) under [profiles.{p}].",
                code="db.ssl_required", detail=detail,
            )  # fmt: skip
        if code in ("28P01", "28000"):
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): authentication failed.",
                why=msg,
                hint=f"Check the user and password: PGPASSWORD, ~/.pgpass, or password_env under [profiles.{p}]"
                + (f" (now '{cfg.password_env}')." if cfg.password_env else "."),
                code="db.auth_failed", detail=detail,
            )  # fmt: skip
        if code == "3D000":
            return DatabaseError(
                f"Could not connect to profile '{p}' ({target}): the database does not exist.",
                why=msg, hint=f"Fix dbname under [profiles.{p}], or create it with `createdb`.",
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
                hint=f"Add a LIMIT or a narrower WHERE, or raise statement_timeout_s under [profiles.{p}].",
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
            why=str(exc), hint=f"Check host under [profiles.{p}] (or the DSN) for a typo, and your DNS.",
            code="db.dns_failed", detail=detail,
        )  # fmt: skip
    if isinstance(exc, ConnectionRefusedError | FileNotFoundError) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) in (111, 61, 2) and connecting
    ):
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): connection refused.",
            why="Nothing is listening there.", hint="Is the server running on that host and port? Check host/port under "
            f"[profiles.{p}] in {where}.",
            code="db.connection_refused", retryable=True, detail=detail,
        )  # fmt: skip
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) and connecting:
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): no answer within {cfg.connect_timeout_s:g} s.",
            why="The host did not respond (firewall, wrong port, or the server is overloaded).",
            hint=f"Check host/port, or raise connect_timeout_s under [profiles.{p}].",
            code="db.connect_timeout", retryable=True, detail=detail,
        )  # fmt: skip
    if isinstance(exc, ssl.SSLError | ConnectionError) and connecting:
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}): the SSL handshake failed.",
            why=str(exc), hint=f"Check sslmode / sslrootcert under [profiles.{p}]; the server may not offer SSL.",
            code="db.ssl_failed", detail=detail,
        )  # fmt: skip
    if isinstance(exc, OSError) and connecting:
        return DatabaseError(
            f"Could not connect to profile '{p}' ({target}).", why=str(exc),
            hint=f"Check the connection settings under [profiles.{p}].", code="db.connect_failed", detail=detail,
        )  # fmt: skip
    return None
